"""Token grouping for Partition explanations: pieces, words, phrases, sentences, text."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["LEVEL_DISTANCES", "token_linkage", "word_ids_from_encoding"]

#: Linkage distance of each level of the grouping, smallest first. ``piece`` joins the
#: sub-word pieces of one word, ``run`` joins words written without whitespace between them
#: (``Foo::Bar``, ``e-mail``), ``phrase`` joins the runs of one phrase, ``sentence`` the
#: phrases of one sentence and ``text`` the sentences.
LEVEL_DISTANCES = {"piece": 1.0, "run": 2.0, "phrase": 3.0, "sentence": 4.0, "text": 5.0}

_LEVELS = tuple(LEVEL_DISTANCES)
_PHRASE_ENDS = frozenset(",;:")
_SENTENCE_ENDS = frozenset(".!?")
_CLOSERS = frozenset(")]}\"'»”’")
_BULLETS = frozenset("*-+•")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")


def word_ids_from_encoding(encoding: Any) -> list[int | None]:
    """Return the word index of each token, as the fast tokenizer itself assigned it.

    The tokenizer's pre-tokeniser decides the words (whitespace and punctuation for
    WordPiece, GPT-2's pattern for byte-level BPE), so a word's pieces share one index even
    across non-ASCII characters, and the last word of one line never joins the first word
    of the next.

    Args:
        encoding: The result of calling a fast ``transformers`` tokenizer on one text (a
            ``BatchEncoding``), or a ``tokenizers.Encoding``.

    Returns:
        One entry per token: its word index, or None for a special token the
        post-processor added (``[CLS]``, ``</s>``, padding).

    Raises:
        TypeError: If ``encoding`` comes from a slow tokenizer or is not an encoding.
        ValueError: If ``encoding`` holds more than one text.
    """
    encodings = getattr(encoding, "encodings", None)
    if encodings is not None:
        if len(encodings) != 1:
            raise ValueError(
                f"encoding must hold exactly one text, got a batch of {len(encodings)}; "
                "index the batch first (batch[i] is a tokenizers.Encoding)"
            )
        return list(encoding.word_ids(0))
    word_ids = getattr(encoding, "word_ids", None)
    if word_ids is None or callable(word_ids):
        raise TypeError(
            f"encoding must be a fast tokenizer's BatchEncoding or a tokenizers.Encoding, got "
            f"{type(encoding).__name__!r}; slow tokenizers carry no word ids"
        )
    return list(word_ids)


def token_linkage(word_ids: Sequence[int | None], offsets: ArrayLike, text: str) -> np.ndarray:
    """Build a scipy-style linkage over the non-special tokens of one text.

    The tree merges, in order of increasing distance (:data:`LEVEL_DISTANCES`): the pieces
    of one word; words with no whitespace between them; the runs of a phrase; the phrases of
    a sentence; the sentences of the text. A phrase ends after ``,`` ``;`` or ``:`` followed
    by whitespace; a sentence ends after ``.`` ``!`` or ``?`` followed by whitespace (closing
    quotes and brackets allowed in between), at a blank line, and before a list item (a line
    starting with ``*``, ``-``, ``+`` or ``•``). Within a level, adjacent units merge as a
    balanced binary tree, so every distance is one of the five levels and the rows are
    monotone.

    Args:
        word_ids: Word index per token, None for special tokens (see
            :func:`word_ids_from_encoding`).
        offsets: ``(T, 2)`` character offsets per token, as the tokenizer returned them.
        text: The text that was tokenised.

    Returns:
        A ``(F - 1, 4)`` float array over the ``F`` tokens whose word id is not None, which
        are leaves ``0 .. F - 1`` in token order. Row ``i`` merges clusters ``[left, right]``
        at ``distance`` into cluster ``F + i`` of ``n_leaves`` leaves (scipy's convention).
        ``F <= 1`` gives a ``(0, 4)`` array.

    Raises:
        ValueError: If ``word_ids`` and ``offsets`` differ in length or an offset lies outside
            ``text``.

    Examples:
        >>> token_linkage([None, 0, 0, 1, None], [(0, 0), (0, 2), (2, 4), (5, 8), (0, 0)],
        ...               "cats and")
        array([[0., 1., 1., 2.],
               [3., 2., 3., 3.]])
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    if offsets.size == 0:
        offsets = offsets.reshape(0, 2)
    if offsets.ndim != 2 or offsets.shape[1] != 2 or offsets.shape[0] != len(word_ids):
        raise ValueError(
            f"offsets must have shape ({len(word_ids)}, 2), one pair per entry of word_ids; "
            f"got shape {offsets.shape!r}"
        )
    bad = (offsets[:, 0] < 0) | (offsets[:, 1] < offsets[:, 0]) | (offsets[:, 1] > len(text))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"offsets[{first}]={tuple(offsets[first].tolist())!r} is not a range inside a text "
            f"of {len(text)} characters"
        )

    kept = [index for index, word in enumerate(word_ids) if word is not None]
    if len(kept) <= 1:
        return np.zeros((0, 4), dtype=np.float64)
    words = [word_ids[index] for index in kept]
    levels = _boundary_levels(words, offsets[kept].tolist(), text)
    return _linkage_from_levels(levels)


