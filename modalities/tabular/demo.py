"""The tabular demo: a MovieLens recommender audited per genre, checked by deletion."""

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

from .faithfulness import deletion_check
from .masker import IndependentMasker
from .model import RecommenderConfig, train_recommender
from .movielens import Ratings
from .table import read_csv, write_csv

__all__ = ["run_demo", "SCHEMA_FILE"]

logger = logging.getLogger(__name__)

SCHEMA_FILE = "schema.json"


def run_demo(
    out_dir: str | Path,
    *,
    seed: int = 0,
    algorithm: str = "permutation",
    max_evals: int = 1000,
    summarize: int = 50,
    n_chart_labels: int = 4,
    deletion_k: int = 3,
    config: RecommenderConfig | None = None,
    ratings: Ratings | None = None,
) -> dict[str, Any]:
    """Train (or reload) the recommender, explain every held-out user and audit the labels.

    Writes into ``out_dir``: ``model.keras``, ``labels.txt`` and ``schema.json`` (which
    columns feed which model input), ``background.csv`` (the training users) and
    ``rows.csv`` (the held-out users), so that ``labelshap explain tabular --model
    out_dir/model.keras --labels out_dir/labels.txt --background out_dir/background.csv
    --summarize 50 out_dir/rows.csv --out DIR`` repeats the explanation; then
    ``charts/`` (the label x feature heatmap; per charted label a bar chart, a beeswarm
    and the first held-out user's waterfall), ``audit.csv`` and ``audit.md``,
    ``explanation.npz/.json`` and ``summary.json``.

    The audit's flagged features and top drivers come from the computed values only.
    The deletion check hides each user's ``deletion_k`` top-attributed features per
    label, then as many random ones, exactly as the masker hides them.

    Args:
        out_dir: Output folder (created).
        seed: Seed of the split, the training, the k-means summary and the sampling.
        algorithm: Estimation algorithm (permutation measured best here; see README).
        max_evals: Evaluations per user.
        summarize: k-means centres summarising the training users as background.
        n_chart_labels: Labels charted one by one (the most frequent among held-out
            users); the heatmap always covers every label.
        deletion_k: Features hidden at a time by the deletion check.
        config: The recommender's hyperparameters (defaults when None).
        ratings: The ratings (MovieLens small when None).

    Returns:
        The summary written to ``summary.json``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    # The model, cached once trained, and the files `labelshap explain tabular` reads.
    trained = train_recommender(seed=seed, config=config, ratings=ratings)
    table = trained.table
    files = _write_inputs(out_dir, trained)

    # Explain every held-out user for every genre, over a k-means summary of training users.
    # Both tables are read back from the CSV files as `labelshap explain tabular` reads
    # them (float64 parsed from text), so that the command gives the demo's values.
    column_names, background = read_csv(out_dir / files["background"])
    _, held_out = read_csv(out_dir / files["rows"])
    masker = IndependentMasker(
        background,
        feature_names=column_names,
        inputs={group: list(names) for group, names in trained.feature_names.items()},
        summarize=summarize,
        seed=seed,
    )
    model = LabelModel(trained.model, list(trained.label_names), batch_size=4096)
    explainer = Explainer(
        model, masker, algorithm=algorithm, max_evals=max_evals, seed=seed, progress=True
    )
    started = time.perf_counter()
    explanation = explainer.explain(held_out)
    seconds = time.perf_counter() - started
    explanation.save(out_dir / "explanation")

    # The audit, from the values alone; the charts; the deletion check.
    audit = explanation.save_audit(out_dir, top=3)
    chart_labels = _most_frequent_labels(table.labels[trained.test_indices], n_chart_labels)
    explanation.save_charts(
        out_dir / "charts", labels=[trained.label_names[c] for c in chart_labels], rows=(0,)
    )
    deletion = deletion_check(explanation, masker, model, k=deletion_k, seed=seed)

    metrics = trained.metrics
    summary = {
        "model": {
            "macro_auc": metrics["macro_auc"],
            "activity_baseline_macro_auc": metrics["activity_baseline_macro_auc"],
            "per_label_auc": metrics["auc"],
            "activity_baseline_per_label_auc": metrics["activity_baseline_auc"],
            "n_train": metrics["n_train"],
            "n_test": metrics["n_test"],
            "epochs": metrics["epochs"],
            "train_seconds": metrics["train_seconds"],
        },
        "explanations": {
            "count": len(explanation),
            "labels": len(explanation.label_names),
            "features": len(explanation.names),
            "deletion_ratio": deletion.ratio,
            "deletion_top_mean_change": deletion.top_mean_change,
            "deletion_random_mean_change": deletion.random_mean_change,
            "deletion_k": deletion_k,
            "flagged_features": list(audit.flagged),
            "flag_rule": f"among the top {audit.top} drivers of >= {audit.flag_share:.0%} "
            "of labels",
            "top_driver_per_label": {
                entry.label: entry.drivers[0].feature for entry in audit.labels
            },
            "algorithm": algorithm,
            "max_evals": max_evals,
            "background_rows": len(masker.background),
            "evaluations": explanation.info["evaluations"],
            "model_rows": explanation.info["model_rows"],
            "seconds": seconds,
            "seconds_per_user": seconds / max(len(explanation), 1),
            "waterfall_user_id": int(table.user_ids[trained.test_indices[0]]),
        },
        "files": files,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    logger.info(
        "tabular demo: macro AUC %.3f (activity baseline %.3f); deletion ratio %.2f; "
        "flagged %s; %.2f s per user",
        metrics["macro_auc"],
        metrics["activity_baseline_macro_auc"],
        deletion.ratio,
        list(audit.flagged),
        summary["explanations"]["seconds_per_user"],
    )
    return summary


def _write_inputs(out_dir: Path, trained: Any) -> dict[str, str]:
    """Write the model, its labels, its column schema and the two CSV tables."""
    table = trained.table
    model_path = out_dir / "model.keras"
    cached = trained.cache_path / "model.keras" if trained.cache_path else None
    if cached is not None and cached.is_file():
        shutil.copyfile(cached, model_path)
    else:
        trained.model.save(model_path)
    labels_path = out_dir / "labels.txt"
    labels_path.write_text("\n".join(trained.label_names) + "\n", encoding="utf-8")
    schema = {"inputs": {group: list(names) for group, names in trained.feature_names.items()}}
    (out_dir / SCHEMA_FILE).write_text(json.dumps(schema, indent=1), encoding="utf-8")

    names = list(table.flat_feature_names)
    write_csv(out_dir / "background.csv", names, table.flat_features(trained.train_indices))
    write_csv(out_dir / "rows.csv", names, table.flat_features(trained.test_indices))
    return {
        "model": model_path.name,
        "labels": labels_path.name,
        "schema": SCHEMA_FILE,
        "background": "background.csv",
        "rows": "rows.csv",
    }


def _most_frequent_labels(labels: np.ndarray, count: int) -> list[int]:
    """Columns of the ``count`` labels with the most positive rows, most first."""
    return np.argsort(-labels.sum(axis=0), kind="stable")[:count].tolist()
