"""kernel-stack: exact values of fitted trees, and its gain where labels need features together."""

from __future__ import annotations

import numpy as np
import pytest
from shapley_reference import batch_game, reference_shapley
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.tree import DecisionTreeRegressor

from labelshap._kernel_stack import forest_values, kernel_stack, tree_values
from labelshap.engines import estimate

N_FEATURES = 10
RNG = np.random.default_rng(5)
MAIN = 0.05 * RNG.normal(size=(N_FEATURES, 2))


def conjunction_game(masks: np.ndarray) -> np.ndarray:
    """Two labels that each need five features kept together (like the strokes of a
    digit), then one more, plus small main effects: interactions of order five and six."""
    kept = np.asarray(masks, dtype=np.float64) > 0.5
    first = np.where(kept[:, :5].all(axis=1), 1.0, np.where(kept[:, 5], 0.3, 0.0))
    second = np.where(kept[:, 4:9].all(axis=1), np.where(kept[:, 9], 1.0, 0.6), 0.0)
    main = kept @ MAIN
    return np.stack([first, second], axis=1) + main


EXACT = reference_shapley(batch_game(conjunction_game), N_FEATURES)


def _all_masks(n_features: int) -> np.ndarray:
    codes = np.arange(2**n_features)
    return ((codes[:, None] >> np.arange(n_features)) & 1).astype(np.float64)


@pytest.mark.parametrize("depth", [1, 3, None])
def test_tree_values_equal_the_shapley_values_of_the_tree_as_a_game(depth):
    n_features = 7
    masks = RNG.integers(0, 2, size=(60, n_features)).astype(np.float64)
    targets = RNG.normal(size=(60, 2))
    tree = DecisionTreeRegressor(max_depth=depth, random_state=0).fit(masks, targets)

    def tree_game(batch):
        return tree.predict(np.asarray(batch, dtype=np.float64)).reshape(len(batch), -1)

    expected = reference_shapley(batch_game(tree_game), n_features)
    np.testing.assert_allclose(tree_values(tree.tree_, n_features), expected, atol=1e-12)


def test_forest_values_are_the_mean_of_its_trees_rescaled_per_label():
    masks = _all_masks(6)[RNG.permutation(64)[:40]]
    targets = RNG.normal(size=(40, 3))
    forest = ExtraTreesRegressor(n_estimators=5, random_state=0).fit(masks, targets)
    forest.label_scale_ = np.array([1.0, 2.0, 0.5])

    def forest_game(batch):
        batch = np.asarray(batch, dtype=np.float64)
        return forest.predict(batch) * forest.label_scale_

    expected = reference_shapley(batch_game(forest_game), 6)
    np.testing.assert_allclose(forest_values(forest, 6), expected, atol=1e-12)


def test_covering_every_coalition_is_exact_on_a_conjunction_game():
    values, base = kernel_stack(conjunction_game, N_FEATURES, max_evals=2**N_FEATURES, seed=0)

    np.testing.assert_allclose(values, EXACT, atol=1e-9)
    np.testing.assert_allclose(base, conjunction_game(np.zeros((1, N_FEATURES)))[0])


def test_beats_kernel_cubic_where_labels_need_features_together():
    def mean_error(algorithm: str) -> float:
        errors = []
        for seed in range(6):
            values = estimate(
                conjunction_game, N_FEATURES, algorithm=algorithm, max_evals=60, seed=seed
            ).values
            errors.append(np.abs(values - EXACT).sum(axis=0) / np.abs(EXACT).sum(axis=0))
        return float(np.mean(errors))

    # Measured: 0.29 against 0.44 (120 evaluations: 0.12 against 0.18).
    assert mean_error("kernel-stack") < 0.8 * mean_error("kernel-cubic")


def test_small_budgets_fall_back_to_kernel_cubic():
    stacked = estimate(conjunction_game, N_FEATURES, algorithm="kernel-stack", max_evals=12, seed=3)
    cubic = estimate(conjunction_game, N_FEATURES, algorithm="kernel-cubic", max_evals=12, seed=3)

    np.testing.assert_array_equal(stacked.values, cubic.values)


def test_rejects_a_budget_below_one_pair():
    with pytest.raises(ValueError, match="max_evals=3"):
        kernel_stack(conjunction_game, N_FEATURES, max_evals=3, seed=0)
