"""``python -m benchmarks``: measure labelshap side by side with shap in one run.

``--suite accuracy`` (the default) measures accuracy and overhead on the demo models;
``--suite throughput`` measures rows/s and explanations/s at realistic model sizes;
``--suite ray`` measures a batch job's rows/s locally and on Ray with 1 and 2 workers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

from . import image_cases, ray_jobs, tabular_cases, text_cases, throughput
from .measure import Record

MODALITIES = {
    "image": image_cases.run,
    "text": text_cases.run,
    "tabular": tabular_cases.run,
}
SUITES = ("accuracy", "throughput", "ray")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (default)")
    size.add_argument("--full", action="store_true", help="more inputs per case")
    size.add_argument(
        "--smoke", action="store_true", help="tiny models (throughput suite, CI smoke test)"
    )
    parser.add_argument("--suite", choices=SUITES, default="accuracy")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--modality", action="append", choices=sorted(MODALITIES))
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    if args.smoke and args.suite == "accuracy":
        parser.error("--smoke is only for --suite throughput or ray")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    machine = _machine(args.device)
    started = time.perf_counter()
    modalities = args.modality or sorted(MODALITIES)
    records: list[Record] = []
    if args.suite == "throughput":
        size = "smoke" if args.smoke else "full" if args.full else "quick"
        records, described = throughput.run(size, args.device, modalities)
        machine |= described
    elif args.suite == "ray":
        size = "smoke" if args.smoke else "full" if args.full else "quick"
        records, described = ray_jobs.run(size)
        machine |= described
    else:
        for name in modalities:
            logging.getLogger("benchmarks").info("running %s cases", name)
            records += MODALITIES[name](quick=not args.full)

    args.out.mkdir(parents=True, exist_ok=True)
    results = {
        "suite": args.suite,
        "machine": machine,
        "quick": not args.full,
        "seconds": time.perf_counter() - started,
        "records": [record.to_json() for record in records],
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    if args.suite == "throughput":
        throughput.write_plot(records, args.out / "throughput.png")
        table = throughput.summary_table(records, machine)
    elif args.suite == "ray":
        table = ray_jobs.summary_table(records, machine)
    else:
        table = markdown_table(records, machine)
    (args.out / "results.md").write_text(table, encoding="utf-8")
    sys.stdout.write(table)
    logging.getLogger("benchmarks").info(
        "%s suite: %d records in %.0f s, written to %s",
        args.suite,
        len(records),
        results["seconds"],
        args.out,
    )
    return 0


def markdown_table(records: list[Record], machine: dict) -> str:
    """The records as a Markdown table, with the machine described above it."""
    columns = [
        "modality",
        "case",
        "algorithm",
        "budget",
        "n_labels",
        "n_inputs",
        "seconds",
        "bare_model_seconds",
        "overhead_ratio",
        "speedup_vs_shap",
        "reference",
        "error_median_label",
        "error_worst_label",
    ]
    lines = [
        f"Machine: {machine['description']}; TensorFlow {machine['tensorflow']}, "
        f"shap {machine['shap']}, Python {machine['python']}.",
        "",
        "| " + " | ".join(columns) + " | extra |",
        "|" + " --- |" * (len(columns) + 1),
    ]
    for record in records:
        data = record.to_json()
        cells = [_cell(data[column]) for column in columns]
        extra = ", ".join(f"{k}={_cell(v)}" for k, v in record.extra.items())
        lines.append("| " + " | ".join(cells) + f" | {extra} |")
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _machine(device: str) -> dict:
    import shap
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        raise SystemExit("--device gpu was asked for, but TensorFlow finds no GPU here")
    if device == "cpu" and gpus:
        tf.config.set_visible_devices([], "GPU")
    description = f"{os.cpu_count()} CPU cores, {platform.machine()}"
    if device == "gpu":
        details = tf.config.experimental.get_device_details(gpus[0])
        description = f"GPU {details.get('device_name', gpus[0].name)}; " + description
    return {
        "device": device,
        "description": description,
        "tensorflow": tf.__version__,
        "shap": shap.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


if __name__ == "__main__":
    sys.exit(main())
