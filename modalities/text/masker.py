"""The text masker: the tokens of a Hugging Face fast tokenizer as features, hidden on the ids."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from labelshap.masking import MaskedInput, Masker

from ._document import Document, DocumentCache, tokenize_document
from .build import (
    build_deleted_ids,
    build_deleted_ids_group,
    build_hidden_ids,
    build_hidden_ids_group,
    build_masked_texts,
)
from .hierarchy import token_linkage

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

    from labelshap.model import LabelModel

__all__ = [
    "HIDE_MODES",
    "LONG_TEXT_MODES",
    "MODEL_INPUTS",
    "LongTextWarning",
    "TextBatch",
    "TextInput",
    "TextMasker",
]

logger = logging.getLogger(__name__)

HIDE_MODES = ("mask", "pad", "delete")
LONG_TEXT_MODES = ("truncate", "window")
MODEL_INPUTS = ("auto", "ids", "text")

# transformers sets model_max_length to a huge number when a tokenizer declares none.
_UNSET_LENGTH = 1_000_000


class LongTextWarning(UserWarning):
    """Texts longer than the model reads were cut to their first window.

    Attributes:
        truncated: How many texts of the call were cut.
        total: How many texts the call prepared.
        max_length: Tokens per model row.
        explained_tokens: Text tokens of the first window, the ones explained.
    """

    def __init__(self, truncated: int, total: int, max_length: int, explained_tokens: int):
        super().__init__(
            f"{truncated} of {total} texts are longer than the model's {max_length} tokens; "
            f"only their first {explained_tokens} text tokens are explained (the result's "
            "extras['explained_range'] holds the characters explained). Pass "
            "long_text='window' (command line: --long-text window) to explain whole texts."
        )
        self.truncated = truncated
        self.total = total
        self.max_length = max_length
        self.explained_tokens = explained_tokens


class TextMasker(Masker):
    """Hides the tokens of texts, for models over token ids or over raw strings.

    Features are the tokens of any Hugging Face fast tokenizer that cover at least one
    visible character: the special tokens its post-processor adds (``[CLS]``, ``</s>``)
    and tokens of whitespace only (byte-level BPE's ``Ġ`` or ``Ċ`` alone) are always
    kept, never hidden, so an empty or whitespace-only text has no features (its
    explanation is empty: the base value is its own score). The hierarchy that the
    partition algorithm walks joins the pieces of one word first, then words written
    together, phrases and sentences (:func:`~.hierarchy.token_linkage`).

    **Models over token ids** (a Keras model with an integer input ``(n, length)``; the
    fast path): masked id rows are built with TensorFlow ops inside the compiled model
    call, so only the masks cross to the device. A hidden token becomes the mask token
    (``hide="mask"``), the padding token (``"pad"``), or is removed with the tokens after
    it shifted left and padding appended (``"delete"``).

    **Models over raw strings** (a plain callable ``LabelModel`` that takes a batch of
    texts): masked strings are rebuilt on the host from the characters of the kept tokens,
    the whitespace between tokens kept; a hidden token's characters become the tokenizer's
    mask or pad token text, or nothing. The model re-tokenises them, and a hidden piece
    can change how its neighbours split (about 0.3-0.6% of masked rows changed length on
    the Debian descriptions); the id path has no such shift. Tokens that share a
    character (the bytes of one emoji) are hidden together when any of them is hidden.

    **Texts longer than the model's window** (``max_length`` tokens, special tokens
    included): ``long_text="truncate"`` explains the first window only; the tokens after
    it are dropped from the features (they would cost evaluations and always get zero),
    a warning is issued once per call, and ``extras["explained_range"]`` of the result
    holds the characters explained. ``long_text="window"`` reads the whole text in
    overlapping windows of the model's length: the explained score of a text is the mean
    of its windows' scores, the masks range over all its tokens, and a token's value
    covers every window it is in, so the values still sum exactly to the score minus the
    base value. Each evaluation then costs one model row per window.

    Args:
        tokenizer: A ``transformers`` fast tokenizer, or the directory it was saved to
            (read with ``AutoTokenizer`` from local files only).
        max_length: Tokens per model row, special tokens included. Defaults to the
            length the model declares (``(n, length)`` integer input); a plain callable
            over strings defaults to the tokenizer's ``model_max_length`` when it sets
            one, else to no limit.
        hide: ``"mask"`` (the tokenizer's mask token), ``"pad"`` or ``"delete"``.
        long_text: ``"truncate"`` or ``"window"``.
        stride: With ``long_text="window"``: text tokens from the start of one window to
            the start of the next (unlike the ``stride`` of ``transformers``, which counts
            the overlap). At most a window's text tokens (``max_length`` less the special
            tokens), so every token is in a window; defaults to half of them.
        model_input: ``"ids"``, ``"text"`` or ``"auto"``: ids for Keras models and
            callables that declare an integer input, strings for other callables.

    Raises:
        ValueError: If an option is not one of its accepted values, or ``hide`` needs a
            token the tokenizer lacks.
        TypeError: If ``tokenizer`` is not a fast tokenizer or a directory.

    Example:
        >>> from labelshap import Explainer, TopK
        >>> masker = TextMasker("demo/text/tokenizer")  # doctest: +SKIP
        >>> result = Explainer(model, masker).explain(["A Python library"])  # doctest: +SKIP
        >>> print(result.ansi(0))  # doctest: +SKIP
    """

    modality = "text"

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerFast | str | os.PathLike,
        *,
        max_length: int | None = None,
        hide: str = "mask",
        long_text: str = "truncate",
        stride: int | None = None,
        model_input: str = "auto",
    ) -> None:
        for name, value, accepted in (
            ("hide", hide, HIDE_MODES),
            ("long_text", long_text, LONG_TEXT_MODES),
            ("model_input", model_input, MODEL_INPUTS),
        ):
            if value not in accepted:
                raise ValueError(f"{name}={value!r} is not supported; accepted: {accepted}")
        for name, value in (("max_length", max_length), ("stride", stride)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1
            ):
                raise ValueError(f"{name}={value!r} must be a positive integer or None")

        self.tokenizer = _resolve_tokenizer(tokenizer)
        if hide == "mask" and self.tokenizer.mask_token_id is None:
            raise ValueError(
                "hide='mask' needs a tokenizer with a mask token, but this tokenizer has none; "
                "pass hide='pad' or hide='delete', or give the tokenizer a mask token the "
                "model knows (tokenizer.add_special_tokens({'mask_token': ...}))"
            )
        if hide == "pad" and self.tokenizer.pad_token_id is None:
            raise ValueError(
                "hide='pad' needs a tokenizer with a padding token, but this tokenizer has "
                "none; pass hide='mask' or hide='delete', or set tokenizer.pad_token"
            )
        self.max_length = None if max_length is None else int(max_length)
        self.hide = hide
        self.long_text = long_text
        self.stride = None if stride is None else int(stride)
        self.model_input = model_input
        self._backend = _plain_backend(self.tokenizer)
        self._documents = DocumentCache()

    def prepare(self, inputs: Any, model: LabelModel) -> TextBatch:
        """Check the texts and the model once; warn once if texts will be truncated.

        Args:
            inputs: A ``str``, UTF-8 ``bytes``, or a sequence of them.
            model: The model the texts are explained for.

        Returns:
            The texts as a :class:`TextBatch` (a list of ``str``).

        Raises:
            TypeError: If an item is neither ``str`` nor ``bytes``; the message names its
                index.
            ValueError: If bytes are not UTF-8, a text holds a lone surrogate, or there are
                no texts.
        """
        texts = _check_texts(inputs)
        layout = self._layout(model)
        if self.long_text == "truncate" and layout.max_length is not None:
            documents = [self._document(text, layout) for text in texts]
            truncated = [d for d in documents if d.truncated]
            if truncated:
                warnings.warn(
                    LongTextWarning(
                        len(truncated),
                        len(texts),
                        layout.max_length,
                        truncated[0].windows[0][1],
                    ),
                    stacklevel=2,
                )
        return TextBatch(texts, layout)

    def bind(self, item: str, model: LabelModel) -> TextInput:
        """Cut one text into token features, one model row per window.

        Raises:
            TypeError: If ``item`` is neither ``str`` nor ``bytes``.
            ValueError: If it is bytes that are not UTF-8, or holds a lone surrogate.
        """
        layout = self._layout(model)
        document = self._document(_check_text(item, "item"), layout)
        features = document.features
        word_ids = [None] * document.covered
        for column, token in enumerate(features):
            word_ids[token] = int(document.feature_words[column])
        clustering = token_linkage(
            word_ids, document.offsets[: document.covered], document.text
        ).astype(np.float64)

        windows = tuple(
            (columns, self._context(document, window, columns, layout))
            for window, columns in zip(document.windows, document.window_columns(), strict=True)
        )
        return TextInput(
            n_features=len(features),
            feature_names=[document.tokens[token] for token in features],
            build=self._build_function(layout),
            context=windows[0][1],
            clustering=clustering,
            feature_data=document.ids[features].astype(np.float64),
            extras={
                "offsets": document.feature_spans,
                "word_ids": document.feature_words,
                "explained_range": np.array(document.explained_range, dtype=np.int64),
                "windows": np.array(document.window_chars(), dtype=np.int64).reshape(-1, 2),
            },
            rows_per_mask=len(windows),
            # Texts read in one window share model batches with the other texts.
            group_build=self._group_build_function(layout) if len(windows) == 1 else None,
            windows=windows,
        )

    def join(self, batches: Sequence[Sequence[str]]) -> TextBatch:
        """Join texts prepared separately; they share the model's layout."""
        layout = next((batch.layout for batch in batches if hasattr(batch, "layout")), None)
        texts = [text for batch in batches for text in batch]
        return TextBatch(texts, layout) if layout is not None else texts

    def stack(self, items: Sequence[str]) -> np.ndarray:
        """One model row per text, its first window: ``(n, length)`` int32 ids or strings.

        With ``long_text="window"`` a text's score is the mean over all its windows; see
        :meth:`score`.
        """
        layout = self._layout_of(items)
        documents = [self._document(str(text), layout) for text in items]
        return _batch([self._row(d, d.windows[0], layout) for d in documents], layout)

    def as_data(self, items: Sequence[str]) -> np.ndarray:
        """The original texts, one string per row (the highlights are drawn on them)."""
        return np.array([str(text) for text in items], dtype=str)

    def score(self, items: Sequence[str], model: LabelModel) -> np.ndarray:
        """Each text's score: the mean of its windows' scores (one window unless long)."""
        layout = self._layout_of(items, model)
        documents = [self._document(str(text), layout) for text in items]
        rows, owners = self._rows(documents, layout)
        window_scores = model.predict(rows)
        counts = np.bincount(owners, minlength=len(documents))[:, None]
        summed = np.zeros((len(documents), window_scores.shape[1]))
        np.add.at(summed, owners, window_scores)
        return summed / counts

    def _layout(self, model: LabelModel) -> _Layout:
        """Decide what the model takes and how long its windows are."""
        kind = _input_kind(model) if self.model_input == "auto" else self.model_input
        if kind == "text":
            if model.is_tensorflow:
                raise NotImplementedError(
                    "Keras models over raw strings are not supported by TextMasker: masked "
                    "strings are built on the host. Wrap the model as a plain callable, "
                    "LabelModel(lambda texts: keras_model(texts).numpy(), labels), or give "
                    "it token ids"
                )
            length = self.max_length
            if length is None and self.tokenizer.model_max_length < _UNSET_LENGTH:
                length = int(self.tokenizer.model_max_length)
            return self._checked(_Layout("text", None, length))

        declared = _declared_length(model)
        length = self.max_length if self.max_length is not None else declared
        if length is None:
            raise ValueError(
                f"model {model.source!r} does not declare its input length; pass "
                "TextMasker(max_length=...) with the number of token ids it takes"
            )
        if declared is not None and length > declared:
            raise ValueError(
                f"max_length={length!r} exceeds the model's input length {declared}; "
                f"accepted: at most {declared} (command line: --max-length)"
            )
        if self.tokenizer.pad_token_id is None:
            raise ValueError(
                "the model takes fixed-length token ids, padded with the tokenizer's padding "
                "token, but this tokenizer has none; set tokenizer.pad_token"
            )
        return self._checked(_Layout("ids", declared or length, length))

    def _checked(self, layout: _Layout) -> _Layout:
        """Refuse window lengths and strides that leave no text or skip tokens."""
        if layout.max_length is None:
            return layout
        special = len(self._backend.encode("").ids)
        budget = layout.max_length - special
        if budget < 1:
            raise ValueError(
                f"max_length={layout.max_length!r} leaves no room for text after the "
                f"tokenizer's {special} special tokens; accepted: more than {special} "
                "(command line: --max-length)"
            )
        if self.long_text == "window" and self.stride is not None and self.stride > budget:
            raise ValueError(
                f"stride={self.stride!r} exceeds the {budget} text tokens of a window, so "
                f"tokens between windows would be left out; accepted: at most {budget} "
                "(command line: --stride)"
            )
        return layout

    def _layout_of(self, items: Sequence[str], model: LabelModel | None = None) -> _Layout:
        layout = getattr(items, "layout", None)
        if layout is not None:
            return layout
        if model is not None:
            return self._layout(model)
        if self.max_length is None:
            raise ValueError(
                "stack needs the texts returned by prepare (they carry the model's input "
                "length), or a TextMasker with max_length set"
            )
        return _Layout("ids", self.max_length, self.max_length)

    def _document(self, text: str, layout: _Layout) -> Document:
        # explain() reads each text three times (prepare, score, bind): tokenised once.
        key = (text, layout.max_length, self.long_text, self.stride)
        document = self._documents.get(key)
        if document is None:
            document = tokenize_document(
                self._backend,
                text,
                max_length=layout.max_length,
                long_text=self.long_text,
                stride=self.stride,
            )
            self._documents.put(key, document)
        return document

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_documents"] = None  # a cache and its lock stay behind
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._documents = DocumentCache()

    def _build_function(self, layout: _Layout) -> Any:
        if layout.model_input == "text":
            return build_masked_texts
        return build_deleted_ids if self.hide == "delete" else build_hidden_ids

    def _group_build_function(self, layout: _Layout) -> Any:
        if layout.model_input == "text":
            return None  # strings are built on the host, one text at a time
        return build_deleted_ids_group if self.hide == "delete" else build_hidden_ids_group

    def _fill_id(self) -> int:
        if self.hide == "mask":
            return int(self.tokenizer.mask_token_id)
        return int(self.tokenizer.pad_token_id)

    def _fill_text(self) -> str:
        if self.hide == "mask":
            return str(self.tokenizer.mask_token)
        return str(self.tokenizer.pad_token) if self.hide == "pad" else ""

    def _context(
        self, document: Document, window: tuple[int, int], columns: np.ndarray, layout: _Layout
    ) -> tuple[Any, ...]:
        """What the build function needs for one window, besides the masks."""
        if layout.model_input == "text":
            start, end = document.window_char_range(window)
            units = _units(document.feature_spans[columns] - start)
            return (document.text[start:end], units, self._fill_text())

        import tensorflow as tf

        row, positions = document.window_row(window, layout.row_length, self.tokenizer.pad_token_id)
        feature_of_position = np.full(layout.row_length, -1, dtype=np.int32)
        feature_of_position[positions] = np.arange(len(columns), dtype=np.int32)
        return (
            tf.constant(row, dtype=tf.int32),
            tf.constant(feature_of_position),
            tf.constant(self._fill_id(), dtype=tf.int32),
        )

    def _rows(self, documents: Sequence[Document], layout: _Layout) -> tuple[Any, np.ndarray]:
        """Every window of every text as one unmasked model row, and the text of each row."""
        rows, owners = [], []
        for index, document in enumerate(documents):
            for window in document.windows:
                rows.append(self._row(document, window, layout))
                owners.append(index)
        return _batch(rows, layout), np.array(owners, dtype=np.int64)

    def _row(self, document: Document, window: tuple[int, int], layout: _Layout) -> Any:
        """One window as the model takes it unmasked: an id row or a string."""
        if layout.model_input == "text":
            start, end = document.window_char_range(window)
            return document.text[start:end]
        return document.window_row(window, layout.row_length, self.tokenizer.pad_token_id)[0]


