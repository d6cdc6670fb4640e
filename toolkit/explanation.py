"""The result of explaining a batch of inputs: values per feature and per label."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

__all__ = ["Explanation", "register_explanation", "load_explanation", "concatenate"]

_FORMAT_VERSION = 1
_REGISTRY: dict[str, type[Explanation]] = {}
# Features listed per label by the generic report table.
_REPORT_TOP_FEATURES = 5


def register_explanation(modality: str):
    """Class decorator: make ``load`` return this class for results of ``modality``."""

    def decorate(cls: type[Explanation]) -> type[Explanation]:
        cls.modality = modality
        _REGISTRY[modality] = cls
        return cls

    return decorate


@dataclass
class Explanation:
    """SHAP values of a batch of inputs for one or more labels.

    Inputs may have different numbers of features (superpixels per image, tokens per
    text); arrays are padded to the largest count with zeros and ``n_features`` says how
    many are real for each input.

    Attributes:
        values: ``(n, n_features, n_labels)`` values, trailing label axis.
        base_values: ``(n, n_labels)`` the model's score with every feature hidden.
        scores: ``(n, n_labels)`` the model's score for the input itself.
        label_names: The ``n_labels`` labels explained (the union over inputs).
        feature_names: Per input, the names of its features.
        selected: ``(n, n_labels)`` True where the label was asked for that input
            (with ``TopK`` or ``Threshold`` the labels differ by input; values of the
            other labels are computed from the same evaluations and kept).
        data: The inputs as the model took them (an array with one row per input).
        feature_data: ``(n, n_features)`` a number per feature for ``shap.plots``.
        extras: Arrays the modality's picture needs, one row per input.
        info: How the values were computed: algorithm, budget, model rows, seconds.
    """

    modality: ClassVar[str] = "generic"
    # Inputs drawn by the notebook display (_repr_html_).
    _REPR_MAX_ITEMS: ClassVar[int] = 4
    # Inputs drawn by `labelshap report` unless told; None: the pictures are aggregates
    # that cover every input.
    _REPORT_MAX_ITEMS: ClassVar[int | None] = 24

    values: np.ndarray
    base_values: np.ndarray
    scores: np.ndarray
    label_names: list[str]
    feature_names: list[list[str]]
    selected: np.ndarray
    data: np.ndarray
    feature_data: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n_rows, width, n_labels = self.values.shape
        expected = {
            "base_values": (n_rows, n_labels),
            "scores": (n_rows, n_labels),
            "selected": (n_rows, n_labels),
            "feature_data": (n_rows, width),
        }
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(
                    f"{name} has shape {getattr(self, name).shape}; expected {shape} to match "
                    f"values {self.values.shape}"
                )
        if len(self.label_names) != n_labels or len(self.feature_names) != n_rows:
            raise ValueError(
                f"{len(self.label_names)} label names and {len(self.feature_names)} feature "
                f"name lists do not match values of shape {self.values.shape}"
            )

    def __len__(self) -> int:
        return len(self.values)

    @property
    def n_features(self) -> np.ndarray:
        """Number of real features of each input."""
        return np.array([len(names) for names in self.feature_names], dtype=int)

    def label_values(self, label: str | int) -> np.ndarray:
        """Values of one label: ``(n, n_features)``."""
        return self.values[:, :, self._label_column(label)]

    def __getitem__(self, key: str | int | slice | Sequence[int]) -> Explanation:
        """Select one label by name (``result["cat"]``) or inputs by position.

        A label selection keeps the trailing label axis with length 1; ``to_shap`` then
        drops it, so ``result["cat"].to_shap()`` goes straight into ``shap.plots.bar``.
        """
        if isinstance(key, str):
            column = [self._label_column(key)]
            return replace(
                self,
                values=self.values[:, :, column],
                base_values=self.base_values[:, column],
                scores=self.scores[:, column],
                selected=self.selected[:, column],
                label_names=[self.label_names[column[0]]],
            )
        rows = np.arange(len(self))[key]
        rows = np.atleast_1d(rows)
        return replace(
            self,
            values=self.values[rows],
            base_values=self.base_values[rows],
            scores=self.scores[rows],
            selected=self.selected[rows],
            data=self.data[rows],
            feature_data=self.feature_data[rows],
            feature_names=[self.feature_names[i] for i in rows],
            extras={name: array[rows] for name, array in self.extras.items()},
        )

    def to_shap(self) -> Any:
        """Return a ``shap.Explanation`` that ``shap.plots`` accept.

        Values keep shap's layout: ``(n, n_features, n_labels)``, or ``(n, n_features)``
        for a single label. Inputs with different feature counts give object arrays, one
        row per input, as shap's own text explanations do.
        """
        import shap

        single = len(self.label_names) == 1
        counts = self.n_features
        if len(set(counts.tolist())) <= 1:
            width = int(counts[0]) if len(counts) else 0
            values = self.values[:, :width]
            values = values[..., 0] if single else values
            feature_data = self.feature_data[:, :width]
            shared = all(names == self.feature_names[0] for names in self.feature_names)
            names = self.feature_names[0] if shared and len(self) else list(self.feature_names)
        else:
            values = _ragged(
                [v[:c, 0] if single else v[:c] for v, c in zip(self.values, counts, strict=True)]
            )
            feature_data = _ragged([d[:c] for d, c in zip(self.feature_data, counts, strict=True)])
            names = _ragged([np.array(n, dtype=object) for n in self.feature_names])
        return shap.Explanation(
            values=values,
            base_values=self.base_values[:, 0] if single else self.base_values,
            data=feature_data,
            feature_names=names,
            output_names=self.label_names[0] if single else list(self.label_names),
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the explanation as ``PATH.npz`` (arrays) and ``PATH.json`` (the rest).

        No pickle is used: both files open with standard tools.

        Returns:
            The path of the ``.npz`` file.
        """
        stem = _stem(path)
        stem.parent.mkdir(parents=True, exist_ok=True)
        arrays = {
            "values": self.values,
            "base_values": self.base_values,
            "scores": self.scores,
            "selected": self.selected,
            "data": self.data,
            "feature_data": self.feature_data,
        }
        arrays.update({f"extra_{name}": array for name, array in self.extras.items()})
        meta = {
            "format_version": _FORMAT_VERSION,
            "modality": self.modality,
            "label_names": list(self.label_names),
            "feature_names": [list(names) for names in self.feature_names],
            "extras": sorted(self.extras),
            "info": self.info,
        }
        text = json.dumps(meta, indent=1, default=_json_default)

        # Write both files under temporary names, then rename: a reader never sees half
        # a result, and a failure leaves the previous files in place.
        npz_path = _with_suffix(stem, ".npz")
        partial = _with_suffix(stem, ".partial.npz")
        np.savez_compressed(partial, **arrays)
        json_partial = _with_suffix(stem, ".partial.json")
        json_partial.write_text(text, encoding="utf-8")
        os.replace(partial, npz_path)
        os.replace(json_partial, _with_suffix(stem, ".json"))
        return npz_path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Explanation:
        """Read an explanation written by :meth:`save` (either file's path, or the stem)."""
        return load_explanation(path)

    def _repr_html_(self) -> str:
        """Notebook display: the modality's picture of the first few inputs."""
        from ._html import escape, wrapped
        from ._words import counted

        shown = min(len(self), self._REPR_MAX_ITEMS)
        head = (
            f'<p class="note">{escape(type(self).__name__)}: {counted(len(self), "input")}, '
            f"{counted(len(self.label_names), 'label')}; showing {shown}</p>"
        )
        return wrapped(head + self._report_html(self._REPR_MAX_ITEMS))

    @classmethod
    def _report_settings(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """The settings of a result as the report's Settings table shows them.

        Modalities override it to leave out options that did not apply (a grid cell size
        under SLIC segmentation) and to write values as a person typed them.
        """
        return dict(settings)

    def _report_html(
        self,
        max_items: int,
        *,
        titles: Sequence[str] | None = None,
        folder: Path | None = None,
    ) -> str:
        """HTML fragment for the report: per label, the features of largest mean |value|.

        Modalities override it with their own picture. Values are averaged by feature name
        over the first ``max_items`` inputs; ``titles`` (one per input) are unused here,
        and so is ``folder``, where the result lies (a modality may read files it wrote
        beside it).
        """
        from ._html import table

        count = min(len(self), max_items)
        rows = []
        for column, label in enumerate(self.label_names):
            totals: dict[str, float] = {}
            for row in range(count):
                names = self.feature_names[row]
                magnitudes = np.abs(self.values[row, : len(names), column])
                for name, magnitude in zip(names, magnitudes.tolist(), strict=True):
                    totals[name] = totals.get(name, 0.0) + magnitude
            top = sorted(totals.items(), key=lambda item: -item[1])[:_REPORT_TOP_FEATURES]
            rows.append([label] + [f"{name} ({total / max(count, 1):.3g})" for name, total in top])
        width = max((len(row) for row in rows), default=1)
        headers = ["label"] + [f"feature {rank}" for rank in range(1, width)]
        return (
            f'<p class="note">Features of largest mean |value| over the first {count} of '
            f"{len(self)} inputs.</p>"
            + table(headers, [row + [""] * (width - len(row)) for row in rows])
        )

    def _label_column(self, label: str | int) -> int:
        if isinstance(label, str):
            if label in self.label_names:
                return self.label_names.index(label)
        elif 0 <= int(label) < len(self.label_names):
            return int(label)
        raise KeyError(f"label {label!r} is not explained here; explained: {self.label_names}")


def load_explanation(path: str | os.PathLike) -> Explanation:
    """Read an explanation saved with :meth:`Explanation.save` (its path with or without
    a suffix, or a folder holding ``explanation.npz/.json``, as a demo writes), or every
    explanation of a batch job's output folder joined into one."""
    folder = Path(path)
    if folder.is_dir() and (folder / "manifest.json").is_file():
        from .jobs import load_store

        return load_store(path)
    if folder.is_dir():
        path = folder / "explanation"
    stem = _stem(path)
    meta_path, npz_path = _with_suffix(stem, ".json"), _with_suffix(stem, ".npz")
    for required in (meta_path, npz_path):
        if not required.is_file():
            raise FileNotFoundError(f"explanation file {str(required)!r} does not exist")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format_version") != _FORMAT_VERSION:
        raise ValueError(
            f"{str(meta_path)!r} has format_version {meta.get('format_version')!r}; this "
            f"labelshap reads version {_FORMAT_VERSION}"
        )
    cls = _explanation_class(meta["modality"])
    with np.load(npz_path, allow_pickle=False) as arrays:
        fields = {name: arrays[name] for name in arrays.files if not name.startswith("extra_")}
        extras = {name: arrays[f"extra_{name}"] for name in meta["extras"]}
    return cls(
        label_names=meta["label_names"],
        feature_names=meta["feature_names"],
        extras=extras,
        info=meta["info"],
        **fields,
    )


def concatenate(explanations: Sequence[Explanation]) -> Explanation:
    """Join explanations of the same labels (for example a batch job's shards) into one.

    Inputs keep their order; arrays with a feature axis are padded to the widest input.
    ``info`` is the first one's, with the evaluation counts and seconds summed and the
    inputs' ``ids`` (a batch job's) joined.

    Raises:
        ValueError: If there is nothing to join, or the modalities or labels differ.
    """
    explanations = list(explanations)
    if not explanations:
        raise ValueError("concatenate needs at least one explanation")
    first = explanations[0]
    for other in explanations[1:]:
        if type(other) is not type(first) or other.label_names != first.label_names:
            raise ValueError(
                f"cannot join a {other.modality} explanation of labels {other.label_names} "
                f"to a {first.modality} explanation of labels {first.label_names}"
            )
    info = dict(first.info)
    for key in ("evaluations", "model_rows", "seconds"):
        if all(key in part.info for part in explanations):
            info[key] = sum(part.info[key] for part in explanations)
    if all("ids" in part.info for part in explanations):
        info["ids"] = [item for part in explanations for item in part.info["ids"]]
    return type(first)(
        values=_join_padded([part.values for part in explanations]),
        base_values=np.concatenate([part.base_values for part in explanations]),
        scores=np.concatenate([part.scores for part in explanations]),
        label_names=list(first.label_names),
        feature_names=[names for part in explanations for names in part.feature_names],
        selected=np.concatenate([part.selected for part in explanations]),
        data=_join_padded([part.data for part in explanations]),
        feature_data=_join_padded([part.feature_data for part in explanations]),
        extras={
            name: _join_padded([part.extras[name] for part in explanations])
            for name in first.extras
        },
        info=info,
    )


def _join_padded(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenate along the first axis, padding later axes to the largest size (with -1
    for integers, as padded token positions are stored, else zero)."""
    arrays = [np.asarray(array) for array in arrays]
    if len({array.shape[1:] for array in arrays}) == 1:
        return np.concatenate(arrays)
    shape = tuple(np.max([array.shape[1:] for array in arrays], axis=0))
    dtype = np.result_type(*arrays)
    fill = -1 if np.issubdtype(dtype, np.integer) else 0
    out = np.full((sum(len(array) for array in arrays),) + shape, fill, dtype=dtype)
    start = 0
    for array in arrays:
        out[(slice(start, start + len(array)),) + tuple(slice(0, n) for n in array.shape[1:])] = (
            array
        )
        start += len(array)
    return out


def _explanation_class(modality: str) -> type[Explanation]:
    if modality == Explanation.modality:
        return Explanation
    if modality not in _REGISTRY:
        try:
            importlib.import_module(f"labelshap.modalities.{modality}")
        except ImportError as err:
            raise ValueError(f"explanation of unknown modality {modality!r}") from err
    return _REGISTRY.get(modality, Explanation)


def _stem(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".npz", ".json") else path


def _ragged(rows: list[np.ndarray]) -> np.ndarray:
    out = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):
        out[i] = row
    return out


def _with_suffix(stem: Path, suffix: str) -> Path:
    return stem.parent / (stem.name + suffix)


def _json_default(value: Any) -> Any:
    """JSON for numpy scalars and arrays that find their way into ``info``."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"info value {value!r} of type {type(value).__name__} is not JSON-able")
