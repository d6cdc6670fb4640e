"""Bad inputs of every modality and of the model: each gets a clear error or is handled.

Each case is one kind of input, run the way a batch job runs an item: ``prepare([item])``
then ``bind`` (or the loading call the kind reaches). A refused kind must raise a standard
exception whose message names the argument or input, the value and what is accepted; an
accepted kind is checked for what it becomes. ``docs/bad-inputs.md`` lists the same kinds.
"""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from PIL import Image

from labelshap import LabelModel
from labelshap.modalities.image import ImageMasker
from labelshap.modalities.tabular import IndependentMasker
from labelshap.modalities.tabular.table import read_csv
from labelshap.modalities.text import TextMasker

LABELS = ["a", "b", "c", "d"]
SIZE = 16
COLUMNS = ["p", "q", "r"]


@dataclass
class Context:
    """Models, maskers and files the cases share (built once per module)."""

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


@pytest.fixture(scope="module")
def ctx(tmp_path_factory, image_model_factory, text_tokenizers, text_model_factory,
        keyword_label_model) -> Context:  # fmt: skip
    files = tmp_path_factory.mktemp("bad-inputs")
    _write_files(files)
    wordpiece = text_tokenizers["wordpiece"]

    keras.utils.set_random_seed(0)
    inputs = keras.Input((len(COLUMNS),))
    hidden = keras.layers.Dense(4, activation="tanh")(inputs)
    table_keras = keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid")(hidden))
    background = np.random.default_rng(0).normal(size=(4, len(COLUMNS)))

    return Context(
        files=files,
        rgb_model=LabelModel(image_model_factory(size=SIZE, channels=3), LABELS),
        gray_model=LabelModel(image_model_factory(size=SIZE, channels=1), LABELS),
        image_masker=ImageMasker("grid", cell=4),
        resizing_masker=ImageMasker("grid", cell=4, resize=True),
        ids_model=LabelModel(text_model_factory(len(wordpiece)), LABELS),
        strings_model=keyword_label_model,
        text_masker=TextMasker(wordpiece),
        window_masker=TextMasker(wordpiece, long_text="window"),
        strings_masker=TextMasker(wordpiece, model_input="text"),
        table_model=LabelModel(table_keras, ["x", "y", "z"]),
        table_masker=IndependentMasker(background, feature_names=COLUMNS),
    )


def _write_files(files: Path) -> None:
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


def image_accepted(name: str, *, gray: bool = False, resize: bool = False, check=None) -> Any:
    def case(ctx: Context) -> None:
        model = ctx.gray_model if gray else ctx.rgb_model
        masker = ctx.resizing_masker if resize else ctx.image_masker
        prepared, bound = run_item(masker, str(ctx.files / name), model)
        assert prepared.shape == (1, SIZE, SIZE, 1 if gray else 3)
        assert 0.0 <= prepared.min() and prepared.max() <= 1.0
        check_bound(masker, prepared, bound, model)
        if check is not None:
            check(prepared[0], ctx.files)

    return case


def image_refused(kind: type[Exception], pattern: str, item, *, gray: bool = False) -> Any:
    def action(ctx: Context) -> None:
        source = item(ctx) if callable(item) else item
        run_item(ctx.image_masker, source, ctx.gray_model if gray else ctx.rgb_model)

    return refuse(kind, pattern, action)


def image_file(name: str) -> Any:
    return lambda ctx: str(ctx.files / name)


def text_accepted(text: Any, *, strings: bool = False, features: int | None = None) -> Any:
    def case(ctx: Context) -> None:
        masker = ctx.strings_masker if strings else ctx.text_masker
        model = ctx.strings_model if strings else ctx.ids_model
        prepared, bound = run_item(masker, text, model)
        check_bound(masker, prepared, bound, model)
        if features is not None:
            assert bound.n_features == features

    return case


