"""kernel-cubic's design and its gain over Kernel SHAP on a game with three-way effects."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapley_reference import batch_game, reference_shapley

from labelshap._kernel import size_kernel_weights
from labelshap._kernel_cubic import paired_design
from labelshap.engines import estimate

N_FEATURES = 10
RNG = np.random.default_rng(11)
MAIN = RNG.normal(size=(N_FEATURES, 2))
TRIPLES = [(0, 1, 2), (2, 5, 7), (3, 4, 9), (1, 6, 8)]
TRIPLE_WEIGHTS = RNG.normal(size=(len(TRIPLES), 2)) * 1.5


def cubic_game(masks: np.ndarray) -> np.ndarray:
    """Two labels: main effects, four three-way products and a saturating link."""
    masks = np.asarray(masks, dtype=np.float64)
    score = masks @ MAIN
    for members, weight in zip(TRIPLES, TRIPLE_WEIGHTS, strict=True):
        score = score + np.prod(masks[:, list(members)], axis=1, keepdims=True) * weight
    return 1.0 / (1.0 + np.exp(-score))


EXACT = reference_shapley(batch_game(cubic_game), N_FEATURES)


@pytest.mark.parametrize("budget", [30, 200, 900])
def test_design_pairs_distinct_coalitions_with_their_sizes_kernel_weight(budget):
    halves, weights = paired_design(N_FEATURES, budget, seed=2)
    coalitions = np.concatenate([halves, 1.0 - halves])
    codes = coalitions.astype(np.int64) @ (1 << np.arange(N_FEATURES))

    assert len(coalitions) <= budget
    assert len(set(codes.tolist())) == len(codes)  # without replacement, no pair twice
    sizes = coalitions.sum(axis=1).astype(int)
    assert sizes.min() >= 1 and sizes.max() <= N_FEATURES - 1
    both = np.concatenate([weights, weights])
    expected = size_kernel_weights(N_FEATURES)
    for size in np.unique(sizes):
        np.testing.assert_allclose(both[sizes == size].sum(), expected[size - 1])


def test_design_enumerates_the_outer_sizes_first():
    halves, _ = paired_design(N_FEATURES, 400, seed=0)
    sizes = np.concatenate([halves, 1.0 - halves]).sum(axis=1).astype(int)

    assert (sizes == 1).sum() == N_FEATURES
    assert (sizes == 2).sum() == math.comb(N_FEATURES, 2)


def test_kernel_cubic_beats_kernel_on_three_way_effects():
    def mean_error(algorithm: str, budget: int) -> float:
        errors = []
        for seed in range(6):
            values = estimate(
                cubic_game, N_FEATURES, algorithm=algorithm, max_evals=budget, seed=seed
            ).values
            errors.append(np.abs(values - EXACT).sum() / np.abs(EXACT).sum())
        return float(np.mean(errors))

    for budget in (400, 800):
        assert mean_error("kernel-cubic", budget) < 0.5 * mean_error("kernel", budget)
