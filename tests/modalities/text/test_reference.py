"""Text values against independent references: shap's Exact explainer and the formula."""

from __future__ import annotations

import numpy as np
import pytest
import shap
from shapley_reference import reference_shapley

from labelshap import Explainer, LabelModel
from labelshap.modalities.text import TextMasker

TOLERANCE = 1e-6
LENGTH = 16
TEXT = "Python bindings for the GTK toolkit."


@pytest.fixture(scope="module")
def model(wordpiece, text_model_factory):
    return LabelModel(text_model_factory(len(wordpiece), LENGTH, seed=5), ["a", "b", "c", "d"])


@pytest.fixture(scope="module")
def ids(wordpiece):
    """[CLS] tokens [SEP] of TEXT: at most 10 tokens, so exact enumeration is cheap."""
    ids = wordpiece(TEXT)["input_ids"]
    assert 3 <= len(ids) - 2 <= 10
    return ids


def numpy_masked_ids(keep, ids, fill, pad, hide="mask", length=LENGTH):
    """One masked id row built plainly in numpy, independently of the TensorFlow path."""
    keep = np.asarray(keep, dtype=bool)
    content = np.asarray(ids[1:-1])
    if hide == "delete":
        content = content[keep]
    else:
        content = np.where(keep, content, fill)
    row = np.full(length, pad, dtype=np.int32)
    row[: len(content) + 2] = [ids[0], *content, ids[-1]]
    return row


@pytest.mark.parametrize("hide", ["mask", "delete"])
def test_exact_values_equal_shaps_exact_explainer(wordpiece, model, ids, hide):
    n_tokens = len(ids) - 2
    fill, pad = wordpiece.mask_token_id, wordpiece.pad_token_id

    class NumpyTokenMasker:
        """The same tokens and hiding, as a plain shap masker building numpy id rows."""

        shape = (1, n_tokens)

        def __call__(self, mask, x):
            return (numpy_masked_ids(mask, ids, fill, pad, hide)[None],)

    explainer = shap.explainers.Exact(model.predict, NumpyTokenMasker())
    reference = explainer(np.zeros((1, n_tokens)), max_evals=2**n_tokens, silent=True)
    masker = TextMasker(wordpiece, hide=hide)
    result = Explainer(model, masker, algorithm="exact", max_evals=1024).explain(TEXT)

    np.testing.assert_allclose(result.values[0], reference.values[0], atol=TOLERANCE)
    np.testing.assert_allclose(result.base_values[0], reference.base_values[0], atol=TOLERANCE)


def test_exact_values_equal_the_shapley_formula(wordpiece, model, ids):
    n_tokens = len(ids) - 2
    fill, pad = wordpiece.mask_token_id, wordpiece.pad_token_id

    def value_of(keep):
        return model.predict(numpy_masked_ids(keep, ids, fill, pad)[None])[0]

    expected = reference_shapley(value_of, n_tokens)
    result = Explainer(model, TextMasker(wordpiece), algorithm="exact", max_evals=1024).explain(
        [TEXT]
    )

    np.testing.assert_allclose(result.values[0], expected, atol=TOLERANCE)
    np.testing.assert_allclose(result.base_values[0], value_of(np.zeros(n_tokens)), atol=TOLERANCE)


def test_window_values_are_the_shapley_values_of_the_mean_over_windows(
    wordpiece, text_model_factory
):
    """Rows of 6 ids (4 text tokens): a token's value covers every window it is in."""
    window_model = LabelModel(text_model_factory(len(wordpiece), 6, seed=6), ["a", "b", "c", "d"])
    ids = wordpiece(TEXT)["input_ids"]
    content = ids[1:-1]
    n_tokens = len(content)
    starts = [*range(0, n_tokens - 4, 2), n_tokens - 4]
    mask_id = wordpiece.mask_token_id

    def value_of(keep):
        hidden = np.where(keep, content, mask_id)
        rows = [[ids[0], *hidden[s : s + 4], ids[-1]] for s in starts]
        return window_model.predict(np.array(rows, dtype=np.int32)).mean(axis=0)

    expected = reference_shapley(value_of, n_tokens)
    masker = TextMasker(wordpiece, long_text="window", stride=2)
    result = Explainer(window_model, masker, algorithm="exact", max_evals=1024).explain(TEXT)

    assert n_tokens > 4 and len(starts) >= 2
    np.testing.assert_allclose(result.values[0], expected, atol=TOLERANCE)
    np.testing.assert_allclose(result.scores[0], value_of(np.ones(n_tokens)), atol=TOLERANCE)
