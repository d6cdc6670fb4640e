"""Tabular values against independent references: shap's Exact explainer and the formula."""

from __future__ import annotations

import numpy as np
import pytest
import shap

from labelshap import Explainer, LabelModel
from labelshap.modalities.tabular import IndependentMasker, PartitionMasker

TOLERANCE = 1e-6
EFFICIENCY_TOLERANCE = 1e-4
COLUMNS = [[j] for j in range(6)]


def test_exact_values_equal_shaps_exact_explainer(table, mlp_model):
    background, rows = table
    masker = IndependentMasker(background)

    reference = shap.explainers.Exact(
        mlp_model.predict, shap.maskers.Independent(background, max_samples=len(background))
    )(rows, max_evals=64, silent=True)
    result = Explainer(mlp_model, masker, algorithm="exact", max_evals=64).explain(rows)

    np.testing.assert_allclose(result.values, reference.values, atol=TOLERANCE)
    np.testing.assert_allclose(result.base_values, reference.base_values, atol=TOLERANCE)


def test_exact_values_equal_the_shapley_formula(table, mlp_model, shapley, value_function):
    background, rows = table
    result = Explainer(
        mlp_model, IndependentMasker(background), algorithm="exact", max_evals=64
    ).explain(rows)

    for index, row in enumerate(rows):
        value_of = value_function(mlp_model.predict, row, background, COLUMNS)
        np.testing.assert_allclose(result.values[index], shapley(value_of, 6), atol=TOLERANCE)
        np.testing.assert_allclose(result.base_values[index], value_of(np.zeros(6)), atol=1e-9)


@pytest.mark.parametrize(
    "algorithm", ["exact", "permutation", "kernel", "kernel-rows", "partition"]
)
def test_values_sum_to_the_score_gap_for_every_label(table, mlp_model, algorithm):
    background, rows = table
    masker = PartitionMasker(background, summarize=5)
    result = Explainer(mlp_model, masker, algorithm=algorithm, max_evals=64).explain(rows)

    gap = result.scores - result.base_values
    np.testing.assert_allclose(result.values.sum(axis=1), gap, atol=EFFICIENCY_TOLERANCE)
    assert np.abs(gap).max() > 1e-2


@pytest.mark.parametrize("algorithm", ["permutation", "kernel", "kernel-rows", "partition"])
def test_the_same_seed_gives_the_same_values(table, mlp_model, algorithm):
    background, rows = table

    def run(seed):
        masker = PartitionMasker(background, summarize=6, seed=seed)
        explainer = Explainer(mlp_model, masker, algorithm=algorithm, max_evals=40, seed=seed)
        return explainer.explain(rows).values

    np.testing.assert_array_equal(run(3), run(3))


def test_a_weighted_background_averages_with_its_weights(table, mlp_model, shapley, value_function):
    background, rows = table
    masker = IndependentMasker(background, summarize=4)
    result = Explainer(mlp_model, masker, algorithm="exact", max_evals=64).explain(rows[:1])

    value_of = value_function(
        mlp_model.predict, rows[0], masker.background, COLUMNS, masker.background_weights
    )
    np.testing.assert_allclose(result.values[0], shapley(value_of, 6), atol=TOLERANCE)


def test_named_inputs_give_the_values_of_the_concatenated_model(
    table, two_input_factory, mlp_factory
):
    background, rows = table
    widths = {"user": 4, "context": 2}
    two_inputs = LabelModel(two_input_factory(widths, seed=5), ["a", "b", "c"])
    one_input = LabelModel(mlp_factory(seed=9), ["a", "b", "c"])
    for name in ("hidden", "labels"):
        weights = two_inputs._keras.get_layer(name).get_weights()
        one_input._keras.get_layer(name).set_weights(weights)

    def named(matrix):
        return {"user": matrix[:, :4], "context": matrix[:, 4:]}

    split = Explainer(
        two_inputs, IndependentMasker(named(background)), algorithm="exact", max_evals=64
    ).explain(named(rows))
    joined = Explainer(
        one_input, IndependentMasker(background), algorithm="exact", max_evals=64
    ).explain(rows)

    assert split.names == [f"user[{j}]" for j in range(4)] + ["context[0]", "context[1]"]
    np.testing.assert_allclose(split.scores, joined.scores, atol=TOLERANCE)
    np.testing.assert_allclose(split.values, joined.values, atol=TOLERANCE)
    np.testing.assert_allclose(split.data, rows, atol=1e-12)


def test_a_flat_table_feeds_named_inputs_by_column_name(table, two_input_factory):
    background, rows = table
    model = LabelModel(two_input_factory({"user": 4, "context": 2}, seed=5), ["a", "b", "c"])
    names = ["u0", "u1", "u2", "u3", "c0", "c1"]
    # The flat table lists the context columns first; inputs= says which column goes where.
    order = [4, 5, 0, 1, 2, 3]
    flat = IndependentMasker(
        background[:, order],
        feature_names=[names[j] for j in order],
        inputs={"user": names[:4], "context": names[4:]},
    )
    named = IndependentMasker({"user": background[:, :4], "context": background[:, 4:]})

    from_flat = Explainer(model, flat, algorithm="exact", max_evals=64).explain(
        {name: rows[:, j] for j, name in enumerate(names)}
    )
    from_named = Explainer(model, named, algorithm="exact", max_evals=64).explain(
        {"user": rows[:, :4], "context": rows[:, 4:]}
    )

    assert flat.column_names == names
    np.testing.assert_allclose(from_flat.values, from_named.values, atol=TOLERANCE)


