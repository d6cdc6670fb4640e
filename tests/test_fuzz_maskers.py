"""Random inputs for the three maskers: a clear error, or a masked input that builds right.

For each random input ``prepare`` (then ``bind``) either raises ``ValueError`` or
``TypeError`` with a message that names the input, or returns a masked input whose
all-kept mask rebuilds the input, whose all-hidden mask gives the masker's background,
and whose scores are finite.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from labelshap import LabelModel
from labelshap.modalities.image import ImageMasker
from labelshap.modalities.tabular import IndependentMasker
from labelshap.modalities.text import TextMasker

SIZE = 8
LABELS = ["a", "b", "c"]
COLUMNS = ["p", "q", "r"]
FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Where a refusal must point: the item's position, its name, or the argument.
NAMES_THE_INPUT = ("sources[0]", "inputs[0]", "inputs", "rows", "item")

DTYPES = st.sampled_from(
    [np.uint8, np.int16, np.int64, np.float16, np.float32, np.float64, np.bool_, np.complex64]
)
SPECIAL_VALUES = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1.0, -1.0, 255.0, 1e4])


def arrays(shapes) -> st.SearchStrategy[np.ndarray]:
    """Arrays of random dtypes and shapes, with NaN and infinities among their values."""

    def of(dtype, shape):
        kind = np.dtype(dtype).kind
        if kind in "fc":
            values = st.floats(-1e4, 1e4, width=16 if dtype is np.float16 else 32) | SPECIAL_VALUES
            return hnp.arrays(dtype, shape, elements=values)
        return hnp.arrays(dtype, shape)

    return st.tuples(DTYPES, shapes).flatmap(lambda pair: of(*pair))


def refused_clearly(error: Exception) -> None:
    """The message of a refusal names the input and is more than an exception's name."""
    assert isinstance(error, (ValueError, TypeError)), repr(error)
    message = str(error)
    assert len(message) > 20 and any(name in message for name in NAMES_THE_INPUT), message


# Images


@pytest.fixture(scope="module")
def image_setup():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    features = keras.layers.Conv2D(2, 3, activation="tanh")(inputs)
    outputs = keras.layers.Dense(3, activation="sigmoid")(keras.layers.Flatten()(features))
    model = LabelModel(keras.Model(inputs, outputs), LABELS)
    return model, ImageMasker("grid", cell=4, fill="mean")


IMAGE_SHAPES = st.one_of(
    st.just((SIZE, SIZE, 3)),
    hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=SIZE + 1),
)


@FUZZ
@given(image=arrays(IMAGE_SHAPES))
def test_random_arrays_as_images(image_setup, image):
    model, masker = image_setup
    try:
        prepared = masker.prepare([image], model)
        bound = masker.bind(prepared[0], model)
    except Exception as error:  # noqa: BLE001 (the property is about which errors)
        refused_clearly(error)
        event(f"refused with {type(error).__name__}")
        return
    event("accepted")

    ones, zeros = np.ones((1, bound.n_features)), np.zeros((1, bound.n_features))
    kept = np.asarray(bound.build(ones, *bound.context))[0]
    hidden = np.asarray(bound.build(zeros, *bound.context))[0]
    np.testing.assert_array_equal(kept, prepared[0])
    np.testing.assert_allclose(hidden, masker.fill_image(prepared[0]), rtol=1e-6)
    assert np.isfinite(bound.evaluate(model, np.vstack([ones, zeros]))).all()


# Texts

ODD_CHARACTERS = st.sampled_from(
    ["\x00", "\x01", "\x1b", "\x7f", "\u200b", "\ufeff", "\ud800", "\udcff", "\n", "😀", "日"]
)
TEXTS = st.text(alphabet=st.characters() | ODD_CHARACTERS, max_size=40)
TEXT_ITEMS = st.one_of(
    TEXTS,
    TEXTS,
    TEXTS,
    st.binary(max_size=20).map(lambda raw: raw.decode("latin-1").encode("utf-8")),
    st.binary(max_size=20),
    st.none(),
    st.integers(),
    st.floats(allow_nan=True),
    st.lists(TEXTS, max_size=2),
)


