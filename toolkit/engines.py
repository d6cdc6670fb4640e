"""Estimation engines: Shapley and Owen values from masked model evaluations.

Every algorithm evaluates each mask once and reads every label from that evaluation,
so adding labels costs no model rows. labelshap's own algorithms:

- ``"exact"``: exact Shapley values from all ``2 ** n_features`` coalitions.
- ``"permutation"``: Shapley values from antithetic permutations.
- ``"kernel"``: Kernel SHAP with paired sampling, one least-squares solve for all labels
  (exact when the budget covers every coalition).
- ``"kernel-cubic"``: Kernel SHAP on a size-stratified paired design drawn without
  replacement, adjusted by a cubic-interaction surrogate fitted for all labels at once
  (the most accurate per evaluation up to ~20 features; exact at full budget).
- ``"kernel-stack"``: kernel-cubic's design, adjusted by a stack of two surrogates (the
  cubic ridge and a forest of extremely randomised trees, whose exact values come from
  its leaves) mixed per label by cross-validation: more accurate where the labels hinge
  on a few features together (images), at a host cost of 0.2-2 s per input (16
  features, 100-2,000 evaluations).
- ``"kernel-rows"``: for maskers with background rows (tabular): one Kernel SHAP design
  of ``max_evals`` single-row evaluations per background row, each fitted alone, the
  values averaged with the row weights (exact at full budget). The same model rows as
  ``max_evals`` evaluations of the averaged game, with lower error.
- ``"partition"``: Owen values over the masker's hierarchy, refined fairly for every
  label (exact when the budget reaches every leaf).
- ``"owen-sampling"``: Owen values estimated from antithetic random orders that keep
  the hierarchy's groups together (no group's credit is ever spread evenly).
- ``"auto"``: ``"exact"`` when the budget covers every coalition, else
  ``"owen-sampling"`` when the masker has a hierarchy, else ``"kernel-cubic"`` up to
  20 features and ``"permutation"`` beyond (the most accurate per evaluation in
  ``benchmarks/``; see its results).

shap's own explainers stay available for comparison: ``"shap-exact"``,
``"shap-permutation"`` and ``"shap-partition"``. ``"gradient"`` (integrated gradients in
mask space, every label in one vectorised pass) needs the model's gradients and runs in
the explainer (see ``_gradient.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._exact import exact_shapley
from ._kernel import kernel_shap
from ._kernel_cubic import kernel_cubic
from ._kernel_rows import kernel_rows
from ._kernel_stack import kernel_stack
from ._owen import owen_values
from ._permutation import antithetic_permutation, hierarchical_permutation, permutation_budget

__all__ = [
    "ALGORITHMS",
    "GRADIENT",
    "HIERARCHICAL_ALGORITHMS",
    "ROW_ALGORITHMS",
    "EngineResult",
    "estimate",
    "resolve_algorithm",
]

logger = logging.getLogger(__name__)

# Up to this many features (and without a hierarchy) "auto" picks "kernel-cubic": measured
# there at 16 features; its surrogate keeps the triples of the 16 most important features.
AUTO_KERNEL_CUBIC_MAX_FEATURES = 20


@dataclass(frozen=True)
class _Algorithm:
    run: Callable[..., tuple[np.ndarray, np.ndarray]]
    needs_clustering: bool
    min_evals: Callable[[int], int]
    minimum_reason: str
    # Scores single rows against background rows (evaluate_rows and row_weights).
    needs_rows: bool = False


def _run_exact(evaluate, n_features, **_):
    return exact_shapley(evaluate, n_features)


def _run_permutation(evaluate, n_features, *, max_evals, seed, **_):
    return antithetic_permutation(evaluate, n_features, max_evals=max_evals, seed=seed)


def _run_owen_sampling(evaluate, n_features, *, max_evals, clustering, seed, **_):
    return hierarchical_permutation(
        evaluate, n_features, clustering, max_evals=max_evals, seed=seed
    )


def _run_kernel(evaluate, n_features, *, max_evals, seed, **_):
    return kernel_shap(evaluate, n_features, max_evals=max_evals, seed=seed)


def _run_kernel_cubic(evaluate, n_features, *, max_evals, seed, **_):
    return kernel_cubic(evaluate, n_features, max_evals=max_evals, seed=seed)


def _run_kernel_stack(evaluate, n_features, *, max_evals, seed, **_):
    return kernel_stack(evaluate, n_features, max_evals=max_evals, seed=seed)


def _run_kernel_rows(evaluate, n_features, *, max_evals, seed, evaluate_rows, row_weights, **_):
    return kernel_rows(evaluate_rows, n_features, row_weights, max_evals=max_evals, seed=seed)


def _run_partition(evaluate, n_features, *, max_evals, clustering, batch_size, **_):
    return owen_values(evaluate, n_features, clustering, max_evals=max_evals, batch_size=batch_size)


def _run_shap(kind: str):
    def run(evaluate, n_features, *, max_evals, clustering, seed, batch_size):
        return _shap_values(kind, evaluate, n_features, max_evals, clustering, seed, batch_size)

    return run


_REGISTRY: dict[str, _Algorithm] = {
    "exact": _Algorithm(_run_exact, False, lambda n: 2**n, "2 ** n_features"),
    "permutation": _Algorithm(
        _run_permutation,
        False,
        lambda n: permutation_budget(n, 1),
        "2 * n_features (one antithetic pair)",
    ),
    "kernel": _Algorithm(_run_kernel, False, lambda n: 4, "4"),
    "kernel-cubic": _Algorithm(_run_kernel_cubic, False, lambda n: 4, "4"),
    "kernel-stack": _Algorithm(_run_kernel_stack, False, lambda n: 4, "4"),
    "kernel-rows": _Algorithm(_run_kernel_rows, False, lambda n: 4, "4", needs_rows=True),
    "partition": _Algorithm(_run_partition, True, lambda n: 2, "2"),
    "owen-sampling": _Algorithm(
        _run_owen_sampling,
        True,
        lambda n: permutation_budget(n, 1),
        "2 * n_features (one antithetic pair)",
    ),
    "shap-exact": _Algorithm(_run_shap("exact"), False, lambda n: 2**n, "2 ** n_features"),
    "shap-permutation": _Algorithm(
        _run_shap("permutation"), False, lambda n: 2 * n + 1, "2 * n_features + 1"
    ),
    "shap-partition": _Algorithm(_run_shap("partition"), True, lambda n: 2, "2"),
}

# Not a masking algorithm: it needs the model's gradients, so the explainer runs it.
GRADIENT = "gradient"
ALGORITHMS = ("auto", *_REGISTRY, GRADIENT)
HIERARCHICAL_ALGORITHMS = tuple(name for name, spec in _REGISTRY.items() if spec.needs_clustering)
# Algorithms that score single rows against a masker's background rows.
ROW_ALGORITHMS = tuple(name for name, spec in _REGISTRY.items() if spec.needs_rows)


@dataclass(frozen=True)
class EngineResult:
    """Values of one input: ``values`` (n_features, n_labels), ``base_values`` (n_labels,).

    ``algorithm`` is the algorithm that ran (``"auto"`` resolved); ``evaluations`` the
    number of masks evaluated (for ``"kernel-rows"``, its single-row evaluations divided
    by the number of background rows, so that each costs the model rows of one mask of
    the averaged game); ``completeness_gap`` how far the values' sum is from the
    score gap (0 for the masking algorithms, which are exact in that respect).
    """

    values: np.ndarray
    base_values: np.ndarray
    evaluations: int
    algorithm: str
    completeness_gap: float = 0.0


def resolve_algorithm(algorithm: str, n_features: int, max_evals: int, has_clustering: bool) -> str:
    """The algorithm ``"auto"`` stands for, given the problem; others pass through."""
    if algorithm != "auto":
        return algorithm
    if n_features <= 30 and 2**n_features <= max_evals:
        return "exact"
    if has_clustering:
        return "owen-sampling"
    return "kernel-cubic" if n_features <= AUTO_KERNEL_CUBIC_MAX_FEATURES else "permutation"


def estimate(
    evaluate: Callable[[np.ndarray], np.ndarray],
    n_features: int,
    *,
    algorithm: str,
    max_evals: int,
    clustering: np.ndarray | None = None,
    seed: int = 0,
    batch_size: int = 256,
    evaluate_rows: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    row_weights: np.ndarray | None = None,
) -> EngineResult:
    """Estimate every label's values for one input from one shared set of evaluations.

    Args:
        evaluate: Maps ``(m, n_features)`` masks (1 keeps a feature) to ``(m, n_labels)``.
        n_features: Number of features.
        algorithm: One of :data:`ALGORITHMS`.
        max_evals: Budget of masked evaluations for this input.
        clustering: Linkage matrix of the feature hierarchy (needed by partition).
        seed: Seed of the sampling algorithms.
        batch_size: Most masks handed to ``evaluate`` at once by shap's explainers.
        evaluate_rows: For ``"kernel-rows"``: maps ``(m, n_features)`` masks and ``(m,)``
            background-row indices to ``(m, n_labels)`` single-row scores, whose
            weighted mean over the rows is what ``evaluate`` gives.
        row_weights: For ``"kernel-rows"``: ``(B,)`` weights of the background rows.

    Returns:
        The values, the base values ``f(all hidden)``, the evaluations used (for
        ``"kernel-rows"``, its model rows divided by the number of background rows: the
        evaluations of the averaged game that cost as much) and the algorithm that ran.

    Raises:
        ValueError: If the algorithm is unknown or cannot run on what is given, or the
            budget is too small for it.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm={algorithm!r} is not supported; accepted: {ALGORITHMS}")
    if isinstance(max_evals, bool) or not isinstance(max_evals, int) or max_evals < 2:
        raise ValueError(f"max_evals={max_evals!r} must be an integer of at least 2")
    if algorithm == GRADIENT:
        raise ValueError(
            "algorithm='gradient' needs the model's gradients, not masked evaluations; run "
            "it through Explainer"
        )
    algorithm = resolve_algorithm(algorithm, n_features, max_evals, clustering is not None)
    spec = _REGISTRY[algorithm]
    rows = {}
    if spec.needs_rows:
        weights = _check_rows(algorithm, evaluate_rows, row_weights)
        rows = {"evaluate_rows": _RowCounter(evaluate_rows, len(weights)), "row_weights": weights}
    counted = _MaskCounter(evaluate)
    if n_features <= 1:
        values, base = _one_feature(counted, n_features)
        return EngineResult(values, base, counted.masks, algorithm)

    _check_budget(algorithm, spec, n_features, max_evals, clustering)
    values, base = spec.run(
        counted,
        n_features,
        max_evals=max_evals,
        clustering=clustering,
        seed=seed,
        batch_size=batch_size,
        **rows,
    )
    evaluations = counted.masks + (rows["evaluate_rows"].evaluations if rows else 0)
    return EngineResult(
        np.asarray(values, dtype=np.float64).reshape(n_features, -1),
        np.asarray(base, dtype=np.float64).reshape(-1),
        evaluations,
        algorithm,
    )


