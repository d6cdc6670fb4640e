"""The overlay files of a batch job's store: one PNG per explained image, named after its id.

A job writes each chunk's overlays once the chunk is recorded; a job killed in between
leaves images in the store without their file. :func:`write_missing_overlays`, run at the
end of every run, writes those and leaves the others alone. File names come from the
images' ids in the order the store lists them, so an image keeps its name across runs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from labelshap._words import counted
from labelshap.explanation import load_explanation
from labelshap.jobs import MANIFEST, SHARDS, read_manifest

from .plots import PARTIAL_SUFFIX

__all__ = ["OverlayNames", "write_missing_overlays"]

logger = logging.getLogger(__name__)


class OverlayNames:
    """Unique file stems for a store's images: an id's stem is its file's name without
    the suffix, then ``_1``, ``_2`` ... when an earlier image took it.

    Example:
        >>> names = OverlayNames()
        >>> names.add(["a/cat.png", "b/cat.png", "cat_1.jpg"])
        ['cat', 'cat_1', 'cat_1_1']
    """

    def __init__(self) -> None:
        self._stems: dict[str, str] = {}
        self._taken: set[str] = set()

    @classmethod
    def of_store(cls, folder: str | os.PathLike) -> OverlayNames:
        """The stems of the images a store already holds, in the order it lists them (none
        when the folder holds no job yet)."""
        names = cls()
        if (Path(folder) / MANIFEST).is_file():
            for shard in read_manifest(folder)["shards"]:
                names.add(shard["ids"])
        return names

    def add(self, ids: Iterable[str]) -> list[str]:
        """The stems of ``ids``, giving a new one to each id not seen before."""
        return [self._stem(str(item_id)) for item_id in ids]

    def _stem(self, item_id: str) -> str:
        if item_id in self._stems:
            return self._stems[item_id]
        base = Path(item_id).stem or "image"
        stem, count = base, 0
        while stem in self._taken:
            count += 1
            stem = f"{base}_{count}"
        self._stems[item_id] = stem
        self._taken.add(stem)
        return stem


def write_missing_overlays(folder: str | os.PathLike, out_dir: str | os.PathLike) -> list[Path]:
    """Write the overlay of every image of a store that lacks its file in ``out_dir``.

    Shards are read one at a time, and only those with an image to draw. Files a kill
    left half-written (under their temporary name) are removed.

    Args:
        folder: The job's output store.
        out_dir: The overlays' folder.

    Returns:
        The paths written.
    """
    out_dir = Path(out_dir)
    for partial in out_dir.glob(f"*{PARTIAL_SUFFIX}"):
        partial.unlink()
    names = OverlayNames()
    written: list[Path] = []
    for shard in read_manifest(folder)["shards"]:
        stems = names.add(shard["ids"])
        missing = [row for row, stem in enumerate(stems) if not (out_dir / f"{stem}.png").is_file()]
        if not missing:
            continue
        explanation = load_explanation(Path(folder) / SHARDS / shard["name"])
        written += explanation.save_overlays(
            out_dir, names=[stems[row] for row in missing], rows=missing
        )
    if written:
        logger.info("wrote %s an earlier run had not written", counted(len(written), "overlay"))
    return written
