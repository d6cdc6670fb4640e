"""The masker contract: how a modality cuts an input into features and hides them."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from .model import LabelModel

__all__ = ["Masker", "MaskedInput", "pack_rows"]


@dataclass
class MaskedInput:
    """One input cut into features, ready to be scored under any set of masks.

    Attributes:
        n_features: Number of features (superpixels, tokens, columns).
        feature_names: One name per feature.
        build: A function of TensorFlow tensors ``(masks, *context)`` that returns the
            model's input batch for ``(m, n_features)`` masks (1 keeps a feature, 0
            hides it). It is compiled together with the model, so it must be the same
            function object for every input of a masker.
        context: The tensors ``build`` needs besides the masks.
        clustering: A hierarchy over the features as a scipy linkage matrix
            ``(n_features - 1, 4)``, or ``None`` where the masker has none.
        feature_data: ``(n_features,)`` a number describing each feature's content
            (mean intensity, token id, column value), shown by ``shap.plots``.
        extras: Arrays the picture of this modality needs (a segment map, offsets).
        rows_per_mask: Model rows one evaluation costs (1; a tabular masker that
            averages over background rows costs one row per background row).
        soft_build: Like ``build`` but differentiable in masks with values in [0, 1]
            (a feature blends towards its fill), for the gradient algorithm; ``None``
            where the masked inputs are not differentiable (token ids).
        group_build: Builds masked copies of several inputs in one call:
            ``group_build(rows, *stacked_contexts)`` where ``rows`` are the masks of each
            input, padded with zeros to one width, plus a last column that holds each
            row's position in the group, and the contexts of the group's inputs are
            stacked. ``None`` where the masker cannot (inputs are then evaluated one at
            a time).
        built_rows: Model rows ``build`` and ``group_build`` make from each mask, on the
            device (1; a tabular masker makes one per background row, so that only the
            masks cross from the host). :meth:`reduce` turns them back into one score
            row per mask.
        row_build: Like ``build``, but makes one model row per mask, against the
            background row the mask names: ``row_build(rows, *context)`` where ``rows``
            is ``(m, n_features + 1)``, a mask then the index of its background row.
            The ``"kernel-rows"`` algorithm scores each background row's game through it
            (:meth:`evaluate_rows`). ``None`` where the masker has no background rows
            (images, text).
    """

    n_features: int
    feature_names: list[str]
    build: Callable[..., Any]
    context: tuple[Any, ...]
    clustering: np.ndarray | None = None
    feature_data: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    rows_per_mask: int = 1
    soft_build: Callable[..., Any] | None = None
    group_build: Callable[..., Any] | None = None
    built_rows: int = 1
    row_build: Callable[..., Any] | None = None

    def evaluate(self, model: LabelModel, masks: np.ndarray) -> np.ndarray:
        """Score the input under ``masks``: ``(m, n_features)`` -> ``(m, n_labels)``."""
        masks = np.asarray(masks, dtype=np.float32)
        scores = model.predict_masked(masks, self.build, self.context, built_rows=self.built_rows)
        return self.reduce(scores)

    def evaluate_rows(self, model: LabelModel, masks: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Score the input under each mask against one background row, not averaged.

        Args:
            model: The model.
            masks: ``(m, n_features)`` masks, 1 keeps a feature.
            rows: ``(m,)`` integer index of the background row each mask hides against.

        Returns:
            ``(m, n_labels)``: one score row per mask.

        Raises:
            ValueError: If the masker gives no ``row_build`` (it has no background rows),
                or ``masks`` and ``rows`` do not match.
        """
        if self.row_build is None:
            raise ValueError(
                "evaluate_rows needs a masked input with background rows (row_build); this "
                "masker gives none; accepted: the inputs of a tabular IndependentMasker or "
                "PartitionMasker"
            )
        return model.predict_masked(
            pack_rows(masks, rows, self.n_features), self.row_build, self.context, built_rows=1
        )

    def reduce(self, scores: np.ndarray) -> np.ndarray:
        """``(m * built_rows, n_labels)`` scores of the built rows, back to one row per
        mask."""
        return scores


