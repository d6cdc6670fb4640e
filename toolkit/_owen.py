"""Owen values over a binary feature hierarchy, refined fairly for every label at once."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["owen_values", "hierarchy_members"]

# Labels whose effects are below this share of the largest label's are float noise: their
# scale is floored there so that they cannot claim the budget.
_NOISE_FLOOR = 1e-9


@dataclass
class _Task:
    """Credit ``weight * (f_on - f_off)`` still to share among ``node``'s features."""

    node: int
    context: np.ndarray
    f_off: np.ndarray
    f_on: np.ndarray
    weight: float


def owen_values(
    evaluate: Callable[[np.ndarray], np.ndarray],
    n_features: int,
    clustering: np.ndarray,
    *,
    max_evals: int,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Owen values of every label over a binary hierarchy, within a budget.

    For a binary hierarchy the Owen value of a feature averages its marginal
    contribution over every way of switching the sibling groups along its path on or
    off, each with weight ``1 / 2 ** depth``. The traversal starts at the root with the
    empty and full coalitions and splits a group by evaluating ``context + left`` and
    ``context + right``; each split hands four half-weight tasks to the children. With
    enough budget every task reaches a leaf and the values are exact; when the budget
    ends, an unsplit group shares its credit evenly among its features. Every label's
    values always sum to ``f(all) - f(none)``.

    One traversal serves all labels. A group is split first when its credit is large
    for any label relative to that label's own scale (the largest of ``|f(all) - f(none)|``
    and the credits of the tasks seen so far, so a label whose effects cancel out is not
    inflated), so labels with small effects are refined as early as labels with large
    ones, and the groups that hold each label's top features are resolved before the
    rest. Splits are evaluated in rounds of up to half
    the open tasks, so each round fills model batches.

    Args:
        evaluate: Maps ``(m, n_features)`` masks to ``(m, n_labels)`` scores.
        n_features: Number of features (at least 2).
        clustering: scipy linkage matrix ``(n_features - 1, 4)`` of the hierarchy.
        max_evals: Budget of evaluations, at least 2.
        batch_size: Most splits evaluated together are ``batch_size // 2``.

    Returns:
        ``(values (n_features, n_labels), base_values (n_labels,))``.
    """
    members = hierarchy_members(clustering, n_features)
    children = clustering[:, :2].astype(int)
    root = 2 * n_features - 2

    ends = np.stack([np.zeros(n_features), np.ones(n_features)])
    empty, full = np.asarray(evaluate(ends), dtype=np.float64)
    values = np.zeros((n_features, empty.size))
    scale = np.abs(full - empty)

    queue: list[tuple[float, int, _Task]] = []
    counter = itertools.count()

    def push(task: _Task) -> None:
        credit = task.weight * (task.f_on - task.f_off)
        if task.node < n_features:
            values[task.node] += credit
            return
        np.maximum(scale, np.abs(credit), out=scale)
        floor = max(_NOISE_FLOOR * float(scale.max()), 1e-300)
        priority = float(np.max(np.abs(credit) / np.maximum(scale, floor)))
        heapq.heappush(queue, (-priority, next(counter), task))

    push(_Task(root, np.zeros(n_features, dtype=bool), empty, full, 1.0))
    used = 2
    while queue and max_evals - used >= 2:
        round_size = min((len(queue) + 1) // 2, (max_evals - used) // 2, max(1, batch_size // 2))
        tasks = [heapq.heappop(queue)[2] for _ in range(round_size)]

        # Evaluate context + left and context + right of every task in one call.
        masks = np.empty((2 * len(tasks), n_features))
        for row, task in enumerate(tasks):
            left, right = children[task.node - n_features]
            masks[2 * row] = task.context | members[left]
            masks[2 * row + 1] = task.context | members[right]
        scores = np.asarray(evaluate(masks), dtype=np.float64)
        used += len(masks)

        for row, task in enumerate(tasks):
            left, right = children[task.node - n_features]
            with_left, with_right = scores[2 * row], scores[2 * row + 1]
            half = task.weight / 2.0
            context_left = task.context | members[left]
            context_right = task.context | members[right]
            push(_Task(left, task.context, task.f_off, with_left, half))
            push(_Task(left, context_right, with_right, task.f_on, half))
            push(_Task(right, task.context, task.f_off, with_right, half))
            push(_Task(right, context_left, with_left, task.f_on, half))

    # Groups the budget left unsplit share their credit evenly.
    for _, _, task in queue:
        group = members[task.node]
        values[group] += task.weight * (task.f_on - task.f_off) / group.sum()
    return values, empty


def hierarchy_members(clustering: np.ndarray, n_features: int) -> np.ndarray:
    """Boolean ``(2 * n_features - 1, n_features)``: the features under each node."""
    members = np.zeros((2 * n_features - 1, n_features), dtype=bool)
    members[np.arange(n_features), np.arange(n_features)] = True
    for row, (left, right) in enumerate(clustering[:, :2].astype(int)):
        members[n_features + row] = members[left] | members[right]
    return members
