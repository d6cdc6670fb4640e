"""What the bad-input cases share: the context they run in and the checks they make.

Each case is one kind of input, run the way a batch job runs an item: ``prepare([item])``
then ``bind`` (or the loading call the kind reaches). A refused kind must raise a standard
exception whose message names the argument or input, the value and what is accepted; an
accepted kind is checked for what it becomes. ``docs/bad-inputs.md`` lists the same kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from labelshap import LabelModel
from labelshap.modalities.image import ImageMasker
from labelshap.modalities.tabular import IndependentMasker
from labelshap.modalities.text import TextMasker

LABELS = ["a", "b", "c", "d"]
SIZE = 16
COLUMNS = ["p", "q", "r"]


@dataclass
class Context:
    """Models, maskers and files the cases share (built once per session)."""

    files: Path
    rgb_model: LabelModel
    gray_model: LabelModel
    image_masker: ImageMasker
    resizing_masker: ImageMasker
    ids_model: LabelModel
    strings_model: LabelModel
    text_masker: TextMasker
    window_masker: TextMasker
    strings_masker: TextMasker
    table_model: LabelModel
    table_masker: IndependentMasker


def write_files(files: Path) -> None:
    """Image, text and CSV files of every kind, good and bad."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(files / "rgb.png")
    Image.fromarray(rgb).save(files / "rgb.jpg")
    png, jpeg = (files / "rgb.png").read_bytes(), (files / "rgb.jpg").read_bytes()
    (files / "truncated.png").write_bytes(png[: len(png) // 2])
    (files / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (files / "corrupt.png").write_bytes(png[:8] + rng.integers(0, 256, 200, np.uint8).tobytes())
    (files / "notes.png").write_text("not an image, whatever the extension says\n")
    Image.fromarray(rgb).convert("CMYK").save(files / "cmyk.jpg")
    Image.fromarray(rgb).convert("P").save(files / "palette.png")
    Image.fromarray(rgb).convert("P").save(files / "palette-transparent.png", transparency=0)
    deep = np.linspace(0, 65535, SIZE * SIZE).reshape(SIZE, SIZE).astype(np.uint16)
    Image.fromarray(deep).save(files / "deep.png")
    Image.fromarray(rgb[..., 0]).save(files / "gray.png")
    Image.fromarray(np.dstack([rgb, np.full((SIZE, SIZE), 7, np.uint8)])).save(files / "rgba.png")
    Image.fromarray(np.full((1, 1, 3), 200, np.uint8)).save(files / "tiny.png")
    Image.new("L", (64, 64)).save(files / "large.png")

    folder = files / "folder"
    folder.mkdir()
    Image.fromarray(rgb).save(folder / "good.png")
    (folder / "readme.txt").write_text("a folder of images holds notes too\n")
    (folder / "data.csv").write_text("p,q\n1,2\n")
    (folder / "empty.jpg").write_bytes(b"")

    (files / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me\n".encode("latin-1"))
    (files / "latin1.csv").write_bytes("p,q,\xe9\n1,2,3\n".encode("latin-1"))
    for name, content in {
        "empty.csv": "",
        "header.csv": "p,q,r\n",
        "duplicate.csv": "p,p,r\n1,2,3\n",
        "ragged.csv": "p,q,r\n1,2,3\n4,5\n",
        "word.csv": "p,q,r\n1,two,3\n",
        "nan.csv": "p,q,r\n1,,3\n",
        "nan-word.csv": "p,q,r\n1,2,3\n1,NaN,3\n",
        "inf-word.csv": "p,q,r\n-inf,2,3\n",
        "three-labels.txt": "a\nb\nc\n",
        "bom.csv": "\ufeffp,q,r\n1,2,3\n",
        "blank-labels.txt": "\n  \n",
    }.items():
        (files / name).write_text(content, encoding="utf-8")


# What the cases check


def refuse(kind: type[Exception], pattern: str, action) -> Any:
    """A case whose action must raise ``kind`` with a message matching ``pattern``."""

    def case(ctx: Context) -> None:
        with pytest.raises(kind, match=pattern):
            action(ctx)

    return case


def run_item(masker: Any, item: Any, model: LabelModel) -> tuple[Any, Any]:
    """One item as a batch job runs it: prepared alone, then bound."""
    prepared = masker.prepare([item], model)
    return prepared, masker.bind(prepared[0], model)


def check_bound(masker: Any, prepared: Any, bound: Any, model: LabelModel) -> None:
    """All kept reproduces the item's score; every score is finite."""
    kept = bound.evaluate(model, np.ones((1, bound.n_features)))
    hidden = bound.evaluate(model, np.zeros((1, bound.n_features)))
    np.testing.assert_allclose(kept, masker.score(prepared[:1], model), atol=1e-5)
    assert np.isfinite(kept).all() and np.isfinite(hidden).all()
