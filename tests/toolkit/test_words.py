"""Counts written as words: one of a thing is singular."""

from __future__ import annotations

import pytest

from labelshap._words import counted


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 inputs"), (1, "1 input"), (2, "2 inputs"), (12_345, "12,345 inputs")],
)
def test_a_count_of_one_takes_the_singular(count, expected):
    assert counted(count, "input") == expected


def test_an_irregular_plural_is_used_when_given():
    assert counted(1, "modality", "modalities") == "1 modality"
    assert counted(3, "modality", "modalities") == "3 modalities"
