"""Tabular maskers: a hidden feature takes its values from background rows (real, or summarised)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from labelshap.masking import MaskedInput, Masker, pack_rows

from .background import correlation_linkage, kmeans_background
from .table import TableLayout, _is_dataframe, to_matrix

if TYPE_CHECKING:
    from labelshap.model import LabelModel

__all__ = ["IndependentMasker", "PartitionMasker", "build_masked_rows", "build_paired_rows"]

logger = logging.getLogger(__name__)

_LARGE_BACKGROUND = 100


class IndependentMasker(Masker):
    """Hides features interventionally: hidden features take values from background rows.

    The value of a coalition of kept features is the model's output averaged over the
    background rows, each row with the kept features replaced by the explained row's
    values (interventional, or "independent", Shapley values, as ``shap.maskers.Independent``
    computes them). One evaluation therefore costs one model row per background row; the
    masked rows are built with TensorFlow ops inside the compiled model call, and the
    (weighted) mean over background rows is taken after it, in the explanation space.

    **Assumption.** Hiding a feature this way treats features as independent: a hidden
    feature's background value is combined with the row's kept values even where the
    two never occur together in real data (a user with 10 ratings and a rating span of
    5 years). The values explain the model under that intervention, not the data's
    dependence; correlated features can share credit unevenly. :class:`PartitionMasker`
    keeps the same intervention but credits correlated features as a group.

    Inputs: a 2-D array (columns in :attr:`column_names` order), a pandas DataFrame
    (columns matched by name), a mapping of named model inputs (``{"genre": (n, 38),
    "activity": (n, 6)}``) or a mapping of named 1-D columns. Every table is checked:
    NaN or infinite cells, missing or extra columns, text in a numeric column and empty
    tables are refused with the row and column named.

    Args:
        background: Rows of real data, in any of the input forms above. A mapping of
            named inputs makes the masker feed a multi-input model those inputs.
        feature_names: Names of the background's columns when it is a plain array (a
            DataFrame brings its own); for a mapping of named inputs, input name -> its
            column names. Defaults: ``x0, x1, ...``, or ``input[j]``.
        inputs: For a flat background (array or DataFrame) feeding a multi-input model:
            input name -> the names of its columns, in the order the input takes them.
        groups: Feature name -> column names hidden and kept together, counted as one
            feature (the one-hot columns of a category).
        categorical: Names of columns holding category codes (an embedded category):
            compared by equality in the k-means summary and the hierarchy, and checked
            to be whole numbers.
        summarize: Summarise the background to this many rows with k-means (see
            :func:`~.background.kmeans_background`: cluster centres weighted by cluster
            size, categories kept whole); None keeps every row with equal weights.
        seed: Seed of the k-means summary.

    Example:
        >>> import numpy as np
        >>> masker = IndependentMasker(np.zeros((5, 3)), feature_names=["a", "b", "c"])
        >>> masker.feature_names, masker.background.shape
        (['a', 'b', 'c'], (5, 3))
    """

    modality = "tabular"
    background_rows = True

    def __init__(
        self,
        background: Any,
        *,
        feature_names: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
        inputs: Mapping[str, Sequence[str]] | None = None,
        groups: Mapping[str, Sequence[str]] | None = None,
        categorical: Sequence[str] | None = None,
        summarize: int | None = None,
        seed: int = 0,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed={seed!r} must be a non-negative integer")
        layout, table = _layout_of(background, feature_names, inputs, groups, categorical)
        rows = to_matrix(table, layout, "background")

        self.layout = layout
        self.summarize = summarize
        self.seed = int(seed)
        self._all_rows = rows
        if summarize is None:
            self.background = rows
            self.background_weights = np.full(len(rows), 1.0 / len(rows))
            if len(rows) > _LARGE_BACKGROUND:
                logger.info(
                    "background of %d rows: every evaluation costs %d model rows; "
                    "summarize=30 (command line: --summarize 30) would cut that",
                    len(rows),
                    len(rows),
                )
        else:
            self.background, self.background_weights = kmeans_background(
                rows, layout, summarize, seed=self.seed
            )

    @property
    def feature_names(self) -> list[str]:
        """One name per feature (a group counts once)."""
        return list(self.layout.feature_names)

    @property
    def column_names(self) -> list[str]:
        """Names of the flat table's columns, in the order a plain array must follow."""
        return list(self.layout.column_names)

    @property
    def clustering(self) -> np.ndarray | None:
        """The feature hierarchy for the partition algorithm (none for this masker)."""
        return None

    @property
    def has_hierarchy(self) -> bool:
        return self.clustering is not None

    def prepare(self, inputs: Any, model: LabelModel) -> np.ndarray:
        """Check rows against the background's columns and the model: ``(n, C)`` float64."""
        _check_model(self.layout, model)
        return _check_range(to_matrix(inputs, self.layout, "rows"), self.layout, model, "rows")

    def prepare_one(self, item: Any, model: LabelModel) -> np.ndarray:
        """``prepare`` for one row: a 1-D array, or a mapping of named columns (one value
        each) or of named inputs (one row each)."""
        rows = self.prepare(item, model)
        if len(rows) != 1:
            raise ValueError(
                f"item holds {len(rows)} rows; accepted: one row of {self.layout.n_columns} columns"
            )
        return rows

    def stack(self, items: Sequence[Any]) -> np.ndarray | dict[str, np.ndarray]:
        """The model's batch: the matrix, or one block of columns per named input."""
        return self.layout.split(self.as_data(items))

    def as_data(self, items: Sequence[Any]) -> np.ndarray:
        """The rows as one ``(n, C)`` matrix of every column."""
        return np.asarray(np.stack(list(items)), dtype=np.float64)

    def bind(self, item: np.ndarray, model: LabelModel) -> MaskedInput:
        """One row as features, each hidden by the background's values.

        Raises:
            TypeError: If ``item`` is not numeric.
            ValueError: If it is not one row of the masker's columns, or holds NaN or
                infinite values.
        """
        # The same checks as `prepare`, for a row that did not come from it.
        rows = to_matrix(item, self.layout, "item")
        if len(rows) != 1:
            raise ValueError(
                f"item holds {len(rows)} rows; accepted: one row of {self.layout.n_columns} "
                "columns (bind one row at a time)"
            )
        row = _check_range(rows, self.layout, model, "item")[0]
        context: tuple[Any, ...] = (row, self.background, self.layout.expansion())
        if model.is_tensorflow:
            import tensorflow as tf

            context = tuple(tf.constant(array, dtype=tf.float32) for array in context)
        return BackgroundMaskedInput(
            n_features=self.layout.n_features,
            feature_names=list(self.layout.feature_names),
            build=_builder(self.layout, model),
            group_build=_builder(self.layout, model, group=True) if model.is_tensorflow else None,
            row_build=_builder(self.layout, model, paired=True),
            context=context,
            clustering=self.clustering,
            feature_data=self.layout.feature_values(row[None])[0],
            rows_per_mask=len(self.background),
            built_rows=len(self.background),
            background_weights=self.background_weights,
            layout=self.layout,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.layout.n_features} features, "
            f"{len(self.background)} background rows, summarize={self.summarize!r})"
        )


