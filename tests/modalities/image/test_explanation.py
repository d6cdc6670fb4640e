"""Image results: pixel maps, overlays per image, shap's image plot, save and load."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import shap

from labelshap import Explainer, TopK, load_explanation
from labelshap.modalities.image import ImageExplanation, ImageMasker

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def result(image_label_model, images_factory):
    images = images_factory(3, size=16, seed=5)
    explainer = Explainer(image_label_model, ImageMasker("grid", cell=4), max_evals=200)
    return explainer.explain(images, labels=TopK(1))


def test_result_is_an_image_explanation_with_a_segment_map(result):
    assert isinstance(result, ImageExplanation)
    assert result.extras["segments"].shape == (3, 16, 16)


def test_pixel_values_take_their_superpixels_value(result):
    pixels = result.pixel_values(0, labels=result.label_names)
    segments = result.extras["segments"][0]

    for segment in range(result.n_features[0]):
        inside = pixels[segments == segment]
        np.testing.assert_array_equal(
            inside, np.broadcast_to(result.values[0, segment], inside.shape)
        )


def test_each_overlay_shows_that_images_own_labels(result):
    import matplotlib.pyplot as plt

    for index in range(len(result)):
        figure = result.plot(index)
        titles = [axis.get_title() for axis in figure.axes if axis.get_title()]
        chosen = [
            name for name, on in zip(result.label_names, result.selected[index], strict=True) if on
        ]
        assert len(chosen) == 1
        assert any(title.startswith(chosen[0] + "\n") for title in titles)
        plt.close(figure)


def test_pixel_form_feeds_shaps_image_plot_for_one_image(result):
    import matplotlib.pyplot as plt

    single = result[0][result.label_names[0]].to_shap(pixels=True)

    assert single.values.shape == (1, 16, 16, 1, 1)
    shap.image_plot(single, show=False)
    plt.close("all")


def test_saved_image_results_load_as_image_explanations(result, tmp_path):
    result.save(tmp_path / "images")

    loaded = load_explanation(tmp_path / "images.npz")

    assert isinstance(loaded, ImageExplanation)
    np.testing.assert_array_equal(loaded.values, result.values)
    np.testing.assert_array_equal(loaded.extras["segments"], result.extras["segments"])
    assert loaded.selected.tolist() == result.selected.tolist()