def _boundary_levels(words: list[int], offsets: list[list[int]], text: str) -> list[int]:
    """Return, between each pair of adjacent tokens, the index of the level that joins them.

    A whitespace-only token (byte-level BPE's ``Ġ`` or ``Ċ``) belongs to the word after it
    when the tokenizer says so, and otherwise stays with the token before it.
    """
    contents = [_content(text, start, end) for start, end in offsets]
    upcoming_contents: list[tuple[int, int] | None] = [None] * len(contents)
    upcoming = None
    for index in range(len(contents) - 1, -1, -1):
        upcoming = contents[index] if contents[index] is not None else upcoming
        upcoming_contents[index] = upcoming

    levels = []
    last_content_end = None
    for left in range(len(words) - 1):
        right = left + 1
        if contents[left] is not None:
            last_content_end = contents[left][1]
        upcoming = upcoming_contents[right]
        leads_word = right + 1 < len(words) and words[right + 1] == words[right]
        if words[left] == words[right]:
            levels.append(_LEVELS.index("piece"))
        elif upcoming is None or (contents[right] is None and not leads_word):
            levels.append(_LEVELS.index("run"))
        else:
            levels.append(_level_between(text, last_content_end, upcoming))
    return levels


def _level_between(text: str, left_end: int | None, right: tuple[int, int]) -> int:
    """Return the level joining content ending at ``left_end`` to content at ``right``."""
    if left_end is None:
        return _LEVELS.index("phrase")
    gap = text[left_end : right[0]] if right[0] > left_end else ""
    if not any(character.isspace() for character in gap):
        return _LEVELS.index("run")

    # Look back over closing quotes and brackets for the punctuation that ends a unit.
    position = left_end - 1
    while position > 0 and text[position] in _CLOSERS:
        position -= 1
    mark = text[position] if position >= 0 else ""
    starts_item = "\n" in gap and text[right[0]] in _BULLETS
    if mark in _SENTENCE_ENDS or _BLANK_LINE.search(gap) or starts_item:
        return _LEVELS.index("text")
    if mark in _PHRASE_ENDS:
        return _LEVELS.index("sentence")
    return _LEVELS.index("phrase")


def _content(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Return a token's range without surrounding whitespace, or None if nothing is left."""
    piece = text[start:end]
    if not piece.strip():
        return None
    return start + len(piece) - len(piece.lstrip()), end - len(piece) + len(piece.rstrip())


def _linkage_from_levels(levels: list[int]) -> np.ndarray:
    """Merge leaves level by level: at level ``k`` join units whose boundary level is <= k."""
    rows: list[list[float]] = []
    n_leaves = len(levels) + 1
    units = [(leaf, 1) for leaf in range(n_leaves)]
    boundaries = list(levels)
    for level, name in enumerate(_LEVELS):
        distance = LEVEL_DISTANCES[name]
        merged = []
        remaining = []
        group = [units[0]]
        for unit, boundary in zip(units[1:], boundaries, strict=True):
            if boundary <= level:
                group.append(unit)
            else:
                merged.append(_balanced_merge(group, distance, rows, n_leaves))
                remaining.append(boundary)
                group = [unit]
        merged.append(_balanced_merge(group, distance, rows, n_leaves))
        units, boundaries = merged, remaining
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def _balanced_merge(
    group: list[tuple[int, int]], distance: float, rows: list[list[float]], n_leaves: int
) -> tuple[int, int]:
    """Join adjacent ``(node, size)`` units as a balanced binary tree; return its root."""
    if len(group) == 1:
        return group[0]
    middle = (len(group) + 1) // 2
    left = _balanced_merge(group[:middle], distance, rows, n_leaves)
    right = _balanced_merge(group[middle:], distance, rows, n_leaves)
    node = n_leaves + len(rows)
    rows.append([left[0], right[0], distance, left[1] + right[1]])
    return node, left[1] + right[1]
