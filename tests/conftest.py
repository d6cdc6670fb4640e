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


# Text: tokenizers trained offline on a few sentences, and tiny models over their ids.

TEXT_CORPUS = (
    "A Perl module for parsing configuration files, written in pure Perl.",
    "Python bindings for the GTK toolkit; write graphical applications in Python.",
    "Qt widgets for plotting data. A fast strategy game with networked gameplay.",
    "Café naïve résumé, 日本語のテキスト, emoji 😀 🎉 for chat clients.",
)


def make_text_model(vocab_size: int, length: int = 16, n_labels: int = 4, seed: int = 0):
    """A small untrained Conv1D model over token ids; its weights depend only on ``seed``.

    Embeddings and output weights are drawn wide, so hiding one token moves the scores.
    """
    import keras

    keras.utils.set_random_seed(seed)
    wide = keras.initializers.RandomNormal(stddev=1.0)
    token_ids = keras.Input((length,), dtype="int32", name="token_ids")
    embedded = keras.layers.Embedding(vocab_size, 8, embeddings_initializer=wide)(token_ids)
    features = keras.layers.Conv1D(8, 3, padding="same", activation="tanh")(embedded)
    features = keras.layers.GlobalMaxPooling1D()(features)
    scores = keras.layers.Dense(n_labels, activation="sigmoid", kernel_initializer=wide)(features)
    return keras.Model(token_ids, scores)


def keyword_scores(texts) -> np.ndarray:
    """A plain model over raw strings: 4 label scores from word and character counts."""
    rows = []
    for text in texts:
        words = str(text).lower().split()
        rows.append(
            [
                sum(word.strip(".,;!") in ("perl", "python") for word in words),
                sum(word.strip(".,;!") in ("game", "gtk", "qt") for word in words),
                len(words) / 4.0,
                sum(not character.isascii() for character in str(text)) / 2.0,
            ]
        )
    return 1.0 / (1.0 + np.exp(1.0 - np.asarray(rows, dtype=np.float64)))


@pytest.fixture(scope="session")
def text_tokenizers():
    """``{"wordpiece": ..., "byte_bpe": ...}`` fast tokenizers trained on TEXT_CORPUS."""
    from labelshap.modalities.text.tokenizer import train_byte_level_bpe, train_wordpiece

    corpus = list(TEXT_CORPUS) * 3
    return {
        "wordpiece": train_wordpiece(corpus, vocab_size=300),
        "byte_bpe": train_byte_level_bpe(corpus, vocab_size=600),
    }


@pytest.fixture(scope="session")
def text_model_factory():
    """``make_text_model`` as a fixture."""
    return make_text_model


@pytest.fixture(scope="session")
def text_label_models(text_tokenizers):
    """Per tokenizer name, a ``LabelModel`` over its ids (length 16, labels a-d)."""
    from labelshap import LabelModel

    return {
        name: LabelModel(make_text_model(len(tokenizer), seed=1), ["a", "b", "c", "d"])
        for name, tokenizer in text_tokenizers.items()
    }


@pytest.fixture(scope="session")
def keyword_label_model():
    """A ``LabelModel`` around :func:`keyword_scores`, a plain callable over strings."""
    from labelshap import LabelModel

    return LabelModel(keyword_scores, ["language", "topic", "length", "non-ascii"])
