"""A multi-label model behind one batched, compiled calling convention."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .labels import load_label_names

__all__ = ["LabelModel", "OUTPUT_KINDS"]

logger = logging.getLogger(__name__)

OUTPUT_KINDS = ("probability", "logit")
_PROBABILITY_EPS = 1e-7
_MIN_PADDED_ROWS = 16

Inputs = np.ndarray | Mapping[str, np.ndarray]


class LabelModel:
    """Wraps a multi-label model so that every explainer calls it the same fast way.

    The model is called through one compiled ``tf.function`` on batches of fixed sizes:
    full batches of ``batch_size`` rows, and a last, partial batch padded up to the next
    power of two (at least 16 rows). The function is therefore traced at most a handful
    of times, never once per call, while small calls (as explainers make while they
    refine) do not pay for a whole batch. ``model.predict`` is never used (2-5x slower
    than a compiled call on small batches).

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
        batch_size: Rows per model call.
        unsafe_load: Allow a ``.keras`` file that needs unsafe deserialisation (for
            example a ``Lambda`` layer). Only for files you trust.

    Raises:
        ValueError: If the model's outputs are not ``(n, n_labels)``, if the number of
            label names differs from the number of outputs, or if an argument is not
            one of the accepted values.
    """

    def __init__(
        self,
        model: Any,
        labels: Sequence[str] | str | os.PathLike | None = None,
        *,
        output: str = "probability",
        space: str | None = None,
        batch_size: int = 256,
        unsafe_load: bool = False,
    ) -> None:
        if output not in OUTPUT_KINDS:
            raise ValueError(f"output={output!r} is not supported; accepted: {OUTPUT_KINDS}")
        space = output if space is None else space
        if space not in OUTPUT_KINDS:
            raise ValueError(f"space={space!r} is not supported; accepted: {OUTPUT_KINDS}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} must be a positive integer")

        self.output = output
        self.space = space
        self.batch_size = batch_size
        self.source = str(model) if isinstance(model, (str, os.PathLike)) else type(model).__name__

        self._keras, self._callable, self.input_spec = _resolve_model(model, unsafe_load)
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
            raise ValueError(
                f"labels: {len(names)} names were given but the model has {n_outputs} "
                "outputs; give exactly one name per output"
            )
        self.label_names: list[str] = list(names)
        self._compiled: dict[Any, Callable] = {}

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
        if self._keras is None:
            return self._predict_callable(inputs, n_rows)
        import tensorflow as tf

        inputs = self._cast(inputs)
        function = self._compiled_function(None)
        outputs = []
        for start in range(0, n_rows, self.batch_size):
            stop = min(start + self.batch_size, n_rows)
            batch = _map_inputs(inputs, lambda a, s=start, e=stop: a[s:e])
            padded_size = self._padded_size(stop - start)
            batch = _map_inputs(batch, lambda a, n=padded_size: _pad_rows(a, n))
            batch = _map_inputs(batch, tf.convert_to_tensor)
            outputs.append(self._check_output(function(batch), padded_size)[: stop - start])
        return self._to_space(np.concatenate(outputs) if outputs else self._empty())

    def predict_masked(
        self,
        masks: np.ndarray,
        build: Callable[..., Any],
        context: tuple[Any, ...],
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

        Returns:
            ``(m, n_labels)`` float64 scores in the explanation space.
        """
        masks = np.asarray(masks, dtype=np.float32)
        if self._keras is None:
            return self.predict(np.asarray(build(masks, *context)))
        import tensorflow as tf

        function = self._compiled_function(build)
        outputs = []
        for start in range(0, len(masks), self.batch_size):
            chunk = masks[start : start + self.batch_size]
            padded_size = self._padded_size(len(chunk))
            padded = tf.convert_to_tensor(_pad_rows(chunk, padded_size))
            scores = self._check_output(function(padded, *context), padded_size)
            outputs.append(scores[: len(chunk)])
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
        scores, gradients = [], []
        chosen = tf.constant(np.asarray(columns, dtype=np.int32))
        for start in range(0, len(masks), self.batch_size):
            chunk = np.asarray(masks[start : start + self.batch_size], dtype=np.float32)
            score, gradient = function(tf.constant(chunk), chosen, *context)
            scores.append(score.numpy())
            gradients.append(gradient.numpy())
        return np.concatenate(scores).astype(np.float64), np.concatenate(gradients)

    def _to_space_tensor(self, scores: Any) -> Any:
        """:meth:`_to_space` in TensorFlow ops, so gradients flow through it."""
        import tensorflow as tf

        if self.output == self.space:
            return scores
        if self.space == "logit":
            clipped = tf.clip_by_value(scores, _PROBABILITY_EPS, 1.0 - _PROBABILITY_EPS)
            return tf.math.log(clipped) - tf.math.log1p(-clipped)
        return tf.sigmoid(scores)

    def _padded_size(self, n_rows: int) -> int:
        """Rows a batch of ``n_rows`` is padded to: a power of two, at most batch_size."""
        size = _MIN_PADDED_ROWS
        while size < n_rows:
            size *= 2
        return min(size, self.batch_size)

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
        outputs = []
        for start in range(0, n_rows, self.batch_size):
            stop = min(start + self.batch_size, n_rows)
            batch = _map_inputs(inputs, lambda a, s=start, e=stop: a[s:e])
            outputs.append(self._check_output(self._callable(batch), stop - start))
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
                f"model output has shape {scores.shape}; expected (n, n_labels) = {expected}"
            )
        if self.output == "probability":
            finite = scores[np.isfinite(scores)]
            if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
                raise ValueError(
                    f"model output lies in [{finite.min():.3g}, {finite.max():.3g}], outside "
                    "[0, 1], but output='probability'; pass output='logit' for raw scores"
                )
        return scores

    def _to_space(self, scores: np.ndarray) -> np.ndarray:
        if self.output == self.space:
            return scores
        if self.space == "logit":
            clipped = np.clip(scores, _PROBABILITY_EPS, 1.0 - _PROBABILITY_EPS)
            return np.log(clipped) - np.log1p(-clipped)
        return 1.0 / (1.0 + np.exp(-scores))

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


