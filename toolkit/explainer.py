"""One explainer for every modality: ``Explainer(model, masker).explain(inputs, labels=...)``."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from ._gradient import integrated_mask_gradients
from ._packing import explain_packed
from ._words import counted
from .engines import (
    ALGORITHMS,
    GRADIENT,
    ROW_ALGORITHMS,
    EngineResult,
    estimate,
    masker_algorithms,
    masker_refusal,
    needs_rows_message,
)
from .explanation import Explanation, _explanation_class
from .labels import LabelSelection, select_labels
from .masking import MaskedInput, Masker
from .model import LabelModel

__all__ = ["Explainer"]

logger = logging.getLogger(__name__)

# Inputs explained together: their evaluations share model batches where the masker
# allows it, and they are cut into features by a few host threads.
_GROUP_SIZE = 32
_HOST_THREADS = 2


class Explainer:
    """Explains a multi-label model, label by label, through a modality's masker.

    Every selected label's values come from one shared set of model evaluations: each
    masked input is scored once and all labels are read from that score.

    Args:
        model: A :class:`~labelshap.LabelModel`, or anything ``LabelModel`` accepts (a
            Keras model, a ``.keras`` path, a SavedModel path, a callable).
        masker: The modality's masker (for example ``ImageMasker()``).
        algorithm: One of :data:`~labelshap.ALGORITHMS`: ``"auto"`` (exact when the
            budget covers every coalition, else owen-sampling over the masker's
            hierarchy, else permutation), ``"owen-sampling"`` (Owen values from antithetic
            orders that keep the hierarchy's groups together), ``"partition"`` (Owen
            values by a budgeted traversal refined fairly for every label),
            ``"permutation"`` (antithetic permutations), ``"kernel"`` (Kernel SHAP,
            paired sampling), ``"kernel-rows"`` (tabular maskers: one Kernel SHAP fit
            per background row, averaged; the model rows of ``max_evals`` evaluations),
            ``"exact"``, or shap's own explainers ``"shap-partition"``,
            ``"shap-permutation"``, ``"shap-exact"``; ``"gradient"`` (integrated
            gradients in mask space for differentiable Keras models and image maskers,
            every label in one vectorised pass; ``max_evals`` points on the path; values
            sum to the score gap only up to ``info["completeness_gap"]``).
        max_evals: Budget of masked model evaluations per input.
        seed: Seed of the sampling algorithms; the same seed gives the same values.
        progress: Show a progress bar over the inputs.

    Example:
        >>> from labelshap import Explainer, TopK
        >>> from labelshap.modalities.image import ImageMasker
        >>> explainer = Explainer(model, ImageMasker())  # doctest: +SKIP
        >>> result = explainer.explain(images, labels=TopK(3))  # doctest: +SKIP
        >>> result["cat"].to_shap()  # doctest: +SKIP
    """

    def __init__(
        self,
        model: LabelModel | Any,
        masker: Masker,
        *,
        algorithm: str = "auto",
        max_evals: int = 500,
        seed: int = 0,
        progress: bool = False,
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm={algorithm!r} is not supported; accepted: {ALGORITHMS}")
        if isinstance(max_evals, bool) or not isinstance(max_evals, int) or max_evals < 2:
            raise ValueError(f"max_evals={max_evals!r} must be an integer of at least 2")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed={seed!r} must be a non-negative integer")
        if not isinstance(masker, Masker):
            raise TypeError(
                f"masker of type {type(masker).__name__!r} is not a labelshap Masker; "
                "accepted: ImageMasker, or another subclass of labelshap.Masker"
            )
        refusal = masker_refusal(algorithm, masker)
        if refusal is not None:
            raise ValueError(f"{refusal}; accepted with this masker: {masker_algorithms(masker)}")
        self.model = model if isinstance(model, LabelModel) else LabelModel(model)
        self.masker = masker
        self.algorithm = algorithm
        self.max_evals = max_evals
        self.seed = int(seed)
        self.progress = progress

    def explain(self, inputs: Any, labels: LabelSelection = None) -> Explanation:
        """Explain each input for the selected labels.

        Args:
            inputs: What the masker accepts (for images: file paths, PIL images or
                arrays).
            labels: ``None``/``"all"``, a list of label names, ``TopK(k)`` or
                ``Threshold(t)``.

        Returns:
            An :class:`~labelshap.Explanation` over the union of the selected labels.
        """
        items = self.masker.prepare(inputs, self.model)
        return self.explain_prepared(items, labels)

    def explain_prepared(
        self,
        items: Sequence[Any],
        labels: LabelSelection = None,
        *,
        positions: Sequence[int] | None = None,
        every_label: bool = False,
    ) -> Explanation:
        """Explain inputs already checked by the masker's ``prepare``.

        Batch jobs use this to explain a stream in pieces with the same values as one
        call over everything: input ``i`` is sampled with seed ``seed + positions[i]``,
        and with ``every_label`` the values of every label (or of every listed label)
        are computed whatever labels ``TopK``/``Threshold`` select, so which other
        inputs share a call changes nothing.

        Args:
            items: Prepared inputs (``masker.prepare(...)``), one per row.
            labels: As for :meth:`explain`.
            positions: Each input's position in the whole stream (default ``0..n-1``).
            every_label: Explain every label of the selection's label set, not just
                the union of those selected for these inputs.
        """
        started = time.perf_counter()
        # A chunk of a longer stream (a batch job) logs its steps at DEBUG: the job's
        # progress bar already tells them.
        level = logging.INFO if positions is None else logging.DEBUG
        if positions is None:
            positions = range(len(items))
        if len(positions) != len(items):
            raise ValueError(f"positions has {len(positions)} entries for {len(items)} inputs")
        scores = self.masker.score(items, self.model)
        selected = select_labels(labels, scores, self.model.label_names)
        if every_label and not isinstance(labels, (list, tuple)):
            # TopK / Threshold pick labels per input: explain all, mark the chosen.
            columns = np.arange(self.model.n_labels)
        else:
            columns = np.flatnonzero(selected.any(axis=0))
        logger.log(
            level,
            "explaining %s for %s with %s (max_evals=%d)",
            counted(len(items), "input"),
            counted(len(columns), "label"),
            self.algorithm,
            self.max_evals,
        )

        bound_inputs, results = [], []
        progress = _progress(len(items), self.progress)
        # The estimators' small solves run on one BLAS thread: with OpenBLAS's own threads
        # beside the model's and one estimation thread per input, a 500 x 80 least-squares
        # solve took 0.48 s on a busy 2-core machine, and 4.5 ms on one thread.
        with _one_blas_thread():
            for start in range(0, len(items), _GROUP_SIZE):
                group = self._bind_group(items[start : start + _GROUP_SIZE])
                seeds = [self.seed + int(p) for p in positions[start : start + _GROUP_SIZE]]
                results += self._explain_group(group, columns, seeds)
                bound_inputs += group
                progress.update(len(group))
        progress.close()

        logger.log(
            level,
            "explained %s with %s in %.1f s",
            counted(len(items), "input"),
            ", ".join(sorted({result.algorithm for result in results})) or self.algorithm,
            time.perf_counter() - started,
        )
        return self._assemble(
            bound_inputs,
            results,
            items,
            scores[:, columns],
            selected[:, columns],
            [self.model.label_names[c] for c in columns],
            time.perf_counter() - started,
        )

    def _bind_group(self, items: Sequence[Any]) -> list[MaskedInput]:
        """Cut a group of inputs into features, on host threads (numpy and scikit-image
        release the GIL for most of it)."""
        with ThreadPoolExecutor(max_workers=_HOST_THREADS) as host:
            return list(host.map(lambda item: self.masker.bind(item, self.model), items))

    def _explain_group(
        self, group: Sequence[MaskedInput], columns: np.ndarray, seeds: Sequence[int]
    ) -> list[EngineResult]:
        """Explain a group of inputs, packing their evaluations into shared batches
        where the masker can build several inputs' masked copies in one call."""
        # shap's explainers draw from numpy's global generator, which threads would share;
        # a row algorithm's one call already fills batches (a row per background row).
        packable = (
            self.algorithm != GRADIENT
            and self.algorithm not in ROW_ALGORITHMS
            and not self.algorithm.startswith("shap-")
            and len(group) > 1
            and self.model.is_tensorflow
            and all(bound.group_build is not None for bound in group)
            and len({tuple(np.shape(c) for c in bound.context) for bound in group}) == 1
        )
        if not packable:
            return [
                self._explain_one(bound, columns, seeds[position])
                for position, bound in enumerate(group)
            ]

        def explain_one(bound: MaskedInput, evaluate: Any, position: int) -> EngineResult:
            return self._explain_one(
                bound, columns, seeds[position], lambda masks: evaluate(masks)[:, columns]
            )

        return explain_packed(self.model, group, explain_one)

    def _explain_one(
        self,
        bound: MaskedInput,
        columns: np.ndarray,
        seed: int,
        evaluate: Any = None,
    ) -> EngineResult:
        if self.algorithm == GRADIENT:
            values, base, gap = integrated_mask_gradients(
                self.model, bound, columns, n_steps=self.max_evals
            )
            return EngineResult(values, base, self.max_evals + 2, GRADIENT, completeness_gap=gap)

        if evaluate is None:

            def evaluate(masks: np.ndarray) -> np.ndarray:
                return bound.evaluate(self.model, masks)[:, columns]

        rows = {}
        if self.algorithm in ROW_ALGORITHMS:
            rows = self._row_game(bound, columns)
        return estimate(
            evaluate,
            bound.n_features,
            algorithm=self.algorithm,
            max_evals=self.max_evals,
            clustering=bound.clustering,
            seed=seed,
            batch_size=self.model.batch_size,
            **rows,
        )

    def _row_game(self, bound: MaskedInput, columns: np.ndarray) -> dict[str, Any]:
        """``evaluate_rows`` (of the selected labels) and the background weights a row
        algorithm needs.

        Raises:
            ValueError: If the masker's inputs have no background rows.
        """
        weights = getattr(bound, "background_weights", None)
        if bound.row_build is None or weights is None:
            raise ValueError(
                needs_rows_message(
                    self.algorithm, type(self.masker).__name__, "one of those maskers"
                )
            )

        def evaluate_rows(masks: np.ndarray, rows: np.ndarray) -> np.ndarray:
            return bound.evaluate_rows(self.model, masks, rows)[:, columns]

        return {"evaluate_rows": evaluate_rows, "row_weights": weights}

    def _assemble(
        self,
        bound_inputs: Sequence[MaskedInput],
        results: Sequence[Any],
        items: Sequence[Any],
        scores: np.ndarray,
        selected: np.ndarray,
        label_names: list[str],
        seconds: float,
    ) -> Explanation:
        n_rows, n_labels = scores.shape
        width = max((bound.n_features for bound in bound_inputs), default=0)
        values = np.zeros((n_rows, width, n_labels))
        feature_data = np.zeros((n_rows, width))
        base_values = np.zeros((n_rows, n_labels))
        for row, (bound, result) in enumerate(zip(bound_inputs, results, strict=True)):
            values[row, : bound.n_features] = result.values
            base_values[row] = result.base_values
            if bound.feature_data is not None:
                feature_data[row, : bound.n_features] = bound.feature_data

        extras = {
            name: _stack_padded([bound.extras[name] for bound in bound_inputs])
            for name in (bound_inputs[0].extras if bound_inputs else {})
        }
        info = {
            "algorithm": self.algorithm,
            "max_evals": self.max_evals,
            "seed": self.seed,
            "evaluations": int(sum(result.evaluations for result in results)),
            "model_rows": int(
                sum(
                    result.evaluations * bound.rows_per_mask
                    for bound, result in zip(bound_inputs, results, strict=True)
                )
            ),
            "algorithms_run": sorted({result.algorithm for result in results}),
            "completeness_gap": max((result.completeness_gap for result in results), default=0.0),
            "seconds": seconds,
            "space": self.model.space,
            "model": self.model.source,
            "all_labels": list(self.model.label_names),
        }
        cls = _explanation_class(self.masker.modality)
        return cls(
            values=values,
            base_values=base_values,
            scores=scores,
            label_names=label_names,
            feature_names=[list(bound.feature_names) for bound in bound_inputs],
            selected=selected,
            data=self.masker.as_data(items),
            feature_data=feature_data,
            extras=extras,
            info=info,
        )


_BLAS: dict[str, Any] = {}


def _one_blas_thread() -> Any:
    """A context that limits the BLAS libraries to one thread each.

    threadpoolctl finds the loaded libraries by scanning the process, 3.5 ms per call
    (threadpool_limits); the controller is kept until a module is imported, since a new
    module (scipy.linalg, scikit-learn) may load another BLAS.
    """
    if _BLAS.get("modules") != len(sys.modules):
        _BLAS["controller"] = ThreadpoolController()
        _BLAS["modules"] = len(sys.modules)
    return _BLAS["controller"].limit(limits=1, user_api="blas")


def _progress(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="explaining", unit="input", disable=not enabled)


def _stack_padded(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Stack arrays whose first axis may differ, padding with -1 (ints) or 0."""
    arrays = [np.asarray(array) for array in arrays]
    if len({array.shape for array in arrays}) == 1:
        return np.stack(arrays)
    length = max(len(array) for array in arrays)
    fill = -1 if np.issubdtype(arrays[0].dtype, np.integer) else 0
    out = np.full((len(arrays), length) + arrays[0].shape[1:], fill, dtype=arrays[0].dtype)
    for row, array in enumerate(arrays):
        out[row, : len(array)] = array
    return out
