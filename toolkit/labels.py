"""Label names, and the choice of which labels to explain for each input."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["TopK", "Threshold", "load_label_names", "select_labels", "LabelSelection"]


@dataclass(frozen=True)
class TopK:
    """Explain the ``k`` highest-scored labels of each input."""

    k: int

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"TopK(k={self.k!r}): k must be a positive integer")


@dataclass(frozen=True)
class Threshold:
    """Explain every label whose score is at least ``value`` (in the explanation space).

    Args:
        value: The lowest score selected.
        at_least: Labels selected for every input whatever their scores: where fewer
            than ``at_least`` labels reach ``value``, the best-scored ones are added
            (ties broken by label order, as :class:`TopK` does). ``Threshold(0.5,
            at_least=1)`` explains the labels scored 0.5 or more, and the best one of an
            input that has none.

    Examples:
        >>> Threshold(0.5, at_least=1)
        Threshold(value=0.5, at_least=1)
        >>> Threshold(0.5)
        Threshold(value=0.5)
    """

    value: float
    at_least: int = 0

    def __post_init__(self) -> None:
        if (
            isinstance(self.value, bool)
            or not isinstance(self.value, (int, float, np.number))
            or not np.isfinite(self.value)
        ):
            raise ValueError(f"Threshold(value={self.value!r}): value must be a finite number")
        if (
            isinstance(self.at_least, bool)
            or not isinstance(self.at_least, (int, np.integer))
            or self.at_least < 0
        ):
            raise ValueError(
                f"Threshold(at_least={self.at_least!r}): at_least must be an integer of at least 0"
            )

    def __repr__(self) -> str:
        # Without at_least when it is 0, as before it existed: a job store records this
        # text, and one written then resumes under the same selection.
        extra = f", at_least={self.at_least!r}" if self.at_least else ""
        return f"Threshold(value={self.value!r}{extra})"


LabelSelection = str | Sequence[str | int] | TopK | Threshold | None


def load_label_names(labels: Sequence[str] | str | os.PathLike) -> list[str]:
    """Read label names from a sequence of strings or a text file with one per line.

    Blank lines and surrounding whitespace in a file are ignored.

    Raises:
        ValueError: If there are no names, a name is empty, names repeat, or the file is
            a directory or not UTF-8.
        FileNotFoundError: If the file does not exist.
    """
    if isinstance(labels, (str, os.PathLike)):
        path = Path(labels)
        if path.is_dir():
            raise ValueError(
                f"labels file {str(path)!r} is a directory; accepted: a text file with one "
                "label name per line"
            )
        if not path.is_file():
            raise FileNotFoundError(f"labels file {str(path)!r} does not exist")
        try:
            content = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as err:
            raise ValueError(
                f"labels file {str(path)!r} is not UTF-8 text ({err.reason} at byte "
                f"{err.start}); accepted: a UTF-8 text file with one label name per line"
            ) from err
        names = [line.strip() for line in content.splitlines()]
        names = [name for name in names if name]
        origin = f"labels file {str(path)!r}"
    else:
        names = list(labels)
        origin = "labels"
        bad = [name for name in names if not isinstance(name, str) or not name.strip()]
        if bad:
            raise ValueError(f"{origin}: every name must be a non-empty string; got {bad!r}")
    if not names:
        raise ValueError(f"{origin} holds no label names; accepted: one name per line")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{origin} repeats names {repeated!r}; label names must be unique")
    return names


def select_labels(
    selection: LabelSelection, scores: np.ndarray, label_names: Sequence[str]
) -> np.ndarray:
    """Decide which labels to explain for each input.

    Args:
        selection: ``None`` or ``"all"`` for every label; a list of label names or
            indices; ``TopK(k)`` for the k best-scored labels of each input;
            ``Threshold(t)`` for labels scored at least ``t`` (``Threshold(t,
            at_least=n)``: and each input's ``n`` best, where fewer reach ``t``).
        scores: ``(n, n_labels)`` model scores of the inputs.
        label_names: The model's label names.

    Returns:
        ``(n, n_labels)`` boolean array, True where a label is selected for an input.

    Raises:
        ValueError: If a named label is unknown or the selection is of another kind.
    """
    n_rows, n_labels = scores.shape
    if selection is None or (isinstance(selection, str) and selection == "all"):
        return np.ones((n_rows, n_labels), dtype=bool)
    if isinstance(selection, TopK):
        return _best(scores, selection.k)
    if isinstance(selection, Threshold):
        # The k best always reach the threshold when k labels do, so the union adds labels
        # only to inputs with fewer than at_least above it.
        return (scores >= selection.value) | _best(scores, selection.at_least)
    if isinstance(selection, np.ndarray) and selection.ndim == 1:
        selection = selection.tolist()
    if isinstance(selection, str) or not isinstance(selection, Sequence):
        raise ValueError(
            f"labels={selection!r} is not a label selection; accepted: 'all', a list of "
            "label names or indices, TopK(k) or Threshold(value)"
        )
    columns = [_column(label, label_names) for label in selection]
    if not columns:
        raise ValueError("labels=[] selects nothing; give at least one label name")
    chosen = np.zeros((n_rows, n_labels), dtype=bool)
    chosen[:, columns] = True
    return chosen


def _best(scores: np.ndarray, k: int) -> np.ndarray:
    """True at each row's ``k`` best scores (ties broken by label order)."""
    n_rows, n_labels = scores.shape
    order = np.argsort(-scores, axis=1, kind="stable")[:, : min(k, n_labels)]
    chosen = np.zeros((n_rows, n_labels), dtype=bool)
    np.put_along_axis(chosen, order, True, axis=1)
    return chosen


def _column(label: str | int, label_names: Sequence[str]) -> int:
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        if 0 <= label < len(label_names):
            return int(label)
        raise ValueError(f"label index {label!r} is out of range 0..{len(label_names) - 1}")
    if label in label_names:
        return list(label_names).index(label)
    raise ValueError(f"label {label!r} is not one of the model's labels {list(label_names)}")
