"""Image values against independent references: shap's Exact explainer and the formula."""

from __future__ import annotations

import numpy as np
import pytest
import shap
from shapley_reference import reference_shapley

from labelshap import Explainer
from labelshap.modalities.image import ImageMasker

TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def problem(images_factory, image_label_model):
    """One image cut into 9 grid superpixels (<= 10, so exact enumeration is cheap)."""
    image = images_factory(1, size=16, seed=11)[0]
    masker = ImageMasker("grid", cell=6, fill="blur")
    segments = masker.segments(image)
    fill = masker.fill_image(image)
    assert segments.max() + 1 == 9
    return image, masker, segments, fill, image_label_model


def numpy_masked(mask: np.ndarray, image, segments, fill) -> np.ndarray:
    """A masked image built plainly in numpy, independently of the TensorFlow path."""
    keep = np.asarray(mask, dtype=bool)[segments][..., None]
    return np.where(keep, image, fill)


def test_exact_values_equal_the_shapley_formula(problem):
    image, masker, segments, fill, model = problem

    def value_of(mask):
        return model.predict(numpy_masked(mask, image, segments, fill)[None])[0]

    expected = reference_shapley(value_of, 9)
    result = Explainer(model, masker, algorithm="exact", max_evals=512).explain(image[None])

    np.testing.assert_allclose(result.values[0], expected, atol=TOLERANCE)
    np.testing.assert_allclose(result.base_values[0], value_of(np.zeros(9)), atol=TOLERANCE)


def test_exact_values_equal_shaps_exact_explainer(problem):
    image, masker, segments, fill, model = problem

    class NumpySuperpixelMasker:
        """The same superpixels and fill, as a plain shap masker building numpy images."""

        shape = (1, 9)

        def __call__(self, mask, x):
            return (numpy_masked(mask, image, segments, fill)[None],)

    explainer = shap.explainers.Exact(model.predict, NumpySuperpixelMasker())
    reference = explainer(np.zeros((1, 9)), max_evals=512, silent=True)
    result = Explainer(model, masker, algorithm="exact", max_evals=512).explain(image[None])

    np.testing.assert_allclose(result.values[0], reference.values[0], atol=TOLERANCE)
    np.testing.assert_allclose(result.base_values[0], reference.base_values[0], atol=TOLERANCE)


def test_explained_labels_are_columns_of_the_full_explanation(problem):
    image, masker, _, _, model = problem
    explainer = Explainer(model, masker, algorithm="exact", max_evals=512)

    full = explainer.explain(image[None])
    some = explainer.explain(image[None], labels=["d", "b"])

    assert some.label_names == ["b", "d"]
    np.testing.assert_allclose(some.values[0], full.values[0][:, [1, 3]], atol=1e-12)
