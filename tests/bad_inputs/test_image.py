"""Bad image inputs: each kind gets a clear error or is handled (see docs/bad-inputs.md)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bad_inputs.cases import SIZE, Context, check_bound, refuse, run_item
from PIL import Image


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
    pytest.param(
        refuse(
            ValueError,
            r"model 'Functional' takes inputs of shape \(16,\) \(int32\) per row, not images: "
            r"the image masker gives it \(height, width, channels\) images; accepted",
            lambda ctx: ctx.image_masker.prepare([np.zeros((SIZE, SIZE, 3))], ctx.ids_model),
        ),
        id="image-model-takes-no-images",
    ),
]


@pytest.mark.parametrize("case", IMAGE_CASES)
def test_image_input(ctx, case):
    case(ctx)
