"""Superpixels (SLIC or a regular grid) and the hierarchy that merges neighbours."""

from __future__ import annotations

import numpy as np

__all__ = ["slic_segments", "grid_segments", "segment_linkage", "block_mean"]

# SLIC's time and memory grow with the pixels: above this many it runs on a copy shrunk
# by an integer factor (a 4096 x 4096 image: 26 s and 1.7 GB at full size, ~2 s shrunk).
SLIC_MAX_PIXELS = 2**20
# Pixels whose statistics are gathered at once for the hierarchy's segment descriptors.
_CHUNK_PIXELS = 2**20


def slic_segments(
    image: np.ndarray, n_segments: int = 80, compactness: float | None = None
) -> np.ndarray:
    """Cut an image into SLIC superpixels with scikit-image.

    Args:
        image: ``(H, W, C)`` float image.
        n_segments: Approximate number of superpixels.
        compactness: Balance of colour against space. ``None`` picks 0.1 for a
            single-channel image scaled to [0, 1] and 10 for colour (SLIC compares
            colours in Lab space there, whose range is about 100 times wider).

    Returns:
        ``(H, W)`` int32 labels, consecutive from 0.

    Notes:
        An image of more than :data:`SLIC_MAX_PIXELS` pixels (a megapixel) is segmented
        at a lower resolution: shrunk by the smallest integer factor ``f`` that brings it
        under the limit (block means), segmented, and each label repeated over its
        ``f x f`` block. Boundaries then follow edges to within ``f`` pixels (4 for a
        4096 x 4096 image); smaller images are segmented at full size.
    """
    from skimage.segmentation import relabel_sequential, slic

    height, width = image.shape[:2]
    factor = int(np.ceil(np.sqrt(height * width / SLIC_MAX_PIXELS)))
    full_image = image
    if factor > 1:
        image = block_mean(image, factor)
    pixels = _unit_range(image[..., :3] if image.shape[-1] >= 3 else image[..., 0])
    colour = pixels.ndim == 3
    if compactness is None:
        compactness = 10.0 if colour else 0.1
    labels = slic(
        pixels,
        n_segments=n_segments,
        compactness=compactness,
        channel_axis=-1 if colour else None,
        start_label=0,
        enforce_connectivity=True,
    )
    labels = relabel_sequential(labels)[0].astype(np.int32)
    if factor > 1:
        # Every block keeps at least one pixel, so no label is lost by the crop.
        labels = np.repeat(np.repeat(labels, factor, axis=0), factor, axis=1)
        labels = np.ascontiguousarray(labels[: full_image.shape[0], : full_image.shape[1]])
    return labels


def grid_segments(height: int, width: int, cell: int = 8) -> np.ndarray:
    """Cut a ``height x width`` image into square cells of ``cell`` pixels (edges smaller).

    Returns:
        ``(H, W)`` int32 labels, row-major from 0.
    """
    rows = np.arange(height) // cell
    cols = np.arange(width) // cell
    n_cols = int(cols.max()) + 1
    return (rows[:, None] * n_cols + cols[None, :]).astype(np.int32)


