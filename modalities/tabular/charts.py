"""Charts of per-label attributions of tabular features (PNG via matplotlib, no pyplot).

Each chart reads attributions ``(n, F)`` for one label, or ``(n, F, L)`` for the
heatmap, beside the feature values; :func:`save_figure` writes a figure as PNG.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .audit import _check_matrix

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["bar_chart", "beeswarm_chart", "heatmap_chart", "save_figure", "waterfall_chart"]

# Room of the chart layouts: tick labels in points; margins, colour bars in inches.
_TICK_POINTS = 10
_MEASURE_DPI = 100
_TICK_PAD_POINTS = 8
_EDGE_INCHES = 0.08
_TITLE_INCHES = 0.4
_XLABEL_INCHES = 0.58
_RIGHT_INCHES = 0.3
_COLOURBAR_BAR_INCHES = 0.15
_COLOURBAR_INCHES = 1.1
_MIN_PLOT_INCHES = 2.5

_POSITIVE_COLOUR = "#d62728"
_NEGATIVE_COLOUR = "#1f77b4"


def bar_chart(
    values_label: np.ndarray,
    feature_names: Sequence[str],
    label_name: str,
    *,
    max_features: int = 20,
) -> Figure:
    """Horizontal bars of mean |attribution| per feature for one label, largest on top.

    Args:
        values_label: Attributions for one label, ``(n, F)``.
        feature_names: ``F`` names.
        label_name: Used in the title.
        max_features: Bars drawn at most.
    """
    values_label = _check_matrix(values_label, "values_label", len(feature_names))
    mean_abs = np.abs(values_label).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")[:max_features][::-1]
    names = [feature_names[i] for i in order]
    figure, axes, _ = _figure_and_axes(7.0, 0.32 * len(order) + 0.3, left=_tick_room(names))
    axes.barh(np.arange(len(order)), mean_abs[order], color=_POSITIVE_COLOUR)
    axes.set_yticks(np.arange(len(order)), names)
    axes.set_xlabel("mean |SHAP value|")
    axes.set_title(f"{label_name}: mean |SHAP value| per feature", y=1.0)
    return figure


def beeswarm_chart(
    values_label: np.ndarray,
    data: np.ndarray,
    feature_names: Sequence[str],
    label_name: str,
    *,
    max_features: int = 20,
) -> Figure:
    """One row of points per feature: attribution on x, coloured by the feature's value.

    Features are ordered by mean |attribution|, largest on top. Points that share an x bin
    are spread vertically, as in a beeswarm. Colours run from blue (the feature's 5th
    percentile) to red (its 95th); rows with a NaN feature value are grey.

    Args:
        values_label: Attributions for one label, ``(n, F)``.
        data: Feature values, ``(n, F)``.
        feature_names: ``F`` names.
        label_name: Used in the title.
        max_features: Rows drawn at most.
    """
    values_label = _check_matrix(values_label, "values_label", len(feature_names))
    data = _check_matrix(data, "data", len(feature_names), allow_nan=True)
    if data.shape[0] != values_label.shape[0]:
        raise ValueError(
            f"data has {data.shape[0]} rows but values_label has {values_label.shape[0]}; "
            "they must match"
        )
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    mean_abs = np.abs(values_label).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")[:max_features][::-1]
    names = [feature_names[i] for i in order]
    colormap = colormaps["coolwarm"]
    figure, axes, colourbar_axes = _figure_and_axes(
        7.5, 0.4 * len(order) + 0.2, left=_tick_room(names), colourbar=True
    )
    axes.axvline(0.0, color="0.6", linewidth=0.8, zorder=0)
    # One scatter for every feature's row of points: one artist draws faster than many.
    xs = values_label[:, order].T
    ys = np.stack([row + _swarm_offsets(xs[row]) for row in range(len(order))])
    colours = np.concatenate([_value_colours(data[:, feature], colormap) for feature in order])
    axes.scatter(xs.ravel(), ys.ravel(), c=colours, s=10, linewidths=0)
    axes.set_yticks(np.arange(len(order)), names)
    axes.set_ylim(-0.6, len(order) - 0.4)
    axes.set_xlabel("SHAP value (impact on the label's output)")
    axes.set_title(f"{label_name}: SHAP values per feature", y=1.0)
    colourbar = figure.colorbar(
        ScalarMappable(norm=Normalize(0.0, 1.0), cmap=colormap), cax=colourbar_axes
    )
    colourbar.set_ticks([0.0, 1.0], labels=["low", "high"])
    colourbar.set_label("feature value")
    return figure


def waterfall_chart(
    values_row: np.ndarray,
    base_value: float,
    data_row: np.ndarray,
    feature_names: Sequence[str],
    label_name: str,
    *,
    max_features: int = 10,
) -> Figure:
    """How one row's attributions add up from the base value to the row's output.

    The largest contributions sit on top; beyond ``max_features - 1`` the rest are pooled
    into one "other features" bar. Red bars raise the output, blue bars lower it.

    Args:
        values_row: One row's attributions for one label, ``(F,)``.
        base_value: The expected output the attributions start from.
        data_row: The row's feature values, ``(F,)``.
        feature_names: ``F`` names.
        label_name: Used in the title.
        max_features: Bars drawn at most, at least 2.
    """
    values_row = _check_matrix(values_row[None, :], "values_row", len(feature_names))[0]
    data_row = _check_matrix(data_row[None, :], "data_row", len(feature_names), allow_nan=True)[0]
    if max_features < 2:
        raise ValueError(f"max_features must be at least 2; got {max_features!r}")

    # Largest |value| first; pool the tail into one bar.
    order = list(np.argsort(-np.abs(values_row), kind="stable"))
    names = [f"{feature_names[i]} = {data_row[i]:.4g}" for i in order]
    contributions = [float(values_row[i]) for i in order]
    if len(order) > max_features:
        rest = len(order) - (max_features - 1)
        names = names[: max_features - 1] + [f"{rest} other features"]
        contributions = contributions[: max_features - 1] + [sum(contributions[max_features - 1 :])]

    # Draw from the bottom (smallest) up, so the top bar ends at the row's output.
    names, contributions = names[::-1], contributions[::-1]
    starts = float(base_value) + np.concatenate([[0.0], np.cumsum(contributions)[:-1]])
    output = float(base_value) + sum(contributions)
    figure, axes, _ = _figure_and_axes(7.5, 0.4 * len(names) + 0.5, left=_tick_room(names))
    colours = [_POSITIVE_COLOUR if value >= 0 else _NEGATIVE_COLOUR for value in contributions]
    axes.barh(np.arange(len(names)), contributions, left=starts, color=colours)
    for row, (start, value) in enumerate(zip(starts, contributions, strict=True)):
        axes.text(
            start + value,
            row,
            f" {value:+.3g} ",
            va="center",
            ha="left" if value >= 0 else "right",
            fontsize=8,
        )
    axes.axvline(float(base_value), color="0.5", linestyle="--", linewidth=0.8)
    axes.axvline(output, color="0.2", linestyle="-", linewidth=0.8)
    axes.set_yticks(np.arange(len(names)), names)
    axes.set_xlabel(f"model output (base {float(base_value):.3g} -> {output:.3g})")
    axes.set_title(f"{label_name}: contributions for one row", y=1.0)
    # Bars pin the x limits to their left edges unless sticky edges are off.
    axes.use_sticky_edges = False
    axes.margins(x=0.15)
    return figure


def heatmap_chart(
    values: np.ndarray,
    feature_names: Sequence[str],
    label_names: Sequence[str],
    *,
    max_features: int | None = None,
) -> Figure:
    """Label x feature grid of mean |attribution|, features by overall importance.

    Args:
        values: Attributions, ``(n, F, L)``.
        feature_names: ``F`` names.
        label_names: ``L`` names.
        max_features: Columns drawn at most; all when None.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 3 or values.shape[1:] != (len(feature_names), len(label_names)):
        raise ValueError(
            f"values must have shape (n, {len(feature_names)}, {len(label_names)}) to match the "
            f"names; got {values.shape!r}"
        )
    grid = np.abs(values).mean(axis=0).T
    order = np.argsort(-grid.sum(axis=0), kind="stable")[:max_features]
    columns = [feature_names[i] for i in order]
    left = _tick_room(label_names)
    figure, axes, colourbar_axes = _figure_and_axes(
        left + 0.25 * len(order) + _COLOURBAR_INCHES + _RIGHT_INCHES,
        0.3 * len(label_names),
        left=left,
        bottom=_tick_room(columns),
        colourbar=True,
    )
    image = axes.imshow(grid[:, order], aspect="auto", cmap="viridis", interpolation="nearest")
    axes.set_xticks(np.arange(len(order)), columns, rotation=90)
    axes.set_yticks(np.arange(len(label_names)), list(label_names))
    axes.set_title("mean |SHAP value| per label and feature", y=1.0)
    figure.colorbar(image, cax=colourbar_axes, label="mean |SHAP value|")
    return figure


