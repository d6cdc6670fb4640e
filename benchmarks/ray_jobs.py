"""Ray suite: a batch job's items/s and model rows/s, local and on Ray with 1 and 2 workers.

Each case is one job over the same inputs, run three ways in one process: ``run_job`` in
this process, then ``run_ray_job`` with 1 and with 2 actors of 1 CPU each, on a local Ray
instance started once for the suite (as a user with a running cluster has it; its start
is timed apart). Models have random weights and are saved to a temporary ``.keras`` file
that every actor loads, as a real job's actors would. Rates are given over the whole job
(actor start-up and model loading included) and over its steady part, once the first
quarter of the chunks is back; every Ray store is checked against the local one bit for bit.
"""

from __future__ import annotations

import functools
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import models
from .measure import Record

logger = logging.getLogger(__name__)

SIZES = ("smoke", "quick", "full")
WORKERS = (1, 2)
N_LABELS = models.N_LABELS
TABULAR_MODEL = models.MlpConfig(64, (512, 256))
N_BACKGROUND = 32


@dataclass(frozen=True)
class JobCase:
    """One job: a model file, how its explainer is built, its inputs."""

    name: str
    modality: str
    algorithm: str
    budget: int
    chunk_size: int
    n_items: int
    sizes: dict[str, Any]


def cases(size: str) -> list[JobCase]:
    """The suite's jobs at one size."""
    if size not in SIZES:
        raise ValueError(f"size={size!r} is not supported; accepted: {SIZES}")
    n_items = {"smoke": (48, 24), "quick": (384, 192), "full": (1536, 768)}[size]
    return [
        JobCase(
            "cnn-64px-grid8",
            "image",
            "owen-sampling",
            256,
            16,
            n_items[0],
            models.describe(models.ImageConfig("tiny", 64)) | {"cell": 8, "features": 64},
        ),
        JobCase(
            "mlp-64-features",
            "tabular",
            "permutation",
            256,
            8,
            n_items[1],
            models.describe(TABULAR_MODEL) | {"background_rows": N_BACKGROUND},
        ),
    ]


def run(size: str) -> tuple[list[Record], dict[str, Any]]:
    """Measure every case local and on Ray; return the records and the run's settings."""
    import ray

    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - started
    records = []
    try:
        with tempfile.TemporaryDirectory(prefix="labelshap-ray-bench-") as folder:
            for case in cases(size):
                records += measure_case(case, Path(folder))
    finally:
        ray.shutdown()
    described = {
        "size": size,
        "ray": ray.__version__,
        "ray_start_seconds": round(ray_start, 2),
        "ray_instance": "local, 2 CPUs; 1 CPU per worker",
    }
    return records, described


def measure_case(case: JobCase, folder: Path) -> list[Record]:
    """The case's job local, then on Ray with each number of workers."""
    from labelshap.distributed import run_ray_job
    from labelshap.jobs import load_store, positions_from, run_job

    factory, inputs = _prepare(case, folder)
    items = list(positions_from((f"{case.modality}-{i}", value) for i, value in enumerate(inputs)))
    options = {"chunk_size": case.chunk_size, "progress": False}

    logger.info("ray suite %s: local job of %d items", case.name, case.n_items)
    local_out = folder / f"{case.name}-local"
    local = _timed_job(
        lambda on_chunk: run_job(factory(), items, local_out, on_chunk=on_chunk, **options)
    )
    if local["summary"].failures:
        raise ValueError(f"case {case.name!r} failed: {local['summary'].failures[0]}")
    reference = load_store(local_out)
    records = [_record(case, "local", 0, local, True)]

    for workers in WORKERS:
        logger.info("ray suite %s: Ray job, %d workers", case.name, workers)
        out = folder / f"{case.name}-ray-{workers}"
        measured = _timed_job(
            lambda on_chunk, w=workers, o=out: run_ray_job(
                factory, items, o, workers=w, on_chunk=on_chunk, **options
            )
        )
        stored = load_store(out)
        same = stored.info["ids"] == reference.info["ids"] and all(
            np.array_equal(getattr(stored, name), getattr(reference, name))
            for name in ("values", "base_values", "scores")
        )
        records.append(_record(case, "ray", workers, measured, same))
    return records


