"""Tables of numeric features: their column layout, validation and CSV files.

A :class:`TableLayout` says how the columns of a flat feature table feed a model: one
matrix, or several named inputs of a multi-input Keras model; and how columns form
features: one column each, or several columns (the one-hot columns of a category) that
count as one feature. Every table a masker receives, background or rows to explain, is
normalised here into one float64 matrix whose columns follow the layout.

Example:
    >>> import numpy as np
    >>> layout = TableLayout.from_names(["age", "c=a", "c=b"], groups={"c": ["c=a", "c=b"]})
    >>> layout.feature_names, layout.feature_columns
    (['age', 'c'], [[0], [1, 2]])
    >>> to_matrix(np.array([[30.0, 0, 1]]), layout, "rows").tolist()
    [[30.0, 0.0, 1.0]]
"""

from __future__ import annotations

import csv
import io
import math
import numbers
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "TableLayout",
    "to_matrix",
    "read_csv",
    "read_header",
    "write_csv",
    "parse_cell",
    "check_columns",
]


@dataclass(frozen=True)
class TableLayout:
    """Columns of a feature table, the model inputs they feed, and the features they form.

    Attributes:
        column_names: One name per column of the flat table, in order.
        inputs: ``(input name, width)`` per named model input, in column order: the
            first ``width`` columns feed the first input, and so on. Empty when the model
            takes one matrix.
        feature_names: One name per feature: a column's name, or a group's name.
        feature_columns: Per feature, the indices of its columns.
        categorical: Names of columns holding category codes (compared by equality,
            never by magnitude).
    """

    column_names: list[str]
    inputs: list[tuple[str, int]]
    feature_names: list[str]
    feature_columns: list[list[int]]
    categorical: list[str]

    @classmethod
    def from_names(
        cls,
        column_names: Sequence[str],
        *,
        inputs: Mapping[str, Sequence[str]] | None = None,
        groups: Mapping[str, Sequence[str]] | None = None,
        categorical: Sequence[str] | None = None,
    ) -> TableLayout:
        """Build a layout from column names, and check that the pieces agree.

        Args:
            column_names: Names of the table's columns.
            inputs: For a multi-input model, input name -> the names of its columns, in
                the order the input takes them. Together they must cover every column
                once; the flat table is then reordered input by input.
            groups: Feature name -> column names that are hidden and kept together.
            categorical: Names of columns holding category codes.

        Raises:
            ValueError: If names repeat, or ``inputs``, ``groups`` or ``categorical``
                name unknown columns or claim a column twice.
        """
        names = [str(name) for name in column_names]
        _check_unique(names, "column names")
        input_list: list[tuple[str, int]] = []
        if inputs:
            claimed = [str(column) for columns in inputs.values() for column in columns]
            _check_known(claimed, names, "inputs")
            _check_unique(claimed, "columns of inputs")
            left_out = [name for name in names if name not in set(claimed)]
            if left_out:
                raise ValueError(
                    f"inputs leave columns {left_out!r} unassigned; every column must feed "
                    f"one model input (inputs given: {sorted(inputs)!r})"
                )
            names = claimed
            input_list = [(str(name), len(columns)) for name, columns in inputs.items()]

        groups = {str(name): [str(c) for c in columns] for name, columns in (groups or {}).items()}
        grouped = [column for columns in groups.values() for column in columns]
        _check_known(grouped, names, "groups")
        _check_unique(grouped, "columns of groups")
        empty = [name for name, columns in groups.items() if not columns]
        clashing = [name for name in groups if name in names and name not in grouped]
        if empty or clashing:
            raise ValueError(
                f"groups {empty!r} are empty and groups {clashing!r} share the name of a "
                "column outside them; a group needs columns and a name of its own"
            )

        categorical = [str(name) for name in (categorical or [])]
        _check_known(categorical, names, "categorical")

        # Features in column order: a group stands where its first column stands.
        position = {name: index for index, name in enumerate(names)}
        group_of = {column: name for name, columns in groups.items() for column in columns}
        feature_names: list[str] = []
        feature_columns: list[list[int]] = []
        for name in names:
            feature = group_of.get(name, name)
            if feature in feature_names:
                continue
            feature_names.append(feature)
            members = groups.get(feature, [name])
            feature_columns.append(sorted(position[column] for column in members))
        return cls(names, input_list, feature_names, feature_columns, categorical)

    @property
    def n_columns(self) -> int:
        """Number of columns of the flat table."""
        return len(self.column_names)

    @property
    def n_features(self) -> int:
        """Number of features (a group counts once)."""
        return len(self.feature_names)

    def expansion(self) -> np.ndarray:
        """``(n_features, n_columns)`` 0/1 matrix: which columns each feature covers."""
        matrix = np.zeros((self.n_features, self.n_columns), dtype=np.float32)
        for feature, columns in enumerate(self.feature_columns):
            matrix[feature, columns] = 1.0
        return matrix

    def split(self, matrix: np.ndarray) -> np.ndarray | dict[str, np.ndarray]:
        """The model's input batch: the matrix, or one block of columns per named input."""
        if not self.inputs:
            return matrix
        blocks, start = {}, 0
        for name, width in self.inputs:
            blocks[name] = matrix[:, start : start + width]
            start += width
        return blocks

    def feature_values(self, matrix: np.ndarray) -> np.ndarray:
        """``(n, n_features)`` one number per feature: a column's value; for a group, the
        position of its largest column (the category of a one-hot group)."""
        values = np.zeros((len(matrix), self.n_features))
        for feature, columns in enumerate(self.feature_columns):
            block = matrix[:, columns]
            values[:, feature] = block[:, 0] if len(columns) == 1 else np.argmax(block, axis=1)
        return values