@pytest.fixture(scope="module")
def text_setup(text_tokenizers, text_model_factory):
    tokenizer = text_tokenizers["byte_bpe"]
    model = LabelModel(text_model_factory(len(tokenizer), length=16, n_labels=3), LABELS)
    return model, TextMasker(tokenizer, long_text="window")


@FUZZ
@given(item=TEXT_ITEMS)
def test_random_items_as_texts(text_setup, item):
    model, masker = text_setup
    try:
        prepared = masker.prepare([item], model)
        bound = masker.bind(prepared[0], model)
    except Exception as error:  # noqa: BLE001
        refused_clearly(error)
        event(f"refused with {type(error).__name__}")
        return
    event("accepted")

    ones, zeros = np.ones((1, bound.n_features)), np.zeros((1, bound.n_features))
    columns, context = bound.windows[0]
    unmasked = np.asarray(context[0])
    kept = np.asarray(bound.build(ones[:, columns], *context))[0]
    hidden = np.asarray(bound.build(zeros[:, columns], *context))[0]
    feature_at = np.asarray(context[1]) >= 0  # -1 where a position holds no feature
    np.testing.assert_array_equal(kept, unmasked)
    np.testing.assert_array_equal(hidden[~feature_at], unmasked[~feature_at])
    assert (hidden[feature_at] == masker.tokenizer.mask_token_id).all()

    scores = bound.evaluate(model, np.vstack([ones, zeros]))
    assert np.isfinite(scores).all()
    np.testing.assert_allclose(scores[:1], masker.score(prepared, model), atol=1e-5)


# Tables


@pytest.fixture(scope="module")
def table_setup():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((len(COLUMNS),))
    outputs = keras.layers.Dense(3, activation="sigmoid")(inputs)
    model = LabelModel(keras.Model(inputs, outputs), LABELS)
    background = np.random.default_rng(0).normal(size=(3, len(COLUMNS)))
    return model, IndependentMasker(background, feature_names=COLUMNS)


ROW_SHAPES = st.tuples(st.integers(1, 3), st.just(len(COLUMNS)))
TABLE_SHAPES = st.one_of(
    ROW_SHAPES,
    ROW_SHAPES,
    hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
)
TABLES = st.one_of(
    arrays(TABLE_SHAPES),
    hnp.arrays(np.float64, ROW_SHAPES, elements=st.floats(-1e300, 1e300)),
    st.lists(st.lists(st.floats(allow_nan=True) | st.text(max_size=2), max_size=4), max_size=3),
    st.none(),
    st.text(max_size=5),
)


@FUZZ
@given(table=TABLES)
def test_random_tables_as_rows(table_setup, table):
    model, masker = table_setup
    try:
        prepared = masker.prepare(table, model)
        bounds = [masker.bind(row, model) for row in prepared]
    except Exception as error:  # noqa: BLE001
        refused_clearly(error)
        event(f"refused with {type(error).__name__}")
        return
    event("accepted")

    n_background = len(masker.background)
    for row, bound in zip(prepared, bounds, strict=True):
        # One mask builds one row per background row.
        ones, zeros = np.ones((1, bound.n_features)), np.zeros((1, bound.n_features))
        kept = np.asarray(bound.build(tf.constant(ones, tf.float32), *bound.context))
        hidden = np.asarray(bound.build(tf.constant(zeros, tf.float32), *bound.context))
        # Masked rows are built in float32, as the model takes them.
        expected = np.tile(row.astype(np.float32), (n_background, 1))
        np.testing.assert_array_equal(kept, expected)
        np.testing.assert_array_equal(hidden, masker.background.astype(np.float32))
        scores = bound.evaluate(model, np.vstack([np.ones(3), np.zeros(3)]))
        assert np.isfinite(scores).all()
