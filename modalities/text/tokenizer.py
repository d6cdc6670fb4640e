"""Offline sub-word tokenizers, trained with ``tokenizers`` and wrapped for ``transformers``."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

__all__ = [
    "BYTE_LEVEL_SPECIAL_TOKENS",
    "WORDPIECE_SPECIAL_TOKENS",
    "load_tokenizer",
    "train_byte_level_bpe",
    "train_wordpiece",
]

logger = logging.getLogger(__name__)

#: WordPiece special tokens, in id order: ``[PAD]`` is id 0.
WORDPIECE_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

#: Byte-level BPE special tokens (RoBERTa's names), in id order: ``<pad>`` is id 0.
BYTE_LEVEL_SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>", "<mask>")

_INSTALL_HINT = "pip install transformers tokenizers"


def train_wordpiece(
    texts: Iterable[str],
    *,
    vocab_size: int = 12000,
    lowercase: bool = True,
    min_frequency: int = 2,
    model_max_length: int | None = None,
) -> PreTrainedTokenizerFast:
    """Train a BERT-style WordPiece tokenizer on ``texts``, offline.

    BERT's normaliser (lower-casing and accent stripping when ``lowercase``, CJK characters
    split apart) and pre-tokeniser (whitespace and punctuation), the special tokens of
    :data:`WORDPIECE_SPECIAL_TOKENS` (``[PAD]`` id 0) and a post-processor that wraps each
    text as ``[CLS] ... [SEP]``.

    Args:
        texts: Training texts (any iterable; read once).
        vocab_size: Size of the vocabulary, special tokens and alphabet included.
        lowercase: Lower-case and strip accents before splitting.
        min_frequency: Fewest occurrences a merge needs.
        model_max_length: Length that ``truncation=True`` cuts to; None leaves it unset.

    Returns:
        A fast tokenizer; ``save_pretrained(dir)`` writes it and :func:`load_tokenizer`
        (or ``AutoTokenizer.from_pretrained(dir)``) reads it back without a network.

    Raises:
        ImportError: If ``tokenizers`` or ``transformers`` is missing.
        ValueError: If ``vocab_size`` or ``min_frequency`` is out of range.

    Notes:
        The ``tokenizers`` trainer breaks count ties in hash-map order, so two trainings on
        the same texts can differ in a few tokens (huggingface/tokenizers issue 1794). The
        ids are renumbered here (special tokens, then the rest by spelling), so equal token
        sets always give equal ids; keep a trained tokenizer with the model that uses it.
    """
    _check_sizes(vocab_size, min_frequency, smallest_vocab=len(WORDPIECE_SPECIAL_TOKENS) + 1)
    tokenizers = _import_tokenizers()
    from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers

    # Train on the texts.
    unk = WORDPIECE_SPECIAL_TOKENS[1]
    normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=lowercase)
    trained = tokenizers.Tokenizer(models.WordPiece(unk_token=unk))
    trained.normalizer = normalizer
    trained.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(WORDPIECE_SPECIAL_TOKENS),
        show_progress=False,
    )
    trained.train_from_iterator(texts, trainer)

    # Rebuild with a deterministic numbering of the learnt vocabulary.
    vocab = _renumbered(trained.get_vocab(), WORDPIECE_SPECIAL_TOKENS)
    tokenizer = tokenizers.Tokenizer(models.WordPiece(vocab=vocab, unk_token=unk))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    tokenizer.add_special_tokens(list(WORDPIECE_SPECIAL_TOKENS))
    cls, sep = WORDPIECE_SPECIAL_TOKENS[2], WORDPIECE_SPECIAL_TOKENS[3]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])],
    )
    logger.info("trained a WordPiece tokenizer with %d tokens", tokenizer.get_vocab_size())

    pad, _, _, _, mask = WORDPIECE_SPECIAL_TOKENS
    return _wrap(
        tokenizer,
        model_max_length,
        pad_token=pad,
        unk_token=unk,
        cls_token=cls,
        sep_token=sep,
        mask_token=mask,
    )


def train_byte_level_bpe(
    texts: Iterable[str],
    *,
    vocab_size: int = 1000,
    min_frequency: int = 2,
    add_prefix_space: bool = True,
    trim_offsets: bool = True,
    model_max_length: int | None = None,
) -> PreTrainedTokenizerFast:
    """Train a GPT-2 style byte-level BPE tokenizer on ``texts``, offline.

    Every byte has a token, so no text is unknown; a character of several UTF-8 bytes (an
    emoji, CJK) may become several tokens that share its one-character offset. Special
    tokens are :data:`BYTE_LEVEL_SPECIAL_TOKENS` (``<pad>`` id 0, ``<mask>`` for hiding
    tokens) and each text is wrapped as ``<s> ... </s>``. Small enough to train inside a
    test.

    Args:
        texts: Training texts (any iterable; read once).
        vocab_size: Size of the vocabulary, special tokens and the 256 bytes included.
        min_frequency: Fewest occurrences a merge needs.
        add_prefix_space: Treat the first word like one after a space, as GPT-2 does.
        trim_offsets: Leave the leading space out of each token's character offsets.
        model_max_length: Length that ``truncation=True`` cuts to; None leaves it unset.

    Returns:
        A fast tokenizer that saves and reloads like :func:`train_wordpiece`'s.

    Raises:
        ImportError: If ``tokenizers`` or ``transformers`` is missing.
        ValueError: If ``vocab_size`` or ``min_frequency`` is out of range.
    """
    smallest = 256 + len(BYTE_LEVEL_SPECIAL_TOKENS)
    _check_sizes(vocab_size, min_frequency, smallest_vocab=smallest)
    tokenizers = _import_tokenizers()
    from tokenizers import decoders, models, pre_tokenizers, processors, trainers

    tokenizer = tokenizers.Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(BYTE_LEVEL_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)

    pad, bos, eos, unk, mask = BYTE_LEVEL_SPECIAL_TOKENS
    tokenizer.post_processor = processors.RobertaProcessing(
        (eos, tokenizer.token_to_id(eos)),
        (bos, tokenizer.token_to_id(bos)),
        trim_offsets=trim_offsets,
        add_prefix_space=add_prefix_space,
    )
    logger.info("trained a byte-level BPE tokenizer with %d tokens", tokenizer.get_vocab_size())
    return _wrap(
        tokenizer,
        model_max_length,
        pad_token=pad,
        bos_token=bos,
        eos_token=eos,
        cls_token=bos,
        sep_token=eos,
        unk_token=unk,
        mask_token=mask,
    )


def load_tokenizer(directory: str | Path) -> PreTrainedTokenizerFast:
    """Read a tokenizer written by ``save_pretrained``, from local files only.

    Args:
        directory: The directory ``save_pretrained`` wrote.

    Returns:
        The tokenizer, as ``transformers.AutoTokenizer`` builds it.

    Raises:
        ImportError: If ``transformers`` is missing.
        FileNotFoundError: If ``directory`` holds no ``tokenizer.json``.
    """
    directory = Path(directory)
    if not (directory / "tokenizer.json").is_file():
        raise FileNotFoundError(
            f"directory={str(directory)!r} holds no tokenizer.json; expected a folder written "
            "by save_pretrained, such as a demo's text/tokenizer (command line: --tokenizer)"
        )
    transformers = _import_transformers()
    return transformers.AutoTokenizer.from_pretrained(str(directory), local_files_only=True)


def _check_sizes(vocab_size: int, min_frequency: int, *, smallest_vocab: int) -> None:
    """Validate the trainer sizes shared by both tokenizers."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        raise ValueError(f"vocab_size must be an integer, got {vocab_size!r}")
    if vocab_size < smallest_vocab:
        raise ValueError(f"vocab_size must be at least {smallest_vocab}, got {vocab_size!r}")
    if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 1:
        raise ValueError(f"min_frequency must be a positive integer, got {min_frequency!r}")


