"""Token or word values drawn back onto the exact characters of the original text."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["Span", "ansi_highlights", "char_spans", "html_highlights"]

_POSITIVE_RGB = (215, 48, 39)
_NEGATIVE_RGB = (33, 102, 172)
_WHITE_RGB = (255, 255, 255)
_ANSI_RESET = "\x1b[0m"


@dataclass(frozen=True)
class Span:
    """A run of characters ``text[start:end]`` and the value drawn on it.

    Attributes:
        start: First character, inclusive.
        end: Last character, exclusive.
        value: The summed value of ``features``; 0.0 for a neutral span.
        features: Indices of the features whose characters make up this span; empty for
            characters no feature covers (whitespace between tokens, dropped characters).
    """

    start: int
    end: int
    value: float
    features: tuple[int, ...]


def char_spans(text: str, offsets: ArrayLike, values: ArrayLike) -> list[Span]:
    """Partition ``text`` into consecutive spans that carry the features' values.

    Each feature (a token or a word) covers the characters of its ``(start, end)`` offsets,
    with leading and trailing whitespace left out unless the feature is only whitespace.
    Features whose characters overlap or touch through a shared character (byte-level BPE
    splits one emoji into several tokens with the same offsets) are merged into one span
    carrying the sum of their values; characters no feature covers form neutral spans of
    value 0. A feature with an empty range at ``(0, 0)`` is a special token and is skipped;
    an empty range at ``p > 0`` (a byte-level whitespace token whose offsets were trimmed)
    covers the one character before ``p``.

    Args:
        text: The original text.
        offsets: ``(F, 2)`` character offsets, one pair per feature.
        values: ``(F,)`` values, one per feature.

    Returns:
        Spans in text order; their texts concatenate to ``text`` and their values sum to the
        values of all features not at ``(0, 0)``. An empty text gives an empty list.

    Raises:
        ValueError: If the shapes disagree or an offset lies outside ``text``.

    Examples:
        >>> spans = char_spans("a cat", [(0, 0), (0, 1), (2, 5)], [9.0, 1.0, 2.0])
        >>> [("a cat"[s.start:s.end], s.value) for s in spans]
        [('a', 1.0), (' ', 0.0), ('cat', 2.0)]
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"values must have shape (F,), got shape {values.shape!r}")
    layout = _layout(text, offsets, len(values))
    return [
        Span(start, end, float(values[list(features)].sum()), features)
        for start, end, features in layout
    ]


def html_highlights(
    text: str,
    offsets: ArrayLike,
    values: ArrayLike,
    label_names: Sequence[str],
    scores: ArrayLike,
    *,
    page: bool = False,
) -> str:
    """Render one highlighted copy of ``text`` per label as self-contained HTML.

    Each line shows the label, its score, then the text with every span's background
    coloured by its value: red for positive, blue for negative, on one symmetric scale
    shared by all labels of this text (the largest absolute span value is full colour).
    The value sits in each span's ``title`` for hover. Only inline CSS; no script, no
    external reference.

    Args:
        text: The original text.
        offsets: ``(F, 2)`` character offsets, one pair per feature.
        values: ``(F, k)`` values for ``k`` labels.
        label_names: ``k`` label names.
        scores: ``k`` model scores, one per label.
        page: Wrap the fragment in a complete HTML page.

    Returns:
        The HTML fragment (or page).

    Raises:
        ValueError: If the shapes of ``offsets``, ``values``, ``label_names`` and ``scores``
            disagree, or an offset lies outside ``text``.
    """
    values, scores = _check_labels(values, label_names, scores)
    layout = _layout(text, offsets, values.shape[0])
    span_values = _span_values(layout, values)
    scale = _scale(span_values)

    lines = []
    for label, name in enumerate(label_names):
        parts = []
        for (start, end, features), value in zip(layout, span_values[:, label], strict=True):
            piece = html.escape(text[start:end])
            if not features:
                parts.append(piece)
                continue
            red, green, blue = _colour(value, scale)
            parts.append(
                f'<span style="background-color: rgb({red}, {green}, {blue}); '
                f'border-radius: 2px" title="{value:+.4g}">{piece}</span>'
            )
        lines.append(
            '<div style="margin: 0 0 0.6em 0; line-height: 1.6">'
            f'<span style="font-family: sans-serif; font-weight: bold">{html.escape(str(name))}'
            f'</span> <span style="font-family: sans-serif; color: #555">score {scores[label]:.3f}'
            '</span> <span style="font-family: monospace; white-space: pre-wrap">'
            f"{''.join(parts)}</span></div>"
        )
    fragment = f'<div class="labelshap-text">{"".join(lines)}</div>'
    if not page:
        return fragment
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>labelshap text explanation</title>\n</head>\n"
        f'<body style="margin: 1.5em">\n{fragment}\n</body>\n</html>\n'
    )


