"""Text benchmarks on the demo tag model: speed, overhead and accuracy on short texts."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .measure import (
    Record,
    bare_model_seconds,
    label_errors,
    seeds_for,
    summarize_seeds,
    timed,
)

logger = logging.getLogger(__name__)

SPEED_ALGORITHMS = ("permutation", "owen-sampling", "partition", "shap-partition")
SHAPLEY_ALGORITHMS = (
    "permutation",
    "kernel",
    "kernel-cubic",
    "kernel-stack",
    "shap-permutation",
)
OWEN_ALGORITHMS = ("partition", "owen-sampling", "shap-partition")
MAX_TOKENS = 16


def run(quick: bool) -> list[Record]:
    """All text cases."""
    from labelshap import LabelModel
    from labelshap.modalities.text.data import load_debtags, split_by_description
    from labelshap.modalities.text.model import train_text_model

    trained = train_text_model()
    model = LabelModel(trained.model, list(trained.label_names), batch_size=256)
    documents = load_debtags()
    _, test = split_by_description(documents)
    texts = [documents[i].text for i in test[: 16 if quick else 64]]
    records = speed(model, trained.tokenizer, texts, budget=500)
    # 8 texts and 3 seeds (quick): with 3 texts and one seed the medians were noise-bound.
    short = _short_texts(
        trained.tokenizer, [documents[i].summary for i in test], 8 if quick else 16
    )
    seeds = (1, 2, 3) if quick else (1, 2, 3, 4, 5)
    records += accuracy(model, trained.tokenizer, short, budgets=(100, 500, 2000), seeds=seeds)
    return records


def speed(model: Any, tokenizer: Any, texts: list[str], budget: int) -> list[Record]:
    """Seconds and overhead over the bare model on real descriptions."""
    from labelshap import Explainer
    from labelshap.modalities.text import TextMasker

    masker = TextMasker(tokenizer)
    ids = masker.stack(masker.prepare(texts, model))
    records = []
    for algorithm in SPEED_ALGORITHMS:
        explainer = Explainer(model, masker, algorithm=algorithm, max_evals=budget)
        # Warm up on the same inputs: compiles the model for the packed batch shapes and
        # numba's code for shap's explainers, outside the timing.
        explainer.explain(texts)

        def explain(e=explainer, labels=None):
            # The masker keeps the texts it tokenised; a real run tokenises each text
            # once, so each timed run starts without them.
            masker._documents.clear()
            return e.explain(texts, labels=labels)

        seconds, result = timed(explain, 3)
        rows = int(result.info["model_rows"])
        bare = bare_model_seconds(model, np.resize(ids, (rows, ids.shape[1])))
        one, _ = timed(lambda: explain(labels=[model.label_names[0]]))
        records.append(
            Record(
                modality="text",
                case="debtags-conv1d",
                algorithm=algorithm,
                budget=budget,
                n_labels=model.n_labels,
                n_inputs=len(texts),
                seconds=seconds,
                model_rows=rows,
                bare_model_seconds=bare,
                overhead_ratio=seconds / bare,
                extra={"label_scaling_ratio": seconds / one},
            )
        )
    shap_seconds = next(r.seconds for r in records if r.algorithm == "shap-partition")
    for record in records:
        if not record.algorithm.startswith("shap"):
            record.speedup_vs_shap = shap_seconds / record.seconds
    return records


def accuracy(
    model: Any,
    tokenizer: Any,
    texts: list[str],
    budgets: tuple[int, ...],
    seeds: tuple[int, ...] = (1,),
) -> list[Record]:
    """Errors against exact Shapley and Owen values on package summaries of <= 16 tokens.

    Each sampling algorithm runs once per seed; a record holds the mean over seeds of
    the median-label and worst-label errors (deterministic algorithms run once).
    """
    from labelshap import Explainer
    from labelshap.modalities.text import TextMasker

    masker = TextMasker(tokenizer)

    def values(algorithm: str, budget: int, text: str, seed: int = 1) -> np.ndarray:
        explainer = Explainer(model, masker, algorithm=algorithm, max_evals=budget, seed=seed)
        return explainer.explain([text]).values[0]

    # Texts differ in token count, so errors are computed text by text, then averaged
    # over texts for each seed.
    errors: dict[tuple[int, str, str], dict[int, list[np.ndarray]]] = {}
    cases = [(name, "shapley") for name in SHAPLEY_ALGORITHMS]
    cases += [(name, "owen") for name in OWEN_ALGORITHMS]
    for text in texts:
        references = {
            "shapley": values("exact", 2**MAX_TOKENS, text),
            "owen": values("partition", 10**6, text),
        }
        for budget in budgets:
            for name, reference in cases:
                for seed in seeds_for(name, seeds):
                    estimate = values(name, budget, text, seed)
                    per_seed = errors.setdefault((budget, name, reference), {})
                    per_seed.setdefault(seed, []).append(
                        label_errors(estimate[None], references[reference][None])
                    )
    records = []
    for (budget, name, reference), per_seed in errors.items():
        median, worst, details = summarize_seeds(
            [np.mean(per_text, axis=0) for per_text in per_seed.values()]
        )
        records.append(
            Record(
                modality="text",
                case="debtags-summaries-16-tokens",
                algorithm=name,
                budget=budget,
                n_labels=model.n_labels,
                n_inputs=len(texts),
                error_median_label=median,
                error_worst_label=worst,
                reference=reference,
                extra=details,
            )
        )
    return records


def _short_texts(tokenizer: Any, summaries: list[str], count: int) -> list[str]:
    """The first ``count`` summaries of 10-16 tokens (exact enumeration stays cheap)."""
    chosen = []
    for summary in summaries:
        n_tokens = len(tokenizer(summary, add_special_tokens=False)["input_ids"])
        if 10 <= n_tokens <= MAX_TOKENS:
            chosen.append(summary)
        if len(chosen) == count:
            break
    return chosen
