"""Bad models and labels: each kind gets a clear error or a warning (see docs/bad-inputs.md)."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from bad_inputs.cases import LABELS, SIZE, Context, refuse, run_item

from labelshap import LabelModel
from labelshap.modalities.image import ImageMasker

# The model and label cases


def dense(activation: str, n_labels: int = 4) -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(n_labels, activation=activation)(inputs))


def returning(scores) -> Any:
    """A plain model returning ``scores(n_rows)``."""
    return lambda batch: scores(len(batch))


def predict_with(model: Any, labels=LABELS, **options) -> Any:
    return lambda ctx: LabelModel(model, labels, **options).predict(np.zeros((3, 3)))


def softmax_warns_once(model_of) -> Any:
    def case(ctx: Context) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = LabelModel(model_of(), LABELS)
            for _ in range(3):
                model.predict(np.random.default_rng(0).normal(size=(5, 3)))
        messages = [str(w.message) for w in caught if "looks single-label" in str(w.message)]
        assert len(messages) == 1 and "Softmax labels compete" in messages[0]

    return case


def sigmoid_does_not_warn(ctx: Context) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LabelModel(dense("sigmoid"), LABELS).predict(np.ones((4, 3)))


def constant_rows_do_not_warn(ctx: Context) -> None:
    # Two sigmoid labels at 0.5 on a blank input: every row sums to 1, and says nothing.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = LabelModel(returning(lambda n: np.full((n, 4), 0.25)), LABELS)
        assert model.predict(np.zeros((16, 3))).shape == (16, 4)


def labels_file(name: str) -> Any:
    return lambda ctx: LabelModel(dense("sigmoid"), ctx.files / name)


def saved(model_of, name: str, **options) -> Any:
    def load(ctx: Context) -> LabelModel:
        path = ctx.files / name
        if not path.exists():
            model_of(path)
        return LabelModel(path, LABELS, **options)

    return load


def lambda_file(path: Path) -> None:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    doubled = keras.layers.Lambda(lambda tensor: tensor * 2.0)(inputs)
    keras.Model(inputs, keras.layers.Dense(4, activation="sigmoid")(doubled)).save(path)


def lambda_loads_when_trusted(ctx: Context) -> None:
    model = saved(lambda_file, "lambda.keras", unsafe_load=True)(ctx)
    assert model.predict(np.zeros((2, 3))).shape == (2, 4)


def garbage_file(path: Path) -> None:
    path.write_bytes(b"this is not a model")


def archive_without_config(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "no config.json here")


def images_for_a_text_model(stage: str) -> Any:
    """Images given to a model over token ids: refused at its first call, with both
    shapes, by ``masker.score`` (``"score"``) or a masked evaluation (``"evaluate"``)."""

    def action(ctx: Context) -> None:
        masker = ImageMasker("grid", cell=4, input_shape=(SIZE, SIZE, 1))
        prepared, bound = run_item(masker, np.zeros((SIZE, SIZE, 1)), ctx.ids_model)
        if stage == "score":
            masker.score(prepared, ctx.ids_model)
        else:
            bound.evaluate(ctx.ids_model, np.ones((1, bound.n_features)))

    return action


def own_layers_are_imported_for_any_modality(ctx: Context) -> None:
    """A model with the text demo's layer loads wherever it is opened: the archive's
    config names the labelshap module that defines the layer, which is imported."""
    from labelshap import _loading
    from labelshap.modalities.text import build_text_model

    path = ctx.files / "text-demo.keras"
    build_text_model(50, 4, SIZE, embedding_dim=4, filters=4).save(path)
    imported = []
    with pytest.MonkeyPatch.context() as patch:
        real = _loading.importlib.import_module
        patch.setattr(_loading.importlib, "import_module", lambda n: imported.append(n) or real(n))
        model = LabelModel(path, LABELS)
    assert [name for name in imported if "labelshap" in name] == ["labelshap.modalities.text.model"]
    assert model.input_spec == ((SIZE,), "int32")


def nan_where(n_rows: int) -> np.ndarray:
    scores = np.full((n_rows, 4), 0.3)
    scores[-1, 2] = np.nan
    return scores


MODEL_CASES = [
    pytest.param(
        refuse(
            ValueError,
            r"model 'Functional' takes rows of shape \(16,\) \(int32\), but the inputs it was "
            r"given have rows of shape \(16, 16, 1\); accepted: a model made for this kind",
            images_for_a_text_model("score"),
        ),
        id="model-of-another-modality-scored",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"takes rows of shape \(16,\) \(int32\), but the masked inputs the masker builds "
            r"have rows of shape \(16, 16, 1\)",
            images_for_a_text_model("evaluate"),
        ),
        id="model-of-another-modality-evaluated",
    ),
    pytest.param(own_layers_are_imported_for_any_modality, id="model-with-labelshap-layers"),
    pytest.param(
        refuse(
            ValueError,
            r"model output has shape \(3,\); expected \(n, n_labels\) = \(3, 4\): "
            r"one row per input and one column per label name \(4 names\)",
            predict_with(returning(lambda n: np.zeros(n))),
        ),
        id="model-output-1-d",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"model output has shape \(3, 4, 1\); expected \(n, n_labels\)",
            predict_with(returning(lambda n: np.zeros((n, 4, 1)))),
        ),
        id="model-output-3-d",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"model output has shape \(3, 5\); expected .* \(4 names\)",
            predict_with(returning(lambda n: np.zeros((n, 5)))),
        ),
        id="model-output-wider-than-labels",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"model outputs have shapes \[\(None, 2, 2\)\]",
            lambda ctx: LabelModel(
                keras.Sequential(
                    [keras.Input((3,)), keras.layers.Dense(4), keras.layers.Reshape((2, 2))]
                )
            ),
        ),
        id="model-keras-output-3-d",
    ),
    pytest.param(
        softmax_warns_once(lambda: dense("softmax")), id="model-softmax-final-layer-warns-once"
    ),
    pytest.param(
        softmax_warns_once(
            lambda: keras.Sequential(
                [keras.Input((3,)), keras.layers.Dense(4), keras.layers.Softmax()]
            )
        ),
        id="model-softmax-layer-warns-once",
    ),
    pytest.param(
        softmax_warns_once(
            lambda: returning(lambda n: np.random.default_rng(n).dirichlet(np.ones(4), size=n))
        ),
        id="model-rows-summing-to-one-warn-once",
    ),
    pytest.param(sigmoid_does_not_warn, id="model-sigmoid-does-not-warn"),
    pytest.param(constant_rows_do_not_warn, id="model-identical-rows-summing-to-one-do-not-warn"),
    pytest.param(
        refuse(
            ValueError,
            r"labels repeats names \['b'\]; label names must be unique",
            lambda ctx: LabelModel(dense("sigmoid"), ["a", "b", "b", "c"]),
        ),
        id="labels-duplicate-names",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"every name must be a non-empty string; got \['', ' '\]",
            lambda ctx: LabelModel(dense("sigmoid"), ["a", "", " ", "d"]),
        ),
        id="labels-empty-names",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"blank-labels\.txt' holds no label names; accepted: one name per line",
            labels_file("blank-labels.txt"),
        ),
        id="labels-file-of-blank-lines",
    ),
    pytest.param(
        refuse(
            FileNotFoundError,
            r"labels file '.*missing-labels\.txt' does not exist",
            labels_file("missing-labels.txt"),
        ),
        id="labels-file-missing",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"labels file '.*folder' is a directory; accepted: a text file",
            labels_file("folder"),
        ),
        id="labels-file-is-a-directory",
    ),
    pytest.param(
        refuse(
            ValueError, r"labels file '.*latin1\.txt' is not UTF-8 text", labels_file("latin1.txt")
        ),
        id="labels-file-not-utf8",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"labels: 3 names were given but the model has 4 outputs \('Functional'\)",
            lambda ctx: LabelModel(dense("sigmoid"), ["a", "b", "c"]),
        ),
        id="labels-count-not-matching-outputs",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"labels file '.*three-labels\.txt': 3 names were given but the model has 4 "
            r"outputs \('Functional'\); give exactly one name per output, one per line",
            labels_file("three-labels.txt"),
        ),
        id="labels-file-count-not-matching-outputs",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"lambda\.keras' needs unsafe deserialisation.*unsafe_load=True",
            saved(lambda_file, "lambda.keras"),
        ),
        id="model-lambda-layer-refused-without-unsafe-load",
    ),
    pytest.param(lambda_loads_when_trusted, id="model-lambda-layer-loads-with-unsafe-load"),
    pytest.param(
        refuse(
            FileNotFoundError,
            r"model path '.*missing\.keras' does not exist",
            lambda ctx: LabelModel(ctx.files / "missing.keras", LABELS),
        ),
        id="model-file-missing",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"garbage\.keras' is not a \.keras archive.*accepted",
            saved(garbage_file, "garbage.keras"),
        ),
        id="model-file-not-a-model",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"archive\.keras' could not be loaded as a Keras model \(KeyError",
            saved(archive_without_config, "archive.keras"),
        ),
        id="model-zip-without-keras-config",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"notes\.png' has suffix '\.png'; accepted: a \.keras file",
            lambda ctx: LabelModel(ctx.files / "notes.png", LABELS),
        ),
        id="model-file-with-another-suffix",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"model output holds nan at row 2, label 'c' \(1 non-finite scores in all\); "
            "accepted: finite",
            predict_with(returning(nan_where)),
        ),
        id="model-nan-outputs",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"model output holds inf at row 0, label 'a'",
            predict_with(returning(lambda n: np.full((n, 4), np.inf)), output="logit"),
        ),
        id="model-infinite-logits",
    ),
    pytest.param(
        refuse(
            ValueError,
            r"outside \[0, 1\], but output='probability'; pass output='logit' for raw "
            r"scores \(command line: --output logit\)",
            predict_with(returning(lambda n: np.full((n, 4), 3.0))),
        ),
        id="model-logits-declared-as-probabilities",
    ),
]


@pytest.mark.parametrize("case", MODEL_CASES)
def test_model_input(ctx, case):
    case(ctx)