class PartitionMasker(IndependentMasker):
    """The independent masker plus a hierarchy that clusters features by correlation.

    Features are hidden exactly as :class:`IndependentMasker` hides them. What changes
    is the hierarchy the ``"partition"`` algorithm walks: features strongly correlated
    over the background (average linkage on ``1 - |r|``; see
    :func:`~.background.correlation_linkage`) are merged first, so they are credited as a
    group before credit is split inside it (Owen values). A pair of correlated features
    is then never split by a coalition that keeps one and hides the other until the
    budget reaches their group; with the ``"permutation"`` or ``"exact"`` algorithm the
    hierarchy is unused and the values equal the independent masker's.

    The correlation is measured on the whole background, before any k-means summary.

    Args:
        background: As for :class:`IndependentMasker`.
        clustering: ``"correlation"``, or a scipy linkage matrix ``(F - 1, 4)`` over the
            features of your own.
        **options: The other arguments of :class:`IndependentMasker`.
    """

    def __init__(
        self, background: Any, *, clustering: str | np.ndarray = "correlation", **options: Any
    ) -> None:
        super().__init__(background, **options)
        if isinstance(clustering, str):
            if clustering != "correlation":
                raise ValueError(
                    f"clustering={clustering!r} is not supported; accepted: 'correlation' or "
                    "a linkage matrix"
                )
            linkage = correlation_linkage(self._all_rows, self.layout)
        else:
            linkage = np.asarray(clustering, dtype=np.float64)
            expected = (self.layout.n_features - 1, 4)
            if linkage.shape != expected:
                raise ValueError(
                    f"clustering has shape {linkage.shape!r}; a linkage matrix over "
                    f"{self.layout.n_features} features has shape {expected!r}"
                )
        self._linkage = linkage

    @property
    def clustering(self) -> np.ndarray | None:
        """The feature hierarchy as a scipy linkage matrix ``(F - 1, 4)``."""
        return self._linkage