def _renumbered(vocab: dict[str, int], special_tokens: tuple[str, ...]) -> dict[str, int]:
    """Number ``special_tokens`` first, in order, then every other token by spelling."""
    others = sorted(token for token in vocab if token not in special_tokens)
    return {token: index for index, token in enumerate([*special_tokens, *others])}


def _wrap(tokenizer: Any, model_max_length: int | None, **special: str) -> PreTrainedTokenizerFast:
    """Wrap a ``tokenizers.Tokenizer`` as a ``transformers`` fast tokenizer."""
    transformers = _import_transformers()
    options: dict[str, Any] = dict(special, padding_side="right")
    if model_max_length is not None:
        options["model_max_length"] = model_max_length
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, **options)


def _import_tokenizers() -> Any:
    """Import ``tokenizers`` or say how to install it."""
    try:
        import tokenizers
    except ImportError as err:
        raise ImportError(
            f"training a tokenizer needs the 'tokenizers' package: {_INSTALL_HINT}"
        ) from err
    return tokenizers


def _import_transformers() -> Any:
    """Import ``transformers`` or say how to install it."""
    try:
        import transformers
    except ImportError as err:
        raise ImportError(
            f"text tokenizers need the 'transformers' package: {_INSTALL_HINT}"
        ) from err
    return transformers
