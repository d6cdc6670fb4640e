"""The text demo: a Conv1D tag model on Debian descriptions, explained per label, cue hit rate."""

from __future__ import annotations

import gzip
import json
import logging
import re
import shutil
import time
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labelshap.explainer import Explainer
from labelshap.model import LabelModel
from labelshap.paths import cache_dir, shared_data_file

from .data import Document, load_apt_lists, load_debtags, split_by_description
from .explanation import TextExplanation, WordValue
from .masker import LongTextWarning, TextMasker
from .model import train_text_model

__all__ = ["CUE_WORDS", "cue_hit_rate", "cue_rank", "run_demo", "save_texts"]

logger = logging.getLogger(__name__)

#: The labels with an obvious word cue, and the words (lower case) that count as the cue.
CUE_WORDS: dict[str, tuple[str, ...]] = {
    "implemented-in::python": ("python",),
    "implemented-in::perl": ("perl",),
    "uitoolkit::qt": ("qt",),
    "uitoolkit::gtk": ("gtk", "gnome"),
    "use::gameplaying": ("game",),
}

_TOP_WORDS = 3


def run_demo(
    out_dir: str | Path,
    *,
    seed: int = 0,
    per_label: int = 40,
    algorithm: str = "permutation",
    max_evals: int = 500,
    hide: str = "mask",
    n_highlights: int = 12,
) -> dict[str, Any]:
    """Train (or reload) the tag model, explain held-out descriptions, score the cues.

    Writes into ``out_dir``: ``model.keras``, ``labels.txt`` and ``tokenizer/`` (for
    ``labelshap explain text``), ``highlights.html`` (``n_highlights`` descriptions with
    their cue label and best labels), ``explanation.npz/.json`` and ``summary.json``.

    The explained descriptions are held-out ones (the model's own test split), chosen per
    cue label of :data:`CUE_WORDS`: up to ``per_label`` descriptions, in a seeded random
    order, that carry the label and have a cue word within the part the model reads (its
    first 160 tokens). Every explained description is explained for all labels from the
    same evaluations.

    Args:
        out_dir: Output folder (created).
        seed: Seed of the data split, the training, the sample and the sampling.
        per_label: Most held-out descriptions per cue label.
        algorithm: Estimation algorithm.
        max_evals: Evaluations per description.
        hide: How the masker hides a token (``"mask"``, ``"pad"`` or ``"delete"``).
        n_highlights: Descriptions drawn in ``highlights.html``.

    Returns:
        The summary written to ``summary.json``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    # The data and the model: trained once, cached, copied for the command line.
    source, data_path = demo_data()
    trained = train_text_model(seed=seed, data_path=data_path)
    _write_model(trained, out_dir)

    # Held-out descriptions whose label has its cue word where the model reads.
    documents = load_debtags(data_path)
    _, test_rows = split_by_description(
        documents, test_fraction=trained.config.test_fraction, seed=seed
    )
    held_out = [documents[row] for row in test_rows]
    chosen, cue_labels = _cue_sample(held_out, trained, per_label, seed)
    texts = [held_out[index].text for index in chosen]

    # Explain every chosen description for every label, from one set of evaluations.
    model = LabelModel(trained.model, list(trained.label_names))
    explainer = Explainer(
        model,
        TextMasker(trained.tokenizer, hide=hide),
        algorithm=algorithm,
        max_evals=max_evals,
        seed=seed,
        progress=True,
    )
    started = time.perf_counter()
    explanation = explain_noting_long_texts(explainer, texts)
    seconds = time.perf_counter() - started
    # Every label is explained (the cue hit rate reads them all); the ones marked selected
    # are those drawn, here and by `labelshap report`.
    drawn = [_labels_to_show(explanation, row, cue_labels[row]) for row in range(len(texts))]
    explanation.selected = np.array(
        [[name in labels for name in explanation.label_names] for labels in drawn], dtype=bool
    ).reshape(explanation.selected.shape)
    explanation.save(out_dir / "explanation")
    save_texts(
        _unique([held_out[index].package for index in chosen]),
        texts,
        out_dir / "descriptions.jsonl",
    )

    hits = cue_hit_rate(explanation, cue_labels)
    shown = _highlight_rows(cue_labels, n_highlights)
    explanation.save_html(
        out_dir / "highlights.html",
        shown,
        [drawn[row] for row in shown],
        titles=[_title(held_out[chosen[row]], cue_labels[row]) for row in shown],
    )
    for row in shown:
        logger.debug("%s\n%s", held_out[chosen[row]].package, explanation.ansi(row))

    metrics = trained.metrics
    summary = {
        "model": {
            "micro_auc": metrics["micro_roc_auc"],
            "macro_auc": metrics["macro_roc_auc"],
            "micro_f1": metrics["micro_f1"],
            "macro_f1": metrics["macro_f1"],
            "per_label_f1": metrics["f1_per_label"],
            "per_label_auc": metrics["roc_auc_per_label"],
            "n_train": metrics["n_train"],
            "n_test": metrics["n_test"],
            "train_seconds": metrics["train_seconds"],
        },
        "explanations": {
            "count": len(explanation),
            "cue_hit_rate": hits["rate"],
            "cue_hit_rate_per_label": hits["per_label"],
            "cue_pairs": hits["documents"],
            "cue_pairs_per_label": hits["documents_per_label"],
            "cue_unscored": hits["unscored"],
            "per_label_limit": per_label,
            "top_words": _TOP_WORDS,
            "algorithm": algorithm,
            "max_evals": max_evals,
            "hide": hide,
            "model_rows": explanation.info["model_rows"],
            "seconds": seconds,
            "seconds_per_document": seconds / max(len(explanation), 1),
            "truncated_documents": int(_truncated(explanation)),
        },
        "data": {"source": source, "path": str(data_path), "held_out": len(held_out)},
        "files": {
            "model": "model.keras",
            "labels": "labels.txt",
            "tokenizer": "tokenizer",
            "highlights": "highlights.html",
            "descriptions": "descriptions.jsonl",
        },
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    logger.info(
        "text demo: micro AUC %.3f, cue hit rate %.3f over %d (description, label) pairs, %.1f s",
        summary["model"]["micro_auc"],
        hits["rate"],
        hits["documents"],
        seconds,
    )
    return summary


def explain_noting_long_texts(explainer: Explainer, texts: Sequence[str]) -> TextExplanation:
    """Explain ``texts``; a truncation is logged in the demo's terms instead of warned.

    The masker's warning names ``--long-text``, which ``labelshap demo`` does not take;
    the demo explains first windows on purpose and says where whole texts are explained.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LongTextWarning)
        explanation = explainer.explain(texts)
    for warning in caught:
        if not isinstance(warning.message, LongTextWarning):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
            continue
        cut = warning.message
        logger.info(
            "%d of %d demo descriptions are longer than the model's %d tokens; the demo "
            "explains their first %d (labelshap explain text --long-text window explains "
            "whole texts)",
            cut.truncated,
            cut.total,
            cut.max_length,
            cut.explained_tokens,
        )
    return explanation


