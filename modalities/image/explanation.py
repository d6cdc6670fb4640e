"""Image explanations: per-pixel maps of superpixel values and per-label overlays."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labelshap.explanation import Explanation, register_explanation

__all__ = ["ImageExplanation"]


@register_explanation("image")
class ImageExplanation(Explanation):
    """An :class:`~labelshap.Explanation` of images, whose features are superpixels.

    ``extras["segments"]`` holds each image's superpixel map ``(n, H, W)``.
    """

    _REPR_MAX_ITEMS = 3

    def pixel_values(self, index: int, labels: Sequence[str] | None = None) -> np.ndarray:
        """Each pixel takes its superpixel's value: ``(H, W, k)`` for ``k`` labels."""
        columns = self._columns(index, labels)
        segments = self.extras["segments"][index]
        return self.values[index][segments][..., columns]

    def plot(self, index: int, labels: Sequence[str] | None = None) -> Any:
        """Figure of one image and one heatmap per label (red raises, blue lowers).

        Args:
            index: Which image.
            labels: Label names to draw; defaults to the labels selected for this image.

        Returns:
            A ``matplotlib.figure.Figure``.
        """
        from .plots import plot_label_overlays

        columns = self._columns(index, labels)
        return plot_label_overlays(
            _displayable(self.data[index]),
            self.values[index][self.extras["segments"][index]][..., columns],
            [self.label_names[c] for c in columns],
            [float(self.scores[index, c]) for c in columns],
            segments=self.extras["segments"][index],
        )

    def save_overlays(
        self,
        out_dir: str | os.PathLike,
        *,
        names: Sequence[str] | None = None,
        labels: Sequence[Sequence[str]] | None = None,
    ) -> list[Path]:
        """Write one overlay PNG per image into ``out_dir``.

        Args:
            out_dir: Folder for the PNG files (created if missing).
            names: File stems, one per image; defaults to ``image_0000`` ...
            labels: Per image, the labels to draw; defaults to each image's selection.

        Returns:
            The written paths.
        """
        from .plots import save_figure

        out_dir = Path(out_dir)
        names = names or [f"image_{i:04d}" for i in range(len(self))]
        paths = []
        for index, name in enumerate(names):
            figure = self.plot(index, labels[index] if labels is not None else None)
            paths.append(save_figure(figure, out_dir / f"{name}.png"))
        return paths

    def to_shap(self, *, pixels: bool = False) -> Any:
        """Return a ``shap.Explanation``; with ``pixels=True`` one value per pixel.

        The pixel form has values ``(n, H, W, C, n_labels)`` and images scaled to
        [0, 1] as data, the layout ``shap.plots.image`` takes.
        """
        if not pixels:
            return super().to_shap()
        import shap

        segments = self.extras["segments"]
        channels = self.data.shape[-1]
        maps = np.stack([self.values[i][segments[i]] for i in range(len(self))])
        maps = np.repeat(maps[:, :, :, None, :], channels, axis=3)
        return shap.Explanation(
            values=maps,
            base_values=self.base_values,
            data=np.stack([_displayable(image) for image in self.data]),
            output_names=list(self.label_names),
        )

    def _report_html(self, max_items: int, *, titles: Sequence[str] | None = None) -> str:
        """HTML fragment for the report and the notebook: the overlays of the first
        ``max_items`` images as embedded PNGs, captioned by ``titles`` (default
        ``image <index>``) and the labels drawn."""
        from labelshap._html import figure_tag

        figures = []
        for index in range(min(len(self), max_items)):
            drawn = [self.label_names[c] for c in self._columns(index, None)]
            title = titles[index] if titles is not None else f"image {index}"
            caption = f"{title}: {', '.join(drawn) if drawn else 'no label selected'}"
            figures.append(figure_tag(self.plot(index), caption))
        return (
            '<p class="note">Red raised the label\'s score, blue lowered it; one symmetric '
            "scale per image.</p>"
            f'<div class="grid wide">{"".join(figures)}</div>'
        )

    def _columns(self, index: int, labels: Sequence[str] | None) -> list[int]:
        if labels is None:
            return np.flatnonzero(self.selected[index]).tolist()
        return [self._label_column(label) for label in labels]


def _displayable(image: np.ndarray) -> np.ndarray:
    """Scale an image to [0, 1] for display, whatever the model's pixel units."""
    image = np.asarray(image, dtype=np.float32)
    low, high = float(image.min()), float(image.max())
    if low >= 0.0 and high <= 1.0:
        return image
    return (image - low) / (high - low) if high > low else np.zeros_like(image)
