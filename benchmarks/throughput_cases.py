"""The throughput suite's models, inputs and maskers, by size (smoke, quick, full) and device."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import models

SIZES = ("smoke", "quick", "full")


@dataclass(frozen=True)
class Settings:
    """How large one run of the suite is."""

    batch_sizes: dict[str, tuple[int, ...]]
    budget: dict[str, int]
    n_inputs: dict[str, int]
    image: models.ImageConfig
    encoder: models.EncoderConfig
    mlp: models.MlpConfig
    with_demo_models: bool
    seconds_per_point: float
    explain_repeats: int = 3


@dataclass
class Case:
    """One model to measure: how to build it, what to feed it, how to explain it."""

    name: str
    modality: str
    model: Any
    label_names: list[str]
    rows: Callable[[int], Any]
    masker: Any
    inputs: Any
    n_inputs: int
    algorithm: str
    sizes: dict[str, Any]
    rebuild: Callable[[], Any] | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def settings(size: str, device: str) -> Settings:
    """The sizes of one run; on CPU, ``quick`` shrinks the models so it ends in minutes."""
    if size not in SIZES:
        raise ValueError(f"size={size!r} is not supported; accepted: {SIZES}")
    if size == "smoke":
        return Settings(
            batch_sizes={"image": (8, 32), "text": (8, 32), "tabular": (64, 256)},
            budget={"image": 64, "text": 64, "tabular": 64},
            n_inputs={"image": 1, "text": 1, "tabular": 1},
            image=models.ImageConfig("tiny", 32),
            encoder=models.EncoderConfig(1, 32, 2, 32, 30522),
            mlp=models.MlpConfig(32, (64,)),
            with_demo_models=False,
            seconds_per_point=0.05,
            explain_repeats=1,
        )
    if size == "quick" and device == "cpu":
        return Settings(
            batch_sizes={"image": (16, 64), "text": (16, 64), "tabular": (256, 2048)},
            budget={"image": 200, "text": 400, "tabular": 300},
            n_inputs={"image": 2, "text": 2, "tabular": 4},
            image=models.ImageConfig("resnet50", 64),
            encoder=models.EncoderConfig(2, 128, 2, 128, 30522),
            mlp=models.MlpConfig(128, (1024, 512)),
            with_demo_models=True,
            seconds_per_point=0.5,
            explain_repeats=2,
        )
    quick = size == "quick"
    return Settings(
        batch_sizes={
            "image": (32, 64, 128, 256) if quick else (16, 32, 64, 128, 256, 512),
            "text": (32, 64, 128, 256) if quick else (16, 32, 64, 128, 256, 512),
            "tabular": (512, 2048, 8192, 32768) if quick else (256, 1024, 4096, 16384, 65536),
        },
        budget={"image": 500, "text": 500, "tabular": 1200},
        n_inputs={"image": 8, "text": 8, "tabular": 16}
        if quick
        else {"image": 32, "text": 32, "tabular": 64},
        image=models.ImageConfig(),
        encoder=models.EncoderConfig(),
        mlp=models.MlpConfig(),
        with_demo_models=True,
        seconds_per_point=1.0 if quick else 3.0,
    )


def build_cases(chosen: Settings, modalities: list[str]) -> list[Case]:
    """Every case of the chosen modalities, random-weight models first, then the demos."""
    cases = []
    if "image" in modalities:
        cases += _image_cases(chosen)
    if "text" in modalities:
        cases += _text_cases(chosen)
    if "tabular" in modalities:
        cases += _tabular_cases(chosen)
    return cases


def _image_cases(chosen: Settings) -> list[Case]:
    from labelshap.modalities.image import ImageMasker

    config, n_inputs = chosen.image, chosen.n_inputs["image"]
    masker = ImageMasker(n_segments=50)
    images = _smooth_images(n_inputs, config.size)
    cases = [
        Case(
            name=f"{config.architecture}-{config.size}px",
            modality="image",
            model=models.build_image_model(config),
            label_names=_label_names(models.N_LABELS),
            rows=lambda n, x=images / 255.0: np.resize(x, (n, *x.shape[1:])),
            masker=masker,
            inputs=images,
            n_inputs=n_inputs,
            algorithm="owen-sampling",
            sizes=models.describe(config) | {"slic_segments": 50},
            rebuild=lambda: models.build_image_model(config),
        )
    ]
    if chosen.with_demo_models:
        from labelshap.modalities.image.digits import make_digit_canvases, train_digit_model

        trained = train_digit_model(progress=False)
        digits = make_digit_canvases(n_inputs, split="test", seed=1000).images
        cases.append(
            Case(
                name="demo-digits-cnn-64px",
                modality="image",
                model=trained.model,
                label_names=list(trained.label_names),
                rows=lambda n, x=digits / 255.0: np.resize(x, (n, *x.shape[1:])),
                masker=masker,
                inputs=digits,
                n_inputs=n_inputs,
                algorithm="owen-sampling",
                sizes={"architecture": "demo CNN", "size": 64, "slic_segments": 50},
            )
        )
    return cases


def _text_cases(chosen: Settings) -> list[Case]:
    from labelshap.modalities.text import TextMasker
    from labelshap.modalities.text.data import load_debtags, split_by_description
    from labelshap.modalities.text.model import train_text_model
    from labelshap.modalities.text.tokenizer import train_wordpiece

    documents = load_debtags()
    train, test = split_by_description(documents)
    n_inputs = chosen.n_inputs["text"]
    texts = [documents[i].text for i in test[:n_inputs]]

    # The demo's WordPiece tokenizer feeds both models (its ids fit the encoder's
    # vocabulary); without the demo, a small one trained on the spot, so nothing is trained
    # beyond a tokenizer.
    if chosen.with_demo_models:
        trained = train_text_model()
        tokenizer = trained.tokenizer
    else:
        tokenizer = train_wordpiece([documents[i].text for i in train[:500]], vocab_size=2000)
    masker = TextMasker(tokenizer)
    config = chosen.encoder
    encoder_ids = _token_rows(tokenizer, texts, config.length)
    cases = [
        Case(
            name=f"encoder-{config.n_layers}x{config.hidden}-{config.length}tok",
            modality="text",
            model=models.build_encoder_model(config),
            label_names=_label_names(models.N_LABELS),
            rows=lambda n, x=encoder_ids: np.resize(x, (n, x.shape[1])),
            masker=masker,
            inputs=texts,
            n_inputs=n_inputs,
            algorithm="owen-sampling",
            sizes=models.describe(config),
            rebuild=lambda: models.build_encoder_model(config),
        )
    ]
    if chosen.with_demo_models:
        demo_ids = trained.encode(texts)
        cases.append(
            Case(
                name=f"demo-debtags-conv1d-{demo_ids.shape[1]}tok",
                modality="text",
                model=trained.model,
                label_names=list(trained.label_names),
                rows=lambda n, x=demo_ids: np.resize(x, (n, x.shape[1])),
                masker=masker,
                inputs=texts,
                n_inputs=n_inputs,
                algorithm="owen-sampling",
                sizes={"architecture": "demo conv1d", "length": int(demo_ids.shape[1])},
            )
        )
    return cases


def _tabular_cases(chosen: Settings) -> list[Case]:
    from labelshap.modalities.tabular import PartitionMasker

    # A masker with a hierarchy, so that shap's Partition explainer runs on the same one.
    config, n_inputs = chosen.mlp, chosen.n_inputs["tabular"]
    rng = np.random.default_rng(0)
    table = rng.normal(size=(256, config.n_features)).astype(np.float32)
    names = [f"f{i}" for i in range(config.n_features)]
    n_background = 32
    cases = [
        Case(
            name=f"wide-mlp-{config.n_features}-features",
            modality="tabular",
            model=models.build_mlp_model(config),
            label_names=_label_names(models.N_LABELS),
            rows=lambda n: np.resize(table, (n, config.n_features)),
            masker=PartitionMasker(table[:n_background], feature_names=names),
            inputs=table[-n_inputs:],
            n_inputs=n_inputs,
            algorithm="owen-sampling",
            sizes=models.describe(config) | {"background_rows": n_background},
            rebuild=lambda: models.build_mlp_model(config),
        )
    ]
    if chosen.with_demo_models:
        from labelshap.modalities.tabular.model import train_recommender

        trained = train_recommender()
        features = trained.table
        cases.append(
            Case(
                name="demo-recommender-44-features",
                modality="tabular",
                model=trained.model,
                label_names=list(trained.label_names),
                rows=lambda n: features.inputs(np.resize(trained.train_indices, n)),
                masker=PartitionMasker(
                    features.flat_features(trained.train_indices),
                    feature_names=list(features.flat_feature_names),
                    inputs={g: list(cols) for g, cols in trained.feature_names.items()},
                    summarize=50,
                ),
                inputs=features.flat_features(trained.test_indices)[:n_inputs],
                n_inputs=n_inputs,
                algorithm="owen-sampling",
                sizes={"architecture": "demo recommender", "background_rows": 50},
            )
        )
    return cases


def _smooth_images(n: int, size: int) -> np.ndarray:
    """Random 8-bit images made of coarse blocks, so superpixels have something to follow."""
    rng = np.random.default_rng(0)
    coarse = math.ceil(size / 8)
    blocks = rng.uniform(0, 255, size=(n, coarse, coarse, 3))
    return np.repeat(np.repeat(blocks, 8, axis=1), 8, axis=2)[:, :size, :size].astype(np.float32)


def _token_rows(tokenizer: Any, texts: list[str], length: int) -> np.ndarray:
    from labelshap.modalities.text.model import encode_texts

    return encode_texts(tokenizer, texts, length)


def _label_names(n: int) -> list[str]:
    return [f"label_{i}" for i in range(n)]