class TextBatch(list):
    """Texts checked by :meth:`TextMasker.prepare`: a list of ``str`` and the model layout."""

    def __init__(self, texts: Sequence[str], layout: _Layout) -> None:
        super().__init__(texts)
        self.layout = layout


@dataclass
class TextInput(MaskedInput):
    """A text cut into tokens, read by the model in one or more windows.

    ``context`` is the first window's; ``windows`` pairs each window's feature columns
    with its context, and a text's score under a mask is the mean over its windows.
    """

    windows: tuple[tuple[np.ndarray, tuple[Any, ...]], ...] = ()

    def evaluate(self, model: LabelModel, masks: np.ndarray) -> np.ndarray:
        """Score the text under ``masks``: the mean of its windows' scores."""
        masks = np.asarray(masks, dtype=np.float32)
        total = None
        for columns, context in self.windows:
            window_masks = masks if len(columns) == masks.shape[1] else masks[:, columns]
            scores = model.predict_masked(window_masks, self.build, context)
            total = scores if total is None else total + scores
        return total / len(self.windows)


@dataclass(frozen=True)
class _Layout:
    """What the model takes: ``"ids"`` rows of ``row_length``, or ``"text"``."""

    model_input: str
    row_length: int | None
    max_length: int | None


def _batch(rows: list[Any], layout: _Layout) -> np.ndarray:
    """Model rows as one batch: ``(n, length)`` int32 ids, or an array of strings."""
    if layout.model_input == "text":
        return np.array(rows, dtype=object)
    return np.stack(rows).astype(np.int32)


