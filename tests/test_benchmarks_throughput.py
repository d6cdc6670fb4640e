"""The throughput suite's smoke run: the schema of its results and its plot, not its speed."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.__main__ import main

RATES = (
    "bare_peak_rows_per_second",
    "explanations_per_second",
    "explanations_per_second_limit",
    "model_rows_per_second",
    "model_rows_per_explanation",
    "throughput_ratio",
)
NOTED = ("xla_rows_per_second", "bf16_rows_per_second", "peak_memory_bytes")

# The smoke encoder reads 32 tokens, so the texts are truncated on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:.*texts are longer than the model:UserWarning")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("throughput")
    status = main(["--suite", "throughput", "--smoke", "--device", "cpu", "--out", str(out)])
    return status, out


def test_smoke_run_writes_results_table_and_plot(smoke_run):
    status, out = smoke_run

    assert status == 0
    assert (out / "results.md").read_text(encoding="utf-8").count("|") > 0
    assert (out / "throughput.png").stat().st_size > 0


def test_results_describe_the_machine_and_the_batch_sizes(smoke_run):
    results = json.loads((smoke_run[1] / "results.json").read_text(encoding="utf-8"))
    machine = results["machine"]

    assert results["suite"] == "throughput"
    assert {"device", "description", "tensorflow", "batch_sizes", "budget"} <= set(machine)
    assert set(machine["batch_sizes"]) == {"image", "text", "tabular"}


def test_every_record_has_positive_rates_beside_their_limit(smoke_run):
    records = json.loads((smoke_run[1] / "results.json").read_text(encoding="utf-8"))["records"]

    assert {record["modality"] for record in records} == {"image", "text", "tabular"}
    assert {record["algorithm"] for record in records} == {"owen-sampling", "shap-partition"}
    for record in records:
        extra = record["extra"]
        for name in RATES:
            assert math.isfinite(extra[name]) and extra[name] > 0, (record["case"], name)
        assert extra["batch_sweep_rows_per_second"]
        assert all(rate > 0 for rate in extra["batch_sweep_rows_per_second"].values())
        assert record["seconds"] > 0 and record["model_rows"] > 0
        for name in NOTED:
            assert name in extra
        assert extra["peak_memory_bytes"] is None and extra["peak_memory_note"]


def test_limit_is_bare_peak_over_rows_per_explanation(smoke_run):
    records = json.loads((smoke_run[1] / "results.json").read_text(encoding="utf-8"))["records"]

    for record in records:
        extra = record["extra"]
        expected = extra["bare_peak_rows_per_second"] / extra["model_rows_per_explanation"]
        assert extra["explanations_per_second_limit"] == pytest.approx(expected)


def test_smoke_size_is_refused_for_the_accuracy_suite(tmp_path):
    with pytest.raises(SystemExit):
        main(["--suite", "accuracy", "--smoke", "--out", str(tmp_path)])
