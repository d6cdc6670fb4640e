"""Shapley values from antithetic permutations, every label from the same evaluations."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["antithetic_permutation", "hierarchical_permutation", "permutation_budget"]


def permutation_budget(n_features: int, n_pairs: int) -> int:
    """Evaluations used by ``n_pairs`` antithetic pairs: the empty and full coalitions
    once, then ``n_features - 1`` prefixes per permutation."""
    return 2 + 2 * n_pairs * (n_features - 1)


def antithetic_permutation(
    evaluate: Callable[[np.ndarray], np.ndarray],
    n_features: int,
    *,
    max_evals: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Estimate Shapley values by walking random permutations and their reverses.

    Each permutation adds the features one at a time; a feature's marginal contribution
    is the change of the score when it joins. Every permutation is followed by its
    reverse (antithetic sampling), which cancels much of the variance of pairwise
    effects. Each permutation telescopes to ``f(all) - f(none)``, so the values of every
    label sum to that gap exactly whatever the budget.

    Args:
        evaluate: Maps ``(m, n_features)`` masks to ``(m, n_labels)`` scores.
        n_features: Number of features (at least 2).
        max_evals: Budget; uses as many whole pairs as fit (at least one).
        seed: Seed of the permutations.

    Returns:
        ``(values (n_features, n_labels), base_values (n_labels,))``.

    Raises:
        ValueError: If not even one pair fits the budget.
    """
    n_pairs = (max_evals - 2) // (2 * (n_features - 1))
    if n_pairs < 1:
        raise ValueError(
            f"max_evals={max_evals} is below one antithetic pair of permutations for "
            f"{n_features} features; accepted: at least {permutation_budget(n_features, 1)} "
            "(command line: --max-evals)"
        )
    rng = np.random.default_rng(seed)
    forward = np.stack([rng.permutation(n_features) for _ in range(n_pairs)])
    return _walk_orders(evaluate, n_features, np.concatenate([forward, forward[:, ::-1]]))


def _walk_orders(
    evaluate: Callable[[np.ndarray], np.ndarray], n_features: int, orders: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean marginal contributions along ``orders`` (one row per order), every label."""
    # Prefix masks of every permutation: row k of a permutation keeps its first k features.
    n_orders = len(orders)
    ranks = np.empty_like(orders)
    np.put_along_axis(ranks, orders, np.arange(n_features)[None, :], axis=1)
    steps = np.arange(1, n_features)
    prefixes = (ranks[:, None, :] < steps[None, :, None]).astype(np.float64)
    ends = np.stack([np.zeros(n_features), np.ones(n_features)])
    masks = np.concatenate([ends, prefixes.reshape(-1, n_features)])

    scores = np.asarray(evaluate(masks), dtype=np.float64)
    empty, full = scores[0], scores[1]
    inner = scores[2:].reshape(n_orders, n_features - 1, -1)
    chain = np.concatenate(
        [
            np.broadcast_to(empty, (n_orders, 1, empty.size)),
            inner,
            np.broadcast_to(full, (n_orders, 1, full.size)),
        ],
        axis=1,
    )
    marginals = np.diff(chain, axis=1)  # (orders, n_features, labels), by position

    # Put each order's marginals back in feature order, then average over orders.
    by_feature = np.empty_like(marginals)
    np.put_along_axis(by_feature, orders[:, :, None], marginals, axis=1)
    return by_feature.mean(axis=0), empty


def hierarchical_permutation(
    evaluate: Callable[[np.ndarray], np.ndarray],
    n_features: int,
    clustering: np.ndarray,
    *,
    max_evals: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Estimate Owen values from random orders that keep every group of the hierarchy
    together.

    For a binary hierarchy the Owen value is a feature's expected marginal contribution
    over orders drawn by flipping a fair coin at every node for which child comes first.
    Each drawn order is followed by its reverse, which also keeps the groups together
    (antithetic sampling). Unlike a budget-limited traversal, no group is left with its
    credit spread evenly: every feature gets its own estimate from the first pair on.

    Args:
        evaluate: Maps ``(m, n_features)`` masks to ``(m, n_labels)`` scores.
        n_features: Number of features (at least 2).
        clustering: scipy linkage matrix ``(n_features - 1, 4)`` of the hierarchy.
        max_evals: Budget; uses as many whole pairs as fit (at least one).
        seed: Seed of the coin flips.

    Returns:
        ``(values (n_features, n_labels), base_values (n_labels,))``.
    """
    n_pairs = (max_evals - 2) // (2 * (n_features - 1))
    if n_pairs < 1:
        raise ValueError(
            f"max_evals={max_evals} is below one antithetic pair of orders for "
            f"{n_features} features; accepted: at least {permutation_budget(n_features, 1)} "
            "(command line: --max-evals)"
        )
    rng = np.random.default_rng(seed)
    children = clustering[:, :2].astype(int)
    forward = np.stack([_grouped_order(children, n_features, rng) for _ in range(n_pairs)])
    return _walk_orders(evaluate, n_features, np.concatenate([forward, forward[:, ::-1]]))


def _grouped_order(children: np.ndarray, n_features: int, rng: np.random.Generator) -> np.ndarray:
    order, stack = [], [2 * n_features - 2]
    while stack:
        node = stack.pop()
        if node < n_features:
            order.append(node)
            continue
        left, right = children[node - n_features]
        stack.extend((left, right) if rng.random() < 0.5 else (right, left))
    return np.array(order)