def text_refused(kind: type[Exception], pattern: str, item: Any, *, bind: bool = False) -> Any:
    def action(ctx: Context) -> None:
        if bind:
            ctx.text_masker.bind(item, ctx.ids_model)
        else:
            run_item(ctx.text_masker, item, ctx.ids_model)

    return refuse(kind, pattern, action)


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


# The image cases


def _palette_is_converted(pixels: np.ndarray, files: Path) -> None:
    original = np.asarray(Image.open(files / "palette.png").convert("RGB")) / 255.0
    np.testing.assert_allclose(pixels, original, atol=1e-6)


def _deep_precision_is_kept(pixels: np.ndarray, files: Path) -> None:
    assert len(np.unique(pixels[..., 0])) == SIZE * SIZE


def _alpha_is_dropped(pixels: np.ndarray, files: Path) -> None:
    original = np.asarray(Image.open(files / "rgba.png"))[..., :3] / 255.0
    np.testing.assert_allclose(pixels, original, atol=1e-6)


def folder_of_mixed_files(ctx: Context) -> None:
    """What a folder input gets: each file is its own item, and only the image passes."""
    failures = {}
    for path in sorted((ctx.files / "folder").iterdir()):
        try:
            run_item(ctx.image_masker, str(path), ctx.rgb_model)
        except ValueError as err:
            failures[path.name] = str(err)
    assert sorted(failures) == ["data.csv", "empty.jpg", "readme.txt"]
    for name, message in failures.items():
        assert name in message and "accepted: an image file" in message


def bomb(limit: int, expect_error: bool) -> Any:
    def case(ctx: Context) -> None:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
            if expect_error:
                with pytest.raises(ValueError, match=r"large\.png.*decompression-bomb limit"):
                    run_item(ctx.resizing_masker, str(ctx.files / "large.png"), ctx.rgb_model)
            else:
                with pytest.warns(Image.DecompressionBombWarning):
                    prepared, _ = run_item(
                        ctx.resizing_masker, str(ctx.files / "large.png"), ctx.rgb_model
                    )
                assert prepared.shape == (1, SIZE, SIZE, 3)

    return case


def no_overflow_warning(ctx: Context) -> None:
    huge = np.full((SIZE, SIZE, 3), 1e39)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"NaN or infinite.*beyond float32 range"):
            run_item(ctx.image_masker, huge, ctx.rgb_model)


