"""``labelshap explain text`` and ``labelshap demo text``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labelshap._words import counted
from labelshap.arguments import integer_at_least
from labelshap.jobs import load_store, positions_from
from labelshap.sources import RECORD_SUFFIXES, count_records, iter_records

from .masker import HIDE_MODES, LONG_TEXT_MODES, LongTextWarning, TextMasker

__all__ = ["add_explain_arguments", "build_explainer", "run_explain", "run_demo"]

logger = logging.getLogger(__name__)

_DEFAULT_TOP_K = 3
# The labels explained without --label, --top-k or --threshold, as --help says it.
# The masker class whose algorithms the command offers (labelshap.engines.masker_algorithms).
MASKER = TextMasker
DEFAULT_LABELS = f"the {_DEFAULT_TOP_K} best-scored"
# What `labelshap demo` prints of the summary (section.key), the rest is in summary.json.
DEMO_HEADLINE = (
    "model.micro_auc",
    "model.macro_auc",
    "explanations.cue_hit_rate",
    "explanations.count",
    "explanations.seconds",
)
# Texts drawn in highlights.html at the end of a job (the first ones of the store).
HIGHLIGHTED_TEXTS = 500
_TOP_WORDS = 5
_EMPTY = "is empty; accepted: a text with at least one visible character"


def add_explain_arguments(parser: argparse.ArgumentParser) -> None:
    """Text options of ``labelshap explain text``."""
    parser.add_argument(
        "texts", nargs="*", metavar="TEXT", help="texts to explain (or give --file)"
    )
    parser.add_argument(
        "--file",
        type=Path,
        help='texts to explain: a .jsonl file (one JSON object with a "text" field and an '
        'optional "id" per line, so texts may hold line breaks), a .csv file with a "text" '
        'column (and an optional "id" column), or any other UTF-8 file with one text per '
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
        "--stride",
        type=integer_at_least(1),
        help="with --long-text window: tokens between window starts",
    )
    parser.add_argument(
        "--max-length",
        type=integer_at_least(1),
        help="tokens per model row (default: the model's input)",
    )
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour highlights in the terminal (default: when printing to a terminal); "
        "without colour each label's most positive words are listed",
    )


def run_explain(args: argparse.Namespace) -> int:
    """Explain texts as a resumable batch job; print highlights, write ``highlights.html``.

    Without ``--label``, ``--top-k`` or ``--threshold`` each text's 3 best labels are
    explained.
    """
    from labelshap.cli import label_selection, run_job_command
    from labelshap.labels import TopK

    if bool(args.texts) == (args.file is not None):
        raise ValueError("give the texts to explain either as TEXT arguments or with --file")
    if args.file is not None and not args.file.is_file():
        raise FileNotFoundError(f"--file {str(args.file)!r} does not exist")
    total = len(args.texts) if args.file is None else count_records(args.file)
    if not total:
        raise ValueError(
            f"no inputs: --file {str(args.file)!r} holds no texts; accepted: a .jsonl, .csv "
            "or text file of at least one text"
        )
    explainer = build_explainer(args)
    # The tokenizer, --max-length and --stride against the model, before the job starts.
    explainer.masker.prepare([""], explainer.model)
    selection = label_selection(args)
    colour = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())

    def on_chunk(result: Any) -> None:
        explanation = result.explanation
        for row in range(len(explanation) if explanation is not None else 0):
            print(f"[{result.ids[row]}] {_preview(explanation.text(row))}")
            print(explanation.ansi(row) if colour else _plain(explanation, row))
            print()

    def finish(store: Any) -> None:
        drawn = load_store(store.folder, max_items=HIGHLIGHTED_TEXTS)
        # Headed by each text's id in the store (its line, or the id its record gave).
        page = drawn.save_html(args.out / "highlights.html", titles=drawn.info.get("ids"))
        logger.info("wrote %s (%s)", page, counted(len(drawn), "text"))

    with _long_texts_logged():
        return run_job_command(
            args,
            explainer,
            positions_from(_text_sources(args.texts, args.file)),
            labels=TopK(_DEFAULT_TOP_K) if selection is None else selection,
            total=total,
            on_chunk=on_chunk,
            finish=finish,
        )


def build_explainer(args: argparse.Namespace) -> Any:
    """The explainer the options describe (built by the driver and by each Ray worker)."""
    from labelshap.cli import load_model, make_explainer

    from . import model as _registers_padding_mask  # noqa: F401  (layer of the demo model)

    masker = TextMasker(
        args.tokenizer,
        max_length=args.max_length,
        hide=args.hide,
        long_text=args.long_text,
        stride=args.stride,
    )
    return make_explainer(args, load_model(args), masker)


def run_demo(out_dir: Path, *, seed: int = 0) -> dict[str, Any]:
    """The text part of ``labelshap demo``."""
    from .demo import run_demo as text_demo

    return text_demo(out_dir, seed=seed)


def _text_sources(texts: list[str], file: Path | None) -> Iterator[tuple[str, Any]]:
    """``(id, text)`` for the TEXT arguments or each record of ``--file``; a record that
    cannot be read is yielded as its error."""
    if file is None:
        for index, text in enumerate(texts):
            if not text.strip():
                yield f"text-{index}", ValueError(f"TEXT argument {index + 1} {_EMPTY}")
                continue
            yield f"text-{index}", text
        return
    if file.suffix.lower() in RECORD_SUFFIXES:
        for where, record in iter_records(file):
            if isinstance(record, Exception):
                yield where, record
                continue
            item_id = str(record.get("id") or where)
            text = record.get("text")
            if not isinstance(text, str):
                yield (
                    item_id,
                    ValueError(
                        f"--file {str(file)!r} {where.replace('-', ' ')} has no string field "
                        '"text"; accepted: records like {"text": "...", "id": "..."}'
                    ),
                )
                continue
            if not text.strip():
                where = where.replace("-", " ")
                yield item_id, ValueError(f'--file {str(file)!r} {where}: "text" {_EMPTY}')
                continue
            yield item_id, text
        return
    with file.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"line-{number}"
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                yield (
                    where,
                    ValueError(
                        f"--file {str(file)!r} line {number} is not UTF-8 text ({err.reason})"
                    ),
                )
                continue
            if line.strip():
                yield where, line


@contextlib.contextmanager
def _long_texts_logged() -> Iterator[None]:
    """Log the texts cut to the model's length as the command's own lines: at the first,
    what happens and the option that avoids it; at the end, how many texts it was (a job
    prepares each text alone, so each warns alone)."""
    cut: list[LongTextWarning] = []
    previous = warnings.showwarning

    def show(message: Any, category: Any, *rest: Any) -> None:
        if not isinstance(message, LongTextWarning):
            previous(message, category, *rest)
            return
        if not cut:
            logger.warning(
                "a text is longer than the model's %d tokens: only its first %d text tokens "
                "are explained (--long-text window explains whole texts)",
                message.max_length,
                message.explained_tokens,
            )
        cut.append(message)

    with warnings.catch_warnings():
        warnings.simplefilter("always", LongTextWarning)
        warnings.showwarning = show
        yield
    if len(cut) > 1:
        logger.warning(
            "%d texts were longer than the model's %d tokens: only their first %d text "
            "tokens were explained (--long-text window explains whole texts)",
            sum(message.truncated for message in cut),
            cut[0].max_length,
            cut[0].explained_tokens,
        )


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
