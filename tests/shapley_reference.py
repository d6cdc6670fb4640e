"""The Shapley formula written plainly, the one reference every exactness test compares to."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np


def reference_shapley(value_of: Callable[[np.ndarray], np.ndarray], n_players: int) -> np.ndarray:
    """Exact Shapley values: for each player, every coalition of the others, weighted by
    ``|S|! (n - |S| - 1)! / n!``, times the player's marginal gain.

    Args:
        value_of: Maps a boolean mask ``(n_players,)`` (True keeps a player) to the
            values of every label ``(n_labels,)``.
        n_players: Number of players.

    Returns:
        ``(n_players, n_labels)``.
    """
    cache: dict[frozenset, np.ndarray] = {}

    def value(coalition: frozenset) -> np.ndarray:
        if coalition not in cache:
            mask = np.zeros(n_players, dtype=bool)
            mask[list(coalition)] = True
            cache[coalition] = np.asarray(value_of(mask), dtype=np.float64)
        return cache[coalition]

    values = []
    for player in range(n_players):
        others = [p for p in range(n_players) if p != player]
        total = 0.0
        for size in range(n_players):
            weight = math.factorial(size) * math.factorial(n_players - size - 1)
            weight /= math.factorial(n_players)
            for coalition in itertools.combinations(others, size):
                gain = value(frozenset(coalition) | {player}) - value(frozenset(coalition))
                total = total + weight * gain
        values.append(total)
    return np.stack(values)


def batch_game(evaluate: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """Adapt a game scored on ``(m, n)`` float masks to :func:`reference_shapley`."""
    return lambda mask: evaluate(mask[None].astype(np.float64))[0]
