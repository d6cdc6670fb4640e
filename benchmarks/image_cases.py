"""Image benchmarks on the demo digit CNN: speed, overhead, accuracy, label scaling."""

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

SPEED_ALGORITHMS = ("owen-sampling", "partition", "permutation", "kernel", "shap-partition")
ACCURACY_ALGORITHMS = (
    "partition",
    "owen-sampling",
    "permutation",
    "kernel",
    "kernel-cubic",
    "kernel-stack",
    "shap-partition",
    "shap-permutation",
)
PARTITION_STYLE = ("partition", "owen-sampling", "shap-partition")


def run(quick: bool) -> list[Record]:
    """All image cases."""
    from labelshap import LabelModel
    from labelshap.modalities.image.digits import make_digit_canvases, train_digit_model

    trained = train_digit_model()
    model = LabelModel(trained.model, list(trained.label_names), batch_size=256)
    canvases = make_digit_canvases(8 if quick else 32, split="test", seed=1000)
    images = canvases.images
    records = speed(model, trained.model, images, budget=500)
    records += label_scaling(model, images[:4], budget=500)
    records += gradient_scaling(model, trained.model, images[:4], n_steps=50)
    # 8 canvases x 10 labels and 3 seeds (quick): with 2 canvases and one seed the medians
    # moved by more than the differences between algorithms.
    seeds = (1, 2, 3) if quick else (1, 2, 3, 4, 5)
    records += accuracy(model, images[: 8 if quick else 16], (100, 500, 2000), seeds)
    return records


def speed(model: Any, keras_model: Any, images: np.ndarray, budget: int) -> list[Record]:
    """Seconds, overhead over the bare model, and speed against shap's Partition."""
    from labelshap import Explainer
    from labelshap.modalities.image import ImageMasker

    masker = ImageMasker(n_segments=80)
    records = []
    for algorithm in SPEED_ALGORITHMS:
        explainer = Explainer(model, masker, algorithm=algorithm, max_evals=budget)
        # Warm up on the same inputs: compiles the model for the packed batch shapes and
        # numba's code for shap's explainers, outside the timing.
        explainer.explain(images)
        seconds, result = timed(lambda e=explainer: e.explain(images), 3)
        rows = int(result.info["model_rows"])
        bare = bare_model_seconds(model, np.resize(images, (rows, *images.shape[1:])))
        records.append(
            Record(
                modality="image",
                case="digits-cnn-slic80",
                algorithm=algorithm,
                budget=budget,
                n_labels=model.n_labels,
                n_inputs=len(images),
                seconds=seconds,
                model_rows=rows,
                bare_model_seconds=bare,
                overhead_ratio=seconds / bare,
            )
        )
        logger.info("image %s: %.2f s, overhead %.2f", algorithm, seconds, seconds / bare)

    native_seconds, native_rows = _shap_native_partition(keras_model, masker, images, budget)
    records.append(
        Record(
            modality="image",
            case="digits-cnn-slic80",
            algorithm="shap-partition-native",
            budget=budget,
            n_labels=model.n_labels,
            n_inputs=len(images),
            seconds=native_seconds,
            model_rows=native_rows,
            notes="shap.explainers.Partition driven as its users do: a numpy masker that "
            "builds every masked image on the host, the Keras model called eagerly",
        )
    )
    for record in records:
        if not record.algorithm.startswith("shap"):
            record.speedup_vs_shap = native_seconds / record.seconds
            record.extra["speedup_vs_shap_compiled"] = (
                _seconds_of(records, "shap-partition") / record.seconds
            )
    return records


def label_scaling(model: Any, images: np.ndarray, budget: int) -> list[Record]:
    """Wall time with every label ÷ wall time with one label, same budget."""
    from labelshap import Explainer
    from labelshap.modalities.image import ImageMasker

    records = []
    for algorithm in ("owen-sampling", "partition", "permutation", "shap-partition"):
        explainer = Explainer(
            model, ImageMasker(n_segments=80), algorithm=algorithm, max_evals=budget
        )
        explainer.explain(images)
        one, _ = timed(lambda e=explainer: e.explain(images, labels=[model.label_names[0]]), 2)
        every, _ = timed(lambda e=explainer: e.explain(images), 2)
        records.append(
            Record(
                modality="image",
                case="label-scaling",
                algorithm=algorithm,
                budget=budget,
                n_labels=model.n_labels,
                n_inputs=len(images),
                seconds=every,
                extra={"seconds_one_label": one, "label_scaling_ratio": every / one},
                notes=f"{model.n_labels} labels ÷ 1 label (the demo model has {model.n_labels})",
            )
        )
    return records


