"""Batch jobs: explain a stream of inputs into an output store that survives being killed.

An output store is a folder::

    OUT/manifest.json          what was asked, which items are done, which failed, timing
                               and each run (running, completed or interrupted)
    OUT/shards/shard-000000.npz/.json   explanations, one shard per chunk of items

The manifest is the truth. Each chunk's shard is written under a temporary name and
renamed, then the manifest is rewritten the same way; a job killed at any moment (even
by SIGKILL) leaves either the old manifest or the new one, and the items a manifest
does not list are explained again when the same command is started again. Shards the
manifest does not name (a kill between the two renames) are overwritten.

Every input is sampled with the seed ``seed + position`` where ``position`` is its place
in the input stream, and every label of the selection's label set is explained for it
(``TopK``/``Threshold`` only mark which ones were chosen), so values do not depend on the
chunk size, on which items share a chunk, or on where a job was resumed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._words import counted
from .explanation import Explanation, concatenate, load_explanation

__all__ = [
    "Item",
    "ChunkResult",
    "JobStore",
    "JobSummary",
    "explain_chunk",
    "run_job",
    "load_store",
]

logger = logging.getLogger(__name__)

FORMAT = "labelshap-job"
VERSION = 1
MANIFEST = "manifest.json"
SHARDS = "shards"
# A run's status in the manifest: "running" until it ends; one a later run finds still
# "running" was killed.
RUNNING = "running"
COMPLETED = "completed"
INTERRUPTED = "interrupted"


@dataclass
class Item:
    """One input of a job.

    Attributes:
        id: The name it is recorded under (a file path, a row's id, ``line-12``).
        position: Its place in the input stream (its seed is ``seed + position``).
        value: The input, as the masker's ``prepare`` takes it; or the exception met
            while reading it, which is recorded as the item's failure.
    """

    id: str
    position: int
    value: Any


@dataclass
class ChunkResult:
    """What explaining one chunk of items gave: the explained items' values, the
    failures, and the seconds spent."""

    ids: list[str]
    explanation: Explanation | None
    failures: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def explain_chunk(explainer: Any, items: Sequence[Item], labels: Any = None) -> ChunkResult:
    """Explain a chunk of items, recording the failure of each bad one instead of raising.

    Each item is checked alone by the masker's ``prepare_one``; the good ones are explained
    together. If that fails, they are explained one by one: those that fail are
    recorded, the others' explanations are joined.

    Args:
        explainer: An :class:`~labelshap.Explainer`.
        items: The chunk.
        labels: The label selection, as for :meth:`Explainer.explain`.
    """
    started = time.perf_counter()
    failures: list[dict[str, str]] = []
    good: list[tuple[Item, Any]] = []
    for item in items:
        if isinstance(item.value, BaseException):
            failures.append(_failure(item.id, item.value))
            continue
        try:
            good.append((item, explainer.masker.prepare_one(item.value, explainer.model)))
        except Exception as err:  # noqa: BLE001 - recorded, the job goes on
            failures.append(_failure(item.id, err))

    explanation = None
    if good:
        try:
            explanation = _explain(explainer, good, labels)
        except Exception:  # noqa: BLE001 - isolate the failing items below
            logger.debug("a chunk failed; explaining its items one by one", exc_info=True)
            survivors, parts = [], []
            for pair in good:
                try:
                    parts.append(_explain(explainer, [pair], labels))
                    survivors.append(pair)
                except Exception as err:  # noqa: BLE001 - recorded, the job goes on
                    failures.append(_failure(pair[0].id, err))
            good = survivors
            explanation = concatenate(parts) if parts else None

    return ChunkResult(
        ids=[item.id for item, _ in good],
        explanation=explanation,
        failures=failures,
        seconds=time.perf_counter() - started,
    )


def _explain(explainer: Any, good: Sequence[tuple[Item, Any]], labels: Any) -> Explanation:
    prepared = explainer.masker.join([batch for _, batch in good])
    explanation = explainer.explain_prepared(
        prepared,
        labels,
        positions=[item.position for item, _ in good],
        every_label=True,
    )
    explanation.info["ids"] = [item.id for item, _ in good]
    return explanation


def _failure(item_id: str, err: BaseException) -> dict[str, str]:
    message = str(err) or type(err).__name__
    logger.warning("%s failed: %s", item_id, message)
    logger.debug("".join(traceback.format_exception(err)))
    return {"id": item_id, "error": f"{type(err).__name__}: {message}"}


class JobStore:
    """The output folder of a batch job: shards of explanations and their manifest.

    Args:
        folder: The output folder (created if missing).
        modality: The inputs' modality.
        settings: What the job was asked (model, labels, algorithm, budget, seed, the
            masker's options): a job resumes only under the same settings.

    Raises:
        ValueError: If the folder holds a job with other settings or another modality,
            or a manifest that is not a labelshap job's.
    """

    def __init__(self, folder: str | os.PathLike, modality: str, settings: dict[str, Any]):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / SHARDS).mkdir(exist_ok=True)
        settings = json.loads(json.dumps(settings, default=str))
        path = self.folder / MANIFEST
        if path.is_file():
            self.manifest = read_manifest(self.folder)
            _check_same_job(self.manifest, modality, settings, self.folder)
            self.done = _done_ids(self.manifest)
            logger.info(
                "resuming the job in %s: %s done, %d failed",
                self.folder,
                counted(len(self.done), "item"),
                len(self.manifest["failures"]),
            )
        else:
            self.manifest = {
                "format": FORMAT,
                "version": VERSION,
                "modality": modality,
                "settings": settings,
                "shards": [],
                "failures": [],
                "timing": {"seconds": 0.0, "items": 0, "runs": []},
            }
            self.done = set()
        for stale in (self.folder / SHARDS).glob("*.partial.*"):
            stale.unlink()

    @property
    def failed(self) -> set[str]:
        """Ids of the items recorded as failed."""
        return {record["id"] for record in self.manifest["failures"]}

    def forget_failures(self) -> None:
        """Drop the failure records so that those items are tried again."""
        self.manifest["failures"] = []

    def add(self, result: ChunkResult) -> None:
        """Record a chunk: its shard first, then the manifest, each renamed into place."""
        if result.explanation is not None:
            name = f"shard-{len(self.manifest['shards']):06d}"
            result.explanation.save(self.folder / SHARDS / name)
            self.manifest["shards"].append({"name": name, "ids": list(result.ids)})
            self.done.update(result.ids)
        failed_now = {record["id"] for record in result.failures}
        self.manifest["failures"] = [
            record for record in self.manifest["failures"] if record["id"] not in failed_now
        ] + list(result.failures)
        timing = self.manifest["timing"]
        timing["seconds"] += result.seconds
        timing["items"] += len(result.ids)
        self.write_manifest()

    def start_run(self, run: dict[str, Any]) -> dict[str, Any]:
        """Record a run as it starts, with status ``"running"``, and return its record.

        The record lives in the manifest: counts the caller updates in it are written with
        each chunk, so a run killed midway keeps what it did. Runs an earlier process left
        ``"running"`` were killed without a trace (SIGKILL, a lost machine) and are marked
        ``"interrupted"`` first.
        """
        for earlier in self.manifest["timing"]["runs"]:
            if earlier.get("status") == RUNNING:
                earlier["status"] = INTERRUPTED
        record = {**run, "status": RUNNING}
        self.manifest["timing"]["runs"].append(record)
        self.write_manifest()
        return record

    def end_run(self, record: dict[str, Any], status: str = COMPLETED) -> None:
        """Mark a run started by :meth:`start_run` as ended, with ``status``."""
        record["status"] = status
        self.write_manifest()

    def write_manifest(self) -> None:
        """Rewrite the manifest atomically (a temporary file renamed over it)."""
        path = self.folder / MANIFEST
        partial = self.folder / (MANIFEST + ".partial")
        partial.write_text(json.dumps(self.manifest, indent=1), encoding="utf-8")
        os.replace(partial, path)

    def explanations(self) -> Iterator[Explanation]:
        """The shards' explanations, one at a time, in the order they were written."""
        for shard in self.manifest["shards"]:
            yield load_explanation(self.folder / SHARDS / shard["name"])


@dataclass
class JobSummary:
    """What a run of a job did.

    Attributes:
        explained: Items explained by this run.
        failed: Items that failed in this run.
        skipped: Items an earlier run had explained.
        seconds: Wall time of this run.
        store: The output store.
        failed_before: Items an earlier run recorded as failed, not tried again.
    """

    explained: int
    failed: int
    skipped: int
    seconds: float
    store: JobStore
    failed_before: int = 0

    @property
    def failures(self) -> list[dict[str, str]]:
        """Every failure the store records (this run's and earlier runs')."""
        return list(self.store.manifest["failures"])


def run_job(
    explainer: Any,
    items: Iterable[Item],
    folder: str | os.PathLike,
    *,
    labels: Any = None,
    settings: dict[str, Any] | None = None,
    chunk_size: int = 32,
    retry_failed: bool = False,
    total: int | None = None,
    progress: bool = True,
    executor: Callable[[Iterable[list[Item]]], Iterator[ChunkResult]] | None = None,
    on_chunk: Callable[[ChunkResult], None] | None = None,
) -> JobSummary:
    """Explain a stream of items into an output store, resuming what it already holds.

    Args:
        explainer: The :class:`~labelshap.Explainer` (its model, masker, algorithm,
            budget and seed are recorded in the settings).
        items: The inputs, in a stable order (the same on every run of the job).
        folder: The output store.
        labels: The label selection.
        settings: Further settings that identify the job (the command's options).
        chunk_size: Items per chunk, hence per shard.
        retry_failed: Try again the items an earlier run recorded as failed.
        total: The number of items, when known, for the progress bar (items done by
            earlier runs start it).
        progress: Show a progress bar.
        executor: Turns chunks into results (default: in this process, in order); a
            distributed executor may return them in any order.
        on_chunk: Called with each chunk's result once it is recorded.

    Returns:
        A :class:`JobSummary` of this run.
    """
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size!r} must be a positive integer")
    store = JobStore(folder, explainer.masker.modality, job_settings(explainer, labels, settings))
    if retry_failed:
        store.forget_failures()
    failed_before = store.failed
    started = time.perf_counter()
    # Recorded now, so that a run killed midway still shows in the manifest; its counts
    # are written with each chunk.
    counts = store.start_run(
        {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": 0.0,
            "host": platform.node(),
            "pid": os.getpid(),
            "explained": 0,
            "failed": 0,
            "skipped": 0,
            "failed_before": 0,
        }
    )
    # What earlier runs did starts the bar, so it counts toward the total but not the rate.
    done_before = len(store.done) + len(failed_before)
    bar = tqdm(
        total=total,
        initial=done_before if total is None else min(done_before, total),
        desc="explaining",
        unit="item",
        disable=not progress,
    )

    def pending_chunks() -> Iterator[list[Item]]:
        first_at: dict[str, int] = {}
        chunk: list[Item] = []
        for item in items:
            if item.id in first_at:
                # Recorded under its own id, so that it never shadows the first one's.
                error = ValueError(
                    f"duplicate item id {item.id!r} (first at position {first_at[item.id]})"
                )
                item = Item(f"{item.id} (position {item.position})", item.position, error)
            first_at.setdefault(item.id, item.position)
            if item.id in store.done or item.id in failed_before:
                counts["skipped" if item.id in store.done else "failed_before"] += 1
                continue
            chunk.append(item)
            if len(chunk) == chunk_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    explain_chunks = executor or (
        lambda chunks: (explain_chunk(explainer, chunk, labels) for chunk in chunks)
    )
    status = INTERRUPTED
    # Log lines of the console go above the bar, and so does what on_chunk prints.
    redirected = logging_redirect_tqdm(tqdm_class=tqdm) if progress else contextlib.nullcontext()
    try:
        with redirected:
            for result in explain_chunks(pending_chunks()):
                counts["explained"] += len(result.ids)
                counts["failed"] += len(result.failures)
                counts["seconds"] = round(time.perf_counter() - started, 3)
                store.add(result)
                bar.update(len(result.ids) + len(result.failures))
                if on_chunk is not None:
                    with tqdm.external_write_mode():
                        on_chunk(result)
        status = COMPLETED
    finally:
        bar.close()
        seconds = time.perf_counter() - started
        counts["seconds"] = round(seconds, 3)
        store.end_run(counts, status)
    logger.info(
        "explained %s, %d failed, %d already in %s, in %.1f s",
        counted(counts["explained"], "item"),
        counts["failed"],
        counts["skipped"],
        store.folder,
        seconds,
    )
    return JobSummary(
        explained=counts["explained"],
        failed=counts["failed"],
        skipped=counts["skipped"],
        seconds=seconds,
        store=store,
        failed_before=counts["failed_before"],
    )


def job_settings(explainer: Any, labels: Any, extra: dict[str, Any] | None) -> dict[str, Any]:
    """The settings that identify a job: a resumed job must have the same."""
    settings = {
        "model": str(explainer.model.source),
        "labels": list(explainer.model.label_names),
        "space": explainer.model.space,
        "algorithm": explainer.algorithm,
        "max_evals": explainer.max_evals,
        "seed": explainer.seed,
        "selection": repr(labels),
    }
    settings.update(extra or {})
    return settings


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and check an output store's manifest."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist: not a labelshap job's output")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{str(path)!r} is not valid JSON: {err}") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a labelshap job manifest")
    if manifest.get("version") != VERSION:
        raise ValueError(
            f"{str(path)!r} has version {manifest.get('version')!r}; this labelshap reads "
            f"version {VERSION}"
        )
    return manifest