def _check_budget(
    algorithm: str,
    spec: _Algorithm,
    n_features: int,
    max_evals: int,
    clustering: np.ndarray | None,
) -> None:
    if spec.needs_clustering and clustering is None:
        others = tuple(name for name in ALGORITHMS if name not in HIERARCHICAL_ALGORITHMS)
        raise ValueError(
            f"algorithm={algorithm!r} needs a feature hierarchy, but this masker gives none; "
            f"accepted: a masker with one, or an algorithm without: {others}"
        )
    needed = spec.min_evals(n_features)
    if max_evals < needed:
        raise ValueError(
            f"algorithm={algorithm!r} needs max_evals >= {spec.minimum_reason} = {needed} "
            f"for {n_features} features; got max_evals={max_evals}; accepted: at least "
            f"{needed} (command line: --max-evals {needed})"
        )


def _needs_rows(algorithm: str, got: str) -> str:
    return (
        f"algorithm={algorithm!r} needs a masker with background rows "
        f"(labelshap.modalities.tabular IndependentMasker or PartitionMasker); got {got}"
    )


def _needs_gradients(got: str) -> str:
    return (
        f"algorithm={GRADIENT!r} needs a masker whose masked inputs are differentiable in "
        "the masks (labelshap.modalities.image ImageMasker: a hidden superpixel blends "
        f"towards its fill); got {got}"
    )


