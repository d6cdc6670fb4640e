"""Loading what a :class:`~labelshap.LabelModel` wraps: Keras models, ``.keras`` files,
SavedModel directories and plain callables."""

from __future__ import annotations

import importlib
import json
import os
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ends_in_softmax", "resolve_model"]

# What keras.saving.load_model raises for a file that is not a readable .keras archive.
_LOAD_ERRORS = (ValueError, KeyError, OSError, TypeError, zipfile.BadZipFile)
# A module of labelshap's that defines layers its own models use (the text demo's
# PaddingMask): imported before such a model is loaded, whichever command loads it.
_OWN_LAYER_MODULE = re.compile(r"labelshap(\.[A-Za-z_][A-Za-z0-9_]*)+")


def resolve_model(model: Any, unsafe_load: bool) -> tuple[Any, Callable | None, Any]:
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
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"model file {str(path)!r} is not a .keras archive (not a zip file); accepted: a "
            "file written by keras model.save('name.keras'), or a SavedModel directory"
        )
    _import_own_layers(path)
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=not unsafe_load)
    except _LOAD_ERRORS as err:
        if isinstance(err, ValueError) and (
            "safe_mode" in str(err) or "unsafe" in str(err).lower()
        ):
            raise ValueError(
                f"model file {str(path)!r} needs unsafe deserialisation (it holds code such "
                "as a Lambda layer); pass unsafe_load=True (command line: --unsafe-load) "
                "only if you trust the file"
            ) from err
        raise ValueError(
            f"model file {str(path)!r} could not be loaded as a Keras model "
            f"({type(err).__name__}: {err}); accepted: a file written by keras model.save"
        ) from err


def _import_own_layers(path: Path) -> None:
    """Import the labelshap modules whose layers a ``.keras`` archive's config names, so
    that Keras finds them registered (a text model given to ``explain image``, say)."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (KeyError, OSError, ValueError, zipfile.BadZipFile):
        return  # keras.saving.load_model says what is wrong with the file
    modules = set()
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            module = node.get("module")
            if isinstance(module, str) and _OWN_LAYER_MODULE.fullmatch(module):
                modules.add(module)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    for module in sorted(modules):
        try:
            importlib.import_module(module)
        except ImportError:
            continue  # keras.saving.load_model names the class it cannot find


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


def ends_in_softmax(model: Any) -> bool:
    """Whether the layer that computes a Keras model's output applies a softmax."""
    history = getattr(model.outputs[0], "_keras_history", None)
    layer = history[0] if history else (model.layers[-1] if model.layers else None)
    if layer is None:
        return False
    if type(layer).__name__ == "Softmax":
        return True
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) == "softmax"


def _input_spec(model: Any) -> Any:
    """Per-row input shapes and dtypes: one ``(shape, dtype)``, or a dict by input name."""
    inputs = model.inputs
    if len(inputs) == 1:
        return tuple(inputs[0].shape[1:]), str(inputs[0].dtype)
    return {
        tensor.name.split(":")[0]: (tuple(tensor.shape[1:]), str(tensor.dtype)) for tensor in inputs
    }
