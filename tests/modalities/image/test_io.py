"""Tests for reading images from files, PIL images and arrays into model-shaped arrays."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

from labelshap.modalities.image.io import load_image, load_images

SIZE = (6, 8)  # (height, width) of every test image unless a test says otherwise
RNG = np.random.default_rng(0)
RGB_PIXELS = RNG.integers(0, 256, (*SIZE, 3), dtype=np.uint8)
GRAY_PIXELS = RNG.integers(0, 256, SIZE, dtype=np.uint8)
DEEP_PIXELS = (np.arange(48, dtype=np.uint16).reshape(SIZE) * 1365).astype(np.uint16)


@pytest.fixture
def gray_png(tmp_path: Path) -> Path:
    path = tmp_path / "gray.png"
    Image.fromarray(GRAY_PIXELS).save(path)
    return path


@pytest.fixture
def rgb_png(tmp_path: Path) -> Path:
    path = tmp_path / "rgb.png"
    Image.fromarray(RGB_PIXELS).save(path)
    return path


@pytest.fixture
def rgba_png(tmp_path: Path) -> Path:
    rgba = np.dstack([RGB_PIXELS, np.full(SIZE, 128, np.uint8)])
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba).save(path)
    return path


@pytest.fixture
def palette_png(tmp_path: Path) -> Path:
    path = tmp_path / "palette.png"
    Image.fromarray(RGB_PIXELS).convert("P", palette=Image.Palette.ADAPTIVE, colors=8).save(path)
    return path


@pytest.fixture
def transparent_palette_png(tmp_path: Path) -> Path:
    image = Image.new("P", (SIZE[1], SIZE[0]), 0)
    image.putpalette([0, 0, 0, 255, 0, 0])
    image.putpixel((0, 0), 1)
    path = tmp_path / "transparent.png"
    image.save(path, transparency=0)
    return path


@pytest.fixture
def cmyk_jpeg(tmp_path: Path) -> Path:
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(RGB_PIXELS).convert("CMYK").save(path, quality=95)
    return path


@pytest.fixture
def la_png(tmp_path: Path) -> Path:
    path = tmp_path / "la.png"
    Image.fromarray(GRAY_PIXELS).convert("LA").save(path)
    return path


@pytest.fixture
def deep_png(tmp_path: Path) -> Path:
    path = tmp_path / "deep.png"
    Image.fromarray(DEEP_PIXELS).save(path)
    return path


@pytest.fixture
def truncated_png(tmp_path: Path) -> Path:
    noise = RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = tmp_path / "truncated.png"
    Image.fromarray(noise).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def text_png(tmp_path: Path) -> Path:
    path = tmp_path / "notes.png"
    path.write_text("not an image\n")
    return path


@pytest.fixture
def one_pixel_png(tmp_path: Path) -> Path:
    path = tmp_path / "pixel.png"
    Image.new("RGB", (1, 1), (255, 0, 51)).save(path)
    return path


# Files and PIL images: conversion and scaling


def test_gray_file_is_scaled_by_1_over_255(gray_png: Path) -> None:
    pixels = load_image(gray_png, size=SIZE, channels=1)
    assert pixels.dtype == np.float32
    assert pixels.shape == (*SIZE, 1)
    np.testing.assert_allclose(pixels[:, :, 0], GRAY_PIXELS / 255, rtol=1e-6)


def test_gray_file_is_repeated_into_rgb_and_gets_opaque_alpha(gray_png: Path) -> None:
    rgb = load_image(str(gray_png), size=SIZE, channels=3)
    rgba = load_image(gray_png, size=SIZE, channels=4)
    for channel in range(3):
        np.testing.assert_allclose(rgb[:, :, channel], GRAY_PIXELS / 255, rtol=1e-6)
    np.testing.assert_allclose(rgba[:, :, 3], 1.0)


def test_rgb_file_keeps_its_values(rgb_png: Path) -> None:
    pixels = load_image(rgb_png, size=SIZE, channels=3)
    np.testing.assert_allclose(pixels, RGB_PIXELS / 255, rtol=1e-6)


def test_rgb_file_to_one_channel_uses_pillow_luma(rgb_png: Path) -> None:
    expected = np.asarray(Image.fromarray(RGB_PIXELS).convert("L")) / 255
    pixels = load_image(rgb_png, size=SIZE, channels=1)
    np.testing.assert_allclose(pixels[:, :, 0], expected, rtol=1e-6)


def test_scale_one_keeps_0_to_255_units(rgb_png: Path) -> None:
    pixels = load_image(rgb_png, size=SIZE, channels=3, scale=1.0)
    np.testing.assert_array_equal(pixels, RGB_PIXELS.astype(np.float32))


def test_rgba_file_keeps_alpha_for_four_channels_and_drops_it_for_three(rgba_png: Path) -> None:
    rgba = load_image(rgba_png, size=SIZE, channels=4)
    rgb = load_image(rgba_png, size=SIZE, channels=3)
    np.testing.assert_allclose(rgba[:, :, 3], 128 / 255, rtol=1e-6)
    np.testing.assert_allclose(rgb, RGB_PIXELS / 255, rtol=1e-6)


def test_palette_file_is_expanded_to_its_colours(palette_png: Path) -> None:
    expected = np.asarray(Image.open(palette_png).convert("RGB")) / 255
    pixels = load_image(palette_png, size=SIZE, channels=3)
    np.testing.assert_allclose(pixels, expected, rtol=1e-6)


def test_palette_transparency_becomes_alpha_without_warning(transparent_palette_png: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rgba = load_image(transparent_palette_png, size=SIZE, channels=4)
        load_image(transparent_palette_png, size=SIZE, channels=3)
    assert rgba[0, 0, 3] == 1.0
    assert rgba[1, 1, 3] == 0.0


def test_cmyk_jpeg_is_converted_to_rgb_in_unit_range(cmyk_jpeg: Path) -> None:
    pixels = load_image(cmyk_jpeg, size=SIZE, channels=3)
    assert pixels.shape == (*SIZE, 3)
    assert 0.0 <= pixels.min() and pixels.max() <= 1.0
    # JPEG is lossy: compare loosely to the original colours.
    assert np.abs(pixels - RGB_PIXELS / 255).mean() < 0.1


def test_la_file_gives_gray_or_gray_with_alpha(la_png: Path) -> None:
    gray = load_image(la_png, size=SIZE, channels=1)
    rgba = load_image(la_png, size=SIZE, channels=4)
    np.testing.assert_allclose(gray[:, :, 0], GRAY_PIXELS / 255, rtol=1e-6)
    np.testing.assert_allclose(rgba[:, :, 3], 1.0)


def test_sixteen_bit_png_is_scaled_by_its_own_depth(deep_png: Path) -> None:
    pixels = load_image(deep_png, size=SIZE, channels=1)
    np.testing.assert_allclose(pixels[:, :, 0], DEEP_PIXELS / 65535, rtol=1e-6)
    assert pixels.max() <= 1.0
    # The extra precision survives: more distinct levels than 8 bits could hold here.
    assert len(np.unique(pixels)) == DEEP_PIXELS.size


def test_sixteen_bit_png_follows_scale_in_eight_bit_units(deep_png: Path) -> None:
    pixels = load_image(deep_png, size=SIZE, channels=3, scale=1.0)
    expected = DEEP_PIXELS.astype(np.float64) * 255 / 65535
    np.testing.assert_allclose(pixels[:, :, 1], expected, rtol=1e-6)


def test_thirty_two_bit_image_is_scaled_by_its_own_depth() -> None:
    raw = np.array([[0, 2**30], [2**31 - 1, 12345]], dtype=np.int32)
    pixels = load_image(Image.fromarray(raw), size=(2, 2), channels=1)
    np.testing.assert_allclose(pixels[:, :, 0], raw / (2**31 - 1), rtol=1e-6)


def test_float_pil_image_is_taken_as_model_units() -> None:
    raw = np.array([[0.0, 2.5], [-1.0, 7.0]], dtype=np.float32)
    pixels = load_image(Image.fromarray(raw), size=(2, 2), channels=1)
    np.testing.assert_array_equal(pixels[:, :, 0], raw)


def test_pil_image_source_matches_file_source(rgb_png: Path) -> None:
    from_file = load_image(rgb_png, size=SIZE, channels=3)
    from_pil = load_image(Image.fromarray(RGB_PIXELS), size=SIZE, channels=3)
    np.testing.assert_array_equal(from_file, from_pil)


# Arrays


def test_two_dimensional_array_counts_as_one_channel_and_is_not_scaled() -> None:
    pixels = load_image(GRAY_PIXELS, size=SIZE, channels=1)
    assert pixels.dtype == np.float32
    np.testing.assert_array_equal(pixels[:, :, 0], GRAY_PIXELS)


def test_array_with_matching_channels_is_kept() -> None:
    values = RNG.random((*SIZE, 4))
    np.testing.assert_allclose(load_image(values, size=SIZE, channels=4), values, rtol=1e-6)


def test_boolean_array_is_accepted() -> None:
    mask = np.eye(3, dtype=bool)
    np.testing.assert_array_equal(load_image(mask, size=(3, 3), channels=1)[:, :, 0], np.eye(3))


# Size and resizing


def test_wrong_size_without_resize_names_source_sizes_and_the_fix(rgb_png: Path) -> None:
    with pytest.raises(
        ValueError, match=r"rgb\.png' is 6x8 .*size=\(4, 4\).*resize=True.*--resize"
    ):
        load_image(rgb_png, size=(4, 4), channels=3)


def test_resize_gives_the_requested_size(rgb_png: Path) -> None:
    pixels = load_image(rgb_png, size=(12, 5), channels=3, resize=True)
    assert pixels.shape == (12, 5, 3)
    assert pixels.dtype == np.float32
    assert 0.0 <= pixels.min() and pixels.max() <= 1.0


def test_one_pixel_image_reads_and_resizes_to_a_constant(one_pixel_png: Path) -> None:
    single = load_image(one_pixel_png, size=(1, 1), channels=3)
    np.testing.assert_allclose(single[0, 0], [1.0, 0.0, 0.2], rtol=1e-6)
    grown = load_image(one_pixel_png, size=(4, 3), channels=3, resize=True)
    np.testing.assert_allclose(grown, np.broadcast_to(single, (4, 3, 3)), rtol=1e-6)


def test_array_resize_keeps_float_values_unquantised() -> None:
    values = np.full((4, 4), 0.123456, dtype=np.float64)
    resized = load_image(values, size=(2, 7), channels=1, resize=True)
    np.testing.assert_allclose(resized, 0.123456, rtol=1e-6)


# File errors


def test_truncated_file_is_a_value_error_chained_to_pillow(truncated_png: Path) -> None:
    with pytest.raises(
        ValueError, match=r"truncated\.png' is truncated or corrupt.*accepted"
    ) as info:
        load_image(truncated_png, size=(64, 64), channels=3)
    assert isinstance(info.value.__cause__, OSError)


def test_text_file_named_png_is_not_an_image(text_png: Path) -> None:
    with pytest.raises(
        ValueError, match=r"notes\.png' cannot be read as an image.*accepted"
    ) as info:
        load_image(text_png, size=SIZE, channels=3)
    assert isinstance(info.value.__cause__, UnidentifiedImageError)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "absent.png"
    with pytest.raises(FileNotFoundError, match=r"absent\.png' does not exist"):
        load_image(missing, size=SIZE, channels=3)


def test_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"is a directory; accepted: an image file"):
        load_image(tmp_path, size=SIZE, channels=3)


# Source errors


def test_zero_size_pil_image_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"is empty \(0x5 pixels\).*at least 1x1"):
        load_image(Image.new("L", (5, 0)), size=SIZE, channels=1)


def test_zero_size_array_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"shape \(3, 0\).*is empty.*at least 1x1"):
        load_image(np.zeros((3, 0)), size=SIZE, channels=1)


def test_two_channel_array_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"has 2 channels; accepted: arrays of 1, 3 or 4"):
        load_image(np.zeros((*SIZE, 2)), size=SIZE, channels=3)


def test_rgb_array_for_a_one_channel_model_says_so() -> None:
    with pytest.raises(
        ValueError, match=r"has 3 channels but the model takes channels=1.*\(height, width, 1\)"
    ):
        load_image(np.zeros((*SIZE, 3)), size=SIZE, channels=1)


def test_one_channel_array_for_a_colour_model_says_so() -> None:
    with pytest.raises(ValueError, match=r"has 1 channels but the model takes channels=3"):
        load_image(np.zeros(SIZE), size=SIZE, channels=3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_array_is_rejected(bad: float) -> None:
    values = np.zeros(SIZE)
    values[2, 3] = bad
    with pytest.raises(ValueError, match=r"<array of shape \(6, 8\).*NaN or infinite.*finite"):
        load_image(values, size=SIZE, channels=1)


def test_non_finite_float_image_is_rejected() -> None:
    raw = np.array([[0.0, np.nan]], dtype=np.float32)
    with pytest.raises(ValueError, match=r"<PIL image, mode 'F'.*NaN or infinite"):
        load_image(Image.fromarray(raw), size=(1, 2), channels=1)


@pytest.mark.parametrize("array", [np.array([["a", "b"]]), np.array([[object()]])])
def test_non_numeric_array_is_a_type_error(array: np.ndarray) -> None:
    with pytest.raises(TypeError, match=r"has dtype .*accepted: arrays of integers, floats"):
        load_image(array, size=(1, 2), channels=1)


def test_batch_array_to_load_image_points_to_load_images() -> None:
    with pytest.raises(ValueError, match=r"has 4 dimensions.*use load_images"):
        load_image(np.zeros((2, *SIZE, 1)), size=SIZE, channels=1)


@pytest.mark.parametrize("source", [42, b"image.png", [[0.0]]])
def test_unsupported_source_type_is_a_type_error(source: object) -> None:
    with pytest.raises(TypeError, match=r"unsupported type .*accepted: a path"):
        load_image(source, size=SIZE, channels=1)


# Option errors


@pytest.mark.parametrize(
    ("options", "error", "pattern"),
    [
        ({"size": 224}, TypeError, r"size must be a \(height, width\) pair.*got 224"),
        ({"size": (6.0, 8)}, TypeError, r"size must be .*got \(6\.0, 8\)"),
        ({"size": (0, 8)}, ValueError, r"size must be .*positive integers, got \(0, 8\)"),
        ({"channels": 2}, ValueError, r"channels must be one of \(1, 3, 4\), got 2"),
        ({"channels": "3"}, TypeError, r"channels must be an integer.*got '3'"),
        ({"resize": "yes"}, TypeError, r"resize must be True or False, got 'yes'"),
        ({"scale": 0}, ValueError, r"scale must be a positive finite number, got 0"),
        ({"scale": True}, TypeError, r"scale must be a positive finite number, got True"),
    ],
)
def test_bad_options_name_the_argument_and_value(
    options: dict, error: type[Exception], pattern: str
) -> None:
    arguments = {"size": SIZE, "channels": 1, **options}
    with pytest.raises(error, match=pattern):
        load_image(np.zeros(SIZE), **arguments)


# Batches


def test_load_images_stacks_mixed_sources(gray_png: Path, rgb_png: Path) -> None:
    sources = [gray_png, str(rgb_png), Image.fromarray(RGB_PIXELS), RGB_PIXELS / 255]
    batch = load_images(sources, size=SIZE, channels=3)
    assert batch.shape == (4, *SIZE, 3)
    assert batch.dtype == np.float32
    np.testing.assert_allclose(batch[1], batch[3], rtol=1e-6)


def test_load_images_accepts_a_generator(rgb_png: Path) -> None:
    batch = load_images((rgb_png for _ in range(2)), size=(3, 4), channels=1, resize=True)
    assert batch.shape == (2, 3, 4, 1)


def test_load_images_accepts_four_dimensional_array_batch() -> None:
    values = RNG.random((3, *SIZE, 3))
    np.testing.assert_allclose(load_images(values, size=SIZE, channels=3), values, rtol=1e-6)


def test_load_images_reads_three_dimensional_batch_as_one_channel() -> None:
    values = RNG.random((2, *SIZE))
    batch = load_images(values, size=SIZE, channels=1)
    np.testing.assert_allclose(batch[..., 0], values, rtol=1e-6)


def test_load_images_rejects_three_dimensional_batch_for_colour_model() -> None:
    with pytest.raises(ValueError, match=r"sources is an array of shape \(2, 6, 8\).*channels=1"):
        load_images(np.zeros((2, *SIZE)), size=SIZE, channels=3)


def test_load_images_names_a_file_by_its_path_and_an_array_by_its_index(
    rgb_png: Path, text_png: Path
) -> None:
    with pytest.raises(ValueError, match=r"^'[^']*notes\.png' cannot be read"):
        load_images([rgb_png, text_png], size=SIZE, channels=3)
    with pytest.raises(ValueError, match=r"sources\[2\] <array of shape \(6, 8, 2\)"):
        load_images([RGB_PIXELS, RGB_PIXELS, np.zeros((*SIZE, 2))], size=SIZE, channels=3)


def test_load_images_missing_file_names_its_path(tmp_path: Path, rgb_png: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"^'[^']*gone\.png' does not exist"):
        load_images([rgb_png, tmp_path / "gone.png"], size=SIZE, channels=3)


def test_load_images_rejects_an_empty_collection() -> None:
    with pytest.raises(ValueError, match=r"sources is empty; accepted: at least one image"):
        load_images([], size=SIZE, channels=3)


def test_load_images_rejects_a_single_path(rgb_png: Path) -> None:
    with pytest.raises(TypeError, match=r"got a single image '.*rgb\.png'; pass \[source\]"):
        load_images(str(rgb_png), size=SIZE, channels=3)
