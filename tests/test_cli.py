"""The command line end to end, on a digit model trained in the test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labelshap.cli import main
from labelshap.explanation import load_explanation

SIZE = 32


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small CNN trained for seconds on 32x32 digit canvases, saved like a user's."""
    import keras

    from labelshap.modalities.image.digits import build_digit_cnn, make_digit_canvases

    keras.utils.set_random_seed(0)
    train = make_digit_canvases(400, split="train", seed=0, size=SIZE, digit_size=12, max_digits=2)
    model = build_digit_cnn(input_shape=(SIZE, SIZE, 1), n_labels=10)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(train.images, train.labels, epochs=2, batch_size=32, verbose=0)

    folder = tmp_path_factory.mktemp("model")
    model.save(folder / "model.keras")
    (folder / "labels.txt").write_text("\n".join(train.label_names) + "\n")
    test = make_digit_canvases(2, split="test", seed=1, size=SIZE, digit_size=12, max_digits=2)
    images = []
    for index, image in enumerate(test.images):
        path = folder / f"canvas_{index}.png"
        Image.fromarray(np.round(image[..., 0] * 255).astype(np.uint8)).save(path)
        images.append(path)
    return folder, images


def explain_args(folder, out, *extra):
    return [
        "explain",
        "image",
        "--model",
        str(folder / "model.keras"),
        "--labels",
        str(folder / "labels.txt"),
        "--out",
        str(out),
        "--n-segments",
        "30",
        "--max-evals",
        "200",
        *extra,
    ]


def test_explain_image_writes_overlays_and_the_explanation(trained, tmp_path, capsys):
    folder, images = trained

    status = main(explain_args(folder, tmp_path, "--top-k", "2", *map(str, images)))

    assert status == 0
    overlays = sorted(path.name for path in (tmp_path / "overlays").iterdir())
    assert overlays == ["canvas_0.png", "canvas_1.png"]
    for path in (tmp_path / "overlays").iterdir():
        with Image.open(path) as picture:
            assert picture.width > picture.height  # the image, then one panel per label
    result = load_explanation(tmp_path)
    assert type(result).__name__ == "ImageExplanation"
    assert result.selected.sum(axis=1).tolist() == [2, 2]
    gap = result.scores - result.base_values
    np.testing.assert_allclose(result.values.sum(axis=1), gap, atol=1e-4)
    printed = capsys.readouterr().out
    assert "canvas_0.png" in printed and "canvas_1.png" in printed
    lines = [text for text in printed.splitlines() if ".png: " in text]
    for row, line in enumerate(lines):
        order = np.argsort(-result.scores[row], kind="stable")[:2]  # best scored first
        expected = ", ".join(f"{result.label_names[c]} {result.scores[row, c]:.3f}" for c in order)
        assert line.endswith(f": {expected}")


def test_explain_image_by_default_selects_labels_scored_half_or_more_and_the_best(
    trained, tmp_path, capsys
):
    folder, images = trained

    status = main(explain_args(folder, tmp_path, *map(str, images)))

    assert status == 0
    result = load_explanation(tmp_path)
    expected = result.scores >= 0.5
    expected[np.arange(len(result.scores)), np.argmax(result.scores, axis=1)] = True
    np.testing.assert_array_equal(result.selected, expected)
    assert not result.selected.all()
    printed = [line for line in capsys.readouterr().out.splitlines() if ".png: " in line]
    assert [line.count(",") + 1 for line in printed] == expected.sum(axis=1).tolist()
    settings = json.loads((tmp_path / "manifest.json").read_text())["settings"]
    assert settings["selection"] == "Threshold(value=0.5, at_least=1)"

    # The default is part of the job: the same job asked with --threshold 0.5 is another.
    assert main(explain_args(folder, tmp_path, "--threshold", "0.5", *map(str, images))) == 2
    assert "'Threshold(value=0.5, at_least=1)' -> 'Threshold(value=0.5)'" in (
        capsys.readouterr().err
    )


