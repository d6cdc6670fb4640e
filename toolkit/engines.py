"""Estimation engines: Shapley and Owen values from masked model evaluations."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["ALGORITHMS", "EngineResult", "estimate"]

logger = logging.getLogger(__name__)

ALGORITHMS = ("exact", "permutation", "partition")


@dataclass(frozen=True)
class EngineResult:
    """Values of one input: ``values`` (n_features, n_labels), ``base_values`` (n_labels,)."""

    values: np.ndarray
    base_values: np.ndarray
    model_rows: int


def estimate(
    evaluate: Callable[[np.ndarray], np.ndarray],
    n_features: int,
    *,
    algorithm: str,
    max_evals: int,
    clustering: np.ndarray | None = None,
    seed: int = 0,
    batch_size: int = 256,
) -> EngineResult:
    """Estimate every label's values for one input from one shared set of evaluations.

    The model is evaluated once per mask and returns all selected labels, so adding labels
    costs no model rows. This engine runs shap's own explainers:

    - ``"exact"``: exact Shapley values over all ``2 ** n_features`` masks (shap's Exact
      explainer without a hierarchy).
    - ``"permutation"``: Shapley values estimated from antithetic permutations (shap's
      Permutation explainer, no hierarchy).
    - ``"partition"``: Owen values over the masker's hierarchy (shap's Partition
      explainer); groups the budget leaves unsplit share their credit evenly.

    Args:
        evaluate: Maps ``(m, n_features)`` masks (1 keeps a feature) to ``(m, n_labels)``.
        n_features: Number of features.
        algorithm: One of :data:`ALGORITHMS`.
        max_evals: Budget of masked evaluations for this input.
        clustering: Linkage matrix of the feature hierarchy (required by partition).
        seed: Seed of the sampling (permutations; partition's tie breaks).
        batch_size: Most masks handed to ``evaluate`` at once.

    Returns:
        The values, the base values ``f(all hidden)`` and the model rows used.
    """
    _check_budget(algorithm, n_features, max_evals, clustering)
    counted = _RowCounter(evaluate)
    if n_features <= 1:
        values, base = _one_feature(counted, n_features)
        return EngineResult(values, base, counted.rows)

    import shap

    masker = _MaskShim(n_features, clustering if algorithm == "partition" else None, batch_size)
    dummy = np.zeros((1, n_features), dtype=np.float32)

    # shap draws from numpy's global generator (permutations, and Partition's tie breaks):
    # seed it for this call and give the caller's state back afterwards.
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        if algorithm == "exact":
            explainer = shap.explainers.Exact(counted, masker)
        elif algorithm == "permutation":
            explainer = shap.explainers.Permutation(counted, masker, seed=seed)
        else:
            explainer = shap.explainers.Partition(counted, masker)
        result = explainer(dummy, max_evals=max_evals, silent=True)
    finally:
        np.random.set_state(state)

    values = np.asarray(result.values[0], dtype=np.float64).reshape(n_features, -1)
    base = np.asarray(result.base_values[0], dtype=np.float64).reshape(-1)
    return EngineResult(values, base, counted.rows)


class _MaskShim:
    """Presents a bound input to shap: the 'masked input' shap passes on is the mask.

    The model function then builds the masked inputs from a whole batch of masks at
    once, on the device, instead of one masked copy per Python call.
    """

    def __init__(self, n_features: int, clustering: np.ndarray | None, batch_size: int) -> None:
        self.shape = (1, n_features)
        self.clustering = clustering
        self.default_batch_size = batch_size

    def __call__(self, mask: np.ndarray, *args: object) -> tuple[np.ndarray]:
        return (np.asarray(mask, dtype=np.float32).reshape(1, -1),)


class _RowCounter:
    """Wraps an evaluate function and counts the model rows it was asked for."""

    def __init__(self, evaluate: Callable[[np.ndarray], np.ndarray]) -> None:
        self._evaluate = evaluate
        self.rows = 0

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        masks = np.asarray(masks, dtype=np.float32)
        self.rows += len(masks)
        return self._evaluate(masks)


def _one_feature(evaluate: Callable, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    masks = np.zeros((2, n_features), dtype=np.float32)
    masks[1] = 1.0
    scores = evaluate(masks if n_features else masks[:1])
    base = scores[0]
    values = (scores[1] - scores[0])[None, :] if n_features else np.zeros((0, len(base)))
    return values, base


def _check_budget(
    algorithm: str, n_features: int, max_evals: int, clustering: np.ndarray | None
) -> None:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm={algorithm!r} is not supported; accepted: {ALGORITHMS}")
    if isinstance(max_evals, bool) or not isinstance(max_evals, int) or max_evals < 2:
        raise ValueError(f"max_evals={max_evals!r} must be an integer of at least 2")
    if n_features <= 1:
        return
    if algorithm == "exact" and 2**n_features > max_evals:
        raise ValueError(
            f"algorithm='exact' needs 2**{n_features} = {2**n_features} evaluations for "
            f"{n_features} features but max_evals={max_evals}; raise max_evals or use "
            "'permutation' or 'partition'"
        )
    if algorithm == "permutation" and max_evals < 2 * n_features + 1:
        raise ValueError(
            f"algorithm='permutation' needs max_evals >= 2 * n_features + 1 = "
            f"{2 * n_features + 1} for {n_features} features (one antithetic pair of "
            f"permutations); got max_evals={max_evals}"
        )
    if algorithm == "partition" and clustering is None:
        raise ValueError(
            "algorithm='partition' needs a feature hierarchy, but this masker gives none; "
            "use 'permutation' or 'exact'"
        )
