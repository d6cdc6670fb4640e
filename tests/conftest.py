"""Shared test set-up: quiet TensorFlow, a private cache, and tiny seeded image models."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """Keep models trained by tests out of the user's cache."""
    path = tmp_path_factory.mktemp("labelshap-cache")
    previous = os.environ.get("LABELSHAP_CACHE")
    os.environ["LABELSHAP_CACHE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("LABELSHAP_CACHE", None)
    else:
        os.environ["LABELSHAP_CACHE"] = previous


def make_image_model(size: int = 16, channels: int = 1, n_labels: int = 4, seed: int = 0):
    """A small untrained CNN with sigmoid outputs; its weights depend only on ``seed``."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, channels), name="image")
    features = keras.layers.Conv2D(6, 3, activation="tanh", padding="same")(inputs)
    features = keras.layers.MaxPooling2D()(features)
    features = keras.layers.Conv2D(6, 3, activation="tanh", padding="same")(features)
    features = keras.layers.Flatten()(features)
    outputs = keras.layers.Dense(n_labels, activation="sigmoid")(features)
    return keras.Model(inputs, outputs)


def make_images(n: int, size: int = 16, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Smooth random images in [0, 1] (blobs, so SLIC finds real regions)."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(0.0, 1.0, size)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    images = np.zeros((n, size, size, channels), dtype=np.float32)
    for i in range(n):
        for _ in range(4):
            cy, cx = rng.uniform(0, 1, 2)
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.02)
            images[i] += blob[..., None] * rng.uniform(0.3, 1.0, channels)
    return np.clip(images, 0.0, 1.0)


@pytest.fixture(scope="session")
def images_factory():
    """``make_images`` as a fixture, for tests that need their own images."""
    return make_images


@pytest.fixture(scope="session")
def image_model_factory():
    """``make_image_model`` as a fixture, for tests that need their own model."""
    return make_image_model


@pytest.fixture(scope="session")
def image_model():
    return make_image_model()


@pytest.fixture(scope="session")
def image_label_model(image_model):
    from labelshap import LabelModel

    return LabelModel(image_model, ["a", "b", "c", "d"], batch_size=64)