def to_matrix(table: Any, layout: TableLayout, argument: str) -> np.ndarray:
    """Normalise a table into a finite float64 matrix whose columns follow ``layout``.

    Args:
        table: A 2-D array (one row per input; a 1-D array is one row) whose columns
            are in layout order, a pandas DataFrame whose column names are the layout's
            (in any order), a mapping of named model inputs (each ``(n, width)``, or
            ``(n,)`` for a one-column input), or a mapping of named columns (1-D each).
        layout: The columns expected.
        argument: The argument's name, for error messages.

    Raises:
        ValueError: If columns are missing or extra, widths or row counts differ, the
            table has no rows, or a value is NaN or infinite (the message names the row
            and the column).
        TypeError: If a column holds text or another non-numeric type, or the table is
            None, a string or a single number.
    """
    if isinstance(table, Mapping):
        matrix = _from_mapping(table, layout, argument)
    elif _is_dataframe(table):
        check_columns([str(name) for name in table.columns], layout.column_names, argument)
        columns = [_numeric(table[name].to_numpy(), name, argument) for name in layout.column_names]
        matrix = np.stack(columns, axis=1) if columns else np.zeros((len(table), 0))
    else:
        array = _as_array(table, layout, argument)
        array = array[None, :] if array.ndim == 1 else array
        if array.ndim != 2:
            raise ValueError(
                f"{argument} has shape {array.shape!r}; accepted: a 2-D array (rows x "
                f"{layout.n_columns} columns), a DataFrame or a mapping of named inputs"
            )
        if array.shape[1] != layout.n_columns:
            raise ValueError(
                f"{argument} has {array.shape[1]} columns but {layout.n_columns} are expected "
                f"({_preview(layout.column_names)}); pass a DataFrame or a mapping of named "
                "inputs to match columns by name"
            )
        columns = [
            _numeric(array[:, j], name, argument) for j, name in enumerate(layout.column_names)
        ]
        matrix = np.stack(columns, axis=1) if columns else np.zeros((len(array), 0))

    if len(matrix) == 0:
        raise ValueError(f"{argument} has no rows; give at least one")
    _check_finite(matrix, layout.column_names, argument)
    _check_categories(matrix, layout, argument)
    return matrix