def nan_image_bound_without_prepare(ctx: Context) -> None:
    image = np.zeros((SIZE, SIZE, 3), np.float32)
    image[3, 4, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite pixel values.*accepted: finite"):
        ctx.image_masker.bind(image, ctx.rgb_model)


IMAGE_CASES = [
    pytest.param(
        image_refused(
            ValueError, r"truncated\.png' is truncated or corrupt", image_file("truncated.png")
        ),
        id="image-truncated-png",
    ),
    pytest.param(
        image_refused(
            ValueError,
            r"truncated\.jpg' cannot be read as an image.*accepted",
            image_file("truncated.jpg"),
        ),
        id="image-truncated-jpeg",
    ),
    pytest.param(
        image_refused(
            ValueError,
            r"corrupt\.png' cannot be read as an image.*accepted",
            image_file("corrupt.png"),
        ),
        id="image-corrupt-bytes",
    ),
    pytest.param(
        image_refused(
            ValueError, r"notes\.png' cannot be read as an image.*accepted", image_file("notes.png")
        ),
        id="image-text-file-with-image-extension",
    ),
    pytest.param(image_accepted("cmyk.jpg"), id="image-cmyk-jpeg-converted-to-rgb"),
    pytest.param(
        image_accepted("palette.png", check=_palette_is_converted),
        id="image-palette-png-converted-to-rgb",
    ),
    pytest.param(
        image_accepted("palette-transparent.png"), id="image-palette-png-with-transparency"
    ),
    pytest.param(
        image_accepted("deep.png", check=_deep_precision_is_kept),
        id="image-16-bit-png-scaled-by-its-depth",
    ),
    pytest.param(image_accepted("gray.png"), id="image-grayscale-file-for-rgb-model"),
    pytest.param(image_accepted("rgb.png", gray=True), id="image-rgb-file-for-grayscale-model"),
    pytest.param(
        image_accepted("rgba.png", check=_alpha_is_dropped), id="image-rgba-file-alpha-dropped"
    ),
    pytest.param(
        image_refused(
            ValueError, r"has 1 channels but the model takes channels=3", np.zeros((SIZE, SIZE))
        ),
        id="image-grayscale-array-for-rgb-model",
    ),
    pytest.param(
        image_refused(
            ValueError,
            r"has 3 channels but the model takes channels=1",
            np.zeros((SIZE, SIZE, 3)),
            gray=True,
        ),
        id="image-rgb-array-for-grayscale-model",
    ),
    pytest.param(
        image_refused(
            ValueError, r"has 4 channels but the model takes channels=3", np.zeros((SIZE, SIZE, 4))
        ),
        id="image-rgba-array-for-rgb-model",
    ),
    pytest.param(
        image_refused(ValueError, r"tiny\.png' is 1x1.*pass resize=True", image_file("tiny.png")),
        id="image-1x1-without-resize",
    ),
    pytest.param(image_accepted("tiny.png", resize=True), id="image-1x1-with-resize"),
    pytest.param(
        image_refused(
            ValueError, r"shape \(0, 16, 3\).*is empty.*at least 1x1", np.zeros((0, SIZE, 3))
        ),
        id="image-zero-size-array",
    ),
    pytest.param(
        image_refused(
            ValueError, r"is 8x12 .*size=\(16, 16\).*pass resize=True", np.zeros((8, 12, 3))
        ),
        id="image-wrong-size-without-resize",
    ),
    pytest.param(
        bomb(limit=1000, expect_error=True), id="image-decompression-bomb-over-twice-the-limit"
    ),
    pytest.param(bomb(limit=3000, expect_error=False), id="image-over-the-pixel-limit-warns"),
    pytest.param(
        image_refused(
            ValueError,
            r"NaN or infinite pixel values.*accepted: finite",
            np.full((SIZE, SIZE, 3), np.nan),
        ),
        id="image-nan-pixels",
    ),
    pytest.param(
        image_refused(
            ValueError,
            r"NaN or infinite pixel values.*accepted: finite",
            np.full((SIZE, SIZE, 3), -np.inf),
        ),
        id="image-inf-pixels",
    ),
    pytest.param(no_overflow_warning, id="image-values-beyond-float32"),
    pytest.param(
        image_refused(
            TypeError, r"dtype <U1; accepted: arrays of integers", np.full((SIZE, SIZE, 3), "x")
        ),
        id="image-string-dtype",
    ),
    pytest.param(
        image_refused(
            TypeError,
            r"dtype object; accepted: arrays of integers",
            np.zeros((SIZE, SIZE, 3), object),
        ),
        id="image-object-dtype",
    ),
    pytest.param(
        image_refused(TypeError, r"dtype complex128; accepted", np.zeros((SIZE, SIZE, 3), complex)),
        id="image-complex-dtype",
    ),
    pytest.param(
        image_refused(ValueError, r"has 1 dimensions; accepted: \(height, width\)", np.zeros(SIZE)),
        id="image-1-d-array",
    ),
    pytest.param(
        image_refused(
            ValueError, r"has 4 dimensions; accepted.*use load_images", np.zeros((1, SIZE, SIZE, 3))
        ),
        id="image-4-d-array-as-one-item",
    ),
    pytest.param(
        image_refused(
            ValueError,
            r"bad-inputs\d*' is a directory; accepted: an image file",
            lambda ctx: str(ctx.files),
        ),
        id="image-directory-given-as-file",
    ),
    pytest.param(
        image_refused(
            FileNotFoundError, r"missing\.png' does not exist; accepted", image_file("missing.png")
        ),
        id="image-missing-path",
    ),
    pytest.param(folder_of_mixed_files, id="image-folder-with-non-image-files"),
    pytest.param(
        image_refused(
            TypeError, r"sources\[0\] <NoneType> has unsupported type NoneType; accepted", None
        ),
        id="image-none",
    ),
    pytest.param(nan_image_bound_without_prepare, id="image-nan-bound-without-prepare"),
]


@pytest.mark.parametrize("case", IMAGE_CASES)
def test_image_input(ctx, case):
    case(ctx)


# The text cases


def long_text_is_truncated_with_a_warning(ctx: Context) -> None:
    text = "python module " * 40
    with pytest.warns(UserWarning, match=r"longer than the model's 16 tokens.*long_text='window'"):
        prepared, bound = run_item(ctx.text_masker, text, ctx.ids_model)
    start, end = bound.extras["explained_range"]
    assert start == 0 and 0 < end < len(text)
    check_bound(ctx.text_masker, prepared, bound, ctx.ids_model)


def long_text_is_read_in_windows(ctx: Context) -> None:
    text = "python module " * 40
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prepared, bound = run_item(ctx.window_masker, text, ctx.ids_model)
    assert bound.rows_per_mask > 1 and bound.n_features == 80
    check_bound(ctx.window_masker, prepared, bound, ctx.ids_model)


def non_utf8_file_read_as_bytes(ctx: Context) -> None:
    raw = (ctx.files / "latin1.txt").read_bytes()
    with pytest.raises(ValueError, match=r"inputs\[0\] is bytes that are not UTF-8 .* at byte 3"):
        run_item(ctx.text_masker, raw, ctx.ids_model)


TEXT_CASES = [
    pytest.param(text_accepted("", features=0), id="text-empty-string"),
    pytest.param(text_accepted(" \t\n  ", features=0), id="text-whitespace-only"),
    pytest.param(
        text_refused(ValueError, r"inputs\[0\] is bytes that are not UTF-8", b"\xff\xfe python"),
        id="text-non-utf8-bytes",
    ),
    pytest.param(non_utf8_file_read_as_bytes, id="text-non-utf8-file-read-as-bytes"),
    pytest.param(text_accepted("python\x01\x02 module\x1b[31m gtk"), id="text-control-characters"),
    pytest.param(text_accepted("python\x00module"), id="text-nul-inside"),
    pytest.param(
        text_accepted("python module\x00", strings=True), id="text-trailing-nul-string-model"
    ),
    pytest.param(text_accepted("\x00", features=0), id="text-nul-only"),
    pytest.param(text_accepted("python [MASK] module [CLS]"), id="text-special-token-strings"),
    pytest.param(long_text_is_truncated_with_a_warning, id="text-too-long-truncated-with-warning"),
    pytest.param(long_text_is_read_in_windows, id="text-too-long-read-in-windows"),
    pytest.param(
        text_refused(TypeError, r"inputs\[0\] is a NoneType \(None\); accepted: str", None),
        id="text-none",
    ),
    pytest.param(
        text_refused(TypeError, r"inputs\[0\] is a int \(42\); accepted: str", 42),
        id="text-number",
    ),
    pytest.param(
        refuse(
            TypeError,
            r"inputs of type 'float' .*accepted: str",
            lambda ctx: ctx.text_masker.prepare(4.5, ctx.ids_model),
        ),
        id="text-number-as-the-whole-input",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"inputs holds no texts",
            lambda ctx: ctx.text_masker.prepare([], ctx.ids_model),
        ),
        id="text-empty-list",
    ),
    pytest.param(
        text_refused(
            ValueError, r"lone surrogate '\\udcff' at character 3.*accepted", "abc\udcffdef"
        ),
        id="text-lone-surrogate",
    ),
    pytest.param(
        text_refused(TypeError, r"item is a NoneType \(None\); accepted", None, bind=True),
        id="text-none-bound-without-prepare",
    ),
    pytest.param(
        text_refused(TypeError, r"item is a int \(7\); accepted", 7, bind=True),
        id="text-number-bound-without-prepare",
    ),
]


