"""The contract every masker and algorithm keeps: shapes, efficiency, reproducibility.

Each case gives a model, a masker and inputs small enough for every algorithm (exact
enumeration included). New maskers join by adding a case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from labelshap import ALGORITHMS, Explainer, TopK
from labelshap.engines import GRADIENT, HIERARCHICAL_ALGORITHMS, ROW_ALGORITHMS
from labelshap.modalities.image import ImageMasker
from labelshap.modalities.tabular import IndependentMasker, PartitionMasker
from labelshap.modalities.text import TextMasker

EFFICIENCY_TOLERANCE = 1e-4


@dataclass
class Case:
    """A model, a masker and inputs small enough for exact enumeration."""

    model: Any
    masker: Any
    inputs: Any
    max_evals: int
    n_labels: int
    hierarchy: bool = True  # whether the masker gives the hierarchy partition algorithms use


def skip_without_hierarchy(case: Case, algorithm: str) -> None:
    """Skip what a masker cannot run: hierarchical algorithms without a hierarchy, the
    gradient algorithm where masked inputs are not differentiable in the masks, and row
    algorithms without background rows (only the tabular maskers have them)."""
    if not case.hierarchy and algorithm in HIERARCHICAL_ALGORITHMS:
        pytest.skip(f"this masker has no feature hierarchy for {algorithm!r}")
    if algorithm in ROW_ALGORITHMS and case.masker.modality != "tabular":
        pytest.skip(f"this masker has no background rows for {algorithm!r}")
    if algorithm == GRADIENT and not isinstance(case.masker, ImageMasker):
        pytest.skip("only the image masker's inputs are differentiable in the masks")


def _image_case(masker: Any, max_evals: int) -> Callable[[Any], Case]:
    def build(request: Any) -> Case:
        images = request.getfixturevalue("images_factory")(3)
        model = request.getfixturevalue("image_label_model")
        return Case(model, masker, images, max_evals, n_labels=4)

    return build


# Each modality adds its cases: name -> function of the pytest request returning a Case.
IMAGE_CASES = {
    "image-grid-blur": _image_case(ImageMasker("grid", cell=6), 600),
    "image-grid-mean": _image_case(ImageMasker("grid", cell=6, fill="mean"), 600),
    "image-grid-constant": _image_case(ImageMasker("grid", cell=8, fill="constant"), 600),
    "image-slic": _image_case(ImageMasker("slic", n_segments=6), 1024),
}

# Short texts (at most 10 tokens each) with a special token, an accent, an emoji.
TEXT_INPUTS = ["A Perl module for parsing files.", "Python bindings, GTK!", "Café game 😀 chat"]


def _text_case(tokenizer: str, hide: str, *, strings: bool = False) -> Callable[[Any], Case]:
    def build(request: Any) -> Case:
        tokenizers = request.getfixturevalue("text_tokenizers")
        if strings:
            model = request.getfixturevalue("keyword_label_model")
        else:
            model = request.getfixturevalue("text_label_models")[tokenizer]
        masker = TextMasker(tokenizers[tokenizer], hide=hide)
        return Case(model, masker, TEXT_INPUTS, 1024, n_labels=4)

    return build


TEXT_CASES = {
    "text-wordpiece-mask": _text_case("wordpiece", "mask"),
    "text-byte-bpe-delete": _text_case("byte_bpe", "delete"),
    "text-raw-strings-pad": _text_case("wordpiece", "pad", strings=True),
}


def _tabular_model(widths: tuple[tuple[str, int], ...]) -> Any:
    """A small untrained MLP with 3 sigmoid labels over one or several named inputs."""
    import keras

    from labelshap import LabelModel

    keras.utils.set_random_seed(0)
    inputs = {name: keras.Input((width,), name=name) for name, width in widths}
    joined = list(inputs.values())
    joined = joined[0] if len(joined) == 1 else keras.layers.Concatenate()(joined)
    hidden = keras.layers.Dense(8, activation="tanh")(joined)
    outputs = keras.layers.Dense(3, activation="sigmoid")(hidden)
    model = keras.Model(inputs if len(inputs) > 1 else joined, outputs)
    return LabelModel(model, ["x", "y", "z"])


def _tabular_case(kind: str) -> Callable[[Any], Case]:
    def build(request: Any) -> Case:
        rng = np.random.default_rng(0)
        table = rng.normal(size=(23, 6)) * 1.5
        if kind == "named":
            # Two named inputs (rows given flat, in input order); the last two user
            # columns are one category, one-hot.
            table[:, 2:4] = np.eye(2)[rng.integers(0, 2, len(table))]
            background, rows = table[:20], table[20:]
            masker = IndependentMasker(
                {"user": background[:, :4], "context": background[:, 4:]},
                groups={"plan": ["user[2]", "user[3]"]},
            )
            model = _tabular_model((("user", 4), ("context", 2)))
            return Case(model, masker, rows, 64, n_labels=3, hierarchy=False)
        background, rows = table[:20], table[20:]
        if kind == "partition":
            masker = PartitionMasker(background, summarize=6)
        else:
            masker = IndependentMasker(background)
        model = _tabular_model((("features", 6),))
        return Case(model, masker, rows, 64, n_labels=3, hierarchy=kind == "partition")

    return build


TABULAR_CASES = {
    "tabular-independent": _tabular_case("independent"),
    "tabular-partition": _tabular_case("partition"),
    "tabular-named-inputs-grouped": _tabular_case("named"),
}

CASE_BUILDERS = {**IMAGE_CASES, **TEXT_CASES, **TABULAR_CASES}


@pytest.fixture(scope="module", params=sorted(CASE_BUILDERS))
def case(request):
    return CASE_BUILDERS[request.param](request)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_values_have_a_trailing_label_axis(case, algorithm):
    skip_without_hierarchy(case, algorithm)
    result = Explainer(
        case.model, case.masker, algorithm=algorithm, max_evals=case.max_evals
    ).explain(case.inputs)

    n_inputs, n_labels = len(case.inputs), case.n_labels
    assert result.values.shape == (n_inputs, result.n_features.max(), n_labels)
    assert result.base_values.shape == (n_inputs, n_labels)
    assert result.scores.shape == (n_inputs, n_labels)
    assert result.label_names == case.model.label_names
    assert all(count >= 2 for count in result.n_features)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_values_sum_to_the_output_gap_for_every_label(case, algorithm):
    skip_without_hierarchy(case, algorithm)
    if algorithm == GRADIENT:
        pytest.skip("integrated gradients sum to the gap only up to the integration error")
    result = Explainer(
        case.model, case.masker, algorithm=algorithm, max_evals=case.max_evals
    ).explain(case.inputs)

    gap = result.scores - result.base_values
    np.testing.assert_allclose(result.values.sum(axis=1), gap, atol=EFFICIENCY_TOLERANCE)
    # The gap is real: every input moves at least one label, so the check has teeth.
    assert np.abs(gap).max() > 1e-3


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_scores_are_the_model_on_the_unmasked_input(case, algorithm):
    skip_without_hierarchy(case, algorithm)
    result = Explainer(
        case.model, case.masker, algorithm=algorithm, max_evals=case.max_evals
    ).explain(case.inputs)

    prepared = case.masker.prepare(case.inputs, case.model)
    direct = case.model.predict(case.masker.stack(prepared))
    np.testing.assert_allclose(result.scores, direct, atol=1e-6)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_the_same_seed_gives_the_same_values(case, algorithm):
    skip_without_hierarchy(case, algorithm)

    def run(seed):
        return Explainer(
            case.model,
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
def test_label_subsets_reuse_the_same_evaluations(case, algorithm):
    """Values of a label do not depend on which other labels are explained with it."""
    skip_without_hierarchy(case, algorithm)
    explainer = Explainer(case.model, case.masker, algorithm=algorithm, max_evals=case.max_evals)
    everything = explainer.explain(case.inputs)
    name = case.model.label_names[-1]
    one = explainer.explain(case.inputs, labels=[name])

    assert one.label_names == [name]
    if algorithm not in ("partition", "shap-partition", "kernel-cubic", "kernel-stack", "auto"):
        # Partition's traversal, kernel-cubic's surrogate prior and kernel-stack's forest
        # follow the labels they are given; the others are label-free.
        np.testing.assert_allclose(one.values[..., 0], everything.label_values(name), atol=1e-12)
    if algorithm not in ("partition", "shap-partition", "auto"):
        assert one.info["model_rows"] == everything.info["model_rows"]


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