def summary_table(records: list[Record], machine: dict[str, Any]) -> str:
    """The records as a Markdown table, with the machine and the Ray instance above it."""
    lines = [
        f"Machine: {machine['description']}; TensorFlow {machine['tensorflow']}, Ray "
        f"{machine['ray']}, Python {machine['python']}; {machine['date']}.",
        f"Ray instance: {machine['ray_instance']}; started once in "
        f"{machine['ray_start_seconds']} s (not in the job times).",
        "",
        "| case | engine | workers | items | job s | first result s | items/s | model rows/s "
        "| steady items/s | steady model rows/s | × local (steady) | same values as local |",
        "|" + " --- |" * 12,
    ]
    local_rates = {
        record.case: record.extra["steady_items_per_second"]
        for record in records
        if record.extra["engine"] == "local"
    }
    for record in records:
        extra = record.extra
        ratio = extra["steady_items_per_second"] / local_rates[record.case]
        cells = [
            record.case,
            extra["engine"],
            str(extra["workers"] or "–"),
            str(record.n_inputs),
            f"{record.seconds:.1f}",
            f"{extra['first_result_seconds']:.1f}",
            f"{extra['items_per_second']:.2f}",
            f"{extra['model_rows_per_second']:.0f}",
            f"{extra['steady_items_per_second']:.2f}",
            f"{extra['steady_model_rows_per_second']:.0f}",
            f"{ratio:.2f}",
            "yes" if extra["same_values_as_local"] else "NO",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Whole job: from the call to the last result, actor start-up and model loading "
        "included. Steady: from the result that completes the first quarter of the chunks to "
        "the last (past start-up and warm-up).",
    ]
    return "\n".join(lines) + "\n"


def _timed_job(job: Any) -> dict[str, Any]:
    """Run ``job(on_chunk)``; the times at which each chunk's result came back."""
    arrivals: list[tuple[float, int, int]] = []

    def on_chunk(result: Any) -> None:
        rows = int(result.explanation.info["model_rows"]) if result.explanation else 0
        arrivals.append((time.perf_counter(), len(result.ids), rows))

    started = time.perf_counter()
    summary = job(on_chunk)
    ended = time.perf_counter()
    return {"started": started, "ended": ended, "arrivals": arrivals, "summary": summary}


def _record(case: JobCase, engine: str, workers: int, timed: dict[str, Any], same: bool) -> Record:
    arrivals = timed["arrivals"]
    seconds = timed["ended"] - timed["started"]
    items = sum(count for _, count, _ in arrivals)
    rows = sum(count for _, _, count in arrivals)
    # Steady: after the first quarter of the chunks (start-up, tracing, warm-up) is back.
    warm = max(1, len(arrivals) // 4)
    if len(arrivals) <= warm:
        raise ValueError(f"case {case.name!r} needs more than one chunk to time its steady part")
    warm_at = arrivals[warm - 1][0]
    steady = arrivals[-1][0] - warm_at
    steady_items = sum(count for _, count, _ in arrivals[warm:])
    steady_rows = sum(count for _, _, count in arrivals[warm:])
    return Record(
        modality=case.modality,
        case=case.name,
        algorithm=case.algorithm,
        budget=case.budget,
        n_labels=N_LABELS,
        n_inputs=items,
        seconds=seconds,
        model_rows=rows,
        notes=f"{engine}" + (f", {workers} workers" if workers else ""),
        extra={
            "engine": engine,
            "workers": workers,
            "chunk_size": case.chunk_size,
            "sizes": case.sizes,
            "first_result_seconds": arrivals[0][0] - timed["started"],
            "items_per_second": items / seconds,
            "model_rows_per_second": rows / seconds,
            "steady_items_per_second": steady_items / steady,
            "steady_model_rows_per_second": steady_rows / steady,
            "same_values_as_local": same,
        },
    )


def _prepare(case: JobCase, folder: Path) -> tuple[Any, list[Any]]:
    """Save the case's model; its explainer factory (picklable) and its inputs."""
    rng = np.random.default_rng(0)
    path = folder / f"{case.name}.keras"
    if case.modality == "image":
        models.build_image_model(models.ImageConfig("tiny", 64)).save(path)
        coarse = rng.uniform(0.0, 1.0, size=(case.n_items, 8, 8, 3)).astype(np.float32)
        inputs = list(np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2))
        masker = ("image", {"segmentation": "grid", "cell": 8})
    else:
        models.build_mlp_model(TABULAR_MODEL).save(path)
        shape = (N_BACKGROUND + case.n_items, TABULAR_MODEL.n_features)
        table = rng.normal(size=shape).astype(np.float32)
        inputs = list(table[N_BACKGROUND:])
        masker = ("tabular", {"background": table[:N_BACKGROUND]})
    factory = functools.partial(build_explainer, str(path), masker, case.algorithm, case.budget)
    return factory, inputs


def build_explainer(path: str, masker: tuple[str, dict[str, Any]], algorithm: str, budget: int):
    """The case's explainer: what the driver and every actor build once."""
    from labelshap import Explainer, LabelModel

    kind, options = masker
    if kind == "image":
        from labelshap.modalities.image import ImageMasker

        built = ImageMasker(options["segmentation"], cell=options["cell"])
        batch_size = 64
    else:
        from labelshap.modalities.tabular import IndependentMasker

        background = options["background"]
        names = [f"f{index}" for index in range(background.shape[1])]
        built = IndependentMasker(background, feature_names=names)
        batch_size = 2048
    labels = [f"label_{index}" for index in range(N_LABELS)]
    model = LabelModel(path, labels, batch_size=batch_size)
    return Explainer(model, built, algorithm=algorithm, max_evals=budget, seed=0)
