"""``labelshap explain tabular`` and ``labelshap demo tabular``."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from labelshap._words import counted
from labelshap.arguments import integer_at_least, share
from labelshap.jobs import positions_from
from labelshap.sources import iter_records

from .demo import SCHEMA_FILE
from .demo import run_demo as _run_demo
from .masker import IndependentMasker, PartitionMasker
from .table import check_columns, parse_cell, read_csv, read_header

__all__ = [
    "add_explain_arguments",
    "build_explainer",
    "run_explain",
    "run_demo",
    "MASKERS",
    "load_schema",
    "row_sources",
]

logger = logging.getLogger(__name__)

# The labels explained without --label, --top-k or --threshold, as --help says it.
# The masker class whose algorithms the command offers (labelshap.engines.masker_algorithms).
MASKER = IndependentMasker
DEFAULT_LABELS = "every label"
# What `labelshap demo` prints of the summary (section.key), the rest is in summary.json.
DEMO_HEADLINE = (
    "model.macro_auc",
    "model.activity_baseline_macro_auc",
    "explanations.deletion_ratio",
    "explanations.flagged_features",
    "explanations.count",
    "explanations.seconds",
)
MASKERS = {"independent": IndependentMasker, "partition": PartitionMasker}
SCHEMA_KEYS = ("inputs", "groups", "categorical")


def add_explain_arguments(parser: argparse.ArgumentParser) -> None:
    """Tabular options of ``labelshap explain tabular``."""
    # One evaluation is one model row per background row: large batches pay off.
    # Each evaluation is one model row per background row: larger calls.
    parser.set_defaults(batch_size=4096)
    parser.add_argument(
        "rows", type=Path, help="CSV of rows to explain (streamed); header = column names"
    )
    parser.add_argument(
        "--background",
        type=Path,
        required=True,
        help="CSV of background rows (real data), same columns as the rows",
    )
    parser.add_argument("--masker", choices=sorted(MASKERS), default="independent")
    parser.add_argument(
        "--summarize",
        type=integer_at_least(1),
        metavar="K",
        help="summarise the background to K k-means centres",
    )
    parser.add_argument(
        "--schema",
        type=Path,
        help="JSON with 'inputs' (model input -> columns), 'groups' (feature -> columns), "
        f"'categorical' (columns); default: {SCHEMA_FILE} next to the model, if present",
    )
    parser.add_argument(
        "--sensitive",
        action="append",
        default=[],
        metavar="NAME",
        help="report this feature's share of each label's attribution (repeatable)",
    )
    parser.add_argument(
        "--top", type=integer_at_least(1), default=3, help="drivers per label in the audit"
    )
    parser.add_argument(
        "--flag-share",
        type=share,
        default=0.9,
        help="flag a feature among the top drivers of at least this share of labels",
    )
    parser.add_argument(
        "--waterfall-row",
        type=integer_at_least(0),
        default=0,
        help="row drawn in the waterfall charts",
    )
    parser.add_argument(
        "--id-column",
        metavar="NAME",
        help="a column of ROWS.csv that names each row (not a feature); default: line-N",
    )


def run_explain(args: argparse.Namespace) -> int:
    """Explain the rows of a CSV as a resumable batch job; at the end write the charts and
    the audit table over every row the store holds."""
    from labelshap.cli import label_selection, run_job_command
    from labelshap.explanation import load_explanation
    from labelshap.sources import count_records

    if not args.rows.is_file():
        raise FileNotFoundError(f"rows file {str(args.rows)!r} does not exist")
    if args.rows.suffix.lower() != ".csv":
        raise ValueError(
            f"rows file {str(args.rows)!r} has suffix {args.rows.suffix!r}; accepted: a .csv "
            "file with a header line of column names"
        )
    total = count_records(args.rows)
    if not total:
        raise ValueError(
            f"no inputs: rows file {str(args.rows)!r} holds no rows after its header line; "
            "accepted: a .csv file of a header line and at least one row of numbers"
        )
    explainer = build_explainer(args)
    masker = explainer.masker
    unknown = [name for name in args.sensitive or () if name not in masker.feature_names]
    if unknown:
        raise ValueError(
            f"--sensitive {unknown!r} are not features of {str(args.background)!r}; "
            f"accepted: {masker.feature_names!r}"
        )
    header = [name for name in read_header(args.rows) if name != args.id_column]
    if args.id_column is not None and len(header) == len(read_header(args.rows)):
        raise ValueError(
            f"--id-column {args.id_column!r} is not a column of {str(args.rows)!r}; accepted: "
            f"{read_header(args.rows)!r}"
        )
    check_columns(header, masker.column_names, "rows")

    def finish(store: Any) -> None:
        explanation = load_explanation(store.folder)
        rows = (args.waterfall_row,) if args.waterfall_row < len(explanation) else ()
        if not rows:
            logger.warning(
                "--waterfall-row %d is not among the %s: no waterfall charts",
                args.waterfall_row,
                counted(len(explanation), "explained row"),
            )
        charts = explanation.save_charts(args.out / "charts", rows=rows)
        audit = explanation.save_audit(
            args.out, args.top, args.sensitive, flag_share=args.flag_share
        )
        logger.info("wrote %s, audit.csv and audit.md", counted(len(charts), "chart"))
        print(audit.to_markdown(), end="")

    return run_job_command(
        args,
        explainer,
        positions_from(row_sources(args.rows, args.id_column)),
        labels=label_selection(args),
        total=total,
        finish=finish,
    )


def row_sources(path: Path, id_column: str | None = None) -> Iterator[tuple[str, Any]]:
    """``(id, row)`` for each row of a CSV of numbers, read one line at a time.

    A row is a mapping of column name to a one-element array (the masker matches the
    columns by name); a row that cannot be read, or holds a cell that is not a number,
    is yielded as its error so that the job records it and goes on. Rows are named
    ``line-N`` (their line in the file), or by the ``id_column`` cell.
    """
    for where, record in iter_records(path):
        if isinstance(record, Exception):
            yield where, record
            continue
        item_id = where
        if id_column is not None and id_column in record:
            item_id = record.pop(id_column).strip() or where
        line = int(where.removeprefix("line-"))
        try:
            row = {
                name: np.array([parse_cell(cell, path, line, name)])
                for name, cell in record.items()
            }
        except ValueError as err:
            yield item_id, err
            continue
        yield item_id, row


def run_demo(out_dir: Path, *, seed: int = 0) -> dict[str, Any]:
    """The tabular part of ``labelshap demo``."""
    return _run_demo(out_dir, seed=seed)


def build_explainer(args: argparse.Namespace) -> Any:
    """The explainer the options describe (built by the driver and by each Ray worker)."""
    from labelshap.cli import load_model, make_explainer

    model = load_model(args)
    schema = load_schema(args.schema, Path(args.model))
    background_names, background = read_csv(args.background)
    masker = MASKERS[args.masker](
        background,
        feature_names=background_names,
        summarize=args.summarize,
        seed=args.seed,
        **schema,
    )
    return make_explainer(args, model, masker)


def load_schema(path: Path | None, model_path: Path | None = None) -> dict[str, Any]:
    """Read a column schema: the masker's ``inputs``, ``groups`` and ``categorical``.

    Args:
        path: The JSON file; None looks for ``schema.json`` beside ``model_path``.
        model_path: The model's path.

    Returns:
        Keyword arguments for the masker (empty when no schema is found).

    Raises:
        FileNotFoundError: If ``path`` is given and does not exist.
        ValueError: If the file is not a JSON object of the accepted keys.
    """
    if path is None:
        beside = model_path.parent / SCHEMA_FILE if model_path is not None else None
        if beside is None or not beside.is_file():
            return {}
        logger.info("reading the column schema %s found beside the model", beside)
        path = beside
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"schema file {str(path)!r} does not exist")
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"schema file {str(path)!r} is not valid JSON: {err}") from err
    if not isinstance(schema, dict) or not set(schema) <= set(SCHEMA_KEYS):
        keys = sorted(schema) if isinstance(schema, dict) else type(schema).__name__
        raise ValueError(
            f"schema file {str(path)!r} holds {keys!r}; accepted: a JSON object with keys "
            f"among {list(SCHEMA_KEYS)!r}"
        )
    return schema
