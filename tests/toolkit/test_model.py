"""Tests for LabelModel: loading every kind of model, batching, output checks, spaces."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from labelshap import LabelModel

N_INPUTS = 4
LABELS = ["cat", "dog", "bird"]
BATCH = 4
ROW_COUNTS = (1, BATCH - 1, BATCH + 1)
RNG = np.random.default_rng(0)
ROWS = RNG.normal(size=(2 * BATCH + 1, N_INPUTS)).astype(np.float32)


def dense_model(activation: str = "sigmoid", n_labels: int = len(LABELS)) -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((N_INPUTS,))
    outputs = keras.layers.Dense(n_labels, activation=activation)(inputs)
    return keras.Model(inputs, outputs)


def lambda_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((N_INPUTS,))
    doubled = keras.layers.Lambda(lambda tensor: tensor * 2.0)(inputs)
    outputs = keras.layers.Dense(len(LABELS), activation="sigmoid")(doubled)
    return keras.Model(inputs, outputs)


def direct_scores(model: keras.Model, rows: np.ndarray) -> np.ndarray:
    return np.asarray(model(rows, training=False), dtype=np.float64)


def blend(masks, row, fill):
    """Kept features come from ``row``, hidden ones from ``fill`` (numpy or TensorFlow)."""
    return masks * row + (1.0 - masks) * fill


@pytest.fixture(scope="module")
def sigmoid_model() -> keras.Model:
    return dense_model()


@pytest.fixture
def keras_file(sigmoid_model: keras.Model, tmp_path: Path) -> Path:
    path = tmp_path / "tiny.keras"
    sigmoid_model.save(path)
    return path


# Accepted kinds of model


@pytest.mark.parametrize("n_rows", ROW_COUNTS)
def test_keras_model_scores_equal_the_models_own_call(sigmoid_model, n_rows):
    model = LabelModel(sigmoid_model, LABELS, batch_size=BATCH)

    scores = model.predict(ROWS[:n_rows])

    assert scores.shape == (n_rows, len(LABELS))
    assert scores.dtype == np.float64
    np.testing.assert_allclose(scores, direct_scores(sigmoid_model, ROWS[:n_rows]), atol=1e-6)


def test_keras_file_scores_equal_the_saved_models_call(sigmoid_model, keras_file):
    model = LabelModel(keras_file, LABELS, batch_size=BATCH)

    scores = model.predict(ROWS[: BATCH + 1])

    np.testing.assert_allclose(scores, direct_scores(sigmoid_model, ROWS[: BATCH + 1]), atol=1e-6)
    assert model.source == str(keras_file)


def test_saved_model_directory_scores_equal_the_exported_models_call(sigmoid_model, tmp_path):
    export_dir = tmp_path / "exported"
    sigmoid_model.export(str(export_dir))

    model = LabelModel(export_dir, LABELS, batch_size=BATCH)
    scores = model.predict(ROWS[: BATCH + 1])

    np.testing.assert_allclose(scores, direct_scores(sigmoid_model, ROWS[: BATCH + 1]), atol=1e-6)


@pytest.mark.parametrize("n_rows", ROW_COUNTS)
def test_plain_callable_scores_come_back_unchanged(n_rows):
    weights = RNG.random((N_INPUTS, len(LABELS)))

    def score(batch):
        return 1.0 / (1.0 + np.exp(-batch @ weights))

    model = LabelModel(score, LABELS, batch_size=BATCH)
    scores = model.predict(ROWS[:n_rows])

    np.testing.assert_allclose(scores, score(ROWS[:n_rows].astype(np.float64)), atol=1e-6)


def test_plain_callable_is_called_in_batches_of_batch_size():
    batch_lengths = []

    def score(batch):
        batch_lengths.append(len(batch))
        return np.full((len(batch), len(LABELS)), 0.5)

    LabelModel(score, LABELS, batch_size=BATCH).predict(ROWS[: 2 * BATCH + 1])

    assert batch_lengths == [BATCH, BATCH, 1]


def test_compiled_function_is_traced_once_for_every_row_count(sigmoid_model):
    model = LabelModel(sigmoid_model, LABELS, batch_size=BATCH)

    for n_rows in (*ROW_COUNTS, 2 * BATCH + 1):
        model.predict(ROWS[:n_rows])

    assert list(model._compiled) == [None]
    assert model._compiled[None].experimental_get_tracing_count() == 1


def test_partial_batches_are_padded_to_few_shapes_and_trace_at_most_twice(sigmoid_model):
    """Partial batches pad to powers of two; TensorFlow then generalises the batch axis."""
    model = LabelModel(sigmoid_model, LABELS, batch_size=64)
    rows = RNG.random((200, N_INPUTS)).astype(np.float32)

    for n_rows in (1, 17, 40, 63, 64, 65, 200):
        np.testing.assert_allclose(
            model.predict(rows[:n_rows]), sigmoid_model(rows[:n_rows]).numpy(), atol=1e-6
        )

    assert model._padded_size(1) == 16
    assert model._padded_size(17) == 32
    assert model._padded_size(63) == 64
    assert model._compiled[None].experimental_get_tracing_count() <= 2


def test_float64_inputs_are_cast_and_do_not_retrace(sigmoid_model):
    model = LabelModel(sigmoid_model, LABELS, batch_size=BATCH)

    model.predict(ROWS[:2])
    scores = model.predict(ROWS[:3].astype(np.float64))

    assert model._compiled[None].experimental_get_tracing_count() == 1
    np.testing.assert_allclose(scores, direct_scores(sigmoid_model, ROWS[:3]), atol=1e-6)


# Label names


def test_label_names_default_to_numbered_names(sigmoid_model):
    model = LabelModel(sigmoid_model)

    assert model.label_names == ["label_0", "label_1", "label_2"]
    assert model.n_labels == 3


def test_label_names_are_read_from_a_list(sigmoid_model):
    model = LabelModel(sigmoid_model, ("cat", "dog", "bird"))

    assert model.label_names == ["cat", "dog", "bird"]
    assert model.label_index("dog") == 1
    assert model.label_index(2) == 2


def test_label_names_are_read_from_a_text_file_ignoring_blank_lines(sigmoid_model, tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("cat\n\n  dog  \n\nbird\n\n", encoding="utf-8")

    model = LabelModel(sigmoid_model, path)

    assert model.label_names == ["cat", "dog", "bird"]


def test_unknown_label_index_raises_key_error_listing_the_labels(sigmoid_model):
    model = LabelModel(sigmoid_model, LABELS)

    with pytest.raises(KeyError, match=r"'zebra'.*\['cat', 'dog', 'bird'\]"):
        model.label_index("zebra")
    with pytest.raises(KeyError, match="label 3 is not"):
        model.label_index(3)


def test_label_count_differing_from_model_outputs_is_refused_naming_both(sigmoid_model):
    with pytest.raises(ValueError, match="2 names were given but the model has 3 outputs"):
        LabelModel(sigmoid_model, ["cat", "dog"])


def test_plain_callable_without_label_names_is_refused():
    with pytest.raises(ValueError, match="labels=None"):
        LabelModel(lambda batch: np.zeros((len(batch), 3)))


# Output shape checks


def test_keras_model_with_three_dimensional_output_is_refused_with_its_shape():
    inputs = keras.Input((N_INPUTS,))
    outputs = keras.layers.Reshape((2, 3))(keras.layers.Dense(6, activation="sigmoid")(inputs))

    with pytest.raises(ValueError, match=r"\(None, 2, 3\)"):
        LabelModel(keras.Model(inputs, outputs))


def test_callable_returning_one_score_per_row_is_refused_with_the_shape():
    model = LabelModel(lambda batch: np.zeros(len(batch)), LABELS)

    with pytest.raises(ValueError, match=r"shape \(3,\); expected \(n, n_labels\) = \(3, 3\)"):
        model.predict(ROWS[:3])


def test_callable_returning_the_wrong_number_of_rows_is_refused_with_the_shape():
    model = LabelModel(lambda batch: np.zeros((len(batch) + 1, 3)), LABELS)

    with pytest.raises(ValueError, match=r"shape \(4, 3\); expected \(n, n_labels\) = \(3, 3\)"):
        model.predict(ROWS[:3])


def test_callable_returning_fewer_labels_than_names_is_refused_with_the_shape():
    model = LabelModel(lambda batch: np.zeros((len(batch), 2)), LABELS)

    with pytest.raises(ValueError, match=r"shape \(3, 2\); expected \(n, n_labels\) = \(3, 3\)"):
        model.predict(ROWS[:3])


# Unsafe .keras files


def test_keras_file_with_lambda_layer_is_refused_naming_unsafe_load(tmp_path):
    path = tmp_path / "lambda.keras"
    lambda_model().save(path)

    with pytest.raises(ValueError, match=r"unsafe_load=True \(command line: --unsafe-load\)"):
        LabelModel(path, LABELS)


def test_keras_file_with_lambda_layer_loads_with_unsafe_load(tmp_path):
    original = lambda_model()
    path = tmp_path / "lambda.keras"
    original.save(path)

    model = LabelModel(path, LABELS, batch_size=BATCH, unsafe_load=True)

    np.testing.assert_allclose(
        model.predict(ROWS[:3]), direct_scores(original, ROWS[:3]), atol=1e-6
    )


# Output kinds and spaces


def test_probability_output_outside_unit_interval_is_refused_naming_logit():
    model = LabelModel(dense_model(activation="linear"), LABELS, batch_size=BATCH)

    with pytest.raises(ValueError, match=r"outside \[0, 1\].*pass output='logit'"):
        model.predict(ROWS[:3] * 100.0)


def test_probability_output_explained_in_logit_space_is_log_odds(sigmoid_model):
    model = LabelModel(sigmoid_model, LABELS, output="probability", space="logit", batch_size=BATCH)

    scores = model.predict(ROWS[:5])

    probabilities = direct_scores(sigmoid_model, ROWS[:5])
    np.testing.assert_allclose(scores, np.log(probabilities / (1.0 - probabilities)), atol=1e-6)


def test_logit_output_explained_in_probability_space_is_sigmoid():
    logit_model = dense_model(activation="linear")
    model = LabelModel(logit_model, LABELS, output="logit", space="probability", batch_size=BATCH)

    scores = model.predict(ROWS[:5])

    logits = direct_scores(logit_model, ROWS[:5])
    np.testing.assert_allclose(scores, 1.0 / (1.0 + np.exp(-logits)), atol=1e-6)


def test_space_defaults_to_output():
    model = LabelModel(dense_model(activation="linear"), LABELS, output="logit")

    assert model.space == "logit"


# Argument errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"output": "softmax"}, "output='softmax' is not supported"),
        ({"space": "odds"}, "space='odds' is not supported"),
        ({"batch_size": 0}, "batch_size=0 must be a positive integer"),
        ({"batch_size": 2.5}, "batch_size=2.5 must be a positive integer"),
        ({"batch_size": True}, "batch_size=True must be a positive integer"),
    ],
)
def test_bad_argument_is_refused_naming_argument_and_value(sigmoid_model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        LabelModel(sigmoid_model, LABELS, **kwargs)


def test_model_of_unsupported_type_is_refused_naming_the_type():
    with pytest.raises(TypeError, match="model of type 'int' is not supported"):
        LabelModel(42, LABELS)


def test_missing_model_path_is_refused_naming_the_path(tmp_path):
    missing = tmp_path / "nowhere.keras"

    with pytest.raises(FileNotFoundError, match="nowhere.keras' does not exist"):
        LabelModel(missing, LABELS)


def test_h5_file_is_refused_naming_the_suffix(sigmoid_model, tmp_path):
    path = tmp_path / "legacy.h5"
    sigmoid_model.save(path)

    with pytest.raises(ValueError, match=r"has suffix '\.h5'; accepted: a \.keras file"):
        LabelModel(path, LABELS)


def test_saved_model_declares_its_width_so_labels_may_be_omitted(sigmoid_model, tmp_path):
    sigmoid_model.export(str(tmp_path / "exported"))

    named = LabelModel(tmp_path / "exported")
    with pytest.raises(ValueError, match="2 names were given but the model has 3 outputs"):
        LabelModel(tmp_path / "exported", ["a", "b"])

    assert named.label_names == [f"label_{i}" for i in range(len(LABELS))]


def test_directory_without_saved_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="holds no saved_model.pb"):
        LabelModel(tmp_path, LABELS)


# Masked inputs


def test_predict_masked_equals_predict_on_the_built_inputs(sigmoid_model):
    model = LabelModel(sigmoid_model, LABELS, batch_size=BATCH)
    row, fill = ROWS[0], np.zeros(N_INPUTS, dtype=np.float32)
    masks = RNG.integers(0, 2, size=(2 * BATCH - 1, N_INPUTS)).astype(np.float32)

    scores = model.predict_masked(masks, blend, (tf.constant(row), tf.constant(fill)))

    np.testing.assert_allclose(scores, model.predict(blend(masks, row, fill)), atol=1e-6)


def test_predict_masked_is_traced_once_for_every_mask_count(sigmoid_model):
    model = LabelModel(sigmoid_model, LABELS, batch_size=BATCH)
    context = (tf.constant(ROWS[0]), tf.constant(ROWS[1]))

    for n_masks in ROW_COUNTS:
        model.predict_masked(np.ones((n_masks, N_INPUTS)), blend, context)

    assert model._compiled[blend].experimental_get_tracing_count() == 1


def blend_against_fills(masks, row, fills):
    """Each mask once per fill row (mask-major): ``(m * len(fills), n)``."""
    if isinstance(masks, np.ndarray):
        return (masks[:, None, :] * row + (1.0 - masks[:, None, :]) * fills).reshape(-1, N_INPUTS)
    built = masks[:, None, :] * row + (1.0 - masks[:, None, :]) * fills[None, :, :]
    return tf.reshape(built, [-1, N_INPUTS])


@pytest.mark.parametrize("n_masks", [1, 5, 2 * BATCH + 1])
def test_predict_masked_with_several_built_rows_per_mask_equals_predict(sigmoid_model, n_masks):
    # 3 rows per mask against batches of 4 rows: one mask per call, or several masks.
    fills = RNG.normal(size=(3, N_INPUTS)).astype(np.float32)
    row = ROWS[0]
    masks = RNG.integers(0, 2, size=(n_masks, N_INPUTS)).astype(np.float32)
    expected_rows = blend_against_fills(masks, row, fills)

    for batch_size in (BATCH, 64):
        model = LabelModel(sigmoid_model, LABELS, batch_size=batch_size)
        context = (tf.constant(row), tf.constant(fills))
        scores = model.predict_masked(masks, blend_against_fills, context, built_rows=3)

        assert scores.shape == (3 * n_masks, len(LABELS))
        np.testing.assert_allclose(scores, direct_scores(sigmoid_model, expected_rows), atol=1e-6)

    weights = RNG.random((N_INPUTS, len(LABELS)))
    host = LabelModel(
        lambda batch: 1.0 / (1.0 + np.exp(-batch @ weights)), LABELS, batch_size=BATCH
    )
    scores = host.predict_masked(masks, blend_against_fills, (row, fills), built_rows=3)
    np.testing.assert_allclose(scores, 1.0 / (1.0 + np.exp(-expected_rows @ weights)), atol=1e-6)


def test_predict_masked_on_a_plain_callable_equals_predict_on_the_built_inputs():
    weights = RNG.random((N_INPUTS, len(LABELS)))
    model = LabelModel(lambda batch: 1.0 / (1.0 + np.exp(-batch @ weights)), LABELS)
    row, fill = ROWS[0], ROWS[1]
    masks = RNG.integers(0, 2, size=(5, N_INPUTS)).astype(np.float32)

    scores = model.predict_masked(masks, blend, (row, fill))

    np.testing.assert_allclose(scores, model.predict(blend(masks, row, fill)), atol=1e-12)