def _resolve_model(model: Any, unsafe_load: bool) -> tuple[Any, Callable | None, Any]:
    """Return ``(keras_model, plain_callable, input_spec)``; exactly one model is set."""
    import keras

    if isinstance(model, (str, os.PathLike)):
        model = _load_model_file(Path(model), unsafe_load)
    if isinstance(model, keras.Model):
        return model, None, _input_spec(model)
    if callable(model):
        return None, model, getattr(model, "input_spec", None)
    raise TypeError(
        f"model of type {type(model).__name__!r} is not supported; accepted: a Keras model, "
        "a .keras file path, a SavedModel directory path, or a callable returning "
        "(n, n_labels) scores"
    )


def _load_model_file(path: Path, unsafe_load: bool) -> Any:
    import keras

    if not path.exists():
        raise FileNotFoundError(f"model path {str(path)!r} does not exist")
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise ValueError(
                f"model directory {str(path)!r} holds no saved_model.pb; accepted: a .keras "
                "file or a SavedModel directory"
            )
        return _load_saved_model(path)
    if path.suffix != ".keras":
        raise ValueError(
            f"model file {str(path)!r} has suffix {path.suffix!r}; accepted: a .keras file "
            "or a SavedModel directory"
        )
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=not unsafe_load)
    except ValueError as err:
        if "safe_mode" in str(err) or "unsafe" in str(err).lower():
            raise ValueError(
                f"model file {str(path)!r} needs unsafe deserialisation (it holds code such "
                "as a Lambda layer); pass unsafe_load=True (command line: --unsafe-load) "
                "only if you trust the file"
            ) from err
        raise ValueError(f"model file {str(path)!r} could not be loaded: {err}") from err


def _load_saved_model(path: Path) -> Callable:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    signature = loaded.signatures.get("serving_default")
    if signature is None:
        raise ValueError(
            f"SavedModel {str(path)!r} has no 'serving_default' signature; accepted: a "
            "SavedModel exported with one (keras: model.export(path))"
        )
    input_names = list(signature.structured_input_signature[1])
    if len(input_names) != 1:
        raise ValueError(
            f"SavedModel {str(path)!r} takes inputs {input_names}; only single-input "
            "SavedModels are supported, load multi-input models as .keras files"
        )
    name = input_names[0]
    dtype = signature.structured_input_signature[1][name].dtype

    def call(batch: np.ndarray) -> np.ndarray:
        outputs = signature(**{name: tf.convert_to_tensor(batch, dtype=dtype)})
        return next(iter(outputs.values())).numpy() if len(outputs) == 1 else outputs

    call.loaded = loaded  # keep the restored object alive with the function
    call.input_spec = (tuple(signature.structured_input_signature[1][name].shape[1:]), dtype.name)
    outputs = list(signature.structured_outputs.values())
    if len(outputs) == 1 and len(outputs[0].shape) == 2 and outputs[0].shape[1] is not None:
        call.n_outputs = int(outputs[0].shape[1])
    return call


def _input_spec(model: Any) -> Any:
    """Per-row input shapes and dtypes: one ``(shape, dtype)``, or a dict by input name."""
    inputs = model.inputs
    if len(inputs) == 1:
        return tuple(inputs[0].shape[1:]), str(inputs[0].dtype)
    return {
        tensor.name.split(":")[0]: (tuple(tensor.shape[1:]), str(tensor.dtype)) for tensor in inputs
    }


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


def _pad_rows(array: Any, size: int) -> np.ndarray:
    """Pad ``array`` with zero rows up to ``size`` rows."""
    array = np.asarray(array)
    missing = size - len(array)
    if missing <= 0:
        return array
    padding = np.zeros((missing,) + array.shape[1:], dtype=array.dtype)
    return np.concatenate([array, padding])
