"""Plumbing tests for the recommender: a tiny one-epoch model, its metrics and its cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from labelshap.modalities.tabular.model import (
    RecommenderConfig,
    build_recommender,
    train_recommender,
)
from labelshap.modalities.tabular.movielens import Ratings

GENRES = ["Action", "Comedy", "Drama", "Action|Drama"]
TINY = RecommenderConfig(hidden_units=4, max_epochs=1, patience=1, min_label_users=1)


@pytest.fixture
def ratings() -> Ratings:
    """40 users with 12 random ratings each, one a day."""
    rng = np.random.default_rng(0)
    n_users, per_user = 40, 12
    n = n_users * per_user
    movies = rng.integers(0, len(GENRES), n)
    return Ratings(
        movie_ids=movies.astype(np.int64),
        titles=np.array([f"movie {movie}" for movie in movies], dtype=object),
        years=1980.0 + movies,
        genres=np.array([GENRES[movie] for movie in movies], dtype=object),
        user_ids=np.repeat(np.arange(n_users), per_user).astype(np.int64),
        ratings=rng.integers(1, 11, n) / 2.0,
        timestamps=np.tile(np.arange(per_user) * 86_400, n_users).astype(np.int64),
    )


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELSHAP_CACHE", str(tmp_path))
    return tmp_path


def test_model_has_two_named_inputs_and_one_sigmoid_per_label():
    model = build_recommender(6, 3, 2)
    assert sorted(tensor.name for tensor in model.inputs) == ["activity", "genre"]
    scores = np.asarray(model({"genre": np.zeros((5, 6)), "activity": np.ones((5, 3))}))
    assert scores.shape == (5, 2)
    assert ((scores > 0) & (scores < 1)).all()


def test_build_rejects_a_zero_width():
    with pytest.raises(ValueError, match="n_labels must be a positive int; got 0"):
        build_recommender(6, 3, 0)


def test_training_reports_metrics_and_reloads_from_the_cache(ratings, cache):
    trained = train_recommender(seed=0, config=TINY, ratings=ratings)
    assert not trained.from_cache
    assert trained.cache_path is not None and trained.cache_path.parent.parent == cache
    assert {"macro_auc", "activity_baseline_macro_auc", "auc", "train_seconds"} <= set(
        trained.metrics
    )
    assert set(trained.metrics["auc"]) == set(trained.label_names)
    assert np.intersect1d(trained.train_indices, trained.test_indices).size == 0
    saved = json.loads((trained.cache_path / "metrics.json").read_text(encoding="utf-8"))
    assert saved["n_test"] == len(trained.test_indices)

    reloaded = train_recommender(seed=0, config=TINY, ratings=ratings)
    assert reloaded.from_cache and reloaded.cache_path == trained.cache_path
    np.testing.assert_allclose(reloaded.predict(), trained.predict(), rtol=1e-5, atol=1e-6)
