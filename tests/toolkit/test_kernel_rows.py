"""kernel-rows: one Kernel SHAP fit per background row, averaged with the row weights."""

from __future__ import annotations

import numpy as np
import pytest
from shapley_reference import reference_shapley

from labelshap import Explainer, LabelModel
from labelshap._kernel import complete_tiers, size_kernel_weights
from labelshap._kernel_rows import _row_designs
from labelshap.engines import estimate
from labelshap.masking import MaskedInput
from labelshap.modalities.image import ImageMasker
from labelshap.modalities.tabular import IndependentMasker, PartitionMasker

TOLERANCE = 1e-6
RNG = np.random.default_rng(5)
HIDDEN = RNG.normal(size=(10, 6))
OUTPUT = RNG.normal(size=(6, 3))


def mlp(inputs: np.ndarray) -> np.ndarray:
    """A fixed numpy MLP over 10 columns with 3 sigmoid labels."""
    return 1.0 / (1.0 + np.exp(-np.tanh(np.asarray(inputs, dtype=np.float64) @ HIDDEN) @ OUTPUT))


class RowGame:
    """One explained row against weighted background rows, the games written plainly.

    Feature ``j`` is column ``j``; columns past ``n_features`` always come from the
    background.

    ``evaluate_rows`` scores each mask against the background row it names;
    ``evaluate`` is the averaged game the values explain.
    """

    def __init__(self, n_features: int, n_background: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.row = rng.normal(size=10) * 1.5
        self.background = rng.normal(size=(n_background, 10))
        self.weights = rng.uniform(0.5, 2.0, n_background)
        self.weights /= self.weights.sum()
        self.n_features = n_features
        self.calls: list[int] = []

    def masked(self, mask: np.ndarray, background_row: np.ndarray) -> np.ndarray:
        filled = background_row.copy()
        kept = np.flatnonzero(np.asarray(mask)[: self.n_features] > 0.5)
        filled[kept] = self.row[kept]
        return filled

    def evaluate_rows(self, masks: np.ndarray, rows: np.ndarray) -> np.ndarray:
        self.calls.append(len(masks))
        built = [
            self.masked(mask, self.background[int(b)]) for mask, b in zip(masks, rows, strict=True)
        ]
        return mlp(np.stack(built))

    def evaluate(self, masks: np.ndarray) -> np.ndarray:
        return np.stack([self.value_of(mask) for mask in masks])

    def value_of(self, mask: np.ndarray) -> np.ndarray:
        return self.weights @ mlp(np.stack([self.masked(mask, b) for b in self.background]))

    def run(self, max_evals: int, seed: int = 0):
        return estimate(
            self.evaluate,
            self.n_features,
            algorithm="kernel-rows",
            max_evals=max_evals,
            seed=seed,
            evaluate_rows=self.evaluate_rows,
            row_weights=self.weights,
        )


# The design


def test_each_row_gets_kernel_shaps_design_with_its_own_samples():
    coalitions, weights = _row_designs(8, 38, n_rows=3, seed=0)
    tiers = complete_tiers(8, 38)
    enumerated = np.concatenate(tiers.rows)
    n_pairs = tiers.left_budget // 2

    assert coalitions.shape == (3, len(enumerated) + 2 * n_pairs, 8)
    assert len(weights) == coalitions.shape[1]
    for row in coalitions:
        np.testing.assert_array_equal(row[: len(enumerated)], enumerated)
        halves = row[len(enumerated) : len(enumerated) + n_pairs]
        np.testing.assert_array_equal(row[len(enumerated) + n_pairs :], 1.0 - halves)
        assert set(halves.sum(axis=1).astype(int)) <= set(tiers.left_sizes)
    assert not np.array_equal(coalitions[0], coalitions[1])
    np.testing.assert_allclose(weights.sum(), size_kernel_weights(8).sum())


def test_a_complete_budget_shares_one_design():
    coalitions, weights = _row_designs(5, 30, n_rows=4, seed=0)

    assert coalitions.shape == (1, 30, 5)
    assert len({tuple(row) for row in coalitions[0]}) == 30


# The engine on a plain numpy game


def test_a_full_budget_gives_the_exact_values_of_the_averaged_game():
    game = RowGame(n_features=5, n_background=4)

    result = game.run(max_evals=2**5)

    np.testing.assert_allclose(result.values, reference_shapley(game.value_of, 5), atol=TOLERANCE)
    np.testing.assert_allclose(result.base_values, game.value_of(np.zeros(5)), atol=1e-12)


@pytest.mark.parametrize("max_evals", [4, 11, 40])
def test_values_sum_to_the_averaged_games_gap(max_evals):
    game = RowGame(n_features=8, n_background=3, seed=1)

    result = game.run(max_evals=max_evals, seed=2)

    gap = game.value_of(np.ones(8)) - game.value_of(np.zeros(8))
    np.testing.assert_allclose(result.values.sum(axis=0), gap, atol=TOLERANCE)


def test_the_seed_decides_the_values():
    game = RowGame(n_features=8, n_background=3, seed=1)

    first, again, other = (game.run(max_evals=40, seed=seed).values for seed in (3, 3, 4))

    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_error_shrinks_with_the_budget():
    game = RowGame(n_features=10, n_background=5, seed=2)
    exact = reference_shapley(game.value_of, 10)

    def mean_error(max_evals: int) -> float:
        errors = [np.abs(game.run(max_evals, seed).values - exact).mean() for seed in range(6)]
        return float(np.mean(errors))

    assert mean_error(400) < 0.5 * mean_error(40)


def test_one_call_scores_every_rows_design_and_counts_as_max_evals():
    game = RowGame(n_features=8, n_background=4, seed=1)

    result = game.run(max_evals=30)

    # Each row's design: the empty and full coalitions and 28 more (an even budget).
    assert game.calls == [4 * 30]
    assert result.evaluations == 30
    assert result.algorithm == "kernel-rows"


def test_without_background_rows_the_engine_refuses_naming_the_algorithm():
    game = RowGame(n_features=5, n_background=2)

    with pytest.raises(ValueError, match=r"algorithm='kernel-rows' needs a masker with backg"):
        estimate(game.evaluate, 5, algorithm="kernel-rows", max_evals=32)


@pytest.mark.parametrize("weights", [[0.5, 0.6], [1.5, -0.5], [[0.5, 0.5]], []])
def test_weights_that_are_not_a_weighting_are_refused(weights):
    game = RowGame(n_features=5, n_background=2)

    with pytest.raises(ValueError, match=r"row_weights=.* non-negative weights summing to 1"):
        estimate(
            game.evaluate,
            5,
            algorithm="kernel-rows",
            max_evals=32,
            evaluate_rows=game.evaluate_rows,
            row_weights=np.array(weights),
        )


def test_a_budget_below_one_pair_is_refused_naming_the_need():
    game = RowGame(n_features=5, n_background=2)

    with pytest.raises(ValueError, match=r"'kernel-rows' needs max_evals >= 4 = 4 .*max_evals=3"):
        game.run(max_evals=3)


# Through the tabular maskers


def keras_mlp():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((5,), name="features")
    hidden = keras.layers.Dense(8, activation="tanh")(inputs)
    outputs = keras.layers.Dense(3, activation="sigmoid")(hidden)
    return LabelModel(keras.Model(inputs, outputs), ["a", "b", "c"])


@pytest.fixture(scope="module")
def tabular():
    """A Keras MLP over 5 columns, a 4-row weighted background (k-means) and 2 rows."""
    rng = np.random.default_rng(3)
    masker = IndependentMasker(rng.normal(size=(14, 5)), summarize=4)
    return keras_mlp(), masker, rng.normal(size=(2, 5)) * 1.5


def averaged_value(model: LabelModel, masker: IndependentMasker, row: np.ndarray):
    """The masker's value function written plainly: the weighted mean over its rows."""

    def value_of(mask: np.ndarray) -> np.ndarray:
        filled = np.where(mask[None, :], row[None, :], masker.background)
        return masker.background_weights @ model.predict(filled)

    return value_of


def test_a_full_budget_through_the_masker_gives_the_exact_values(tabular):
    model, masker, rows = tabular
    assert len(np.unique(masker.background_weights)) > 1  # the weights are really unequal

    result = Explainer(model, masker, algorithm="kernel-rows", max_evals=32).explain(rows)

    for index, row in enumerate(rows):
        value_of = averaged_value(model, masker, row)
        np.testing.assert_allclose(result.values[index], reference_shapley(value_of, 5), atol=1e-5)
        np.testing.assert_allclose(result.base_values[index], value_of(np.zeros(5)), atol=1e-6)


def test_the_explainer_reports_max_evals_and_the_model_rows_they_cost(tabular):
    model, masker, rows = tabular

    result = Explainer(model, masker, algorithm="kernel-rows", max_evals=20).explain(rows)

    assert result.info["evaluations"] == 2 * 20
    assert result.info["model_rows"] == 2 * 20 * len(masker.background)
    gap = result.scores - result.base_values
    np.testing.assert_allclose(result.values.sum(axis=1), gap, atol=1e-5)


def test_the_partition_masker_runs_it_like_the_independent_one(tabular):
    model, masker, rows = tabular
    rng = np.random.default_rng(3)
    background = rng.normal(size=(14, 5))
    independent = IndependentMasker(background, summarize=4)
    partition = PartitionMasker(background, summarize=4)

    values = [
        Explainer(model, one, algorithm="kernel-rows", max_evals=16, seed=1).explain(rows).values
        for one in (independent, partition)
    ]

    np.testing.assert_allclose(values[0], values[1], atol=1e-12)


def hand_built_scores(model, masker, row, masks, indices):
    filled = np.where(masks > 0.5, row[None, :], masker.background[indices])
    return model.predict(filled)


@pytest.mark.parametrize("kind", ["keras", "callable"])
def test_evaluate_rows_scores_the_rows_built_by_hand(tabular, kind):
    model, masker, rows = tabular
    if kind == "callable":
        model = LabelModel(model.predict, model.label_names)
    rng = np.random.default_rng(0)
    masks = (rng.random((37, 5)) < 0.5).astype(np.float32)
    indices = rng.integers(0, len(masker.background), 37)
    bound = masker.bind(rows[0], model)

    scores = bound.evaluate_rows(model, masks, indices)

    expected = hand_built_scores(model, masker, rows[0], masks, indices)
    assert scores.shape == (37, 3)
    np.testing.assert_allclose(scores, expected, atol=1e-6)


def test_evaluate_rows_refuses_an_index_beyond_the_background(tabular):
    model, masker, rows = tabular
    bound = masker.bind(rows[0], model)

    with pytest.raises(ValueError, match=r"rows holds indices from 0 to 4; accepted: .* 0 to 3"):
        bound.evaluate_rows(model, np.ones((2, 5)), np.array([0, 4]))


def test_a_masked_input_without_background_rows_refuses_evaluate_rows(tabular):
    model, _, _ = tabular
    bound = MaskedInput(n_features=2, feature_names=["a", "b"], build=None, context=())

    with pytest.raises(ValueError, match=r"evaluate_rows needs a masked input with backgro"):
        bound.evaluate_rows(model, np.ones((1, 2)), np.zeros(1))


def test_an_image_masker_is_refused_naming_the_algorithm(image_label_model):
    # Refused when the explainer is made, before any input is read.
    with pytest.raises(
        ValueError,
        match=r"algorithm='kernel-rows' needs a masker with background rows \(labelshap"
        r".*IndependentMasker or PartitionMasker\); got ImageMasker; accepted with this masker: "
        r"\('auto', .*'gradient'\)$",
    ):
        Explainer(
            image_label_model, ImageMasker("grid", cell=8), algorithm="kernel-rows", max_evals=16
        )


def test_a_masker_that_claims_rows_but_binds_without_them_is_refused_at_bind(
    image_label_model, images_factory
):
    class ClaimsRows(ImageMasker):
        background_rows = True

    explainer = Explainer(
        image_label_model, ClaimsRows("grid", cell=8), algorithm="kernel-rows", max_evals=16
    )
    with pytest.raises(ValueError, match=r"needs a masker with background rows.*got ClaimsRows"):
        explainer.explain(images_factory(1))
