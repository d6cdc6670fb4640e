"""What the tabular maskers learn from background rows: a k-means summary and a hierarchy.

Both read a background table normalised by :func:`~.table.to_matrix`. Columns are put on
one scale first (each divided by its standard deviation over the background), and a
categorical column is replaced by one indicator column per category, so that a category
code is compared by equality, never by magnitude.
"""

from __future__ import annotations

import logging

import numpy as np

from labelshap._words import counted

from .table import TableLayout

__all__ = ["kmeans_background", "correlation_linkage", "feature_correlation"]

logger = logging.getLogger(__name__)


def kmeans_background(
    rows: np.ndarray, layout: TableLayout, size: int, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Summarise background rows by ``size`` k-means centres, weighted by cluster size.

    k-means (scikit-learn, ``n_init=10``, seeded) clusters the scaled rows. Each cluster
    becomes one row: the mean of its members in every numeric column; in a categorical
    column, and in the columns of a group (a one-hot category), the members' most common
    value, so that codes stay whole and one-hot columns stay one-hot. The row's weight
    is the cluster's share of all rows. Where the rows hold at most ``size`` distinct
    rows, those are kept with their multiplicities as weights, which is exact.

    On the MovieLens users (535 training rows, 44 features) weighted centres came far
    closer to the values over the whole background than the real row nearest each
    centre or a random sample of the same size (relative error 0.11 against 0.65 and
    0.20 at 30 rows).

    Args:
        rows: ``(n, C)`` background rows.
        layout: Their columns (categorical columns are one-hot encoded for the distance).
        size: Rows wanted, at least 1.
        seed: Seed of k-means.

    Returns:
        ``(rows, weights)``: ``(k, C)`` rows (``k <= size``) and ``(k,)`` weights that sum
        to 1.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"summarize={size!r} must be a positive integer (rows to keep) or None")
    distinct, counts = np.unique(rows, axis=0, return_counts=True)
    if len(distinct) <= size:
        return distinct, counts / counts.sum()

    from sklearn.cluster import KMeans

    kmeans = KMeans(n_clusters=int(size), n_init=10, random_state=seed)
    assignment = kmeans.fit_predict(_encode(rows, layout)[0])
    whole = [layout.column_names.index(name) for name in layout.categorical]
    whole += [columns for columns in layout.feature_columns if len(columns) > 1]
    centres, weights = [], []
    for cluster in range(int(size)):
        members = rows[assignment == cluster]
        if len(members) == 0:
            continue
        centre = members.mean(axis=0)
        for columns in whole:
            centre[columns] = _most_common(members[:, columns])
        centres.append(centre)
        weights.append(len(members))
    logger.info(
        "summarised %s into %s",
        counted(len(rows), "background row"),
        counted(len(centres), "k-means centre"),
    )
    weights = np.asarray(weights, dtype=np.float64)
    return np.stack(centres), weights / weights.sum()


def feature_correlation(rows: np.ndarray, layout: TableLayout) -> np.ndarray:
    """``(F, F)`` strength of association between features, in [0, 1].

    Between two one-column features it is the absolute Pearson correlation over the
    rows; a feature of several columns (a one-hot group, a categorical code expanded to
    indicators) takes the largest absolute correlation over its columns. A constant
    column correlates with nothing.
    """
    encoded, owners = _encode(rows, layout)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.abs(np.corrcoef(encoded, rowvar=False)) if len(rows) > 1 else None
    n_features = layout.n_features
    if correlation is None:
        return np.eye(n_features)
    correlation = np.nan_to_num(np.atleast_2d(correlation), nan=0.0)

    # Largest |r| over the columns of each pair of features.
    owners = np.asarray(owners)
    strength = np.zeros((n_features, n_features))
    for first in range(n_features):
        rows_of_first = correlation[owners == first]
        for second in range(first + 1, n_features):
            block = rows_of_first[:, owners == second]
            strength[first, second] = strength[second, first] = block.max() if block.size else 0
    np.fill_diagonal(strength, 1.0)
    return np.clip(strength, 0.0, 1.0)


def correlation_linkage(rows: np.ndarray, layout: TableLayout) -> np.ndarray | None:
    """A hierarchy over the features, strongly correlated features merged first.

    Average linkage (scipy) on the distance ``1 - strength`` of
    :func:`feature_correlation`.

    Returns:
        A scipy linkage matrix ``(F - 1, 4)``, or None for fewer than 2 features.
    """
    if layout.n_features < 2:
        return None
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    distance = 1.0 - feature_correlation(rows, layout)
    np.fill_diagonal(distance, 0.0)
    return linkage(squareform(distance, checks=False), method="average")


def _encode(rows: np.ndarray, layout: TableLayout) -> tuple[np.ndarray, list[int]]:
    """Scaled columns (categorical codes as indicators) and the feature owning each."""
    owner_of_column = np.zeros(layout.n_columns, dtype=int)
    for feature, columns in enumerate(layout.feature_columns):
        owner_of_column[columns] = feature
    categorical = {layout.column_names.index(name) for name in layout.categorical}

    blocks, owners = [], []
    for column in range(layout.n_columns):
        values = rows[:, column]
        if column in categorical:
            block = (values[:, None] == np.unique(values)[None, :]).astype(np.float64)
        else:
            scale = values.std()
            block = ((values - values.mean()) / (scale if scale > 0 else 1.0))[:, None]
        blocks.append(block)
        owners += [int(owner_of_column[column])] * block.shape[1]
    return np.concatenate(blocks, axis=1), owners


def _most_common(block: np.ndarray) -> np.ndarray:
    """The most common row of ``block`` (the first of them in sorted order on ties)."""
    values, counts = np.unique(block.reshape(len(block), -1), axis=0, return_counts=True)
    return values[np.argmax(counts)].reshape(block.shape[1:])