def needs_rows_message(algorithm: str, got: str, accepted: str) -> str:
    """The error of a row algorithm run without background rows."""
    others = tuple(name for name in ALGORITHMS if name not in ROW_ALGORITHMS)
    return f"{_needs_rows(algorithm, got)}; accepted: {accepted}, or another algorithm: {others}"


def masker_refusal(algorithm: str, masker: Any) -> str | None:
    """Why ``masker`` (an instance, or a class for what its kind can run) cannot run
    ``algorithm``, or None where it can.

    Row algorithms need background rows (``masker.background_rows``), ``"gradient"``
    masked inputs differentiable in the masks (``masker.differentiable_masks``), the
    hierarchical ones a feature hierarchy (``masker.has_hierarchy``; a class is taken to
    have one, as a tabular masker class may or may not).
    """
    name = masker.__name__ if isinstance(masker, type) else type(masker).__name__
    if algorithm in ROW_ALGORITHMS and not masker.background_rows:
        return _needs_rows(algorithm, name)
    if algorithm == GRADIENT and not masker.differentiable_masks:
        return _needs_gradients(name)
    hierarchy = True if isinstance(masker, type) else masker.has_hierarchy
    if algorithm in HIERARCHICAL_ALGORITHMS and not hierarchy:
        return (
            f"algorithm={algorithm!r} needs a feature hierarchy, but this masker gives none "
            f"({name}; tabular: PartitionMasker has one, command line: --masker partition)"
        )
    return None


