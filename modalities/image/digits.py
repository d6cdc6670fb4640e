"""Multi-label digit canvases built from scikit-learn's digits, and a small CNN that reads them."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labelshap.paths import cache_dir

if TYPE_CHECKING:
    import keras

__all__ = [
    "DigitCanvases",
    "TrainedDigitModel",
    "build_digit_cnn",
    "make_digit_canvases",
    "train_digit_model",
]

logger = logging.getLogger(__name__)

LABEL_NAMES: tuple[str, ...] = tuple(str(digit) for digit in range(10))
_SPLITS = ("train", "test")
# The pool split never depends on the caller's seed: test canvases must never reuse a
# digit image that some training run may have seen.
_POOL_SEED = 0
_TEST_FRACTION = 0.25
_PLACEMENT_ATTEMPTS = 50
# Bump whenever canvas generation, the architecture or the training recipe changes, so
# that stale cached models are not reloaded.
_FORMAT_VERSION = 1
_BATCH_SIZE = 64
_LEARNING_RATE = 2e-3


@dataclass(frozen=True)
class DigitCanvases:
    """Black canvases holding one or more different scikit-learn digits.

    Attributes:
        images: ``(n, size, size, 1)`` float32 pixels in [0, 1].
        labels: ``(n, 10)`` float32 multi-hot vector of the digits present.
        boxes: ``(n, max_digits, 5)`` int32 rows ``[digit, y0, x0, y1, x1]`` with exclusive
            ends, sorted by digit, padded with rows of -1.
        sources: ``(n, max_digits)`` int32 index into ``sklearn.datasets.load_digits()`` of
            the digit image drawn in the matching box, padded with -1.
        label_names: ``("0", ..., "9")``.
    """

    images: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray
    sources: np.ndarray
    label_names: tuple[str, ...] = LABEL_NAMES

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def boxes_for(self, i: int) -> dict[int, tuple[int, int, int, int]]:
        """Return the ground-truth boxes of canvas ``i``.

        Args:
            i: Canvas index, ``0 <= i < len(self)``.

        Returns:
            A mapping from each digit on the canvas to its box ``(y0, x0, y1, x1)``.

        Raises:
            IndexError: If ``i`` is out of range.
        """
        if not -len(self) <= i < len(self):
            raise IndexError(f"i={i!r} is out of range for {len(self)} canvases")
        return {
            int(row[0]): (int(row[1]), int(row[2]), int(row[3]), int(row[4]))
            for row in self.boxes[i]
            if row[0] >= 0
        }


def make_digit_canvases(
    n: int,
    *,
    split: str = "train",
    seed: int = 0,
    size: int = 64,
    digit_size: int = 20,
    max_digits: int = 3,
) -> DigitCanvases:
    """Draw ``n`` canvases, each with 1 to ``max_digits`` different digits.

    The 1,797 digit images of ``sklearn.datasets.load_digits()`` are split once, with a
    fixed seed and stratified by class, into a train pool (75%) and a test pool (25%);
    ``split`` picks the pool, so test canvases never reuse a training image. Each digit is
    upscaled to ``digit_size x digit_size`` with bilinear resampling and placed at a random
    position; boxes never overlap and keep at least one pixel of black between them.

    Args:
        n: Number of canvases, at least 1.
        split: ``"train"`` or ``"test"``.
        seed: Non-negative seed; the same seed and split give the same canvases.
        size: Side of the square canvas in pixels.
        digit_size: Side of each upscaled digit in pixels, at least 8 and at most ``size``.
        max_digits: Most digits per canvas, 1 to 10; they must fit side by side.

    Returns:
        The canvases, their multi-hot labels and their ground-truth boxes.

    Raises:
        ValueError: If an argument is out of range.
        TypeError: If ``n``, ``seed``, ``size``, ``digit_size`` or ``max_digits`` is not an
            integer.

    Example:
        >>> canvases = make_digit_canvases(2, seed=1)
        >>> canvases.images.shape, canvases.labels.shape, canvases.boxes.shape
        ((2, 64, 64, 1), (2, 10), (2, 3, 5))
    """
    n = _check_int("n", n, minimum=1)
    seed = _check_int("seed", seed, minimum=0)
    size = _check_int("size", size, minimum=8)
    digit_size = _check_int("digit_size", digit_size, minimum=8)
    max_digits = _check_int("max_digits", max_digits, minimum=1)
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS!r}, got {split!r}")
    if digit_size > size:
        raise ValueError(f"digit_size must be at most size={size!r}, got {digit_size!r}")
    if max_digits > len(LABEL_NAMES):
        raise ValueError(f"max_digits must be between 1 and 10, got {max_digits!r}")
    per_row = (size + 1) // (digit_size + 1)
    if per_row * per_row < max_digits:
        raise ValueError(
            f"max_digits={max_digits!r} boxes of digit_size={digit_size!r} do not fit on a "
            f"canvas of size={size!r} with a 1-pixel gap; at most {per_row * per_row} fit"
        )

    # One generator per (seed, split), so train and test canvases of one seed differ.
    rng = np.random.default_rng([seed, _SPLITS.index(split)])
    digits, targets = _upscaled_digits(digit_size)
    in_pool = np.isin(np.arange(len(targets)), _pool_indices(split))
    pools = [np.flatnonzero(in_pool & (targets == digit)) for digit in range(len(LABEL_NAMES))]

    images = np.zeros((n, size, size, 1), dtype=np.float32)
    labels = np.zeros((n, len(LABEL_NAMES)), dtype=np.float32)
    boxes = np.full((n, max_digits, 5), -1, dtype=np.int32)
    sources = np.full((n, max_digits), -1, dtype=np.int32)
    for canvas in range(n):
        count = int(rng.integers(1, max_digits + 1))
        classes = np.sort(rng.choice(len(LABEL_NAMES), size=count, replace=False))
        corners = _place_boxes(rng, count, size, digit_size)
        for slot, (digit, (y0, x0)) in enumerate(zip(classes, corners, strict=True)):
            source = int(rng.choice(pools[digit]))
            y1, x1 = y0 + digit_size, x0 + digit_size
            images[canvas, y0:y1, x0:x1, 0] = digits[source]
            labels[canvas, digit] = 1.0
            boxes[canvas, slot] = (digit, y0, x0, y1, x1)
            sources[canvas, slot] = source
    return DigitCanvases(images=images, labels=labels, boxes=boxes, sources=sources)


def build_digit_cnn(
    input_shape: tuple[int, int, int] = (64, 64, 1), n_labels: int = 10
) -> keras.Model:
    """Build an untrained CNN with one sigmoid output per label.

    Four 3x3 convolution blocks (16, 32, 64, 64 filters; the first three max-pooled), a
    global max pool, so that a digit is detected wherever it sits, and a dense head.

    Args:
        input_shape: ``(height, width, channels)``, each at least 1; height and width at
            least 8 so that three poolings leave a feature map.
        n_labels: Number of outputs, at least 1.

    Returns:
        An uncompiled functional model with input ``"canvas"`` and output ``"labels"``.

    Raises:
        ValueError: If ``input_shape`` or ``n_labels`` is out of range.
        TypeError: If a dimension or ``n_labels`` is not an integer.
    """
    import keras

    if len(tuple(input_shape)) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    height, width, channels = (
        _check_int("input_shape", value, minimum=1) for value in tuple(input_shape)
    )
    if min(height, width) < 8:
        raise ValueError(f"input_shape must be at least 8x8 pixels, got {input_shape!r}")
    n_labels = _check_int("n_labels", n_labels, minimum=1)

    inputs = keras.Input(shape=(height, width, channels), name="canvas")
    features = inputs
    for block, filters in enumerate((16, 32, 64, 64)):
        features = keras.layers.Conv2D(
            filters, 3, padding="same", activation="relu", name=f"conv{block + 1}"
        )(features)
        if block < 3:
            features = keras.layers.MaxPooling2D(name=f"pool{block + 1}")(features)
    features = keras.layers.GlobalMaxPooling2D(name="global_pool")(features)
    features = keras.layers.Dense(64, activation="relu", name="dense")(features)
    outputs = keras.layers.Dense(n_labels, activation="sigmoid", name="labels")(features)
    return keras.Model(inputs, outputs, name="digit_cnn")


@dataclass(frozen=True)
class TrainedDigitModel:
    """A digit CNN trained on canvases, with its held-out scores.

    Attributes:
        model: The trained Keras model (uncompiled when reloaded from the cache).
        label_names: ``("0", ..., "9")``.
        metrics: ``mean_average_precision``, ``average_precision`` (label to AP on the
            held-out canvases), ``n_train``, ``n_test``, ``epochs`` and ``train_seconds``
            (of the run that produced the model, also when it was reloaded).
        path: The cached ``.keras`` file, or None when caching was off.
    """

    model: keras.Model
    label_names: tuple[str, ...]
    metrics: dict[str, Any]
    path: Path | None


def train_digit_model(
    *,
    seed: int = 0,
    n_train: int = 6000,
    n_test: int = 500,
    epochs: int = 10,
    cache: bool = True,
    progress: bool = True,
) -> TrainedDigitModel:
    """Train :func:`build_digit_cnn` on 64x64 canvases, or reload it from the cache.

    Training canvases come from the train pool and scores from ``n_test`` canvases of the
    test pool (see :func:`make_digit_canvases`). The model and a JSON of its metrics are
    cached under ``labelshap.paths.cache_dir("models")`` in files named by a hash of the
    configuration; a later call with the same configuration reloads them.

    Args:
        seed: Non-negative seed of the canvases and of Keras.
        n_train: Number of training canvases, at least 1.
        n_test: Number of held-out canvases scored, at least 1.
        epochs: Training epochs, at least 1.
        cache: Whether to reload from and write to the cache.
        progress: Whether to log each epoch's loss at INFO level.

    Returns:
        The model, its label names, its held-out metrics and its cache path.

    Raises:
        ValueError: If an argument is out of range.
        TypeError: If ``seed``, ``n_train``, ``n_test`` or ``epochs`` is not an integer.

    Notes:
        A label absent from every held-out canvas has no average precision; it is
        reported as NaN and left out of the mean.
    """
    import keras

    config = {
        "format_version": _FORMAT_VERSION,
        "seed": _check_int("seed", seed, minimum=0),
        "n_train": _check_int("n_train", n_train, minimum=1),
        "n_test": _check_int("n_test", n_test, minimum=1),
        "epochs": _check_int("epochs", epochs, minimum=1),
        "size": 64,
        "digit_size": 20,
        "max_digits": 3,
        "batch_size": _BATCH_SIZE,
        "learning_rate": _LEARNING_RATE,
    }
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    stem = f"digit_cnn-{digest}"

    # Reload when a previous run left both files.
    model_path = metrics_path = None
    if cache:
        folder = cache_dir("models")
        model_path, metrics_path = folder / f"{stem}.keras", folder / f"{stem}.json"
        if model_path.is_file() and metrics_path.is_file():
            logger.info("loading cached digit model %s", model_path)
            model = keras.saving.load_model(model_path, safe_mode=True, compile=False)
            metrics = json.loads(metrics_path.read_text())
            return TrainedDigitModel(model, LABEL_NAMES, metrics, model_path)

    canvas_args = {key: config[key] for key in ("size", "digit_size", "max_digits")}
    train = make_digit_canvases(n_train, split="train", seed=seed, **canvas_args)
    test = make_digit_canvases(n_test, split="test", seed=seed, **canvas_args)

    keras.utils.set_random_seed(seed)
    model = build_digit_cnn(train.images.shape[1:], len(LABEL_NAMES))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=_LEARNING_RATE),
        loss="binary_crossentropy",
    )
    logger.info("training digit model on %d canvases for %d epochs", n_train, epochs)
    start = time.perf_counter()
    model.fit(
        train.images,
        train.labels,
        batch_size=_BATCH_SIZE,
        epochs=epochs,
        shuffle=True,
        verbose=0,
        callbacks=[_epoch_logger(epochs)] if progress else [],
    )
    train_seconds = time.perf_counter() - start

    scores = model.predict(test.images, batch_size=256, verbose=0)
    per_label = _average_precision(test.labels, scores)
    finite = [value for value in per_label.values() if np.isfinite(value)]
    metrics = {
        "mean_average_precision": float(np.mean(finite)) if finite else float("nan"),
        "average_precision": per_label,
        "n_train": n_train,
        "n_test": n_test,
        "epochs": epochs,
        "train_seconds": round(train_seconds, 2),
    }
    logger.info(
        "digit model: held-out mean average precision %.4f after %.1f s",
        metrics["mean_average_precision"],
        train_seconds,
    )

    if cache:
        _save_atomically(model, metrics, model_path, metrics_path)
    return TrainedDigitModel(model, LABEL_NAMES, metrics, model_path)


def _epoch_logger(epochs: int) -> keras.callbacks.Callback:
    """A Keras callback that logs each epoch's loss at INFO level."""
    import keras

    def log_epoch(epoch: int, logs: dict[str, float] | None) -> None:
        loss = (logs or {}).get("loss", float("nan"))
        logger.info("epoch %d/%d: loss %.4f", epoch + 1, epochs, loss)

    return keras.callbacks.LambdaCallback(on_epoch_end=log_epoch)