def cue_rank(words: Sequence[WordValue], cues: Sequence[str]) -> float:
    """Rank of the cue among a text's words by value, 1 the highest; inf if not positive.

    The cue's value is that of its best occurrence; its rank is one plus the number of
    other words (not occurrences of a cue word) whose value is at least as high, so a
    word tied with the cue ranks above it (the cue takes the worst rank of its tie).

    Args:
        words: One text's words with their values for the label.
        cues: The cue words, lower case; a word matches when its text, lower-cased, is
            one of them.

    Returns:
        The rank, ``inf`` when the best cue value is not above 0, ``nan`` when no word is
        a cue.

    Examples:
        >>> from labelshap.modalities.text.explanation import WordValue
        >>> words = [WordValue("A", 0, 1, 0.2), WordValue("Perl", 2, 6, 0.2),
        ...          WordValue("tool", 7, 11, 0.1)]
        >>> cue_rank(words, ["perl"])
        2
    """
    is_cue = np.array([word.text.lower() in cues for word in words], dtype=bool)
    if not is_cue.any():
        return float("nan")
    values = np.array([word.value for word in words])
    best = values[is_cue].max()
    if not best > 0:
        return float("inf")
    return 1 + int((values[~is_cue] >= best).sum())


def save_texts(ids: Sequence[str], texts: Sequence[str], path: Path) -> Path:
    """Write texts as JSON lines ``{"id": ..., "text": ...}``, what ``labelshap explain
    text --file`` reads (texts may hold line breaks).

    Args:
        ids: One id per text (the demo's: package names).
        texts: The texts.
        path: The ``.jsonl`` file to write.

    Returns:
        ``path``.
    """
    if len(ids) != len(texts):
        raise ValueError(f"ids has {len(ids)} entries for {len(texts)} texts")
    repeated = sorted(name for name, count in Counter(ids).items() if count > 1)
    if repeated:
        raise ValueError(f"ids must be unique (a job refuses repeated ids); repeated: {repeated}")
    lines = [
        json.dumps({"id": str(name), "text": text}, ensure_ascii=False)
        for name, text in zip(ids, texts, strict=True)
    ]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _unique(names: Sequence[str]) -> list[str]:
    """The names, a repeated one numbered from its second time: ``name``, ``name-2``."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return out


def cue_hit_rate(
    explanation: TextExplanation,
    cue_labels: Sequence[Sequence[str]],
    *,
    cue_words: Mapping[str, Sequence[str]] = CUE_WORDS,
    top: int = _TOP_WORDS,
) -> dict[str, Any]:
    """Share of (text, cue label) pairs whose cue ranks among the ``top`` words.

    Args:
        explanation: Texts explained for (at least) their cue labels.
        cue_labels: Per text, the cue labels it carries and whose cue it contains.
        cue_words: Label -> its cue words.
        top: How many of the most positively attributed words count as a hit.

    Returns:
        ``rate`` over all pairs, ``per_label`` rates, ``documents`` (pairs scored) and
        ``documents_per_label``; a pair whose cue is not among the explained words (it lay
        beyond a truncation) is not scored and is counted in ``unscored``.
    """
    hits: dict[str, list[bool]] = {label: [] for label in cue_words}
    unscored = 0
    for row, labels in enumerate(cue_labels):
        for label in labels:
            rank = cue_rank(explanation.word_values(row, label), cue_words[label])
            if np.isnan(rank):
                unscored += 1
                continue
            hits[label].append(rank <= top)
    scored = [hit for label_hits in hits.values() for hit in label_hits]
    return {
        "rate": float(np.mean(scored)) if scored else float("nan"),
        "per_label": {label: float(np.mean(h)) if h else None for label, h in hits.items()},
        "documents": len(scored),
        "documents_per_label": {label: len(h) for label, h in hits.items()},
        "unscored": unscored,
    }


def demo_data() -> tuple[str, Path]:
    """The debtags table: the shared file when present, else one built from apt lists.

    Returns:
        ``(source, path)``: a description of the source and the ``.jsonl.gz`` path.

    Raises:
        FileNotFoundError: If neither the shared file nor any apt list is found.
    """
    try:
        path = shared_data_file("debtags.jsonl.gz")
        return f"shared file {path}", path
    except FileNotFoundError:
        logger.info("no shared debtags file; building the table from this machine's apt lists")
    documents = load_apt_lists()
    path = cache_dir("data") / "debtags-apt.jsonl.gz"
    records = [
        {
            "package": d.package,
            "section": d.section,
            "summary": d.summary,
            "description": d.description,
            "tags": list(d.tags),
        }
        for d in documents
    ]
    payload = "".join(json.dumps(record, sort_keys=True) + "\n" for record in records)
    with gzip.GzipFile(path, "wb", mtime=0) as handle:
        handle.write(payload.encode("utf-8"))
    return f"apt lists /var/lib/apt/lists ({len(documents)} tagged packages)", path


def _cue_sample(
    held_out: Sequence[Document], trained: Any, per_label: int, seed: int
) -> tuple[list[int], list[list[str]]]:
    """Held-out descriptions per cue label, and each one's cue labels.

    A description qualifies for a label when it carries the label and one of the label's
    cue words is a word within the model's first window.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(held_out)).tolist()
    words = {}
    chosen: dict[int, list[str]] = {}
    for label, cues in CUE_WORDS.items():
        if label not in trained.label_names:
            continue
        count = 0
        for index in order:
            document = held_out[index]
            if label not in document.tags or not _mentions(document.text, cues):
                continue
            if index not in words:
                words[index] = _window_words(trained.tokenizer, document.text, trained)
            if not words[index] & set(cues):
                continue
            chosen.setdefault(index, []).append(label)
            count += 1
            if count == per_label:
                break
    rows = sorted(chosen)
    return rows, [chosen[row] for row in rows]


