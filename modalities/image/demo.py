"""The image demo: a digit-canvas CNN, explained per label, scored by the pointing game."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from labelshap.explainer import Explainer
from labelshap.model import LabelModel

from .digits import make_digit_canvases, train_digit_model
from .io import load_image
from .masker import ImageMasker
from .metrics import pointing_hit, pointing_random_baseline

__all__ = ["run_demo", "pointing_game", "save_canvases"]

logger = logging.getLogger(__name__)

_TEST_SEED_OFFSET = 1000


def run_demo(
    out_dir: str | Path,
    *,
    seed: int = 0,
    n_explain: int = 100,
    algorithm: str = "owen-sampling",
    max_evals: int = 500,
    n_overlays: int = 24,
) -> dict[str, Any]:
    """Train (or reload) the digit CNN, explain held-out canvases and write the results.

    Writes into ``out_dir``: ``model.keras`` and ``labels.txt`` (the trained model, for
    ``labelshap explain image``), ``overlays/*.png``, ``explanation.npz/.json`` and
    ``summary.json``.

    Args:
        out_dir: Output folder (created).
        seed: Seed of the data, the training and the sampling.
        n_explain: Held-out canvases to explain.
        algorithm: Estimation algorithm.
        max_evals: Evaluations per canvas.
        n_overlays: Overlay pictures to write (the first canvases).

    Returns:
        The summary written to ``summary.json``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    # The model: trained once, cached, copied next to the results for the command line.
    trained = train_digit_model(seed=seed)
    model_path = out_dir / "model.keras"
    if trained.path is not None:
        shutil.copyfile(trained.path, model_path)
    else:
        trained.model.save(model_path)
    labels_path = out_dir / "labels.txt"
    labels_path.write_text("\n".join(trained.label_names) + "\n", encoding="utf-8")

    # Explain held-out canvases: digit images the model never saw in training.
    canvases = make_digit_canvases(n_explain, split="test", seed=seed + _TEST_SEED_OFFSET)
    # Saved as 8-bit PNG files and read back as `labelshap explain image` reads them, so
    # that the command gives the demo's values for the demo's canvases.
    images = np.stack(
        [
            load_image(path, size=canvases.images.shape[1:3], channels=canvases.images.shape[3])
            for path in save_canvases(canvases.images, out_dir / "canvases")
        ]
    )
    model = LabelModel(trained.model, list(trained.label_names))
    explainer = Explainer(
        model,
        ImageMasker(n_segments=80),
        algorithm=algorithm,
        max_evals=max_evals,
        seed=seed,
        progress=True,
    )
    started = time.perf_counter()
    explanation = explainer.explain(images)
    seconds = time.perf_counter() - started
    # Every label is explained (the pointing game reads them all); the ones marked selected
    # are those drawn, here and by `labelshap report`.
    explanation.selected = _selection(explanation)
    explanation.save(out_dir / "explanation")

    game = pointing_game(explanation, canvases)
    shown = min(n_overlays, len(canvases))
    explanation[:shown].save_overlays(
        out_dir / "overlays", names=[f"canvas_{i:03d}" for i in range(shown)]
    )

    summary = {
        "model": {
            "mean_average_precision": trained.metrics["mean_average_precision"],
            "average_precision": trained.metrics["average_precision"],
            "n_train": trained.metrics["n_train"],
            "n_test": trained.metrics["n_test"],
            "train_seconds": trained.metrics["train_seconds"],
        },
        "explanations": {
            "count": len(explanation),
            "labels_scored": game["labels"],
            "pointing_game": game["accuracy"],
            "pointing_game_random": game["random"],
            "algorithm": algorithm,
            "max_evals": max_evals,
            "model_rows": explanation.info["model_rows"],
            "seconds": seconds,
            "seconds_per_image": seconds / max(len(explanation), 1),
            "masker": {"segmentation": "slic", "n_segments": 80, "fill": "blur"},
        },
        "files": {"model": model_path.name, "labels": labels_path.name, "canvases": "canvases"},
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    logger.info(
        "image demo: mAP %.3f, pointing game %.3f (random %.3f) over %d labels, %.1f s",
        summary["model"]["mean_average_precision"],
        game["accuracy"],
        game["random"],
        game["labels"],
        seconds,
    )
    return summary


def save_canvases(images: np.ndarray, folder: Path) -> list[Path]:
    """Write the explained canvases as 8-bit PNG files, ``canvas_NNN.png``, for
    ``labelshap explain image`` (which reads them back scaled by 1/255).

    Args:
        images: ``(n, H, W, C)`` float canvases in [0, 1], C 1 or 3.
        folder: Where to write them (created).

    Returns:
        The paths written, in canvas order.
    """
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, image in enumerate(images):
        pixels = np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
        path = folder / f"canvas_{index:03d}.png"
        Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(path)
        paths.append(path)
    return paths


def pointing_game(explanation: Any, canvases: Any) -> dict[str, float]:
    """Pointing game over every present digit of every explained canvas.

    Returns:
        ``accuracy`` (share of hits), ``random`` (expected share for a superpixel picked
        uniformly at random) and ``labels`` (number of present digits scored).
    """
    hits, random = [], []
    segment_maps = explanation.extras["segments"]
    for index in range(len(explanation)):
        n_features = int(explanation.n_features[index])
        for digit, box in canvases.boxes_for(index).items():
            values = explanation.label_values(canvases.label_names[digit])[index, :n_features]
            hits.append(pointing_hit(values, segment_maps[index], box))
            random.append(pointing_random_baseline(segment_maps[index], box))
    return {
        "accuracy": float(np.mean(hits)) if hits else float("nan"),
        "random": float(np.mean(random)) if random else float("nan"),
        "labels": len(hits),
    }


def _selection(explanation: Any) -> np.ndarray:
    """Per canvas, the labels the model scores at 0.5 or more, at least its best one."""
    scores = explanation.scores
    chosen = scores >= 0.5
    chosen[np.arange(len(scores)), np.argmax(scores, axis=1)] = True
    return chosen