def save_figure(figure: Figure, path: str | Path, *, dpi: int = 100) -> Path:
    """Write a figure as PNG (creating parent folders) and return the path.

    The file is written under a temporary name and renamed: a file that exists is whole.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    figure.savefig(partial, format="png", dpi=dpi)
    os.replace(partial, path)
    return path


def _figure_and_axes(
    width: float,
    plot_height: float,
    *,
    left: float,
    bottom: float = _XLABEL_INCHES,
    colourbar: bool = False,
) -> tuple[Figure, Axes, Axes | None]:
    """A figure whose one plot is ``plot_height`` inches tall, inset by margins in inches
    (``left`` measured from the tick labels), with a colour bar's axes on its right when
    asked.

    The margins are measured rather than found by a layout engine, which draws every
    figure once more to measure it, doubling the time to save a chart.
    """
    from matplotlib.figure import Figure

    right = _RIGHT_INCHES + (_COLOURBAR_INCHES if colourbar else 0.0)
    width = max(width, left + right + _MIN_PLOT_INCHES)
    height = plot_height + bottom + _TITLE_INCHES
    figure = Figure(figsize=(width, height))
    box = (left / width, bottom / height, (width - left - right) / width, plot_height / height)
    axes = figure.add_axes(box)
    colourbar_axes = None
    if colourbar:
        colourbar_axes = figure.add_axes(
            ((width - right + 0.15) / width, box[1], _COLOURBAR_BAR_INCHES / width, box[3])
        )
    return figure, axes, colourbar_axes


def _tick_room(labels: Sequence[str]) -> float:
    """Inches the widest tick label takes beside its axis, tick and padding included."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    # Measured at the resolution charts are saved at, with a margin for other ones: glyph
    # widths do not scale exactly with the resolution.
    renderer = RendererAgg(1, 1, _MEASURE_DPI)
    font = FontProperties(size=_TICK_POINTS)
    widest = max(
        (
            renderer.get_text_width_height_descent(str(label), font, ismath=False)[0]
            for label in labels
        ),
        default=0.0,
    )
    return 1.06 * widest / _MEASURE_DPI + _TICK_PAD_POINTS / 72 + _EDGE_INCHES