class Masker(abc.ABC):
    """Base class of the modality maskers.

    A masker does two things: ``prepare`` checks and normalises the user's inputs once,
    at the public entry, into what the model takes; ``bind`` cuts one prepared input
    into features and returns a :class:`MaskedInput` that builds masked copies of it.
    ``stack`` turns prepared inputs into one model batch and ``as_data`` into the array
    the result keeps. No method changes the masker.

    A masker whose bound inputs hide features by background rows, with a ``row_build``
    and ``background_weights``, sets ``background_rows = True``: the row algorithms
    (``"kernel-rows"``) run only on such maskers. One whose bound inputs give a
    ``soft_build`` sets ``differentiable_masks = True``: ``"gradient"`` needs it. One
    whose bound inputs have no ``clustering`` says so with ``has_hierarchy``.
    """

    modality: ClassVar[str] = "generic"
    background_rows: ClassVar[bool] = False
    differentiable_masks: ClassVar[bool] = False

    @property
    def has_hierarchy(self) -> bool:
        """Whether bound inputs carry a feature hierarchy (``clustering``), which the
        partition algorithms walk."""
        return True

    @abc.abstractmethod
    def prepare(self, inputs: Any, model: LabelModel) -> Sequence[Any]:
        """Validate ``inputs`` and return them in the form the model takes, one per row."""

    @abc.abstractmethod
    def bind(self, item: Any, model: LabelModel) -> MaskedInput:
        """Cut one prepared input into features."""

    def prepare_one(self, item: Any, model: LabelModel) -> Sequence[Any]:
        """``prepare`` for a single input (a batch job's item): a batch of one."""
        return self.prepare([item], model)

    def join(self, batches: Sequence[Sequence[Any]]) -> Sequence[Any]:
        """Join several results of ``prepare`` into one, as if prepared together.

        Batch jobs prepare each input alone (so one bad input fails alone), then explain
        the good ones together.
        """
        if batches and all(isinstance(batch, np.ndarray) for batch in batches):
            return np.concatenate(batches)
        return [item for batch in batches for item in batch]

    def stack(self, items: Sequence[Any]) -> Any:
        """Stack prepared inputs into one model batch (an array by default)."""
        return np.stack(list(items))

    def as_data(self, items: Sequence[Any]) -> np.ndarray:
        """The inputs as the result keeps them: one array row per input (no objects)."""
        return np.asarray(self.stack(items))

    def score(self, items: Sequence[Any], model: LabelModel) -> np.ndarray:
        """The scores the values explain: the model on the stacked inputs by default.

        A masker whose input is scored as several model rows (text read in windows)
        overrides this so that the scores equal its inputs evaluated with every
        feature kept.
        """
        return model.predict(self.stack(items))


def pack_rows(masks: np.ndarray, rows: np.ndarray, n_features: int) -> np.ndarray:
    """``(m, n_features + 1)`` float32: each mask, then its background row's index.

    Raises:
        ValueError: If ``masks`` is not ``(m, n_features)`` or ``rows`` not ``(m,)``
            whole numbers.
    """
    masks = np.asarray(masks, dtype=np.float32)
    rows = np.asarray(rows)
    if masks.ndim != 2 or masks.shape[1] != n_features:
        raise ValueError(
            f"masks has shape {masks.shape!r}; accepted: (m, {n_features}), one mask per row"
        )
    if rows.shape != (len(masks),) or (rows.size and not np.all(rows == np.round(rows))):
        raise ValueError(
            f"rows has shape {rows.shape!r}; accepted: ({len(masks)},) integer indices of "
            "background rows, one per mask"
        )
    # float32 holds every index below 2 ** 24 exactly.
    return np.concatenate([masks, rows.astype(np.float32)[:, None]], axis=1)
