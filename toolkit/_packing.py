"""Pack the masked evaluations of several inputs into shared, full model batches."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .masking import MaskedInput
    from .model import LabelModel

__all__ = ["explain_packed"]


def explain_packed(
    model: LabelModel,
    bound_inputs: Sequence[MaskedInput],
    explain_one: Callable[[MaskedInput, Callable[[np.ndarray], np.ndarray], int], Any],
) -> list[Any]:
    """Run one estimation per input, their model evaluations packed into shared batches.

    Each input's algorithm runs in its own thread and calls its ``evaluate`` as usual;
    a call blocks until every still-running input has asked for its next masks, then all
    requests go to the model together: one array of the inputs' masks whose last column
    says which input each row belongs to, built into model inputs (``built_rows`` per
    mask) by the masker's ``group_build`` from the inputs' stacked contexts, in full
    batches. An
    algorithm that asks once (exact, permutation, kernel, owen-sampling) therefore shares
    every batch with the other inputs; an adaptive one (partition) shares each round.
    Values are the same as explaining the inputs one at a time: the estimation of each
    input is unchanged, only which rows share a batch differs.

    Args:
        model: The model.
        bound_inputs: Inputs bound by one masker that provides ``group_build``, with
            contexts of equal shapes and the same ``built_rows``.
        explain_one: ``explain_one(bound, evaluate, position)`` runs the estimation of
            one input with the given evaluate function and returns its result.

    Returns:
        The results, in input order.
    """
    group_build = bound_inputs[0].group_build
    context = tuple(
        np.stack([np.asarray(bound.context[k]) for bound in bound_inputs])
        for k in range(len(bound_inputs[0].context))
    )

    built_rows = bound_inputs[0].built_rows

    def run_batch(requests: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        width = max(masks.shape[1] for masks in requests.values())
        packed = np.zeros((sum(len(masks) for masks in requests.values()), width + 1), np.float32)
        start = 0
        for position, masks in requests.items():
            packed[start : start + len(masks), : masks.shape[1]] = masks
            packed[start : start + len(masks), -1] = position
            start += len(masks)
        scores = model.predict_masked(packed, group_build, context, built_rows=built_rows)
        out, start = {}, 0
        for position, masks in requests.items():
            stop = start + len(masks) * built_rows
            out[position] = bound_inputs[position].reduce(scores[start:stop])
            start = stop
        return out

    batcher = _Batcher(len(bound_inputs), run_batch)

    def work(position: int) -> Any:
        try:
            return explain_one(
                bound_inputs[position], lambda masks: batcher.evaluate(position, masks), position
            )
        finally:
            batcher.finish(position)

    with ThreadPoolExecutor(max_workers=len(bound_inputs)) as pool:
        futures = [pool.submit(work, position) for position in range(len(bound_inputs))]
        return [future.result() for future in futures]


class _Batcher:
    """Collects evaluate requests until every running input has one, then runs them."""

    def __init__(self, n_inputs: int, run_batch: Callable[[dict], dict]) -> None:
        self._condition = threading.Condition()
        self._running = n_inputs
        self._requests: dict[int, np.ndarray] = {}
        self._results: dict[int, Any] = {}
        self._run_batch = run_batch

    def evaluate(self, position: int, masks: np.ndarray) -> np.ndarray:
        with self._condition:
            self._requests[position] = np.asarray(masks, dtype=np.float32)
            self._flush_if_complete()
            while position not in self._results:
                self._condition.wait()
            result = self._results.pop(position)
        if isinstance(result, BaseException):
            raise result
        return result

    def finish(self, position: int) -> None:
        with self._condition:
            self._running -= 1
            self._flush_if_complete()

    def _flush_if_complete(self) -> None:
        if not self._requests or len(self._requests) < self._running:
            return
        requests, self._requests = self._requests, {}
        try:
            self._results.update(self._run_batch(requests))
        except Exception as err:  # handed to every waiting input, raised there
            self._results.update({position: err for position in requests})
        self._condition.notify_all()
