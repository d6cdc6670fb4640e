"""Text adapter: a token masker for Hugging Face fast tokenizers and per-label highlights.

Importing this package loads neither TensorFlow nor transformers: the masker imports
them when it is used, and the Keras parts (the demo model, the demo) load on first
access.
"""

from __future__ import annotations

import importlib
from typing import Any

from .data import CUE_TAGS, Document, choose_tags, load_apt_lists, load_debtags
from .explanation import TextExplanation, WordValue
from .hierarchy import token_linkage, word_ids_from_encoding
from .masker import HIDE_MODES, LONG_TEXT_MODES, MODEL_INPUTS, TextMasker
from .render import ansi_highlights, char_spans, html_highlights
from .tokenizer import load_tokenizer, train_byte_level_bpe, train_wordpiece

__all__ = [
    "CUE_TAGS",
    "HIDE_MODES",
    "LONG_TEXT_MODES",
    "MODEL_INPUTS",
    "Document",
    "TextExplanation",
    "TextMasker",
    "WordValue",
    "ansi_highlights",
    "build_text_model",
    "char_spans",
    "choose_tags",
    "cue_hit_rate",
    "html_highlights",
    "load_apt_lists",
    "load_debtags",
    "load_tokenizer",
    "run_demo",
    "token_linkage",
    "train_byte_level_bpe",
    "train_text_model",
    "train_wordpiece",
    "word_ids_from_encoding",
]

# Names whose modules import Keras, loaded on first access.
_LAZY = {
    "build_text_model": ".model",
    "train_text_model": ".model",
    "run_demo": ".demo",
    "cue_hit_rate": ".demo",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
