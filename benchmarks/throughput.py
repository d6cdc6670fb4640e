"""Throughput suite: bare model rows/s, explaining rows/s, and what bf16, XLA and shap change.

For every model: the bare model's peak rows/s over a batch-size sweep (the compiled
``LabelModel.predict`` on full batches), explanations/s and model rows/s while labelshap
explains at a fixed budget, their ratio to the bare peak, peak device memory, bare rows/s
under ``mixed_bfloat16`` and under XLA (``tf.function(jit_compile=True)``), and shap's
Partition explainer at the same budget, run through labelshap's engine
(``algorithm="shap-partition"``: same masker, same compiled model, so the comparison is of
the estimation code). Every explanations/s sits beside its limit, bare peak rows/s ÷
model rows per explanation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .measure import Record, timed
from .throughput_cases import Case, Settings, build_cases, settings

logger = logging.getLogger(__name__)

SHAP_ALGORITHM = "shap-partition"
CPU_MEMORY_NOTE = (
    "not measured on CPU: TensorFlow reports peak memory (get_memory_info) only for GPUs"
)


def run(size: str, device: str, modalities: list[str]) -> tuple[list[Record], dict[str, Any]]:
    """Measure every case; return the records and the settings to describe the run."""
    chosen = settings(size, device)
    records = []
    for case in build_cases(chosen, modalities):
        logger.info("throughput %s (%s): %s", case.name, case.modality, case.sizes)
        records += measure_case(case, chosen, device)
    described = {
        "size": size,
        "batch_sizes": {name: list(sizes) for name, sizes in chosen.batch_sizes.items()},
        "budget": chosen.budget,
        "shap_comparison": f"{SHAP_ALGORITHM} through labelshap's engine",
    }
    return records, described


def measure_case(case: Case, chosen: Settings, device: str) -> list[Record]:
    """Both records of one model: labelshap's algorithm and shap's Partition."""
    from labelshap import LabelModel

    _reset_memory(device)

    # Bare model: rows/s per batch size, then the best batch size.
    sweep = {}
    for batch_size in chosen.batch_sizes[case.modality]:
        model = LabelModel(case.model, case.label_names, batch_size=batch_size)
        sweep[batch_size] = _rows_per_second(
            model.predict, case.rows(batch_size), batch_size, chosen.seconds_per_point
        )
        logger.info("  bare, batch %d: %.1f rows/s", batch_size, sweep[batch_size])
    best_batch = max(sweep, key=sweep.get)
    peak = sweep[best_batch]

    xla, xla_note = _xla_rows_per_second(case, best_batch, chosen.seconds_per_point)
    bf16, bf16_note = _bf16_rows_per_second(case, best_batch, chosen.seconds_per_point)

    # Explaining, at the bare peak's batch size.
    model = LabelModel(case.model, case.label_names, batch_size=best_batch)
    explained = {
        algorithm: _explain(
            model, case, algorithm, chosen.budget[case.modality], chosen.explain_repeats
        )
        for algorithm in (case.algorithm, SHAP_ALGORITHM)
    }
    memory = _peak_memory(device)

    common = {
        "model_sizes": case.sizes,
        "parameters": int(case.model.count_params()),
        "batch_sweep_rows_per_second": {str(b): rate for b, rate in sweep.items()},
        "bare_peak_rows_per_second": peak,
        "bare_peak_batch_size": best_batch,
        "xla_rows_per_second": xla,
        "xla_speedup": None if xla is None else xla / peak,
        "xla_note": xla_note,
        "bf16_rows_per_second": bf16,
        "bf16_speedup": None if bf16 is None else bf16 / peak,
        "bf16_note": bf16_note,
        "peak_memory_bytes": memory,
        "peak_memory_note": CPU_MEMORY_NOTE if device == "cpu" else "",
    }
    records = []
    for algorithm, (seconds, rows) in explained.items():
        per_explanation = rows / case.n_inputs
        records.append(
            Record(
                modality=case.modality,
                case=case.name,
                algorithm=algorithm,
                budget=chosen.budget[case.modality],
                n_labels=len(case.label_names),
                n_inputs=case.n_inputs,
                seconds=seconds,
                model_rows=rows,
                bare_model_seconds=rows / peak,
                overhead_ratio=seconds / (rows / peak),
                notes=case.notes,
                extra=common
                | {
                    "explanations_per_second": case.n_inputs / seconds,
                    "explanations_per_second_limit": peak / per_explanation,
                    "model_rows_per_explanation": per_explanation,
                    "model_rows_per_second": rows / seconds,
                    "throughput_ratio": rows / seconds / peak,
                },
            )
        )
    shap_seconds = records[1].seconds
    records[0].speedup_vs_shap = (
        records[0].extra["explanations_per_second"] / records[1].extra["explanations_per_second"]
    )
    logger.info(
        "  %s: peak %.1f rows/s (batch %d); %s %.3g expl/s (limit %.3g), ratio %.2f; shap %.2f s",
        case.name,
        peak,
        best_batch,
        case.algorithm,
        records[0].extra["explanations_per_second"],
        records[0].extra["explanations_per_second_limit"],
        records[0].extra["throughput_ratio"],
        shap_seconds,
    )
    return records


def _rows_per_second(
    predict: Callable[[Any], Any], batch: Any, batch_size: int, seconds: float
) -> float:
    """Peak rows/s of ``predict`` on one fixed-size batch, called for about ``seconds``."""
    predict(batch)  # trace outside the timing
    one, _ = timed(lambda: predict(batch))
    calls = int(np.clip(np.ceil(seconds / max(one, 1e-6)), 1, 200))

    # The best of three runs: a peak, so that it bounds what explaining can reach even when
    # something else shares the machine for a moment.
    best = np.inf
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(calls):
            predict(batch)
        best = min(best, time.perf_counter() - started)
    return batch_size * calls / best


def _xla_rows_per_second(case: Case, batch_size: int, seconds: float) -> tuple[float | None, str]:
    """Bare rows/s with the model compiled by XLA, or None and why."""
    import tensorflow as tf

    keras_model = case.model
    function = tf.function(lambda batch: keras_model(batch, training=False), jit_compile=True)
    try:
        rate = _rows_per_second(
            lambda batch: np.asarray(function(batch)), case.rows(batch_size), batch_size, seconds
        )
    except (tf.errors.OpError, ValueError, TypeError) as err:
        logger.warning("  XLA failed on %s: %s", case.name, err)
        return None, f"XLA compilation failed: {type(err).__name__}"
    logger.info("  XLA, batch %d: %.1f rows/s", batch_size, rate)
    return rate, "tf.function(jit_compile=True) around the Keras model"


def _bf16_rows_per_second(case: Case, batch_size: int, seconds: float) -> tuple[float | None, str]:
    """Bare rows/s of the model rebuilt under ``mixed_bfloat16``, or None and why."""
    import keras

    from labelshap import LabelModel

    if case.rebuild is None:
        return None, "not measured: a trained demo model is loaded, not rebuilt under a policy"
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = LabelModel(case.rebuild(), case.label_names, batch_size=batch_size)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    rate = _rows_per_second(model.predict, case.rows(batch_size), batch_size, seconds)
    logger.info("  bf16, batch %d: %.1f rows/s", batch_size, rate)
    return rate, "model rebuilt under keras.mixed_precision 'mixed_bfloat16'"


def _explain(
    model: Any, case: Case, algorithm: str, budget: int, repeats: int
) -> tuple[float, int]:
    """Median seconds to explain every input, and the model rows it took."""
    from labelshap import Explainer

    explainer = Explainer(model, case.masker, algorithm=algorithm, max_evals=budget, seed=0)

    # Warm up on the same inputs: traces the model for every packed batch shape they need
    # (and compiles shap's numba code), outside the timing.
    explainer.explain(case.inputs)
    seconds, result = timed(lambda: explainer.explain(case.inputs), repeats)
    return seconds, int(result.info["model_rows"])


def _reset_memory(device: str) -> None:
    if device == "gpu":
        import tensorflow as tf

        tf.config.experimental.reset_memory_stats("GPU:0")


def _peak_memory(device: str) -> int | None:
    if device != "gpu":
        return None
    import tensorflow as tf

    return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])


def write_plot(records: list[Record], path: Path) -> None:
    """Bare rows/s against batch size, one line per model (a Figure, no pyplot)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.add_subplot()
    seen = set()
    for record in records:
        if record.case in seen:
            continue
        seen.add(record.case)
        sweep = record.extra["batch_sweep_rows_per_second"]
        sizes = [int(size) for size in sweep]
        axes.plot(sizes, list(sweep.values()), marker="o", label=record.case)
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("batch size (rows)")
    axes.set_ylabel("bare model rows/s")
    axes.set_title("Bare model throughput against batch size")
    axes.legend(fontsize="small")
    figure.savefig(path, dpi=110)


