"""A small tabular job shared by the batch-job and Ray tests: its model, files and command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np

from labelshap.modalities.tabular import write_csv

NAMES = ["count", "age", "visits", "score", "days", "rank"]
LABELS = ["drama", "comedy", "horror"]


def make_mlp(seed: int = 0):
    """A 6-feature, 3-label sigmoid MLP with seeded weights."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((len(NAMES),), name="features")
    hidden = keras.layers.Dense(8, activation="tanh")(inputs)
    return keras.Model(inputs, keras.layers.Dense(len(LABELS), activation="sigmoid")(hidden))


def save_tabular_job(folder: Path, n_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Write ``model.keras``, ``labels.txt``, ``background.csv`` (40 rows) and ``rows.csv``
    (``n_rows``) into ``folder``; return the background."""
    make_mlp(seed=1).save(folder / "model.keras")
    (folder / "labels.txt").write_text("\n".join(LABELS) + "\n")
    background = rng.normal(size=(40, len(NAMES)))
    write_csv(folder / "background.csv", NAMES, background)
    write_csv(folder / "rows.csv", NAMES, rng.normal(size=(n_rows, len(NAMES))))
    return background


def tabular_command(folder: Path, out: Path, *extra: str) -> list[str]:
    """The ``labelshap`` arguments that explain ``folder``'s rows into ``out``, in chunks of 4."""
    return [
        "explain",
        "tabular",
        "--model",
        str(folder / "model.keras"),
        "--labels",
        str(folder / "labels.txt"),
        "--background",
        str(folder / "background.csv"),
        "--algorithm",
        "permutation",
        "--max-evals",
        "400",
        "--chunk-size",
        "4",
        "--batch-size",
        "256",
        "--no-report",
        str(folder / "rows.csv"),
        "--out",
        str(out),
        *extra,
    ]


def shards_done(out: Path) -> int:
    """Shards the manifest in ``out`` lists (0 before it is first written)."""
    try:
        return len(json.loads((out / "manifest.json").read_text())["shards"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def kill_after_shards(command: list[str], out: Path, shards: int) -> list[dict]:
    """Start ``command``, SIGKILL its process group once ``out`` lists ``shards`` shards
    (or after 2 minutes), and return the shards the manifest lists at the kill."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    job = subprocess.Popen(
        command,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while shards_done(out) < shards and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    stderr = job.stderr.read().decode()
    job.stderr.close()
    assert job.returncode == -signal.SIGKILL, stderr
    return json.loads((out / "manifest.json").read_text())["shards"]
