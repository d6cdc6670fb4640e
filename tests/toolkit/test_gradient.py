"""The gradient algorithm: exact on linear models, complete as the path is refined."""

from __future__ import annotations

import numpy as np
import pytest

from labelshap import Explainer, LabelModel
from labelshap.engines import estimate
from labelshap.modalities.image import ImageMasker


@pytest.fixture(scope="module")
def linear_model():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(inputs))
    return LabelModel(keras.Model(inputs, outputs), ["a", "b", "c"], output="logit")


def test_on_a_linear_model_gradients_equal_exact_shapley_values(linear_model):
    image = np.random.default_rng(0).random((2, 8, 8, 1)).astype(np.float32)
    masker = ImageMasker("grid", cell=4, fill="blur")

    gradient = Explainer(linear_model, masker, algorithm="gradient", max_evals=4).explain(image)
    exact = Explainer(linear_model, masker, algorithm="exact", max_evals=16).explain(image)

    np.testing.assert_allclose(gradient.values, exact.values, atol=1e-5)
    np.testing.assert_allclose(gradient.base_values, exact.base_values, atol=1e-5)


def test_completeness_gap_shrinks_as_the_path_is_refined(image_label_model, images_factory):
    images = images_factory(2, size=16, seed=8)
    masker = ImageMasker("grid", cell=4)

    def gap(steps):
        explainer = Explainer(image_label_model, masker, algorithm="gradient", max_evals=steps)
        result = explainer.explain(images)
        measured = np.abs(result.values.sum(axis=1) - (result.scores - result.base_values)).max()
        assert measured == pytest.approx(result.info["completeness_gap"], abs=1e-9)
        return measured

    coarse, fine = gap(2), gap(64)
    assert fine < coarse
    assert fine < 1e-3


def test_every_label_comes_from_one_pass(image_label_model, images_factory):
    images = images_factory(1, size=16, seed=9)
    explainer = Explainer(image_label_model, ImageMasker("grid", cell=4), algorithm="gradient")

    everything = explainer.explain(images)
    one = explainer.explain(images, labels=["b"])

    np.testing.assert_allclose(one.values[..., 0], everything.label_values("b"), atol=1e-6)


def test_gradient_is_refused_where_inputs_are_not_differentiable():
    model = LabelModel(lambda x: np.zeros((len(x), 2)), ["x", "y"])
    masker = ImageMasker("grid", cell=4, input_shape=(8, 8, 1))

    with pytest.raises(NotImplementedError, match="needs a Keras model"):
        Explainer(model, masker, algorithm="gradient").explain(np.zeros((1, 8, 8, 1)))


def test_gradient_is_refused_with_maskers_whose_inputs_are_not_differentiable(
    text_tokenizers, linear_model
):
    # Token ids and background rows cannot be blended: refused when the explainer is
    # made, naming the masker and what is accepted.
    from labelshap.modalities.tabular import IndependentMasker
    from labelshap.modalities.text import TextMasker

    text = TextMasker(text_tokenizers["wordpiece"])
    tabular = IndependentMasker(np.zeros((3, 2)), feature_names=["a", "b"])
    for other in (text, tabular):
        with pytest.raises(
            ValueError,
            match=r"algorithm='gradient' needs a masker whose masked inputs are differentiable "
            rf"in the masks \(labelshap.modalities.image ImageMasker.*got {type(other).__name__}"
            r"; accepted with this masker: \('auto', ",
        ) as refused:
            Explainer(linear_model, other, algorithm="gradient")
        # Only what this masker can run: text has no background rows.
        assert ("'kernel-rows'" in str(refused.value)) == (other is tabular)


def test_the_masking_engine_sends_gradient_to_the_explainer():
    with pytest.raises(ValueError, match="algorithm='gradient' needs the model's gradients"):
        estimate(lambda m: np.zeros((len(m), 1)), 4, algorithm="gradient", max_evals=10)


def test_overlays_of_gradient_values_do_not_call_them_shap_values(linear_model):
    # Integrated gradients are not Shapley values: the colour bar says which it shows,
    # and the caption still fits under a single label's panel.
    import matplotlib.text
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    image = np.random.default_rng(1).random((1, 8, 8, 1)).astype(np.float32)
    masker = ImageMasker("grid", cell=4)
    for algorithm, name in (("gradient", "Gradient value"), ("permutation", "SHAP value")):
        result = Explainer(linear_model, masker, algorithm=algorithm, max_evals=20).explain(image)
        figure = result.plot(0, labels=["a"])
        renderer = FigureCanvasAgg(figure).get_renderer()
        texts = [text for text in figure.findobj(matplotlib.text.Text) if text.get_text()]
        caption = next(text for text in texts if "red raises the score" in text.get_text())
        assert caption.get_text().startswith(f"{name}: ")
        extent = caption.get_window_extent(renderer)
        assert figure.bbox.x0 - 1 <= extent.x0 and extent.x1 <= figure.bbox.x1 + 1
