"""Per-label SHAP overlays: where in one image each region raised or lowered each label."""

from __future__ import annotations

import logging
import math
import numbers
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from labelshap._words import counted

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colorbar import Colorbar
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure
    from matplotlib.image import AxesImage
    from matplotlib.text import Text

__all__ = ["OverlayPainter", "PARTIAL_SUFFIX", "plot_label_overlays", "save_figure", "VALUES_LABEL"]

logger = logging.getLogger(__name__)

# Artist label of each label panel's SHAP value image, so callers and tests can find them.
VALUES_LABEL = "shap_values"
# Suffix of a PNG being written; a kill can leave one behind, never a half-written PNG.
PARTIAL_SUFFIX = ".partial"

_MAX_COLUMNS = 6
_PANEL_INCHES = 2.4
_GAP_INCHES = 0.15
_MARGIN_INCHES = 0.08
# Room above a panel for each line of its title (the label name's one or two, the score's).
_TITLE_LINE_INCHES = 0.24
_TITLE_PAD_INCHES = 0.1
_SUPTITLE_INCHES = 0.35
_COLORBAR_BAR_INCHES = 0.14
_COLORBAR_TEXT_INCHES = 0.5
_COLORBAR_INCHES = _COLORBAR_BAR_INCHES + _COLORBAR_TEXT_INCHES + 0.1
_TITLE_POINTS = 13
_TEXT_POINTS = 11
_TITLE_CHARACTERS = 20
# Images enlarged at least this much at this resolution are drawn pixel by pixel.
_LOWEST_DPI = 72
_SHARP_ENLARGEMENT = 1.5
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
    return OverlayPainter().draw(
        image, pixel_values, label_names, scores, segments=segments, title=title
    )


class OverlayPainter:
    """Draws the figures of :func:`plot_label_overlays`, reusing a figure per layout.

    Building a figure's panels costs more than drawing them, so a figure is kept for each
    of the last few layouts (the image's shape, the number of labels, boundaries, a
    title) and its artists take the next image's data. :meth:`draw` returns that figure:
    save it before the next call with the same layout, which redraws it.

    Example:
        >>> painter = OverlayPainter()
        >>> image = np.zeros((4, 4))
        >>> first = painter.draw(image, np.ones((4, 4, 1)), ["cat"], [0.9])
        >>> painter.draw(image, -np.ones((4, 4, 1)), ["dog"], [0.7]) is first
        True
    """

    _KEPT_LAYOUTS = 4

    def __init__(self, value_name: str = "SHAP value") -> None:
        # What the colour bar calls the values ("gradient value" for integrated gradients).
        self.value_name = value_name
        self._panels: dict[tuple, _Panels] = {}

    def draw(
        self,
        image: np.ndarray,
        pixel_values: np.ndarray,
        label_names: Sequence[str],
        scores: Sequence[float],
        *,
        segments: np.ndarray | None = None,
        title: str | None = None,
    ) -> Figure:
        """The figure of :func:`plot_label_overlays` for these arguments (checked alike)."""
        image = _check_image(image)
        height, width = image.shape[:2]
        pixel_values = _check_pixel_values(pixel_values, (height, width))
        label_count = pixel_values.shape[2]
        label_names = _check_label_names(label_names, label_count)
        scores = _check_scores(scores, label_count)
        boundaries = None if segments is None else _segment_boundaries(segments, (height, width))

        titles = [
            _panel_title(name, score) for name, score in zip(label_names, scores, strict=True)
        ]
        lines = max([2, *(title.count("\n") + 1 for title in titles)])
        key = (
            image.shape,
            label_count,
            lines,
            boundaries is not None,
            bool(title),
            self.value_name,
        )
        panels = self._panels.pop(key, None) or _build_panels(*key)
        self._panels[key] = panels
        while len(self._panels) > self._KEPT_LAYOUTS:
            del self._panels[next(iter(self._panels))]
        _fill_panels(panels, image, pixel_values, titles, boundaries, title)
        return panels.figure