def _units(spans: np.ndarray) -> tuple[tuple[int, int, tuple[int, ...]], ...]:
    """Group features whose characters overlap: ``(start, end, columns)`` in text order."""
    order = np.argsort(spans[:, 0], kind="stable") if len(spans) else np.zeros(0, dtype=int)
    units: list[tuple[int, int, list[int]]] = []
    for column in order.tolist():
        start, end = (int(v) for v in spans[column])
        if units and start < units[-1][1]:
            units[-1] = (units[-1][0], max(end, units[-1][1]), [*units[-1][2], column])
        else:
            units.append((start, end, [column]))
    return tuple((start, end, tuple(columns)) for start, end, columns in units)


def _check_texts(inputs: Any) -> list[str]:
    """Normalise the user's texts to a list of ``str``."""
    if isinstance(inputs, (str, bytes, bytearray)):
        inputs = [inputs]
    elif isinstance(inputs, np.ndarray):
        inputs = inputs.reshape(-1).tolist()
    try:
        items = list(inputs)
    except TypeError as err:
        raise TypeError(
            f"inputs of type {type(inputs).__name__!r} is not a text or a sequence of texts; "
            "accepted: str, UTF-8 bytes, or a list of them"
        ) from err
    if not items:
        raise ValueError("inputs holds no texts; accepted: str, UTF-8 bytes, or a list of them")

    return [_check_text(item, f"inputs[{index}]") for index, item in enumerate(items)]


