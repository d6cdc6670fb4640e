"""Small offline tokenizers for the text tests, trained once per session on an in-test corpus."""

from __future__ import annotations

import pytest

SENTENCES = (
    "A Perl module for parsing configuration files, written in pure Perl.",
    "Python bindings for the GTK toolkit; write graphical applications in Python.",
    "Qt widgets for plotting scientific data: curves, histograms and spectrograms.",
    "A fast real-time strategy game of ancient warfare with networked gameplay.",
    "This package contains the development files and the shared library.",
    "Command-line utility to convert text between character encodings.",
    "Café naïve résumé façade jalapeño Straße über coöperate.",
    "日本語のテキストを処理するライブラリ。中文文本处理。",
    "Emoji support 😀 🎉 👍🏽 for chat clients and terminals.",
    "The library is hard-wrapped\nacross lines, as Debian descriptions are.\n\n"
    " * first item\n * second item",
    "Documentation in HTML format for the library and its examples.",
    "An ncurses interface to browse audio files and play them.",
)


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    """The training texts, repeated so that merges pass the frequency floor."""
    return list(SENTENCES) * 3


@pytest.fixture(scope="session")
def wordpiece(corpus):
    """A lower-casing WordPiece tokenizer with a small vocabulary."""
    from labelshap.modalities.text.tokenizer import train_wordpiece

    return train_wordpiece(corpus, vocab_size=400, min_frequency=2)


@pytest.fixture(scope="session")
def byte_bpe(corpus):
    """A byte-level BPE tokenizer whose offsets leave out the leading space."""
    from labelshap.modalities.text.tokenizer import train_byte_level_bpe

    return train_byte_level_bpe(corpus, vocab_size=400)


@pytest.fixture(scope="session")
def byte_bpe_untrimmed(corpus):
    """A byte-level BPE tokenizer whose offsets include the leading space."""
    from labelshap.modalities.text.tokenizer import train_byte_level_bpe

    return train_byte_level_bpe(corpus, vocab_size=400, trim_offsets=False)


@pytest.fixture(params=["wordpiece", "byte_bpe", "byte_bpe_untrimmed"])
def any_tokenizer(request):
    """Each of the three tokenizers in turn."""
    return request.getfixturevalue(request.param)
