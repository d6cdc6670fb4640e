"""kernel-cubic's design adjusted by a cross-validated stack of two surrogates."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import gammaln

from ._kernel import constrained_kernel_fit, scores_with_ends
from ._kernel_cubic import (
    cubic_surrogate_values,
    fit_odd_surrogate,
    kernel_cubic,
    paired_design,
    predict_odd_surrogate,
    surrogate_triples,
)

__all__ = ["forest_values", "kernel_stack", "tree_values"]

# Trees of the final forest and of each cross-validation forest. More trees moved the
# benchmark's errors by less than their spread over seeds.
N_TREES = 100
N_VALIDATION_TREES = 40
N_FOLDS = 5
# Below this many coalition pairs the folds are too small to compare surrogates.
MIN_PAIRS = 2 * N_FOLDS


def kernel_stack(
    evaluate: Callable[[np.ndarray], np.ndarray],
    n_features: int,
    *,
    max_evals: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Shapley values as Kernel SHAP adjusted by a per-label mix of two surrogates.

    The coalitions are kernel-cubic's (complementary pairs, stratified by size, see
    :func:`~._kernel_cubic.paired_design`); only the odd part of the game
    ``(f(S) - f(N \\ S)) / 2`` carries Shapley value, and both surrogates model it:

    - the cubic ridge of ``"kernel-cubic"`` (linear terms plus three-way products), good
      where effects add up, as over a table's background;
    - a forest of extremely randomised trees (scikit-learn), fitted to every label at
      once on the pairs and their mirrors, good where a label needs several features
      together, as a digit needs its strokes. A tree is a sum of leaves and a leaf is the
      game "these features kept, those hidden", whose Shapley values are closed-form, so
      the forest's values are exact.

    Each surrogate's values are corrected by Kernel SHAP of its residual on the same
    coalitions (regression adjustment), and each label takes the mix of the two whose
    out-of-fold predictions of the odd part (5 folds of pairs, kernel-weighted squared
    error) are best: stacking, with the weight kept in ``[0, 1]``. Values sum to
    ``f(all) - f(none)`` exactly and are exact with the budget of every coalition.

    Args:
        evaluate: Maps ``(m, n_features)`` masks to ``(m, n_labels)`` scores.
        n_features: Number of features (at least 2).
        max_evals: Budget, at least 4 (the empty and full coalitions and one pair).
        seed: Seed of the sampling, the folds and the trees.

    Returns:
        ``(values (n_features, n_labels), base_values (n_labels,))``.

    Notes:
        With fewer than 3 features or ``2 * 5`` pairs it is ``"kernel-cubic"``. The
        forests cost host time that does not grow with the model: for 16 features and 10
        labels, 0.2 s per input at 100 evaluations, 0.5 s at 500 and 1.9 s at 2,000 on one
        core (kernel-cubic alone: 3, 15 and 80 ms); worth it where the model is
        the expensive part or accuracy per evaluation matters most.
    """
    if max_evals < 4:
        raise ValueError(f"max_evals={max_evals} is too small for kernel-stack; accepted: >= 4")
    halves, weights = paired_design(n_features, max_evals - 2, seed)
    if n_features < 3 or len(halves) < MIN_PAIRS:
        return kernel_cubic(evaluate, n_features, max_evals=max_evals, seed=seed)
    coalitions = np.concatenate([halves, 1.0 - halves])
    row_weights = np.concatenate([weights, weights])
    scores, empty, full = scores_with_ends(evaluate, coalitions)
    gap = full - empty
    gains = scores - empty[None, :]
    odd = 0.5 * (scores[: len(halves)] - scores[len(halves) :])

    kernel = constrained_kernel_fit(coalitions, row_weights, gains, gap)
    triples, prior = surrogate_triples(kernel, n_features)
    rng = np.random.default_rng(seed)
    tree_seed = int(rng.integers(2**31))

    def fit_cubic(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return fit_odd_surrogate(halves[rows] - 0.5, weights[rows], odd[rows], triples, prior)

    def fit_forest(rows: np.ndarray, n_trees: int):
        return _fit_forest(halves[rows], odd[rows], gap, n_trees, tree_seed)

    # Out-of-fold predictions of the odd part by both surrogates.
    folds = rng.permutation(len(halves)) % N_FOLDS
    cubic_guess = np.zeros_like(odd)
    forest_guess = np.zeros_like(odd)
    for fold in range(N_FOLDS):
        train, test = folds != fold, folds == fold
        linear, cubic = fit_cubic(train)
        cubic_guess[test] = predict_odd_surrogate(halves[test] - 0.5, linear, cubic, triples)
        forest_guess[test] = _predict(fit_forest(train, N_VALIDATION_TREES), halves[test])
    mix = _stack_weights(odd, cubic_guess, forest_guess, weights)

    # Both surrogates on every pair, each corrected by Kernel SHAP of its residual.
    everything = np.ones(len(halves), dtype=bool)
    linear, cubic = fit_cubic(everything)
    cubic_values, cubic_gains, cubic_gap = cubic_surrogate_values(
        coalitions, linear, cubic, triples
    )
    cubic_values = cubic_values + constrained_kernel_fit(
        coalitions, row_weights, gains - cubic_gains, gap - cubic_gap
    )
    forest = fit_forest(everything, N_TREES)
    ends = np.stack([np.zeros(n_features), np.ones(n_features)])
    predicted = _predict(forest, np.concatenate([ends, coalitions]))
    forest_gains = predicted[2:] - predicted[0]
    forest_gap = predicted[1] - predicted[0]
    forest_shares = forest_values(forest, n_features) + constrained_kernel_fit(
        coalitions, row_weights, gains - forest_gains, gap - forest_gap
    )
    return mix[None, :] * cubic_values + (1.0 - mix[None, :]) * forest_shares, empty


def _fit_forest(halves: np.ndarray, odd: np.ndarray, gap: np.ndarray, n_trees: int, seed: int):
    """Extremely randomised trees on the pairs' odd parts, their mirrors and the ends.

    Each label is scaled to unit root mean square before the fit, so that the splits
    serve every label rather than the one with the largest scores.
    """
    from sklearn.ensemble import ExtraTreesRegressor

    n_features = halves.shape[1]
    inputs = np.concatenate(
        [halves, 1.0 - halves, np.ones((1, n_features)), np.zeros((1, n_features))]
    )
    targets = np.concatenate([odd, -odd, 0.5 * gap[None, :], -0.5 * gap[None, :]])
    scale = np.sqrt(np.mean(targets**2, axis=0))
    scale = np.where(scale > 0, scale, 1.0)
    forest = ExtraTreesRegressor(n_estimators=n_trees, random_state=seed)
    scaled = targets / scale
    forest.fit(inputs, scaled[:, 0] if scaled.shape[1] == 1 else scaled)
    forest.label_scale_ = scale
    return forest


def _predict(forest, masks: np.ndarray) -> np.ndarray:
    predicted = forest.predict(masks)
    return predicted.reshape(len(masks), -1) * forest.label_scale_[None, :]


def forest_values(forest, n_features: int) -> np.ndarray:
    """Exact Shapley values ``(n_features, n_labels)`` of the game ``S -> forest(1_S)``."""
    total = sum(tree_values(tree.tree_, n_features) for tree in forest.estimators_)
    return total / len(forest.estimators_) * forest.label_scale_[None, :]


def tree_values(tree, n_features: int) -> np.ndarray:
    """Exact Shapley values of one fitted scikit-learn tree over 0/1 masks.

    A leaf reached when the features ``K`` are kept and ``H`` hidden (its path's right
    and left turns; splits fall between 0 and 1) is the game
    ``u(S) = 1[K in S and H outside S]``. In a random order of the features, ``u`` turns
    on when the last of ``K`` arrives before any of ``H``, and off when the first of
    ``H`` arrives after all of ``K``; so a kept feature gets
    ``(k - 1)! h! / (k + h)!`` of the leaf's value and a hidden one
    ``-k! (h - 1)! / (k + h)!``. The tree's values are the sum over its leaves.

    Args:
        tree: A fitted ``sklearn.tree._tree.Tree`` (``estimator.tree_``).
        n_features: Number of features.

    Returns:
        ``(n_features, n_outputs)``.
    """
    left = tree.children_left.tolist()
    right = tree.children_right.tolist()
    feature = tree.feature.tolist()
    n_nodes = len(left)
    kept = [0] * n_nodes
    hidden = [0] * n_nodes
    reachable = [True] * n_nodes
    # scikit-learn numbers a node's children after it, so one pass in order suffices.
    for node in range(n_nodes):
        low, high = left[node], right[node]
        if low == -1:
            continue
        bit = 1 << feature[node]
        kept[low], hidden[low] = kept[node], hidden[node] | bit
        kept[high], hidden[high] = kept[node] | bit, hidden[node]
        reachable[low] = reachable[node] and not kept[node] & bit
        reachable[high] = reachable[node] and not hidden[node] & bit
    leaves = [node for node in range(n_nodes) if left[node] == -1 and reachable[node]]
    keep = _bits(np.array(kept, dtype=object)[leaves], n_features)
    hide = _bits(np.array(hidden, dtype=object)[leaves], n_features)
    value = tree.value[leaves, :, 0]
    k = keep.sum(axis=1)
    h = hide.sum(axis=1)
    total = gammaln(k + h + 1)
    kept_share = np.where(k > 0, np.exp(gammaln(np.maximum(k, 1)) + gammaln(h + 1) - total), 0.0)
    hidden_share = np.where(h > 0, np.exp(gammaln(k + 1) + gammaln(np.maximum(h, 1)) - total), 0.0)
    return keep.T @ (kept_share[:, None] * value) - hide.T @ (hidden_share[:, None] * value)


def _bits(codes: np.ndarray, n_features: int) -> np.ndarray:
    """``(len(codes), n_features)`` 0/1 floats of Python integers' low bits."""
    width = (n_features + 7) // 8
    raw = b"".join(int(code).to_bytes(width, "little") for code in codes)
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")
    return bits.reshape(len(codes), width * 8)[:, :n_features].astype(np.float64)


def _stack_weights(
    odd: np.ndarray, first: np.ndarray, second: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Per label, the ``a`` in ``[0, 1]`` whose mix ``a first + (1 - a) second`` has the
    least kernel-weighted squared error on the out-of-fold predictions."""
    difference = first - second
    residual = odd - second
    numerator = (weights[:, None] * difference * residual).sum(axis=0)
    denominator = (weights[:, None] * difference**2).sum(axis=0)
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, np.clip(numerator / safe, 0.0, 1.0), 1.0)
