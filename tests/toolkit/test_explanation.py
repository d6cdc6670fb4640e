"""Tests for the Explanation result: selection, conversion to shap, saving and loading."""

from __future__ import annotations

import dataclasses
import json
import re

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import shap

from labelshap import Explanation, load_explanation
from labelshap.modalities.image import ImageExplanation

matplotlib.use("Agg")

LABELS = ["cat", "dog", "bird"]
N_ROWS = 3
RAGGED_COUNTS = (2, 4, 3)


def make_explanation(
    counts: tuple[int, ...] = (4, 4, 4),
    labels: list[str] = LABELS,
    cls: type[Explanation] = Explanation,
    extras: dict[str, np.ndarray] | None = None,
) -> Explanation:
    """An explanation with distinct random numbers everywhere, padded with zeros."""
    rng = np.random.default_rng(len(counts) * 10 + len(labels))
    n_rows, width, n_labels = len(counts), max(counts), len(labels)
    values = np.zeros((n_rows, width, n_labels))
    feature_data = np.zeros((n_rows, width))
    for row, count in enumerate(counts):
        values[row, :count] = rng.normal(size=(count, n_labels))
        feature_data[row, :count] = rng.random(count)
    return cls(
        values=values,
        base_values=rng.normal(size=(n_rows, n_labels)),
        scores=rng.random((n_rows, n_labels)),
        label_names=list(labels),
        feature_names=[[f"r{row}f{j}" for j in range(count)] for row, count in enumerate(counts)],
        selected=rng.random((n_rows, n_labels)) > 0.5,
        data=rng.random((n_rows, 5, 2)).astype(np.float32),
        feature_data=feature_data,
        extras={} if extras is None else extras,
        info={"algorithm": "permutation", "max_evals": 50, "seconds": 0.25, "all": ["a", "b"]},
    )


def image_explanation() -> ImageExplanation:
    segments = np.arange(N_ROWS * 2 * 2).reshape(N_ROWS, 2, 2) % 4
    return make_explanation(cls=ImageExplanation, extras={"segments": segments})


def assert_same_explanation(loaded: Explanation, original: Explanation) -> None:
    assert type(loaded) is type(original)
    for name in ("values", "base_values", "scores", "selected", "data", "feature_data"):
        loaded_array, original_array = getattr(loaded, name), getattr(original, name)
        assert loaded_array.dtype == original_array.dtype, name
        np.testing.assert_array_equal(loaded_array, original_array, err_msg=name)
    assert loaded.label_names == original.label_names
    assert loaded.feature_names == original.feature_names
    assert sorted(loaded.extras) == sorted(original.extras)
    for name, array in original.extras.items():
        assert loaded.extras[name].dtype == array.dtype
        np.testing.assert_array_equal(loaded.extras[name], array)
    assert loaded.info == original.info


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# Construction


def test_feature_counts_come_from_the_feature_names():
    assert make_explanation().n_features.tolist() == [4, 4, 4]
    assert make_explanation(RAGGED_COUNTS).n_features.tolist() == list(RAGGED_COUNTS)
    assert len(make_explanation(RAGGED_COUNTS)) == N_ROWS


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("base_values", np.zeros((N_ROWS, 2))),
        ("scores", np.zeros((N_ROWS + 1, 3))),
        ("selected", np.zeros((N_ROWS, 4), dtype=bool)),
        ("feature_data", np.zeros((N_ROWS, 3))),
    ],
)
def test_array_of_mismatched_shape_is_refused_naming_it(field, bad):
    good = make_explanation()
    fields = {spec.name: getattr(good, spec.name) for spec in dataclasses.fields(good)}
    fields[field] = bad

    with pytest.raises(ValueError, match=re.escape(f"{field} has shape {bad.shape}; expected")):
        Explanation(**fields)


@pytest.mark.parametrize(
    ("field", "bad"),
    [("label_names", ["cat", "dog"]), ("feature_names", [["a"], ["b"]])],
)
def test_name_list_of_mismatched_length_is_refused(field, bad):
    good = make_explanation()
    fields = {spec.name: getattr(good, spec.name) for spec in dataclasses.fields(good)}
    fields[field] = bad

    with pytest.raises(ValueError, match=r"do not match values of shape \(3, 4, 3\)"):
        Explanation(**fields)


# Selecting labels and inputs


