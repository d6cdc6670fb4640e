"""Tiny seeded tables and untrained Keras models for the tabular tests, and a plain Shapley."""

from __future__ import annotations

import numpy as np
import pytest
from shapley_reference import reference_shapley

N_COLUMNS = 6
LABELS = ["a", "b", "c"]


def make_mlp(n_columns: int = N_COLUMNS, n_labels: int = 3, seed: int = 0):
    """A one-input MLP with sigmoid outputs; its weights depend only on ``seed``."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((n_columns,), name="features")
    hidden = keras.layers.Dense(8, activation="tanh", name="hidden")(inputs)
    outputs = keras.layers.Dense(n_labels, activation="sigmoid", name="labels")(hidden)
    return keras.Model(inputs, outputs)


def make_two_input_mlp(widths: dict[str, int], n_labels: int = 3, seed: int = 0):
    """The same MLP fed by named inputs, concatenated in the order of ``widths``."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = {name: keras.Input((width,), name=name) for name, width in widths.items()}
    joined = keras.layers.Concatenate(name="features")(list(inputs.values()))
    hidden = keras.layers.Dense(8, activation="tanh", name="hidden")(joined)
    outputs = keras.layers.Dense(n_labels, activation="sigmoid", name="labels")(hidden)
    return keras.Model(inputs, outputs)


def interventional_value(model, row, background, feature_columns, weights=None):
    """The interventional value function, written plainly with numpy and ``model.predict``.

    ``value(mask)`` is the (weighted) mean over background rows of the model on the
    background row with the kept features' columns taken from ``row``.
    """
    background = np.asarray(background, dtype=np.float64)
    weights = np.full(len(background), 1 / len(background)) if weights is None else weights

    def value_of(mask: np.ndarray) -> np.ndarray:
        masked = background.copy()
        for feature, kept in enumerate(mask):
            if kept:
                masked[:, feature_columns[feature]] = row[feature_columns[feature]]
        return weights @ model(masked)

    return value_of


@pytest.fixture(scope="session")
def table():
    """Background (12 rows) and rows to explain (3), 6 correlated-free numeric columns."""
    rng = np.random.default_rng(0)
    background = rng.normal(size=(12, N_COLUMNS))
    rows = rng.normal(size=(3, N_COLUMNS)) * 1.5
    return background, rows


@pytest.fixture(scope="session")
def mlp_model():
    from labelshap import LabelModel

    return LabelModel(make_mlp(), LABELS, batch_size=512)


@pytest.fixture(scope="session")
def two_input_factory():
    return make_two_input_mlp


@pytest.fixture(scope="session")
def mlp_factory():
    return make_mlp


@pytest.fixture(scope="session")
def shapley():
    """``reference_shapley`` as a fixture."""
    return reference_shapley


@pytest.fixture(scope="session")
def value_function():
    """``interventional_value`` as a fixture."""
    return interventional_value