def masker_algorithms(masker: Any) -> tuple[str, ...]:
    """The algorithms ``masker`` (an instance or a class) can run, in :data:`ALGORITHMS`
    order."""
    return tuple(name for name in ALGORITHMS if masker_refusal(name, masker) is None)


def needs_gradients_message(got: str) -> str:
    """The error of the gradient algorithm with a masker whose masked inputs are not
    differentiable in the masks."""
    others = tuple(name for name in ALGORITHMS if name != GRADIENT)
    return f"{_needs_gradients(got)}; accepted: that masker, or another algorithm: {others}"


def _check_rows(
    algorithm: str,
    evaluate_rows: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
    row_weights: np.ndarray | None,
) -> np.ndarray:
    """The background-row weights an algorithm that scores single rows needs, checked."""
    if evaluate_rows is None or row_weights is None:
        raise ValueError(
            needs_rows_message(
                algorithm,
                f"evaluate_rows={evaluate_rows!r}, row_weights={row_weights!r}",
                "both",
            )
        )
    weights = np.asarray(row_weights, dtype=np.float64)
    if (
        weights.ndim != 1
        or not len(weights)
        or not np.all(np.isfinite(weights))
        or np.any(weights < 0)
        or abs(weights.sum() - 1.0) > 1e-6
    ):
        raise ValueError(
            f"row_weights={row_weights!r} is not a weighting of background rows; accepted: a "
            "non-empty 1-D array of non-negative weights summing to 1"
        )
    return weights


def _shap_values(
    kind: str,
    evaluate: Callable[[np.ndarray], np.ndarray],
    n_features: int,
    max_evals: int,
    clustering: np.ndarray | None,
    seed: int,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Run one of shap's explainers on the masks (see :class:`_MaskShim`)."""
    import shap

    masker = _MaskShim(n_features, clustering if kind == "partition" else None, batch_size)
    dummy = np.zeros((1, n_features), dtype=np.float32)

    # shap draws from numpy's global generator (permutations, and Partition's tie breaks):
    # seed it for this call and give the caller's state back afterwards.
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        if kind == "exact":
            explainer = shap.explainers.Exact(evaluate, masker)
        elif kind == "permutation":
            explainer = shap.explainers.Permutation(evaluate, masker, seed=seed)
        else:
            explainer = shap.explainers.Partition(evaluate, masker)
        result = explainer(dummy, max_evals=max_evals, silent=True)
    finally:
        np.random.set_state(state)
    return result.values[0], result.base_values[0]


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


class _MaskCounter:
    """Wraps an evaluate function and counts the masks it was asked to score."""

    def __init__(self, evaluate: Callable[[np.ndarray], np.ndarray]) -> None:
        self._evaluate = evaluate
        self.masks = 0

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        masks = np.asarray(masks, dtype=np.float32)
        self.masks += len(masks)
        return np.asarray(self._evaluate(masks), dtype=np.float64)


class _RowCounter:
    """Wraps an evaluate_rows function and counts its model rows as evaluations of the
    averaged game: ``n_background`` rows make one."""

    def __init__(
        self, evaluate_rows: Callable[[np.ndarray, np.ndarray], np.ndarray], n_background: int
    ) -> None:
        self._evaluate_rows = evaluate_rows
        self._n_background = n_background
        self.rows = 0

    @property
    def evaluations(self) -> int:
        """Model rows so far, in evaluations of the averaged game (rounded up)."""
        return -(-self.rows // self._n_background)

    def __call__(self, masks: np.ndarray, rows: np.ndarray) -> np.ndarray:
        masks = np.asarray(masks, dtype=np.float32)
        self.rows += len(masks)
        return np.asarray(self._evaluate_rows(masks, rows), dtype=np.float64)


def _one_feature(evaluate: Callable, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    masks = np.zeros((2, n_features), dtype=np.float32)
    masks[1] = 1.0
    scores = evaluate(masks if n_features else masks[:1])
    base = scores[0]
    values = (scores[1] - scores[0])[None, :] if n_features else np.zeros((0, len(base)))
    return values, base
