"""Superpixels (SLIC or a regular grid) and the hierarchy that merges neighbours."""

from __future__ import annotations

import numpy as np

__all__ = ["slic_segments", "grid_segments", "segment_linkage"]


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
    """
    from skimage.segmentation import relabel_sequential, slic

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
    return relabel_sequential(labels)[0].astype(np.int32)


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
    flat = segments.ravel()
    counts = np.bincount(flat, minlength=n_segments).astype(float)
    ys, xs = np.divmod(np.arange(flat.size), width)
    centroid_y = np.bincount(flat, ys, n_segments) / counts / max(height, 1)
    centroid_x = np.bincount(flat, xs, n_segments) / counts / max(width, 1)
    pixels = _unit_range(image).reshape(flat.size, -1)
    colour = np.stack(
        [np.bincount(flat, pixels[:, c], n_segments) / counts for c in range(pixels.shape[1])],
        axis=1,
    )
    descriptors = np.column_stack([centroid_y, centroid_x, colour])

    # Touching segments: horizontal and vertical pixel neighbours with different labels.
    pairs = np.concatenate(
        [
            np.stack([segments[:, :-1].ravel(), segments[:, 1:].ravel()], axis=1),
            np.stack([segments[:-1, :].ravel(), segments[1:, :].ravel()], axis=1),
        ]
    )
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
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