def load_store(folder: str | os.PathLike, max_items: int | None = None) -> Explanation:
    """The explanations of an output store joined into one, in the order written.

    Args:
        folder: The store.
        max_items: Read shards only until this many inputs are loaded, and keep the
            first ``max_items`` (default: every input).

    Raises:
        FileNotFoundError: If the folder holds no manifest.
        ValueError: If the store holds no explained item yet.
    """
    manifest = read_manifest(folder)
    if not manifest["shards"]:
        raise ValueError(f"the job in {str(folder)!r} has no explained item yet")
    parts, count = [], 0
    for shard in manifest["shards"]:
        if max_items is not None and count >= max_items:
            break
        part = load_explanation(Path(folder) / SHARDS / shard["name"])
        parts.append(part)
        count += len(part)
    joined = concatenate(parts)
    if max_items is None or len(joined) <= max_items:
        return joined
    kept = joined[:max_items]
    kept.info = {**joined.info, "ids": joined.info["ids"][:max_items]}
    return kept


def _done_ids(manifest: dict[str, Any]) -> set[str]:
    return {item_id for shard in manifest["shards"] for item_id in shard["ids"]}


def _check_same_job(
    manifest: dict[str, Any], modality: str, settings: dict[str, Any], folder: Path
) -> None:
    if manifest.get("modality") != modality:
        raise ValueError(
            f"{str(folder)!r} holds a {manifest.get('modality')} job; this is a {modality} "
            "job: give another output folder"
        )
    old = manifest.get("settings", {})
    changed = sorted(key for key in set(old) | set(settings) if old.get(key) != settings.get(key))
    if changed:
        details = ", ".join(f"{key}: {old.get(key)!r} -> {settings.get(key)!r}" for key in changed)
        raise ValueError(
            f"{str(folder)!r} holds a job with other settings ({details}); resume it with the "
            "same command, or give another output folder"
        )


def positions_from(values: Iterable[tuple[str, Any]]) -> Iterator[Item]:
    """Number ``(id, value)`` pairs into :class:`Item` objects by their order."""
    for position, (item_id, value) in enumerate(values):
        yield Item(str(item_id), position, value)
