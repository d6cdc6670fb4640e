"""A multi-label model behind one batched, compiled calling convention."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ._loading import ends_in_softmax, resolve_model
from .labels import load_label_names

__all__ = ["LabelModel", "OUTPUT_KINDS"]

logger = logging.getLogger(__name__)

OUTPUT_KINDS = ("probability", "logit")
_PROBABILITY_EPS = 1e-7
_MIN_PADDED_ROWS = 16
# Bytes of model input one call may hold by default: 2 rows of a 4096 x 4096 RGB image.
DEFAULT_MAX_BATCH_BYTES = 512 * 2**20
# Rows of probabilities summing to 1 within this make a model look like a softmax.
_SOFTMAX_SUM_TOLERANCE = 1e-4
# Rows that must all sum to 1 (and differ) before a callable's scores are taken for a
# softmax: one or two rows of two sigmoid labels may sum to 1 by chance.
_SOFTMAX_MIN_ROWS = 4

Inputs = np.ndarray | Mapping[str, np.ndarray]


class LabelModel:
    """Wraps a multi-label model so that every explainer calls it the same fast way.

    The model is called through one compiled ``tf.function`` on batches of fixed sizes:
    full batches of ``batch_size`` rows, and a last, partial batch padded up to the next
    power of two (at least 16 rows). The function is therefore traced at most a handful
    of times, never once per call, while small calls (as explainers make while they
    refine) do not pay for a whole batch. ``model.predict`` is never used (2-5x slower
    than a compiled call on small batches).

    Memory: a call holds at most ``max_batch_bytes`` of model input (fewer rows than
    ``batch_size`` for large inputs: one 4096 x 4096 RGB float32 image is 201 MB). If a
    call still runs out of memory (``tf.errors.ResourceExhaustedError`` or
    ``MemoryError``), the batch size is halved, with a warning, and the same rows are
    retried; finished batches are kept and later calls keep the smaller size.

    Args:
        model: A Keras model, the path of a ``.keras`` file, the path of a SavedModel
            directory, or any callable that maps a batch of inputs to an ``(n, n_labels)``
            array of scores.
        labels: Label names: a sequence of strings or the path of a text file with one
            name per line. ``None`` names them ``label_0``, ``label_1``, ...
        output: What the model returns: ``"probability"`` (sigmoid outputs) or
            ``"logit"``.
        space: The space in which to explain, ``"probability"`` or ``"logit"``;
            defaults to ``output``.
        batch_size: Most rows per model call; halved when a call runs out of memory.
        max_batch_bytes: Most bytes of model input per call (the built inputs, for
            masked calls); ``None`` for no limit. At least one row is always sent.
        unsafe_load: Allow a ``.keras`` file that needs unsafe deserialisation (for
            example a ``Lambda`` layer). Only for files you trust.

    Raises:
        ValueError: If the model's outputs are not ``(n, n_labels)``, if the number of
            label names differs from the number of outputs, if a file is not a model, or
            if an argument is not one of the accepted values. Scores that are NaN or
            infinite are refused when they are computed.
        FileNotFoundError: If a model path or a labels file does not exist.

    Warns:
        UserWarning: Once per model, if it looks single-label: its last layer is a
            softmax, or every row of probabilities it scored sums to 1. Softmax labels
            compete for one unit of probability, so a label's value also reflects the
            evidence for the others.
    """

    def __init__(
        self,
        model: Any,
        labels: Sequence[str] | str | os.PathLike | None = None,
        *,
        output: str = "probability",
        space: str | None = None,
        batch_size: int = 256,
        max_batch_bytes: int | None = DEFAULT_MAX_BATCH_BYTES,
        unsafe_load: bool = False,
    ) -> None:
        if output not in OUTPUT_KINDS:
            raise ValueError(f"output={output!r} is not supported; accepted: {OUTPUT_KINDS}")
        space = output if space is None else space
        if space not in OUTPUT_KINDS:
            raise ValueError(f"space={space!r} is not supported; accepted: {OUTPUT_KINDS}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
        if max_batch_bytes is not None and (
            isinstance(max_batch_bytes, bool)
            or not isinstance(max_batch_bytes, int)
            or max_batch_bytes < 1
        ):
            raise ValueError(
                f"max_batch_bytes={max_batch_bytes!r} must be a positive integer or None"
            )

        self.output = output
        self.space = space
        self.batch_size = batch_size
        self.max_batch_bytes = max_batch_bytes
        self._built_row_bytes: dict[Any, int] = {}
        self.source = str(model) if isinstance(model, (str, os.PathLike)) else type(model).__name__

        self._keras, self._callable, self.input_spec = resolve_model(model, unsafe_load)
        n_outputs = self._declared_outputs()
        names = load_label_names(labels) if labels is not None else None
        if names is None:
            if n_outputs is None:
                raise ValueError(
                    "labels=None needs a model that declares its output width; pass the "
                    "label names for a plain callable"
                )
            names = [f"label_{i}" for i in range(n_outputs)]
        if n_outputs is not None and len(names) != n_outputs:
            from_file = isinstance(labels, (str, os.PathLike))
            raise ValueError(
                f"{f'labels file {str(labels)!r}' if from_file else 'labels'}: {len(names)} "
                f"names were given but the model has {n_outputs} outputs ({self.source!r}); "
                f"give exactly one name per output{', one per line' if from_file else ''}"
            )
        self.label_names: list[str] = list(names)
        self._compiled: dict[Any, Callable] = {}
        self._warned_softmax = False
        if self._keras is not None and ends_in_softmax(self._keras):
            self._warn_softmax("its last layer's activation is softmax")

    @property
    def n_labels(self) -> int:
        """Number of labels the model scores."""
        return len(self.label_names)

    @property
    def is_tensorflow(self) -> bool:
        """Whether the model runs in TensorFlow (so masked inputs can be built on device)."""
        return self._keras is not None

    def label_index(self, label: str | int) -> int:
        """Return the column of one label, given by name or by index.

        Raises:
            KeyError: If the label is unknown; the message lists the known names.
        """
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            if 0 <= label < self.n_labels:
                return int(label)
        elif label in self.label_names:
            return self.label_names.index(label)
        raise KeyError(f"label {label!r} is not one of the model's labels {self.label_names}")

    def predict(self, inputs: Inputs) -> np.ndarray:
        """Score a batch of inputs.

        Args:
            inputs: An array with one row per input, or for multi-input models a mapping
                from input name to such an array.

        Returns:
            ``(n, n_labels)`` float64 scores in the explanation space.
        """
        n_rows = _count_rows(inputs)
        self._check_input_shape(inputs, "the inputs it was given")
        if self._keras is None:
            return self._predict_callable(inputs, n_rows)
        import tensorflow as tf

        inputs = self._cast(inputs)
        function = self._compiled_function(None)

        def call(start: int, stop: int, padded_size: int) -> np.ndarray:
            batch = _map_inputs(inputs, lambda a: _pad_rows(a[start:stop], padded_size))
            batch = _map_inputs(batch, tf.convert_to_tensor)
            return self._check_output(function(batch), padded_size)[: stop - start]

        outputs = self._run_batches(n_rows, _row_bytes(inputs), call)
        return self._to_space(np.concatenate(outputs) if outputs else self._empty())

    def predict_masked(
        self,
        masks: np.ndarray,
        build: Callable[..., Any],
        context: tuple[Any, ...],
        built_rows: int = 1,
    ) -> np.ndarray:
        """Score inputs that are built from masks, on the device, in fixed-size batches.

        Only ``masks`` cross from the host to the device: ``build(masks, *context)`` turns
        a batch of masks into model inputs with TensorFlow ops, inside the same compiled
        function as the model.

        Args:
            masks: ``(m, n_features)`` array, 1 where a feature is kept.
            build: A function of TensorFlow tensors ``(masks, *context)`` returning the
                model's input batch. It must be the same function object across calls so
                that it is compiled once.
            context: Tensors the build function needs (the input, the fill values, ...).
            built_rows: Model rows ``build`` makes from each mask (a batch then holds
                ``batch_size // built_rows`` masks).

        Returns:
            ``(m * built_rows, n_labels)`` float64 scores in the explanation space.
        """
        masks = np.asarray(masks, dtype=np.float32)
        row_bytes = self._masked_row_bytes(masks, build, context)
        if self._keras is None:
            # Built on the host one batch at a time, never all masked inputs at once.
            def call_host(start: int, stop: int, _: int) -> np.ndarray:
                built = np.asarray(build(masks[start:stop], *context))
                return self._check_output(self._callable(built), (stop - start) * built_rows)

            outputs = self._run_batches(len(masks), row_bytes, call_host, built_rows, pad=False)
            return self._to_space(np.concatenate(outputs) if outputs else self._empty())
        import tensorflow as tf

        function = self._compiled_function(build)

        def call(start: int, stop: int, padded_size: int) -> np.ndarray:
            padded = tf.convert_to_tensor(_pad_rows(masks[start:stop], padded_size))
            scores = self._check_output(function(padded, *context), padded_size * built_rows)
            return scores[: (stop - start) * built_rows]

        outputs = self._run_batches(len(masks), row_bytes, call, built_rows)
        return self._to_space(np.concatenate(outputs) if outputs else self._empty())

    def mask_gradients(
        self,
        masks: np.ndarray,
        build: Callable[..., Any],
        context: tuple[Any, ...],
        columns: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores and their gradients with respect to soft masks, every label in one pass.

        ``build`` must be differentiable in the masks (a hidden feature blends towards
        its fill as its mask goes from 1 to 0). The Jacobian of the selected labels is
        computed in one vectorised pass (``batch_jacobian``), not one pass per label.

        Args:
            masks: ``(m, n_features)`` masks with values in [0, 1].
            build: Differentiable build function of ``(masks, *context)``.
            context: Tensors the build function needs.
            columns: Label columns to differentiate.

        Returns:
            ``(scores (m, k), gradients (m, k, n_features))`` in the explanation space.

        Raises:
            NotImplementedError: For a model that is not a Keras model.
        """
        if self._keras is None:
            raise NotImplementedError(
                "the gradient algorithm needs a Keras model; a plain callable has no gradients"
            )
        import tensorflow as tf

        key = ("gradient", build)
        function = self._compiled.get(key)
        if function is None:
            model, to_space = self._keras, self._to_space_tensor

            def call(masks, chosen, *context):
                with tf.GradientTape() as tape:
                    tape.watch(masks)
                    scores = to_space(tf.gather(model(build(masks, *context)), chosen, axis=1))
                return scores, tape.batch_jacobian(scores, masks)

            function = tf.function(call, reduce_retracing=True)
            self._compiled[key] = function
        masks = np.asarray(masks, dtype=np.float32)
        chosen = tf.constant(np.asarray(columns, dtype=np.int32))

        def call(start: int, stop: int, _: int) -> tuple[np.ndarray, np.ndarray]:
            score, gradient = function(tf.constant(masks[start:stop]), chosen, *context)
            return score.numpy(), gradient.numpy()

        row_bytes = self._masked_row_bytes(masks, build, context)
        outputs = self._run_batches(len(masks), row_bytes, call, pad=False)
        scores = np.concatenate([score for score, _ in outputs])
        return scores.astype(np.float64), np.concatenate([gradient for _, gradient in outputs])

    def _to_space_tensor(self, scores: Any) -> Any:
        """:meth:`_to_space` in TensorFlow ops, so gradients flow through it."""
        import tensorflow as tf

        if self.output == self.space:
            return scores
        if self.space == "logit":
            clipped = tf.clip_by_value(scores, _PROBABILITY_EPS, 1.0 - _PROBABILITY_EPS)
            return tf.math.log(clipped) - tf.math.log1p(-clipped)
        return tf.sigmoid(scores)

    def _padded_size(self, n_rows: int, limit: int | None = None) -> int:
        """Rows a batch of ``n_rows`` is padded to: a power of two (at least 16), at most
        ``limit`` (the rows per call, :meth:`_rows_per_call`; ``batch_size`` by default)."""
        size = _MIN_PADDED_ROWS
        while size < n_rows:
            size *= 2
        return min(size, self.batch_size if limit is None else limit)

    def _rows_per_call(self, row_bytes: int, unit_rows: int = 1) -> int:
        """Units of ``unit_rows`` model rows (and ``row_bytes`` of input) one call may hold:
        ``batch_size`` rows, fewer where the rows are large."""
        units = max(1, self.batch_size // unit_rows)
        if self.max_batch_bytes is None or row_bytes <= 0:
            return units
        return max(1, min(units, self.max_batch_bytes // row_bytes))

    def _run_batches(
        self,
        n_rows: int,
        row_bytes: int,
        call: Callable[[int, int, int], Any],
        unit_rows: int = 1,
        *,
        pad: bool = True,
    ) -> list[Any]:
        """Run ``call(start, stop, call_rows)`` over consecutive batches of ``n_rows`` rows.

        ``call_rows`` is the number of rows the call sends: ``stop - start``, padded by
        :meth:`_padded_size` where ``pad``. Each row sent makes ``unit_rows`` model rows
        (and ``row_bytes`` of input). A call that runs out of memory halves the batch
        size and is retried from the same row; finished batches are kept.

        Raises:
            MemoryError: If one row alone does not fit.
        """
        out_of_memory = _out_of_memory_errors()
        outputs, start = [], 0
        while start < n_rows:
            limit = self._rows_per_call(row_bytes, unit_rows)
            stop = min(start + limit, n_rows)
            call_rows = stop - start
            if pad:  # padded in model rows, so that a unit of many rows wastes few
                padded = self._padded_size(call_rows * unit_rows, limit * unit_rows)
                call_rows = min(limit, -(-padded // unit_rows))
            try:
                outputs.append(call(start, stop, call_rows))
            except out_of_memory as err:
                self._halve_batch_size(call_rows * unit_rows, row_bytes, err)
                continue
            start = stop
        return outputs

    def _halve_batch_size(self, failed_rows: int, row_bytes: int, err: BaseException) -> None:
        if failed_rows <= 1:
            raise MemoryError(
                f"model {self.source!r} ran out of memory on a single row ({row_bytes} bytes "
                f"of input): {type(err).__name__}: {err}; a smaller input, a smaller model or "
                "a device with more memory is needed"
            ) from err
        self.batch_size = failed_rows // 2
        logger.warning(
            "model call of %d rows ran out of memory (%s); batch_size is now %d for this model",
            failed_rows,
            type(err).__name__,
            self.batch_size,
        )

    def _masked_row_bytes(
        self, masks: np.ndarray, build: Callable[..., Any], context: tuple[Any, ...]
    ) -> int:
        """Bytes of model input one mask builds, from one built row; cached per build
        function and context shapes. The built row's shape is checked against the model's
        input on the way, so a masker of another modality is refused with both shapes."""
        if not len(masks):
            return 0
        key = (build, tuple(_shape_key(part) for part in context))
        if key not in self._built_row_bytes:
            if self._keras is None:
                built = build(masks[:1], *context)
            else:
                import tensorflow as tf

                built = build(tf.constant(masks[:1]), *context)
            self._check_input_shape(built, "the masked inputs the masker builds")
            self._built_row_bytes[key] = _row_bytes(built)
        return 0 if self.max_batch_bytes is None else self._built_row_bytes[key]

    def _check_input_shape(self, batch: Any, what: str) -> None:
        """Refuse rows the model does not take (say, images for a text model) with both
        shapes, before the model call fails deep inside Keras."""
        spec = self.input_spec
        shape = getattr(batch, "shape", None)
        if spec is None or isinstance(spec, dict) or isinstance(batch, Mapping) or shape is None:
            return
        declared, dtype = spec
        given = tuple(None if dim is None else int(dim) for dim in tuple(shape)[1:])
        if len(given) != len(declared) or any(
            want is not None and want != got for want, got in zip(declared, given, strict=True)
        ):
            raise ValueError(
                f"model {self.source!r} takes rows of shape {tuple(declared)} ({dtype}), but "
                f"{what} have rows of shape {given}; accepted: a model made for this kind of "
                "input (is it a model for another modality?)"
            )

    def _compiled_function(self, build: Callable | None) -> Callable:
        function = self._compiled.get(build)
        if function is not None:
            return function
        import tensorflow as tf

        model = self._keras
        if build is None:

            def call(batch):
                return model(batch, training=False)

        else:

            def call(masks, *context):
                return model(build(masks, *context), training=False)

        function = tf.function(call, reduce_retracing=True)
        self._compiled[build] = function
        return function

    def _cast(self, inputs: Inputs) -> Inputs:
        """Cast numpy inputs to the dtypes the model declares, so nothing retraces."""
        spec = self.input_spec
        if isinstance(inputs, Mapping) and isinstance(spec, dict):
            return {
                name: np.asarray(value, dtype=spec[name][1]) if name in spec else value
                for name, value in inputs.items()
            }
        if spec is not None and not isinstance(spec, dict) and not isinstance(inputs, Mapping):
            return np.asarray(inputs, dtype=spec[1])
        return inputs

    def _predict_callable(self, inputs: Inputs, n_rows: int) -> np.ndarray:
        def call(start: int, stop: int, _: int) -> np.ndarray:
            batch = _map_inputs(inputs, lambda a: a[start:stop])
            return self._check_output(self._callable(batch), stop - start)

        outputs = self._run_batches(n_rows, _row_bytes(inputs), call, pad=False)
        return self._to_space(np.concatenate(outputs) if outputs else self._empty())

    def _check_output(self, scores: Any, n_rows: int) -> np.ndarray:
        if isinstance(scores, Mapping):
            if len(scores) != 1:
                raise ValueError(
                    f"model returned {len(scores)} outputs {sorted(scores)}; a multi-label "
                    "model must return one (n, n_labels) array"
                )
            scores = next(iter(scores.values()))
        if isinstance(scores, (list, tuple)):
            raise ValueError(
                f"model returned {len(scores)} outputs; a multi-label model must return "
                "one (n, n_labels) array"
            )
        scores = np.asarray(scores, dtype=np.float64)
        expected = (n_rows, self.n_labels)
        if scores.shape != expected:
            raise ValueError(
                f"model output has shape {scores.shape}; expected (n, n_labels) = {expected}: "
                f"one row per input and one column per label name ({self.n_labels} names)"
            )
        if self.output == "probability":
            finite = scores[np.isfinite(scores)]
            if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
                raise ValueError(
                    f"model output lies in [{finite.min():.3g}, {finite.max():.3g}], outside "
                    "[0, 1], but output='probability'; pass output='logit' for raw scores "
                    "(command line: --output logit)"
                )
        return scores

    def _to_space(self, scores: np.ndarray) -> np.ndarray:
        """Check the scores of the real (unpadded) rows, then map them to the space."""
        self._check_scores(scores)
        if self.output == self.space:
            return scores
        if self.space == "logit":
            clipped = np.clip(scores, _PROBABILITY_EPS, 1.0 - _PROBABILITY_EPS)
            return np.log(clipped) - np.log1p(-clipped)
        return 1.0 / (1.0 + np.exp(-scores))

    def _check_scores(self, scores: np.ndarray) -> None:
        """Refuse NaN or infinite scores; warn once if the rows look like a softmax."""
        bad = ~np.isfinite(scores)
        if bad.any():
            row, column = (int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"model output holds {float(scores[row, column])!r} at row {row}, label "
                f"{self.label_names[column]!r} ({int(bad.sum())} non-finite scores in all); "
                "accepted: finite scores (check the inputs for NaN, and the model for a "
                "division by zero or an overflow)"
            )
        if self._warned_softmax or self.output != "probability" or self.n_labels < 2:
            return
        sums_to_one = np.abs(scores.sum(axis=1) - 1.0) <= _SOFTMAX_SUM_TOLERANCE
        # Rows that are all the same (a blank input, hidden everywhere) are no evidence.
        varies = len(scores) and np.ptp(scores, axis=0).max() > _SOFTMAX_SUM_TOLERANCE
        if len(scores) >= _SOFTMAX_MIN_ROWS and varies and np.all(sums_to_one):
            self._warn_softmax(
                f"each of the {len(scores)} rows it scored sums to 1 over its "
                f"{self.n_labels} labels"
            )

    def _warn_softmax(self, evidence: str) -> None:
        self._warned_softmax = True
        warnings.warn(
            f"model {self.source!r} looks single-label: {evidence}. Softmax labels compete "
            "for one unit of probability, so raising one lowers the others and a label's "
            "values also reflect the evidence for the other labels; labelshap expects "
            "independent scores (sigmoid outputs) of a multi-label model",
            UserWarning,
            stacklevel=3,
        )

    def _declared_outputs(self) -> int | None:
        if self._keras is None:
            # A SavedModel's signature declares its width; a plain callable does not.
            return getattr(self._callable, "n_outputs", None)
        shapes = [tuple(output.shape) for output in self._keras.outputs]
        if len(shapes) != 1 or len(shapes[0]) != 2 or shapes[0][1] is None:
            raise ValueError(
                f"model outputs have shapes {shapes}; a multi-label model must have one "
                "output of shape (n, n_labels)"
            )
        return int(shapes[0][1])

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.n_labels))

    def __repr__(self) -> str:
        return (
            f"LabelModel({self.source}, n_labels={self.n_labels}, output={self.output!r}, "
            f"space={self.space!r}, batch_size={self.batch_size})"
        )


def _map_inputs(inputs: Inputs, function: Callable) -> Any:
    if isinstance(inputs, Mapping):
        return {name: function(value) for name, value in inputs.items()}
    return function(inputs)


def _count_rows(inputs: Inputs) -> int:
    if isinstance(inputs, Mapping):
        counts = {name: len(value) for name, value in inputs.items()}
        if len(set(counts.values())) > 1:
            raise ValueError(f"inputs have different row counts per name: {counts}")
        return next(iter(counts.values()), 0)
    return len(inputs)


def _row_bytes(inputs: Any) -> int:
    """Bytes of one row of a batch: an array, a tensor, or a mapping or list of them."""
    leaves = list(inputs.values()) if isinstance(inputs, Mapping) else inputs
    if not isinstance(leaves, (list, tuple)):
        leaves = [leaves]
    total = 0
    for leaf in leaves:
        shape = getattr(leaf, "shape", None)
        dtype = getattr(leaf, "dtype", None)
        if shape is None or dtype is None or len(shape) == 0:
            continue
        itemsize = dtype.size if hasattr(dtype, "as_numpy_dtype") else np.dtype(dtype).itemsize
        per_row = 1
        for dim in tuple(shape)[1:]:
            per_row *= int(dim or 1)
        total += per_row * itemsize
    return total


def _shape_key(value: Any) -> tuple[Any, str]:
    """Shape and dtype of a context value, without copying it."""
    shape = getattr(value, "shape", None)
    return (tuple(shape) if shape is not None else (), str(getattr(value, "dtype", type(value))))


def _out_of_memory_errors() -> tuple[type[BaseException], ...]:
    """What a model call raises when it runs out of memory: a device or a host error."""
    import tensorflow as tf

    return (tf.errors.ResourceExhaustedError, MemoryError)


def _pad_rows(array: Any, size: int) -> np.ndarray:
    """Pad ``array`` up to ``size`` rows with copies of its last row.

    A copy of a real row is valid wherever that row is: a zero row need not be (in a
    packed batch of masks, a zero row would name the first input, whose features may be
    wider than the masks of the inputs in the batch).
    """
    array = np.asarray(array)
    missing = size - len(array)
    if missing <= 0 or len(array) == 0:
        return array
    return np.concatenate([array, np.repeat(array[-1:], missing, axis=0)])
