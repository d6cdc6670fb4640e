"""Exact Shapley values by enumerating every coalition, all labels from one pass."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import gammaln

__all__ = ["exact_shapley", "coalition_masks"]

# Coalitions per evaluate call; the model wrapper splits them further into its batches.
_CHUNK = 1 << 15


def exact_shapley(
    evaluate: Callable[[np.ndarray], np.ndarray], n_features: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact Shapley values of every label from all ``2 ** n_features`` coalitions.

    Each coalition is evaluated once and contributes to every feature at once:
    ``phi_i = sum_S f(S) * (w_in(|S|) if i in S else -w_out(|S|))`` with
    ``w_in(s) = 1 / (n * C(n-1, s-1))`` and ``w_out(s) = 1 / (n * C(n-1, s))``, the
    Shapley formula regrouped by coalition rather than by feature.

    Args:
        evaluate: Maps ``(m, n_features)`` masks to ``(m, n_labels)`` scores.
        n_features: Number of features (at least 1).

    Returns:
        ``(values (n_features, n_labels), base_values (n_labels,))``.
    """
    sizes = np.arange(n_features + 1)
    log_n = np.log(n_features)
    weight_in = np.zeros(n_features + 1)
    weight_out = np.zeros(n_features + 1)
    weight_in[1:] = np.exp(-log_n - _log_choose(n_features - 1, sizes[1:] - 1))
    weight_out[:-1] = np.exp(-log_n - _log_choose(n_features - 1, sizes[:-1]))

    values = None
    base = None
    for start in range(0, 1 << n_features, _CHUNK):
        codes = np.arange(start, min(start + _CHUNK, 1 << n_features), dtype=np.int64)
        masks = coalition_masks(codes, n_features)
        scores = np.asarray(evaluate(masks), dtype=np.float64)
        if values is None:
            values = np.zeros((n_features, scores.shape[1]))
            base = scores[0]
        counts = masks.sum(axis=1).astype(int)
        inside = scores * weight_in[counts][:, None]
        outside = scores * weight_out[counts][:, None]
        values += masks.T @ inside - (1.0 - masks).T @ outside
    return values, base


def coalition_masks(codes: np.ndarray, n_features: int) -> np.ndarray:
    """Masks ``(len(codes), n_features)`` whose bit ``j`` of each code keeps feature ``j``."""
    bits = (codes[:, None] >> np.arange(n_features, dtype=np.int64)[None, :]) & 1
    return bits.astype(np.float64)


def _log_choose(n: int, k: np.ndarray) -> np.ndarray:
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
