"""Tabular explanations: charts, the audit, shap's plots, saving and the deletion check."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import shap
from PIL import Image

from labelshap import Explainer, LabelModel, load_explanation
from labelshap.modalities.tabular import (
    IndependentMasker,
    TabularExplanation,
    deletion_check,
)

NAMES = ["count", "age", "visits", "score", "days", "rank"]


@pytest.fixture(scope="module")
def result(table, mlp_model):
    background, rows = table
    rng = np.random.default_rng(7)
    rows = np.concatenate([rows, rng.normal(size=(9, 6))])
    masker = IndependentMasker(background, feature_names=NAMES)
    return Explainer(mlp_model, masker, algorithm="exact", max_evals=64).explain(rows)


def test_the_result_is_a_tabular_explanation(result):
    assert isinstance(result, TabularExplanation)
    assert result.names == NAMES
    assert result.values.shape == (12, 6, 3)
    np.testing.assert_array_equal(result.feature_data, result.data)


def test_each_chart_is_a_figure(result):
    from matplotlib.figure import Figure

    figures = [
        result.bar("a"),
        result.beeswarm("b", max_features=4),
        result.waterfall(2, "c"),
        result.heatmap(),
    ]

    assert all(isinstance(figure, Figure) for figure in figures)
    (points,) = figures[1].axes[0].collections  # every feature's row in one scatter
    rows = np.round(points.get_offsets()[:, 1]).astype(int)
    assert np.bincount(rows).tolist() == [len(result)] * 4


def test_save_charts_writes_pngs_per_label(result, tmp_path):
    paths = result.save_charts(tmp_path, labels=["a"], rows=(0, 3))

    names = sorted(str(path.relative_to(tmp_path)) for path in paths)
    assert names == [
        "a/bar.png",
        "a/beeswarm.png",
        "a/waterfall_row0.png",
        "a/waterfall_row3.png",
        "heatmap.png",
    ]
    with Image.open(tmp_path / "heatmap.png") as picture:
        assert picture.width > 100 and picture.height > 100


def test_the_audit_ranks_drivers_by_mean_absolute_value(result, tmp_path):
    audit = result.save_audit(tmp_path, top=2, sensitive=["age"])

    for entry, column in zip(audit.labels, range(3), strict=True):
        strength = np.abs(result.values[:, :, column]).mean(axis=0)
        assert [driver.feature for driver in entry.drivers] == [
            NAMES[j] for j in np.argsort(-strength)[:2]
        ]
    assert set(audit.sensitive) == {"age"}
    header = (tmp_path / "audit.csv").read_text().splitlines()[0]
    assert header.startswith("section,label,label_total,rank,feature")
    assert "| label |" in (tmp_path / "audit.md").read_text()


def test_one_label_goes_into_shaps_plots(result):
    one = result["b"].to_shap()

    assert one.values.shape == (12, 6)
    assert list(one.feature_names) == NAMES
    shap.plots.bar(one, show=False)
    shap.plots.beeswarm(one, show=False)
    shap.plots.waterfall(one[0], show=False)
    matplotlib.pyplot.close("all")


def test_a_saved_explanation_loads_as_tabular(result, tmp_path):
    result.save(tmp_path / "explanation")

    loaded = load_explanation(tmp_path / "explanation")

    assert isinstance(loaded, TabularExplanation)
    np.testing.assert_array_equal(loaded.values, result.values)
    assert loaded.names == NAMES


def test_the_deletion_check_finds_the_one_feature_that_matters(table):
    background, rows = table

    def only_the_first_column(batch):
        return 1.0 / (1.0 + np.exp(-3.0 * np.asarray(batch)[:, :1] * [1.0, -1.0]))

    model = LabelModel(only_the_first_column, ["up", "down"])
    masker = IndependentMasker(background)
    explanation = Explainer(model, masker, algorithm="exact", max_evals=64).explain(rows)

    check = deletion_check(explanation, masker, model, k=1, seed=0)

    # Hiding feature 0 removes the whole gap; hiding any other feature changes nothing.
    gap = np.abs(explanation.scores - explanation.base_values)
    np.testing.assert_allclose(check.top_changes, gap, atol=1e-9)
    picked_first = check.random_changes > 1e-9
    np.testing.assert_allclose(check.random_changes[picked_first], gap[picked_first])
    assert check.ratio > 3.0
    assert check.to_json()["pairs"] == 6
