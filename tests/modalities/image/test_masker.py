"""The image masker: superpixels, their hierarchy, masked images and input checks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy.cluster.hierarchy import is_valid_linkage

from labelshap import Explainer, LabelModel
from labelshap.modalities.image import (
    ImageMasker,
    build_masked_images,
    grid_segments,
    segment_linkage,
)


def test_grid_segments_cut_square_cells_with_smaller_edges():
    segments = grid_segments(10, 7, cell=4)

    assert segments.shape == (10, 7)
    assert segments.max() + 1 == 3 * 2
    assert np.bincount(segments.ravel()).tolist() == [16, 12, 16, 12, 8, 6]


def test_slic_finds_about_the_requested_number_of_regions(images_factory):
    image = images_factory(1, size=64, seed=1)[0]
    segments = ImageMasker("slic", n_segments=40).segments(image)

    assert segments.dtype == np.int32
    assert sorted(np.unique(segments)) == list(range(segments.max() + 1))
    assert 10 <= segments.max() + 1 <= 60


def test_hierarchy_is_a_valid_linkage_of_touching_regions(images_factory):
    image = images_factory(1, size=32, seed=2)[0]
    segments = grid_segments(32, 32, cell=8)
    linkage = segment_linkage(segments, image)
    n_leaves = segments.max() + 1

    assert linkage.shape == (n_leaves - 1, 4)
    assert is_valid_linkage(linkage)
    members = {leaf: {leaf} for leaf in range(n_leaves)}
    for row, (left, right, _, size) in enumerate(linkage):
        merged = members[int(left)] | members[int(right)]
        members[n_leaves + row] = merged
        assert len(merged) == size
        assert _connected(segments, merged), f"cluster {sorted(merged)} is not one region"


def _connected(segments: np.ndarray, labels: set[int]) -> bool:
    from scipy.ndimage import label

    region = np.isin(segments, list(labels))
    return label(region)[1] == 1


def test_masked_images_take_the_fill_exactly_where_hidden():
    rng = np.random.default_rng(0)
    image = rng.random((6, 6, 3), dtype=np.float32)
    fill = rng.random((6, 6, 3), dtype=np.float32)
    segments = grid_segments(6, 6, cell=3)
    masks = np.array([[1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 0, 1]], dtype=np.float32)

    built = np.asarray(build_masked_images(masks, segments, image, fill))

    np.testing.assert_array_equal(built[0], image)
    np.testing.assert_array_equal(built[1], fill)
    kept = np.isin(segments, [0, 3])[..., None]
    np.testing.assert_array_equal(built[2], np.where(kept, image, fill))


@pytest.mark.parametrize(
    ("fill", "check"),
    [
        ("constant", lambda image, filled: np.all(filled == 0.25)),
        ("mean", lambda image, filled: np.allclose(filled, image.mean(axis=(0, 1)))),
        ("blur", lambda image, filled: filled.std() < image.std()),
    ],
)
def test_fills(fill, check, images_factory):
    image = images_factory(1, size=32, channels=3, seed=4)[0]
    filled = ImageMasker(fill=fill, constant=0.25).fill_image(image)

    assert filled.shape == image.shape
    assert filled.dtype == np.float32
    assert check(image, filled)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"segmentation": "felzenszwalb"}, r"segmentation='felzenszwalb'.*'slic', 'grid'"),
        ({"fill": "zero"}, r"fill='zero'.*'blur', 'mean', 'constant'"),
        ({"n_segments": 0}, r"n_segments=0 must be a positive integer"),
        ({"cell": 2.5}, r"cell=2.5 must be a positive integer"),
        ({"blur_sigma": -1.0}, r"blur_sigma=-1.0"),
    ],
)
def test_bad_masker_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImageMasker(**kwargs)


@pytest.fixture(scope="module")
def explainer(image_label_model):
    return Explainer(image_label_model, ImageMasker("grid", cell=8), max_evals=64)


def test_wrong_channel_count_is_refused(explainer, images_factory):
    with pytest.raises(ValueError, match=r"channel"):
        explainer.explain(images_factory(1, size=16, channels=3))


def test_wrong_size_without_resize_is_refused(explainer, tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((20, 24), dtype=np.uint8)).save(path)

    with pytest.raises(ValueError, match=r"big\.png.*resize"):
        explainer.explain([path])


def test_wrong_size_is_resized_when_asked(image_label_model, tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(np.full((20, 24), 200, dtype=np.uint8)).save(path)
    resizing = Explainer(image_label_model, ImageMasker("grid", cell=8, resize=True), max_evals=64)

    result = resizing.explain([path])

    assert result.data.shape == (1, 16, 16, 1)
    np.testing.assert_allclose(result.data, 200 / 255, atol=1e-5)


def test_nan_pixels_are_refused(explainer, images_factory):
    images = images_factory(2, size=16)
    images[1, 3, 4, 0] = np.nan

    with pytest.raises(ValueError, match=r"NaN"):
        explainer.explain(images)


def test_unreadable_file_is_refused(explainer, tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image")

    with pytest.raises(ValueError, match=r"notes\.png"):
        explainer.explain([path])


def test_a_model_without_an_image_input_is_refused():
    model = LabelModel(lambda x: np.zeros((len(x), 2)), ["x", "y"])
    explainer = Explainer(model, ImageMasker(), max_evals=64)

    with pytest.raises(ValueError, match=r"image input.*input_shape"):
        explainer.explain(np.zeros((1, 8, 8, 1), dtype=np.float32))


def test_a_plain_callable_is_explained_given_the_input_shape():
    def brightness(images):
        images = np.asarray(images)
        top = images[:, :4].mean(axis=(1, 2, 3))
        return np.stack([top, 1.0 - top], axis=1)

    model = LabelModel(brightness, ["top", "not_top"])
    masker = ImageMasker("grid", cell=4, fill="constant", input_shape=(8, 8, 1))
    image = np.ones((1, 8, 8, 1), dtype=np.float32)

    result = Explainer(model, masker, algorithm="exact", max_evals=16).explain(image)

    # Only the two top cells matter, each carrying half of the score's change.
    np.testing.assert_allclose(result.label_values("top")[0], [0.5, 0.5, 0.0, 0.0], atol=1e-12)