def _average_precision(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Average precision per label; NaN for a label with no positive canvas."""
    from sklearn.metrics import average_precision_score

    result = {}
    for column, name in enumerate(LABEL_NAMES):
        if labels[:, column].any():
            result[name] = float(average_precision_score(labels[:, column], scores[:, column]))
        else:
            result[name] = float("nan")
    return result


def _save_atomically(
    model: keras.Model, metrics: dict[str, Any], model_path: Path, metrics_path: Path
) -> None:
    """Write the model, then its metrics, each through a temporary file and a rename."""
    partial = model_path.with_name(f"{model_path.stem}.partial-{os.getpid()}.keras")
    model.save(partial)
    os.replace(partial, model_path)
    partial = metrics_path.with_name(f"{metrics_path.stem}.partial-{os.getpid()}.json")
    partial.write_text(json.dumps(metrics, indent=2))
    os.replace(partial, metrics_path)
    logger.info("cached digit model at %s", model_path)


@functools.cache
def _pool_indices(split: str) -> np.ndarray:
    """Indices into ``load_digits()`` of the train or test pool, split once."""
    from sklearn.model_selection import train_test_split

    targets = _digit_images()[1]
    train, test = train_test_split(
        np.arange(len(targets)),
        test_size=_TEST_FRACTION,
        stratify=targets,
        random_state=_POOL_SEED,
    )
    return np.sort(train if split == "train" else test)


@functools.cache
def _upscaled_digits(digit_size: int) -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits in [0, 1], resized to ``digit_size`` square, and their classes."""
    from PIL import Image

    images, targets = _digit_images()
    resized = np.stack(
        [
            np.asarray(
                Image.fromarray(image).resize((digit_size, digit_size), Image.Resampling.BILINEAR)
            )
            for image in images
        ]
    )
    return np.clip(resized, 0.0, 1.0).astype(np.float32), targets


@functools.cache
def _digit_images() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 scikit-learn 8x8 digits scaled from 16 grey levels to [0, 1], and classes."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images.astype(np.float32) / 16.0, bunch.target.copy()


def _place_boxes(
    rng: np.random.Generator, count: int, size: int, digit_size: int
) -> list[tuple[int, int]]:
    """Top-left corners of ``count`` boxes that keep a 1-pixel gap between each other.

    Positions are drawn uniformly and redrawn on a clash; a crowded canvas where that keeps
    failing (50 restarts of 50 draws each) falls back to distinct random cells of a packed
    grid, which always fits.
    """
    for _ in range(_PLACEMENT_ATTEMPTS):
        corners: list[tuple[int, int]] = []
        for _ in range(count):
            for _ in range(_PLACEMENT_ATTEMPTS):
                y0, x0 = (int(value) for value in rng.integers(0, size - digit_size + 1, 2))
                if all(_apart(y0, x0, y, x, digit_size) for y, x in corners):
                    corners.append((y0, x0))
                    break
            else:
                break
        if len(corners) == count:
            return corners

    per_row = (size + 1) // (digit_size + 1)
    cells = rng.choice(per_row * per_row, size=count, replace=False)
    step = digit_size + 1
    return [(int(cell // per_row) * step, int(cell % per_row) * step) for cell in cells]


def _apart(y0: int, x0: int, y1: int, x1: int, digit_size: int) -> bool:
    """Whether two boxes with these corners leave at least one pixel between them."""
    return abs(y0 - y1) > digit_size or abs(x0 - x1) > digit_size


def _check_int(name: str, value: Any, *, minimum: int) -> int:
    """Return ``value`` as an int, or raise naming ``name`` when it is not one >= minimum."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
