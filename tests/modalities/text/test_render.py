"""Highlights land on the exact characters of the original text, for every tokenizer."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest

from labelshap.modalities.text.render import (
    Span,
    ansi_highlights,
    char_spans,
    html_highlights,
)

TEXTS = {
    "ascii": "A Perl module for parsing files, written in Perl.",
    "accents": "Café naïve résumé: façade über Straße.",
    "cjk": "日本語のテキスト 中文文本处理",
    "emoji": "Chat 😀 client 👍🏽 with 🎉emoji",
    "repeated_spaces": "two  spaces   three    four",
    "hard_wrap": "the library is hard-wrapped\nacross lines.\n\n * an item",
    "markup": "<b>bold</b> & \"quoted\" 'text'",
    "empty": "",
    "whitespace_only": "  \n\t ",
}


def _encode(tokenizer, text):
    encoding = tokenizer(text, return_offsets_mapping=True)
    return np.asarray(encoding["offset_mapping"], dtype=np.int64).reshape(-1, 2)


def _assert_partition(text, spans):
    assert "".join(text[span.start : span.end] for span in spans) == text
    position = 0
    for span in spans:
        assert span.start == position
        assert span.end > span.start
        position = span.end
    assert position == len(text)


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_spans_partition_the_original_text(any_tokenizer, name):
    text = TEXTS[name]
    offsets = _encode(any_tokenizer, text)
    values = np.random.default_rng(0).normal(size=len(offsets))

    spans = char_spans(text, offsets, values)

    _assert_partition(text, spans)


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_span_values_sum_to_feature_values(any_tokenizer, name):
    text = TEXTS[name]
    offsets = _encode(any_tokenizer, text)
    values = np.random.default_rng(1).normal(size=len(offsets))
    special = (offsets[:, 0] == 0) & (offsets[:, 1] == 0)

    spans = char_spans(text, offsets, values)

    assert sum(span.value for span in spans) == pytest.approx(values[~special].sum())
    drawn = sorted(feature for span in spans for feature in span.features)
    assert drawn == np.flatnonzero(~special).tolist()


def test_byte_level_tokens_of_one_emoji_share_one_span(byte_bpe):
    text = "hi 😀 there"
    offsets = _encode(byte_bpe, text)
    emoji_tokens = [i for i, pair in enumerate(offsets.tolist()) if pair == [3, 4]]
    assert len(emoji_tokens) > 1, "the emoji should be split into several byte tokens"

    spans = char_spans(text, offsets, np.arange(len(offsets), dtype=float))

    emoji_span = next(span for span in spans if span.start == 3)
    assert (emoji_span.end, emoji_span.features) == (4, tuple(emoji_tokens))
    assert emoji_span.value == sum(emoji_tokens)


def test_overlapping_features_merge_into_one_span_with_the_sum():
    spans = char_spans("ab😀c", [(0, 2), (2, 3), (2, 3), (2, 4)], [1.0, 2.0, 3.0, 4.0])

    assert spans == [Span(0, 2, 1.0, (0,)), Span(2, 4, 9.0, (1, 2, 3))]


def test_whitespace_between_tokens_is_a_neutral_span():
    spans = char_spans("cat  dog", [(0, 0), (0, 3), (5, 8), (0, 0)], [5.0, 1.0, -2.0, 5.0])

    assert spans == [Span(0, 3, 1.0, (1,)), Span(3, 5, 0.0, ()), Span(5, 8, -2.0, (2,))]


def test_offsets_that_include_a_leading_space_are_trimmed_to_the_word():
    spans = char_spans(" cat dog", [(0, 4), (4, 8)], [1.0, 2.0])

    assert [(span.start, span.end, span.value) for span in spans] == [
        (0, 1, 0.0),
        (1, 4, 1.0),
        (4, 5, 0.0),
        (5, 8, 2.0),
    ]


def test_trimmed_whitespace_token_covers_the_character_before_it():
    spans = char_spans("a  b", [(0, 1), (2, 2), (3, 4)], [1.0, 0.5, 2.0])

    assert [(span.start, span.end, span.value) for span in spans] == [
        (0, 1, 1.0),
        (1, 2, 0.5),
        (2, 3, 0.0),
        (3, 4, 2.0),
    ]


def test_char_spans_rejects_offsets_outside_the_text():
    with pytest.raises(ValueError, match=r"offsets\[1\]=\(2, 9\) is not a range"):
        char_spans("abcd", [(0, 2), (2, 9)], [1.0, 1.0])


def test_char_spans_rejects_a_length_mismatch():
    with pytest.raises(ValueError, match="one \\(start, end\\) pair per feature"):
        char_spans("abcd", [(0, 2)], [1.0, 1.0])


def _html_inputs(tokenizer, text):
    offsets = _encode(tokenizer, text)
    values = np.random.default_rng(2).normal(size=(len(offsets), 2))
    return offsets, values, ["uitoolkit::<qt>", "use::gameplaying"], [0.91, 0.07]


@pytest.mark.parametrize("name", ["markup", "hard_wrap", "emoji", "empty"])
def test_html_is_escaped_and_gives_back_the_text_per_label(any_tokenizer, name):
    text = TEXTS[name]
    offsets, values, labels, scores = _html_inputs(any_tokenizer, text)

    fragment = html_highlights(text, offsets, values, labels, scores)

    assert "<b>bold" not in fragment
    assert "uitoolkit::&lt;qt&gt;" in fragment
    assert fragment.count("0.910") == 1 and fragment.count("0.070") == 1
    texts = re.findall(r'white-space: pre-wrap">(.*?)</span></div>', fragment, flags=re.S)
    assert len(texts) == len(labels)
    for shown in texts:
        assert html.unescape(re.sub(r"<[^>]+>", "", shown)) == text


def test_html_is_self_contained(wordpiece):
    text = TEXTS["ascii"]
    offsets, values, labels, scores = _html_inputs(wordpiece, text)

    page = html_highlights(text, offsets, values, labels, scores, page=True)

    assert page.startswith("<!DOCTYPE html>")
    assert page.rstrip().endswith("</html>")
    for reference in ("<script", "<link", "src=", "href=", "url(", "@import", "http"):
        assert reference not in page
    assert 'title="' in page


def test_html_colours_share_one_symmetric_scale_across_labels():
    text = "good bad"
    offsets = [(0, 4), (5, 8)]
    values = np.array([[2.0, 0.5], [-1.0, -4.0]])

    fragment = html_highlights(text, offsets, values, ["a", "b"], [0.5, 0.5])

    # The largest magnitude (-4 on label b) is full blue; +2 is half-way to red.
    assert fragment.count("rgb(33, 102, 172)") == 1
    assert "rgb(235, 152, 147)" in fragment
    assert 'title="-4"' in fragment and 'title="+2"' in fragment


def test_html_rejects_mismatched_label_names():
    with pytest.raises(ValueError, match="label_names 1 names"):
        html_highlights("ab", [(0, 2)], np.ones((1, 2)), ["only"], [0.5, 0.5])


@pytest.mark.parametrize("name", ["ascii", "hard_wrap", "cjk"])
def test_ansi_output_strips_back_to_the_text(any_tokenizer, name):
    text = TEXTS[name]
    offsets, values, labels, scores = _html_inputs(any_tokenizer, text)

    shown = ansi_highlights(text, offsets, values, labels, scores)

    plain = re.sub(r"\x1b\[[0-9;]*m", "", shown)
    assert plain == "\n\n".join(
        f"{label} (score {score:.3f}): {text}" for label, score in zip(labels, scores, strict=True)
    )
    assert "\x1b[48;2;" in shown
    for line in shown.split("\n"):
        assert line.count("\x1b[48;2;") == line.count("\x1b[0m")