def _mentions(text: str, cues: Sequence[str]) -> bool:
    return any(re.search(rf"(?i)\b{re.escape(cue)}\b", text) for cue in cues)


def _window_words(tokenizer: Any, text: str, trained: Any) -> set[str]:
    """Lower-cased words of the part of ``text`` the model reads."""
    encoding = tokenizer(
        text, truncation=True, max_length=trained.config.max_length, return_offsets_mapping=True
    )
    spans: dict[int, list[int]] = {}
    for word, (start, end) in zip(encoding.word_ids(), encoding["offset_mapping"], strict=True):
        if word is not None:
            spans.setdefault(word, [start, end])[1] = end
    return {text[start:end].lower() for start, end in spans.values()}


def _highlight_rows(cue_labels: Sequence[Sequence[str]], count: int) -> list[int]:
    """Rows to draw: the first rows of each cue label in turn, ``count`` in all."""
    per_label: dict[str, list[int]] = {}
    for row, labels in enumerate(cue_labels):
        for label in labels:
            per_label.setdefault(label, []).append(row)
    shown: list[int] = []
    depth = 0
    while len(shown) < min(count, len(cue_labels)):
        added = False
        for rows in per_label.values():
            if depth < len(rows) and rows[depth] not in shown and len(shown) < count:
                shown.append(rows[depth])
                added = True
        if not added and depth > len(cue_labels):
            break
        depth += 1
    return sorted(shown)


