"""``labelshap report``: one self-contained HTML page over a job store, a demo or a result.

The page has no network reference: figures are embedded as base64 PNG ``data:`` URIs and
the style sits in one ``<style>`` block. Each modality's picture comes from its
explanation class (``Explanation._report_html``), the same code as the notebook display.
"""

from __future__ import annotations

import argparse
import json
import logging
import numbers
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._html import STYLE, escape, key_value_table, number, readable, table
from ._words import counted
from .explanation import Explanation, _explanation_class, concatenate, load_explanation

__all__ = ["add_report_arguments", "run_report", "write_report"]

logger = logging.getLogger(__name__)

MODALITIES = ("image", "text", "tabular")
JOB_FORMAT = "labelshap-job"
JOB_VERSION = 1

# Summary entries shown as explanation figures and as timing; the rest are settings.
_FIGURE_KEYS = (
    "pointing_game",
    "pointing_game_random",
    "labels_scored",
    "cue_hit_rate",
    "cue_pairs",
    "cue_hit_rate_per_label",
    "cue_pairs_per_label",
    "deletion_ratio",
    "deletion_top_mean_change",
    "deletion_random_mean_change",
    "deletion_k",
    "flagged_features",
    "top_driver_per_label",
)
_TIMING_KEYS = ("count", "seconds", "seconds_per_image", "seconds_per_document", "seconds_per_user")
# Keys of a flat summary (no "model" section) that are settings rather than quality.
_SETTING_KEYS = ("algorithm", "max_evals", "model_rows", "evaluations", "masker", "hide")
_SKIPPED_KEYS = ("files",)
_MAX_FAILURE_ROWS = 500
# What a modality's inputs are called in the sentence above its pictures.
_NOUNS = {"image": "images", "text": "texts", "tabular": "rows"}
_NOUNS_ONE = {"image": "image", "text": "text", "tabular": "row"}
# Columns of the runs table, in this order; other keys a run records follow them.
_RUN_COLUMNS = (
    "status",
    "started",
    "seconds",
    "explained",
    "skipped",
    "failed",
    "failed_before",
    "host",
)
# Command options a job records beside "selection", the label selection they made (or the
# modality's default, when none was given): the report shows the selection alone.
_SELECTION_OPTIONS = ("label", "top_k", "threshold")


@dataclass
class _Section:
    """What the page shows for one modality."""

    modality: str
    source: Path
    items: int
    quality: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    # Of a job's seconds (the sum of its runs'), those spent explaining chunks.
    explaining_seconds: float | None = None
    # Items the timing covers, when it says (a job's timing.items); else ``items``.
    timed_items: int | None = None
    runs: list[Any] = field(default_factory=list)
    failures: list[Mapping[str, Any]] | None = None
    pictures: str = ""
    # Inputs the pictures cover, and whether they are the first ones only (else every one).
    drawn: int = 0
    first_only: bool = True
    notes: list[str] = field(default_factory=list)


