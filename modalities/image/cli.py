"""``labelshap explain image`` and ``labelshap demo image``."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from labelshap.arguments import integer_at_least, positive_number
from labelshap.jobs import positions_from
from labelshap.sources import RECORD_SUFFIXES, count_records, iter_files, iter_records

from .demo import run_demo as _run_demo
from .masker import FILLS, SEGMENTATIONS, ImageMasker
from .overlays import OverlayNames, write_missing_overlays

__all__ = [
    "add_explain_arguments",
    "build_explainer",
    "default_selection",
    "run_explain",
    "run_demo",
]

logger = logging.getLogger(__name__)

# The labels explained without --label, --top-k or --threshold, as --help says it.
# The masker class whose algorithms the command offers (labelshap.engines.masker_algorithms).
MASKER = ImageMasker
DEFAULT_LABELS = "those scored 0.5 or more (logit 0 with --space logit), at least the best one"
# What `labelshap demo` prints of the summary (section.key), the rest is in summary.json.
DEMO_HEADLINE = (
    "model.mean_average_precision",
    "explanations.pointing_game",
    "explanations.pointing_game_random",
    "explanations.count",
    "explanations.seconds",
)
# Said when a folder holds no image: pillow reads more formats than these.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


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
    parser.add_argument(
        "--n-segments", type=integer_at_least(1), default=80, help="SLIC superpixels"
    )
    parser.add_argument(
        "--cell", type=integer_at_least(1), default=8, help="grid cell size in pixels"
    )
    parser.add_argument("--fill", choices=FILLS, default="blur", help="what hides a region")
    parser.add_argument(
        "--resize",
        action="store_true",
        help="resize images to the model's input size (default: refuse other sizes)",
    )
    parser.add_argument(
        "--scale",
        type=positive_number,
        default="1/255",
        help="factor from the 8-bit pixel values (0-255) of image files to the model's "
        "input: 1/255 gives [0, 1]; 1 keeps 0-255 (16-bit files are scaled by their depth "
        "to the same range)",
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
        pixel_scale=args.scale,
    )
    return make_explainer(args, load_model(args), masker)


def default_selection(args: argparse.Namespace) -> Any:
    """The labels explained without ``--label``, ``--top-k`` or ``--threshold``: those the
    model scores 0.5 or more (logit 0 when the job explains logits), and each image's best
    one where none does, as the image demo draws them."""
    from labelshap.labels import Threshold

    space = args.space or args.output
    return Threshold(0.0 if space == "logit" else 0.5, at_least=1)


def run_explain(args: argparse.Namespace) -> int:
    """Explain images as a resumable batch job; write one overlay per image.

    Without ``--label``, ``--top-k`` or ``--threshold`` the labels of
    :func:`default_selection` are explained.
    """
    from labelshap.cli import label_selection, run_job_command

    total = _count_images(args.images)
    explainer = build_explainer(args)
    explainer.masker.image_shape(explainer.model)  # a model that takes no images stops here
    overlays = args.out / "overlays"
    names = OverlayNames.of_store(args.out)

    def on_chunk(result: Any) -> None:
        explanation = result.explanation
        if explanation is None:
            return
        explanation.save_overlays(overlays, names=names.add(result.ids))
        for row, item_id in enumerate(result.ids):
            scores = explanation.scores[row]
            # Best scored first, as the overlays and the report show them.
            chosen = [
                f"{explanation.label_names[c]} {scores[c]:.3f}"
                for c in np.argsort(-scores, kind="stable")
                if explanation.selected[row, c]
            ]
            print(f"{item_id}: {', '.join(chosen)}")

    selection = label_selection(args)
    return run_job_command(
        args,
        explainer,
        positions_from(_image_sources(args.images)),
        labels=default_selection(args) if selection is None else selection,
        total=total,
        on_chunk=on_chunk,
        finish=lambda store: write_missing_overlays(store.folder, overlays),
    )


def _count_images(arguments: list[Path]) -> int:
    """How many inputs the arguments name (for the progress bar), checking that each
    exists and that a folder or a list holds at least one.

    Raises:
        FileNotFoundError: If an argument does not exist.
        ValueError: If a folder holds no file, or a list no record.
    """
    total = 0
    for argument in arguments:
        if argument.is_dir():
            count = sum(1 for _ in iter_files(argument))
            if not count:
                raise ValueError(
                    f"no inputs: the folder {str(argument)!r} holds no files (hidden ones are "
                    f"skipped); accepted: a folder of image files ({', '.join(IMAGE_SUFFIXES)} "
                    "or any other format pillow reads)"
                )
        elif not argument.exists():
            raise FileNotFoundError(
                f"input {str(argument)!r} does not exist; accepted: image files, folders of "
                'them, or .csv/.jsonl lists of records with a "path"'
            )
        elif argument.suffix.lower() in RECORD_SUFFIXES:
            count = count_records(argument)
            if not count:
                raise ValueError(
                    f"no inputs: {str(argument)!r} lists no images; accepted: a "
                    f'{argument.suffix.lower()} file of records with a "path"'
                )
        else:
            count = 1
        total += count
    return total


def _image_sources(arguments: list[Path]) -> Iterator[tuple[str, Any]]:
    """``(id, path)`` for every image the arguments name, expanding folders and record
    files; a record without a usable path is yielded as its error."""
    for argument in arguments:
        # Ids are absolute paths, so a job resumed with its inputs typed another way (from
        # another folder, ./images or images) finds the images it has done.
        argument = Path(os.path.abspath(argument))
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
