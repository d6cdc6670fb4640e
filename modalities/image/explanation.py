"""Image explanations: per-pixel maps of superpixel values and per-label overlays."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labelshap.explanation import Explanation, register_explanation

__all__ = ["ImageExplanation"]

# Labels drawn per image in the report at most, and the report's resolution.
_REPORT_MAX_LABELS = 5
_REPORT_DPI = 72
# Masker options each segmentation leaves unused, left out of the report's settings.
_UNUSED_OPTIONS = {"slic": ("cell",), "grid": ("n_segments", "compactness")}


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

    def _value_name(self) -> str:
        """What the overlays' colour bar calls the values."""
        return "Gradient value" if self.info.get("algorithm") == "gradient" else "SHAP value"

    def plot(self, index: int, labels: Sequence[str] | None = None) -> Any:
        """Figure of one image and one heatmap per label (red raises, blue lowers).

        Args:
            index: Which image.
            labels: Label names to draw; defaults to the labels selected for this image.

        Returns:
            A ``matplotlib.figure.Figure``.
        """
        from .plots import OverlayPainter

        return self._draw(OverlayPainter(self._value_name()), index, self._columns(index, labels))

    def save_overlays(
        self,
        out_dir: str | os.PathLike,
        *,
        names: Sequence[str] | None = None,
        labels: Sequence[Sequence[str]] | None = None,
        rows: Sequence[int] | None = None,
    ) -> list[Path]:
        """Write one overlay PNG per image into ``out_dir``.

        Each file is written under a temporary name and renamed, so a file that exists
        is whole.

        Args:
            out_dir: Folder for the PNG files (created if missing).
            names: File stems, one per written image; defaults to ``image_0000`` ...
            labels: Per written image, the labels to draw; defaults to each image's
                selection.
            rows: The images to write (default: every one), in the order of ``names``.

        Returns:
            The written paths.
        """
        from .plots import OverlayPainter, save_figure

        out_dir = Path(out_dir)
        rows = list(range(len(self))) if rows is None else [int(row) for row in rows]
        names = names or [f"image_{row:04d}" for row in rows]
        if len(names) != len(rows):
            raise ValueError(f"names has {len(names)} entries for {len(rows)} images")
        painter = OverlayPainter(self._value_name())
        paths = []
        for position, (row, name) in enumerate(zip(rows, names, strict=True)):
            columns = self._columns(row, labels[position] if labels is not None else None)
            figure = self._draw(painter, row, columns)
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

    @classmethod
    def _report_settings(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """Without the segmentation options the chosen segmentation does not use, and the
        pixel scale 1/255 written as such; the same inside a nested ``masker`` table."""
        shown = dict(settings)
        for key in _UNUSED_OPTIONS.get(shown.get("segmentation"), ()):
            shown.pop(key, None)
        scale = shown.get("scale")
        if isinstance(scale, float) and math.isclose(scale, 1 / 255, rel_tol=1e-12):
            shown["scale"] = "1/255"
        if isinstance(shown.get("masker"), dict):
            shown["masker"] = cls._report_settings(shown["masker"])
        return shown

    def _report_html(
        self,
        max_items: int,
        *,
        titles: Sequence[str] | None = None,
        folder: Path | None = None,
    ) -> str:
        """HTML fragment for the report and the notebook: the overlays of the first
        ``max_items`` images, each with the labels selected for it (the best scored first,
        at most ``_REPORT_MAX_LABELS``), captioned by ``titles`` (default ``image <i>``),
        the labels drawn and their scores. ``folder`` is unused."""
        from labelshap._html import escape, png_data_uri

        from .plots import OverlayPainter

        painter = OverlayPainter(self._value_name())
        figures, capped = [], 0
        for index in range(min(len(self), max_items)):
            columns = self._columns(index, None)
            capped += len(columns) > _REPORT_MAX_LABELS
            columns = columns[:_REPORT_MAX_LABELS]
            title = titles[index] if titles is not None else f"image {index}"
            drawn = ", ".join(
                f"{self.label_names[c]} (score {self.scores[index, c]:.3f})" for c in columns
            )
            caption = f"{title}: {drawn or 'no label selected'}"
            uri = png_data_uri(self._draw(painter, index, columns), dpi=_REPORT_DPI)
            figures.append(
                f'<figure><img src="{uri}" alt="{escape(caption)}">'
                f"<figcaption>{escape(caption)}</figcaption></figure>"
            )
        note = (
            "Each image, then one panel per label selected for it (its score above the panel): "
            "red regions push that label's score up, blue regions push it down, on one "
            "colour scale per image."
        )
        if capped:
            note += (
                f" Where more than {_REPORT_MAX_LABELS} labels were selected ({capped} of "
                f"these images), the {_REPORT_MAX_LABELS} best scored are drawn."
            )
        return f'<p class="note">{escape(note)}</p><div class="figures">{"".join(figures)}</div>'

    def _draw(self, painter: Any, index: int, columns: Sequence[int]) -> Any:
        """One image's overlay figure for the label ``columns``, drawn by ``painter``."""
        segments = self.extras["segments"][index]
        return painter.draw(
            _displayable(self.data[index]),
            self.values[index][segments][..., list(columns)],
            [self.label_names[c] for c in columns],
            [float(self.scores[index, c]) for c in columns],
            segments=segments,
        )

    def _columns(self, index: int, labels: Sequence[str] | None) -> list[int]:
        """The given labels' columns, else the image's selected ones, best scored first."""
        if labels is not None:
            return [self._label_column(label) for label in labels]
        chosen = np.flatnonzero(self.selected[index])
        return chosen[np.argsort(-self.scores[index, chosen], kind="stable")].tolist()


def _displayable(image: np.ndarray) -> np.ndarray:
    """Scale an image to [0, 1] for display, whatever the model's pixel units."""
    image = np.asarray(image, dtype=np.float32)
    low, high = float(image.min()), float(image.max())
    if low >= 0.0 and high <= 1.0:
        return image
    return (image - low) / (high - low) if high > low else np.zeros_like(image)
