"""The text classifier: masked padding, masking augmentation, encoding and the cache round trip.

The real model is never trained here; the round trip uses a tiny synthetic table.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from labelshap.modalities.text import model as text_model  # noqa: E402
from labelshap.modalities.text.model import (  # noqa: E402
    TextModelConfig,
    build_text_model,
    encode_texts,
    train_text_model,
)


def test_build_text_model_has_the_documented_interface():
    model = build_text_model(50, 3, 12)

    assert model.inputs[0].name == "token_ids"
    assert model.inputs[0].dtype == "int32"
    assert tuple(model.inputs[0].shape) == (None, 12)
    assert tuple(model.outputs[0].shape) == (None, 3)
    scores = model.predict_on_batch(np.zeros((2, 12), dtype=np.int32) + 7)
    assert np.all((scores > 0) & (scores < 1))


def test_padding_does_not_change_the_scores():
    keras.utils.set_random_seed(0)
    short = build_text_model(40, 2, 10, embedding_dim=4, filters=6, kernel_sizes=(3, 5))
    long = build_text_model(40, 2, 25, embedding_dim=4, filters=6, kernel_sizes=(3, 5))
    long.set_weights(short.get_weights())
    token_ids = np.array([[2, 11, 12, 13, 14, 3]], dtype=np.int32)

    padded_short = np.pad(token_ids, ((0, 0), (0, 4)))
    padded_long = np.pad(token_ids, ((0, 0), (0, 19)))

    np.testing.assert_allclose(
        short.predict_on_batch(padded_short), long.predict_on_batch(padded_long), atol=1e-6
    )


def test_build_text_model_rejects_bad_sizes():
    with pytest.raises(ValueError, match="filters must be a positive integer, got 0"):
        build_text_model(10, 2, filters=0)
    with pytest.raises(ValueError, match=r"dropout must lie in \[0, 1\), got 1.0"):
        build_text_model(10, 2, dropout=1.0)


def test_masking_never_hides_special_tokens_and_is_seeded():
    token_ids = np.tile(
        np.array([2, 10, 11, 12, 13, 14, 15, 16, 3, 0, 0], dtype=np.int32), (400, 1)
    )

    masked = text_model._mask_randomly(token_ids, np.random.default_rng(0), 0.5, 4, [0, 2, 3, 4])
    again = text_model._mask_randomly(token_ids, np.random.default_rng(0), 0.5, 4, [0, 2, 3, 4])

    assert np.array_equal(masked, again) and masked.dtype == np.int32
    hidden = masked != token_ids
    assert not hidden[:, [0, 8, 9, 10]].any()
    assert np.all(masked[hidden] == 4)
    assert 0.2 < hidden[:, 1:8].mean() < 0.3  # rates drawn from [0, 0.5]: mean 0.25


def test_encode_texts_pads_with_zero_and_truncates(wordpiece):
    texts = ["gtk toolkit", "python " * 40]

    token_ids = encode_texts(wordpiece, texts, 12)

    assert token_ids.shape == (2, 12) and token_ids.dtype == np.int32
    assert token_ids[0, 0] == wordpiece.cls_token_id
    assert token_ids[0, -1] == 0
    assert token_ids[1, -1] == wordpiece.sep_token_id
    expected = wordpiece("gtk toolkit")["input_ids"]
    assert token_ids[0, : len(expected)].tolist() == expected


def _write_tiny_table(path, corpus):
    tags = {"perl": "implemented-in::perl", "python": "implemented-in::python"}
    with gzip.open(path, "wt") as handle:
        for index, sentence in enumerate(corpus):
            found = [tag for word, tag in tags.items() if word in sentence.lower()]
            record = {
                "package": f"pkg{index}",
                "section": "misc",
                "summary": sentence.split(".")[0],
                "description": f"{sentence} (copy {index})",
                "tags": found or ["role::program"],
            }
            handle.write(json.dumps(record) + "\n")


def test_trained_model_is_cached_and_reloaded(tmp_path, corpus, monkeypatch):
    data_path = tmp_path / "tiny.jsonl.gz"
    _write_tiny_table(data_path, corpus * 2)
    config = TextModelConfig(
        n_labels=3,
        min_tag_count=2,
        vocab_size=300,
        max_length=24,
        embedding_dim=4,
        filters=4,
        dense_units=4,
        epochs=1,
        test_fraction=0.3,
        validation_fraction=0.3,
    )

    trained = train_text_model(config=config, data_path=data_path)
    monkeypatch.setattr(text_model, "_train", lambda *args: pytest.fail("retrained"))
    cached = train_text_model(config=config, data_path=data_path)

    assert trained.path == cached.path and trained.path is not None
    assert {p.name for p in cached.path.iterdir()} == {
        "model.keras",
        "tokenizer",
        "labels.txt",
        "metrics.json",
    }
    assert cached.label_names == trained.label_names
    assert "implemented-in::perl" in cached.label_names
    assert set(trained.metrics) >= {"micro_roc_auc", "macro_roc_auc", "f1_per_label"}
    assert cached.n_train + cached.metrics["n_validation"] + cached.n_test == len(corpus) * 2
    texts = ["A Perl module", "Python bindings"]
    np.testing.assert_array_equal(trained.encode(texts), cached.encode(texts))
    np.testing.assert_allclose(
        trained.model.predict_on_batch(trained.encode(texts)),
        cached.model.predict_on_batch(cached.encode(texts)),
        atol=1e-6,
    )
