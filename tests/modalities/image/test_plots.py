"""Tests for the per-label overlay figure and saving it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib
import matplotlib.text
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from labelshap.modalities.image.plots import (
    VALUES_LABEL,
    OverlayPainter,
    plot_label_overlays,
    save_figure,
)

HEIGHT, WIDTH = 12, 16
RNG = np.random.default_rng(0)


@pytest.fixture
def image() -> np.ndarray:
    return RNG.random((HEIGHT, WIDTH, 3))


@pytest.fixture
def segments() -> np.ndarray:
    rows, columns = np.indices((HEIGHT, WIDTH))
    return (rows // 4) * 4 + columns // 4


def label_values(count: int) -> np.ndarray:
    """Values that differ per label, the largest magnitude (0.6) in the last label."""
    values = RNG.uniform(-0.2, 0.2, (HEIGHT, WIDTH, count))
    if count:
        values[3, 5, -1] = -0.6
    return values


def values_images(figure: Figure) -> list:
    return [
        artist
        for axis in figure.axes
        for artist in axis.get_images()
        if artist.get_label() == VALUES_LABEL
    ]


def panel_titles(figure: Figure) -> list[str]:
    return [axis.get_title() for axis in figure.axes if axis.get_visible() and axis.get_title()]


# Shape of the figure


@pytest.mark.parametrize("count", [0, 1, 3])
def test_figure_has_the_image_and_one_panel_per_label(image: np.ndarray, count: int) -> None:
    names = [f"label {index}" for index in range(count)]
    figure = plot_label_overlays(image, label_values(count), names, [0.5] * count)
    assert isinstance(figure, Figure)
    assert len(values_images(figure)) == count
    assert len(panel_titles(figure)) == count + 1


@pytest.mark.parametrize("count", [1, 3])
def test_every_text_lies_inside_the_figure(image: np.ndarray, count: int) -> None:
    names = [f"label {index}" for index in range(count)]
    figure = plot_label_overlays(image, label_values(count), names, [0.5] * count)
    renderer = FigureCanvasAgg(figure).get_renderer()
    bounds = figure.bbox

    texts = [text for text in figure.findobj(matplotlib.text.Text) if text.get_text().strip()]
    assert any("SHAP value" in text.get_text() for text in texts)
    for text in texts:
        extent = text.get_window_extent(renderer)
        assert extent.x0 >= bounds.x0 - 1 and extent.x1 <= bounds.x1 + 1, text.get_text()


def test_no_label_says_so_and_has_no_colorbar(image: np.ndarray) -> None:
    figure = plot_label_overlays(image, label_values(0), [], [])
    titles = panel_titles(figure)
    assert titles == ["input\nno label was selected"]
    assert len(figure.axes) == 1


def test_many_labels_wrap_onto_several_rows(image: np.ndarray) -> None:
    count = 9
    names = [f"label {index}" for index in range(count)]
    figure = plot_label_overlays(image, label_values(count), names, np.linspace(0, 1, count))
    rows = {
        axis.get_subplotspec().rowspan.start
        for axis in figure.axes
        if axis.get_visible() and axis.get_subplotspec() is not None
    }
    assert len(rows) == 2
    assert len(values_images(figure)) == count


# Colour scale


def test_all_labels_share_one_symmetric_scale(image: np.ndarray) -> None:
    values = label_values(3)
    figure = plot_label_overlays(image, values, ["a", "b", "c"], [0.1, 0.5, 0.9])
    limits = {artist.get_clim() for artist in values_images(figure)}
    assert limits == {(-0.6, 0.6)}
    assert len(figure.axes) == 5  # three labels, the image and one shared colorbar


def test_single_label_scale_is_symmetric_about_zero(image: np.ndarray) -> None:
    values = np.full((HEIGHT, WIDTH, 1), 0.25)
    figure = plot_label_overlays(image, values, ["only"], [0.98])
    (artist,) = values_images(figure)
    assert artist.get_clim() == (-0.25, 0.25)


def test_all_zero_values_still_get_a_usable_scale(image: np.ndarray) -> None:
    figure = plot_label_overlays(image, np.zeros((HEIGHT, WIDTH, 2)), ["a", "b"], [0.0, 0.0])
    for artist in values_images(figure):
        low, high = artist.get_clim()
        assert low == -high and high > 0


# Titles and inputs of every kind


def test_titles_carry_label_name_and_score(image: np.ndarray) -> None:
    figure = plot_label_overlays(image, label_values(2), ["7", "cat"], [0.98, 0.0312])
    titles = panel_titles(figure)
    assert "7\nscore 0.980" in titles
    assert "cat\nscore 0.031" in titles


def test_long_label_name_is_wrapped(image: np.ndarray) -> None:
    name = "a label name far too long to fit on one line above a small panel"
    figure = plot_label_overlays(image, label_values(1), [name], [0.5])
    title = [text for text in panel_titles(figure) if text.startswith("a label")][0]
    assert title.count("\n") == 2 and title.endswith("score 0.500")


def test_figure_title_is_shown(image: np.ndarray) -> None:
    figure = plot_label_overlays(image, label_values(1), ["a"], [0.5], title="photo.png")
    assert figure.get_suptitle() == "photo.png"


@pytest.mark.parametrize("shape", [(HEIGHT, WIDTH, 1), (HEIGHT, WIDTH), (HEIGHT, WIDTH, 4)])
def test_grayscale_and_rgba_images_are_drawn(shape: tuple) -> None:
    figure = plot_label_overlays(RNG.random(shape), label_values(2), ["a", "b"], [0.2, 0.8])
    first = figure.axes[0].get_images()[0]
    if len(shape) == 2 or shape[2] == 1:
        assert first.get_cmap().name == "gray"
    assert len(values_images(figure)) == 2


def test_one_pixel_image_is_drawn() -> None:
    figure = plot_label_overlays(np.ones((1, 1, 3)), np.full((1, 1, 1), -0.3), ["x"], [0.4])
    assert values_images(figure)[0].get_clim() == (-0.3, 0.3)


def test_segments_add_a_boundary_layer_to_each_label_panel(
    image: np.ndarray, segments: np.ndarray
) -> None:
    figure = plot_label_overlays(image, label_values(2), ["a", "b"], [0.2, 0.8], segments=segments)
    for artist in values_images(figure):
        layers = artist.axes.get_images()
        assert len(layers) == 3  # faded image, values, boundaries
        boundaries = layers[2].get_array()
        assert boundaries[..., 3].max() > 0 and boundaries[..., 3].min() == 0


def rendered(figure: Figure) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def test_a_reused_figure_draws_what_a_new_figure_draws(image: np.ndarray, segments) -> None:
    painter = OverlayPainter()
    other = RNG.random((HEIGHT, WIDTH, 3))
    values = label_values(2)

    first = painter.draw(other, -3 * label_values(2), ["x", "y"], [0.1, 0.2], segments=segments)
    again = painter.draw(image, values, ["7", "cat"], [0.98, 0.03], segments=segments)
    fresh = plot_label_overlays(image, values, ["7", "cat"], [0.98, 0.03], segments=segments)

    assert again is first  # the same layout: the figure is reused
    np.testing.assert_array_equal(rendered(again), rendered(fresh))


def test_the_segment_boundaries_are_those_of_scikit_image(segments: np.ndarray) -> None:
    from skimage.segmentation import find_boundaries

    from labelshap.modalities.image.plots import _segment_boundaries

    rng = np.random.default_rng(3)
    for labels in (segments, rng.integers(0, 3, (HEIGHT, WIDTH)), np.zeros((1, 5), int)):
        expected = find_boundaries(labels, mode="subpixel")
        layer = _segment_boundaries(labels, labels.shape)
        np.testing.assert_array_equal(layer[..., 3] > 0, expected)


# Errors


@pytest.mark.parametrize(
    ("arguments", "error", "pattern"),
    [
        ({"image": np.full((HEIGHT, WIDTH, 3), 255.0)}, ValueError, r"image must hold .*\[0, 1\]"),
        ({"image": np.zeros((HEIGHT, WIDTH, 2))}, ValueError, r"image must have shape .*1, 3 or 4"),
        ({"image": [[0.0]]}, TypeError, r"image must be a numpy array, got list"),
        ({"pixel_values": np.zeros((3, 3, 2))}, ValueError, r"pixel_values must have shape"),
        ({"pixel_values": np.full((HEIGHT, WIDTH, 2), np.nan)}, ValueError, r"finite values"),
        ({"label_names": ["a"]}, ValueError, r"label_names must hold one name per label"),
        ({"label_names": ["a", 2]}, TypeError, r"label_names must hold strings"),
        ({"label_names": "ab"}, TypeError, r"label_names must be a sequence of 2 strings"),
        ({"scores": [0.5]}, ValueError, r"scores must hold one score per label"),
        ({"scores": ["high", "low"]}, TypeError, r"scores must be a sequence of 2 numbers"),
        ({"segments": np.zeros((2, 2), int)}, ValueError, r"segments must have the image's"),
        ({"segments": np.zeros((HEIGHT, WIDTH))}, TypeError, r"segments must be an integer"),
    ],
)
def test_bad_arguments_name_the_argument(
    image: np.ndarray, arguments: dict, error: type[Exception], pattern: str
) -> None:
    call = {
        "image": image,
        "pixel_values": label_values(2),
        "label_names": ["a", "b"],
        "scores": [0.1, 0.9],
        **arguments,
    }
    with pytest.raises(error, match=pattern):
        plot_label_overlays(**call)


# Saving


def test_save_figure_writes_a_png_pillow_reads(image: np.ndarray, tmp_path: Path) -> None:
    figure = plot_label_overlays(image, label_values(3), ["a", "b", "c"], [0.1, 0.5, 0.9])
    path = save_figure(figure, tmp_path / "nested" / "dir" / "overlay.png", dpi=50)
    assert path == tmp_path / "nested" / "dir" / "overlay.png"
    with Image.open(path) as written:
        assert written.format == "PNG"
        assert written.width > written.height > 0


def test_save_figure_adds_a_missing_suffix(image: np.ndarray, tmp_path: Path) -> None:
    figure = plot_label_overlays(image, label_values(0), [], [])
    assert save_figure(figure, str(tmp_path / "overlay"), dpi=30) == tmp_path / "overlay.png"


def test_save_figure_rejects_other_suffixes(image: np.ndarray, tmp_path: Path) -> None:
    figure = plot_label_overlays(image, label_values(0), [], [])
    with pytest.raises(ValueError, match=r"path must end in \.png .*overlay\.jpg"):
        save_figure(figure, tmp_path / "overlay.jpg")


@pytest.mark.parametrize(
    ("figure", "dpi", "error", "pattern"),
    [
        ("not a figure", 100, TypeError, r"figure must be a matplotlib.figure.Figure, got str"),
        (Figure(), 0, ValueError, r"dpi must be a positive number, got 0"),
        (Figure(), "high", TypeError, r"dpi must be a positive number, got 'high'"),
    ],
)
def test_save_figure_bad_arguments(
    figure: object, dpi: object, error: type[Exception], pattern: str, tmp_path: Path
) -> None:
    with pytest.raises(error, match=pattern):
        save_figure(figure, tmp_path / "x.png", dpi=dpi)


def test_importing_the_image_modules_does_not_import_matplotlib() -> None:
    code = (
        "import sys, labelshap.modalities.image.io, labelshap.modalities.image.plots; "
        "print('matplotlib' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
