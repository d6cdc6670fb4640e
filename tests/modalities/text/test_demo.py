"""The text demo's pieces: the cue rank and hit rate, and where its data comes from."""

from __future__ import annotations

import numpy as np
import pytest

from labelshap.modalities.text import demo
from labelshap.modalities.text.data import Document, load_debtags
from labelshap.modalities.text.demo import cue_hit_rate, cue_rank
from labelshap.modalities.text.explanation import TextExplanation, WordValue


def words(*pairs):
    return [WordValue(text, 0, len(text), value) for text, value in pairs]


@pytest.mark.parametrize(
    ("pairs", "cues", "rank"),
    [
        ((("Perl", 0.5), ("module", 0.2)), ["perl"], 1),
        ((("a", 0.3), ("b", 0.2), ("perl", 0.1)), ["perl"], 3),
        ((("a", 0.3), ("b", 0.2), ("c", 0.15), ("perl", 0.1)), ["perl"], 4),
        # A word tied with the cue ranks above it: the cue takes the worst rank of the tie.
        ((("a", 0.1), ("b", 0.1), ("c", 0.1), ("perl", 0.1)), ["perl"], 4),
        # Other occurrences of a cue word do not push the cue down.
        ((("perl", 0.1), ("Perl", 0.3), ("perl", 0.2), ("x", 0.05)), ["perl"], 1),
        ((("GNOME", 0.2), ("gtk", 0.1), ("x", 0.15)), ["gtk", "gnome"], 1),
        # A cue that lowered the score is not among the positively attributed words.
        ((("perl", -0.1), ("x", -0.2)), ["perl"], float("inf")),
        ((("perl", 0.0), ("x", -0.2)), ["perl"], float("inf")),
    ],
)
def test_cue_rank(pairs, cues, rank):
    assert cue_rank(words(*pairs), cues) == rank


def test_cue_rank_is_nan_without_the_cue():
    assert np.isnan(cue_rank(words(("python", 0.5)), ["perl"]))


def make_explanation(texts, offsets, values, labels):
    """A TextExplanation built by hand: one word per feature."""
    n, width, n_labels = values.shape
    padded = np.full((n, width, 2), -1)
    word_ids = np.full((n, width), -1)
    for row, spans in enumerate(offsets):
        padded[row, : len(spans)] = spans
        word_ids[row, : len(spans)] = np.arange(len(spans))
    return TextExplanation(
        values=values,
        base_values=np.zeros((n, n_labels)),
        scores=values.sum(axis=1),
        label_names=labels,
        feature_names=[[texts[r][s:e] for s, e in offsets[r]] for r in range(n)],
        selected=np.ones((n, n_labels), dtype=bool),
        data=np.array(texts),
        feature_data=np.zeros((n, width)),
        extras={
            "offsets": padded,
            "word_ids": word_ids,
            "explained_range": np.array([[0, len(t)] for t in texts]),
            "windows": np.array([[[0, len(t)]] for t in texts]),
        },
    )


def test_cue_hit_rate_counts_pairs_per_label():
    labels = ["implemented-in::perl", "use::gameplaying"]
    texts = ["perl game tool x", "a b c perl", "game on"]
    offsets = [[(0, 4), (5, 9), (10, 14), (15, 16)], [(0, 1), (2, 3), (4, 5), (6, 10)]]
    offsets.append([(0, 4), (5, 7)])
    values = np.zeros((3, 4, 2))
    values[0, :, 0] = [0.1, 0.3, 0.2, 0.4]  # perl ranks 4: miss
    values[0, :, 1] = [0.0, 0.5, 0.1, 0.0]  # game ranks 1: hit
    values[1, :, 0] = [0.3, 0.2, 0.1, 0.2]  # perl tied with b: rank 3, hit
    values[2, :2, 1] = [-0.1, 0.2]  # game lowered the score: miss
    explanation = make_explanation(texts, offsets, values, labels)
    cue_labels = [labels, ["implemented-in::perl", "use::gameplaying"], ["use::gameplaying"]]

    rates = cue_hit_rate(explanation, cue_labels)

    assert rates["per_label"]["implemented-in::perl"] == 0.5
    assert rates["per_label"]["use::gameplaying"] == 0.5
    assert rates["per_label"]["uitoolkit::qt"] is None
    assert rates["documents_per_label"]["use::gameplaying"] == 2
    assert rates["unscored"] == 1  # text 1 carries the game label without the word
    assert rates["rate"] == 0.5 and rates["documents"] == 4


def test_demo_data_falls_back_to_the_apt_lists(monkeypatch, tmp_path):
    def missing(name):
        raise FileNotFoundError(name)

    documents = [
        Document("python3-foo", "python", "Foo for Python", "Long.\n\nText.", ("a::b",)),
        Document("perl-bar", "perl", "Bar for Perl", "", ("c::d", "e::f"), "none"),
    ]
    monkeypatch.setenv("LABELSHAP_CACHE", str(tmp_path))
    monkeypatch.setattr(demo, "shared_data_file", missing)
    monkeypatch.setattr(demo, "load_apt_lists", lambda: documents)

    source, path = demo.demo_data()

    assert source.startswith("apt lists") and "2 tagged packages" in source
    loaded = load_debtags(path)
    assert [(d.package, d.text, d.tags) for d in loaded] == [
        (d.package, d.text, d.tags) for d in documents
    ]
    first = path.read_bytes()
    demo.demo_data()
    assert path.read_bytes() == first  # the same bytes, so the model cache key is stable


def test_demo_data_prefers_the_shared_file(monkeypatch, tmp_path):
    shared = tmp_path / "debtags.jsonl.gz"
    shared.write_bytes(b"")
    monkeypatch.setattr(demo, "shared_data_file", lambda name: shared)

    source, path = demo.demo_data()

    assert path == shared and source == f"shared file {shared}"


def test_the_demo_texts_file_reads_back_through_the_command_line(tmp_path):
    # The demo writes its descriptions for `labelshap explain text --file`: every text
    # comes back unchanged (line breaks and non-ASCII included) under its id.
    from labelshap.modalities.text.cli import _text_sources
    from labelshap.modalities.text.demo import _unique, save_texts

    texts = ["Python bindings for GTK", "two\nlines, «quoted»", "emoji 🐍 and tabs\there"]
    ids = _unique(["python-gi", "tool", "python-gi"])
    path = save_texts(ids, texts, tmp_path / "descriptions.jsonl")

    assert ids == ["python-gi", "tool", "python-gi-2"]
    assert list(_text_sources([], path)) == list(zip(ids, texts, strict=True))
    with pytest.raises(ValueError, match=r"ids must be unique .*repeated: \['a'\]"):
        save_texts(["a", "a"], texts[:2], tmp_path / "bad.jsonl")