def read_csv(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Read a CSV file of numbers with a header line: ``(column names, (n, C) float64)``.

    An empty cell, NaN or an infinity is refused, with its line and column.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the path is a directory, the file is not UTF-8, the header is
            missing or repeats a name, a row has another number of cells, or a cell is not
            a number (the message names the line and the column).
    """
    path = Path(path)
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    header = next(reader, None)
    if not header:
        raise ValueError(f"CSV file {str(path)!r} is empty; expected a header line")
    rows = []
    for line, cells in enumerate(reader, start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            raise ValueError(
                f"{str(path)!r} line {line} has {len(cells)} cells but the header names "
                f"{len(header)} columns"
            )
        rows.append(
            [parse_cell(cell, path, line, name) for cell, name in zip(cells, header, strict=True)]
        )
    names = [name.strip() for name in header]
    _check_unique(names, f"columns of {str(path)!r}")
    return names, np.array(rows, dtype=np.float64).reshape(len(rows), len(names))


def read_header(path: str | os.PathLike) -> list[str]:
    """The column names of a CSV file's header line (stripped), reading nothing more.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the path is a directory, the header is not UTF-8, or the file is
            empty.
    """
    path = Path(path)
    _check_file(path)
    with path.open("rb") as handle:
        first = handle.readline()
    try:
        line = first.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise _not_utf8(path, err) from err
    header = next(csv.reader([line]), None)
    if not header or not any(cell.strip() for cell in header):
        raise ValueError(f"CSV file {str(path)!r} is empty; expected a header line")
    return [name.strip() for name in header]


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise ValueError(f"CSV file {str(path)!r} is a directory; accepted: a CSV file")
    if not path.is_file():
        raise FileNotFoundError(f"CSV file {str(path)!r} does not exist")


def _read_text(path: Path) -> str:
    """A CSV file's text; a byte-order mark (as spreadsheets write) is dropped."""
    _check_file(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise _not_utf8(path, err) from err


def _not_utf8(path: Path, err: UnicodeDecodeError) -> ValueError:
    return ValueError(
        f"CSV file {str(path)!r} is not UTF-8 text ({err.reason} at byte {err.start}); "
        "accepted: a UTF-8 CSV file (re-save it as UTF-8)"
    )


def write_csv(path: str | os.PathLike, column_names: Sequence[str], matrix: np.ndarray) -> Path:
    """Write a header line and one line per row.

    Each number is written in the shortest form that reads back to the same value of
    the matrix's dtype (float32 ``0.1`` as ``0.1``, not ``0.10000000149011612``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    matrix = np.asarray(matrix)
    matrix = matrix.astype(np.int64) if matrix.dtype == bool else matrix
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(column_names)
        writer.writerows([[str(value) for value in row] for row in matrix])
    return path


def _as_array(table: Any, layout: TableLayout, argument: str) -> np.ndarray:
    """A table that is neither a mapping nor a DataFrame as an array, or a clear error."""
    accepted = (
        f"a 2-D array (rows x {layout.n_columns} columns), a DataFrame or a mapping of named inputs"
    )
    if table is None or isinstance(table, (str, bytes, numbers.Number)):
        raise TypeError(
            f"{argument} is a {type(table).__name__} ({table!r:.60}); accepted: {accepted}"
        )
    try:
        return np.asarray(table)
    except ValueError as err:
        # Rows of different lengths (a ragged list of lists).
        lengths = sorted({len(row) for row in table if hasattr(row, "__len__")})
        raise ValueError(
            f"{argument} has rows of different lengths {lengths!r}; accepted: {accepted}"
        ) from err


def _from_mapping(table: Mapping, layout: TableLayout, argument: str) -> np.ndarray:
    """Named inputs (keys are the layout's input names) or named columns (one per key)."""
    keys = [str(name) for name in table]
    input_names = [name for name, _ in layout.inputs]
    as_inputs = bool(set(keys) & set(input_names)) and not set(keys) <= set(layout.column_names)
    if not as_inputs:
        check_columns(keys, layout.column_names, argument)
        columns = [np.asarray(table[name]) for name in layout.column_names]
        shapes = {
            name: column.shape for name, column in zip(layout.column_names, columns, strict=True)
        }
        if any(len(shape) != 1 for shape in shapes.values()) or len(set(shapes.values())) > 1:
            raise ValueError(
                f"{argument}: named columns must be 1-D of one length; got shapes {shapes!r} "
                f"(named model inputs are {input_names!r})"
            )
        return np.stack(
            [
                _numeric(column, name, argument)
                for name, column in zip(layout.column_names, columns, strict=True)
            ],
            axis=1,
        )

    check_columns(keys, input_names, argument, kind="inputs")
    blocks, counts = [], {}
    start = 0
    for name, width in layout.inputs:
        block = np.asarray(table[name])
        block = block[:, None] if block.ndim == 1 else block
        if block.ndim != 2 or block.shape[1] != width:
            raise ValueError(
                f"{argument}[{name!r}] has shape {block.shape!r}; expected (n, {width})"
            )
        names = layout.column_names[start : start + width]
        blocks.append(
            np.stack([_numeric(block[:, j], c, argument) for j, c in enumerate(names)], axis=1)
        )
        counts[name] = len(block)
        start += width
    if len(set(counts.values())) > 1:
        raise ValueError(f"{argument}: named inputs have different row counts {counts!r}")
    return np.concatenate(blocks, axis=1)


def check_columns(
    given: list[str], expected: list[str], argument: str, kind: str = "columns"
) -> None:
    """Refuse repeated, missing or extra names; the message names them and ``argument``.

    Raises:
        ValueError: If ``given`` repeats a name, lacks one of ``expected`` or has others.
    """
    _check_unique(given, f"{kind} of {argument}")
    missing = [name for name in expected if name not in set(given)]
    extra = [name for name in given if name not in set(expected)]
    if missing or extra:
        problems = [f"lacks {kind} {missing!r}"] if missing else []
        problems += [f"has extra {kind} {extra!r}"] if extra else []
        raise ValueError(
            f"{argument} {' and '.join(problems)}; expected exactly the masker's {kind} "
            f"({_preview(expected)})"
        )


def _numeric(column: np.ndarray, name: str, argument: str) -> np.ndarray:
    """One column as float64; text or objects that are not numbers raise TypeError."""
    column = np.asarray(column)
    if column.dtype.kind in "biuf":
        return column.astype(np.float64)
    if column.dtype.kind == "O":
        bad = [v for v in column if isinstance(v, (str, bytes)) or not _is_number(v)]
        if not bad:
            return column.astype(np.float64)
        example = bad[0]
    else:
        example = column[0] if len(column) else None
    raise TypeError(
        f"{argument} column {name!r} has dtype {column.dtype.name!r} with values such as "
        f"{example!r}; accepted: numbers (encode categories as codes or one-hot columns)"
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool | np.bool_)


def _check_finite(matrix: np.ndarray, column_names: list[str], argument: str) -> None:
    bad = ~np.isfinite(matrix)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{argument} holds {float(matrix[row, column])!r} at row {row}, column "
            f"{column_names[column]!r} ({int(bad.sum())} non-finite cells in all); "
            "impute or drop them first"
        )


def _check_categories(matrix: np.ndarray, layout: TableLayout, argument: str) -> None:
    for name in layout.categorical:
        column = matrix[:, layout.column_names.index(name)]
        fractional = np.flatnonzero(column != np.round(column))
        if len(fractional):
            row = int(fractional[0])
            raise ValueError(
                f"{argument} categorical column {name!r} holds {float(column[row])!r} at row "
                f"{row}; category codes must be whole numbers"
            )


def _check_known(names: list[str], known: list[str], argument: str) -> None:
    unknown = [name for name in names if name not in set(known)]
    if unknown:
        raise ValueError(f"{argument} names unknown columns {unknown!r}; known: {_preview(known)}")


def _check_unique(names: list[str], what: str) -> None:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{what} repeat {repeated!r}; each must appear once")


def parse_cell(cell: str, path: Path, line: int, column: str) -> float:
    """One CSV cell as a finite number.

    Raises:
        ValueError: If the cell is empty, not a number, or NaN or infinite; the message
            names the file, the line (counting the header as line 1) and the column.
    """
    text = cell.strip()
    where = f"{str(path)!r} line {line}, column {column!r}"
    if not text:
        raise ValueError(
            f"{where} is empty; accepted: a number (impute or drop missing values first)"
        )
    try:
        value = float(text)
    except ValueError as err:
        raise ValueError(f"{where}: {cell!r} is not a number") from err
    if not math.isfinite(value):
        raise ValueError(
            f"{where} holds {text!r}, not a finite number; accepted: finite numbers (impute "
            "or drop missing values first)"
        )
    return value


def _is_dataframe(table: Any) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(table, pandas.DataFrame)


def _preview(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(repr(name) for name in names[:limit])
    more = f", ... {len(names) - limit} more" if len(names) > limit else ""
    return f"{len(names)} columns: {shown}{more}"
