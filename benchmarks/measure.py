"""Measuring helpers shared by the benchmark cases: timing, bare model cost, errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class Record:
    """One line of ``results.json``."""

    modality: str
    case: str
    algorithm: str
    budget: int
    n_labels: int
    n_inputs: int
    seconds: float | None = None
    model_rows: int | None = None
    bare_model_seconds: float | None = None
    overhead_ratio: float | None = None
    speedup_vs_shap: float | None = None
    error_median_label: float | None = None
    error_worst_label: float | None = None
    reference: str | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def timed(function: Callable[[], Any], repeats: int = 1) -> tuple[float, Any]:
    """Median wall time of ``repeats`` calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return float(np.median(times)), result


def bare_model_seconds(model: Any, rows: Any, repeats: int = 3) -> float:
    """Time of the compiled model alone on ``rows`` (same batch size as explaining)."""
    if isinstance(rows, dict):
        warm = {name: value[: model.batch_size] for name, value in rows.items()}
    else:
        warm = rows[: model.batch_size]
    model.predict(warm)  # trace outside the timing
    seconds, _ = timed(lambda: model.predict(rows), repeats)
    return seconds


def label_errors(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Relative error per label: ``sum |v - ref| / sum |ref|`` over features.

    ``values`` and ``reference`` are ``(inputs, features, labels)``; errors of the same
    label are averaged over inputs.
    """
    difference = np.abs(values - reference).sum(axis=1)
    size = np.abs(reference).sum(axis=1)
    per_input = difference / np.maximum(size, 1e-12)
    return per_input.mean(axis=0)


def summarize_errors(errors: np.ndarray) -> tuple[float, float]:
    """Median and worst label error."""
    return float(np.median(errors)), float(np.max(errors))


# Algorithms whose values do not depend on the seed: measured once, not per seed.
DETERMINISTIC = ("exact", "partition", "shap-partition", "shap-exact")


def seeds_for(algorithm: str, seeds: tuple[int, ...]) -> tuple[int, ...]:
    """The seeds an algorithm is run with: all of them, or one for a deterministic one."""
    return seeds[:1] if algorithm in DETERMINISTIC else seeds


def summarize_seeds(per_seed_label_errors: list[np.ndarray]) -> tuple[float, float, dict]:
    """Mean over seeds of the median-label and of the worst-label error, and details.

    Each item is one seed's per-label errors (already averaged over inputs); the details
    hold the number of seeds and the spread of the per-seed medians.
    """
    summaries = np.array([summarize_errors(errors) for errors in per_seed_label_errors])
    details = {"seeds": len(summaries), "median_label_sd": float(summaries[:, 0].std())}
    return float(summaries[:, 0].mean()), float(summaries[:, 1].mean()), details
