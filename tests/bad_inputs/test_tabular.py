"""Bad tables: each kind gets a clear error or is handled (see docs/bad-inputs.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from bad_inputs.cases import COLUMNS, Context, check_bound, refuse

from labelshap.modalities.tabular.table import read_csv


def rows_refused(kind: type[Exception], pattern: str, rows) -> Any:
    def action(ctx: Context) -> None:
        table = rows(ctx) if callable(rows) else rows
        ctx.table_masker.prepare(table, ctx.table_model)

    return refuse(kind, pattern, action)


def csv_rows(name: str) -> Any:
    """Read a CSV file, then give its rows to the masker by column name."""

    def read(ctx: Context) -> dict[str, np.ndarray]:
        names, matrix = read_csv(ctx.files / name)
        return {column: matrix[:, j] for j, column in enumerate(names)}

    return read


def frame(data: dict[str, list[Any]] | list[list[Any]], columns=None) -> Any:
    pandas = pytest.importorskip("pandas")
    return pandas.DataFrame(data, columns=columns)


# The tabular cases


def bom_csv_is_read(ctx: Context) -> None:
    names, matrix = read_csv(ctx.files / "bom.csv")
    assert names == COLUMNS
    prepared = ctx.table_masker.prepare(dict(zip(names, matrix.T, strict=True)), ctx.table_model)
    bound = ctx.table_masker.bind(prepared[0], ctx.table_model)
    check_bound(ctx.table_masker, prepared, bound, ctx.table_model)


def nan_row_bound_without_prepare(ctx: Context) -> None:
    with pytest.raises(ValueError, match=r"item holds nan at row 0, column 'q'"):
        ctx.table_masker.bind(np.array([1.0, np.nan, 2.0]), ctx.table_model)


TABLE_CASES = [
    pytest.param(
        rows_refused(
            ValueError,
            r"rows holds nan at row 1, column 'r'.*impute",
            np.array([[1, 2, 3], [4, 5, np.nan]]),
        ),
        id="tabular-nan",
    ),
    pytest.param(
        rows_refused(
            ValueError, r"rows holds inf at row 0, column 'p'", np.array([[np.inf, 2, 3]])
        ),
        id="tabular-inf",
    ),
    pytest.param(
        rows_refused(
            ValueError,
            r"rows lacks columns \['r'\]; expected exactly",
            lambda ctx: frame({"p": [1.0], "q": [2.0]}),
        ),
        id="tabular-missing-columns",
    ),
    pytest.param(
        rows_refused(
            ValueError,
            r"rows has extra columns \['s'\]",
            lambda ctx: frame({"p": [1.0], "q": [2.0], "r": [3.0], "s": [4.0]}),
        ),
        id="tabular-extra-columns",
    ),
    pytest.param(
        rows_refused(
            TypeError,
            r"rows column 'q' has dtype 'object' with values such as 'two'; accepted: numbers",
            lambda ctx: frame({"p": [1.0], "q": ["two"], "r": [3.0]}),
        ),
        id="tabular-strings-in-numeric-column",
    ),
    pytest.param(
        rows_refused(
            TypeError,
            r"rows column 'p' has dtype 'str\d+'.*accepted: numbers",
            np.array([["1", "2", "x"]]),
        ),
        id="tabular-string-array",
    ),
    pytest.param(
        rows_refused(
            TypeError,
            r"column 'q' has dtype 'object' with values such as None",
            np.array([[1.0, None, 3.0]], dtype=object),
        ),
        id="tabular-none-cell",
    ),
    pytest.param(
        rows_refused(
            ValueError, r"empty\.csv' is empty; expected a header line", csv_rows("empty.csv")
        ),
        id="tabular-empty-file",
    ),
    pytest.param(
        rows_refused(ValueError, r"rows has no rows; give at least one", csv_rows("header.csv")),
        id="tabular-header-only",
    ),
    pytest.param(
        rows_refused(
            ValueError, r"columns of '.*duplicate\.csv' repeat \['p'\]", csv_rows("duplicate.csv")
        ),
        id="tabular-duplicate-column-names-in-file",
    ),
    pytest.param(
        rows_refused(
            ValueError,
            r"columns of rows repeat \['p'\]",
            lambda ctx: frame([[1.0, 2.0, 3.0]], columns=["p", "p", "r"]),
        ),
        id="tabular-duplicate-column-names-in-dataframe",
    ),
    pytest.param(
        rows_refused(
            ValueError,
            r"ragged\.csv' line 3 has 2 cells but the header names 3",
            csv_rows("ragged.csv"),
        ),
        id="tabular-ragged-rows-in-file",
    ),
    pytest.param(
        rows_refused(
            ValueError,
            r"rows has rows of different lengths \[2, 3\]; accepted",
            [[1, 2, 3], [4, 5]],
        ),
        id="tabular-ragged-list-of-rows",
    ),
    pytest.param(
        rows_refused(ValueError, r"rows has 4 columns but 3 are expected", np.zeros((2, 4))),
        id="tabular-wrong-row-width-array",
    ),
    pytest.param(
        rows_refused(
            ValueError, r"rows has shape \(1, 1, 3\); accepted: a 2-D array", np.zeros((1, 1, 3))
        ),
        id="tabular-3-d-array",
    ),
    pytest.param(
        rows_refused(ValueError, r"rows has no rows", np.zeros((0, 3))),
        id="tabular-zero-rows-array",
    ),
    pytest.param(
        rows_refused(TypeError, r"rows is a NoneType \(None\); accepted: a 2-D array", None),
        id="tabular-none",
    ),
    pytest.param(
        rows_refused(
            ValueError,
            r"word\.csv' line 2, column 'q': 'two' is not a number",
            csv_rows("word.csv"),
        ),
        id="tabular-word-in-numeric-csv-column",
    ),
    pytest.param(
        rows_refused(
            ValueError,
            r"nan\.csv' line 2, column 'q' is empty; accepted: a number",
            csv_rows("nan.csv"),
        ),
        id="tabular-empty-csv-cell",
    ),
    pytest.param(
        rows_refused(
            ValueError,
            r"nan-word\.csv' line 3, column 'q' holds 'NaN', not a finite number; accepted",
            csv_rows("nan-word.csv"),
        ),
        id="tabular-nan-written-in-csv",
    ),
    pytest.param(
        rows_refused(
            ValueError,
            r"inf-word\.csv' line 2, column 'p' holds '-inf', not a finite number",
            csv_rows("inf-word.csv"),
        ),
        id="tabular-infinity-written-in-csv",
    ),
    pytest.param(
        rows_refused(ValueError, r"latin1\.csv' is not UTF-8 text", csv_rows("latin1.csv")),
        id="tabular-non-utf8-file",
    ),
    pytest.param(
        rows_refused(FileNotFoundError, r"missing\.csv' does not exist", csv_rows("missing.csv")),
        id="tabular-missing-file",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"CSV file '.*bad-inputs\d*' is a directory",
            lambda ctx: read_csv(ctx.files),
        ),
        id="tabular-directory-given-as-file",
    ),
    pytest.param(
        rows_refused(
            ValueError,
            r"rows holds 1e\+300 at row 0, column 'q', beyond float32",
            np.array([[0.0, 1e300, 0.0]]),
        ),
        id="tabular-values-beyond-float32",
    ),
    pytest.param(bom_csv_is_read, id="tabular-csv-with-byte-order-mark"),
    pytest.param(nan_row_bound_without_prepare, id="tabular-nan-bound-without-prepare"),
]


@pytest.mark.parametrize("case", TABLE_CASES)
def test_tabular_input(ctx, case):
    case(ctx)