def write_report(
    folder: str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    max_items: int | None = None,
) -> Path:
    """Write one self-contained ``report.html`` over a folder of results.

    Args:
        folder: A batch job's output store (``manifest.json`` and ``shards/``), a demo
            output folder (``image/``, ``text/``, ``tabular/``) or one modality's folder
            holding ``explanation.npz/.json`` (and optionally ``summary.json``).
        out: Where to write; defaults to ``folder/report.html``.
        max_items: Inputs drawn per modality, the first ones; by default each modality's
            own (24 images, 12 texts). Shards of a job are loaded one at a time and only
            until this many inputs are drawn; items and failures are counted from the
            whole manifest. Tabular charts and the audit are aggregates: they always
            cover every row, as ``audit.md`` does.

    Returns:
        The path written.

    Raises:
        FileNotFoundError: If ``folder`` is missing or holds none of the three layouts.
        ValueError: If ``max_items`` is negative or a manifest is not a labelshap job.
    """
    if max_items is not None:
        if isinstance(max_items, bool) or not isinstance(max_items, numbers.Integral):
            raise TypeError(f"max_items must be an integer or None, got {max_items!r}")
        if max_items < 0:
            raise ValueError(f"max_items must be 0 or more, got {max_items!r}")
        max_items = int(max_items)
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"report folder {str(folder)!r} does not exist")

    sections = _collect(folder, max_items)
    out = Path(out) if out is not None else folder / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)

    # Write under a temporary name, then rename: a reader never sees half a page.
    partial = out.with_name(out.name + ".partial")
    partial.write_text(_page(folder, sections), encoding="utf-8")
    os.replace(partial, out)
    logger.info("wrote report over %s to %s", counted(len(sections), "modality", "modalities"), out)
    return out


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``labelshap report`` to ``parser``."""
    parser.add_argument(
        "folder", type=Path, help="a job's output store, a demo folder or one result's folder"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="HTML file to write (default: FOLDER/report.html)"
    )
    parser.add_argument(
        "--max-items",
        type=int,
        default=None,
        help="inputs drawn per modality, the first ones (default: 24 images, 12 texts; "
        "tabular charts and the audit always cover every row)",
    )


def run_report(args: argparse.Namespace) -> int:
    """Run ``labelshap report`` with parsed arguments; prints the page's path."""
    path = write_report(args.folder, out=args.out, max_items=args.max_items)
    print(path)
    return 0


# Reading the three layouts.


def _collect(folder: Path, max_items: int | None) -> list[_Section]:
    if (folder / "manifest.json").is_file():
        return [_job_section(folder, max_items)]
    if _has_explanation(folder):
        return [_folder_section(folder, max_items)]
    sections = [
        _folder_section(folder / name, max_items)
        for name in MODALITIES
        if _has_explanation(folder / name)
    ]
    if not sections:
        raise FileNotFoundError(
            f"{str(folder)!r} holds no manifest.json (a job's store), no explanation.npz/.json "
            f"(one result) and no {', '.join(MODALITIES)} folders holding one (a demo)"
        )
    return sections


def _has_explanation(folder: Path) -> bool:
    return (folder / "explanation.json").is_file() and (folder / "explanation.npz").is_file()


def _limit(kind: type[Explanation], max_items: int | None) -> int | None:
    """Inputs to draw: ``max_items``, else the modality's own number; None draws every
    input (a modality whose pictures are aggregates, such as tabular charts)."""
    if kind._REPORT_MAX_ITEMS is None:
        return None
    return kind._REPORT_MAX_ITEMS if max_items is None else max_items


def _folder_section(folder: Path, max_items: int | None) -> _Section:
    """One modality's folder: ``explanation.npz/.json`` and an optional ``summary.json``."""
    explanation = load_explanation(folder / "explanation")
    summary = _read_json(folder / "summary.json") if (folder / "summary.json").is_file() else {}
    section = _Section(modality=explanation.modality, source=folder, items=len(explanation))
    _apply_summary(section, summary)
    for key, value in explanation.info.items():
        if _is_scalar(value) and key != "seconds":
            section.settings.setdefault(key, value)
    if section.seconds is None and _is_number(explanation.info.get("seconds")):
        section.seconds = float(explanation.info["seconds"])
    limit = _limit(type(explanation), max_items)
    drawn = explanation if limit is None or len(explanation) <= limit else explanation[:limit]
    section.pictures = drawn._report_html(len(drawn), folder=folder)
    section.drawn, section.first_only = len(drawn), limit is not None
    return section