@pytest.mark.parametrize("case", TEXT_CASES)
def test_text_input(ctx, case):
    case(ctx)


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
        rows_refused(ValueError, r"rows holds nan at row 0, column 'q'", csv_rows("nan.csv")),
        id="tabular-empty-csv-cell",
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


# The model and label cases


def dense(activation: str, n_labels: int = 4) -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(n_labels, activation=activation)(inputs))


def returning(scores) -> Any:
    """A plain model returning ``scores(n_rows)``."""
    return lambda batch: scores(len(batch))


def predict_with(model: Any, labels=LABELS, **options) -> Any:
    return lambda ctx: LabelModel(model, labels, **options).predict(np.zeros((3, 3)))


def softmax_warns_once(model_of) -> Any:
    def case(ctx: Context) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = LabelModel(model_of(), LABELS)
            for _ in range(3):
                model.predict(np.random.default_rng(0).normal(size=(5, 3)))
        messages = [str(w.message) for w in caught if "looks single-label" in str(w.message)]
        assert len(messages) == 1 and "Softmax labels compete" in messages[0]

    return case


def sigmoid_does_not_warn(ctx: Context) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LabelModel(dense("sigmoid"), LABELS).predict(np.ones((4, 3)))


def constant_rows_do_not_warn(ctx: Context) -> None:
    # Two sigmoid labels at 0.5 on a blank input: every row sums to 1, and says nothing.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = LabelModel(returning(lambda n: np.full((n, 4), 0.25)), LABELS)
        assert model.predict(np.zeros((16, 3))).shape == (16, 4)


