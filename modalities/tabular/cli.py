"""``labelshap explain tabular`` and ``labelshap demo tabular``."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from .demo import SCHEMA_FILE
from .demo import run_demo as _run_demo
from .masker import IndependentMasker, PartitionMasker
from .table import read_csv

__all__ = ["add_explain_arguments", "run_explain", "run_demo", "MASKERS", "load_schema"]

logger = logging.getLogger(__name__)

MASKERS = {"independent": IndependentMasker, "partition": PartitionMasker}
SCHEMA_KEYS = ("inputs", "groups", "categorical")


def add_explain_arguments(parser: argparse.ArgumentParser) -> None:
    """Tabular options of ``labelshap explain tabular``."""
    # One evaluation is one model row per background row: large batches pay off.
    parser.set_defaults(batch_size=4096)
    parser.add_argument("rows", type=Path, help="CSV of rows to explain; header = column names")
    parser.add_argument(
        "--background",
        type=Path,
        required=True,
        help="CSV of background rows (real data), same columns as the rows",
    )
    parser.add_argument("--masker", choices=sorted(MASKERS), default="independent")
    parser.add_argument(
        "--summarize", type=int, help="summarise the background to K k-means centres"
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
    parser.add_argument("--top", type=int, default=3, help="drivers per label in the audit")
    parser.add_argument(
        "--flag-share",
        type=float,
        default=0.9,
        help="flag a feature among the top drivers of at least this share of labels",
    )
    parser.add_argument(
        "--waterfall-row", type=int, default=0, help="row drawn in the waterfall charts"
    )


def run_explain(args: argparse.Namespace) -> int:
    """Explain the rows of a CSV; write charts, the audit table and the saved explanation."""
    from labelshap.cli import label_selection, load_model, make_explainer

    model = load_model(args)
    schema = load_schema(args.schema, Path(args.model))
    background_names, background = read_csv(args.background)
    row_names, rows = read_csv(args.rows)
    masker = MASKERS[args.masker](
        background,
        feature_names=background_names,
        summarize=args.summarize,
        seed=args.seed,
        **schema,
    )
    unknown = [name for name in args.sensitive or () if name not in masker.feature_names]
    if unknown:
        raise ValueError(
            f"--sensitive {unknown!r} are not features of {str(args.background)!r}; "
            f"accepted: {masker.feature_names!r}"
        )
    if not 0 <= args.waterfall_row < len(rows):
        raise ValueError(
            f"--waterfall-row {args.waterfall_row} is not a row of {str(args.rows)!r} "
            f"(rows 0..{len(rows) - 1})"
        )
    explainer = make_explainer(args, model, masker)
    # Rows as named columns: matched to the background's columns by name.
    named_rows = {name: rows[:, j] for j, name in enumerate(row_names)}
    explanation = explainer.explain(named_rows, label_selection(args))

    args.out.mkdir(parents=True, exist_ok=True)
    saved = explanation.save(args.out / "explanation")
    charts = explanation.save_charts(args.out / "charts", rows=(args.waterfall_row,))
    audit = explanation.save_audit(args.out, args.top, args.sensitive, flag_share=args.flag_share)
    logger.info("wrote %s, %d charts, audit.csv and audit.md", saved, len(charts))
    print(audit.to_markdown(), end="")
    return 0


def run_demo(out_dir: Path, *, seed: int = 0) -> dict[str, Any]:
    """The tabular part of ``labelshap demo``."""
    return _run_demo(out_dir, seed=seed)


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
