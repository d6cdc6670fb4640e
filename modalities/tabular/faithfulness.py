"""Deletion check: hiding a row's top-attributed features should move its score the most."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from labelshap.model import LabelModel

    from .explanation import TabularExplanation
    from .masker import IndependentMasker

__all__ = ["DeletionResult", "deletion_check"]


@dataclass(frozen=True)
class DeletionResult:
    """Score changes when features are hidden, per row and label.

    Attributes:
        k: Features hidden at a time.
        top_changes: ``(n, L)`` |score change| when the ``k`` features of largest |value|
            for that label are hidden.
        random_changes: ``(n, L)`` |score change| when ``k`` features drawn at random
            (seeded, one draw per row and label) are hidden.
    """

    k: int
    top_changes: np.ndarray
    random_changes: np.ndarray

    @property
    def top_mean_change(self) -> float:
        """Mean |change| over rows and labels when the top features are hidden."""
        return float(self.top_changes.mean())

    @property
    def random_mean_change(self) -> float:
        """Mean |change| over rows and labels when random features are hidden."""
        return float(self.random_changes.mean())

    @property
    def ratio(self) -> float:
        """``top_mean_change / random_mean_change`` (inf when random changes nothing)."""
        random = self.random_mean_change
        return self.top_mean_change / random if random > 0 else float("inf")

    def to_json(self) -> dict:
        """The summary numbers as plain Python values."""
        return {
            "k": self.k,
            "pairs": int(self.top_changes.size),
            "top_mean_change": self.top_mean_change,
            "random_mean_change": self.random_mean_change,
            "ratio": self.ratio,
        }


def deletion_check(
    explanation: TabularExplanation,
    masker: IndependentMasker,
    model: LabelModel,
    *,
    k: int = 3,
    seed: int = 0,
) -> DeletionResult:
    """Hide each row's ``k`` top-attributed features, then ``k`` random ones, per label.

    Features are hidden exactly as the masker hides them when it computes the values:
    the model is averaged over the masker's background rows with those features taken
    from each background row. The change is measured against the row's own score, in
    the explanation space.

    Args:
        explanation: Values computed with ``masker`` and ``model``.
        masker: The masker (its background and layout).
        model: The model explained.
        k: Features hidden at a time, at most the number of features.
        seed: Seed of the random draws.

    Returns:
        The changes per row and label.
    """
    n_rows, n_features, n_labels = explanation.values.shape
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n_features:
        raise ValueError(f"k={k!r} must be an integer in [1, {n_features}]")
    columns = [model.label_index(label) for label in explanation.label_names]
    rng = np.random.default_rng(seed)
    top_changes = np.zeros((n_rows, n_labels))
    random_changes = np.zeros((n_rows, n_labels))

    for row in range(n_rows):
        bound = masker.bind(explanation.data[row], model)

        # One batch per row: the row itself, then one top and one random mask per label.
        masks = np.ones((1 + 2 * n_labels, n_features), dtype=np.float32)
        for label in range(n_labels):
            strength = np.abs(explanation.values[row, :, label])
            top = np.argsort(-strength, kind="stable")[:k]
            masks[1 + label, top] = 0.0
            masks[1 + n_labels + label, rng.choice(n_features, size=k, replace=False)] = 0.0
        scores = bound.evaluate(model, masks)[:, columns]

        labels = np.arange(n_labels)
        top_changes[row] = np.abs(scores[0] - scores[1 + labels, labels])
        random_changes[row] = np.abs(scores[0] - scores[1 + n_labels + labels, labels])
    return DeletionResult(k, top_changes, random_changes)