def ansi_highlights(
    text: str,
    offsets: ArrayLike,
    values: ArrayLike,
    label_names: Sequence[str],
    scores: ArrayLike,
) -> str:
    """Render one highlighted copy of ``text`` per label for a 24-bit colour terminal.

    The colours and the shared symmetric scale are those of :func:`html_highlights`;
    coloured spans get black text, and the colour is reset before every line break so a
    background never bleeds into the margin.

    Args:
        text: The original text.
        offsets: ``(F, 2)`` character offsets, one pair per feature.
        values: ``(F, k)`` values for ``k`` labels.
        label_names: ``k`` label names.
        scores: ``k`` model scores, one per label.

    Returns:
        The text for the terminal, one block per label, blocks separated by a blank line.

    Raises:
        ValueError: If the shapes disagree, or an offset lies outside ``text``.
    """
    values, scores = _check_labels(values, label_names, scores)
    layout = _layout(text, offsets, values.shape[0])
    span_values = _span_values(layout, values)
    scale = _scale(span_values)

    blocks = []
    for label, name in enumerate(label_names):
        parts = [f"{name} (score {scores[label]:.3f}): "]
        for (start, end, features), value in zip(layout, span_values[:, label], strict=True):
            piece = text[start:end]
            if not features:
                parts.append(piece)
                continue
            red, green, blue = _colour(value, scale)
            start_code = f"\x1b[48;2;{red};{green};{blue}m\x1b[38;2;0;0;0m"
            parts.append(
                "\n".join(
                    f"{start_code}{line}{_ANSI_RESET}" if line else "" for line in piece.split("\n")
                )
            )
        blocks.append("".join(parts))
    return "\n\n".join(blocks)


def _layout(
    text: str, offsets: ArrayLike, n_features: int
) -> list[tuple[int, int, tuple[int, ...]]]:
    """Return ``(start, end, features)`` for each span of the partition of ``text``."""
    offsets = np.asarray(offsets, dtype=np.int64)
    if offsets.size == 0:
        offsets = offsets.reshape(0, 2)
    if offsets.ndim != 2 or offsets.shape[1] != 2:
        raise ValueError(f"offsets must have shape (F, 2), got shape {offsets.shape!r}")
    if offsets.shape[0] != n_features:
        raise ValueError(
            f"offsets must hold one (start, end) pair per feature: got {offsets.shape[0]} pairs "
            f"for {n_features} values"
        )
    bad = (offsets[:, 0] < 0) | (offsets[:, 1] < offsets[:, 0]) | (offsets[:, 1] > len(text))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"offsets[{first}]={tuple(offsets[first].tolist())!r} is not a range inside a text "
            f"of {len(text)} characters; expected 0 <= start <= end <= {len(text)}"
        )

    # Each feature's characters, whitespace trimmed; special tokens dropped.
    ranges = []
    for feature, (start, end) in enumerate(offsets.tolist()):
        covered = _covered_range(text, start, end)
        if covered is not None:
            ranges.append((covered[0], covered[1], feature))
    ranges.sort()

    # Merge overlapping ranges; fill the gaps with neutral spans.
    layout: list[tuple[int, int, tuple[int, ...]]] = []
    position = 0
    index = 0
    while index < len(ranges):
        start, end, feature = ranges[index]
        features = [feature]
        index += 1
        while index < len(ranges) and ranges[index][0] < end:
            end = max(end, ranges[index][1])
            features.append(ranges[index][2])
            index += 1
        if start > position:
            layout.append((position, start, ()))
        layout.append((start, end, tuple(sorted(features))))
        position = end
    if position < len(text):
        layout.append((position, len(text), ()))
    return layout


def _covered_range(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Return the characters a feature covers, or None for a special token at (0, 0)."""
    if start == end:
        return None if start == 0 else (start - 1, start)
    stripped = text[start:end]
    if not stripped.strip():
        return start, end
    start += len(stripped) - len(stripped.lstrip())
    end -= len(stripped) - len(stripped.rstrip())
    return start, end


def _check_labels(
    values: ArrayLike, label_names: Sequence[str], scores: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Validate the per-label inputs of the two renderers."""
    values = np.asarray(values, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if values.ndim != 2:
        raise ValueError(f"values must have shape (F, k), got shape {values.shape!r}")
    if not len(label_names) == len(scores) == values.shape[1]:
        raise ValueError(
            f"values has {values.shape[1]} label columns, label_names {len(label_names)} names "
            f"and scores {len(scores)} entries; they must match"
        )
    return values, scores


def _span_values(layout: list[tuple[int, int, tuple[int, ...]]], values: np.ndarray) -> np.ndarray:
    """Sum the ``(F, k)`` feature values over each span: ``(n_spans, k)``."""
    summed = np.zeros((len(layout), values.shape[1]))
    for row, (_, _, features) in enumerate(layout):
        if features:
            summed[row] = values[list(features)].sum(axis=0)
    return summed


def _scale(span_values: np.ndarray) -> float:
    """Return the absolute value drawn at full colour (1.0 when every value is 0)."""
    largest = float(np.abs(span_values).max()) if span_values.size else 0.0
    return largest if largest > 0 else 1.0


def _colour(value: float, scale: float) -> tuple[int, int, int]:
    """Blend white towards red (positive) or blue (negative) by ``|value| / scale``."""
    weight = min(abs(value) / scale, 1.0)
    target = _POSITIVE_RGB if value >= 0 else _NEGATIVE_RGB
    return tuple(
        round(white + weight * (colour - white))
        for white, colour in zip(_WHITE_RGB, target, strict=True)
    )
