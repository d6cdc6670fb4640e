"""Text explanations: highlights give back the exact characters, additivity, shap, saving."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest
import shap

from labelshap import Explainer, LabelModel, load_explanation
from labelshap.modalities.text import TextExplanation, TextMasker, char_spans

LENGTH = 48
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
NAMES = sorted(TEXTS)


@pytest.fixture(scope="module", params=["wordpiece", "byte_bpe"])
def explained(request, text_model_factory):
    """Every text of TEXTS explained for 4 labels, under a WordPiece or byte-level BPE."""
    tokenizer = request.getfixturevalue(request.param)
    model = LabelModel(text_model_factory(len(tokenizer), LENGTH, seed=4), ["a", "b", "c", "d"])
    explainer = Explainer(model, TextMasker(tokenizer), max_evals=300, seed=3)
    return explainer.explain([TEXTS[name] for name in NAMES])


def shown_texts(fragment: str) -> list[str]:
    """The text of each label line of an HTML highlight, tags stripped and unescaped."""
    lines = re.findall(r'white-space: pre-wrap">(.*?)</span></div>', fragment, flags=re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", line)) for line in lines]


def test_the_result_is_a_text_explanation_holding_the_texts(explained):
    assert isinstance(explained, TextExplanation)
    assert [explained.text(row) for row in range(len(explained))] == [TEXTS[n] for n in NAMES]


@pytest.mark.parametrize("name", NAMES)
def test_html_highlights_give_back_the_exact_characters_per_label(explained, name):
    row = NAMES.index(name)

    fragment = explained.html(row, page=False)

    assert shown_texts(fragment) == [TEXTS[name]] * len(explained.shown_labels(row))


@pytest.mark.parametrize("name", NAMES)
def test_spans_partition_the_text_and_keep_every_value(explained, name):
    row = NAMES.index(name)
    count = explained.n_features[row]
    offsets = explained.extras["offsets"][row, :count]

    for column in range(len(explained.label_names)):
        values = explained.values[row, :count, column]
        spans = char_spans(TEXTS[name], offsets, values)
        assert "".join(TEXTS[name][s.start : s.end] for s in spans) == TEXTS[name]
        assert sum(span.value for span in spans) == pytest.approx(values.sum(), abs=1e-12)


def test_values_sum_to_the_score_gap_for_every_label(explained):
    gap = explained.scores - explained.base_values
    np.testing.assert_allclose(explained.values.sum(axis=1), gap, atol=1e-4)
    assert np.abs(gap).max() > 1e-3


def test_blank_texts_have_no_features(explained):
    for name in ("empty", "whitespace_only"):
        row = NAMES.index(name)
        assert explained.n_features[row] == 0
        assert explained.display_pieces(row) == []
        np.testing.assert_allclose(explained.base_values[row], explained.scores[row])


@pytest.mark.parametrize("name", NAMES)
def test_word_values_are_sums_of_their_pieces(explained, name):
    row = NAMES.index(name)
    count = explained.n_features[row]

    words = explained.word_values(row, "b")

    assert sum(word.value for word in words) == pytest.approx(
        explained.label_values("b")[row, :count].sum(), abs=1e-12
    )
    for word in words:
        assert word.text == TEXTS[name][word.start : word.end]
        assert word.text.strip() == word.text and word.text
    assert [word.start for word in words] == sorted(word.start for word in words)


def test_a_word_of_several_pieces_gets_their_sum(explained):
    row = NAMES.index("emoji")
    words = explained.extras["word_ids"][row, : explained.n_features[row]]
    values = explained.label_values("a")[row, : explained.n_features[row]]
    pieces_of = {word: np.flatnonzero(words == word) for word in np.unique(words)}
    split = [word for word, pieces in pieces_of.items() if len(pieces) > 1]
    if not split:
        pytest.skip("this tokenizer kept every word of the text whole")

    by_start = {word.start: word.value for word in explained.word_values(row, "a")}
    for word in split:
        start = explained.extras["offsets"][row, pieces_of[word], 0].min()
        assert by_start[start] == pytest.approx(values[pieces_of[word]].sum())


@pytest.mark.parametrize("name", NAMES)
def test_shap_text_plot_shows_each_character_once(explained, name):
    row = NAMES.index(name)
    if explained.n_features[row] == 0:
        pytest.skip("a text without features has nothing for shap to draw")
    one = explained["c"][row]

    page = shap.plots.text(one.to_shap(), display=False)

    tokens = re.findall(r'onmouseout="[^"]*"\s*>(.*?)</div></div>', page, flags=re.S)
    assert "".join(html.unescape(token) for token in tokens) == TEXTS[name]
    assert "".join(one.display_pieces(0)) == TEXTS[name]


def test_to_shap_keeps_every_token_its_value_for_several_texts_and_labels(explained):
    rows = [NAMES.index(name) for name in ("ascii", "emoji", "cjk")]
    several = explained[rows]

    shap_values = several.to_shap()
    page = shap.plots.text(shap_values, display=False)

    assert isinstance(page, str) and page
    for position, row in enumerate(rows):
        values = np.asarray(shap_values.values[position], dtype=float)
        np.testing.assert_allclose(values, explained.values[row, : explained.n_features[row]])
        assert "".join(shap_values.data[position]) == explained.text(row)
        assert list(shap_values.feature_names[position]) == explained.feature_names[row]


def test_terminal_highlights_strip_back_to_the_text(explained):
    row = NAMES.index("hard_wrap")

    shown = explained.ansi(row, labels=["a", "d"])

    plain = re.sub(r"\x1b\[[0-9;]*m", "", shown)
    scores = explained.scores[row]
    assert plain == (
        f"a (score {scores[0]:.3f}): {TEXTS['hard_wrap']}\n\n"
        f"d (score {scores[3]:.3f}): {TEXTS['hard_wrap']}"
    )


def test_a_saved_explanation_loads_back_with_its_texts(explained, tmp_path):
    explained.save(tmp_path / "result")

    loaded = load_explanation(tmp_path / "result")

    assert isinstance(loaded, TextExplanation)
    assert loaded.html(page=True) == explained.html(page=True)
    np.testing.assert_array_equal(loaded.values, explained.values)
    assert [loaded.text(r) for r in range(len(loaded))] == [TEXTS[n] for n in NAMES]


def test_save_html_writes_one_self_contained_page(explained, tmp_path):
    path = explained.save_html(
        tmp_path / "page.html", [0, 1], [["a"], ["b", "c"]], titles=["first", "second"]
    )

    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for reference in ("<script", "<link", "src=", "href=", "http"):
        assert reference not in page
    assert page.count("<section") == 2 and "first" in page and "second" in page
    assert len(shown_texts(page)) == 3


def test_html_refuses_label_lists_of_the_wrong_length(explained):
    with pytest.raises(ValueError, match="labels has 1 entries for 2 texts"):
        explained.html([0, 1], [["a"]])


def test_a_truncated_text_says_which_characters_were_explained(wordpiece, text_model_factory):
    model = LabelModel(text_model_factory(len(wordpiece), 8), ["a", "b", "c", "d"])
    text = TEXTS["ascii"] + " " + TEXTS["hard_wrap"]

    with pytest.warns(UserWarning, match="longer than the model's 8 tokens"):
        result = Explainer(model, TextMasker(wordpiece), max_evals=100).explain(text)

    end = int(result.extras["explained_range"][0, 1])
    assert 0 < end < len(text)
    assert f"characters 0-{end} of {len(text)} explained" in result.html(0)
    assert shown_texts(result.html(0, page=False))[0] == text
    assert "".join(result.display_pieces(0)) == text[:end]
