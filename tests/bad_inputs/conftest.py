"""The shared context of the bad-input cases: models, maskers and files, built once."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from bad_inputs.cases import COLUMNS, LABELS, SIZE, Context, write_files

from labelshap import LabelModel
from labelshap.modalities.image import ImageMasker
from labelshap.modalities.tabular import IndependentMasker
from labelshap.modalities.text import TextMasker


@pytest.fixture(scope="session")
def ctx(tmp_path_factory, image_model_factory, text_tokenizers, text_model_factory,
        keyword_label_model) -> Context:  # fmt: skip
    files = tmp_path_factory.mktemp("bad-inputs")
    write_files(files)
    wordpiece = text_tokenizers["wordpiece"]

    keras.utils.set_random_seed(0)
    inputs = keras.Input((len(COLUMNS),))
    hidden = keras.layers.Dense(4, activation="tanh")(inputs)
    table_keras = keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid")(hidden))
    background = np.random.default_rng(0).normal(size=(4, len(COLUMNS)))

    return Context(
        files=files,
        rgb_model=LabelModel(image_model_factory(size=SIZE, channels=3), LABELS),
        gray_model=LabelModel(image_model_factory(size=SIZE, channels=1), LABELS),
        image_masker=ImageMasker("grid", cell=4),
        resizing_masker=ImageMasker("grid", cell=4, resize=True),
        ids_model=LabelModel(text_model_factory(len(wordpiece)), LABELS),
        strings_model=keyword_label_model,
        text_masker=TextMasker(wordpiece),
        window_masker=TextMasker(wordpiece, long_text="window"),
        strings_masker=TextMasker(wordpiece, model_input="text"),
        table_model=LabelModel(table_keras, ["x", "y", "z"]),
        table_masker=IndependentMasker(background, feature_names=COLUMNS),
    )
