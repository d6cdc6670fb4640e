"""Per-label SHAP overlays: where in one image each region raised or lowered each label."""

from __future__ import annotations

import logging
import math
import numbers
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure

__all__ = ["plot_label_overlays", "save_figure", "VALUES_LABEL"]

logger = logging.getLogger(__name__)

# Artist label of each label panel's SHAP value image, so callers and tests can find them.
VALUES_LABEL = "shap_values"

_MAX_COLUMNS = 6
_PANEL_INCHES = 2.4
_TITLE_INCHES = 0.5
_COLORBAR_INCHES = 0.8
_TITLE_CHARACTERS = 22
_BACKGROUND_ALPHA = 0.4
_BOUNDARY_ALPHA = 0.3
_VALUES_MAX_ALPHA = 0.9
_RANGE_TOLERANCE = 1e-3
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


def plot_label_overlays(
    image: np.ndarray,
    pixel_values: np.ndarray,
    label_names: Sequence[str],
    scores: Sequence[float],
    *,
    segments: np.ndarray | None = None,
    title: str | None = None,
) -> Figure:
    """Draw one image and, for each label, where its regions raised or lowered the score.

    The first panel shows the image. Each following panel shows the image faded to
    grayscale with the label's SHAP values on top: red where a region raised the label's
    score, blue where it lowered it, transparent where it did not matter. All label panels
    share one symmetric colour scale ``[-m, m]``, ``m`` the largest absolute value over all
    of them, so colours compare across labels; one colorbar shows it. Panels wrap onto
    several rows past six.

    Args:
        image: The image, shape ``(height, width, channels)`` with 1, 3 or 4 channels (or
            ``(height, width)``), values in [0, 1].
        pixel_values: Shape ``(height, width, k)``: for each pixel, the SHAP value of its
            region for each of the ``k`` labels.
        label_names: The ``k`` label names, in the order of ``pixel_values``.
        scores: The model's ``k`` scores for those labels, shown in the panel titles.
        segments: Optional superpixel map, shape ``(height, width)``, of integer region ids;
            its boundaries are drawn faintly on the label panels.
        title: Optional title above the whole figure.

    Returns:
        A ``matplotlib.figure.Figure`` built without pyplot (no global state, no display);
        save it with :func:`save_figure`. With ``k == 0`` it shows the image alone and
        says that no label was selected.

    Raises:
        TypeError: If an argument has the wrong type (non-numeric arrays, non-string names).
        ValueError: If shapes disagree, the image is outside [0, 1], or a value is NaN or
            infinite.
    """
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    image = _check_image(image)
    height, width = image.shape[:2]
    pixel_values = _check_pixel_values(pixel_values, (height, width))
    label_count = pixel_values.shape[2]
    label_names = _check_label_names(label_names, label_count)
    scores = _check_scores(scores, label_count)
    boundaries = None if segments is None else _segment_boundaries(segments, (height, width))

    # One symmetric scale for every label of this image; all-zero values still need a range.
    largest = float(np.abs(pixel_values).max()) if pixel_values.size else 0.0
    limit = largest if largest > 0 else 1.0
    norm = Normalize(vmin=-limit, vmax=limit)

    # Lay the panels out in balanced rows of at most _MAX_COLUMNS.
    panel_count = label_count + 1
    rows = math.ceil(panel_count / _MAX_COLUMNS)
    columns = math.ceil(panel_count / rows)
    panel_height = _PANEL_INCHES * min(max(height / width, 0.4), 2.5)
    figure_height = rows * (panel_height + _TITLE_INCHES)
    figure_height += _COLORBAR_INCHES if label_count else 0.0
    figure_height += 0.4 if title else 0.0
    figure = Figure(figsize=(columns * _PANEL_INCHES + 0.3, figure_height), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for unused in axes[panel_count:]:
        unused.set_visible(False)

    _draw_input(axes[0], image, label_count)
    background = _grayscale(image)
    colormap = _diverging_transparent_colormap()
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)
    values_image = None
    for index in range(label_count):
        axis = axes[index + 1]
        axis.imshow(background, cmap="gray", vmin=0.0, vmax=1.0, alpha=_BACKGROUND_ALPHA)
        values_image = axis.imshow(
            pixel_values[:, :, index], cmap=colormap, norm=norm, interpolation="nearest"
        )
        values_image.set_label(VALUES_LABEL)
        if boundaries is not None:
            axis.imshow(boundaries, interpolation="nearest", extent=extent)
        axis.set_title(_panel_title(label_names[index], scores[index]), fontsize=9)
        axis.set_axis_off()

    if values_image is not None:
        colorbar = figure.colorbar(
            values_image,
            ax=list(axes[:panel_count]),
            location="bottom",
            shrink=min(1.0, 0.35 + 0.1 * columns),
            aspect=30,
            pad=0.02,
        )
        colorbar.set_label("SHAP value: red raised the label's score, blue lowered it", size=9)
        colorbar.ax.tick_params(labelsize=8)
    if title:
        figure.suptitle(title)
    logger.debug("drew overlays for %d labels, colour scale +/-%.3g", label_count, limit)
    return figure


