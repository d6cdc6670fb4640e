"""The benchmark helpers: the error metric by hand, and the schema of a record."""

from __future__ import annotations

import numpy as np

from benchmarks.__main__ import markdown_table
from benchmarks.measure import Record, label_errors, summarize_errors

REQUIRED_FIELDS = {
    "modality",
    "algorithm",
    "budget",
    "n_labels",
    "seconds",
    "bare_model_seconds",
    "overhead_ratio",
    "speedup_vs_shap",
    "error_median_label",
    "error_worst_label",
}


def test_label_error_is_the_relative_l1_distance_averaged_over_inputs():
    reference = np.array([[[1.0, 2.0], [-1.0, 0.0]], [[2.0, 1.0], [0.0, 1.0]]])
    estimate = reference.copy()
    estimate[0, 0, 0] = 2.0  # label 0, input 0: |1| / (1 + 1) = 0.5
    estimate[1, 1, 1] = 0.0  # label 1, input 1: |1| / (1 + 1) = 0.5

    errors = label_errors(estimate, reference)

    np.testing.assert_allclose(errors, [0.25, 0.25])
    assert summarize_errors(np.array([0.1, 0.4, 0.2])) == (0.2, 0.4)


def test_a_record_has_every_field_the_results_promise():
    record = Record(
        modality="image", case="c", algorithm="partition", budget=500, n_labels=3, n_inputs=2
    )

    assert REQUIRED_FIELDS <= set(record.to_json())


def test_markdown_table_has_a_row_per_record():
    records = [
        Record(modality="image", case="c", algorithm=name, budget=100, n_labels=3, n_inputs=1)
        for name in ("partition", "shap-partition")
    ]
    machine = {"description": "test", "tensorflow": "x", "shap": "y", "python": "z"}

    table = markdown_table(records, machine)

    assert table.count("| image | c |") == 2