def _job_section(folder: Path, max_items: int | None) -> _Section:
    """A batch job's store: the manifest, then shards loaded one at a time for pictures."""
    manifest = _read_json(folder / "manifest.json")
    if manifest.get("format") != JOB_FORMAT or manifest.get("version") != JOB_VERSION:
        raise ValueError(
            f"{str(folder / 'manifest.json')!r} has format {manifest.get('format')!r} version "
            f"{manifest.get('version')!r}; expected {JOB_FORMAT!r} version {JOB_VERSION}"
        )
    shards = manifest.get("shards") or []
    timing = manifest.get("timing") or {}
    section = _Section(
        modality=str(manifest.get("modality", "unknown")),
        source=folder,
        items=sum(len(shard.get("ids", [])) for shard in shards),
        failures=list(manifest.get("failures") or []),
        runs=list(timing.get("runs") or []),
    )
    if (folder / "summary.json").is_file():
        _apply_summary(section, _read_json(folder / "summary.json"))
    section.quality.update(manifest.get("quality") or {})
    section.settings.update(manifest.get("settings") or {})
    if _is_number(timing.get("seconds")):
        section.seconds = float(timing["seconds"])
    # A job's time is its runs' wall time; timing.seconds counts only explaining chunks.
    run_seconds = [run.get("seconds") for run in section.runs if isinstance(run, Mapping)]
    if run_seconds and all(map(_is_number, run_seconds)):
        section.explaining_seconds = section.seconds
        section.seconds = float(sum(run_seconds))
    if _is_number(timing.get("items")):
        section.timed_items = int(timing["items"])
    section.settings["shards"] = len(shards)

    # Keep only the inputs to draw from each shard, and stop loading once there are enough.
    limit = _limit(_explanation_class(section.modality), max_items)
    parts, titles = [], []
    for shard in shards:
        remaining = None if limit is None else limit - len(titles)
        if remaining is not None and remaining <= 0:
            break
        name = str(shard.get("name", ""))
        try:
            explanation = load_explanation(folder / "shards" / name)
        except (OSError, ValueError, KeyError) as err:
            logger.warning("report: skipped shard %r of %s: %s", name, folder, err)
            section.notes.append(f"shard {name!r} could not be read: {err}")
            continue
        if remaining is not None and len(explanation) > remaining:
            explanation = explanation[:remaining]
        ids = [str(item) for item in shard.get("ids", [])]
        if len(ids) < len(explanation):
            ids += [f"{name} item {i}" for i in range(len(ids), len(explanation))]
        parts.append(explanation)
        titles += ids[: len(explanation)]
        del explanation
    # The space a job left to the model's output is the one its explanations record.
    if section.settings.get("space") is None and parts and parts[0].info.get("space"):
        section.settings["space"] = parts[0].info["space"]
    if parts:
        drawn = concatenate(parts) if len(parts) > 1 else parts[0]
        section.pictures = drawn._report_html(len(drawn), titles=titles, folder=folder)
        section.drawn, section.first_only = len(drawn), limit is not None
    return section


def _apply_summary(section: _Section, summary: Mapping[str, Any]) -> None:
    """Split a ``summary.json`` into quality, explanation figures, timing and settings."""
    if "model" in summary or "explanations" in summary:
        section.quality.update(summary.get("model") or {})
        entries = dict(summary.get("explanations") or {})
    else:
        entries = {key: value for key, value in summary.items() if key not in _SKIPPED_KEYS}
        for key in list(entries):
            if key not in _FIGURE_KEYS + _TIMING_KEYS + _SETTING_KEYS:
                section.quality[key] = entries.pop(key)
    for key, value in entries.items():
        if key in _FIGURE_KEYS:
            section.figures[key] = value
        elif key == "seconds" and _is_number(value):
            section.seconds = float(value)
        elif key == "count" and _is_number(value):
            section.items = int(value)
        elif key not in _TIMING_KEYS:
            section.settings[key] = value
    data = summary.get("data")
    if isinstance(data, Mapping) and "source" in data:
        section.settings["data source"] = data["source"]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{str(path)!r} is not valid JSON: {err}") from err
    if not isinstance(content, dict):
        raise ValueError(f"{str(path)!r} must hold a JSON object, got {type(content).__name__}")
    return content


