"""Tests for LabelModel's memory limits: halving the batch on out-of-memory, the byte cap."""

from __future__ import annotations

import logging
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from labelshap import LabelModel

N_INPUTS = 6
LABELS = ["cat", "dog", "bird"]
RNG = np.random.default_rng(0)
ROWS = RNG.normal(size=(200, N_INPUTS)).astype(np.float32)
MASKS = RNG.integers(0, 2, size=(150, N_INPUTS)).astype(np.float32)


class RowLimit(keras.layers.Layer):
    """Passes its input through; records each call's rows and, above ``limit`` rows,
    fails the way a device out of memory does (``ResourceExhaustedError``).

    ``limit`` and ``calls`` are read and written in Python at run time, inside the
    compiled function, so one model serves constrained and unconstrained runs.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.limit: int | None = None
        self.calls: list[int] = []

    def call(self, inputs):
        def check(n_rows):
            self.calls.append(int(n_rows))
            if self.limit is not None and n_rows > self.limit:
                # TensorFlow turns a MemoryError in a numpy_function into the
                # ResourceExhaustedError a device allocation failure raises.
                raise MemoryError(f"{n_rows} rows do not fit")
            return n_rows

        checked = tf.numpy_function(check, [tf.shape(inputs)[0]], tf.int32, stateful=True)
        with tf.control_dependencies([checked]):
            return tf.identity(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape


def limited_model() -> tuple[keras.Model, RowLimit]:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((N_INPUTS,))
    limit = RowLimit()
    hidden = keras.layers.Dense(8, activation="tanh")(limit(inputs))
    outputs = keras.layers.Dense(len(LABELS), activation="sigmoid")(hidden)
    return keras.Model(inputs, outputs), limit


def blend(masks, row, fill):
    """Kept features come from ``row``, hidden ones from ``fill`` (numpy or TensorFlow)."""
    return masks * row + (1.0 - masks) * fill


def widen(masks, row, fill):
    """A masked row, repeated 100 times: the built input is 100x wider than the masks."""
    return tf.tile(blend(masks, row, fill), [1, 100])


@pytest.fixture
def model_and_limit():
    return limited_model()


def test_predict_after_out_of_memory_equals_an_unconstrained_run_bit_for_bit(
    model_and_limit, caplog
):
    keras_model, limit = model_and_limit
    unconstrained = LabelModel(keras_model, LABELS, batch_size=64).predict(ROWS)
    limit.limit = 5
    model = LabelModel(keras_model, LABELS, batch_size=64)

    with caplog.at_level(logging.WARNING, logger="labelshap.model"):
        scores = model.predict(ROWS)

    np.testing.assert_array_equal(scores, unconstrained)
    assert model.batch_size <= 5
    halvings = [r.getMessage() for r in caplog.records if "ran out of memory" in r.message]
    sizes = [int(re.search(r"batch_size is now (\d+)", message)[1]) for message in halvings]
    assert sizes == [32, 16, 8, 4]


def test_smaller_batch_size_is_kept_for_later_calls(model_and_limit):
    keras_model, limit = model_and_limit
    limit.limit = 5
    model = LabelModel(keras_model, LABELS, batch_size=64)
    model.predict(ROWS[:40])
    limit.calls.clear()

    model.predict(ROWS)

    assert max(limit.calls) <= 5
    assert model._compiled[None].experimental_get_tracing_count() <= 2


def test_predict_masked_after_out_of_memory_equals_an_unconstrained_run_bit_for_bit(
    model_and_limit,
):
    keras_model, limit = model_and_limit
    context = (tf.constant(ROWS[0]), tf.constant(ROWS[1]))
    unconstrained = LabelModel(keras_model, LABELS, batch_size=64).predict_masked(
        MASKS, blend, context
    )
    limit.limit = 12
    model = LabelModel(keras_model, LABELS, batch_size=64)

    scores = model.predict_masked(MASKS, blend, context)
    later = model.predict_masked(MASKS[:37], blend, context)

    np.testing.assert_array_equal(scores, unconstrained)
    np.testing.assert_array_equal(later, unconstrained[:37])
    assert model.batch_size <= 12
    assert model._compiled[blend].experimental_get_tracing_count() <= 2


def test_partial_batches_after_halving_pad_to_powers_of_two_within_the_new_size(
    model_and_limit,
):
    keras_model, limit = model_and_limit
    limit.limit = 40
    model = LabelModel(keras_model, LABELS, batch_size=256)
    model.predict(ROWS[:100])  # 128 padded rows fail, then 64 fit
    limit.calls.clear()

    model.predict(ROWS[:70])
    model.predict(ROWS[:3])

    assert model.batch_size == 32
    assert limit.calls == [32, 32, 16, 16]


def test_one_row_that_does_not_fit_is_refused_naming_a_single_row(model_and_limit):
    keras_model, limit = model_and_limit
    limit.limit = 0
    model = LabelModel(keras_model, LABELS, batch_size=8)

    with pytest.raises(MemoryError, match="ran out of memory on a single row"):
        model.predict(ROWS[:3])


def test_plain_callable_out_of_memory_halves_the_batch_and_keeps_every_row():
    weights = RNG.normal(size=(N_INPUTS, len(LABELS)))
    calls = []

    def score(batch):
        calls.append(len(batch))
        if len(batch) > 10:
            raise MemoryError("host out of memory")
        return 1.0 / (1.0 + np.exp(-(batch.astype(np.float64) * weights[:, 0]).sum(axis=1)))[
            :, None
        ].repeat(len(LABELS), axis=1)

    model = LabelModel(score, LABELS, batch_size=64)
    scores = model.predict(ROWS)

    assert model.batch_size == 8
    assert sum(rows for rows in calls if rows <= 10) == len(ROWS)
    np.testing.assert_array_equal(scores, LabelModel(score, LABELS, batch_size=8).predict(ROWS))


# Rows per call capped by bytes


def test_rows_per_call_are_capped_by_the_input_bytes(model_and_limit):
    keras_model, limit = model_and_limit
    row_bytes = N_INPUTS * 4
    model = LabelModel(keras_model, LABELS, batch_size=256, max_batch_bytes=10 * row_bytes)

    scores = model.predict(ROWS[:45])

    assert limit.calls == [10, 10, 10, 10, 10]
    assert model.batch_size == 256
    expected = LabelModel(keras_model, LABELS, max_batch_bytes=None).predict(ROWS[:45])
    np.testing.assert_allclose(scores, expected, atol=1e-6)


def test_masked_rows_per_call_are_capped_by_the_built_inputs_bytes():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((N_INPUTS * 100,))
    limit = RowLimit()
    outputs = keras.layers.Dense(len(LABELS), activation="sigmoid")(limit(inputs))
    keras_model = keras.Model(inputs, outputs)
    built_row_bytes = N_INPUTS * 100 * 4  # the masks alone are 100x smaller
    model = LabelModel(keras_model, LABELS, max_batch_bytes=7 * built_row_bytes)
    context = (tf.constant(ROWS[0]), tf.constant(ROWS[1]))

    scores = model.predict_masked(MASKS[:30], widen, context)

    assert limit.calls == [7, 7, 7, 7, 7]
    expected = model.predict(widen(MASKS[:30], ROWS[0], ROWS[1]).numpy())
    np.testing.assert_allclose(scores, expected, atol=1e-6)


def test_plain_callable_masked_inputs_are_built_one_capped_batch_at_a_time():
    built_rows = []

    def score(batch):
        built_rows.append(len(batch))
        return np.full((len(batch), len(LABELS)), 0.5)

    row_bytes = N_INPUTS * 100 * 4
    model = LabelModel(score, LABELS, max_batch_bytes=16 * row_bytes)

    model.predict_masked(MASKS[:40], widen, (ROWS[0], ROWS[1]))

    assert built_rows == [16, 16, 8]


def test_a_row_larger_than_the_budget_is_still_sent_alone(model_and_limit):
    keras_model, limit = model_and_limit
    model = LabelModel(keras_model, LABELS, max_batch_bytes=1)

    model.predict(ROWS[:3])

    assert limit.calls == [1, 1, 1]


@pytest.mark.parametrize("value", [0, -5, 1.5, True, "512MB"])
def test_bad_max_batch_bytes_is_refused_naming_the_value(model_and_limit, value):
    with pytest.raises(ValueError, match=rf"max_batch_bytes={value!r}"):
        LabelModel(model_and_limit[0], LABELS, max_batch_bytes=value)
