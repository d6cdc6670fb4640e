"""``labelshap explain image`` and ``labelshap demo image``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labelshap.jobs import positions_from
from labelshap.sources import RECORD_SUFFIXES, iter_files, iter_records

from .demo import run_demo as _run_demo
from .masker import FILLS, SEGMENTATIONS, ImageMasker

__all__ = ["add_explain_arguments", "build_explainer", "run_explain", "run_demo"]

logger = logging.getLogger(__name__)


def add_explain_arguments(parser: argparse.ArgumentParser) -> None:
    """Image options of ``labelshap explain image``."""
    parser.add_argument(
        "images",
        nargs="+",
        type=Path,
        help="image files, folders of them (every file below, sorted), or .csv/.jsonl "
        'files of records with a "path" (relative to the file) and an optional "id"',
    )
    parser.add_argument("--segmentation", choices=SEGMENTATIONS, default="slic")
    parser.add_argument("--n-segments", type=int, default=80, help="SLIC superpixels")
    parser.add_argument("--cell", type=int, default=8, help="grid cell size in pixels")
    parser.add_argument("--fill", choices=FILLS, default="blur", help="what hides a region")
    parser.add_argument(
        "--resize",
        action="store_true",
        help="resize images to the model's input size (default: refuse other sizes)",
    )


def build_explainer(args: argparse.Namespace) -> Any:
    """The explainer the options describe (built by the driver and by each Ray worker)."""
    from labelshap.cli import load_model, make_explainer

    masker = ImageMasker(
        args.segmentation,
        n_segments=args.n_segments,
        cell=args.cell,
        fill=args.fill,
        resize=args.resize,
    )
    return make_explainer(args, load_model(args), masker)


def run_explain(args: argparse.Namespace) -> int:
    """Explain images as a resumable batch job; write one overlay per image."""
    from labelshap.cli import label_selection, run_job_command

    explainer = build_explainer(args)
    overlays = args.out / "overlays"
    names: dict[str, int] = {}

    def on_chunk(result: Any) -> None:
        explanation = result.explanation
        if explanation is None:
            return
        stems = [_unique_stem(Path(item_id).stem, names) for item_id in result.ids]
        explanation.save_overlays(overlays, names=stems)
        for row, item_id in enumerate(result.ids):
            chosen = [
                f"{label} {explanation.scores[row, c]:.3f}"
                for c, label in enumerate(explanation.label_names)
                if explanation.selected[row, c]
            ]
            print(f"{item_id}: {', '.join(chosen)}")

    return run_job_command(
        args,
        explainer,
        positions_from(_image_sources(args.images)),
        labels=label_selection(args),
        on_chunk=on_chunk,
    )


def _image_sources(arguments: list[Path]) -> Iterator[tuple[str, Any]]:
    """``(id, path)`` for every image the arguments name, expanding folders and record
    files; a record without a usable path is yielded as its error."""
    for argument in arguments:
        if argument.is_dir():
            for path in iter_files(argument):
                yield str(path), str(path)
        elif argument.suffix.lower() in RECORD_SUFFIXES:
            for where, record in iter_records(argument):
                yield _image_record(argument, where, record)
        else:
            yield str(argument), str(argument)


def _image_record(source: Path, where: str, record: Any) -> tuple[str, Any]:
    if isinstance(record, Exception):
        return f"{source.name}:{where}", record
    item_id = str(record.get("id") or f"{source.name}:{where}")
    path = record.get("path")
    if not isinstance(path, str) or not path:
        return item_id, ValueError(
            f'{str(source)!r} {where.replace("-", " ")} has no "path" field; accepted: '
            'records like {"path": "images/cat.png", "id": "cat"}'
        )
    return item_id, str(source.parent / path)


def run_demo(out_dir: Path, *, seed: int = 0) -> dict[str, Any]:
    """The image part of ``labelshap demo``."""
    return _run_demo(out_dir, seed=seed)


def _unique_stem(stem: str, seen: dict[str, int]) -> str:
    count = seen.get(stem, 0)
    seen[stem] = count + 1
    return stem if count == 0 else f"{stem}_{count}"
