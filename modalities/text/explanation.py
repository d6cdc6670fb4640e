"""Text explanations: token values drawn back onto the original characters, per label."""

from __future__ import annotations

import html as html_lib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from labelshap.explanation import Explanation, register_explanation

from .render import ansi_highlights, html_highlights

__all__ = ["TextExplanation", "WordValue"]

# Labels drawn per text in the report at most.
_REPORT_MAX_LABELS = 5


class WordValue(NamedTuple):
    """One word of a text and its value for one label (the sum of its pieces' values)."""

    text: str
    start: int
    end: int
    value: float


@register_explanation("text")
class TextExplanation(Explanation):
    """An :class:`~labelshap.Explanation` of texts, whose features are tokens.

    ``data`` holds the original texts. ``extras`` holds, per text: ``offsets`` ``(F, 2)``
    the characters of each token (whitespace around it left out), ``word_ids`` ``(F,)``
    the word each token belongs to, ``explained_range`` ``(2,)`` the characters the
    model's windows covered (less than the whole text when it was truncated) and
    ``windows`` ``(W, 2)`` the characters of each window. Arrays are padded with -1.
    """

    _REPR_MAX_ITEMS = 8
    # Texts are long: the report draws fewer of them than of images.
    _REPORT_MAX_ITEMS = 12

    def text(self, index: int) -> str:
        """The original text of one input."""
        return str(self.data[index])

    def html(
        self,
        index: int | Sequence[int] | None = None,
        labels: Sequence[str] | Sequence[Sequence[str]] | None = None,
        *,
        page: bool = True,
        titles: Sequence[str] | None = None,
    ) -> str:
        """Token highlights: per text, one line per label with its name and score.

        Red raised the label's score, blue lowered it, one symmetric scale per text; a
        token's value shows on hover. Self-contained (inline CSS, no script).

        Args:
            index: One text, several, or None for all.
            labels: Label names to draw, the same for every text or one list per drawn
                text; defaults to each text's selected labels (its best explained label
                if none was selected).
            page: Return a complete HTML page instead of a fragment.
            titles: One heading per drawn text; defaults to ``text <index>``.

        Returns:
            The HTML.
        """
        rows = range(len(self)) if index is None else np.atleast_1d(index).tolist()
        per_text = labels is not None and len(labels) > 0 and not isinstance(labels[0], str)
        for name, given in (("titles", titles), ("labels", labels if per_text else None)):
            if given is not None and len(given) != len(rows):
                raise ValueError(f"{name} has {len(given)} entries for {len(rows)} texts")
        blocks = []
        for position, row in enumerate(rows):
            columns = self._columns(row, labels[position] if per_text else labels)
            title = titles[position] if titles is not None else f"text {row}"
            blocks.append(
                '<section style="margin: 0 0 1.6em 0">'
                '<div style="font-family: sans-serif; font-size: 1.05em; margin: 0 0 0.4em 0">'
                f"{html_lib.escape(str(title))}{html_lib.escape(self._coverage_note(row))}</div>"
                + html_highlights(
                    self.text(row),
                    self._offsets(row),
                    self.values[row, : self.n_features[row]][:, columns],
                    [self.label_names[c] for c in columns],
                    self.scores[row, columns],
                )
                + "</section>"
            )
        body = "\n".join(blocks)
        return _page(body) if page else f'<div class="labelshap-texts">{body}</div>'

    def ansi(self, index: int, labels: Sequence[str] | None = None) -> str:
        """Token highlights of one text for a 24-bit colour terminal, one block per label."""
        columns = self._columns(index, labels)
        shown = ansi_highlights(
            self.text(index),
            self._offsets(index),
            self.values[index, : self.n_features[index]][:, columns],
            [self.label_names[c] for c in columns],
            self.scores[index, columns],
        )
        note = self._coverage_note(index)
        return f"{shown}\n({note.lstrip(' -')})" if note else shown

    def save_html(
        self,
        path: str | os.PathLike,
        index: int | Sequence[int] | None = None,
        labels: Sequence[str] | Sequence[Sequence[str]] | None = None,
        *,
        titles: Sequence[str] | None = None,
    ) -> Path:
        """Write :meth:`html` as a page to ``path``; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.html(index, labels, page=True, titles=titles), encoding="utf-8")
        return path

    def word_values(self, index: int, label: str | int) -> list[WordValue]:
        """Each word's value for one label: the sum of its pieces, in text order.

        Words are those of the tokenizer's pre-tokeniser (so ``Foo::Bar`` is four words
        for WordPiece); a word's characters run from its first piece to its last.
        """
        column = self._label_column(label)
        count = int(self.n_features[index])
        words = self.extras["word_ids"][index, :count]
        spans = self._offsets(index)
        values = self.values[index, :count, column]
        text = self.text(index)
        result = []
        for word in np.unique(words):
            members = np.flatnonzero(words == word)
            start, end = int(spans[members, 0].min()), int(spans[members, 1].max())
            result.append(WordValue(text[start:end], start, end, float(values[members].sum())))
        return sorted(result, key=lambda word: word.start)

    def to_shap(self) -> Any:
        """Return a ``shap.Explanation`` that ``shap.plots.text`` draws without duplication.

        Each token's ``data`` is its slice of the original text up to the next token (the
        whitespace after it included; empty for all but the last of several tokens that
        share characters, such as the bytes of one emoji), so a text's pieces concatenate
        to exactly the characters explained and every token keeps its own value.
        ``feature_names`` are the token strings.
        """
        import shap

        single = len(self.label_names) == 1
        counts = self.n_features.tolist()
        values = [
            self.values[i, :c, 0] if single else self.values[i, :c] for i, c in enumerate(counts)
        ]
        pieces = [np.array(self.display_pieces(i), dtype=object) for i in range(len(self))]
        names = [np.array(n, dtype=object) for n in self.feature_names]
        if len(set(counts)) <= 1:
            values_out: Any = np.stack(values) if values else self.values[..., 0]
            data_out: Any = np.stack(pieces) if pieces else np.zeros((0, 0), dtype=object)
            names_out: Any = np.stack(names) if names else np.zeros((0, 0), dtype=object)
        else:
            values_out, data_out, names_out = _ragged(values), _ragged(pieces), _ragged(names)
        return shap.Explanation(
            values=values_out,
            base_values=self.base_values[:, 0] if single else self.base_values,
            data=data_out,
            feature_names=names_out,
            output_names=self.label_names[0] if single else list(self.label_names),
        )

    def display_pieces(self, index: int) -> list[str]:
        """Each token's slice of the text, as :meth:`to_shap` gives them to shap."""
        text = self.text(index)
        start, end = (int(v) for v in self.extras["explained_range"][index])
        spans = self._offsets(index)
        if len(spans) == 0:
            return []
        bounds = [start]
        for token_start in spans[1:, 0].tolist():
            bounds.append(min(max(token_start, bounds[-1]), end))
        bounds.append(end)
        return [text[left:right] for left, right in zip(bounds[:-1], bounds[1:], strict=True)]

    def _report_html(
        self,
        max_items: int,
        *,
        titles: Sequence[str] | None = None,
        folder: Path | None = None,
    ) -> str:
        """HTML fragment for the report and the notebook: the highlights of the first
        ``max_items`` texts (see :meth:`html`), each for the labels selected for it (the
        best scored first, at most ``_REPORT_MAX_LABELS``), headed by ``titles`` (default
        ``text <i>``). ``folder`` is unused."""
        rows = list(range(min(len(self), max_items)))
        shown = list(titles[: len(rows)]) if titles is not None else None
        chosen = [self.shown_labels(row) for row in rows]
        capped = sum(len(labels) > _REPORT_MAX_LABELS for labels in chosen)
        note = (
            "Each text once per label selected for it, with the label's score: red words "
            "push that label's score up, blue words push it down, on one colour scale per "
            "text; hover a word for its value."
        )
        if capped:
            note += (
                f" Where more than {_REPORT_MAX_LABELS} labels were selected ({capped} of "
                f"these texts), the {_REPORT_MAX_LABELS} best scored are drawn."
            )
        labels = [names[:_REPORT_MAX_LABELS] for names in chosen]
        return f'<p class="note">{html_lib.escape(note)}</p>' + (
            self.html(rows, labels, page=False, titles=shown) if rows else ""
        )

    def _offsets(self, index: int) -> np.ndarray:
        return np.asarray(self.extras["offsets"][index, : self.n_features[index]], dtype=np.int64)

    def _coverage_note(self, index: int) -> str:
        """Says when a text was truncated or read in several windows; empty otherwise."""
        start, end = (int(v) for v in self.extras["explained_range"][index])
        length = len(self.text(index))
        if end < length or start > 0:
            return (
                f" - characters {start}-{end} of {length} explained; the rest lay beyond the "
                "model's window"
            )
        windows = int((self.extras["windows"][index][:, 0] >= 0).sum())
        return f" - read in {windows} windows" if windows > 1 else ""

    def shown_labels(self, index: int) -> list[str]:
        """The labels drawn for a text by default: its selected ones, best scored first (its
        best explained label if none was selected)."""
        return [self.label_names[column] for column in self._columns(index, None)]

    def _columns(self, index: int, labels: Sequence[str] | None) -> list[int]:
        if labels is not None:
            return [self._label_column(label) for label in labels]
        chosen = np.flatnonzero(self.selected[index])
        if len(chosen) == 0:
            return [int(np.argmax(self.scores[index]))]
        return chosen[np.argsort(-self.scores[index, chosen], kind="stable")].tolist()


def _page(body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>labelshap text explanations</title>\n</head>\n"
        '<body style="margin: 1.5em; max-width: 70em">\n'
        '<p style="font-family: sans-serif; color: #555">Red raised the label\'s score, blue '
        "lowered it; hover a token for its value.</p>\n"
        f"{body}\n</body>\n</html>\n"
    )


def _ragged(rows: list[np.ndarray]) -> np.ndarray:
    out = np.empty(len(rows), dtype=object)
    for index, row in enumerate(rows):
        out[index] = row
    return out