def test_explain_image_refuses_a_label_file_of_the_wrong_length(trained, tmp_path, capsys):
    folder, images = trained
    short = tmp_path / "labels.txt"
    short.write_text("zero\none\n")
    args = explain_args(folder, tmp_path / "out", str(images[0]))
    args[args.index("--labels") + 1] = str(short)

    status = main(args)

    assert status == 2
    assert "2 names were given but the model has 10 outputs" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("modality", "algorithm"),
    [
        ("image", "kernel-rows"),
        ("text", "kernel-rows"),
        ("text", "gradient"),
        ("tabular", "gradient"),
    ],
)
def test_commands_offer_only_the_algorithms_their_masker_can_run(
    modality, algorithm, tmp_path, capsys
):
    # kernel-rows needs background rows (tables), gradient masked inputs differentiable
    # in the masks (images): elsewhere the command refuses them before anything is read
    # or written (exit 2).
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stopped:
        main(["explain", modality, "--model", "m.keras", "--labels", "l.txt", "--out", str(out),
              "--algorithm", algorithm, "input"])  # fmt: skip

    assert stopped.value.code == 2
    assert f"invalid choice: '{algorithm}'" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("modality", "algorithm"), [("tabular", "kernel-rows"), ("image", "gradient")]
)
def test_commands_offer_the_algorithms_their_masker_can_run(modality, algorithm, capsys):
    with pytest.raises(SystemExit):
        main(["explain", modality, "--help"])
    assert algorithm in capsys.readouterr().out


def test_explain_image_refuses_unsafe_models_unless_allowed(tmp_path, capsys):
    import keras

    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(2, activation="sigmoid")(
        keras.layers.Flatten()(keras.layers.Lambda(lambda x: x * 2.0)(inputs))
    )
    keras.Model(inputs, outputs).save(tmp_path / "lambda.keras")
    (tmp_path / "labels.txt").write_text("a\nb\n")
    image = tmp_path / "image.png"
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(image)
    args = [
        "explain",
        "image",
        "--model",
        str(tmp_path / "lambda.keras"),
        "--labels",
        str(tmp_path / "labels.txt"),
        "--out",
        str(tmp_path / "out"),
        "--segmentation",
        "grid",
        "--cell",
        "4",
        str(image),
    ]

    assert main(args) == 2
    assert "--unsafe-load" in capsys.readouterr().err
    assert main([*args, "--unsafe-load"]) == 0