def summary_table(records: list[Record], machine: dict[str, Any]) -> str:
    """One Markdown row per record: the rates, each beside its limit."""
    columns = (
        ("case", lambda r: r.case),
        ("algorithm", lambda r: r.algorithm),
        ("bare peak rows/s (batch)", lambda r: _peak(r)),
        ("expl/s", lambda r: r.extra["explanations_per_second"]),
        ("expl/s limit", lambda r: r.extra["explanations_per_second_limit"]),
        ("rows/s explaining", lambda r: r.extra["model_rows_per_second"]),
        ("ratio to bare", lambda r: r.extra["throughput_ratio"]),
        ("XLA ×", lambda r: r.extra["xla_speedup"]),
        ("bf16 ×", lambda r: r.extra["bf16_speedup"]),
        ("vs shap ×", lambda r: r.speedup_vs_shap),
        ("peak memory MiB", lambda r: _mebibytes(r.extra["peak_memory_bytes"])),
    )
    lines = [
        f"Machine: {machine['description']}; TensorFlow {machine['tensorflow']}, "
        f"shap {machine['shap']}, Python {machine['python']}; {machine['date']}.",
        f"Batch sizes: {machine['batch_sizes']}; budget (evaluations per input) "
        f"{machine['budget']}; vs shap: {machine['shap_comparison']}.",
        "",
        "| " + " | ".join(name for name, _ in columns) + " |",
        "|" + " --- |" * len(columns),
    ]
    for record in records:
        cells = [_cell(value(record)) for _, value in columns]
        lines.append("| " + " | ".join(cells) + " |")
    if machine["device"] == "cpu":
        lines += ["", f"Peak memory: {CPU_MEMORY_NOTE}."]
    return "\n".join(lines) + "\n"


def _peak(record: Record) -> str:
    return (
        f"{record.extra['bare_peak_rows_per_second']:.4g} ({record.extra['bare_peak_batch_size']})"
    )


def _mebibytes(size: int | None) -> float | None:
    return None if size is None else size / 2**20


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
