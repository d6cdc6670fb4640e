"""Model builders for the throughput suite: realistic sizes, random weights, Keras layers only.

Throughput does not depend on the weights, so nothing is trained or downloaded: every
builder can be called again under another dtype policy (mixed precision) and gives the
same architecture.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

N_LABELS = 20


@dataclass(frozen=True)
class ImageConfig:
    """``resnet50``: ``keras.applications.ResNet50``; ``tiny``: two residual blocks."""

    architecture: str = "resnet50"
    size: int = 224


@dataclass(frozen=True)
class EncoderConfig:
    """A BERT-style encoder; the defaults are BERT-base."""

    n_layers: int = 12
    hidden: int = 768
    n_heads: int = 12
    length: int = 128
    vocab_size: int = 30522


@dataclass(frozen=True)
class MlpConfig:
    """A wide multi-layer perceptron recommender over one flat feature row."""

    n_features: int = 512
    widths: tuple[int, ...] = (4096, 4096, 2048)


def describe(config: Any) -> dict[str, Any]:
    """The configuration as a plain dict for ``results.json``."""
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in asdict(config).items()
    }


def build_image_model(config: ImageConfig) -> Any:
    """An image classifier with ``N_LABELS`` sigmoid outputs on ``size x size x 3`` pixels."""
    import keras

    if config.architecture == "resnet50":
        return keras.applications.ResNet50(
            weights=None,
            input_shape=(config.size, config.size, 3),
            classes=N_LABELS,
            classifier_activation="sigmoid",
        )
    if config.architecture != "tiny":
        raise ValueError(
            f"architecture={config.architecture!r} is not supported; accepted: resnet50, tiny"
        )

    pixels = keras.Input(shape=(config.size, config.size, 3), name="pixels")
    hidden = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(pixels)
    for _ in range(2):
        branch = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(hidden)
        branch = keras.layers.Conv2D(16, 3, padding="same")(branch)
        hidden = keras.layers.ReLU()(keras.layers.Add()([hidden, branch]))
        hidden = keras.layers.MaxPooling2D()(hidden)
    hidden = keras.layers.GlobalAveragePooling2D()(hidden)
    scores = keras.layers.Dense(N_LABELS, activation="sigmoid", dtype="float32")(hidden)
    return keras.Model(pixels, scores, name="tiny_resnet")


def build_encoder_model(config: EncoderConfig) -> Any:
    """A post-norm Transformer encoder over ``int32`` token ids, ``[CLS]`` pooled.

    Same input contract as the demo text model: one ``int32`` input ``"token_ids"`` of
    shape ``(None, length)``.
    """
    import keras

    token_ids = keras.Input(shape=(config.length,), dtype="int32", name="token_ids")
    tokens = keras.layers.Embedding(config.vocab_size, config.hidden)(token_ids)
    positions = keras.layers.Embedding(config.length, config.hidden)(
        keras.ops.arange(config.length)
    )
    hidden = keras.layers.LayerNormalization(epsilon=1e-12)(tokens + positions)

    for _ in range(config.n_layers):
        attended = keras.layers.MultiHeadAttention(config.n_heads, config.hidden // config.n_heads)(
            hidden, hidden
        )
        hidden = keras.layers.LayerNormalization(epsilon=1e-12)(hidden + attended)
        feed = keras.layers.Dense(4 * config.hidden, activation="gelu")(hidden)
        feed = keras.layers.Dense(config.hidden)(feed)
        hidden = keras.layers.LayerNormalization(epsilon=1e-12)(hidden + feed)

    pooled = keras.layers.Dense(config.hidden, activation="tanh")(hidden[:, 0])
    scores = keras.layers.Dense(N_LABELS, activation="sigmoid", dtype="float32")(pooled)
    return keras.Model(token_ids, scores, name="bert_encoder")


def build_mlp_model(config: MlpConfig) -> Any:
    """A wide ReLU MLP from ``n_features`` inputs to ``N_LABELS`` sigmoid outputs."""
    import keras

    features = keras.Input(shape=(config.n_features,), name="features")
    hidden = features
    for width in config.widths:
        hidden = keras.layers.Dense(width, activation="relu")(hidden)
    scores = keras.layers.Dense(N_LABELS, activation="sigmoid", dtype="float32")(hidden)
    return keras.Model(features, scores, name="wide_mlp")