def save_figure(figure: Figure, path: str | os.PathLike[str], *, dpi: int = 100) -> Path:
    """Write a figure to a PNG file, creating missing parent directories.

    Args:
        figure: The figure, for example from :func:`plot_label_overlays`.
        path: Where to write; it must end in ``.png``, or have no suffix (``.png`` is added).
        dpi: Resolution in dots per inch.

    Returns:
        The path written.

    Raises:
        TypeError: If ``figure`` is not a matplotlib figure or ``dpi`` not a number.
        ValueError: If ``path`` has another suffix than ``.png`` or ``dpi`` is not positive.
    """
    from matplotlib.figure import Figure

    if not isinstance(figure, Figure):
        raise TypeError(f"figure must be a matplotlib.figure.Figure, got {type(figure).__name__}")
    if not isinstance(dpi, numbers.Real) or isinstance(dpi, bool):
        raise TypeError(f"dpi must be a positive number, got {dpi!r}")
    if not (math.isfinite(dpi) and dpi > 0):
        raise ValueError(f"dpi must be a positive number, got {dpi!r}")
    path = Path(path)
    if path.suffix == "":
        path = path.with_suffix(".png")
    if path.suffix.lower() != ".png":
        raise ValueError(f"path must end in .png (PNG is written), got {str(path)!r}")

    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, format="png")
    logger.debug("saved figure to %s", path)
    return path


def _check_image(image: object) -> np.ndarray:
    """Return the image as float (H, W, C) clipped to [0, 1], or raise naming `image`."""
    image = _numeric_array(image, "image")
    if image.ndim == 2:
        image = image[:, :, np.newaxis]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or 0 in image.shape[:2]:
        raise ValueError(
            f"image must have shape (height, width, channels) with 1, 3 or 4 channels, "
            f"or (height, width), got shape {image.shape}"
        )
    low, high = float(image.min()), float(image.max())
    if not (low >= -_RANGE_TOLERANCE and high <= 1 + _RANGE_TOLERANCE):
        raise ValueError(
            f"image must hold values in [0, 1] for display, got values in [{low!r}, {high!r}]; "
            "divide 0-255 pixels by 255"
        )
    return np.clip(image, 0.0, 1.0)


def _check_pixel_values(pixel_values: object, image_shape: tuple[int, int]) -> np.ndarray:
    pixel_values = _numeric_array(pixel_values, "pixel_values")
    if pixel_values.ndim != 3 or pixel_values.shape[:2] != image_shape:
        raise ValueError(
            f"pixel_values must have shape (height, width, k) = ({image_shape[0]}, "
            f"{image_shape[1]}, k) to match the image, got shape {pixel_values.shape}"
        )
    return pixel_values