def gradient_scaling(
    model: Any, keras_model: Any, images: np.ndarray, n_steps: int
) -> list[Record]:
    """The gradient path with every label ÷ one label: ours against shap's GradientExplainer.

    shap's explainer gets the masker's blurred images as background and the same number
    of samples per image; it loops over the outputs it explains, ours differentiates
    every label in one ``batch_jacobian`` pass.
    """
    import shap

    from labelshap import Explainer
    from labelshap.modalities.image import ImageMasker

    masker = ImageMasker(n_segments=80)
    explainer = Explainer(model, masker, algorithm="gradient", max_evals=n_steps)
    explainer.explain(images[:1])
    ours_one, _ = timed(lambda: explainer.explain(images, labels=[model.label_names[0]]), 2)
    ours_all, _ = timed(lambda: explainer.explain(images), 2)

    background = np.stack([masker.fill_image(image) for image in images])
    theirs = shap.GradientExplainer(keras_model, background)
    theirs.shap_values(images[:1], nsamples=n_steps, ranked_outputs=1)
    theirs_one, _ = timed(lambda: theirs.shap_values(images, nsamples=n_steps, ranked_outputs=1))
    theirs_all, _ = timed(lambda: theirs.shap_values(images, nsamples=n_steps))
    return [
        Record(
            modality="image",
            case="gradient-label-scaling",
            algorithm=name,
            budget=n_steps,
            n_labels=model.n_labels,
            n_inputs=len(images),
            seconds=every,
            extra={"seconds_one_label": one, "label_scaling_ratio": every / one},
        )
        for name, every, one in (
            ("gradient", ours_all, ours_one),
            ("shap-gradient", theirs_all, theirs_one),
        )
    ]


def accuracy(
    model: Any, images: np.ndarray, budgets: tuple[int, ...], seeds: tuple[int, ...] = (1,)
) -> list[Record]:
    """Errors against exact Shapley and exact Owen values on 16 grid superpixels.

    Each sampling algorithm runs once per seed; a record holds the mean over seeds of
    the median-label and worst-label errors (deterministic algorithms run once).
    """
    from labelshap import Explainer
    from labelshap.modalities.image import ImageMasker

    masker = ImageMasker("grid", cell=16)

    def values(algorithm: str, budget: int, seed: int = 1) -> np.ndarray:
        explainer = Explainer(model, masker, algorithm=algorithm, max_evals=budget, seed=seed)
        return explainer.explain(images).values

    shapley = values("exact", 2**16)
    owen = values("partition", 10**6)
    records = []
    for budget in budgets:
        for algorithm in ACCURACY_ALGORITHMS:
            estimates = [values(algorithm, budget, seed) for seed in seeds_for(algorithm, seeds)]
            references = [("shapley", shapley)]
            if algorithm in PARTITION_STYLE:
                references.append(("owen", owen))
            for name, reference in references:
                median, worst, details = summarize_seeds(
                    [label_errors(estimate, reference) for estimate in estimates]
                )
                records.append(
                    Record(
                        modality="image",
                        case="digits-cnn-grid16",
                        algorithm=algorithm,
                        budget=budget,
                        n_labels=model.n_labels,
                        n_inputs=len(images),
                        error_median_label=median,
                        error_worst_label=worst,
                        reference=name,
                        extra=details,
                    )
                )
    return records


def _shap_native_partition(
    keras_model: Any, masker: Any, images: np.ndarray, budget: int
) -> tuple[float, int]:
    """shap's Partition explainer with a plain numpy masker and an eager Keras model."""
    import shap

    from labelshap.modalities.image import segment_linkage

    rows = 0

    def score(batch: np.ndarray) -> np.ndarray:
        nonlocal rows
        rows += len(batch)
        return keras_model(batch, training=False).numpy()

    def explain_all(batch: np.ndarray) -> None:
        for image in batch:
            segments = masker.segments(image)
            fill = masker.fill_image(image)
            numpy_masker = _NumpySegmentMasker(
                segments, image, fill, segment_linkage(segments, image)
            )
            explainer = shap.explainers.Partition(score, numpy_masker)
            explainer(np.zeros((1, numpy_masker.shape[1])), max_evals=budget, silent=True)

    explain_all(images[:1])  # numba compiles shap's code on its first call
    rows = 0
    seconds, _ = timed(lambda: explain_all(images))
    return seconds, rows


class _NumpySegmentMasker:
    """A shap masker over superpixels that builds each masked image in numpy."""

    def __init__(self, segments, image, fill, clustering) -> None:
        self.segments, self.image, self.fill = segments, image, fill
        self.clustering = clustering
        self.shape = (1, int(segments.max()) + 1)

    def __call__(self, mask, x):
        keep = np.asarray(mask, dtype=bool)[self.segments][..., None]
        return (np.where(keep, self.image, self.fill)[None],)


def _seconds_of(records: list[Record], algorithm: str) -> float:
    return next(record.seconds for record in records if record.algorithm == algorithm)
