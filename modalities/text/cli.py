"""``labelshap explain text`` and ``labelshap demo text``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from .masker import HIDE_MODES, LONG_TEXT_MODES

__all__ = ["add_explain_arguments", "run_explain", "run_demo"]

logger = logging.getLogger(__name__)

_DEFAULT_TOP_K = 3
_TOP_WORDS = 5


def add_explain_arguments(parser: argparse.ArgumentParser) -> None:
    """Text options of ``labelshap explain text``."""
    parser.add_argument(
        "texts", nargs="*", metavar="TEXT", help="texts to explain (or give --file)"
    )
    parser.add_argument(
        "--file",
        type=Path,
        help='texts to explain: a .jsonl file (one JSON object with a "text" field per '
        "line, so texts may hold line breaks) or any other UTF-8 file with one text per "
        "line (blank lines skipped)",
    )
    parser.add_argument(
        "--tokenizer",
        type=Path,
        required=True,
        help="the model's tokenizer: a directory written by save_pretrained",
    )
    parser.add_argument(
        "--hide",
        choices=HIDE_MODES,
        default="mask",
        help="what a hidden token becomes: the mask token, padding, or nothing (default: mask)",
    )
    parser.add_argument(
        "--long-text",
        choices=LONG_TEXT_MODES,
        default="truncate",
        help="texts longer than the model reads: explain the first window (warned) or "
        "every window, the score being their mean (default: truncate)",
    )
    parser.add_argument(
        "--stride", type=int, help="with --long-text window: tokens between window starts"
    )
    parser.add_argument(
        "--max-length", type=int, help="tokens per model row (default: the model's input)"
    )
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour highlights in the terminal (default: when printing to a terminal); "
        "without colour each label's most positive words are listed",
    )


def run_explain(args: argparse.Namespace) -> int:
    """Explain texts; print highlights, write ``highlights.html`` and the explanation.

    Without ``--label``, ``--top-k`` or ``--threshold`` each text's 3 best labels are
    explained.
    """
    from labelshap.cli import label_selection, load_model, make_explainer
    from labelshap.labels import TopK

    from . import model as _registers_padding_mask  # noqa: F401  (layer of the demo model)
    from .masker import TextMasker

    texts = _read_texts(args.texts, args.file)
    model = load_model(args)
    masker = TextMasker(
        args.tokenizer,
        max_length=args.max_length,
        hide=args.hide,
        long_text=args.long_text,
        stride=args.stride,
    )
    explainer = make_explainer(args, model, masker)
    selection = label_selection(args)
    explanation = explainer.explain(texts, TopK(_DEFAULT_TOP_K) if selection is None else selection)

    args.out.mkdir(parents=True, exist_ok=True)
    saved = explanation.save(args.out / "explanation")
    page = explanation.save_html(args.out / "highlights.html")
    logger.info("wrote %s and %s", page, saved)

    colour = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    for row in range(len(explanation)):
        print(f"[{row}] {_preview(explanation.text(row))}")
        print(explanation.ansi(row) if colour else _plain(explanation, row))
        print()
    return 0


def run_demo(out_dir: Path, *, seed: int = 0) -> dict[str, Any]:
    """The text part of ``labelshap demo``."""
    from .demo import run_demo as text_demo

    return text_demo(out_dir, seed=seed)


def _read_texts(texts: list[str], file: Path | None) -> list[str]:
    """The texts from the command line or from ``--file``, exactly one of them."""
    if bool(texts) == (file is not None):
        raise ValueError("give the texts to explain either as TEXT arguments or with --file")
    if file is None:
        return list(texts)
    if not file.is_file():
        raise FileNotFoundError(f"--file {str(file)!r} does not exist")
    try:
        content = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"--file {str(file)!r} is not UTF-8 text ({err.reason})") from err
    lines = [line for line in content.splitlines() if line.strip()]
    if file.suffix != ".jsonl":
        return lines

    found = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"--file {str(file)!r}: line {number} is not JSON ({err})") from err
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise ValueError(
                f'--file {str(file)!r}: line {number} has no string field "text"; each line '
                'of a .jsonl file must be an object like {"text": "..."}'
            )
        found.append(record["text"])
    return found


def _preview(text: str, width: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def _plain(explanation: Any, row: int) -> str:
    """Each selected label with its score and most positive words, without colour."""
    lines = []
    for label in explanation.shown_labels(row):
        column = explanation.label_names.index(label)
        words = sorted(explanation.word_values(row, label), key=lambda word: -word.value)
        top = ", ".join(f"{w.text} {w.value:+.3f}" for w in words[:_TOP_WORDS] if w.value > 0)
        lines.append(
            f"  {label} (score {explanation.scores[row, column]:.3f}): {top or 'no positive word'}"
        )
    return "\n".join(lines)
