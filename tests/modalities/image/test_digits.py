"""Tests for the digit canvases and the digit CNN."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from labelshap.modalities.image import digits
from labelshap.modalities.image.digits import (
    DigitCanvases,
    build_digit_cnn,
    make_digit_canvases,
    train_digit_model,
)

SIZE = 64
DIGIT_SIZE = 20
MAX_DIGITS = 3


@pytest.fixture(scope="module")
def train_canvases() -> DigitCanvases:
    return make_digit_canvases(300, split="train", seed=7)


@pytest.fixture(scope="module")
def test_canvases() -> DigitCanvases:
    return make_digit_canvases(300, split="test", seed=7)


@pytest.fixture(params=["train", "test"])
def canvases(request, train_canvases, test_canvases) -> DigitCanvases:
    return train_canvases if request.param == "train" else test_canvases


def _present_rows(canvases: DigitCanvases, i: int) -> np.ndarray:
    return canvases.boxes[i][canvases.boxes[i, :, 0] >= 0]


def test_shapes_dtypes_and_value_range(canvases):
    assert canvases.images.shape == (300, SIZE, SIZE, 1)
    assert canvases.images.dtype == np.float32
    assert canvases.labels.shape == (300, 10)
    assert canvases.labels.dtype == np.float32
    assert canvases.boxes.shape == (300, MAX_DIGITS, 5)
    assert canvases.boxes.dtype == np.int32
    assert canvases.label_names == tuple(str(d) for d in range(10))
    assert canvases.images.min() >= 0.0
    assert canvases.images.max() <= 1.0
    assert len(canvases) == 300


def test_same_seed_gives_identical_canvases(train_canvases):
    again = make_digit_canvases(300, split="train", seed=7)
    np.testing.assert_array_equal(again.images, train_canvases.images)
    np.testing.assert_array_equal(again.labels, train_canvases.labels)
    np.testing.assert_array_equal(again.boxes, train_canvases.boxes)


def test_other_seed_or_split_gives_other_canvases(train_canvases, test_canvases):
    other = make_digit_canvases(300, split="train", seed=8)
    assert not np.array_equal(other.images, train_canvases.images)
    assert not np.array_equal(test_canvases.images, train_canvases.images)


def test_labels_match_the_digits_with_boxes(canvases):
    for i in range(len(canvases)):
        expected = np.zeros(10, dtype=np.float32)
        expected[_present_rows(canvases, i)[:, 0]] = 1.0
        np.testing.assert_array_equal(canvases.labels[i], expected)


def test_one_to_max_digits_distinct_digits_per_canvas(canvases):
    counts = canvases.labels.sum(axis=1)
    assert set(counts.astype(int).tolist()) == {1, 2, 3}
    for i in range(len(canvases)):
        present = _present_rows(canvases, i)[:, 0]
        assert len(present) == counts[i]
        assert len(set(present.tolist())) == len(present)
        # Padding rows come after the digits and are all -1.
        padding = canvases.boxes[i, len(present) :]
        assert np.all(padding == -1)


def test_boxes_lie_in_canvas_and_never_touch(canvases):
    for i in range(len(canvases)):
        occupied = np.zeros((SIZE, SIZE), dtype=int)
        for _, y0, x0, y1, x1 in _present_rows(canvases, i):
            assert 0 <= y0 and 0 <= x0 and y1 <= SIZE and x1 <= SIZE
            assert (y1 - y0, x1 - x0) == (DIGIT_SIZE, DIGIT_SIZE)
            # Grow each box by one pixel: grown boxes may touch but never share a pixel
            # with another box itself.
            grown = np.zeros((SIZE, SIZE), dtype=bool)
            grown[max(y0 - 1, 0) : y1 + 1, max(x0 - 1, 0) : x1 + 1] = True
            assert not np.any(grown & (occupied > 0)), f"canvas {i} boxes touch"
            occupied[y0:y1, x0:x1] += 1


def test_ink_inside_every_box_and_nothing_outside(canvases):
    for i in range(len(canvases)):
        outside = np.ones((SIZE, SIZE), dtype=bool)
        for _, y0, x0, y1, x1 in _present_rows(canvases, i):
            assert canvases.images[i, y0:y1, x0:x1, 0].max() > 0.5
            outside[y0:y1, x0:x1] = False
        assert np.all(canvases.images[i, :, :, 0][outside] == 0.0)


def test_box_holds_the_upscaled_source_digit_of_its_class(canvases):
    targets = load_digits().target
    for i in range(len(canvases)):
        for slot, (digit, y0, x0, y1, x1) in enumerate(_present_rows(canvases, i)):
            source = canvases.sources[i, slot]
            assert targets[source] == digit
            expected = digits._upscaled_digits(DIGIT_SIZE)[0][source]
            np.testing.assert_array_equal(canvases.images[i, y0:y1, x0:x1, 0], expected)


def test_train_and_test_pools_share_no_digit_image(train_canvases, test_canvases):
    train_pool = digits._pool_indices("train")
    test_pool = digits._pool_indices("test")
    assert not set(train_pool.tolist()) & set(test_pool.tolist())
    assert len(train_pool) + len(test_pool) == 1797
    assert 0.24 < len(test_pool) / 1797 < 0.26

    used_train = set(train_canvases.sources[train_canvases.sources >= 0].tolist())
    used_test = set(test_canvases.sources[test_canvases.sources >= 0].tolist())
    assert used_train <= set(train_pool.tolist())
    assert used_test <= set(test_pool.tolist())
    assert not used_train & used_test


def test_pools_are_stratified_by_class():
    targets = load_digits().target
    test_counts = np.bincount(targets[digits._pool_indices("test")], minlength=10)
    all_counts = np.bincount(targets, minlength=10)
    np.testing.assert_allclose(test_counts / all_counts, 0.25, atol=0.02)


def test_boxes_for_maps_digit_to_its_box(train_canvases):
    rows = _present_rows(train_canvases, 0)
    expected = {int(r[0]): tuple(int(v) for v in r[1:]) for r in rows}
    assert train_canvases.boxes_for(0) == expected
    with pytest.raises(IndexError, match="out of range"):
        train_canvases.boxes_for(300)


def test_single_digit_canvases_hold_exactly_one_digit():
    canvases = make_digit_canvases(50, max_digits=1, seed=3)
    assert np.all(canvases.labels.sum(axis=1) == 1)
    assert canvases.boxes.shape == (50, 1, 5)


def test_crowded_canvas_still_fits_every_digit():
    # Four 20-pixel digits fit on a 41-pixel canvas only in its four corners.
    canvases = make_digit_canvases(40, size=41, digit_size=20, max_digits=4, seed=0)
    full = [i for i in range(len(canvases)) if canvases.labels[i].sum() == 4]
    assert full
    for i in full:
        corners = {(int(r[1]), int(r[2])) for r in _present_rows(canvases, i)}
        assert corners == {(0, 0), (0, 21), (21, 0), (21, 21)}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 0}, ValueError, "n must be an integer >= 1, got 0"),
        ({"n": 2.5}, TypeError, "n must be an integer"),
        ({"n": 2, "split": "valid"}, ValueError, "split must be one of .*'valid'"),
        ({"n": 2, "seed": -1}, ValueError, "seed must be an integer >= 0, got -1"),
        ({"n": 2, "max_digits": 0}, ValueError, "max_digits must be an integer >= 1"),
        ({"n": 2, "max_digits": 11}, ValueError, "max_digits must be between 1 and 10"),
        ({"n": 2, "max_digits": 10}, ValueError, "max_digits=10 boxes .* at most 9 fit"),
        ({"n": 2, "digit_size": 70}, ValueError, "digit_size must be at most size=64, got 70"),
        ({"n": 2, "digit_size": 4}, ValueError, "digit_size must be an integer >= 8"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, error, match):
    n = kwargs.pop("n")
    with pytest.raises(error, match=match):
        make_digit_canvases(n, **kwargs)


def test_cnn_maps_canvases_to_label_probabilities(train_canvases):
    model = build_digit_cnn()
    assert model.input_shape == (None, SIZE, SIZE, 1)
    assert model.inputs[0].name == "canvas"
    scores = np.asarray(model(train_canvases.images[:4]))
    assert scores.shape == (4, 10)
    assert np.all((scores > 0) & (scores < 1))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_shape": (64, 64)}, "input_shape must be \\(height, width, channels\\)"),
        ({"input_shape": (4, 64, 1)}, "input_shape must be at least 8x8"),
        ({"n_labels": 0}, "n_labels must be an integer >= 1, got 0"),
    ],
)
def test_cnn_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_digit_cnn(**kwargs)


_TINY = {"seed": 1, "n_train": 64, "n_test": 48, "epochs": 1, "progress": False}


def test_training_reports_metrics_without_caching(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELSHAP_CACHE", str(tmp_path))
    trained = train_digit_model(cache=False, **_TINY)

    assert trained.path is None
    assert not list(tmp_path.rglob("*.keras"))
    assert trained.label_names == tuple(str(d) for d in range(10))
    metrics = trained.metrics
    assert set(metrics) == {
        "mean_average_precision",
        "average_precision",
        "n_train",
        "n_test",
        "epochs",
        "train_seconds",
    }
    assert (metrics["n_train"], metrics["n_test"], metrics["epochs"]) == (64, 48, 1)
    assert set(metrics["average_precision"]) == set(trained.label_names)
    finite = [v for v in metrics["average_precision"].values() if np.isfinite(v)]
    assert metrics["mean_average_precision"] == pytest.approx(np.mean(finite))
    assert 0.0 <= metrics["mean_average_precision"] <= 1.0
    assert metrics["train_seconds"] > 0


def test_training_caches_and_reloads(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELSHAP_CACHE", str(tmp_path))
    first = train_digit_model(cache=True, **_TINY)

    assert first.path is not None
    assert first.path.parent == tmp_path / "models"
    assert first.path.suffix == ".keras" and first.path.is_file()
    saved = json.loads(first.path.with_suffix(".json").read_text())
    assert saved.keys() == first.metrics.keys()
    assert saved["mean_average_precision"] == pytest.approx(first.metrics["mean_average_precision"])
    assert not list(tmp_path.rglob("*partial*"))

    # Another configuration gets another file.
    other = train_digit_model(cache=True, **{**_TINY, "seed": 2})
    assert other.path != first.path

    # A second call must not train: building a model would fail.
    def no_build(*args, **kwargs):
        raise AssertionError("the cached model should have been reloaded")

    monkeypatch.setattr(digits, "build_digit_cnn", no_build)
    second = train_digit_model(cache=True, **_TINY)
    assert second.path == first.path
    assert second.metrics["mean_average_precision"] == pytest.approx(
        first.metrics["mean_average_precision"]
    )
    canvases = make_digit_canvases(4, split="test", seed=0)
    np.testing.assert_allclose(
        second.model.predict(canvases.images, verbose=0),
        first.model.predict(canvases.images, verbose=0),
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_train": 0}, "n_train must be an integer >= 1, got 0"),
        ({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
        ({"seed": -3}, "seed must be an integer >= 0, got -3"),
    ],
)
def test_training_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_digit_model(cache=False, **kwargs)


def test_saved_canvases_read_back_through_the_command_lines_loader(test_canvases, tmp_path):
    # The demo writes its canvases for `labelshap explain image`: 8-bit PNG files that the
    # command's loader (scale 1/255) reads back within half a grey level.
    from labelshap.modalities.image.demo import save_canvases
    from labelshap.modalities.image.io import load_image

    images = test_canvases.images[:3]
    paths = save_canvases(images, tmp_path / "canvases")

    assert [path.name for path in paths] == ["canvas_000.png", "canvas_001.png", "canvas_002.png"]
    for path, image in zip(paths, images, strict=True):
        loaded = load_image(path, size=image.shape[:2], channels=image.shape[-1])
        assert loaded.shape == image.shape
        np.testing.assert_allclose(loaded, image, atol=0.5 / 255 + 1e-6)