def test_selecting_a_label_by_name_keeps_that_label_only():
    full = make_explanation()

    dog = full["dog"]

    assert dog.label_names == ["dog"]
    np.testing.assert_array_equal(dog.values, full.values[:, :, 1:2])
    np.testing.assert_array_equal(dog.base_values, full.base_values[:, 1:2])
    np.testing.assert_array_equal(dog.scores, full.scores[:, 1:2])
    np.testing.assert_array_equal(dog.selected, full.selected[:, 1:2])
    np.testing.assert_array_equal(dog.data, full.data)
    assert dog.feature_names == full.feature_names


def test_label_values_agree_with_the_selected_label():
    full = make_explanation()

    np.testing.assert_array_equal(full.label_values("bird"), full.values[:, :, 2])
    np.testing.assert_array_equal(full.label_values(2), full.values[:, :, 2])
    np.testing.assert_array_equal(full["bird"].label_values("bird"), full.label_values("bird"))
    np.testing.assert_array_equal(full["bird"].label_values(0), full.label_values("bird"))


def test_unknown_label_raises_key_error_listing_the_explained_labels():
    full = make_explanation()

    with pytest.raises(KeyError, match=r"'zebra' is not explained here; explained: \['cat'"):
        full["zebra"]
    with pytest.raises(KeyError, match=r"label 3 is not explained here"):
        full.label_values(3)


@pytest.mark.parametrize(
    ("key", "rows"),
    [
        (1, [1]),
        (-1, [2]),
        (slice(0, 2), [0, 1]),
        (slice(None, None, -1), [2, 1, 0]),
        ([2, 0], [2, 0]),
    ],
)
def test_integer_slice_and_list_keys_select_inputs_with_their_extras(key, rows):
    segments = np.arange(N_ROWS * 4).reshape(N_ROWS, 2, 2)
    full = make_explanation(RAGGED_COUNTS, extras={"segments": segments})

    part = full[key]

    assert len(part) == len(rows)
    for name in ("values", "base_values", "scores", "selected", "data", "feature_data"):
        np.testing.assert_array_equal(getattr(part, name), getattr(full, name)[rows], name)
    np.testing.assert_array_equal(part.extras["segments"], segments[rows])
    assert part.feature_names == [full.feature_names[row] for row in rows]
    assert part.label_names == full.label_names
    assert part.info == full.info


def test_selecting_inputs_of_an_image_explanation_keeps_its_class():
    assert type(image_explanation()[0:2]) is ImageExplanation
    assert type(image_explanation()["cat"]) is ImageExplanation


# Conversion to shap


def test_single_label_to_shap_drops_the_label_axis():
    full = make_explanation()

    converted = full["dog"].to_shap()

    assert isinstance(converted, shap.Explanation)
    assert converted.values.shape == (N_ROWS, 4)
    np.testing.assert_array_equal(converted.values, full.values[:, :, 1])
    np.testing.assert_array_equal(converted.base_values, full.base_values[:, 1])
    np.testing.assert_array_equal(converted.data, full.feature_data)
    # Each row keeps its own feature names (they differ by row here).
    assert [list(names) for names in converted.feature_names] == full.feature_names
    assert converted.output_names == "dog"


def test_single_label_to_shap_draws_as_bar_and_waterfall_plots():
    converted = make_explanation()["cat"].to_shap()

    shap.plots.bar(converted, show=False)
    shap.plots.waterfall(converted[1], show=False)

    assert len(plt.get_fignums()) >= 1


def test_several_labels_to_shap_keep_the_label_axis():
    full = make_explanation()

    converted = full.to_shap()

    assert converted.values.shape == (N_ROWS, 4, len(LABELS))
    np.testing.assert_array_equal(converted.values, full.values)
    np.testing.assert_array_equal(converted.base_values, full.base_values)
    assert list(converted.output_names) == LABELS


def test_uniform_to_shap_trims_padding_shared_by_every_input():
    # Inputs 0 and 2 of a ragged explanation both have fewer features than the padding.
    padded = make_explanation((2, 4, 2))[[0, 2]]

    converted = padded["cat"].to_shap()

    assert converted.values.shape == (2, 2)
    np.testing.assert_array_equal(converted.values, padded.values[:, :2, 0])


def test_to_shap_keeps_each_inputs_own_feature_names_when_counts_agree():
    # Two texts of three tokens each: the second input's names must not be the first's.
    full = make_explanation((3, 3, 3))

    converted = full["cat"].to_shap()

    for row in range(N_ROWS):
        assert list(converted[row].feature_names) == full.feature_names[row]


