"""A Conv1D multi-label classifier over WordPiece ids, trained and cached on the Debian data."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from labelshap.modalities.text.data import (
    Document,
    choose_tags,
    load_debtags,
    split_by_description,
)
from labelshap.modalities.text.tokenizer import load_tokenizer, train_wordpiece
from labelshap.paths import cache_dir, shared_data_file

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

__all__ = [
    "PaddingMask",
    "TextModelConfig",
    "TrainedTextModel",
    "build_text_model",
    "encode_texts",
    "train_text_model",
]

logger = logging.getLogger(__name__)

_CACHE_FORMAT = 1
_THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)


@keras.saving.register_keras_serializable(package="labelshap")
class PaddingMask(keras.layers.Layer):
    """Zero the positions of ``values`` where ``token_ids`` holds the padding id.

    Called on ``[values, token_ids]`` with ``values`` of shape ``(batch, length, channels)``
    and ``token_ids`` of shape ``(batch, length)``.

    Args:
        pad_id: The padding token id.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def __init__(self, pad_id: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pad_id = int(pad_id)

    def call(self, inputs: Sequence[Any]) -> Any:
        """Return ``values`` with padded positions set to zero."""
        values, token_ids = inputs
        keep = keras.ops.cast(keras.ops.not_equal(token_ids, self.pad_id), values.dtype)
        return values * keras.ops.expand_dims(keep, -1)

    def compute_output_shape(self, input_shape: Sequence[tuple[int | None, ...]]) -> tuple:
        """Return the shape of ``values``."""
        return tuple(input_shape[0])

    def get_config(self) -> dict[str, Any]:
        """Return the layer configuration, with ``pad_id``."""
        return {**super().get_config(), "pad_id": self.pad_id}


def build_text_model(
    vocab_size: int,
    n_labels: int,
    max_length: int = 160,
    *,
    embedding_dim: int = 64,
    filters: int = 128,
    kernel_sizes: Sequence[int] = (5,),
    dense_units: int = 128,
    dropout: float = 0.3,
    pad_id: int = 0,
) -> keras.Model:
    """Build an uncompiled Conv1D classifier: ids -> per-label probabilities.

    Embedding, one ReLU ``Conv1D`` per kernel size (run side by side), a global max over
    the sequence, a ReLU dense layer and one sigmoid per label. Padding is masked: its
    embeddings and convolution outputs are zeroed, and since ReLU outputs are never below
    zero the max over the sequence is that of the real tokens.

    Args:
        vocab_size: Number of token ids.
        n_labels: Number of labels (sigmoid outputs).
        max_length: Tokens per input row.
        embedding_dim: Width of the token embedding.
        filters: Filters per convolution.
        kernel_sizes: Width of each parallel convolution.
        dense_units: Width of the hidden dense layer.
        dropout: Dropout rate before and after the dense layer.
        pad_id: The padding id, masked out.

    Returns:
        A model with one ``int32`` input ``"token_ids"`` of shape ``(None, max_length)`` and
        one output ``"label_scores"`` of shape ``(None, n_labels)``.

    Raises:
        ValueError: If a size is not positive or ``dropout`` is outside [0, 1).
    """
    for name, value in (
        ("vocab_size", vocab_size),
        ("n_labels", n_labels),
        ("max_length", max_length),
        ("embedding_dim", embedding_dim),
        ("filters", filters),
        ("dense_units", dense_units),
    ):
        _check_positive_int(name, value)
    if not kernel_sizes:
        raise ValueError(f"kernel_sizes must name at least one width, got {kernel_sizes!r}")
    for width in kernel_sizes:
        _check_positive_int("kernel_sizes entry", width)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")

    token_ids = keras.Input(shape=(max_length,), dtype="int32", name="token_ids")
    embedded = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(token_ids)
    embedded = PaddingMask(pad_id, name="mask_embedding")([embedded, token_ids])
    pooled = []
    for width in kernel_sizes:
        conv = keras.layers.Conv1D(
            filters, width, padding="same", activation="relu", name=f"conv{width}"
        )(embedded)
        conv = PaddingMask(pad_id, name=f"mask_conv{width}")([conv, token_ids])
        pooled.append(keras.layers.GlobalMaxPooling1D(name=f"max_conv{width}")(conv))
    hidden = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate()(pooled)
    hidden = keras.layers.Dropout(dropout)(hidden)
    hidden = keras.layers.Dense(dense_units, activation="relu", name="hidden")(hidden)
    hidden = keras.layers.Dropout(dropout)(hidden)
    scores = keras.layers.Dense(n_labels, activation="sigmoid", name="label_scores")(hidden)
    return keras.Model(token_ids, scores, name="text_conv1d")


@dataclass(frozen=True)
class TextModelConfig:
    """Everything that decides the trained text model; its hash names the cache folder.

    Attributes:
        n_labels: Labels to choose with :func:`~labelshap.modalities.text.data.choose_tags`.
        min_tag_count: Fewest training documents a chosen tag needs.
        vocab_size: WordPiece vocabulary size.
        max_length: Tokens per document, ``[CLS]`` and ``[SEP]`` included.
        embedding_dim: See :func:`build_text_model`.
        filters: See :func:`build_text_model`.
        kernel_sizes: See :func:`build_text_model`.
        dense_units: See :func:`build_text_model`.
        dropout: See :func:`build_text_model`.
        epochs: Most training epochs.
        patience: Epochs without a lower validation loss before stopping.
        batch_size: Training batch size.
        learning_rate: Adam's learning rate.
        mask_max_rate: Each training document, each epoch, has its non-special tokens
            replaced by ``[MASK]`` with a probability drawn uniformly from
            ``[0, mask_max_rate]``, so hidden tokens are in distribution for an explainer.
        test_fraction: Share of documents held out for the metrics.
        validation_fraction: Share of the training documents used for early stopping and
            the per-label thresholds.
    """

    n_labels: int = 20
    min_tag_count: int = 50
    vocab_size: int = 12000
    max_length: int = 160
    embedding_dim: int = 64
    filters: int = 128
    kernel_sizes: tuple[int, ...] = (5,)
    dense_units: int = 128
    dropout: float = 0.3
    epochs: int = 6
    patience: int = 2
    batch_size: int = 64
    learning_rate: float = 2e-3
    mask_max_rate: float = 0.5
    test_fraction: float = 0.2
    validation_fraction: float = 0.1

    def __post_init__(self) -> None:
        for name in ("n_labels", "min_tag_count", "vocab_size", "epochs", "patience"):
            _check_positive_int(name, getattr(self, name))
        _check_positive_int("batch_size", self.batch_size)
        if self.max_length < 3:
            raise ValueError(f"max_length must be at least 3, got {self.max_length!r}")
        if not 0.0 <= self.mask_max_rate <= 1.0:
            raise ValueError(f"mask_max_rate must lie in [0, 1], got {self.mask_max_rate!r}")
        for name in ("test_fraction", "validation_fraction"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie in (0, 1), got {getattr(self, name)!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")


@dataclass
class TrainedTextModel:
    """A trained text classifier with its tokenizer, labels and held-out metrics.

    Attributes:
        model: The Keras model (input ``"token_ids"``, output ``"label_scores"``).
        tokenizer: The WordPiece tokenizer trained on the training documents.
        label_names: The tags the outputs stand for, in output order.
        thresholds: Per-label decision thresholds chosen on the validation documents.
        metrics: Held-out metrics; see :func:`train_text_model`.
        config: The configuration it was trained with.
        path: Its cache folder, or None when not cached.
    """

    model: keras.Model
    tokenizer: PreTrainedTokenizerFast
    label_names: tuple[str, ...]
    thresholds: np.ndarray
    metrics: dict[str, Any]
    config: TextModelConfig
    path: Path | None = None
    _encoder: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def n_train(self) -> int:
        """Documents the weights were fitted on."""
        return int(self.metrics["n_train"])

    @property
    def n_test(self) -> int:
        """Held-out documents the metrics were computed on."""
        return int(self.metrics["n_test"])

    @property
    def train_seconds(self) -> float:
        """Wall-clock seconds of the whole training run, data loading to metrics."""
        return float(self.metrics["train_seconds"])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return ``(len(texts), max_length)`` ``int32`` token ids for the model."""
        if self._encoder is None:
            self._encoder = _fixed_length_encoder(self.tokenizer, self.config.max_length)
        return _encode(self._encoder, texts, self.config.max_length)


def encode_texts(
    tokenizer: PreTrainedTokenizerFast, texts: Sequence[str], max_length: int
) -> np.ndarray:
    """Tokenise, truncate and pad ``texts`` to a ``(len(texts), max_length)`` ``int32`` array.

    Args:
        tokenizer: A fast tokenizer whose padding id is 0.
        texts: The texts.
        max_length: Tokens per row, special tokens included.

    Returns:
        The token ids, padded with 0 on the right.

    Raises:
        ValueError: If the tokenizer's padding id is not 0.
    """
    return _encode(_fixed_length_encoder(tokenizer, max_length), texts, max_length)


def train_text_model(
    *,
    seed: int = 0,
    cache: bool = True,
    config: TextModelConfig | None = None,
    data_path: str | Path | None = None,
) -> TrainedTextModel:
    """Train (or load from the cache) the Debian tag classifier.

    Loads ``debtags.jsonl.gz``, splits it by description (:func:`split_by_description`),
    sets a validation part of the training documents aside the same way, chooses the
    labels on the training documents (:func:`choose_tags`), trains the WordPiece tokenizer
    on them, and fits :func:`build_text_model` with ``[MASK]`` augmentation (see
    :class:`TextModelConfig`), keeping the weights of the epoch with the lowest
    validation loss.

    The metrics (``TrainedTextModel.metrics``) are computed on the held-out test documents:
    ``micro_roc_auc``, ``macro_roc_auc`` (mean over labels with both classes present),
    ``roc_auc_per_label``; ``f1_per_label`` at per-label thresholds, each the value in
    0.05, 0.10, ..., 0.95 that maximised F1 on the validation documents (``thresholds``);
    ``f1_per_label_at_0.5``; ``micro_f1`` and ``macro_f1`` at the chosen thresholds;
    ``n_train``, ``n_validation``, ``n_test``, ``epochs_run``, ``best_epoch``, ``train_seconds``.

    Args:
        seed: Seed for the split, the weights, the shuffling and the masking.
        cache: Read the model from, and write it to,
            ``cache_dir("models", "text-<hash>")``, the hash covering ``seed``, ``config``
            and the data file's contents.
        config: Model and training settings; the defaults when None.
        data_path: The debtags file; ``shared_data_file("debtags.jsonl.gz")`` when None.

    Returns:
        The trained model with its tokenizer, labels, thresholds and metrics.

    Notes:
        The ``tokenizers`` trainer breaks count ties in hash-map order, so two runs with one
        seed can differ in a few vocabulary entries and hence slightly in their weights;
        the cache keeps each model with its own tokenizer.
    """
    config = TextModelConfig() if config is None else config
    data_path = shared_data_file("debtags.jsonl.gz") if data_path is None else Path(data_path)
    if not cache:
        return _train(config, seed, data_path)

    folder = cache_dir("models") / f"text-{_cache_key(config, seed, data_path)}"
    if (folder / "metrics.json").is_file():
        logger.info("loading the text model from %s", folder)
        return _load(folder, config)
    trained = _train(config, seed, data_path)
    trained.path = _save(trained, folder)
    return trained


def _train(config: TextModelConfig, seed: int, data_path: Path) -> TrainedTextModel:
    """Run the whole training; see :func:`train_text_model`."""
    started = time.perf_counter()
    keras.utils.set_random_seed(seed)
    documents = load_debtags(data_path)

    # Leak-free parts: test, then validation out of the training documents.
    train_rows, test_rows = split_by_description(
        documents, test_fraction=config.test_fraction, seed=seed
    )
    train_documents = [documents[row] for row in train_rows]
    fit_part, validation_part = split_by_description(
        train_documents, test_fraction=config.validation_fraction, seed=seed + 1
    )
    fit_rows, validation_rows = train_rows[fit_part], train_rows[validation_part]

    # Labels and tokenizer from the training documents only.
    label_names = tuple(
        choose_tags(train_documents, n=config.n_labels, min_count=config.min_tag_count)
    )
    tokenizer = train_wordpiece(
        [document.text for document in train_documents],
        vocab_size=config.vocab_size,
        model_max_length=config.max_length,
    )
    token_ids = encode_texts(tokenizer, [d.text for d in documents], config.max_length)
    targets = _targets(documents, label_names)
    logger.info(
        "%d labels, %d fit / %d validation / %d test documents, vocabulary %d",
        len(label_names),
        len(fit_rows),
        len(validation_rows),
        len(test_rows),
        len(tokenizer),
    )

    model = build_text_model(
        len(tokenizer),
        len(label_names),
        config.max_length,
        embedding_dim=config.embedding_dim,
        filters=config.filters,
        kernel_sizes=config.kernel_sizes,
        dense_units=config.dense_units,
        dropout=config.dropout,
        pad_id=tokenizer.pad_token_id,
    )
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="binary_crossentropy")
    protected = [i for i in tokenizer.all_special_ids if i != tokenizer.unk_token_id]
    epochs_run, best_epoch = _fit(
        model,
        token_ids[fit_rows],
        targets[fit_rows],
        (token_ids[validation_rows], targets[validation_rows]),
        config,
        rng=np.random.default_rng(seed),
        mask_id=tokenizer.mask_token_id,
        protected_ids=protected,
    )

    validation_scores = model.predict(token_ids[validation_rows], batch_size=512, verbose=0)
    thresholds = _best_thresholds(targets[validation_rows], validation_scores)
    test_scores = model.predict(token_ids[test_rows], batch_size=512, verbose=0)
    metrics = _metrics(targets[test_rows], test_scores, thresholds, label_names)
    metrics.update(
        n_train=len(fit_rows),
        n_validation=len(validation_rows),
        n_test=len(test_rows),
        epochs_run=epochs_run,
        best_epoch=best_epoch,
        seed=seed,
        train_seconds=round(time.perf_counter() - started, 1),
        config=dataclasses.asdict(config),
    )
    logger.info(
        "held-out micro ROC AUC %.4f, macro %.4f, micro F1 %.4f, %.0f s",
        metrics["micro_roc_auc"],
        metrics["macro_roc_auc"],
        metrics["micro_f1"],
        metrics["train_seconds"],
    )
    return TrainedTextModel(model, tokenizer, label_names, thresholds, metrics, config)


def _fit(
    model: keras.Model,
    token_ids: np.ndarray,
    targets: np.ndarray,
    validation: tuple[np.ndarray, np.ndarray],
    config: TextModelConfig,
    *,
    rng: np.random.Generator,
    mask_id: int,
    protected_ids: Sequence[int],
) -> tuple[int, int]:
    """Fit epoch by epoch on freshly masked copies; restore the best validation weights."""
    best_loss, best_epoch, best_weights = np.inf, 0, model.get_weights()
    epoch = 0
    for epoch in range(1, config.epochs + 1):
        began = time.perf_counter()
        masked = _mask_randomly(token_ids, rng, config.mask_max_rate, mask_id, protected_ids)
        model.fit(masked, targets, batch_size=config.batch_size, epochs=1, verbose=0)
        loss = float(model.evaluate(*validation, batch_size=512, verbose=0))
        logger.info(
            "epoch %d: validation loss %.4f (%.0f s)", epoch, loss, time.perf_counter() - began
        )
        if loss < best_loss:
            best_loss, best_epoch, best_weights = loss, epoch, model.get_weights()
        elif epoch - best_epoch >= config.patience:
            break
    model.set_weights(best_weights)
    return epoch, best_epoch


def _mask_randomly(
    token_ids: np.ndarray,
    rng: np.random.Generator,
    max_rate: float,
    mask_id: int,
    protected_ids: Sequence[int],
) -> np.ndarray:
    """Replace tokens by ``mask_id``, each row at its own rate drawn from ``[0, max_rate]``."""
    rates = rng.uniform(0.0, max_rate, size=(len(token_ids), 1))
    hide = (rng.random(token_ids.shape) < rates) & ~np.isin(token_ids, protected_ids)
    return np.where(hide, np.int32(mask_id), token_ids).astype(np.int32)


def _targets(documents: Sequence[Document], label_names: Sequence[str]) -> np.ndarray:
    """Return the ``(documents, labels)`` 0/1 matrix."""
    column = {name: index for index, name in enumerate(label_names)}
    targets = np.zeros((len(documents), len(label_names)), dtype=np.float32)
    for row, document in enumerate(documents):
        for tag in document.tags:
            if tag in column:
                targets[row, column[tag]] = 1.0
    return targets


def _f1(targets: np.ndarray, predicted: np.ndarray, axis: int | None = 0) -> np.ndarray:
    """F1 per column (``axis=0``) or pooled (``axis=None``); 0 where nothing is positive."""
    true_positive = (targets * predicted).sum(axis=axis)
    denominator = targets.sum(axis=axis) + predicted.sum(axis=axis)
    return np.divide(
        2 * true_positive, denominator, out=np.zeros_like(true_positive), where=denominator > 0
    )


def _best_thresholds(targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per label, the grid threshold with the highest F1 (0.5 for a label never positive)."""
    f1 = np.stack([_f1(targets, (scores >= cut).astype(np.float32)) for cut in _THRESHOLD_GRID])
    thresholds = _THRESHOLD_GRID[np.argmax(f1, axis=0)]
    return np.where(targets.sum(axis=0) > 0, thresholds, 0.5)


def _metrics(
    targets: np.ndarray, scores: np.ndarray, thresholds: np.ndarray, label_names: Sequence[str]
) -> dict[str, Any]:
    """Held-out ROC AUC and F1, overall and per label."""
    from sklearn.metrics import roc_auc_score

    positives = targets.sum(axis=0)
    both = (positives > 0) & (positives < len(targets))
    auc = {
        name: float(roc_auc_score(targets[:, i], scores[:, i])) if both[i] else None
        for i, name in enumerate(label_names)
    }
    defined = [value for value in auc.values() if value is not None]
    micro_auc = np.nan
    if 0 < targets.sum() < targets.size:
        micro_auc = roc_auc_score(targets.ravel(), scores.ravel())

    predicted = (scores >= thresholds).astype(np.float32)
    per_label_f1 = _f1(targets, predicted)
    at_half = _f1(targets, (scores >= 0.5).astype(np.float32))
    return {
        "micro_roc_auc": float(micro_auc),
        "macro_roc_auc": float(np.mean(defined)) if defined else float("nan"),
        "micro_f1": float(_f1(targets, predicted, axis=None)),
        "macro_f1": float(per_label_f1.mean()),
        "roc_auc_per_label": auc,
        "f1_per_label": dict(zip(label_names, per_label_f1.tolist(), strict=True)),
        "f1_per_label_at_0.5": dict(zip(label_names, at_half.tolist(), strict=True)),
        "thresholds": dict(zip(label_names, thresholds.tolist(), strict=True)),
        "positives_in_test": dict(zip(label_names, positives.astype(int).tolist(), strict=True)),
    }


def _fixed_length_encoder(tokenizer: PreTrainedTokenizerFast, max_length: int) -> Any:
    """Copy the tokenizer's Rust backend with truncation and padding to ``max_length``."""
    if tokenizer.pad_token_id != 0:
        raise ValueError(
            f"tokenizer must pad with id 0 (the model masks id 0), got pad_token_id="
            f"{tokenizer.pad_token_id!r}"
        )
    from tokenizers import Tokenizer

    encoder = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    encoder.enable_truncation(max_length)
    encoder.enable_padding(length=max_length, pad_id=0, pad_token=tokenizer.pad_token)
    return encoder


def _encode(encoder: Any, texts: Sequence[str], max_length: int) -> np.ndarray:
    """Encode with a fixed-length backend into an ``int32`` array."""
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, got a single str")
    encodings = encoder.encode_batch(list(texts))
    token_ids = np.zeros((len(encodings), max_length), dtype=np.int32)
    for row, encoding in enumerate(encodings):
        token_ids[row] = encoding.ids
    return token_ids


def _cache_key(config: TextModelConfig, seed: int, data_path: Path) -> str:
    """Hash the settings, the seed and the data file's bytes."""
    digest = hashlib.sha256(data_path.read_bytes()).hexdigest()
    settings = {
        "format": _CACHE_FORMAT,
        "config": dataclasses.asdict(config),
        "seed": seed,
        "data": digest,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _save(trained: TrainedTextModel, folder: Path) -> Path:
    """Write the model to a scratch folder, then move it into place in one rename."""
    scratch = folder.parent / f".{folder.name}-{uuid.uuid4().hex[:8]}"
    scratch.mkdir(parents=True)
    try:
        trained.model.save(scratch / "model.keras")
        trained.tokenizer.save_pretrained(str(scratch / "tokenizer"))
        (scratch / "labels.txt").write_text("\n".join(trained.label_names) + "\n")
        (scratch / "metrics.json").write_text(json.dumps(trained.metrics, indent=2) + "\n")
        if folder.exists() and not (folder / "metrics.json").is_file():
            shutil.rmtree(folder)
        os.rename(scratch, folder)
    except OSError:
        if not (folder / "metrics.json").is_file():
            raise
        logger.info("another process cached %s first; keeping that copy", folder)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch)
    logger.info("cached the text model in %s", folder)
    return folder


def _load(folder: Path, config: TextModelConfig) -> TrainedTextModel:
    """Read a cached model folder written by :func:`_save`."""
    model = keras.saving.load_model(folder / "model.keras", safe_mode=True, compile=False)
    tokenizer = load_tokenizer(folder / "tokenizer")
    label_names = tuple((folder / "labels.txt").read_text().splitlines())
    metrics = json.loads((folder / "metrics.json").read_text())
    thresholds = np.array([metrics["thresholds"][name] for name in label_names])
    return TrainedTextModel(model, tokenizer, label_names, thresholds, metrics, config, folder)


def _check_positive_int(name: str, value: object) -> None:
    """Raise ValueError unless ``value`` is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
