"""``labelshap explain text`` end to end, on a tag model trained for seconds in the test."""

from __future__ import annotations

import json

import numpy as np
import pytest

from labelshap.cli import main
from labelshap.explanation import load_explanation

LABELS = ["python", "perl", "game"]
FILLER = "a small tool library for the desktop with files and data to read write".split()


def synthetic_corpus(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Sentences of filler words; a label's keyword appears exactly when it holds."""
    rng = np.random.default_rng(seed)
    texts, targets = [], np.zeros((n, len(LABELS)), dtype=np.float32)
    for row in range(n):
        words = list(rng.choice(FILLER, size=6))
        for column, keyword in enumerate(LABELS):
            if rng.random() < 0.4:
                words.insert(int(rng.integers(0, len(words))), keyword)
                targets[row, column] = 1.0
        texts.append(" ".join(words))
    return texts, targets


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Model, labels and tokenizer saved as ``labelshap demo text`` writes them."""
    import keras

    from labelshap.modalities.text import build_text_model, train_wordpiece
    from labelshap.modalities.text.model import encode_texts

    texts, targets = synthetic_corpus(300, seed=0)
    tokenizer = train_wordpiece(texts, vocab_size=120)
    keras.utils.set_random_seed(0)
    model = build_text_model(len(tokenizer), len(LABELS), 16, embedding_dim=8, filters=16)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    model.fit(encode_texts(tokenizer, texts, 16), targets, epochs=8, batch_size=32, verbose=0)

    folder = tmp_path_factory.mktemp("text-model")
    model.save(folder / "model.keras")
    (folder / "labels.txt").write_text("\n".join(LABELS) + "\n")
    tokenizer.save_pretrained(str(folder / "tokenizer"))
    return folder


def explain_args(folder, out, *extra):
    return [
        "explain",
        "text",
        "--model",
        str(folder / "model.keras"),
        "--labels",
        str(folder / "labels.txt"),
        "--tokenizer",
        str(folder / "tokenizer"),
        "--out",
        str(out),
        "--max-evals",
        "100",
        *extra,
    ]


def test_explain_text_prints_highlights_and_writes_the_page_and_result(trained, tmp_path, capsys):
    texts = ["a python tool for the desktop", "perl data library with a game"]

    status = main(explain_args(trained, tmp_path, "--top-k", "2", *texts))

    assert status == 0
    result = load_explanation(tmp_path)
    assert type(result).__name__ == "TextExplanation"
    assert [result.text(row) for row in range(2)] == texts
    assert result.selected.sum(axis=1).tolist() == [2, 2]
    gap = result.scores - result.base_values
    np.testing.assert_allclose(result.values.sum(axis=1), gap, atol=1e-4)
    page = (tmp_path / "highlights.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "desktop" in page
    assert "text-0" in page and "text-1" in page  # each text headed by its id
    printed = capsys.readouterr().out
    assert "[text-0] a python tool for the desktop" in printed
    assert "python (score" in printed and "\x1b[" not in printed


def test_the_trained_keyword_leads_its_label(trained, tmp_path, capsys):
    status = main(explain_args(trained, tmp_path, "--label", "python", "files and python data"))

    assert status == 0
    result = load_explanation(tmp_path)
    best = max(result.word_values(0, "python"), key=lambda word: word.value)
    assert best.text == "python"


def test_explain_text_reads_jsonl_and_plain_files(trained, tmp_path, capsys):
    jsonl = tmp_path / "texts.jsonl"
    jsonl.write_text(
        json.dumps({"text": "a game\nover two lines"}) + "\n\n" + json.dumps({"text": "perl"}),
        encoding="utf-8",
    )
    plain = tmp_path / "texts.txt"
    plain.write_text("a python tool\n\nread perl files\n", encoding="utf-8")

    assert main(explain_args(trained, tmp_path / "a", "--file", str(jsonl))) == 0
    assert (
        main(explain_args(trained, tmp_path / "b", "--file", str(plain), "--color", "always")) == 0
    )

    from_jsonl = load_explanation(tmp_path / "a")
    from_plain = load_explanation(tmp_path / "b")
    assert [from_jsonl.text(row) for row in range(2)] == ["a game\nover two lines", "perl"]
    assert [from_plain.text(row) for row in range(2)] == ["a python tool", "read perl files"]
    assert "\x1b[48;2;" in capsys.readouterr().out


def test_explain_text_refuses_texts_given_twice(trained, tmp_path, capsys):
    jsonl = tmp_path / "texts.jsonl"
    jsonl.write_text('{"text": "perl"}\n', encoding="utf-8")

    status = main(explain_args(trained, tmp_path / "out", "--file", str(jsonl), "a text"))

    assert status == 2
    assert "either as TEXT arguments or with --file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"body": "no text"}', 'line 2 has no string field "text"'),
        ("not json", "line 2 is not JSON"),
        ("[1, 2]", "line 2 holds a JSON list"),
    ],
)
def test_an_unreadable_line_fails_alone(trained, tmp_path, capsys, bad_line, message):
    jsonl = tmp_path / "texts.jsonl"
    jsonl.write_text(f'{{"text": "perl"}}\n{bad_line}\n{{"text": "python"}}\n', encoding="utf-8")

    status = main(explain_args(trained, tmp_path / "out", "--file", str(jsonl)))

    assert status == 1
    captured = capsys.readouterr()
    assert message in captured.err
    assert "2 explained, 0 already done, 1 failed" in captured.out
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [record["id"] for record in manifest["failures"]] == ["line-2"]
    assert message in manifest["failures"][0]["error"]
    assert [load_explanation(tmp_path / "out").text(row) for row in range(2)] == ["perl", "python"]


def test_a_job_stopped_before_its_page_writes_it_over_every_text_when_resumed(
    trained, tmp_path, monkeypatch
):
    from labelshap.modalities.text.explanation import TextExplanation

    texts = ["a python tool for the desktop", "perl data library", "a game to read"]
    args = explain_args(trained, tmp_path, "--chunk-size", "1", "--no-report", *texts)

    def killed(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(TextExplanation, "save_html", killed)
    with pytest.raises(RuntimeError, match="killed"):
        main(args)
    monkeypatch.undo()
    assert not (tmp_path / "highlights.html").exists()

    assert main(args) == 0

    page = (tmp_path / "highlights.html").read_text(encoding="utf-8")
    assert page.count('<section style="margin: 0 0 1.6em 0">') == len(texts)
