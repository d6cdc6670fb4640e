"""A small two-input Keras recommender over MovieLens user features, trained once and cached.

The model reads the ``"genre"`` and ``"activity"`` feature groups of a
:class:`~labelshap.modalities.tabular.movielens.UserTable`, normalises each with statistics
of the training users, and scores every genre label with a sigmoid. It is judged against a
baseline that ranks users by their log rating count alone: on this data the number of
future 4+ ratings grows with past activity, so that baseline is strong (mean AUC ~0.75).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from labelshap.modalities.tabular.movielens import (
    Ratings,
    UserTable,
    build_user_table,
    load_ratings,
    split_users,
)
from labelshap.paths import cache_dir

if TYPE_CHECKING:
    import keras

__all__ = [
    "RecommenderConfig",
    "TrainedRecommender",
    "build_recommender",
    "train_recommender",
]

logger = logging.getLogger(__name__)

GROUPS = ("genre", "activity")
BASELINE_FEATURE = "log_rating_count"
_CACHE_FORMAT = 1


@dataclass(frozen=True)
class RecommenderConfig:
    """Hyperparameters of :func:`train_recommender`; every field enters the cache key.

    Attributes:
        hidden_units: Width of the one hidden layer.
        dropout: Dropout rate after the hidden layer.
        l2: L2 penalty on the dense kernels.
        learning_rate: Adam learning rate.
        batch_size: Users per gradient step.
        max_epochs: Upper bound on epochs; early stopping usually ends sooner.
        patience: Epochs without a better validation loss before stopping.
        validation_fraction: Share of the training users held out for early stopping.
        test_fraction: Share of all users held out for the reported metrics.
        cutoff_quantile: Per-user time cutoff, see
            :func:`~labelshap.modalities.tabular.movielens.build_user_table`.
        min_label_users: Fewest positive and negative users a genre label needs.
    """

    hidden_units: int = 32
    dropout: float = 0.3
    l2: float = 1e-3
    learning_rate: float = 3e-3
    batch_size: int = 64
    max_epochs: int = 300
    patience: int = 20
    validation_fraction: float = 0.15
    test_fraction: float = 0.2
    cutoff_quantile: float = 0.7
    min_label_users: int = 30


@dataclass
class TrainedRecommender:
    """A trained (or reloaded) recommender with its data split and held-out metrics.

    Attributes:
        model: The Keras model; inputs ``{"genre": (n, Fg), "activity": (n, Fa)}``, output
            ``(n, L)`` label probabilities.
        table: The user table the model was trained on.
        train_indices: Table rows used for training (including the validation part).
        test_indices: Held-out table rows the metrics were computed on.
        label_names: Genre per output column.
        feature_names: Feature names per input group.
        metrics: ``auc`` and ``activity_baseline_auc`` per label (None where the test users
            hold a single class), their means ``macro_auc`` and
            ``activity_baseline_macro_auc``, split sizes, ``epochs`` and ``train_seconds``.
        train_seconds: Seconds spent in ``fit`` when the model was trained (also when it was
            reloaded from the cache).
        from_cache: Whether the model was reloaded rather than trained in this call.
        cache_path: Folder holding ``model.keras``, ``labels.txt`` and ``metrics.json``, or
            None when caching was off.
    """

    model: keras.Model
    table: UserTable
    train_indices: np.ndarray
    test_indices: np.ndarray
    label_names: tuple[str, ...]
    feature_names: dict[str, tuple[str, ...]]
    metrics: dict
    train_seconds: float
    from_cache: bool = False
    cache_path: Path | None = None

    def predict(self, indices: np.ndarray | None = None) -> np.ndarray:
        """Return label probabilities ``(n, L)`` for table rows (all rows when None)."""
        return np.asarray(self.model.predict(self.table.inputs(indices), verbose=0))


def build_recommender(
    n_genre_features: int,
    n_activity_features: int,
    n_labels: int,
    *,
    hidden_units: int = 32,
    dropout: float = 0.3,
    l2: float = 1e-3,
) -> keras.Model:
    """Build the two-input multi-label MLP, uncompiled.

    The ``Normalization`` layers (``"genre_norm"``, ``"activity_norm"``) start as the
    identity; :func:`train_recommender` adapts them to the training users with
    ``model.get_layer("genre_norm").adapt(...)``. Do the same before fitting a model built
    here directly.

    Args:
        n_genre_features: Width of the ``"genre"`` input.
        n_activity_features: Width of the ``"activity"`` input.
        n_labels: Number of sigmoid outputs.
        hidden_units: Width of the hidden layer.
        dropout: Dropout rate after the hidden layer, in [0, 1).
        l2: L2 penalty on the dense kernels, at least 0.

    Returns:
        A functional model with inputs named ``"genre"`` and ``"activity"``.

    Raises:
        ValueError: If a width is not a positive int or a rate is out of range.
    """
    sizes = {
        "n_genre_features": n_genre_features,
        "n_activity_features": n_activity_features,
        "n_labels": n_labels,
        "hidden_units": hidden_units,
    }
    for name, size in sizes.items():
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"{name} must be a positive int; got {size!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1); got {dropout!r}")
    if l2 < 0.0:
        raise ValueError(f"l2 must be at least 0; got {l2!r}")

    import keras
    from keras import layers

    genre = keras.Input(shape=(int(n_genre_features),), name="genre")
    activity = keras.Input(shape=(int(n_activity_features),), name="activity")
    normalised = layers.Concatenate(name="features")(
        [
            layers.Normalization(name="genre_norm")(genre),
            layers.Normalization(name="activity_norm")(activity),
        ]
    )
    hidden = layers.Dense(
        int(hidden_units),
        activation="relu",
        kernel_regularizer=keras.regularizers.L2(l2),
        name="hidden",
    )(normalised)
    hidden = layers.Dropout(dropout, name="dropout")(hidden)
    scores = layers.Dense(
        int(n_labels),
        activation="sigmoid",
        kernel_regularizer=keras.regularizers.L2(l2),
        name="labels",
    )(hidden)
    return keras.Model({"genre": genre, "activity": activity}, scores, name="recommender")


def train_recommender(
    *,
    seed: int = 0,
    cache: bool = True,
    config: RecommenderConfig | None = None,
    ratings: Ratings | None = None,
) -> TrainedRecommender:
    """Train the recommender on MovieLens users, or reload it from the cache.

    Users are split once into train and test (:func:`split_users`); a part of train is held
    out for early stopping (best weights restored). Metrics are ROC AUCs on the test users,
    per label and their mean, for the model and for the activity baseline (users ranked by
    ``log_rating_count`` alone). The cache folder is
    ``cache_dir("models", "recommender-<hash>")`` where the hash covers ``seed``, ``config``
    and the content of the user table, so a change to any of them trains afresh.

    Args:
        seed: Seed of the splits, the weight initialisation and the batch order. Sets the
            global Python, NumPy and TensorFlow seeds (``keras.utils.set_random_seed``).
        cache: Reload a cached model when present and save a newly trained one.
        config: Hyperparameters; :class:`RecommenderConfig` defaults when None.
        ratings: Ratings to build the user table from; :func:`load_ratings` when None.

    Returns:
        The model, its table, split and metrics.

    Raises:
        ValueError: If the table has too few users to split into train, validation and test.
    """
    config = RecommenderConfig() if config is None else config
    ratings = load_ratings() if ratings is None else ratings
    table = build_user_table(
        ratings,
        cutoff_quantile=config.cutoff_quantile,
        min_label_users=config.min_label_users,
    )
    train_indices, test_indices = split_users(
        len(table), test_fraction=config.test_fraction, seed=seed
    )
    folder = None
    if cache:
        folder = cache_dir("models", f"recommender-{_config_hash(seed, config, table)}")
        loaded = _load_cached(folder, table)
        if loaded is not None:
            model, metrics = loaded
            logger.info("reloaded recommender from %s", folder)
            return TrainedRecommender(
                model=model,
                table=table,
                train_indices=train_indices,
                test_indices=test_indices,
                label_names=table.label_names,
                feature_names=dict(table.feature_names),
                metrics=metrics,
                train_seconds=float(metrics["train_seconds"]),
                from_cache=True,
                cache_path=folder,
            )

    model, epochs, train_seconds = _fit(table, train_indices, seed, config)
    metrics = _evaluate(model, table, train_indices, test_indices)
    metrics.update(epochs=epochs, train_seconds=train_seconds, seed=seed)
    logger.info(
        "trained recommender in %.1f s (%d epochs): macro AUC %.3f, baseline %.3f",
        train_seconds,
        epochs,
        metrics["macro_auc"],
        metrics["activity_baseline_macro_auc"],
    )
    if folder is not None:
        _save_cached(folder, model, table, metrics)
    return TrainedRecommender(
        model=model,
        table=table,
        train_indices=train_indices,
        test_indices=test_indices,
        label_names=table.label_names,
        feature_names=dict(table.feature_names),
        metrics=metrics,
        train_seconds=train_seconds,
        from_cache=False,
        cache_path=folder,
    )


def _fit(
    table: UserTable, train_indices: np.ndarray, seed: int, config: RecommenderConfig
) -> tuple[keras.Model, int, float]:
    """Fit a fresh model on the training rows; return it, the epochs run and the seconds."""
    import keras

    keras.utils.set_random_seed(seed)

    # Hold out part of train for early stopping.
    order = np.random.default_rng(seed + 1).permutation(train_indices)
    n_validation = round(len(order) * config.validation_fraction)
    if len(order) < 2 or not 1 <= n_validation < len(order):
        raise ValueError(
            f"cannot split {len(order)} training users with "
            f"validation_fraction={config.validation_fraction!r}; need at least one user "
            "for fitting and one for validation"
        )
    fit_rows, validation_rows = np.sort(order[n_validation:]), np.sort(order[:n_validation])

    model = build_recommender(
        table.features["genre"].shape[1],
        table.features["activity"].shape[1],
        table.labels.shape[1],
        hidden_units=config.hidden_units,
        dropout=config.dropout,
        l2=config.l2,
    )
    fit_inputs = table.inputs(fit_rows)
    for group in GROUPS:
        model.get_layer(f"{group}_norm").adapt(fit_inputs[group])
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="binary_crossentropy",
    )

    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=config.patience, restore_best_weights=True
    )
    started = time.perf_counter()
    history = model.fit(
        fit_inputs,
        table.labels[fit_rows],
        validation_data=(table.inputs(validation_rows), table.labels[validation_rows]),
        batch_size=config.batch_size,
        epochs=config.max_epochs,
        callbacks=[stop],
        verbose=0,
    )
    return model, len(history.history["loss"]), time.perf_counter() - started


def _evaluate(
    model: keras.Model, table: UserTable, train_indices: np.ndarray, test_indices: np.ndarray
) -> dict:
    """Held-out ROC AUC per label for the model and for the log-rating-count baseline."""
    scores = np.asarray(model.predict(table.inputs(test_indices), verbose=0))
    activity_column = table.feature_names["activity"].index(BASELINE_FEATURE)
    baseline = table.features["activity"][test_indices, activity_column]
    labels = table.labels[test_indices]

    model_auc = {}
    baseline_auc = {}
    for column, name in enumerate(table.label_names):
        model_auc[name] = _roc_auc(labels[:, column], scores[:, column])
        baseline_auc[name] = _roc_auc(labels[:, column], baseline)
    unscored = [name for name, value in model_auc.items() if value is None]
    if unscored:
        logger.warning("labels with a single class among test users, not scored: %s", unscored)
    return {
        "auc": model_auc,
        "macro_auc": _mean(model_auc.values()),
        "activity_baseline_auc": baseline_auc,
        "activity_baseline_macro_auc": _mean(baseline_auc.values()),
        "n_users": len(table),
        "n_users_total": table.n_users_total,
        "n_train": len(train_indices),
        "n_test": len(test_indices),
    }


def _roc_auc(truth: np.ndarray, scores: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(truth)) < 2:
        return None
    return float(roc_auc_score(truth, scores))


def _mean(values: Iterable[float | None]) -> float | None:
    scored = [value for value in values if value is not None]
    return float(np.mean(scored)) if scored else None


def _config_hash(seed: int, config: RecommenderConfig, table: UserTable) -> str:
    """Return a short hash of everything the trained model depends on."""
    digest = hashlib.sha256()
    key = {"format": _CACHE_FORMAT, "seed": seed, "config": dataclasses.asdict(config)}
    digest.update(json.dumps(key, sort_keys=True).encode())
    for group in GROUPS:
        digest.update(table.features[group].tobytes())
        digest.update("\n".join(table.feature_names[group]).encode())
    digest.update(table.labels.tobytes())
    digest.update("\n".join(table.label_names).encode())
    return digest.hexdigest()[:16]


def _load_cached(folder: Path, table: UserTable) -> tuple[keras.Model, dict] | None:
    """Reload model and metrics from ``folder``, or None when absent or inconsistent."""
    # metrics.json is written last, so its presence marks a complete cache entry.
    metrics_file = folder / "metrics.json"
    if not metrics_file.is_file() or not (folder / "model.keras").is_file():
        return None
    labels = (folder / "labels.txt").read_text(encoding="utf-8").splitlines()
    if tuple(labels) != table.label_names:
        logger.warning("cached labels in %s differ from the table's; retraining", folder)
        return None

    import keras

    model = keras.saving.load_model(folder / "model.keras", safe_mode=True, compile=False)
    return model, json.loads(metrics_file.read_text(encoding="utf-8"))


def _save_cached(folder: Path, model: keras.Model, table: UserTable, metrics: dict) -> None:
    model.save(folder / "model.keras")
    (folder / "labels.txt").write_text("\n".join(table.label_names) + "\n", encoding="utf-8")
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    logger.info("saved recommender to %s", folder)