def segment_linkage(segments: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Merge neighbouring superpixels into a hierarchy (a scipy linkage matrix).

    Ward clustering (scikit-learn) of each segment's centroid and mean colour, allowed to
    merge only segments that touch, so every group in the hierarchy is a connected
    region of the image.

    Args:
        segments: ``(H, W)`` labels ``0..F-1``.
        image: ``(H, W, C)`` image the segments cut.

    Returns:
        ``(F - 1, 4)`` linkage rows ``[left, right, distance, leaves]``; empty for F < 2.
    """
    n_segments = int(segments.max()) + 1
    if n_segments < 2:
        return np.zeros((0, 4))
    from scipy.sparse import coo_matrix
    from sklearn.cluster import AgglomerativeClustering

    # Segment descriptors: centroid in [0, 1] and mean colour in [0, 1].
    height, width = segments.shape
    image = image.reshape(height, width, -1)
    sums = _segment_sums(segments, image, n_segments)
    counts = sums[:, 0]
    low, high = float(image.min()), float(image.max())
    colour = sums[:, 3:] / counts[:, None]
    colour = (colour - low) / (high - low) if high > low else np.zeros_like(colour)
    centroid_y = sums[:, 1] / counts / max(height, 1)
    centroid_x = sums[:, 2] / counts / max(width, 1)
    descriptors = np.column_stack([centroid_y, centroid_x, colour])

    # Touching segments: horizontal and vertical pixel neighbours with different labels.
    pairs = np.concatenate(
        [_touching(segments[:, :-1], segments[:, 1:]), _touching(segments[:-1, :], segments[1:, :])]
    )
    ones = np.ones(len(pairs))
    connectivity = coo_matrix((ones, (pairs[:, 0], pairs[:, 1])), (n_segments, n_segments))
    connectivity = ((connectivity + connectivity.T) > 0).astype(float)

    model = AgglomerativeClustering(
        n_clusters=None,
        distance_threshold=0.0,
        connectivity=connectivity,
        linkage="ward",
        compute_full_tree=True,
    ).fit(descriptors)
    return _to_linkage(model.children_, model.distances_, n_segments)


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Shrink ``(H, W, C)`` by ``factor``: the float32 mean of each ``factor x factor``
    block (edge pixels repeated to fill the last blocks), ``(ceil(H/f), ceil(W/f), C)``."""
    height, width, channels = image.shape
    rows, cols = -(-height // factor), -(-width // factor)
    if rows * factor != height or cols * factor != width:
        pad = ((0, rows * factor - height), (0, cols * factor - width), (0, 0))
        image = np.pad(image, pad, mode="edge")
    blocks = image.reshape(rows, factor, cols, factor, channels)
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def _segment_sums(segments: np.ndarray, image: np.ndarray, n_segments: int) -> np.ndarray:
    """Per segment: pixel count, sum of rows, sum of columns, sum of each channel.

    Gathered a band of rows at a time, so no per-pixel float64 copy of a large image is
    made at once.
    """
    height, width = segments.shape
    sums = np.zeros((n_segments, 3 + image.shape[-1]))
    band = max(1, _CHUNK_PIXELS // max(width, 1))
    columns = np.arange(width, dtype=np.float64)
    for top in range(0, height, band):
        labels = segments[top : top + band].ravel()
        rows = np.arange(top, top + len(labels) // width, dtype=np.float64)
        sums[:, 0] += np.bincount(labels, minlength=n_segments)
        sums[:, 1] += np.bincount(labels, np.repeat(rows, width), n_segments)
        sums[:, 2] += np.bincount(labels, np.tile(columns, len(rows)), n_segments)
        pixels = image[top : top + band].reshape(len(labels), -1)
        for channel in range(pixels.shape[1]):
            sums[:, 3 + channel] += np.bincount(labels, pixels[:, channel], n_segments)
    return sums


def _touching(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``(k, 2)`` label pairs of neighbouring pixels (same-shape views) that differ."""
    differ = first != second
    return np.stack([first[differ], second[differ]], axis=1)


def _to_linkage(children: np.ndarray, distances: np.ndarray, n_leaves: int) -> np.ndarray:
    sizes = np.ones(n_leaves + len(children))
    rows = np.zeros((len(children), 4))
    running = 0.0
    for i, (left, right) in enumerate(children):
        sizes[n_leaves + i] = sizes[left] + sizes[right]
        # Distances of a connectivity-constrained tree need not increase; keep them
        # monotone so the matrix is a valid scipy linkage.
        running = max(running, float(distances[i]))
        rows[i] = (left, right, running, sizes[n_leaves + i])
    return rows


def _unit_range(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    low, high = float(image.min()), float(image.max())
    return (image - low) / (high - low) if high > low else np.zeros_like(image)
