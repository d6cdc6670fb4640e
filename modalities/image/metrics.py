"""The pointing game: does a label's top-attributed superpixel fall inside its object's box?"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

__all__ = ["TIE_RELATIVE_TOLERANCE", "pointing_hit", "pointing_random_baseline"]

# Values within this fraction of the largest |value| of the top value tie with it, so that
# credit split evenly in floating point (a/3, a/3, a/3) counts as one tie.
TIE_RELATIVE_TOLERANCE = 1e-12


def pointing_hit(
    segment_values: np.ndarray, segments: np.ndarray, box: tuple[int, int, int, int]
) -> bool:
    """Score one label of one image in the pointing game.

    The superpixel with the largest value is a hit when at least half of its pixels lie
    inside ``box``. Superpixels tie with the top one when their value is within
    ``TIE_RELATIVE_TOLERANCE * max(|segment_values|)`` of it (all tie when every value is
    zero); a tie is a hit only if every tied superpixel is at least half inside, so an
    explanation cannot score by spreading its top credit evenly.

    Args:
        segment_values: ``(F,)`` finite attribution of each superpixel for the label.
        segments: ``(H, W)`` integer superpixel map using every label ``0..F-1``.
        box: ``(y0, x0, y1, x1)`` of the object, ends exclusive, inside the image.

    Returns:
        Whether the top superpixel (every tied one) is at least half inside the box.

    Raises:
        ValueError: If the shapes disagree, a value is not finite, or the box is empty or
            leaves the image.
        TypeError: If ``segments`` is not an integer array.

    Example:
        >>> segments = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
        >>> pointing_hit(np.array([0.1, 0.9]), segments, (0, 2, 2, 4))
        True
    """
    values = np.asarray(segment_values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(
            f"segment_values must be one value per superpixel, shape (F,), got shape "
            f"{values.shape!r}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(f"segment_values must be finite, got {segment_values!r}")
    inside = _half_inside(segments, box, n_segments=values.size)

    tolerance = TIE_RELATIVE_TOLERANCE * float(np.max(np.abs(values)))
    tied = values >= values.max() - tolerance
    return bool(np.all(inside[tied]))


def pointing_random_baseline(segments: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Expected pointing-game hit rate of a superpixel drawn uniformly at random.

    Args:
        segments: ``(H, W)`` integer superpixel map using every label ``0..F-1``.
        box: ``(y0, x0, y1, x1)`` of the object, ends exclusive, inside the image.

    Returns:
        The fraction of superpixels with at least half of their pixels inside ``box``.

    Raises:
        ValueError: If ``segments`` or ``box`` is malformed (see :func:`pointing_hit`).
        TypeError: If ``segments`` is not an integer array.

    Example:
        >>> segments = np.array([[0, 0, 1, 1], [2, 2, 3, 3]])
        >>> pointing_random_baseline(segments, (0, 0, 2, 2))
        0.5
    """
    return float(np.mean(_half_inside(segments, box)))


def _half_inside(
    segments: np.ndarray, box: tuple[int, int, int, int], n_segments: int | None = None
) -> np.ndarray:
    """Validate the inputs; return, per superpixel, whether >= half its pixels are in the box.

    Args:
        segments: The superpixel map.
        box: The object's box.
        n_segments: The number of superpixels the caller expects, or None to take
            ``segments.max() + 1``.
    """
    segments = np.asarray(segments)
    if segments.ndim != 2:
        raise ValueError(f"segments must be a 2-D (H, W) map, got shape {segments.shape!r}")
    if not np.issubdtype(segments.dtype, np.integer):
        raise TypeError(f"segments must hold integer labels, got dtype {segments.dtype!r}")
    if segments.size == 0 or segments.min() < 0:
        raise ValueError("segments must be non-empty with labels >= 0")
    expected = int(segments.max()) + 1 if n_segments is None else n_segments
    if segments.max() >= expected:
        raise ValueError(
            f"segments has label {int(segments.max())!r} but segment_values has only "
            f"{expected!r} entries; labels must be 0..F-1"
        )
    sizes = np.bincount(segments.ravel(), minlength=expected)
    if np.any(sizes == 0):
        missing = np.flatnonzero(sizes == 0).tolist()
        raise ValueError(
            f"segments must use every label 0..{expected - 1}; labels {missing!r} have no pixel"
        )
    y0, x0, y1, x1 = _check_box(box, segments.shape)

    inside = np.bincount(segments[y0:y1, x0:x1].ravel(), minlength=expected)
    return 2 * inside >= sizes


def _check_box(box: Any, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Return ``box`` as four ints, or raise when it is empty or leaves an image of ``shape``."""
    try:
        corners = tuple(operator.index(value) for value in box)
    except (TypeError, ValueError) as err:
        raise ValueError(f"box must be four integers (y0, x0, y1, x1), got {box!r}") from err
    if len(corners) != 4:
        raise ValueError(f"box must be four integers (y0, x0, y1, x1), got {box!r}")
    y0, x0, y1, x1 = corners
    height, width = shape
    if not (0 <= y0 < y1 <= height and 0 <= x0 < x1 <= width):
        raise ValueError(
            f"box must satisfy 0 <= y0 < y1 <= {height} and 0 <= x0 < x1 <= {width} "
            f"(ends exclusive), got {box!r}"
        )
    return y0, x0, y1, x1
