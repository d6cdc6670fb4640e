"""Tests for the estimation engines on small games whose Shapley values are known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import linkage
from shapley_reference import batch_game, reference_shapley

from labelshap.engines import estimate

N_FEATURES = 6
# Per feature and label: the additive part of the game (two labels).
WEIGHTS = np.array(
    [[1.0, -2.0], [0.5, 0.25], [-1.5, 3.0], [2.0, 1.0], [0.0, -0.5], [0.75, 0.1]],
)
INTERCEPT = np.array([0.3, -0.2])
PAIR = np.array([2.0, -1.0])  # paid when features 0 and 1 are both kept
TRIPLE = np.array([3.0, 1.5])  # paid when features 2, 3 and 4 are all kept
# A hierarchy over the six features: ((0, 1), (2, (3, 4))) and 5 joined last.
CLUSTERING = linkage(np.array([[0.0], [0.1], [5.0], [5.3], [5.35], [20.0]]), method="single")


def game(masks: np.ndarray) -> np.ndarray:
    """Weighted sum plus a pairwise and a three-way interaction, for two labels."""
    masks = np.asarray(masks, dtype=np.float64)
    pair = (masks[:, 0] * masks[:, 1])[:, None] * PAIR
    triple = (masks[:, 2] * masks[:, 3] * masks[:, 4])[:, None] * TRIPLE
    return INTERCEPT + masks @ WEIGHTS + pair + triple


def additive_game(masks: np.ndarray) -> np.ndarray:
    return INTERCEPT + np.asarray(masks, dtype=np.float64) @ WEIGHTS


class CountingGame:
    """The game, counting every row it is asked to score."""

    def __init__(self, evaluate=game) -> None:
        self.evaluate = evaluate
        self.rows = 0

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        self.rows += len(masks)
        return self.evaluate(masks)


ALGORITHM_SETTINGS = {
    "exact": {"max_evals": 2**N_FEATURES},
    "permutation": {"max_evals": 10 * (2 * N_FEATURES + 1)},
    "partition": {"max_evals": 30, "clustering": CLUSTERING},
}


def test_reference_shapley_splits_the_interactions_evenly():
    # Checks the reference itself: the pair is shared by 2 features, the triple by 3.
    expected = WEIGHTS.copy()
    expected[[0, 1]] += PAIR / 2
    expected[[2, 3, 4]] += TRIPLE / 3

    np.testing.assert_allclose(
        reference_shapley(batch_game(game), N_FEATURES), expected, atol=1e-12
    )


def test_exact_equals_the_shapley_formula():
    result = estimate(game, N_FEATURES, algorithm="exact", max_evals=2**N_FEATURES)

    np.testing.assert_allclose(
        result.values, reference_shapley(batch_game(game), N_FEATURES), atol=1e-9
    )
    assert result.values.shape == (N_FEATURES, 2)


def test_permutation_error_shrinks_as_the_budget_grows():
    exact = reference_shapley(batch_game(game), N_FEATURES)

    def error(max_evals: int) -> float:
        result = estimate(game, N_FEATURES, algorithm="permutation", max_evals=max_evals)
        return float(np.abs(result.values - exact).max())

    one_pair = error(2 * N_FEATURES + 1)
    two_hundred_pairs = error(200 * (2 * N_FEATURES + 1))

    assert two_hundred_pairs < 0.2
    assert two_hundred_pairs < one_pair / 4


def test_permutation_is_exact_on_an_additive_game():
    result = estimate(additive_game, N_FEATURES, algorithm="permutation", max_evals=13)

    np.testing.assert_allclose(result.values, WEIGHTS, atol=1e-9)


def test_partition_with_a_full_budget_is_exact_on_an_additive_game():
    result = estimate(
        additive_game, N_FEATURES, algorithm="partition", max_evals=200, clustering=CLUSTERING
    )

    np.testing.assert_allclose(result.values, WEIGHTS, atol=1e-9)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHM_SETTINGS))
def test_values_sum_to_the_gap_between_all_kept_and_all_hidden(algorithm):
    result = estimate(game, N_FEATURES, algorithm=algorithm, **ALGORITHM_SETTINGS[algorithm])

    everything = game(np.ones((1, N_FEATURES)))[0]
    nothing = game(np.zeros((1, N_FEATURES)))[0]
    np.testing.assert_allclose(result.values.sum(axis=0), everything - nothing, atol=1e-9)
    np.testing.assert_allclose(result.base_values, nothing, atol=1e-12)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHM_SETTINGS))
def test_evaluations_count_every_mask_scored(algorithm):
    counting = CountingGame()

    result = estimate(counting, N_FEATURES, algorithm=algorithm, **ALGORITHM_SETTINGS[algorithm])

    assert result.evaluations == counting.rows
    assert 0 < result.evaluations <= ALGORITHM_SETTINGS[algorithm]["max_evals"]


def test_permutation_with_the_same_seed_gives_the_same_values():
    def run(seed: int) -> np.ndarray:
        return estimate(game, N_FEATURES, algorithm="permutation", max_evals=39, seed=seed).values

    np.testing.assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


def test_permutation_leaves_the_global_random_state_alone():
    np.random.seed(1234)
    expected = np.random.random(5)

    np.random.seed(1234)
    estimate(game, N_FEATURES, algorithm="permutation", max_evals=39, seed=7)
    drawn = np.random.random(5)

    np.testing.assert_array_equal(drawn, expected)


def test_partition_values_do_not_depend_on_the_global_random_state():
    # Eleven features in a chain hierarchy, one interaction between the two ends: with
    # this budget the search meets equally promising groups and must pick one of them.
    weights = np.array([1.0, 1.0, 2.0, 1.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0])
    clustering = linkage(np.arange(11.0)[:, None], method="average")

    def ends_game(masks: np.ndarray) -> np.ndarray:
        masks = np.asarray(masks, dtype=np.float64)
        return (masks @ weights + masks[:, 0] * masks[:, 10])[:, None]

    def run_after_seeding_numpy(global_seed: int) -> np.ndarray:
        np.random.seed(global_seed)
        return estimate(
            ends_game, 11, algorithm="partition", max_evals=36, clustering=clustering, seed=0
        ).values

    first = run_after_seeding_numpy(0)
    for global_seed in (1, 2, 3):
        np.testing.assert_array_equal(run_after_seeding_numpy(global_seed), first)


# Zero and one feature


@pytest.mark.parametrize("algorithm", sorted(ALGORITHM_SETTINGS))
def test_no_features_gives_no_values_and_the_base_score(algorithm):
    counting = CountingGame(lambda masks: np.tile([0.25, 0.75], (len(masks), 1)))

    result = estimate(counting, 0, algorithm=algorithm, max_evals=2)

    assert result.values.shape == (0, 2)
    np.testing.assert_array_equal(result.base_values, [0.25, 0.75])
    assert result.evaluations == counting.rows == 1


@pytest.mark.parametrize("algorithm", sorted(ALGORITHM_SETTINGS))
def test_one_feature_gets_the_whole_gap(algorithm):
    counting = CountingGame(lambda masks: 0.1 + masks[:, :1] * np.array([[0.5, -0.25]]))

    result = estimate(counting, 1, algorithm=algorithm, max_evals=2)

    np.testing.assert_allclose(result.values, [[0.5, -0.25]], atol=1e-12)
    np.testing.assert_allclose(result.base_values, [0.1, 0.1], atol=1e-12)
    assert result.evaluations == counting.rows == 2


# Budget and argument errors


def test_exact_with_too_small_a_budget_is_refused_naming_the_need():
    with pytest.raises(ValueError, match=r"needs max_evals >= 2 \*\* n_features = 64 .*=63"):
        estimate(game, N_FEATURES, algorithm="exact", max_evals=63)


def test_permutation_below_one_antithetic_pair_is_refused_naming_the_need():
    with pytest.raises(ValueError, match=r"max_evals >= 2 \* n_features .* = 12 .*max_evals=11"):
        estimate(game, N_FEATURES, algorithm="permutation", max_evals=11)


def test_shap_permutation_below_one_pair_is_refused_naming_the_need():
    with pytest.raises(ValueError, match=r"max_evals >= 2 \* n_features \+ 1 = 13 .*max_evals=12"):
        estimate(game, N_FEATURES, algorithm="shap-permutation", max_evals=12)


def test_partition_without_a_hierarchy_is_refused():
    with pytest.raises(ValueError, match="algorithm='partition' needs a feature hierarchy"):
        estimate(game, N_FEATURES, algorithm="partition", max_evals=100)


def test_unknown_algorithm_is_refused_listing_the_accepted_ones():
    with pytest.raises(ValueError, match=r"algorithm='lime' is not supported; accepted: \("):
        estimate(game, N_FEATURES, algorithm="lime", max_evals=100)


@pytest.mark.parametrize("max_evals", [1, 0, 2.5, True])
def test_budget_that_is_not_an_integer_of_at_least_two_is_refused(max_evals):
    with pytest.raises(ValueError, match=rf"max_evals={max_evals!r} must be an integer"):
        estimate(game, N_FEATURES, algorithm="permutation", max_evals=max_evals)


def test_estimation_runs_with_one_blas_thread_and_restores_the_count():
    # The estimators' small solves beside the model and one thread per input: BLAS is
    # held at one thread during an explanation, and given back its threads after it.
    import threadpoolctl

    from labelshap import Explainer, LabelModel
    from labelshap.modalities.image import ImageMasker

    def blas_threads():
        info = threadpoolctl.threadpool_info()
        return sorted(lib["num_threads"] for lib in info if lib["user_api"] == "blas")

    seen = []

    def model(images):
        seen.append((len(images), blas_threads()))
        return np.tanh(images.reshape(len(images), -1)[:, :2])

    before = blas_threads()
    masker = ImageMasker("grid", cell=4, input_shape=(8, 8, 1))
    explainer = Explainer(LabelModel(model, ["x", "y"]), masker, algorithm="kernel", max_evals=20)
    for _ in range(2):  # the second call reuses the first one's controller
        explainer.explain(np.random.default_rng(0).random((2, 8, 8, 1)))
        # The unmasked inputs are scored first (2 rows), then the masked ones estimated.
        masked = [threads for rows, threads in seen if rows > 2]
        assert masked and all(threads == [1] * len(before) for threads in masked)
        assert blas_threads() == before
        seen.clear()