def test_ragged_to_shap_gives_one_object_row_per_input():
    full = make_explanation(RAGGED_COUNTS)

    converted = full["bird"].to_shap()

    assert converted.values.dtype == object
    assert converted.values.shape == (N_ROWS,)
    for row, count in enumerate(RAGGED_COUNTS):
        np.testing.assert_array_equal(converted.values[row], full.values[row, :count, 2])
        np.testing.assert_array_equal(converted.data[row], full.feature_data[row, :count])
        assert list(converted.feature_names[row]) == full.feature_names[row]
    shap.plots.waterfall(converted[1], show=False)


def test_ragged_to_shap_with_several_labels_keeps_each_rows_label_axis():
    full = make_explanation(RAGGED_COUNTS)

    converted = full.to_shap()

    assert converted.values.dtype == object
    for row, count in enumerate(RAGGED_COUNTS):
        np.testing.assert_array_equal(converted.values[row], full.values[row, :count])


# Saving and loading


def test_save_and_load_round_trip_every_field_exactly(tmp_path):
    original = make_explanation(RAGGED_COUNTS, extras={"offsets": np.arange(N_ROWS * 2)[:, None]})

    written = original.save(tmp_path / "result")
    loaded = Explanation.load(tmp_path / "result")

    assert written == tmp_path / "result.npz"
    assert_same_explanation(loaded, original)


def test_saved_arrays_open_without_pickle_and_metadata_is_json(tmp_path):
    original = make_explanation(extras={"offsets": np.arange(N_ROWS)})
    original.save(tmp_path / "result")

    with np.load(tmp_path / "result.npz", allow_pickle=False) as arrays:
        contents = {name: arrays[name] for name in arrays.files}
    meta = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))

    np.testing.assert_array_equal(contents["values"], original.values)
    np.testing.assert_array_equal(contents["extra_offsets"], original.extras["offsets"])
    assert meta["label_names"] == LABELS
    assert meta["feature_names"] == original.feature_names
    assert meta["info"] == original.info


@pytest.mark.parametrize("save_as", ["result", "result.npz", "result.json"])
@pytest.mark.parametrize("load_as", ["result", "result.npz", "result.json"])
def test_path_with_or_without_suffix_names_the_same_pair_of_files(tmp_path, save_as, load_as):
    original = make_explanation()

    original.save(tmp_path / save_as)
    loaded = load_explanation(str(tmp_path / load_as))

    assert sorted(path.name for path in tmp_path.iterdir()) == ["result.json", "result.npz"]
    assert_same_explanation(loaded, original)


@pytest.mark.parametrize("stem", ["run.2024.v1", "scores.npz.backup"])
def test_stem_containing_dots_is_kept_whole(tmp_path, stem):
    original = make_explanation()

    written = original.save(tmp_path / stem)
    loaded = Explanation.load(tmp_path / stem)

    assert written == tmp_path / f"{stem}.npz"
    assert (tmp_path / f"{stem}.json").is_file()
    assert_same_explanation(loaded, original)


def test_save_creates_missing_folders(tmp_path):
    written = make_explanation().save(tmp_path / "deep" / "er" / "result")

    assert written.is_file()


def test_image_explanation_comes_back_as_image_explanation(tmp_path):
    original = image_explanation()

    original.save(tmp_path / "images")
    loaded = Explanation.load(tmp_path / "images.npz")

    assert_same_explanation(loaded, original)
    np.testing.assert_array_equal(
        loaded.pixel_values(0, ["dog"]), original.pixel_values(0, ["dog"])
    )


def test_a_folder_holding_an_explanation_loads_it(tmp_path):
    original = make_explanation()
    original.save(tmp_path / "tabular" / "explanation")  # as a demo lays out its results

    assert_same_explanation(load_explanation(tmp_path / "tabular"), original)


def test_a_folder_without_an_explanation_is_refused_naming_the_file_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"explanation\.json' does not exist"):
        load_explanation(tmp_path)


def test_wrong_format_version_is_refused(tmp_path):
    make_explanation().save(tmp_path / "result")
    meta_path = tmp_path / "result.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["format_version"] = 2
    meta_path.write_text(json.dumps(meta), encoding="utf-8")

    with pytest.raises(ValueError, match="has format_version 2; this labelshap reads version 1"):
        load_explanation(tmp_path / "result")


def test_missing_half_of_the_pair_is_refused_naming_it(tmp_path):
    make_explanation().save(tmp_path / "result")
    (tmp_path / "result.npz").unlink()

    with pytest.raises(FileNotFoundError, match=r"result\.npz' does not exist"):
        load_explanation(tmp_path / "result.json")