def labels_file(name: str) -> Any:
    return lambda ctx: LabelModel(dense("sigmoid"), ctx.files / name)


def saved(model_of, name: str, **options) -> Any:
    def load(ctx: Context) -> LabelModel:
        path = ctx.files / name
        if not path.exists():
            model_of(path)
        return LabelModel(path, LABELS, **options)

    return load


def lambda_file(path: Path) -> None:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    doubled = keras.layers.Lambda(lambda tensor: tensor * 2.0)(inputs)
    keras.Model(inputs, keras.layers.Dense(4, activation="sigmoid")(doubled)).save(path)


def lambda_loads_when_trusted(ctx: Context) -> None:
    model = saved(lambda_file, "lambda.keras", unsafe_load=True)(ctx)
    assert model.predict(np.zeros((2, 3))).shape == (2, 4)


def garbage_file(path: Path) -> None:
    path.write_bytes(b"this is not a model")


def archive_without_config(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "no config.json here")


def nan_where(n_rows: int) -> np.ndarray:
    scores = np.full((n_rows, 4), 0.3)
    scores[-1, 2] = np.nan
    return scores


MODEL_CASES = [
    pytest.param(
        refuse(
            ValueError,
            r"model output has shape \(3,\); expected \(n, n_labels\) = \(3, 4\): "
            r"one row per input and one column per label name \(4 names\)",
            predict_with(returning(lambda n: np.zeros(n))),
        ),
        id="model-output-1-d",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"model output has shape \(3, 4, 1\); expected \(n, n_labels\)",
            predict_with(returning(lambda n: np.zeros((n, 4, 1)))),
        ),
        id="model-output-3-d",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"model output has shape \(3, 5\); expected .* \(4 names\)",
            predict_with(returning(lambda n: np.zeros((n, 5)))),
        ),
        id="model-output-wider-than-labels",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"model outputs have shapes \[\(None, 2, 2\)\]",
            lambda ctx: LabelModel(
                keras.Sequential(
                    [keras.Input((3,)), keras.layers.Dense(4), keras.layers.Reshape((2, 2))]
                )
            ),
        ),
        id="model-keras-output-3-d",
    ),
    pytest.param(
        softmax_warns_once(lambda: dense("softmax")), id="model-softmax-final-layer-warns-once"
    ),
    pytest.param(
        softmax_warns_once(
            lambda: keras.Sequential(
                [keras.Input((3,)), keras.layers.Dense(4), keras.layers.Softmax()]
            )
        ),
        id="model-softmax-layer-warns-once",
    ),
    pytest.param(
        softmax_warns_once(
            lambda: returning(lambda n: np.random.default_rng(n).dirichlet(np.ones(4), size=n))
        ),
        id="model-rows-summing-to-one-warn-once",
    ),
    pytest.param(sigmoid_does_not_warn, id="model-sigmoid-does-not-warn"),
    pytest.param(constant_rows_do_not_warn, id="model-identical-rows-summing-to-one-do-not-warn"),
    pytest.param(
        refuse(
            ValueError,
            r"labels repeats names \['b'\]; label names must be unique",
            lambda ctx: LabelModel(dense("sigmoid"), ["a", "b", "b", "c"]),
        ),
        id="labels-duplicate-names",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"every name must be a non-empty string; got \['', ' '\]",
            lambda ctx: LabelModel(dense("sigmoid"), ["a", "", " ", "d"]),
        ),
        id="labels-empty-names",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"blank-labels\.txt' holds no label names; accepted: one name per line",
            labels_file("blank-labels.txt"),
        ),
        id="labels-file-of-blank-lines",
    ),
    pytest.param(
        refuse(
            FileNotFoundError,
            r"labels file '.*missing-labels\.txt' does not exist",
            labels_file("missing-labels.txt"),
        ),
        id="labels-file-missing",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"labels file '.*folder' is a directory; accepted: a text file",
            labels_file("folder"),
        ),
        id="labels-file-is-a-directory",
    ),
    pytest.param(
        refuse(
            ValueError, r"labels file '.*latin1\.txt' is not UTF-8 text", labels_file("latin1.txt")
        ),
        id="labels-file-not-utf8",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"labels: 3 names were given but the model has 4 outputs",
            lambda ctx: LabelModel(dense("sigmoid"), ["a", "b", "c"]),
        ),
        id="labels-count-not-matching-outputs",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"lambda\.keras' needs unsafe deserialisation.*unsafe_load=True",
            saved(lambda_file, "lambda.keras"),
        ),
        id="model-lambda-layer-refused-without-unsafe-load",
    ),
    pytest.param(lambda_loads_when_trusted, id="model-lambda-layer-loads-with-unsafe-load"),
    pytest.param(
        refuse(
            FileNotFoundError,
            r"model path '.*missing\.keras' does not exist",
            lambda ctx: LabelModel(ctx.files / "missing.keras", LABELS),
        ),
        id="model-file-missing",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"garbage\.keras' is not a \.keras archive.*accepted",
            saved(garbage_file, "garbage.keras"),
        ),
        id="model-file-not-a-model",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"archive\.keras' could not be loaded as a Keras model \(KeyError",
            saved(archive_without_config, "archive.keras"),
        ),
        id="model-zip-without-keras-config",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"notes\.png' has suffix '\.png'; accepted: a \.keras file",
            lambda ctx: LabelModel(ctx.files / "notes.png", LABELS),
        ),
        id="model-file-with-another-suffix",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"model output holds nan at row 2, label 'c' \(1 non-finite scores in all\); "
            "accepted: finite",
            predict_with(returning(nan_where)),
        ),
        id="model-nan-outputs",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"model output holds inf at row 0, label 'a'",
            predict_with(returning(lambda n: np.full((n, 4), np.inf)), output="logit"),
        ),
        id="model-infinite-logits",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"outside \[0, 1\], but output='probability'; pass output='logit'",
            predict_with(returning(lambda n: np.full((n, 4), 3.0))),
        ),
        id="model-logits-declared-as-probabilities",
    ),
]


@pytest.mark.parametrize("case", MODEL_CASES)
def test_model_input(ctx, case):
    case(ctx)


def test_at_least_forty_kinds_are_covered():
    assert len(IMAGE_CASES) + len(TEXT_CASES) + len(TABLE_CASES) + len(MODEL_CASES) >= 40
