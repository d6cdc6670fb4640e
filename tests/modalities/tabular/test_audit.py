"""Tests for the attribution audit table and the tabular charts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labelshap.modalities.tabular.audit import audit_table
from labelshap.modalities.tabular.charts import (
    bar_chart,
    beeswarm_chart,
    heatmap_chart,
    save_figure,
    waterfall_chart,
)

FEATURES = ["log_rating_count", "rating_mean", "noise", "constant"]
LABELS = ["Action", "Comedy", "Drama"]


@pytest.fixture
def synthetic() -> tuple[np.ndarray, np.ndarray]:
    """Feature 0 dominates every label and raises it; feature 1 lowers; 2 is noise."""
    rng = np.random.default_rng(0)
    n = 60
    data = np.column_stack(
        [rng.normal(3.0, 1.0, n), rng.normal(3.5, 0.5, n), rng.normal(0, 1, n), np.ones(n)]
    )
    values = np.zeros((n, len(FEATURES), len(LABELS)))
    for label in range(len(LABELS)):
        values[:, 0, label] = (label + 1) * (data[:, 0] - data[:, 0].mean())
        values[:, 1, label] = -0.2 * (data[:, 1] - data[:, 1].mean())
        values[:, 2, label] = 0.05 * rng.normal(size=n)
    return values, data


def test_a_feature_dominating_every_label_is_flagged_and_first(synthetic):
    values, data = synthetic
    result = audit_table(values, data, FEATURES, LABELS, top=2)
    assert result.flagged == ("log_rating_count", "rating_mean")
    assert [entry.drivers[0].feature for entry in result.labels] == ["log_rating_count"] * 3

    only_top_one = audit_table(values, data, FEATURES, LABELS, top=1)
    assert only_top_one.flagged == ("log_rating_count",)


def test_flag_share_counts_labels(synthetic):
    values, data = synthetic
    values = values.copy()
    values[:, 2, 2] *= 1000.0  # noise now leads Drama only: 2 of 3 labels keep feature 0 first
    assert audit_table(values, data, FEATURES, LABELS, top=1).flagged == ()
    relaxed = audit_table(values, data, FEATURES, LABELS, top=1, flag_share=0.6)
    assert relaxed.flagged == ("log_rating_count",)


def test_directions_follow_the_sign_of_the_value_attribution_correlation(synthetic):
    values, data = synthetic
    result = audit_table(values, data, FEATURES, LABELS, top=4)
    directions = {driver.feature: driver.direction for driver in result.labels[0].drivers}
    assert directions == {
        "log_rating_count": "raises",
        "rating_mean": "lowers",
        "noise": "mixed",
        "constant": "mixed",
    }
    correlations = {driver.feature: driver.correlation for driver in result.labels[0].drivers}
    assert correlations["log_rating_count"] == pytest.approx(1.0)
    assert correlations["rating_mean"] == pytest.approx(-1.0)
    assert correlations["constant"] is None


def test_mean_abs_and_sensitive_share_match_a_hand_computation():
    # Mean |value| per feature: a = (2 + 2) / 2 = 2, b = (1 + 3) / 2 = 2, c = (1 + 0) / 2 = 0.5.
    values = np.array([[[2.0], [-1.0], [1.0]], [[-2.0], [3.0], [0.0]]])
    data = np.array([[1.0, 0.0, 5.0], [0.0, 1.0, 6.0]])
    result = audit_table(values, data, ["a", "b", "c"], ["only"], top=3, sensitive=["b"])

    entry = result.labels[0]
    assert entry.total == pytest.approx(4.5)
    assert [driver.feature for driver in entry.drivers] == ["a", "b", "c"]  # ties keep order
    assert [driver.mean_abs for driver in entry.drivers] == pytest.approx([2.0, 2.0, 0.5])
    assert result.sensitive["b"]["only"].share == pytest.approx(2.0 / 4.5)
    assert result.sensitive["b"]["only"].direction == "raises"


def test_unknown_sensitive_name_lists_the_valid_names(synthetic):
    values, data = synthetic
    with pytest.raises(ValueError, match=r"\['age'\] are not features; valid names: \["):
        audit_table(values, data, FEATURES, LABELS, sensitive=["age"])


def test_a_single_sensitive_string_is_one_name(synthetic):
    values, data = synthetic
    result = audit_table(values, data, FEATURES, LABELS, sensitive="rating_mean")
    assert list(result.sensitive) == ["rating_mean"]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"values": np.zeros((5, 3, 3))}, "values must have shape"),
        ({"data": np.zeros((5, 4))}, "data must have shape"),
        ({"feature_names": ["a", "a", "b", "c"]}, "feature_names has duplicates"),
        ({"top": 0}, "top must be a positive int"),
        ({"flag_share": 0.0}, "flag_share"),
    ],
)
def test_bad_inputs_are_rejected_with_the_argument_named(synthetic, change, match):
    values, data = synthetic
    arguments = {"values": values, "data": data, "feature_names": FEATURES, "top": 3}
    arguments.update(change)
    top = arguments.pop("top")
    flag_share = arguments.pop("flag_share", 0.9)
    with pytest.raises(ValueError, match=match):
        audit_table(**arguments, label_names=LABELS, top=top, flag_share=flag_share)


def test_csv_holds_driver_and_sensitive_rows(synthetic, tmp_path: Path):
    values, data = synthetic
    result = audit_table(values, data, FEATURES, LABELS, top=2, sensitive=["noise"])
    path = result.to_csv(tmp_path / "audit" / "table.csv")

    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    drivers = [row for row in rows if row["section"] == "driver"]
    sensitive = [row for row in rows if row["section"] == "sensitive"]
    assert len(drivers) == 2 * len(LABELS) and len(sensitive) == len(LABELS)
    assert drivers[0]["label"] == "Action"
    assert (drivers[0]["rank"], drivers[0]["feature"]) == ("1", "log_rating_count")
    assert drivers[0]["direction"] == "raises" and drivers[0]["flagged"] == "True"
    assert {row["feature"] for row in sensitive} == {"noise"}


def test_markdown_lists_every_label_the_flags_and_sensitive_shares(synthetic):
    values, data = synthetic
    result = audit_table(values, data, FEATURES, LABELS, top=2, sensitive=["noise"])
    markdown = result.to_markdown()
    for label in LABELS:
        assert f"| {label} |" in markdown
    assert "log_rating_count (" in markdown and "raises)" in markdown
    assert "**Flagged**" in markdown and "log_rating_count, rating_mean" in markdown
    assert "share: noise" in markdown


def test_json_form_round_trips_through_json(synthetic):
    values, data = synthetic
    result = audit_table(values, data, FEATURES, LABELS, sensitive=["constant"])
    decoded = json.loads(json.dumps(result.to_json()))
    assert decoded["flagged"] == list(result.flagged)
    assert decoded["labels"][0]["drivers"][0]["feature"] == "log_rating_count"
    assert decoded["sensitive"]["constant"]["Drama"]["correlation"] is None


def _assert_png(path: Path) -> None:
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size[0] > 100 and image.size[1] > 100


def test_charts_render_and_save_readable_pngs(synthetic, tmp_path: Path):
    values, data = synthetic
    figures = {
        "bar": bar_chart(values[:, :, 0], FEATURES, "Action"),
        "beeswarm": beeswarm_chart(values[:, :, 0], data, FEATURES, "Action"),
        "waterfall": waterfall_chart(values[0, :, 0], 0.4, data[0], FEATURES, "Action"),
        "heatmap": heatmap_chart(values, FEATURES, LABELS),
    }
    for name, figure in figures.items():
        _assert_png(save_figure(figure, tmp_path / "charts" / f"{name}.png"))


def test_waterfall_pools_the_smallest_contributions(synthetic, tmp_path: Path):
    values, data = synthetic
    row = int(np.argmax(np.abs(values[:, 0, 0])))
    figure = waterfall_chart(values[row, :, 0], 0.4, data[row], FEATURES, "Action", max_features=2)
    labels = [tick.get_text() for tick in figure.axes[0].get_yticklabels()]
    assert labels[-1].startswith("log_rating_count = ")
    assert labels[0] == "3 other features"
    _assert_png(save_figure(figure, tmp_path / "waterfall.png"))


def test_chart_rejects_values_that_do_not_match_the_names(synthetic):
    values, _ = synthetic
    with pytest.raises(ValueError, match="values_label must hold 3 features"):
        bar_chart(values[:, :, 0], FEATURES[:3], "Action")