def test_one_hot_columns_of_a_category_count_as_one_feature(mlp_factory, shapley, value_function):
    rng = np.random.default_rng(4)
    categories = rng.integers(0, 3, size=15)
    numeric = rng.normal(size=(15, 3))
    matrix = np.column_stack([numeric, np.eye(3)[categories]])
    names = ["x0", "x1", "x2", "colour=red", "colour=green", "colour=blue"]
    masker = IndependentMasker(matrix[:10], feature_names=names, groups={"colour": names[3:]})
    model = LabelModel(mlp_factory(seed=2), ["a", "b", "c"])
    result = Explainer(model, masker, algorithm="exact", max_evals=16).explain(matrix[10:])

    assert result.names == ["x0", "x1", "x2", "colour"]
    assert result.values.shape == (5, 4, 3)
    np.testing.assert_array_equal(result.feature_data[:, 3], categories[10:])
    feature_columns = [[0], [1], [2], [3, 4, 5]]
    for index, row in enumerate(matrix[10:]):
        value_of = value_function(model.predict, row, matrix[:10], feature_columns)
        np.testing.assert_allclose(result.values[index], shapley(value_of, 4), atol=TOLERANCE)


def test_an_embedded_category_code_is_one_feature_of_an_integer_input(shapley, value_function):
    import keras

    keras.utils.set_random_seed(1)
    numbers = keras.Input((3,), name="numbers")
    genre = keras.Input((1,), name="genre", dtype="int32")
    embedded = keras.layers.Flatten()(keras.layers.Embedding(4, 2)(genre))
    hidden = keras.layers.Dense(6, activation="tanh")(
        keras.layers.Concatenate()([numbers, embedded])
    )
    network = keras.Model({"numbers": numbers, "genre": genre}, keras.layers.Dense(2)(hidden))
    model = LabelModel(network, ["p", "q"], output="logit")

    rng = np.random.default_rng(2)
    codes = rng.integers(0, 4, size=10)
    values = rng.normal(size=(10, 3))
    masker = IndependentMasker({"numbers": values[:7], "genre": codes[:7]}, categorical=["genre"])
    result = Explainer(model, masker, algorithm="exact", max_evals=16).explain(
        {"numbers": values[7:], "genre": codes[7:]}
    )

    def predict(matrix):
        return model.predict({"numbers": matrix[:, :3], "genre": matrix[:, 3:].astype(np.int32)})

    flat_rows = np.column_stack([values, codes])
    assert result.names == ["numbers[0]", "numbers[1]", "numbers[2]", "genre"]
    for index, row in enumerate(flat_rows[7:]):
        value_of = value_function(predict, row, flat_rows[:7], [[0], [1], [2], [3]])
        np.testing.assert_allclose(result.values[index], shapley(value_of, 4), atol=TOLERANCE)


def test_a_plain_callable_model_gives_the_keras_values(table, mlp_model):
    background, rows = table
    masker = IndependentMasker(background)
    callable_model = LabelModel(mlp_model.predict, ["a", "b", "c"])

    keras_values = Explainer(mlp_model, masker, algorithm="exact", max_evals=64).explain(rows)
    plain_values = Explainer(callable_model, masker, algorithm="exact", max_evals=64).explain(rows)

    np.testing.assert_allclose(plain_values.values, keras_values.values, atol=TOLERANCE)


@pytest.mark.parametrize("algorithm", ["permutation", "partition"])
def test_rows_packed_into_shared_batches_get_their_values_alone(table, mlp_model, algorithm):
    background, rows = table
    masker = PartitionMasker(background, summarize=5)
    original = mlp_model.predict_masked

    def explain(inputs, seed):
        calls = []

        def counting(masks, build, context, built_rows=1):
            calls.append(len(masks) * built_rows)
            return original(masks, build, context, built_rows)

        mlp_model.predict_masked = counting
        try:
            explainer = Explainer(mlp_model, masker, algorithm=algorithm, max_evals=40, seed=seed)
            return explainer.explain(inputs), calls
        finally:
            del mlp_model.predict_masked

    together, calls = explain(rows, 0)
    alone = [explain(row[None], index) for index, row in enumerate(rows)]

    # One request per round for all rows (each mask scored on 5 background rows).
    assert len(calls) == max(len(single_calls) for _, single_calls in alone)
    assert sum(calls) == together.info["model_rows"] == 5 * together.info["evaluations"]
    for index, (single, _) in enumerate(alone):
        np.testing.assert_allclose(together.values[index], single.values[0], atol=TOLERANCE)
