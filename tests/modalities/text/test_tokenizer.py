"""Offline tokenizers: special ids, save and reload through AutoTokenizer with no network."""

from __future__ import annotations

import socket

import pytest

from labelshap.modalities.text.tokenizer import (
    BYTE_LEVEL_SPECIAL_TOKENS,
    WORDPIECE_SPECIAL_TOKENS,
    load_tokenizer,
    train_byte_level_bpe,
    train_wordpiece,
)

SAMPLES = (
    "Python bindings for the GTK toolkit; write graphical applications.",
    "Café naïve 日本語 😀 emoji\nwrapped line  with  spaces",
    "",
)


@pytest.fixture
def no_network(monkeypatch):
    """Fail any attempt to open a network connection."""

    def refuse(*args, **kwargs):
        raise OSError("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_wordpiece_numbers_special_tokens_first(wordpiece):
    vocab = wordpiece.get_vocab()

    assert [vocab[token] for token in WORDPIECE_SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert wordpiece.pad_token_id == 0 and wordpiece.mask_token == "[MASK]"
    others = sorted(vocab, key=vocab.get)[len(WORDPIECE_SPECIAL_TOKENS) :]
    assert others == sorted(others)


def test_wordpiece_wraps_text_in_cls_and_sep(wordpiece):
    encoding = wordpiece("gtk toolkit")

    assert encoding.tokens()[0] == "[CLS]" and encoding.tokens()[-1] == "[SEP]"
    assert encoding.word_ids()[0] is None and encoding.word_ids()[-1] is None


def test_wordpiece_lowercases_only_when_asked(corpus, wordpiece):
    cased = train_wordpiece(corpus, vocab_size=300, lowercase=False)

    assert cased.tokenize("Python Café")[0].startswith("P")
    assert "é" in "".join(cased.tokenize("Python Café"))
    assert wordpiece.tokenize("Python Café")[0].startswith("p")
    assert "é" not in "".join(wordpiece.tokenize("Python Café"))


def test_byte_level_bpe_has_pad_zero_and_a_mask_token(byte_bpe):
    vocab = byte_bpe.get_vocab()

    assert [vocab[token] for token in BYTE_LEVEL_SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert byte_bpe.mask_token == "<mask>" and byte_bpe.mask_token_id == 4
    assert byte_bpe.unk_token_id not in byte_bpe("日本語 😀")["input_ids"]


@pytest.mark.parametrize("name", ["wordpiece", "byte_bpe", "byte_bpe_untrimmed"])
def test_saved_tokenizer_reloads_offline_through_autotokenizer(request, tmp_path, no_network, name):
    from transformers import AutoTokenizer

    tokenizer = request.getfixturevalue(name)
    tokenizer.save_pretrained(str(tmp_path))

    reloaded = AutoTokenizer.from_pretrained(str(tmp_path), local_files_only=True)
    via_helper = load_tokenizer(tmp_path)

    assert reloaded.is_fast and via_helper.is_fast
    assert reloaded.all_special_tokens == tokenizer.all_special_tokens
    assert reloaded.mask_token_id == tokenizer.mask_token_id and reloaded.pad_token_id == 0
    for text in SAMPLES:
        expected = tokenizer(text, return_offsets_mapping=True)
        for loaded in (reloaded, via_helper):
            got = loaded(text, return_offsets_mapping=True)
            assert got["input_ids"] == expected["input_ids"]
            assert got["offset_mapping"] == expected["offset_mapping"]
            assert got.word_ids() == expected.word_ids()


def test_model_max_length_sets_truncation(corpus):
    tokenizer = train_wordpiece(corpus, vocab_size=300, model_max_length=8)

    ids = tokenizer(" ".join(corpus), truncation=True)["input_ids"]

    assert len(ids) == 8 and ids[-1] == tokenizer.sep_token_id


@pytest.mark.parametrize(
    ("trainer", "options", "message"),
    [
        (train_wordpiece, {"vocab_size": 3}, "vocab_size must be at least 6, got 3"),
        (train_wordpiece, {"vocab_size": 12.5}, "vocab_size must be an integer"),
        (train_byte_level_bpe, {"vocab_size": 100}, "vocab_size must be at least 261"),
        (train_byte_level_bpe, {"min_frequency": 0}, "min_frequency must be a positive"),
    ],
)
def test_trainers_reject_bad_sizes(trainer, options, message):
    with pytest.raises(ValueError, match=message):
        trainer(["a b c"], **options)


def test_load_tokenizer_names_a_folder_without_tokenizer_json(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no tokenizer.json"):
        load_tokenizer(tmp_path)