@dataclass
class _Panels:
    """A figure laid out for one layout, and the artists that take each image's data."""

    figure: Figure
    input_axis: Axes
    input_image: AxesImage
    label_axes: list[Axes]
    backgrounds: list[AxesImage]
    values: list[AxesImage]
    boundaries: list[AxesImage]
    colorbar: Colorbar | None
    title: Text | None


def _build_panels(
    shape: tuple[int, ...],
    label_count: int,
    title_lines: int,
    with_boundaries: bool,
    with_title: bool,
    value_name: str = "SHAP value",
) -> _Panels:
    """Lay out the figure in balanced rows of at most _MAX_COLUMNS panels, placed by hand
    in inches: a layout engine measures every artist of every panel at each draw."""
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    height, width = shape[:2]
    panel_count = label_count + 1
    rows = math.ceil(panel_count / _MAX_COLUMNS)
    columns = math.ceil(panel_count / rows)
    panel_height = _PANEL_INCHES * min(max(height / width, 0.4), 2.5)
    title_height = title_lines * _TITLE_LINE_INCHES + _TITLE_PAD_INCHES
    top = _MARGIN_INCHES + (_SUPTITLE_INCHES if with_title else 0.0) + title_height
    bottom = _MARGIN_INCHES + (_COLORBAR_INCHES if label_count else 0.0)
    figure_width = 2 * _MARGIN_INCHES + columns * _PANEL_INCHES + (columns - 1) * _GAP_INCHES
    figure_height = top + rows * panel_height + (rows - 1) * title_height + bottom
    figure = Figure(figsize=(figure_width, figure_height))
    grid = figure.add_gridspec(
        rows,
        columns,
        left=_MARGIN_INCHES / figure_width,
        right=1 - _MARGIN_INCHES / figure_width,
        top=1 - top / figure_height,
        bottom=bottom / figure_height,
        wspace=_GAP_INCHES / _PANEL_INCHES,
        hspace=title_height / panel_height,
    )
    axes = grid.subplots(squeeze=False).ravel()
    for unused in axes[panel_count:]:
        figure.delaxes(unused)
    for axis in axes[:panel_count]:
        axis.set_axis_off()

    # Every artist starts on blank data of the right shape; _fill_panels sets the data.
    # A small image is enlarged pixel by pixel (sharp, and a smaller PNG); a large one is
    # smoothed as it shrinks.
    blank = np.zeros((height, width))
    enlarged = _PANEL_INCHES * _LOWEST_DPI / max(height, width) >= _SHARP_ENLARGEMENT
    interpolation = "nearest" if enlarged else "antialiased"
    input_axis = axes[0]
    if shape[2] == 1:
        input_image = input_axis.imshow(
            blank, cmap="gray", vmin=0.0, vmax=1.0, interpolation=interpolation
        )
    else:
        input_image = input_axis.imshow(np.zeros(shape), interpolation=interpolation)
    norm = Normalize(vmin=-1.0, vmax=1.0)
    colormap = _diverging_transparent_colormap()
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)
    backgrounds, values, boundaries = [], [], []
    for axis in axes[1:panel_count]:
        backgrounds.append(
            axis.imshow(
                blank,
                cmap="gray",
                vmin=0.0,
                vmax=1.0,
                alpha=_BACKGROUND_ALPHA,
                interpolation=interpolation,
            )
        )
        values.append(axis.imshow(blank, cmap=colormap, norm=norm, interpolation="nearest"))
        values[-1].set_label(VALUES_LABEL)
        if with_boundaries:
            layer = np.zeros((2 * height - 1, 2 * width - 1, 4))
            boundaries.append(axis.imshow(layer, interpolation="nearest", extent=extent))

    colorbar = None
    if values:
        # Centred under the panels, as wide as they are (at most 6 inches).
        bar_width = min(figure_width - 2 * _MARGIN_INCHES, 6.0)
        colorbar_axis = figure.add_axes(
            (
                (figure_width - bar_width) / 2 / figure_width,
                (_MARGIN_INCHES + _COLORBAR_TEXT_INCHES) / figure_height,
                bar_width / figure_width,
                _COLORBAR_BAR_INCHES / figure_height,
            )
        )
        colorbar = figure.colorbar(values[-1], cax=colorbar_axis, orientation="horizontal")
        # Short enough to fit under a single label's panel.
        colorbar.set_label(f"{value_name}: red raises the score, blue lowers it", size=_TEXT_POINTS)
        colorbar.ax.tick_params(labelsize=_TEXT_POINTS - 1)
    title = None
    if with_title:
        title = figure.suptitle(" ", y=1 - _MARGIN_INCHES / figure_height, va="top")
    return _Panels(
        figure=figure,
        input_axis=input_axis,
        input_image=input_image,
        label_axes=list(axes[1:panel_count]),
        backgrounds=backgrounds,
        values=values,
        boundaries=boundaries,
        colorbar=colorbar,
        title=title,
    )


