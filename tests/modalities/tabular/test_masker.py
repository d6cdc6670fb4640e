"""The tabular maskers: input checks, layouts, the k-means summary and the hierarchy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import to_tree

from labelshap import Explainer, LabelModel
from labelshap.modalities.tabular import (
    IndependentMasker,
    PartitionMasker,
    TableLayout,
    feature_correlation,
    kmeans_background,
    read_csv,
    write_csv,
)

NAMES = ["age", "income", "visits", "score", "days", "rank"]


@pytest.fixture
def frame(table):
    background, _ = table
    return pd.DataFrame(background, columns=NAMES)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_cell_is_refused_with_its_row_and_column(table, mlp_model, bad):
    background, rows = table
    rows = rows.copy()
    rows[2, 4] = bad
    masker = IndependentMasker(background, feature_names=NAMES)

    with pytest.raises(ValueError, match=r"rows holds -?(nan|inf) at row 2, column 'days'"):
        masker.prepare(rows, mlp_model)


def test_a_non_finite_background_is_refused(table):
    background, _ = table
    background = background.copy()
    background[5, 0] = np.nan

    with pytest.raises(ValueError, match=r"background holds nan at row 5, column 'x0'"):
        IndependentMasker(background)


def test_a_missing_column_is_named(frame, mlp_model):
    masker = IndependentMasker(frame)

    with pytest.raises(ValueError, match=r"rows lacks columns \['rank'\]; expected"):
        masker.prepare(frame.drop(columns="rank"), mlp_model)


def test_an_extra_column_is_named(frame, mlp_model):
    masker = IndependentMasker(frame)

    with pytest.raises(ValueError, match=r"rows has extra columns \['user_id'\]; expected"):
        masker.prepare(frame.assign(user_id=1), mlp_model)


def test_columns_of_a_frame_are_matched_by_name(frame, mlp_model):
    masker = IndependentMasker(frame)

    shuffled = masker.prepare(frame[NAMES[::-1]], mlp_model)

    np.testing.assert_array_equal(shuffled, frame.to_numpy())


def test_a_background_with_other_columns_than_the_rows_is_refused(frame, mlp_model):
    masker = IndependentMasker(frame)
    rows = frame.rename(columns={"rank": "ranking"})

    with pytest.raises(ValueError, match=r"lacks columns \['rank'\] and has extra columns \['rank"):
        masker.prepare(rows, mlp_model)


def test_an_array_of_another_width_is_refused(table, mlp_model):
    background, rows = table
    masker = IndependentMasker(background)

    with pytest.raises(ValueError, match=r"rows has 5 columns but 6 are expected"):
        masker.prepare(rows[:, :5], mlp_model)


def test_text_in_a_numeric_column_is_a_type_error(frame, mlp_model):
    masker = IndependentMasker(frame)
    rows = frame.astype({"visits": object})
    rows.loc[3, "visits"] = "seven"

    with pytest.raises(TypeError, match=r"column 'visits' has dtype 'object' with values such"):
        masker.prepare(rows, mlp_model)


def test_a_string_array_is_a_type_error(table):
    background, _ = table

    with pytest.raises(TypeError, match=r"background column 'x0' has dtype 'str"):
        IndependentMasker(background.astype(str))


def test_an_empty_background_is_refused():
    with pytest.raises(ValueError, match=r"background has no rows"):
        IndependentMasker(np.zeros((0, 4)))


def test_a_model_of_another_width_is_refused(table, mlp_factory):
    background, rows = table
    model = LabelModel(mlp_factory(n_columns=5), ["a", "b", "c"])

    with pytest.raises(ValueError, match=r"takes one input of shape \(5,\) but .* has 6 columns"):
        IndependentMasker(background).prepare(rows, model)


def test_a_multi_input_model_needs_named_inputs(table, two_input_factory):
    background, rows = table
    model = LabelModel(two_input_factory({"user": 4, "context": 2}), ["a", "b", "c"])

    with pytest.raises(ValueError, match=r"pass inputs=\{name: \[columns\]\}"):
        IndependentMasker(background).prepare(rows, model)


def test_a_category_code_must_be_whole(table):
    background, _ = table

    with pytest.raises(ValueError, match=r"categorical column 'x1' holds .* at row 0"):
        IndependentMasker(background, categorical=["x1"])


def test_groups_must_name_known_columns(table):
    background, _ = table

    with pytest.raises(ValueError, match=r"groups names unknown columns \['colour=red'\]"):
        IndependentMasker(background, groups={"colour": ["x1", "colour=red"]})


def test_a_group_hides_and_keeps_its_columns_together():
    layout = TableLayout.from_names(["a", "c=x", "b", "c=y"], groups={"c": ["c=x", "c=y"]})

    assert layout.feature_names == ["a", "c", "b"]
    assert layout.feature_columns == [[0], [1, 3], [2]]
    np.testing.assert_array_equal(layout.expansion(), [[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0]])


def test_k_means_gives_the_requested_size_with_cluster_weights():
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.normal(0, 0.1, (150, 3)), rng.normal(5, 0.1, (50, 3))])
    masker = IndependentMasker(rows, summarize=10, seed=0)

    assert masker.background.shape == (10, 3)
    assert masker.background_weights.sum() == pytest.approx(1.0)
    # Three quarters of the rows lie near 0: so does three quarters of the weight.
    near_zero = masker.background[:, 0] < 2.5
    assert masker.background_weights[near_zero].sum() == pytest.approx(0.75)


def test_k_means_keeps_categories_whole():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 3, 80)
    rows = np.column_stack([rng.normal(size=80), codes, np.eye(2)[codes % 2]])
    names = ["x", "code", "odd=0", "odd=1"]
    layout = TableLayout.from_names(names, groups={"odd": ["odd=0", "odd=1"]}, categorical=["code"])

    centres, weights = kmeans_background(rows, layout, 6, seed=0)

    assert centres.shape == (6, 4)
    assert set(centres[:, 1]) <= {0.0, 1.0, 2.0}
    np.testing.assert_array_equal(centres[:, 2] + centres[:, 3], np.ones(6))


def test_a_background_of_few_distinct_rows_is_kept_exactly():
    rows = np.array([[1.0, 2.0]] * 3 + [[0.0, 1.0]])

    masker = IndependentMasker(rows, summarize=5)

    np.testing.assert_array_equal(masker.background, [[0.0, 1.0], [1.0, 2.0]])
    np.testing.assert_allclose(masker.background_weights, [0.25, 0.75])


def test_the_partition_hierarchy_merges_correlated_features_first():
    rng = np.random.default_rng(3)
    base = rng.normal(size=(300, 3))
    rows = np.column_stack(
        [
            base[:, 0],
            rng.normal(size=300),
            base[:, 0] + 0.1 * rng.normal(size=300),
            base[:, 1],
            base[:, 1] + 0.8 * rng.normal(size=300),
        ]
    )

    clustering = PartitionMasker(rows).clustering

    assert clustering.shape == (4, 4)
    assert sorted(clustering[0, :2]) == [0, 2]  # r ~ 0.99: the first merge
    assert sorted(clustering[1, :2]) == [3, 4]  # r ~ 0.78: the second
    assert to_tree(clustering).get_count() == 5


def test_a_one_hot_group_correlates_through_its_columns():
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 3, 200)
    rows = np.column_stack([codes == 2, np.eye(3)[codes], rng.normal(size=200)]).astype(float)
    layout = TableLayout.from_names(
        ["is_two", "c0", "c1", "c2", "noise"], groups={"c": ["c0", "c1", "c2"]}
    )

    strength = feature_correlation(rows, layout)

    assert strength.shape == (3, 3)
    assert strength[0, 1] == pytest.approx(1.0)
    assert strength[0, 2] < 0.2


def test_partition_with_permutation_equals_the_independent_masker(table, mlp_model):
    background, rows = table

    def values(masker):
        return Explainer(mlp_model, masker, algorithm="exact", max_evals=64).explain(rows).values

    np.testing.assert_allclose(
        values(PartitionMasker(background)), values(IndependentMasker(background)), atol=1e-12
    )


def test_csv_files_round_trip_and_bad_cells_name_their_place(tmp_path):
    matrix = np.array([[0.1, 2.0], [3.5, -1.0]], dtype=np.float32)
    path = write_csv(tmp_path / "rows.csv", ["a", "b"], matrix)

    names, read = read_csv(path)

    assert names == ["a", "b"]
    np.testing.assert_array_equal(read.astype(np.float32), matrix)
    assert path.read_text().splitlines()[1] == "0.1,2.0"
    path.write_text("a,b\n1,2\n3,many\n")
    with pytest.raises(ValueError, match=r"line 3, column 'b': 'many' is not a number"):
        read_csv(path)


@pytest.mark.parametrize("algorithm", ["partition", "owen-sampling", "shap-partition"])
def test_the_independent_masker_refuses_hierarchical_algorithms_when_the_explainer_is_made(
    table, mlp_model, algorithm
):
    # Refused before any row is read, naming the fix and what this masker can run.
    background, _ = table
    with pytest.raises(ValueError) as refused:
        Explainer(mlp_model, IndependentMasker(background), algorithm=algorithm)

    message = str(refused.value)
    assert message.startswith(
        f"algorithm={algorithm!r} needs a feature hierarchy, but this masker gives none "
        "(IndependentMasker; tabular: PartitionMasker has one, command line: --masker partition)"
        "; accepted with this masker: ("
    )
    accepted = message.split("accepted with this masker: ")[1]
    assert "'kernel-rows'" in accepted and "'permutation'" in accepted
    assert "'partition'" not in accepted and "'gradient'" not in accepted
    Explainer(mlp_model, PartitionMasker(background), algorithm=algorithm)  # has one


def test_a_csv_header_may_not_repeat_a_name(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("a,b,a\n1,2,3\n")

    with pytest.raises(ValueError, match=r"columns of .* repeat \['a'\]"):
        read_csv(path)