def _swarm_offsets(xs: np.ndarray, width: float = 0.4, bins: int = 80) -> np.ndarray:
    """Vertical offsets that spread points sharing an x bin, alternating up and down."""
    span = xs.max() - xs.min()
    if span <= 0:
        positions = np.zeros(len(xs), dtype=int)
    else:
        positions = np.minimum(((xs - xs.min()) / span * bins).astype(int), bins - 1)
    offsets = np.zeros(len(xs))
    crowd = np.bincount(positions).max()
    step = width / max(crowd, 1)
    seen: dict[int, int] = {}
    for index in np.argsort(xs, kind="stable"):
        count = seen.get(positions[index], 0)
        seen[positions[index]] = count + 1
        offsets[index] = step * ((count + 1) // 2) * (1 if count % 2 else -1)
    return offsets


def _value_colours(column: np.ndarray, colormap) -> np.ndarray:
    """RGBA per row: the value between its 5th and 95th percentile; NaN rows grey."""
    known = ~np.isnan(column)
    colours = np.tile([0.6, 0.6, 0.6, 1.0], (len(column), 1))
    if known.any():
        low, high = np.percentile(column[known], [5, 95])
        if high <= low:
            low, high = column[known].min(), column[known].max()
        scaled = (column[known] - low) / (high - low) if high > low else np.full(known.sum(), 0.5)
        colours[known] = colormap(np.clip(scaled, 0.0, 1.0))
    return colours
