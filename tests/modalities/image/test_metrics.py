"""Tests for the pointing game over superpixels."""

from __future__ import annotations

import numpy as np
import pytest

from labelshap.modalities.image.metrics import pointing_hit, pointing_random_baseline


@pytest.fixture
def quadrants() -> np.ndarray:
    """A 4x4 image cut into four 2x2 superpixels: 0 top left, 1 top right, 2, 3 below."""
    return np.array(
        [
            [0, 0, 1, 1],
            [0, 0, 1, 1],
            [2, 2, 3, 3],
            [2, 2, 3, 3],
        ]
    )


def _reference_baseline(segments: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Plain loop: fraction of superpixels with at least half their pixels in the box."""
    y0, x0, y1, x1 = box
    hits = 0
    labels = range(segments.max() + 1)
    for label in labels:
        total = inside = 0
        for y in range(segments.shape[0]):
            for x in range(segments.shape[1]):
                if segments[y, x] == label:
                    total += 1
                    inside += y0 <= y < y1 and x0 <= x < x1
        hits += inside >= total / 2
    return hits / len(labels)


def test_top_superpixel_inside_the_box_is_a_hit(quadrants):
    values = np.array([0.1, 0.9, 0.2, 0.3])
    assert pointing_hit(values, quadrants, (0, 2, 2, 4))


def test_top_superpixel_outside_the_box_is_a_miss(quadrants):
    values = np.array([0.1, 0.9, 0.2, 0.3])
    assert not pointing_hit(values, quadrants, (2, 0, 4, 2))


def test_top_superpixel_exactly_half_inside_counts(quadrants):
    values = np.array([0.1, 0.9, 0.2, 0.3])
    # The box covers the top row of superpixel 1: 2 of its 4 pixels.
    assert pointing_hit(values, quadrants, (0, 2, 1, 4))
    # One pixel of four is not enough.
    assert not pointing_hit(values, quadrants, (0, 3, 1, 4))


def test_the_largest_value_wins_even_when_all_are_negative(quadrants):
    values = np.array([-3.0, -1.0, -2.0, -4.0])
    assert pointing_hit(values, quadrants, (0, 2, 2, 4))
    assert not pointing_hit(values, quadrants, (0, 0, 2, 2))


def test_tie_with_one_superpixel_outside_is_a_miss(quadrants):
    values = np.array([0.5, 0.5, 0.0, 0.0])
    assert not pointing_hit(values, quadrants, (0, 0, 2, 2))


def test_tie_with_every_superpixel_inside_is_a_hit(quadrants):
    values = np.array([0.5, 0.5, 0.0, 0.0])
    assert pointing_hit(values, quadrants, (0, 0, 2, 4))


def test_floating_point_near_tie_counts_as_a_tie(quadrants):
    # 0.1 + 0.2 exceeds 0.3 by one ulp: credit split evenly must still tie.
    values = np.array([0.3, 0.1 + 0.2, 0.0, 0.0])
    assert values[1] > values[0]
    assert not pointing_hit(values, quadrants, (0, 2, 2, 4))
    # A real, if small, gap is no tie.
    assert pointing_hit(np.array([0.3, 0.3001, 0.0, 0.0]), quadrants, (0, 2, 2, 4))


def test_all_zero_values_tie_everywhere(quadrants):
    values = np.zeros(4)
    assert not pointing_hit(values, quadrants, (0, 0, 2, 4))
    assert pointing_hit(values, quadrants, (0, 0, 4, 4))


def test_box_accepts_numpy_integers(quadrants):
    box = tuple(np.array([0, 2, 2, 4], dtype=np.int32))
    assert pointing_hit(np.array([0.1, 0.9, 0.2, 0.3]), quadrants, box)


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((0, 0, 2, 2), 0.25),  # exactly superpixel 0
        ((0, 0, 2, 3), 0.5),  # superpixel 0 and half of superpixel 1
        ((0, 0, 1, 1), 0.0),  # a quarter of superpixel 0
        ((1, 1, 3, 3), 0.0),  # a quarter of each
        ((0, 0, 4, 4), 1.0),
    ],
)
def test_random_baseline_by_hand(quadrants, box, expected):
    assert pointing_random_baseline(quadrants, box) == pytest.approx(expected)


def test_random_baseline_with_uneven_superpixels():
    segments = np.array(
        [
            [0, 0, 0, 1],
            [0, 0, 0, 1],
            [2, 2, 2, 2],
        ]
    )
    # Superpixel 0 has 4 of 6 pixels inside, 1 has 0 of 2, 2 has 2 of 4.
    assert pointing_random_baseline(segments, (0, 1, 3, 3)) == pytest.approx(2 / 3)


def test_random_baseline_matches_a_plain_loop_and_one_hot_hits():
    rng = np.random.default_rng(0)
    for _ in range(20):
        # Random blocky segmentations that use every label.
        coarse = rng.permutation(np.arange(16) % rng.integers(2, 17)).reshape(4, 4)
        segments = np.kron(coarse, np.ones((3, 3), dtype=int))
        y0, x0 = rng.integers(0, 11, 2)
        box = (int(y0), int(x0), int(rng.integers(y0 + 1, 13)), int(rng.integers(x0 + 1, 13)))

        baseline = pointing_random_baseline(segments, box)
        assert baseline == pytest.approx(_reference_baseline(segments, box))

        # The baseline is the mean hit of an explainer that puts all credit on one superpixel.
        n_segments = segments.max() + 1
        hits = [pointing_hit(np.eye(n_segments)[f], segments, box) for f in range(n_segments)]
        assert baseline == pytest.approx(np.mean(hits))


@pytest.mark.parametrize(
    ("values", "box", "error", "match"),
    [
        (np.ones((2, 2)), (0, 0, 2, 2), ValueError, "segment_values must be .* shape \\(F,\\)"),
        (np.array([0.0, np.nan, 0, 0]), (0, 0, 2, 2), ValueError, "must be finite"),
        (np.ones(3), (0, 0, 2, 2), ValueError, "has label 3 but segment_values has only 3"),
        (np.ones(5), (0, 0, 2, 2), ValueError, "every label 0..4; labels \\[4\\] have no pixel"),
        (np.ones(4), (0, 0, 5, 2), ValueError, "0 <= y0 < y1 <= 4 .* got \\(0, 0, 5, 2\\)"),
        (np.ones(4), (2, 0, 2, 2), ValueError, "0 <= y0 < y1 <= 4"),
        (np.ones(4), (0, 0, 2), ValueError, "box must be four integers"),
        (np.ones(4), (0, 0, 2.5, 2), ValueError, "box must be four integers"),
    ],
)
def test_pointing_hit_rejects_bad_input(quadrants, values, box, error, match):
    with pytest.raises(error, match=match):
        pointing_hit(values, quadrants, box)


@pytest.mark.parametrize(
    ("segments", "error", "match"),
    [
        (np.zeros((2, 2, 1), dtype=int), ValueError, "segments must be a 2-D"),
        (np.zeros((2, 2)), TypeError, "segments must hold integer labels"),
        (np.array([[0, -1], [0, 0]]), ValueError, "labels >= 0"),
        (np.array([[0, 2], [0, 0]]), ValueError, "labels \\[1\\] have no pixel"),
    ],
)
def test_random_baseline_rejects_bad_segments(segments, error, match):
    with pytest.raises(error, match=match):
        pointing_random_baseline(segments, (0, 0, 1, 1))