def _check_text(item: Any, where: str) -> str:
    """One text as ``str``: UTF-8 bytes are decoded; ``where`` names it in errors."""
    if isinstance(item, (bytes, bytearray)):
        try:
            return bytes(item).decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(
                f"{where} is bytes that are not UTF-8 ({err.reason} at byte {err.start}); "
                "decode it to str with its own encoding first"
            ) from err
    if not isinstance(item, str):
        raise TypeError(
            f"{where} is a {type(item).__name__} ({item!r:.60}); accepted: str or UTF-8 bytes"
        )

    # A lone surrogate (from decoding with errors='surrogateescape') has no UTF-8 form,
    # and the tokenizer cannot read it.
    try:
        item.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(
            f"{where} holds the lone surrogate {item[err.start]!r} at character {err.start}, "
            "which is not text; accepted: str that encodes as UTF-8 (decode bytes with "
            "errors='replace' rather than 'surrogateescape')"
        ) from err
    return str(item)


def _resolve_tokenizer(tokenizer: Any) -> PreTrainedTokenizerFast:
    """Return a fast tokenizer, reading it from a directory if given one."""
    if isinstance(tokenizer, (str, os.PathLike)):
        from .tokenizer import load_tokenizer

        tokenizer = load_tokenizer(tokenizer)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if not getattr(tokenizer, "is_fast", False) or backend is None:
        raise TypeError(
            f"tokenizer of type {type(tokenizer).__name__!r} is not a Hugging Face fast "
            "tokenizer; accepted: a transformers PreTrainedTokenizerFast or the directory "
            "it was saved to (slow tokenizers give no character offsets)"
        )
    return tokenizer


def _plain_backend(tokenizer: PreTrainedTokenizerFast) -> Any:
    """A copy of the tokenizer's Rust backend with no truncation and no padding."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()
    return backend


def _input_kind(model: LabelModel) -> str:
    """``"ids"`` or ``"text"``, from what the model declares."""
    spec = model.input_spec
    if isinstance(spec, dict):
        raise NotImplementedError(
            f"model {model.source!r} takes several inputs {sorted(spec)}; TextMasker supports "
            "models with one input of token ids or one of strings. Wrap it in a callable "
            "that builds the other inputs (an attention mask) from the ids"
        )
    if spec is None:
        return "ids" if model.is_tensorflow else "text"
    return "ids" if "int" in str(spec[1]) else "text"


def _declared_length(model: LabelModel) -> int | None:
    spec = model.input_spec
    if spec is None or isinstance(spec, dict):
        return None
    shape = tuple(spec[0])
    if len(shape) != 1:
        raise ValueError(
            f"model input shape {shape!r} per row is not (length,); TextMasker gives the "
            "model one row of token ids per text"
        )
    return None if shape[0] is None else int(shape[0])
