"""The token hierarchy: valid scipy linkage, pieces first, words split where the tokenizer says."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import cophenet, is_monotonic, is_valid_linkage

from labelshap.modalities.text.hierarchy import (
    LEVEL_DISTANCES,
    token_linkage,
    word_ids_from_encoding,
)

TEXTS = (
    "A Perl module Foo::Bar, for parsing configuration files.",
    "The library is hard-wrapped\nacross lines; see the docs!\n\n * first item\n * second",
    "Café naïveté über Straße: résumé.",
    "日本語のテキスト。中文文本处理",
    "Emoji 😀 support   with   spaces 👍🏽 end",
    "One.",
)


def _linkage(tokenizer, text):
    encoding = tokenizer(text, return_offsets_mapping=True)
    word_ids = word_ids_from_encoding(encoding)
    linkage = token_linkage(word_ids, encoding["offset_mapping"], text)
    kept = [i for i, word in enumerate(word_ids) if word is not None]
    return linkage, [word_ids[i] for i in kept], [encoding["offset_mapping"][i] for i in kept]


def _leaf_at(offsets, position):
    """The leaf whose characters start at ``position`` (the first, if several)."""
    return next(i for i, (start, end) in enumerate(offsets) if start <= position < end)


def _clusters(linkage, n_leaves):
    """Leaves of each merged cluster, in row order, with its distance."""
    members = {leaf: [leaf] for leaf in range(n_leaves)}
    clusters = []
    for row, (left, right, distance, _) in enumerate(linkage):
        members[n_leaves + row] = members[int(left)] + members[int(right)]
        clusters.append((sorted(members[n_leaves + row]), distance))
    return clusters


def _merge_distance(linkage, n_leaves, first, second):
    """Distance of the smallest cluster holding both leaves."""
    return min(d for leaves, d in _clusters(linkage, n_leaves) if {first, second} <= set(leaves))


@pytest.mark.parametrize("text", TEXTS)
def test_linkage_is_valid_monotone_and_covers_every_token(any_tokenizer, text):
    linkage, words, _ = _linkage(any_tokenizer, text)

    assert linkage.shape == (len(words) - 1, 4)
    assert is_valid_linkage(linkage)
    assert is_monotonic(linkage)
    assert set(linkage[:, 2]) <= set(LEVEL_DISTANCES.values())
    assert linkage[-1, 3] == len(words)


@pytest.mark.parametrize("text", TEXTS)
def test_every_cluster_is_a_contiguous_run_of_tokens(any_tokenizer, text):
    linkage, words, _ = _linkage(any_tokenizer, text)
    if len(words) < 2:
        pytest.skip("one token has no clusters")

    for leaves, _ in _clusters(linkage, len(words)):
        assert leaves == list(range(leaves[0], leaves[-1] + 1))

    # Equivalently, the merge distance of two tokens is the largest between neighbours.
    pairwise = cophenet(linkage)
    n = len(words)
    adjacent = [_merge_distance(linkage, n, i, i + 1) for i in range(n - 1)]
    index = 0
    for first in range(n):
        for second in range(first + 1, n):
            assert pairwise[index] == max(adjacent[first:second])
            index += 1


@pytest.mark.parametrize("text", TEXTS)
def test_pieces_of_one_word_merge_before_anything_else(any_tokenizer, text):
    linkage, words, _ = _linkage(any_tokenizer, text)
    piece = LEVEL_DISTANCES["piece"]

    clusters = _clusters(linkage, len(words))
    for leaves, distance in clusters:
        assert (distance == piece) == (len({words[leaf] for leaf in leaves}) == 1)
    for word in set(words):
        leaves = [i for i, w in enumerate(words) if w == word]
        if len(leaves) > 1:
            assert (leaves, piece) in clusters


def test_words_on_either_side_of_a_hard_wrap_stay_separate_words(any_tokenizer):
    text = "the shared library\nfor parsing"
    linkage, words, offsets = _linkage(any_tokenizer, text)

    line_end = _leaf_at(offsets, text.index("\n") - 1)
    line_start = _leaf_at(offsets, text.index("\n") + 1)

    assert words[line_end] != words[line_start]
    distance = _merge_distance(linkage, len(words), line_end, line_start)
    assert distance == LEVEL_DISTANCES["phrase"]


def test_non_ascii_continuation_pieces_stay_in_their_word(wordpiece):
    text = "naïveté"
    linkage, words, offsets = _linkage(wordpiece, text)

    assert len(offsets) > 1 and len(set(words)) == 1
    assert set(linkage[:, 2]) == {LEVEL_DISTANCES["piece"]}


def test_punctuation_sets_the_level_that_joins_two_words(any_tokenizer):
    text = "perl module, python. qt gtk: game\n\nsdl Foo::Bar"
    linkage, words, offsets = _linkage(any_tokenizer, text)

    def distance(left, right):
        first = _leaf_at(offsets, text.index(left))
        second = _leaf_at(offsets, text.index(right))
        return _merge_distance(linkage, len(words), first, second)

    assert distance("perl", "module") == LEVEL_DISTANCES["phrase"]
    assert distance("module", "python") == LEVEL_DISTANCES["sentence"]
    assert distance("python", "qt") == LEVEL_DISTANCES["text"]
    assert distance("gtk", "game") == LEVEL_DISTANCES["sentence"]
    assert distance("game", "sdl") == LEVEL_DISTANCES["text"]
    assert distance("Foo", "Bar") == LEVEL_DISTANCES["run"]


@pytest.mark.parametrize(
    ("word_ids", "offsets", "text"),
    [
        ([], np.zeros((0, 2)), ""),
        ([None, None], [(0, 0), (0, 0)], ""),
        ([None, 0, None], [(0, 0), (0, 3), (0, 0)], "cat"),
    ],
)
def test_zero_or_one_token_gives_an_empty_linkage(word_ids, offsets, text):
    linkage = token_linkage(word_ids, offsets, text)

    assert linkage.shape == (0, 4)


def test_empty_and_blank_texts_from_a_tokenizer(any_tokenizer):
    for text in ("", "   "):
        linkage, words, _ = _linkage(any_tokenizer, text)
        assert linkage.shape == (max(len(words) - 1, 0), 4)


def test_token_linkage_rejects_mismatched_offsets():
    with pytest.raises(ValueError, match=r"offsets must have shape \(2, 2\)"):
        token_linkage([0, 1], [(0, 1)], "ab")


def test_word_ids_from_a_tokenizers_encoding_match_the_batch_encoding(byte_bpe):
    encoding = byte_bpe("hello world")

    assert word_ids_from_encoding(encoding.encodings[0]) == encoding.word_ids()


def test_word_ids_from_encoding_rejects_a_batch_and_other_objects(wordpiece):
    with pytest.raises(ValueError, match="batch of 2"):
        word_ids_from_encoding(wordpiece(["a", "b"]))
    with pytest.raises(TypeError, match="got 'list'"):
        word_ids_from_encoding([0, 1])