def _labels_to_show(explanation: TextExplanation, row: int, cue_labels: Sequence[str]) -> list:
    """The text's cue labels, then its best-scored labels, three at least in all."""
    best = np.argsort(-explanation.scores[row], kind="stable")
    shown = list(cue_labels)
    for column in best:
        name = explanation.label_names[column]
        if len(shown) >= 3 and explanation.scores[row, column] < 0.5:
            break
        if name not in shown:
            shown.append(name)
    return shown


def _title(document: Document, cue_labels: Sequence[str]) -> str:
    return f"{document.package} (cue label: {', '.join(cue_labels)})"


def _truncated(explanation: TextExplanation) -> int:
    ends = explanation.extras["explained_range"][:, 1]
    lengths = np.array([len(explanation.text(row)) for row in range(len(explanation))])
    return int((ends < lengths).sum())


def _write_model(trained: Any, out_dir: Path) -> None:
    """Copy the model, its labels and its tokenizer next to the results."""
    model_path = out_dir / "model.keras"
    if trained.path is not None and (trained.path / "model.keras").is_file():
        shutil.copyfile(trained.path / "model.keras", model_path)
    else:
        trained.model.save(model_path)
    labels = "\n".join(trained.label_names) + "\n"
    (out_dir / "labels.txt").write_text(labels, encoding="utf-8")
    trained.tokenizer.save_pretrained(str(out_dir / "tokenizer"))
