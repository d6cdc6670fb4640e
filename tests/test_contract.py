"""The contract every masker and algorithm keeps: shapes, efficiency, reproducibility.

Each case gives a model, a masker and inputs small enough for every algorithm (exact
enumeration included). New maskers join by adding a case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from labelshap import ALGORITHMS, Explainer, TopK
from labelshap.modalities.image import ImageMasker

EFFICIENCY_TOLERANCE = 1e-4


@dataclass
class Case:
    masker: Any
    inputs: Any
    max_evals: int


CASE_BUILDERS = {
    "image-grid-blur": lambda images: Case(ImageMasker("grid", cell=6), images(3), 600),
    "image-grid-mean": lambda images: Case(
        ImageMasker("grid", cell=6, fill="mean"), images(3), 600
    ),
    "image-grid-constant": lambda images: Case(
        ImageMasker("grid", cell=8, fill="constant"), images(3), 600
    ),
    "image-slic": lambda images: Case(ImageMasker("slic", n_segments=6), images(3), 1024),
}


@pytest.fixture(scope="module", params=sorted(CASE_BUILDERS))
def case(request, images_factory):
    return CASE_BUILDERS[request.param](images_factory)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_values_have_a_trailing_label_axis(case, algorithm, image_label_model):
    result = Explainer(
        image_label_model, case.masker, algorithm=algorithm, max_evals=case.max_evals
    ).explain(case.inputs)

    n_inputs = len(case.inputs)
    assert result.values.shape == (n_inputs, result.n_features.max(), 4)
    assert result.base_values.shape == (n_inputs, 4)
    assert result.scores.shape == (n_inputs, 4)
    assert result.label_names == ["a", "b", "c", "d"]
    assert all(count >= 2 for count in result.n_features)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_values_sum_to_the_output_gap_for_every_label(case, algorithm, image_label_model):
    result = Explainer(
        image_label_model, case.masker, algorithm=algorithm, max_evals=case.max_evals
    ).explain(case.inputs)

    gap = result.scores - result.base_values
    np.testing.assert_allclose(result.values.sum(axis=1), gap, atol=EFFICIENCY_TOLERANCE)
    # The gap is real: every input moves at least one label, so the check has teeth.
    assert np.abs(gap).max() > 1e-3


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_scores_are_the_model_on_the_unmasked_input(case, algorithm, image_label_model):
    result = Explainer(
        image_label_model, case.masker, algorithm=algorithm, max_evals=case.max_evals
    ).explain(case.inputs)

    direct = image_label_model.predict(np.asarray(case.inputs))
    np.testing.assert_allclose(result.scores, direct, atol=1e-6)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_the_same_seed_gives_the_same_values(case, algorithm, image_label_model):
    def run(seed):
        return Explainer(
            image_label_model,
            case.masker,
            algorithm=algorithm,
            max_evals=case.max_evals,
            seed=seed,
        ).explain(case.inputs)

    first, second = run(7), run(7)
    np.testing.assert_array_equal(first.values, second.values)
    np.testing.assert_array_equal(first.base_values, second.base_values)


def test_permutation_depends_on_the_seed(image_label_model, images_factory):
    masker = ImageMasker("grid", cell=4)
    images = images_factory(1, size=16)

    def run(seed):
        explainer = Explainer(
            image_label_model, masker, algorithm="permutation", max_evals=100, seed=seed
        )
        return explainer.explain(images).values

    assert not np.array_equal(run(1), run(2))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_label_subsets_reuse_the_same_evaluations(case, algorithm, image_label_model):
    """Values of a label do not depend on which other labels are explained with it."""
    explainer = Explainer(
        image_label_model, case.masker, algorithm=algorithm, max_evals=case.max_evals
    )
    everything = explainer.explain(case.inputs)
    one = explainer.explain(case.inputs, labels=["c"])

    assert one.label_names == ["c"]
    if algorithm != "partition":
        # Partition's traversal follows the labels it is given; the others are label-free.
        np.testing.assert_allclose(one.values[..., 0], everything.label_values("c"), atol=1e-12)
    assert one.info["model_rows"] == everything.info["model_rows"] or algorithm == "partition"


def test_top_k_marks_each_inputs_best_labels(image_label_model, images_factory):
    images = images_factory(4, size=16, seed=3)
    result = Explainer(
        image_label_model, ImageMasker("grid", cell=8), algorithm="exact", max_evals=64
    ).explain(images, labels=TopK(2))

    all_scores = image_label_model.predict(images)
    for row in range(len(images)):
        best = {image_label_model.label_names[c] for c in np.argsort(-all_scores[row])[:2]}
        marked = {
            name for name, on in zip(result.label_names, result.selected[row], strict=True) if on
        }
        assert marked == best
