"""Tests for the MovieLens loader, the per-user cutoff table and the user split."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest

from labelshap.modalities.tabular.movielens import (
    ACTIVITY_FEATURES,
    Ratings,
    build_user_table,
    load_ratings,
    split_users,
)
from labelshap.paths import shared_data_file

DAY = 86_400

# (movieId, title, year, genres, userId, rating, day). Expected values are worked out by hand
# in the tests below; the cutoff is each user's 70th percentile of rating days.
ROWS = [
    # User 1, days 0, 1, 2, 3, 10: cutoff at day 2.8, so days 0-2 before and 3, 10 after.
    (10, "A", 2000.0, "Action", 1, 4.0, 0),
    (11, "B", 1990.0, "Comedy|Drama", 1, 2.0, 1),
    (12, "C", math.nan, "Drama", 1, 3.0, 2),
    (13, "D", 2010.0, "Action", 1, 5.0, 3),
    (14, "E", 2005.0, "Comedy", 1, 4.5, 10),
    # User 2, days 0, 0, 5, 6: cutoff at day 5.1; after it only a 2-star Drama.
    (12, "C", 1980.0, "Drama", 2, 5.0, 0),
    (14, "E", 1980.0, "Comedy", 2, 1.0, 0),
    (15, "F", 2015.0, "(no genres listed)", 2, 4.0, 5),
    (12, "C", 1980.0, "Drama", 2, 2.0, 6),
    # User 3 rated everything at one moment: nothing after the cutoff, so dropped.
    (10, "A", 2000.0, "Action", 3, 4.0, 0),
    (12, "C", 2000.0, "Drama", 3, 4.0, 0),
]


def _ratings(rows: list[tuple]) -> Ratings:
    columns = list(zip(*rows, strict=True))
    return Ratings(
        movie_ids=np.array(columns[0], dtype=np.int64),
        titles=np.array(columns[1], dtype=object),
        years=np.array(columns[2], dtype=np.float64),
        genres=np.array(columns[3], dtype=object),
        user_ids=np.array(columns[4], dtype=np.int64),
        ratings=np.array(columns[5], dtype=np.float64),
        timestamps=np.array(columns[6], dtype=np.int64) * DAY,
    )


@pytest.fixture
def ratings() -> Ratings:
    return _ratings(ROWS)


@pytest.fixture
def table(ratings):
    return build_user_table(ratings, min_label_users=1)


def _feature(table, user_row: int, name: str) -> float:
    for group, names in table.feature_names.items():
        if name in names:
            return float(table.features[group][user_row, names.index(name)])
    raise KeyError(name)


def test_users_without_ratings_after_their_cutoff_are_dropped(table):
    assert table.user_ids.tolist() == [1, 2]
    assert table.n_users_total == 3
    np.testing.assert_allclose(table.cutoffs / DAY, [2.8, 5.1])


def test_labels_come_only_from_ratings_after_the_cutoff(table):
    # User 1 rated Action 4.0 before the cutoff but 5.0 after; Comedy 4.5 after; the
    # 2-star Drama of user 2 after the cutoff is no positive. Drama has no positive, so it
    # is no label.
    assert table.label_names == ("Action", "Comedy")
    np.testing.assert_array_equal(table.labels, [[1.0, 1.0], [0.0, 0.0]])
    assert table.labels.dtype == np.float32


def test_genre_features_use_only_ratings_before_the_cutoff(table):
    # User 1 before the cutoff: Action 4.0, Comedy|Drama 2.0, Drama 3.0.
    expected_user_1 = {
        "share:Action": 1 / 3,
        "share:Comedy": 1 / 3,
        "share:Drama": 2 / 3,
        "mean_rating:Action": 4.0,  # the later 5.0 is not seen
        "mean_rating:Comedy": 2.0,
        "mean_rating:Drama": 2.5,
    }
    # User 2 before the cutoff: Drama 5.0, Comedy 1.0, no-genre 4.0; never rated Action,
    # which falls back to the user's overall mean 10/3.
    expected_user_2 = {
        "share:Action": 0.0,
        "share:Comedy": 1 / 3,
        "share:Drama": 1 / 3,
        "mean_rating:Action": 10 / 3,
        "mean_rating:Comedy": 1.0,
        "mean_rating:Drama": 5.0,
    }
    assert table.feature_names["genre"] == tuple(expected_user_1)
    for row, expected in enumerate([expected_user_1, expected_user_2]):
        for name, value in expected.items():
            assert _feature(table, row, name) == pytest.approx(value, rel=1e-6), (row, name)


def test_activity_features_use_only_ratings_before_the_cutoff(table):
    assert table.feature_names["activity"] == ACTIVITY_FEATURES
    expected = [
        {
            "log_rating_count": math.log(4.0),
            "span_days": 2.0,
            "recency_days": 0.8,
            "mean_release_year": 1995.0,  # the unknown year is skipped
            "rating_mean": 3.0,
            "rating_std": math.sqrt(2 / 3),
        },
        {
            "log_rating_count": math.log(4.0),
            "span_days": 5.0,
            "recency_days": 0.1,
            "mean_release_year": (1980 + 1980 + 2015) / 3,
            "rating_mean": 10 / 3,
            "rating_std": math.sqrt(26) / 3,
        },
    ]
    for row, features in enumerate(expected):
        for name, value in features.items():
            assert _feature(table, row, name) == pytest.approx(value, rel=1e-5), (row, name)


def test_changing_ratings_after_the_cutoff_leaves_features_unchanged(table):
    # User 1's ratings after the cutoff get another rating (still 4+) and release year.
    changed = [
        (*row[:2], 1900.0, row[3], row[4], 4.0, row[6]) if row[4] == 1 and row[6] >= 3 else row
        for row in ROWS
    ]
    other = build_user_table(_ratings(changed), min_label_users=1)
    for group in ("genre", "activity"):
        np.testing.assert_array_equal(other.features[group], table.features[group])


def test_genres_without_enough_positive_users_are_no_labels(ratings):
    with pytest.raises(ValueError, match="min_label_users=2"):
        build_user_table(ratings, min_label_users=2)


@pytest.mark.parametrize("quantile", [0.0, 1.0, -0.1, 1.5])
def test_cutoff_quantile_outside_the_open_unit_interval_is_rejected(ratings, quantile):
    with pytest.raises(ValueError, match="cutoff_quantile"):
        build_user_table(ratings, cutoff_quantile=quantile)


def test_flat_features_put_the_genre_group_first(table):
    flat = table.flat_features(np.array([1]))
    assert flat.shape == (1, len(table.flat_feature_names))
    np.testing.assert_array_equal(flat[0, :6], table.features["genre"][1])
    np.testing.assert_array_equal(flat[0, 6:], table.features["activity"][1])


def test_load_ratings_reads_a_gzipped_csv(tmp_path: Path):
    path = tmp_path / "ratings.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("movieId,title,year,genres,userId,rating,timestamp\n")
        handle.write('31,"Dangerous Minds, The",1995.0,Drama,1,2.5,1260759144\n')
        handle.write("108583,,,Comedy|Drama,73,5.0,1435472609\n")

    ratings = load_ratings(path)
    assert len(ratings) == 2
    assert ratings.titles.tolist() == ["Dangerous Minds, The", ""]
    assert ratings.years[0] == 1995.0 and math.isnan(ratings.years[1])
    assert ratings.genre_names == ("Comedy", "Drama")
    assert ratings.timestamps.dtype == np.int64


def test_load_ratings_names_missing_columns(tmp_path: Path):
    path = tmp_path / "ratings.csv"
    path.write_text("movieId,userId,rating\n1,1,4.0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="lacks columns"):
        load_ratings(path)


def test_real_movielens_keeps_669_of_671_users():
    try:
        path = shared_data_file("movielens_small.csv.gz")
    except FileNotFoundError:
        pytest.skip("shared MovieLens file not present")
    table = build_user_table(load_ratings(path))
    assert (len(table), table.n_users_total) == (669, 671)
    assert len(table.label_names) == 19
    assert table.features["genre"].shape == (669, 38)


def test_split_is_disjoint_and_covers_every_user():
    train, test = split_users(669, test_fraction=0.2, seed=3)
    assert len(test) == 134 and len(train) == 535
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(669))


def test_split_depends_only_on_the_seed():
    first, second = split_users(50, seed=1), split_users(50, seed=1)
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[1], split_users(50, seed=2)[1])


@pytest.mark.parametrize(
    ("n_users", "test_fraction", "match"),
    [(1, 0.2, "n_users"), (10, 0.0, "test_fraction"), (10, 1.0, "test_fraction")],
)
def test_split_rejects_out_of_range_arguments(n_users, test_fraction, match):
    with pytest.raises(ValueError, match=match):
        split_users(n_users, test_fraction=test_fraction)
