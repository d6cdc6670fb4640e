"""``python -m benchmarks.memory``: peak memory and time to explain one large image.

One synthetic image (smooth shapes and noise, seeded) per size is explained at the
default settings (``ImageMasker()``: SLIC, blur fill; ``Explainer``: ``"auto"``,
``max_evals=500``) by a small fully convolutional multi-label model (untrained, seeded;
its layers take any image size). Each size runs in a fresh subprocess, so the peak
resident memory it reports (``ru_maxrss``) is that explanation's alone: model, image,
superpixels, fill, masked batches and result together.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("benchmarks.memory")

SIZES = (1024, 2048, 4096)
N_LABELS = 5
DEFAULT_MAX_EVALS = 500


def conv_model(size: int, n_labels: int = N_LABELS, seed: int = 0) -> Any:
    """A fully convolutional multi-label model for ``size x size`` RGB images.

    Strided convolutions and global average pooling: the weights do not depend on the
    image size, only the declared input shape does (the image masker needs a fixed one).
    """
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3), name="image")
    features = keras.layers.Conv2D(8, 8, strides=8, activation="relu")(inputs)
    features = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(features)
    features = keras.layers.Conv2D(32, 3, strides=2, activation="relu")(features)
    features = keras.layers.GlobalAveragePooling2D()(features)
    outputs = keras.layers.Dense(n_labels, activation="sigmoid")(features)
    return keras.Model(inputs, outputs)


def synthetic_image(size: int, seed: int = 0) -> np.ndarray:
    """``(size, size, 3)`` float32 in [0, 1]: soft-edged discs of random colours on a
    gradient, plus pixel noise."""
    rng = np.random.default_rng(seed)
    axis = np.linspace(0.0, 1.0, size, dtype=np.float32)
    image = np.empty((size, size, 3), dtype=np.float32)
    image[:] = (0.3 + 0.4 * axis[:, None, None]) * rng.uniform(0.5, 1.0, 3).astype(np.float32)
    for _ in range(8):
        centre_y, centre_x, radius = rng.uniform(0.1, 0.9, 3) * (1.0, 1.0, 0.3)
        colour = rng.uniform(0.0, 1.0, 3).astype(np.float32)
        # Only the disc's bounding box changes.
        rows = slice(*np.searchsorted(axis, [centre_y - radius, centre_y + radius]))
        cols = slice(*np.searchsorted(axis, [centre_x - radius, centre_x + radius]))
        distance = np.sqrt((axis[rows, None] - centre_y) ** 2 + (axis[None, cols] - centre_x) ** 2)
        weight = np.clip((radius - distance) * 40.0, 0.0, 1.0)[..., None]
        image[rows, cols] += weight * (colour - image[rows, cols])
    for channel in range(3):
        image[..., channel] += rng.normal(0.0, 0.04, (size, size)).astype(np.float32)
    return np.clip(image, 0.0, 1.0, out=image)


def explain_once(size: int, max_evals: int = DEFAULT_MAX_EVALS) -> dict[str, Any]:
    """Explain one image of ``size`` pixels a side in this process; return the figures.

    Run it in a fresh process (:func:`measure`): its peak memory is the process's.
    """
    from labelshap import Explainer, LabelModel
    from labelshap.modalities.image import ImageMasker

    started = time.perf_counter()
    model = LabelModel(conv_model(size))
    image = synthetic_image(size)
    ready = time.perf_counter()
    result = Explainer(model, ImageMasker(), max_evals=max_evals).explain(image[None])
    finished = time.perf_counter()
    return {
        "size": size,
        "max_evals": max_evals,
        "explain_seconds": finished - ready,
        "total_seconds": finished - started,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "n_features": int(result.values.shape[1]),
        "algorithm": result.info["algorithms_run"],
        "evaluations": result.info["evaluations"],
        "model_rows": result.info["model_rows"],
        "rows_per_call": model._rows_per_call(size * size * 3 * 4),
        "batch_size": model.batch_size,
    }


def measure(size: int, max_evals: int = DEFAULT_MAX_EVALS, timeout: float = 1800) -> dict:
    """Run :func:`explain_once` in a fresh subprocess and return its figures.

    Raises:
        RuntimeError: If the subprocess fails; the message holds the end of its output.
    """
    command = [sys.executable, "-m", "benchmarks.memory", "--child", str(size)]
    command += ["--max-evals", str(max_evals)]
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=root, env=environment
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"explaining a {size}x{size} image failed (exit {done.returncode}): "
            f"{done.stderr[-2000:]}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--max-evals", type=int, default=DEFAULT_MAX_EVALS)
    parser.add_argument("--out", type=Path, help="output folder (results.json, results.md)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        sys.stdout.write(json.dumps(explain_once(args.child, args.max_evals)) + "\n")
        return 0
    if args.out is None:
        parser.error("--out is required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    records = []
    for size in args.sizes:
        logger.info("explaining one %dx%d image at max_evals=%d", size, size, args.max_evals)
        records.append(measure(size, args.max_evals))
        logger.info("%s", records[-1])
    machine = {
        "description": f"{os.cpu_count()} CPU cores, {platform.machine()}",
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"suite": "memory", "machine": machine, "records": records}
    (args.out / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    table = markdown_table(records, machine)
    (args.out / "results.md").write_text(table, encoding="utf-8")
    sys.stdout.write(table)
    return 0


def markdown_table(records: list[dict], machine: dict) -> str:
    """The records as a Markdown table, with the machine above it."""
    lines = [
        f"Machine: {machine['description']}, Python {machine['python']}, {machine['date']}.",
        "",
        "| image | max_evals | superpixels | algorithm | model rows | rows per call | "
        "explain s | total s | peak RSS GiB |",
        "|" + " --- |" * 9,
    ]
    for record in records:
        lines.append(
            f"| {record['size']}x{record['size']} | {record['max_evals']} | "
            f"{record['n_features']} | {', '.join(record['algorithm'])} | "
            f"{record['model_rows']} | {record['rows_per_call']} | "
            f"{record['explain_seconds']:.1f} | {record['total_seconds']:.1f} | "
            f"{record['peak_rss_bytes'] / 2**30:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
