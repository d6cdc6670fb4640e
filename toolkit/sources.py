"""Read a batch job's inputs lazily: records of a CSV or JSONL file, files of a folder.

A record that cannot be read (a line that is not JSON, a row with too many cells,
bytes that are not UTF-8) is yielded as the exception met, so that the job records it
as that item's failure and goes on.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["RECORD_SUFFIXES", "iter_records", "iter_files", "count_records"]

RECORD_SUFFIXES = (".csv", ".jsonl")
# Characters of a line that is not JSON quoted in its error, around the fault.
_EXCERPT = 60


def iter_records(path: str | os.PathLike) -> Iterator[tuple[str, dict[str, Any] | Exception]]:
    """Yield ``(where, record)`` for each record of a ``.csv`` (header line first) or
    ``.jsonl`` (one JSON object per line) file; blank lines are skipped.

    ``where`` is ``line-N`` (the line number in the file); a record that cannot be read
    is an exception whose message names the file and the line.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the suffix is neither ``.csv`` nor ``.jsonl``, or a CSV file has
            no header line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file {str(path)!r} does not exist")
    if path.suffix.lower() == ".jsonl":
        yield from _jsonl_records(path)
    elif path.suffix.lower() == ".csv":
        yield from _csv_records(path)
    else:
        raise ValueError(
            f"input file {str(path)!r} has suffix {path.suffix!r}; accepted: {RECORD_SUFFIXES}"
        )


def count_records(path: str | os.PathLike) -> int:
    """The number of non-blank lines after a CSV header (or of a JSONL file): a cheap
    first pass for the progress bar."""
    path = Path(path)
    with path.open("rb") as handle:
        count = sum(1 for line in handle if line.strip())
    return max(count - 1, 0) if path.suffix.lower() == ".csv" else count


def iter_files(folder: str | os.PathLike) -> Iterator[Path]:
    """Every file below a folder, in sorted order, hidden files and folders skipped."""
    folder = Path(folder)
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(name for name in dirs if not name.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def _lines(path: Path) -> Iterator[tuple[int, str | Exception]]:
    """Decoded lines with their numbers; a line that is not UTF-8 is an exception."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as err:
                yield (
                    number,
                    ValueError(
                        f"{str(path)!r} line {number} is not UTF-8 text ({err.reason} at byte "
                        f"{err.start})"
                    ),
                )


def _jsonl_records(path: Path) -> Iterator[tuple[str, dict[str, Any] | Exception]]:
    for number, line in _lines(path):
        where = f"line-{number}"
        if isinstance(line, Exception):
            yield where, line
            continue
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            yield (
                where,
                ValueError(
                    f"{str(path)!r} line {number} is not JSON: {err.msg} at column "
                    f"{err.colno}, in {_excerpt(line, err.pos)}; accepted: one JSON object "
                    "per line"
                ),
            )
            continue
        if not isinstance(record, dict):
            yield (
                where,
                ValueError(
                    f"{str(path)!r} line {number} holds a JSON {type(record).__name__}; "
                    "accepted: a JSON object per line"
                ),
            )
            continue
        yield where, record


def _csv_records(path: Path) -> Iterator[tuple[str, dict[str, Any] | Exception]]:
    # Undecodable bytes become lone surrogates here, so one bad row fails alone.
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header or not any(cell.strip() for cell in header):
            raise ValueError(f"CSV file {str(path)!r} is empty; expected a header line")
        header = [cell.strip() for cell in header]
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise ValueError(f"CSV file {str(path)!r} names columns {duplicates} twice")
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                yield (
                    f"line-{reader.line_num}",
                    ValueError(f"{str(path)!r} line {reader.line_num}: {err}"),
                )
                continue
            number = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if any(_SURROGATES.search(cell) for cell in cells):
                yield f"line-{number}", ValueError(f"{str(path)!r} line {number} is not UTF-8 text")
            elif len(cells) != len(header):
                yield (
                    f"line-{number}",
                    ValueError(
                        f"{str(path)!r} line {number} has {len(cells)} cells but the header names "
                        f"{len(header)} columns"
                    ),
                )
            else:
                yield f"line-{number}", dict(zip(header, cells, strict=True))


def _excerpt(line: str, position: int) -> str:
    """The line, quoted, or about ``_EXCERPT`` characters of it around ``position``."""
    if len(line) <= _EXCERPT:
        return repr(line)
    start = max(0, min(position - _EXCERPT // 2, len(line) - _EXCERPT))
    shown = repr(line[start : start + _EXCERPT])
    return ("..." if start > 0 else "") + shown + ("..." if start + _EXCERPT < len(line) else "")


_SURROGATES = re.compile("[\udc80-\udcff]")
