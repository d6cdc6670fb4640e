"""Checks of the command line's options, made before anything is loaded or written.

Every message names the option as the user typed it (``--top-k``, not ``TopK``), the
value received and what is accepted; :func:`labelshap.cli.main` turns them into exit
status 2.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

__all__ = [
    "HelpFormatter",
    "PATH_OPTIONS",
    "absolute_path",
    "check_label_options",
    "integer_at_least",
    "positive_number",
    "preview_names",
    "share",
]

# Options that hold paths: a job records them absolute, so that the same job typed from
# another folder, or as ./m.keras instead of m.keras, resumes.
PATH_OPTIONS = frozenset(
    {"model", "labels", "tokenizer", "file", "background", "schema", "rows", "images"}
)
# Label names shown in full before a message gives only the first few and the count.
_NAMES_SHOWN = 10


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds ``(default: X)`` to an option's help, unless the help already says what the
    default is, or there is nothing to say (``None``, ``False``, an empty list)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        nothing = action.default is None or action.default is False or action.default == []
        if nothing or "default" in text.lower():
            return text
        return super()._get_help_string(action)


def integer_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not accepted; accepted: an integer of at least {minimum}"
            )
        return value

    return parse


def positive_number(text: str) -> float:
    """An argparse ``type``: a positive finite number, written as a decimal or a fraction
    (``0.5``, ``1/255``)."""
    try:
        value = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not accepted; accepted: a positive number such as 1/255 or 0.5"
        )
    return value


def share(text: str) -> float:
    """An argparse ``type``: a share, a number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not accepted; accepted: a share above 0 and at most 1, such as 0.9"
        )
    return value


def absolute_path(value: Any) -> Any:
    """A path option's value made absolute (``None`` and lists of paths too), without
    resolving links, so that one file typed in several ways is one value."""
    if value is None:
        return None
    if isinstance(value, list):
        return [absolute_path(item) for item in value]
    return os.path.abspath(os.fspath(value))


def check_label_options(args: argparse.Namespace, label_names: Sequence[str]) -> None:
    """Check ``--label``, ``--top-k`` and ``--threshold`` against the labels file.

    Raises:
        ValueError: If a ``--label`` is not in the file, ``--top-k`` exceeds the number
            of labels, or ``--threshold`` lies outside the range of the scores it is
            compared with (probabilities, unless the job explains logits).
    """
    origin = f"the labels file {str(args.labels)!r}"
    unknown = [name for name in args.label or () if name not in label_names]
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise ValueError(
            f"--label {names}: not in {origin}; accepted: {preview_names(label_names)}"
        )
    if args.top_k is not None and args.top_k > len(label_names):
        raise ValueError(
            f"--top-k {args.top_k} is more than the {len(label_names)} labels of {origin}; "
            f"accepted: 1 to {len(label_names)}"
        )
    if args.threshold is not None:
        space = args.space or args.output
        if not math.isfinite(args.threshold):
            raise ValueError(f"--threshold {args.threshold} is not accepted; accepted: a number")
        if space == "probability" and not 0.0 < args.threshold < 1.0:
            raise ValueError(
                f"--threshold {args.threshold:g} is outside (0, 1), the range of the "
                "probabilities it is compared with; accepted: a number between 0 and 1, "
                "such as 0.5 (or, to compare logits, --space logit and any number)"
            )


def preview_names(names: Sequence[str]) -> str:
    """The names quoted, or the first few of them and how many there are."""
    shown = ", ".join(repr(name) for name in names[:_NAMES_SHOWN])
    if len(names) <= _NAMES_SHOWN:
        return shown
    return f"{shown}, ... ({len(names)} labels in all)"