@dataclass
class BackgroundMaskedInput(MaskedInput):
    """A row whose every evaluation is the mean of the model over the background rows.

    Attributes:
        background_weights: ``(B,)`` weight of each background row, summing to 1 (the
            weights with which ``"kernel-rows"`` averages the background rows' values).
        layout: The columns, to build masked rows with numpy for non-TensorFlow models.
    """

    background_weights: np.ndarray = field(default_factory=lambda: np.ones(1))
    layout: TableLayout | None = None

    def evaluate(self, model: LabelModel, masks: np.ndarray) -> np.ndarray:
        """Score the row under ``masks``: ``(m, n_features)`` -> ``(m, n_labels)``.

        Each mask becomes one model row per background row, on the device for a
        TensorFlow model (only the masks cross from the host); the model's scores are
        then averaged over the background rows with their weights.
        """
        if model.is_tensorflow:
            return super().evaluate(model, masks)
        masks = np.asarray(masks, dtype=np.float32)
        filled = build_masked_rows(masks, *(np.asarray(part) for part in self.context))
        return self.reduce(model.predict(self.layout.split(filled)))

    def evaluate_rows(self, model: LabelModel, masks: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Score the row under each mask against the one background row it names.

        Args:
            model: The model.
            masks: ``(m, n_features)`` masks, 1 keeps a feature.
            rows: ``(m,)`` indices into the background rows.

        Returns:
            ``(m, n_labels)`` scores, one model row per mask, not averaged.

        Raises:
            ValueError: If an index is not a background row, or the shapes do not match.
        """
        rows = np.asarray(rows)
        n_background = len(self.background_weights)
        if rows.size and (rows.min() < 0 or rows.max() >= n_background):
            raise ValueError(
                f"rows holds indices from {rows.min():g} to {rows.max():g}; accepted: indices "
                f"of the {n_background} background rows, 0 to {n_background - 1}"
            )
        if model.is_tensorflow:
            return super().evaluate_rows(model, masks, rows)
        packed = pack_rows(masks, rows, self.n_features)
        filled = build_paired_rows(packed, *(np.asarray(part) for part in self.context))
        return model.predict(self.layout.split(filled))

    def reduce(self, scores: np.ndarray) -> np.ndarray:
        """The weighted mean of each mask's scores over the background rows."""
        n_background = len(self.background_weights)
        scores = scores.reshape(len(scores) // n_background, n_background, -1)
        return np.einsum("mbl,b->ml", scores, self.background_weights)


def build_masked_rows(masks: Any, row: Any, background: Any, expansion: Any) -> Any:
    """Masked copies of one row against every background row, in TensorFlow or numpy.

    Args:
        masks: ``(m, F)`` masks over the ``F`` features (1 keeps).
        row: ``(C,)`` the explained row.
        background: ``(B, C)`` background rows.
        expansion: ``(F, C)`` 0/1, the columns of each feature.

    Returns:
        ``(m * B, C)``: for each mask, one row per background row (mask-major): the row's
        values where its feature is kept, else that background row's.
    """
    if isinstance(masks, np.ndarray):
        keep = (masks > 0.5).astype(np.float32) @ expansion > 0.5
        filled = np.where(keep[:, None, :], row[None, None, :], background[None, :, :])
        return filled.reshape(-1, background.shape[1])
    import tensorflow as tf

    keep = tf.matmul(tf.cast(masks > 0.5, tf.float32), expansion) > 0.5
    return _against_background(keep, row[None, :], background)


def build_paired_rows(rows: Any, row: Any, background: Any, expansion: Any) -> Any:
    """Masked copies of one row, each against one background row, in TensorFlow or numpy.

    Args:
        rows: ``(m, F + 1)``: a mask over the ``F`` features (1 keeps), then the index of
            the background row it hides against.
        row: ``(C,)`` the explained row.
        background: ``(B, C)`` background rows.
        expansion: ``(F, C)`` 0/1, the columns of each feature.

    Returns:
        ``(m, C)``: the row's values where a feature is kept, else the named background
        row's.
    """
    if isinstance(rows, np.ndarray):
        keep = (rows[:, :-1] > 0.5).astype(np.float32) @ expansion > 0.5
        against = background[rows[:, -1].astype(np.int64)]
        return np.where(keep, row[None, :], against)
    import tensorflow as tf

    keep = tf.matmul(tf.cast(rows[:, :-1] > 0.5, tf.float32), expansion) > 0.5
    against = tf.gather(background, tf.cast(rows[:, -1], tf.int32))
    return tf.where(keep, row[None, :], against)


def build_masked_rows_group(rows: Any, row: Any, background: Any, expansion: Any) -> Any:
    """:func:`build_masked_rows` for masks of several rows of one masker, in TensorFlow.

    Args:
        rows: ``(m, F + 1)``: a mask, then the position of its explained row in the group.
        row: ``(G, C)`` the explained rows.
        background: ``(G, B, C)`` the background, the same for every row of the group.
        expansion: ``(G, F, C)`` the columns of each feature, the same for every row.

    Returns:
        ``(m * B, C)`` masked rows, mask-major.
    """
    import tensorflow as tf

    n_features = tf.shape(expansion)[1]
    keep = tf.matmul(tf.cast(rows[:, :n_features] > 0.5, tf.float32), expansion[0]) > 0.5
    explained = tf.gather(row, tf.cast(rows[:, -1], tf.int32))
    return _against_background(keep, explained, background[0])


def _against_background(keep: Any, explained: Any, background: Any) -> Any:
    """``(m * B, C)``: ``explained`` (``(m, C)`` or ``(1, C)``) where ``keep`` ``(m, C)``,
    else each of the ``B`` background rows."""
    import tensorflow as tf

    filled = tf.where(keep[:, None, :], explained[:, None, :], background[None, :, :])
    return tf.reshape(filled, [-1, tf.shape(background)[1]])


@dataclass(frozen=True)
class _InputBuilder:
    """``build`` of a tabular MaskedInput: masked rows, cast and split per model input.

    Frozen, so two builders of the same layout and dtypes are equal and the model
    compiles them once. ``group`` builds several rows' masks (``group_build``),
    ``paired`` one model row per mask against the background row it names
    (``row_build``).
    """

    inputs: tuple[tuple[str, int, str], ...]
    dtype: str
    group: bool = False
    paired: bool = False

    def __call__(self, rows: Any, row: Any, background: Any, expansion: Any) -> Any:
        import tensorflow as tf

        if self.paired:
            build = build_paired_rows
        else:
            build = build_masked_rows_group if self.group else build_masked_rows
        filled = build(rows, row, background, expansion)
        if not self.inputs:
            return tf.cast(filled, self.dtype)
        parts = tf.split(filled, [width for _, width, _ in self.inputs], axis=1)
        return {
            name: tf.cast(part, dtype)
            for (name, _, dtype), part in zip(self.inputs, parts, strict=True)
        }


def _builder(
    layout: TableLayout, model: LabelModel, group: bool = False, paired: bool = False
) -> _InputBuilder:
    spec = model.input_spec
    if isinstance(spec, dict):
        return _InputBuilder(
            tuple((name, width, str(spec[name][1])) for name, width in layout.inputs),
            "float32",
            group,
            paired,
        )
    dtype = str(spec[1]) if spec is not None else "float32"
    return _InputBuilder((), dtype, group, paired)


def _layout_of(
    background: Any,
    feature_names: Sequence[str] | Mapping[str, Sequence[str]] | None,
    inputs: Mapping[str, Sequence[str]] | None,
    groups: Mapping[str, Sequence[str]] | None,
    categorical: Sequence[str] | None,
) -> tuple[TableLayout, Any]:
    """The layout a background describes, and the background as ``to_matrix`` reads it."""
    options = {"groups": groups, "categorical": categorical}
    if isinstance(background, Mapping) and not inputs:
        # Named model inputs: each (n, width), or (n,) for one column.
        names_of = feature_names if isinstance(feature_names, Mapping) else {}
        unknown = sorted(set(map(str, names_of)) - set(map(str, background)))
        if feature_names is not None and (not isinstance(feature_names, Mapping) or unknown):
            raise ValueError(
                f"feature_names for a mapping background must map its input names "
                f"{sorted(map(str, background))!r} to column names; got {feature_names!r}"
            )
        named_inputs = {}
        for name, block in background.items():
            block = np.asarray(block)
            width = 1 if block.ndim == 1 else (block.shape[1] if block.ndim == 2 else -1)
            if width < 0:
                raise ValueError(
                    f"background[{name!r}] has shape {block.shape!r}; expected (n, width)"
                )
            default = [str(name)] if width == 1 else [f"{name}[{j}]" for j in range(width)]
            columns = [str(c) for c in names_of.get(name, default)]
            if len(columns) != width:
                raise ValueError(
                    f"feature_names[{name!r}] names {len(columns)} columns but "
                    f"background[{name!r}] has {width}"
                )
            named_inputs[str(name)] = columns
        flat = [column for columns in named_inputs.values() for column in columns]
        layout = TableLayout.from_names(flat, inputs=named_inputs, **options)
        return layout, background

    if _is_dataframe(background):
        names = [str(name) for name in background.columns]
        if feature_names is not None and list(feature_names) != names:
            raise ValueError(
                f"feature_names={feature_names!r} differ from the DataFrame's columns {names!r}; "
                "leave feature_names out for a DataFrame"
            )
        return TableLayout.from_names(names, inputs=inputs, **options), background

    if isinstance(background, Mapping):
        names = [str(name) for name in background]
        return TableLayout.from_names(names, inputs=inputs, **options), background

    array = np.asarray(background)
    if array.ndim != 2:
        raise ValueError(
            f"background has shape {array.shape!r}; accepted: a 2-D array of rows, a "
            "DataFrame or a mapping of named inputs"
        )
    if feature_names is None:
        names = [f"x{j}" for j in range(array.shape[1])]
    else:
        names = [str(name) for name in feature_names]
        if isinstance(feature_names, Mapping) or len(names) != array.shape[1]:
            raise ValueError(
                f"feature_names names {len(names)} columns but the background has "
                f"{array.shape[1]}; give one name per column"
            )
    layout = TableLayout.from_names(names, inputs=inputs, **options)
    # Named columns, so that inputs= may take them in another order than the array's.
    return layout, {name: array[:, j] for j, name in enumerate(names)}


def _check_range(
    matrix: np.ndarray, layout: TableLayout, model: LabelModel, argument: str
) -> np.ndarray:
    """Refuse values a TensorFlow model cannot hold: masked rows are built in float32."""
    if not model.is_tensorflow:
        return matrix
    beyond = np.abs(matrix) > np.finfo(np.float32).max
    if beyond.any():
        row, column = (int(i) for i in np.argwhere(beyond)[0])
        raise ValueError(
            f"{argument} holds {float(matrix[row, column])!r} at row {row}, column "
            f"{layout.column_names[column]!r}, beyond float32 range (masked rows are built "
            "in float32 for the model); accepted: values within +-3.4e38, rescale the column"
        )
    return matrix


def _check_model(layout: TableLayout, model: LabelModel) -> None:
    """Refuse a model whose declared inputs do not take the masker's columns."""
    spec = model.input_spec
    if spec is None:
        return
    if isinstance(spec, dict):
        declared = {name: tuple(shape) for name, (shape, _) in spec.items()}
        given = {name: (width,) for name, width in layout.inputs}
        if set(declared) != set(given) or any(
            declared[name] not in (given[name], () if given[name] == (1,) else None)
            for name in given
        ):
            raise ValueError(
                f"model {model.source!r} takes inputs {declared!r} but the masker's background "
                f"gives {given or {'(one matrix)': (layout.n_columns,)}!r}; give the background "
                "as a mapping of those inputs, or pass inputs={name: [columns]}"
            )
        return
    shape = tuple(spec[0])
    if layout.inputs or shape != (layout.n_columns,):
        raise ValueError(
            f"model {model.source!r} takes one input of shape {shape!r} but the masker's "
            f"background has {layout.n_columns} columns"
            + (f" in named inputs {[name for name, _ in layout.inputs]!r}" if layout.inputs else "")
        )
