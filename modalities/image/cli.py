"""``labelshap explain image`` and ``labelshap demo image``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from .demo import run_demo as _run_demo
from .masker import FILLS, SEGMENTATIONS, ImageMasker

__all__ = ["add_explain_arguments", "run_explain", "run_demo"]

logger = logging.getLogger(__name__)


def add_explain_arguments(parser: argparse.ArgumentParser) -> None:
    """Image options of ``labelshap explain image``."""
    parser.add_argument("images", nargs="+", type=Path, help="image files")
    parser.add_argument("--segmentation", choices=SEGMENTATIONS, default="slic")
    parser.add_argument("--n-segments", type=int, default=80, help="SLIC superpixels")
    parser.add_argument("--cell", type=int, default=8, help="grid cell size in pixels")
    parser.add_argument("--fill", choices=FILLS, default="blur", help="what hides a region")
    parser.add_argument(
        "--resize",
        action="store_true",
        help="resize images to the model's input size (default: refuse other sizes)",
    )


def run_explain(args: argparse.Namespace) -> int:
    """Explain image files; write one overlay per image and the saved explanation."""
    from labelshap.cli import label_selection, load_model, make_explainer

    model = load_model(args)
    masker = ImageMasker(
        args.segmentation,
        n_segments=args.n_segments,
        cell=args.cell,
        fill=args.fill,
        resize=args.resize,
    )
    explainer = make_explainer(args, model, masker)
    explanation = explainer.explain([str(path) for path in args.images], label_selection(args))

    args.out.mkdir(parents=True, exist_ok=True)
    saved = explanation.save(args.out / "explanation")
    names = _unique_stems(args.images)
    overlays = explanation.save_overlays(args.out / "overlays", names=names)
    logger.info("wrote %d overlays and %s", len(overlays), saved)
    for row, path in enumerate(args.images):
        chosen = [
            f"{label} {explanation.scores[row, c]:.3f}"
            for c, label in enumerate(explanation.label_names)
            if explanation.selected[row, c]
        ]
        print(f"{path}: {', '.join(chosen)}")
    return 0


def run_demo(out_dir: Path, *, seed: int = 0) -> dict[str, Any]:
    """The image part of ``labelshap demo``."""
    return _run_demo(out_dir, seed=seed)


def _unique_stems(paths: list[Path]) -> list[str]:
    seen: dict[str, int] = {}
    stems = []
    for path in paths:
        count = seen.get(path.stem, 0)
        seen[path.stem] = count + 1
        stems.append(path.stem if count == 0 else f"{path.stem}_{count}")
    return stems