def _fill_panels(
    panels: _Panels,
    image: np.ndarray,
    pixel_values: np.ndarray,
    titles: list[str],
    boundaries: np.ndarray | None,
    title: str | None,
) -> None:
    """Give the panels' artists one image's data, panel titles and colour scale."""
    panels.input_image.set_data(image[:, :, 0] if image.shape[2] == 1 else image)
    note = "" if titles else "\nno label was selected"
    _set_title(panels.input_axis, f"input{note}")

    # One symmetric scale for every label of this image; all-zero values still need a range.
    largest = float(np.abs(pixel_values).max()) if pixel_values.size else 0.0
    limit = largest if largest > 0 else 1.0
    background = _grayscale(image)
    for index, axis in enumerate(panels.label_axes):
        panels.backgrounds[index].set_data(background)
        panels.values[index].set_data(pixel_values[:, :, index])
        panels.values[index].set_clim(-limit, limit)
        if boundaries is not None:
            panels.boundaries[index].set_data(boundaries)
        _set_title(axis, titles[index])
    if panels.colorbar is not None:
        panels.colorbar.update_normal(panels.values[-1])
    if panels.title is not None:
        panels.title.set_text(title)
    logger.debug("drew overlays for %s, colour scale +/-%.3g", counted(len(titles), "label"), limit)


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

    # Written under a temporary name, then renamed: a file that exists is whole.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    figure.savefig(partial, dpi=dpi, format="png")
    os.replace(partial, path)
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
    """An RGBA layer at twice the resolution, faint on superpixel boundaries, else clear.

    The layer has shape ``(2H - 1, 2W - 1, 4)``: even positions are the pixels, odd ones
    the gaps between them, marked where the pixels around a gap belong to different
    superpixels (scikit-image's ``find_boundaries(mode="subpixel")``, without its
    per-position loop).
    """
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
    height, width = image_shape
    boundaries = np.zeros((2 * height - 1, 2 * width - 1), dtype=bool)
    across = segments[:, 1:] != segments[:, :-1]
    down = segments[1:, :] != segments[:-1, :]
    boundaries[::2, 1::2] = across
    boundaries[1::2, ::2] = down
    # A corner between four pixels is marked unless all four are in one superpixel.
    boundaries[1::2, 1::2] = across[1:] | across[:-1] | down[:, 1:] | down[:, :-1]
    layer = np.zeros((*boundaries.shape, 4))
    layer[boundaries, 3] = _BOUNDARY_ALPHA
    return layer


def _set_title(axis: Axes, text: str) -> None:
    """A panel's title at a fixed place above it: an automatic place would measure the
    hidden axis's ticks at every draw."""
    axis.set_title(text, fontsize=_TITLE_POINTS, linespacing=1.1, y=1.0, pad=4)


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
