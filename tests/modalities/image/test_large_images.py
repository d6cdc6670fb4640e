"""Large images: memory of a 4096 x 4096 explanation, and the shortcuts that keep it small."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from skimage.filters import gaussian

from benchmarks.memory import measure, synthetic_image
from labelshap.modalities.image import ImageMasker, segmentation
from labelshap.modalities.image.masker import (
    _fused,
    build_masked_image_group,
    build_masked_images,
)
from labelshap.modalities.image.segmentation import block_mean, slic_segments

PEAK_RSS_BOUND = 8 * 2**30


def test_explaining_a_4096_image_at_default_settings_stays_under_8_gib():
    """ImageMasker() and Explainer defaults, except the smallest budget "auto" accepts
    for this image (one antithetic pair per superpixel), in a fresh process."""
    figures = measure(4096, max_evals=120, timeout=600)

    assert figures["peak_rss_bytes"] < PEAK_RSS_BOUND
    assert figures["n_features"] > 10
    assert figures["evaluations"] == 120
    assert figures["rows_per_call"] == 2  # 512 MiB of 201 MB rows


def test_fused_builds_equal_the_plain_builds_bit_for_bit():
    rng = np.random.default_rng(0)
    segments = rng.integers(0, 7, (2, 24, 20)).astype(np.int32)
    images = rng.random((2, 24, 20, 3), dtype=np.float32)
    fills = rng.random((2, 24, 20, 3), dtype=np.float32)
    masks = rng.integers(0, 2, (9, 8)).astype(np.float32)
    masks[:, -1] = rng.integers(0, 2, 9)
    one = (tf.constant(segments[0]), tf.constant(images[0]), tf.constant(fills[0]))

    np.testing.assert_array_equal(
        _fused(build_masked_images)(masks[:, :-1], *one),
        build_masked_images(masks[:, :-1], *one),
    )
    np.testing.assert_array_equal(
        _fused(build_masked_image_group)(masks, segments, images, fills),
        build_masked_image_group(masks, segments, images, fills),
    )


def test_large_images_are_bound_with_one_fused_build_object(image_model_factory):
    from labelshap import LabelModel

    model = LabelModel(image_model_factory(size=512, channels=3))
    masker = ImageMasker()
    first, second = (masker.bind(synthetic_image(512, seed), model) for seed in (0, 1))

    assert first.build is second.build is _fused(build_masked_images)
    assert first.group_build is _fused(build_masked_image_group)


def test_wide_blur_is_close_to_the_full_size_blur_away_from_the_borders():
    """Within a sigma of the border the full-size blur repeats one noisy edge pixel, the
    shrunk one an edge block's mean: they differ there by up to ~4% of the range."""
    image = synthetic_image(512, seed=3)  # default sigma 64: shrunk by 2

    fast = ImageMasker().fill_image(image)
    full = gaussian(image, sigma=64.0, channel_axis=-1, preserve_range=True)

    assert fast.dtype == np.float32
    error = np.abs(fast - full) / (full.max() - full.min())
    assert error[64:-64, 64:-64].max() < 0.01
    assert error.mean() < 0.002


def test_narrow_blur_is_the_full_size_blur():
    image = synthetic_image(96, seed=4)

    filled = ImageMasker(blur_sigma=12.0).fill_image(image)

    np.testing.assert_array_equal(
        filled,
        gaussian(image, sigma=12.0, channel_axis=-1, preserve_range=True).astype(np.float32),
    )


def test_slic_on_a_large_image_labels_whole_blocks_of_the_shrunk_image():
    image = synthetic_image(1100, seed=5)[:, :1030]  # 1.1 megapixels: shrunk by 2

    segments = slic_segments(image, n_segments=40)

    assert segments.shape == (1100, 1030) and segments.dtype == np.int32
    assert sorted(np.unique(segments)) == list(range(segments.max() + 1))
    blocks = segments[:1100, :1030].reshape(550, 2, 515, 2)
    assert (blocks == blocks[:, :1, :, :1]).all()
    assert 10 <= segments.max() + 1 <= 60


def test_block_mean_repeats_edge_pixels_into_the_last_blocks():
    image = np.arange(5 * 3, dtype=np.float32).reshape(5, 3, 1)

    shrunk = block_mean(image, 2)

    assert shrunk.shape == (3, 2, 1)
    assert shrunk[0, 0, 0] == np.mean([0, 1, 3, 4])
    assert shrunk[2, 1, 0] == 14.0  # the corner pixel, repeated


def test_segment_statistics_gathered_in_bands_equal_whole_image_sums(monkeypatch):
    rng = np.random.default_rng(6)
    segments = rng.integers(0, 5, (37, 11)).astype(np.int32)
    image = rng.random((37, 11, 3), dtype=np.float32)
    monkeypatch.setattr(segmentation, "_CHUNK_PIXELS", 40)  # bands of 3 rows

    sums = segmentation._segment_sums(segments, image, 5)

    ys, xs = np.indices(segments.shape)
    flat = segments.ravel()
    expected = [np.bincount(flat, minlength=5)]
    expected += [np.bincount(flat, values.ravel(), 5) for values in (ys, xs)]
    expected += [np.bincount(flat, image[..., c].ravel(), 5) for c in range(3)]
    np.testing.assert_allclose(sums, np.stack(expected, axis=1), rtol=1e-12)


@pytest.mark.parametrize("size", [64, 300])
def test_synthetic_image_is_seeded_and_in_the_unit_range(size):
    image = synthetic_image(size, seed=7)

    np.testing.assert_array_equal(image, synthetic_image(size, seed=7))
    assert image.dtype == np.float32 and 0.0 <= image.min() and image.max() <= 1.0