# Writing the page.


def _page(folder: Path, sections: list[_Section]) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    links = " · ".join(
        f'<a href="#{escape(section.modality)}">{escape(section.modality)}</a>'
        for section in sections
    )
    body = "\n".join(_section_html(section) for section in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>labelshap report</title>\n"
        "<style>\nbody { margin: 0; background: #eef1f4; }\n"
        "main { max-width: 1320px; margin: 0 auto; padding: 1.2em 2em 3em 2em; "
        "background: #fff; min-height: 100vh; }\n"
        "main h1 { margin-bottom: 0.2em; }\nmain nav a { color: #0969da; }\n"
        f"{STYLE}</style>\n</head>\n<body>\n"
        '<main class="labelshap">\n<h1>labelshap report</h1>\n'
        f'<p class="note">{escape(folder.resolve())} · written {escape(stamp)}</p>\n'
        f"<nav>{links}</nav>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _section_html(section: _Section) -> str:
    failures = section.failures or []
    timed = section.items if section.timed_items is None else section.timed_items
    rate = timed / section.seconds if section.seconds else None
    tiles = [("items explained", section.items)]
    if section.failures is not None:
        tiles.append(("failures", len(failures)))
    if section.seconds is not None:
        tiles.append(("seconds", section.seconds))
    if rate is not None:
        tiles.append(("items / s", rate))
    tiles += [(key, value) for key, value in section.figures.items() if _is_number(value)]

    tile_html = "".join(
        f'<div class="tile{" bad" if name == "failures" and value else ""}">'
        f'<div class="value">{escape(number(value))}</div>'
        f'<div class="name">{escape(name.replace("_", " "))}</div></div>'
        for name, value in tiles
    )
    panels = [
        ("Model quality", _figures_html(section.quality, "no quality figures"), ""),
        ("Explanation figures", _figures_html(section.figures, "none recorded"), ""),
        ("Timing", _timing_html(section, rate), ""),
        ("Settings", _settings_html(_shown_settings(section)), ""),
    ]
    if section.runs:
        panels.append(("Runs", _runs_html(section.runs), " full"))
    panels.append(("Failures", _failures_html(failures), " full" if failures else ""))
    parts = [
        f'<section id="{escape(section.modality)}">',
        f"<h2>{escape(section.modality.capitalize())}</h2>",
        f'<p class="note">from {escape(section.source)}</p>',
        f'<div class="tiles">{tile_html}</div>',
    ]
    parts += [f'<p class="failed">{escape(note)}</p>' for note in section.notes]
    parts.append(
        '<div class="panels">'
        + "".join(
            f'<div class="panel{extra}"><h3>{title}</h3>{html}</div>'
            for title, html, extra in panels
        )
        + "</div>"
    )
    parts.append("<h3>Pictures</h3>")
    if section.pictures:
        if section.first_only:
            parts.append(f'<p class="note">{escape(_drawn_note(section))}</p>')
        parts.append(section.pictures)
    else:
        parts.append('<p class="note">nothing to draw</p>')
    parts.append("</section>")
    return "\n".join(parts)


def _drawn_note(section: _Section) -> str:
    """Which inputs the pictures show: the first N of M, or every one."""
    noun = _NOUNS.get(section.modality, "inputs")
    if section.drawn < section.items:
        return (
            f"The first {section.drawn:,} of {section.items:,} {noun} "
            "(labelshap report --max-items N draws more)."
        )
    if section.drawn == 1:
        return f"The one {_NOUNS_ONE.get(section.modality, 'input')}."
    return f"All {section.drawn:,} {noun}."


def _figures_html(entries: Mapping[str, Any], empty: str) -> str:
    """Scalars in a name/value table; per-label mappings side by side in a label table."""
    if not entries:
        return f'<p class="note">{escape(empty)}</p>'
    scalars = {}
    per_label: dict[str, Mapping[str, Any]] = {}
    for key, value in entries.items():
        if isinstance(value, Mapping) and value and all(map(_is_cell, value.values())):
            per_label[key] = value
        elif isinstance(value, list) and len(value) > 12 and all(map(_is_number, value)):
            per_label[key] = dict(enumerate(value))
        else:
            scalars[key] = readable(value)
    html = key_value_table(scalars) if scalars else ""
    if per_label:
        labels = list(dict.fromkeys(label for value in per_label.values() for label in value))
        html += table(
            ["label", *per_label],
            [
                [label, *(readable(column.get(label)) for column in per_label.values())]
                for label in labels
            ],
        )
    return html


def _shown_settings(section: _Section) -> dict[str, Any]:
    """The settings that say something: the label selection once, only the options the
    modality used, and none left unset (a job resolved those itself)."""
    settings = dict(section.settings)
    if "selection" in settings:
        for key in _SELECTION_OPTIONS:
            settings.pop(key, None)
    try:
        settings = _explanation_class(section.modality)._report_settings(settings)
    except ValueError:  # a modality this labelshap does not know: shown as recorded
        pass
    return {key: value for key, value in settings.items() if value is not None}


def _settings_html(settings: Mapping[str, Any]) -> str:
    """The settings as a person reads them: lists comma-joined, mappings as small tables."""
    if not settings:
        return '<p class="note">none recorded</p>'
    return key_value_table({key: readable(value) for key, value in settings.items()})


def _timing_html(section: _Section, rate: float | None) -> str:
    entries: dict[str, Any] = {"items": section.items}
    if section.timed_items is not None:
        entries["items timed"] = section.timed_items
    if section.seconds is not None:
        entries["seconds" if section.explaining_seconds is None else "seconds, all runs"] = (
            section.seconds
        )
    if section.explaining_seconds is not None:
        entries["seconds explaining"] = section.explaining_seconds
    if rate is not None:
        entries["items per second"] = rate
    if section.runs:
        entries["runs"] = len(section.runs)
    return key_value_table(entries)


def _runs_html(runs: list[Any]) -> str:
    """One row per run of a job, oldest first; a run killed midway shows as interrupted."""
    records = [run for run in runs if isinstance(run, Mapping)]
    if not records:
        return '<p class="note">none recorded</p>'
    keys = [key for key in _RUN_COLUMNS if any(key in run for run in records)]
    keys += [
        key
        for key in dict.fromkeys(key for run in records for key in run)
        if key not in keys and key != "pid"
    ]
    rows = []
    for index, run in enumerate(records, start=1):
        cells = {key: readable(run.get(key)) for key in keys}
        if "status" in cells:
            cells["status"] = _run_status(run)
        rows.append([index, *cells.values()])
    return table(["run", *keys], rows)


def _run_status(run: Mapping[str, Any]) -> str:
    """A run's status; one still "running" whose process is gone on this host was killed."""
    status = str(run.get("status") or "completed")
    if status == "running" and run.get("host") == platform.node() and _is_number(run.get("pid")):
        try:
            os.kill(int(run["pid"]), 0)
        except ProcessLookupError:
            return "interrupted"
        except PermissionError:
            return status
    return status


def _failures_html(failures: list[Mapping[str, Any]]) -> str:
    if not failures:
        return '<p class="ok">no failures</p>'
    shown = failures[:_MAX_FAILURE_ROWS]
    html = table(["id", "error"], [[str(f.get("id", "")), str(f.get("error", ""))] for f in shown])
    if len(failures) > len(shown):
        more = counted(len(failures) - len(shown), "more failure")
        html += f'<p class="note">and {more}</p>'
    return html


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, bool)) or _is_number(value)


def _is_cell(value: Any) -> bool:
    """A per-label entry: a number, a name, or nothing (a label without the figure)."""
    return value is None or _is_scalar(value)
