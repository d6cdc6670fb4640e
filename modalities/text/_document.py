"""One text tokenised for explaining: its tokens, its features and the windows the model reads."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Document", "DocumentCache", "tokenize_document", "window_ranges"]


@dataclass(frozen=True)
class Document:
    """A text, its tokens and which of them are features.

    Attributes:
        text: The original text.
        ids: ``(C,)`` ids of the text's tokens (special tokens excluded).
        tokens: The ``C`` token strings.
        offsets: ``(C, 2)`` character offsets as the tokenizer gave them.
        prefix: Special token ids the tokenizer puts before the text.
        suffix: Special token ids it puts after the text.
        windows: ``[start, stop)`` token ranges the model reads, one per model row.
        features: ``(F,)`` indices of the tokens that are features: those inside the
            windows that cover at least one non-whitespace character.
        feature_spans: ``(F, 2)`` each feature's characters, surrounding whitespace left out.
        feature_words: ``(F,)`` word index of each feature (0, 1, ... in text order), as
            the tokenizer's pre-tokeniser split the words.
    """

    text: str
    ids: np.ndarray
    tokens: list[str]
    offsets: np.ndarray
    prefix: list[int]
    suffix: list[int]
    windows: list[tuple[int, int]]
    features: np.ndarray
    feature_spans: np.ndarray
    feature_words: np.ndarray

    @property
    def covered(self) -> int:
        """Tokens inside the windows (all of them unless the text was truncated)."""
        return self.windows[-1][1]

    @property
    def truncated(self) -> bool:
        """Whether tokens beyond the model's window were left out."""
        return self.covered < len(self.ids)

    @property
    def explained_range(self) -> tuple[int, int]:
        """Characters ``[start, end)`` the windows cover."""
        return self.window_char_range(self.windows[0])[0], self.window_char_range(self.windows[-1])[
            1
        ]

    def window_char_range(self, window: tuple[int, int]) -> tuple[int, int]:
        """Characters of one window: from its first token (0 for the first window) to its
        last token (the end of the text for the last one)."""
        start, stop = window
        first = 0 if start == 0 else int(self.offsets[start, 0])
        last = len(self.text) if stop == len(self.ids) else int(self.offsets[stop - 1, 1])
        return first, max(first, last)

    def window_chars(self) -> list[tuple[int, int]]:
        """The character range of every window."""
        return [self.window_char_range(window) for window in self.windows]

    def window_columns(self) -> list[np.ndarray]:
        """For each window, the feature columns (indices into ``features``) inside it."""
        return [
            np.flatnonzero((self.features >= start) & (self.features < stop))
            for start, stop in self.windows
        ]

    def window_row(
        self, window: tuple[int, int], row_length: int, pad_id: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The model's id row for one window, and where the window's features sit in it.

        Returns:
            ``(row, positions)``: ``(row_length,)`` int32 ids (special tokens, the window's
            tokens, padding), and the row position of each feature of the window in
            column order.
        """
        start, stop = window
        ids = [*self.prefix, *self.ids[start:stop].tolist(), *self.suffix]
        row = np.full(row_length, pad_id, dtype=np.int32)
        row[: len(ids)] = ids
        inside = self.features[(self.features >= start) & (self.features < stop)]
        return row, (len(self.prefix) + inside - start).astype(np.int64)


def tokenize_document(
    backend: Any,
    text: str,
    *,
    max_length: int | None,
    long_text: str,
    stride: int | None,
) -> Document:
    """Tokenise ``text`` and lay out its windows.

    Args:
        backend: A ``tokenizers.Tokenizer`` with no truncation and no padding.
        text: The text.
        max_length: Tokens per model row, special tokens included; None for no limit.
        long_text: ``"truncate"`` (one window, the first) or ``"window"`` (all).
        stride: Tokens between window starts; None for half a window.

    Raises:
        ValueError: If ``max_length`` leaves no room for text after the special tokens,
            ``stride`` exceeds a window, or the tokenizer puts special tokens inside a text.
    """
    encoding = backend.encode(text)
    special = np.asarray(encoding.special_tokens_mask, dtype=bool)
    all_ids = np.asarray(encoding.ids, dtype=np.int64)
    content = np.flatnonzero(~special)
    if len(content) and special[content[0] : content[-1] + 1].any():
        raise ValueError(
            "the tokenizer puts special tokens inside a single text; TextMasker supports "
            "tokenizers that add them only before and after it"
        )
    first = int(content[0]) if len(content) else len(all_ids)
    last = int(content[-1]) + 1 if len(content) else len(all_ids)
    prefix, suffix = all_ids[:first].tolist(), all_ids[last:].tolist()

    budget = None
    if max_length is not None:
        budget = max_length - len(prefix) - len(suffix)
        if budget < 1:
            raise ValueError(
                f"max_length={max_length!r} leaves no room for text after the tokenizer's "
                f"{len(prefix) + len(suffix)} special tokens; accepted: more than "
                f"{len(prefix) + len(suffix)}"
            )
    windows = window_ranges(len(content), budget, long_text=long_text, stride=stride)

    offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)[content]
    # Encoding's list properties build a new list on every access: read each once.
    all_word_ids, all_tokens = encoding.word_ids, encoding.tokens
    word_ids = [all_word_ids[position] for position in content]
    spans = [_visible(text, start, end) for start, end in offsets.tolist()]
    covered = windows[-1][1]
    features = np.array([t for t in range(covered) if spans[t] is not None], dtype=np.int64)
    return Document(
        text=text,
        ids=all_ids[content],
        tokens=[all_tokens[position] for position in content],
        offsets=offsets,
        prefix=prefix,
        suffix=suffix,
        windows=windows,
        features=features,
        feature_spans=np.array([spans[t] for t in features], dtype=np.int64).reshape(-1, 2),
        feature_words=_renumber([word_ids[t] for t in features]),
    )


def window_ranges(
    n_tokens: int, budget: int | None, *, long_text: str, stride: int | None
) -> list[tuple[int, int]]:
    """``[start, stop)`` token ranges of the windows over ``n_tokens`` text tokens.

    Every window but a short text's only one holds exactly ``budget`` tokens; the last
    window ends at the last token, so the final stride may be shorter.

    Examples:
        >>> window_ranges(10, 4, long_text="window", stride=3)
        [(0, 4), (3, 7), (6, 10)]
        >>> window_ranges(10, 4, long_text="truncate", stride=None)
        [(0, 4)]
    """
    if budget is None or n_tokens <= budget:
        return [(0, n_tokens)]
    if long_text == "truncate":
        return [(0, budget)]
    step = max(budget // 2, 1) if stride is None else stride
    if step > budget:
        raise ValueError(
            f"stride={stride!r} exceeds the {budget} text tokens of a window, so tokens "
            f"between windows would be left out; accepted: at most {budget}"
        )
    starts = [*range(0, n_tokens - budget, step), n_tokens - budget]
    return [(start, start + budget) for start in starts]


def _visible(text: str, start: int, end: int) -> tuple[int, int] | None:
    """A token's characters without surrounding whitespace; None if nothing is left."""
    piece = text[start:end]
    if not piece.strip():
        return None
    return start + len(piece) - len(piece.lstrip()), end - len(piece) + len(piece.rstrip())


def _renumber(word_ids: list[int | None]) -> np.ndarray:
    """Number words 0, 1, ... in order of appearance; a token without a word is its own."""
    numbers: dict[Any, int] = {}
    out = np.zeros(len(word_ids), dtype=np.int64)
    for index, word in enumerate(word_ids):
        key = ("token", index) if word is None else word
        out[index] = numbers.setdefault(key, len(numbers))
    return out


class DocumentCache:
    """The most recently tokenised documents, at most ``max_tokens`` tokens in all.

    Shared by the host threads that bind texts, hence the lock. Cached arrays are made
    read-only, so that no caller can change another's document.
    """

    def __init__(self, max_documents: int = 512, max_tokens: int = 1 << 20) -> None:
        self.max_documents = max_documents
        self.max_tokens = max_tokens
        self._items: OrderedDict[tuple[Any, ...], Document] = OrderedDict()
        self._tokens = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Document | None:
        with self._lock:
            document = self._items.get(key)
            if document is not None:
                self._items.move_to_end(key)
            return document

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._tokens = 0

    def put(self, key: tuple[Any, ...], document: Document) -> None:
        size = len(document.ids)
        if size > self.max_tokens:
            return
        for array in (
            document.ids,
            document.offsets,
            document.features,
            document.feature_spans,
            document.feature_words,
        ):
            array.flags.writeable = False
        with self._lock:
            if key in self._items:
                return
            self._items[key] = document
            self._tokens += size
            while len(self._items) > self.max_documents or self._tokens > self.max_tokens:
                _, dropped = self._items.popitem(last=False)
                self._tokens -= len(dropped.ids)