def test_the_console_command_is_installed():
    command = Path(sys.executable).parent / "labelshap"
    completed = subprocess.run(
        [str(command), "explain", "image", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--resize" in completed.stdout


def test_a_folder_job_records_a_bad_file_and_resumes(trained, tmp_path, capsys):
    folder, images = trained
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for path in images:
        (inputs / path.name).write_bytes(path.read_bytes())
    (inputs / "notes.txt").write_text("not an image")
    out = tmp_path / "out"

    first = main(explain_args(folder, out, "--top-k", "1", str(inputs)))
    printed = capsys.readouterr()
    second = main(explain_args(folder, out, "--top-k", "1", str(inputs)))
    again = capsys.readouterr()

    assert first == 1 and second == 1
    assert "labelshap: 2 explained, 0 already done, 1 failed" in printed.out
    assert f"failed: {inputs / 'notes.txt'}: ValueError: " in printed.err
    assert "cannot be read as an image" in printed.err
    assert "labelshap: 0 explained, 2 already done, 1 failed" in again.out
    manifest = json.loads((out / "manifest.json").read_text())
    assert [record["id"] for record in manifest["failures"]] == [str(inputs / "notes.txt")]
    assert load_explanation(out).info["ids"] == [str(inputs / path.name) for path in images]
    assert sorted(path.name for path in (out / "overlays").iterdir()) == [
        "canvas_0.png",
        "canvas_1.png",
    ]
    assert (out / "report.html").is_file()


def test_help_gives_each_default_once():
    from labelshap.cli import _build_parser

    parser = _build_parser()
    explain = next(a for a in parser._actions if a.dest == "command").choices["explain"]
    for name, sub in next(a for a in explain._actions if a.dest == "modality").choices.items():
        text = " ".join(sub.format_help().split())
        for action in sub._actions:
            helped = sub._get_formatter()._get_help_string(action) or ""
            assert helped.lower().count("default:") <= 1, (name, action.dest, helped)
        assert "(default: probability) (default" not in text
        assert "(default: None)" not in text and "(default: False)" not in text


def test_a_job_resumes_with_its_paths_typed_another_way(trained, tmp_path, monkeypatch, capsys):
    folder, images = trained
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for path in images:
        (inputs / path.name).write_bytes(path.read_bytes())
    monkeypatch.chdir(tmp_path)
    relative = explain_args(Path("."), "out", "--top-k", "1", "inputs")
    relative[relative.index("--model") + 1] = str(Path("..") / folder.name / "model.keras")
    relative[relative.index("--labels") + 1] = str(Path("..") / folder.name / "labels.txt")

    first = main(relative)
    capsys.readouterr()
    second = main(explain_args(folder, tmp_path / "out", "--top-k", "1", str(tmp_path / "inputs")))

    printed = capsys.readouterr()
    assert first == 0 and second == 0, printed.err
    assert "labelshap: 0 explained, 2 already done, 0 failed" in printed.out
    settings = json.loads((tmp_path / "out" / "manifest.json").read_text())["settings"]
    assert settings["model"] == str(folder / "model.keras")
    assert settings["images"] == [str(inputs)]
    # The shards name the model as the manifest does, not as it was typed.
    shard = json.loads(next((tmp_path / "out" / "shards").glob("*.json")).read_text())
    assert shard["info"]["model"] == str(folder / "model.keras")


def test_the_progress_bar_counts_to_the_total_and_done_items_start_it(trained, tmp_path, capsys):
    folder, images = trained
    args = explain_args(folder, tmp_path, "--top-k", "1", *map(str, images))

    main(args)
    first = capsys.readouterr().err
    main(args)
    second = capsys.readouterr().err

    assert "0/2 [" in first and "2/2 [" in first
    # Items of an earlier run start the bar and leave its rate unknown (nothing explained).
    assert "2/2 [00:00<?, ?item/s]" in second


def test_the_pixel_scale_is_part_of_a_job(trained, tmp_path, capsys):
    folder, images = trained
    args = explain_args(folder, tmp_path, "--top-k", "1", str(images[0]))

    assert main(args) == 0
    assert main([*args, "--scale", "1"]) == 2
    assert "scale: 0.00392156862745098 -> 1.0" in capsys.readouterr().err
    settings = json.loads((tmp_path / "manifest.json").read_text())["settings"]
    assert settings["scale"] == 1 / 255


def test_a_job_stopped_before_its_overlays_writes_them_when_resumed(trained, tmp_path, monkeypatch):
    from labelshap.modalities.image.explanation import ImageExplanation

    folder, images = trained
    inputs = []
    for name, path in [("a", images[0]), ("b", images[0]), ("c", images[1])]:
        (tmp_path / name).mkdir()
        inputs.append(tmp_path / name / path.name)
        inputs[-1].write_bytes(path.read_bytes())
    out = tmp_path / "out"
    command = explain_args(folder, out, "--chunk-size", "1", "--no-report", *map(str, inputs))
    save_overlays = ImageExplanation.save_overlays
    calls = []

    def stop_at_the_second(self, *args, **kwargs):
        calls.append(kwargs["names"])
        if len(calls) == 2:  # its shard is recorded: a kill here leaves no overlay
            raise RuntimeError("killed")
        return save_overlays(self, *args, **kwargs)

    monkeypatch.setattr(ImageExplanation, "save_overlays", stop_at_the_second)
    with pytest.raises(RuntimeError, match="killed"):
        main(command)
    monkeypatch.setattr(ImageExplanation, "save_overlays", save_overlays)
    first = (out / "overlays" / "canvas_0.png").stat().st_mtime_ns

    assert main(command) == 0

    shards = json.loads((out / "manifest.json").read_text())["shards"]
    ids = [item for shard in shards for item in shard["ids"]]
    assert len(ids) == 3
    assert sorted(path.name for path in (out / "overlays").iterdir()) == [
        "canvas_0.png",
        "canvas_0_1.png",
        "canvas_1.png",
    ]
    assert calls == [["canvas_0"], ["canvas_0_1"]]
    assert (out / "overlays" / "canvas_0.png").stat().st_mtime_ns == first


def test_the_demo_prints_headline_figures_and_where_the_rest_is(tmp_path, monkeypatch, capsys):
    import labelshap.cli
    import labelshap.modalities.image.cli as image_cli

    summary = {
        "model": {
            "mean_average_precision": 0.91234,
            "average_precision": {str(digit): 0.9 for digit in range(10)},
            "n_train": 1200,
        },
        "explanations": {
            "count": 40,
            "pointing_game": 0.85,
            "pointing_game_random": 0.3125,
            "algorithm": "auto",
            "seconds": 12.34,
            "masker": {"segmentation": "slic", "n_segments": 80, "fill": "blur"},
        },
        "files": {"model": "model.keras", "labels": "labels.txt"},
    }
    monkeypatch.setattr(image_cli, "run_demo", lambda out, seed: summary)
    monkeypatch.setattr(labelshap.cli, "write_report", lambda folder: folder / "report.html")

    assert main(["demo", "image", "--out", str(tmp_path)]) == 0

    assert capsys.readouterr().out.splitlines() == [
        "image: mean_average_precision 0.912, pointing_game 0.85, pointing_game_random 0.312, "
        f"count 40, seconds 12.3 (in full: {tmp_path / 'image' / 'summary.json'})",
        f"report: {tmp_path / 'report.html'}",
    ]