def _check_label_names(label_names: object, label_count: int) -> list[str]:
    if isinstance(label_names, str) or not isinstance(label_names, (Sequence, np.ndarray)):
        raise TypeError(
            f"label_names must be a sequence of {label_count} strings, got {label_names!r}"
        )
    names = list(label_names)
    if not all(isinstance(name, str) for name in names):
        raise TypeError(f"label_names must hold strings, got {names!r}")
    if len(names) != label_count:
        raise ValueError(
            f"label_names must hold one name per label of pixel_values ({label_count}), "
            f"got {len(names)}: {names!r}"
        )
    return names


def _check_scores(scores: object, label_count: int) -> list[float]:
    if isinstance(scores, str) or not isinstance(scores, (Sequence, np.ndarray)):
        raise TypeError(f"scores must be a sequence of {label_count} numbers, got {scores!r}")
    values = np.asarray(scores)
    if values.dtype.kind not in "biuf":
        raise TypeError(f"scores must be a sequence of {label_count} numbers, got {scores!r}")
    if values.shape != (label_count,):
        raise ValueError(
            f"scores must hold one score per label of pixel_values ({label_count}), "
            f"got shape {values.shape}: {scores!r}"
        )
    return [float(value) for value in values]


def _numeric_array(value: object, name: str) -> np.ndarray:
    """``value`` as a finite float array, or TypeError/ValueError naming ``name``."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(value).__name__}")
    if value.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {value.dtype}")
    value = value.astype(np.float64)
    if not np.isfinite(value).all():
        raise ValueError(f"{name} must hold finite values, got NaN or infinite values")
    return value


def _segment_boundaries(segments: object, image_shape: tuple[int, int]) -> np.ndarray:
    """An RGBA layer at twice the resolution, faint on superpixel boundaries, else clear."""
    from skimage.segmentation import find_boundaries

    if not isinstance(segments, np.ndarray) or segments.dtype.kind not in "biu":
        raise TypeError(
            f"segments must be an integer numpy array of shape {image_shape}, got "
            f"{type(segments).__name__}"
            + (f" of dtype {segments.dtype}" if isinstance(segments, np.ndarray) else "")
        )
    if segments.shape != image_shape:
        raise ValueError(
            f"segments must have the image's shape {image_shape}, got {segments.shape}"
        )
    # Subpixel mode marks the gaps between pixels at twice the resolution: one thin line.
    boundaries = find_boundaries(segments, mode="subpixel")
    layer = np.zeros((*boundaries.shape, 4))
    layer[boundaries, 3] = _BOUNDARY_ALPHA
    return layer


def _draw_input(axis: Axes, image: np.ndarray, label_count: int) -> None:
    """The first panel: the image as the model saw it."""
    if image.shape[2] == 1:
        axis.imshow(image[:, :, 0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        axis.imshow(image)
    note = "" if label_count else "\nno label was selected"
    axis.set_title(f"input{note}", fontsize=9)
    axis.set_axis_off()


def _grayscale(image: np.ndarray) -> np.ndarray:
    """Luma of an (H, W, C) image in [0, 1]; alpha, if any, is ignored."""
    if image.shape[2] == 1:
        return image[:, :, 0]
    return image[:, :, :3] @ _LUMA_WEIGHTS


def _panel_title(name: str, score: float) -> str:
    """The label name, wrapped to two lines at most, and the model's score."""
    lines = textwrap.wrap(name, _TITLE_CHARACTERS, max_lines=2, placeholder="...") or [""]
    return "\n".join(lines) + f"\nscore {score:.3f}"


def _diverging_transparent_colormap() -> Colormap:
    """Blue-white-red, transparent at 0 and more opaque with |value|, so the image shows."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    colours = colormaps["bwr"](np.linspace(0.0, 1.0, 256))
    colours[:, 3] = _VALUES_MAX_ALPHA * np.abs(np.linspace(-1.0, 1.0, 256)) ** 0.7
    return ListedColormap(colours, name="bwr_transparent")
