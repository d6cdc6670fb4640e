"""Tabular benchmarks: the demo recommender (speed) and a 16-feature MLP (accuracy)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .measure import (
    Record,
    bare_model_seconds,
    label_errors,
    seeds_for,
    summarize_seeds,
    timed,
)

logger = logging.getLogger(__name__)

SPEED_ALGORITHMS = ("permutation", "kernel", "shap-permutation")
SHAPLEY_ALGORITHMS = (
    "permutation",
    "kernel",
    "kernel-cubic",
    "kernel-stack",
    "kernel-rows",
    "shap-permutation",
)
OWEN_ALGORITHMS = ("partition", "owen-sampling", "shap-partition")
N_SMALL_FEATURES = 16
N_SMALL_LABELS = 10
N_BACKGROUND = 100


def run(quick: bool) -> list[Record]:
    """All tabular cases."""
    from labelshap.modalities.tabular.model import train_recommender

    trained = train_recommender()
    records = speed(trained, n_users=16 if quick else 64, budget=500)
    # 8 users and 3 seeds (quick): with 3 users and one seed the medians were noise-bound.
    records += accuracy(
        trained,
        n_users=8 if quick else 16,
        budgets=(100, 500, 2000),
        seeds=(1, 2, 3) if quick else (1, 2, 3, 4, 5),
    )
    return records


def speed(trained: Any, n_users: int, budget: int) -> list[Record]:
    """The demo recommender (44 features, 19 labels) over a 50-row k-means background."""
    from labelshap import Explainer, LabelModel
    from labelshap.modalities.tabular import IndependentMasker

    table = trained.table
    names = list(table.flat_feature_names)
    masker = IndependentMasker(
        table.flat_features(trained.train_indices),
        feature_names=names,
        inputs={group: list(cols) for group, cols in trained.feature_names.items()},
        summarize=50,
    )
    model = LabelModel(trained.model, list(trained.label_names), batch_size=4096)
    rows = table.flat_features(trained.test_indices)[:n_users]

    records = []
    for algorithm in SPEED_ALGORITHMS:
        explainer = Explainer(model, masker, algorithm=algorithm, max_evals=budget)
        # Warm up on the same inputs: compiles the model for the packed batch shapes and
        # numba's code for shap's explainers, outside the timing.
        explainer.explain(rows)
        seconds, result = timed(lambda e=explainer: e.explain(rows), 3)
        n_rows = int(result.info["model_rows"])
        inputs = table.inputs(np.resize(trained.train_indices, n_rows))
        bare = bare_model_seconds(model, inputs)
        one, _ = timed(lambda e=explainer: e.explain(rows, labels=[model.label_names[0]]))
        records.append(
            Record(
                modality="tabular",
                case="recommender-44-features",
                algorithm=algorithm,
                budget=budget,
                n_labels=model.n_labels,
                n_inputs=len(rows),
                seconds=seconds,
                model_rows=n_rows,
                bare_model_seconds=bare,
                overhead_ratio=seconds / bare,
                extra={"label_scaling_ratio": seconds / one},
            )
        )
    shap_seconds = _seconds_of(records, "shap-permutation")
    for record in records:
        if not record.algorithm.startswith("shap"):
            record.speedup_vs_shap = shap_seconds / record.seconds
    return records


def accuracy(
    trained: Any, n_users: int, budgets: tuple[int, ...], seeds: tuple[int, ...] = (1,)
) -> list[Record]:
    """Errors against exact Shapley and exact Owen values, 16 features, 100 background rows.

    Each sampling algorithm runs once per seed; a record holds the mean over seeds of
    the median-label and worst-label errors (deterministic algorithms run once).

    The model is a small MLP trained here (seconds) on 16 of the recommender's features
    (the 6 activity features and the 10 most common genres' shares) for its 10 most
    common labels: small enough to enumerate every coalition (65,536 evaluations of 100
    background rows each), with a correlation hierarchy for the partition algorithms.
    """
    from labelshap import Explainer, LabelModel
    from labelshap.modalities.tabular import PartitionMasker

    features, labels, names, label_names = _small_problem(trained)
    train = trained.train_indices
    keras_model = _small_mlp(features[train], labels[train])
    model = LabelModel(keras_model, label_names, batch_size=8192)
    rng = np.random.default_rng(0)
    background = features[rng.choice(train, N_BACKGROUND, replace=False)]
    rows = features[trained.test_indices[:n_users]]
    import shap

    hierarchies = {
        "labelshap": PartitionMasker(background, feature_names=names),
        # The hierarchy shap's own Partition masker builds from the same background.
        "shap": PartitionMasker(
            background,
            feature_names=names,
            clustering=shap.maskers.Partition(background, clustering="correlation").clustering,
        ),
    }

    def values(masker: Any, algorithm: str, budget: int, seed: int = 1) -> np.ndarray:
        explainer = Explainer(model, masker, algorithm=algorithm, max_evals=budget, seed=seed)
        return explainer.explain(rows).values

    shapley = values(hierarchies["labelshap"], "exact", 2**N_SMALL_FEATURES)
    cases = [("shapley", "labelshap", name) for name in SHAPLEY_ALGORITHMS]
    cases += [("owen", hierarchy, name) for hierarchy in hierarchies for name in OWEN_ALGORITHMS]
    owen = {name: values(masker, "partition", 10**6) for name, masker in hierarchies.items()}
    records = []
    for budget in budgets:
        for reference_name, hierarchy, algorithm in cases:
            reference = shapley if reference_name == "shapley" else owen[hierarchy]
            median, worst, details = summarize_seeds(
                [
                    label_errors(values(hierarchies[hierarchy], algorithm, budget, seed), reference)
                    for seed in seeds_for(algorithm, seeds)
                ]
            )
            records.append(
                Record(
                    modality="tabular",
                    case=f"movielens-mlp16-background100-{hierarchy}-hierarchy",
                    algorithm=algorithm,
                    budget=budget,
                    n_labels=model.n_labels,
                    n_inputs=len(rows),
                    error_median_label=median,
                    error_worst_label=worst,
                    reference=reference_name,
                    extra=details,
                )
            )
    return records


def _small_problem(trained: Any) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    table = trained.table
    all_names = list(table.flat_feature_names)
    flat = table.flat_features(np.arange(len(table.user_ids)))
    activity = [i for i, name in enumerate(all_names) if name in _activity_names(trained)]
    shares = [i for i, name in enumerate(all_names) if "share" in name]
    popular = sorted(shares, key=lambda i: -flat[:, i].mean())[: N_SMALL_FEATURES - len(activity)]
    columns = activity + popular
    common = np.argsort(-table.labels.mean(axis=0))[:N_SMALL_LABELS]
    label_names = [table.label_names[i] for i in common]
    return flat[:, columns], table.labels[:, common], [all_names[i] for i in columns], label_names


def _activity_names(trained: Any) -> set[str]:
    return set(trained.feature_names["activity"])


def _small_mlp(features: np.ndarray, labels: np.ndarray) -> Any:
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((features.shape[1],))
    normalise = keras.layers.Normalization()
    normalise.adapt(features)
    hidden = keras.layers.Dense(32, activation="relu")(normalise(inputs))
    outputs = keras.layers.Dense(labels.shape[1], activation="sigmoid")(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(features, labels, epochs=30, batch_size=64, verbose=0)
    return model


def _seconds_of(records: list[Record], algorithm: str) -> float:
    return next(record.seconds for record in records if record.algorithm == algorithm)
