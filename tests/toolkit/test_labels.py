"""Tests for choosing which labels to explain and for reading label names."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labelshap.labels import Threshold, TopK, load_label_names, select_labels

NAMES = ["cat", "dog", "bird", "fish"]
SCORES = np.array(
    [
        [0.9, 0.2, 0.6, 0.1],
        [0.3, 0.8, 0.8, 0.8],
        [0.5, 0.5, 0.5, 0.5],
    ]
)


def chosen_columns(selected: np.ndarray) -> list[list[int]]:
    return [np.flatnonzero(row).tolist() for row in selected]


# select_labels


@pytest.mark.parametrize("selection", [None, "all"])
def test_none_and_all_select_every_label_of_every_input(selection):
    selected = select_labels(selection, SCORES, NAMES)

    assert selected.dtype == bool
    assert selected.shape == SCORES.shape
    assert selected.all()


def test_names_select_the_same_columns_for_every_input():
    selected = select_labels(["bird", "cat"], SCORES, NAMES)

    assert chosen_columns(selected) == [[0, 2], [0, 2], [0, 2]]


def test_indices_and_names_may_be_mixed():
    selected = select_labels((3, "dog", np.int64(0)), SCORES, NAMES)

    assert chosen_columns(selected) == [[0, 1, 3], [0, 1, 3], [0, 1, 3]]


def test_top_k_picks_the_highest_scores_of_each_input():
    selected = select_labels(TopK(2), SCORES, NAMES)

    assert chosen_columns(selected) == [[0, 2], [1, 2], [0, 1]]


def test_top_k_breaks_ties_by_label_order():
    # Row 1 ties dog, bird and fish at 0.8; row 2 ties all four at 0.5.
    selected = select_labels(TopK(1), SCORES, NAMES)

    assert chosen_columns(selected) == [[0], [1], [0]]


def test_top_k_larger_than_the_label_count_selects_every_label():
    selected = select_labels(TopK(10), SCORES, NAMES)

    assert selected.all()


def test_threshold_selects_scores_at_or_above_the_value():
    selected = select_labels(Threshold(0.6), SCORES, NAMES)

    assert chosen_columns(selected) == [[0, 2], [1, 2, 3], []]


def test_threshold_works_on_logits():
    logits = np.log(SCORES / (1.0 - SCORES))

    selected = select_labels(Threshold(0.0), logits, NAMES)

    assert chosen_columns(selected) == [[0, 2], [1, 2, 3], [0, 1, 2, 3]]


def test_threshold_at_least_adds_the_best_labels_only_where_too_few_reach_it():
    # Row 0: cat (0.9) reaches it; rows 1 and 2: none does, their best (ties by label order).
    selected = select_labels(Threshold(0.85, at_least=1), SCORES, NAMES)

    assert chosen_columns(selected) == [[0], [1], [0]]


def test_threshold_at_least_two_tops_up_to_two_and_keeps_more_above_it():
    selected = select_labels(Threshold(0.6, at_least=2), SCORES, NAMES)

    assert chosen_columns(selected) == [[0, 2], [1, 2, 3], [0, 1]]


def test_threshold_at_least_matches_a_plain_reference():
    scores = np.random.default_rng(3).random((40, 6)).round(1)  # rounded: many ties
    names = [f"label-{i}" for i in range(6)]

    for at_least in range(8):
        selected = select_labels(Threshold(0.7, at_least=at_least), scores, names)

        for row, row_scores in enumerate(scores):
            expected = {c for c in range(6) if row_scores[c] >= 0.7}
            # Best first, ties by label order, until there are at_least.
            for c in sorted(range(6), key=lambda c: (-row_scores[c], c)):
                if len(expected) >= at_least:
                    break
                expected.add(c)
            assert set(np.flatnonzero(selected[row])) == expected, (at_least, row)


def test_threshold_repr_names_at_least_only_when_set():
    assert repr(Threshold(0.5)) == "Threshold(value=0.5)"
    assert repr(Threshold(0.5, at_least=1)) == "Threshold(value=0.5, at_least=1)"
    assert Threshold(0.5) != Threshold(0.5, at_least=1)


@pytest.mark.parametrize("at_least", [-1, 1.0, True, "1", None])
def test_threshold_at_least_needs_an_integer_of_at_least_zero(at_least):
    with pytest.raises(ValueError, match=rf"Threshold\(at_least={at_least!r}\): at_least must"):
        Threshold(0.5, at_least=at_least)


def test_unknown_label_name_is_refused_listing_the_labels():
    with pytest.raises(ValueError, match=r"'zebra' is not one of the model's labels \['cat'"):
        select_labels(["cat", "zebra"], SCORES, NAMES)


@pytest.mark.parametrize("index", [4, -1])
def test_label_index_out_of_range_is_refused(index):
    with pytest.raises(ValueError, match=rf"label index {index} is out of range 0\.\.3"):
        select_labels([index], SCORES, NAMES)


def test_empty_label_list_is_refused():
    with pytest.raises(ValueError, match=r"labels=\[\] selects nothing"):
        select_labels([], SCORES, NAMES)


@pytest.mark.parametrize(
    ("selection", "shown"),
    [("cat", "'cat'"), (3, "3"), ({"cat"}, r"\{'cat'\}"), (0.5, "0.5")],
)
def test_selection_of_another_kind_is_refused_naming_it(selection, shown):
    with pytest.raises(ValueError, match=rf"labels={shown} is not a label selection"):
        select_labels(selection, SCORES, NAMES)


@pytest.mark.parametrize("k", [0, -2, 1.5, True])
def test_top_k_needs_a_positive_integer(k):
    with pytest.raises(ValueError, match=rf"TopK\(k={k!r}\): k must be a positive integer"):
        TopK(k)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_threshold_needs_a_finite_value(value):
    with pytest.raises(ValueError, match=rf"Threshold\(value={value!r}\)"):
        Threshold(value)


@pytest.mark.parametrize("value", ["0.5", None])
def test_threshold_of_a_non_number_is_refused_naming_the_value(value):
    with pytest.raises((TypeError, ValueError), match=rf"Threshold\(value={value!r}\)"):
        Threshold(value)


# load_label_names


def test_label_names_from_a_file_skip_blank_lines_and_strip_spaces(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("\ncat\n  dog\t\n\n \nbird", encoding="utf-8")

    assert load_label_names(path) == ["cat", "dog", "bird"]
    assert load_label_names(str(path)) == ["cat", "dog", "bird"]


def test_label_names_from_a_sequence_keep_their_order():
    assert load_label_names(("fish", "cat")) == ["fish", "cat"]


def test_repeated_names_in_a_list_are_refused_naming_them():
    with pytest.raises(ValueError, match=r"repeats names \['cat', 'dog'\]"):
        load_label_names(["dog", "cat", "dog", "bird", "cat"])


def test_repeated_names_in_a_file_are_refused_naming_them(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("cat\n cat \ndog\n", encoding="utf-8")

    with pytest.raises(ValueError, match=r"repeats names \['cat'\]"):
        load_label_names(path)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_file_without_names_is_refused(tmp_path, content):
    path = tmp_path / "labels.txt"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(ValueError, match="labels.txt' holds no label names"):
        load_label_names(path)


def test_empty_list_of_names_is_refused():
    with pytest.raises(ValueError, match="labels holds no label names"):
        load_label_names([])


def test_missing_labels_file_is_refused_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.txt' does not exist"):
        load_label_names(tmp_path / "absent.txt")


@pytest.mark.parametrize(
    ("names", "shown"),
    [(["cat", 1], r"\[1\]"), (["cat", None], r"\[None\]"), (["cat", "  "], r"\['  '\]")],
)
def test_names_that_are_not_non_empty_strings_are_refused(names, shown):
    with pytest.raises(ValueError, match=rf"every name must be a non-empty string; got {shown}"):
        load_label_names(names)
