"""Bad command lines and bad items of a batch job (see docs/bad-inputs.md).

A mistake in the command exits with status 2, names the option as typed and what it
accepts, and leaves nothing on disk; a bad item of a job is recorded in the manifest and
the job goes on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pytest
from bad_inputs.cases import SIZE
from PIL import Image

from labelshap.cli import main

IMAGE_LABELS = ["cat", "dog", "bird", "fish"]
TEXT_LABELS = ["perl", "python", "game", "other"]
TEXT_LENGTH = 16


@dataclass
class Files:
    """Saved models, labels and inputs the command lines name."""

    folder: Path
    image_model: Path
    softmax_model: Path
    logit_model: Path
    text_model: Path
    tokenizer: Path
    table_model: Path


@pytest.fixture(scope="module")
def files(tmp_path_factory, image_model_factory, text_tokenizers) -> Files:
    from labelshap.modalities.text import build_text_model

    folder = tmp_path_factory.mktemp("bad-commands")
    image_model_factory(size=SIZE, channels=1).save(folder / "image.keras")
    keras.utils.set_random_seed(0)
    image = keras.Input((SIZE, SIZE, 1))
    flat = keras.layers.Flatten()(image)
    keras.Model(image, keras.layers.Dense(4, activation="softmax")(flat)).save(
        folder / "softmax.keras"
    )
    logits = keras.layers.Dense(4, bias_initializer=keras.initializers.Constant(5.0))(flat)
    keras.Model(image, logits).save(folder / "logits.keras")
    # The text demo's architecture, with its own layer (PaddingMask).
    wordpiece = text_tokenizers["wordpiece"]
    text_model = build_text_model(len(wordpiece), 4, TEXT_LENGTH, embedding_dim=8, filters=8)
    text_model.save(folder / "text.keras")
    wordpiece.save_pretrained(str(folder / "tokenizer"))
    table = keras.Input((3,))
    keras.Model(table, keras.layers.Dense(2, activation="sigmoid")(table)).save(
        folder / "table.keras"
    )

    (folder / "image-labels.txt").write_text("\n".join(IMAGE_LABELS) + "\n")
    (folder / "text-labels.txt").write_text("\n".join(TEXT_LABELS) + "\n")
    (folder / "table-labels.txt").write_text("x\ny\n")
    (folder / "one-label.txt").write_text("cat\n")
    (folder / "many-labels.txt").write_text("\n".join(f"tag-{i}" for i in range(30)) + "\n")
    images = folder / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for index in range(3):
        pixels = rng.integers(0, 256, (SIZE, SIZE), dtype=np.uint8)
        Image.fromarray(pixels).save(images / f"{index}.png")
    (folder / "empty").mkdir()
    (folder / "empty" / ".hidden.png").write_bytes((images / "0.png").read_bytes())
    (folder / "blank.jsonl").write_text("\n\n")
    (folder / "background.csv").write_text("p,q,r\n" + "\n".join(["0.1,0.2,0.3"] * 4) + "\n")
    return Files(
        folder=folder,
        image_model=folder / "image.keras",
        softmax_model=folder / "softmax.keras",
        logit_model=folder / "logits.keras",
        text_model=folder / "text.keras",
        tokenizer=folder / "tokenizer",
        table_model=folder / "table.keras",
    )


def explain_image(files: Files, out: Path, *extra: str, model: Path | None = None) -> list[str]:
    return [
        "explain",
        "image",
        "--model",
        str(model or files.image_model),
        "--labels",
        str(files.folder / "image-labels.txt"),
        "--out",
        str(out),
        "--segmentation",
        "grid",
        "--cell",
        "4",
        "--max-evals",
        "40",
        "--no-report",
        *extra,
    ]


def explain_text(files: Files, out: Path, *extra: str) -> list[str]:
    return [
        "explain",
        "text",
        "--model",
        str(files.text_model),
        "--labels",
        str(files.folder / "text-labels.txt"),
        "--tokenizer",
        str(files.tokenizer),
        "--out",
        str(out),
        "--max-evals",
        "40",
        "--color",
        "never",
        "--no-report",
        *extra,
    ]


def explain_table(files: Files, out: Path, rows: Path) -> list[str]:
    return [
        "explain",
        "tabular",
        "--model",
        str(files.table_model),
        "--labels",
        str(files.folder / "table-labels.txt"),
        "--background",
        str(files.folder / "background.csv"),
        "--out",
        str(out),
        "--max-evals",
        "40",
        "--no-report",
        str(rows),
    ]


def images(files: Files) -> str:
    return str(files.folder / "images")


# Mistakes in the command: exit status 2, the option as typed, nothing written.

REFUSED = [
    pytest.param(
        lambda f, out: explain_image(f, out, images(f), "--label", "zebra"),
        r"--label 'zebra': not in the labels file '.*image-labels\.txt'; accepted: "
        r"'cat', 'dog', 'bird', 'fish'",
        id="cli-unknown-label",
    ),
    pytest.param(
        lambda f, out: [
            *explain_image(f, out, images(f), "--label", "tag-99"),
            "--labels",
            str(f.folder / "many-labels.txt"),
        ],
        r"--label 'tag-99': not in .*accepted: 'tag-0', .* 'tag-9', \.\.\. \(30 labels in all\)",
        id="cli-unknown-label-among-many",
    ),
    pytest.param(
        lambda f, out: explain_image(f, out, images(f), "--top-k", "9"),
        r"--top-k 9 is more than the 4 labels of the labels file '.*'; accepted: 1 to 4",
        id="cli-top-k-above-the-labels",
    ),
    pytest.param(
        lambda f, out: explain_image(f, out, images(f), "--top-k", "0"),
        r"argument --top-k: '0' is not accepted; accepted: an integer of at least 1",
        id="cli-top-k-zero",
    ),
    pytest.param(
        lambda f, out: explain_image(f, out, images(f), "--threshold", "2"),
        r"--threshold 2 is outside \(0, 1\), the range of the probabilities .*accepted: a "
        r"number between 0 and 1",
        id="cli-threshold-outside-0-1",
    ),
    pytest.param(
        lambda f, out: explain_image(f, out, images(f), "--max-evals", "1"),
        r"argument --max-evals: '1' is not accepted; accepted: an integer of at least 2",
        id="cli-max-evals-below-2",
    ),
    pytest.param(
        lambda f, out: explain_image(f, out, images(f), "--n-segments", "0"),
        r"argument --n-segments: '0' is not accepted; accepted: an integer of at least 1",
        id="cli-n-segments-zero",
    ),
    pytest.param(
        lambda f, out: explain_image(f, out, images(f), "--scale", "0"),
        r"argument --scale: '0' is not accepted; accepted: a positive number such as 1/255",
        id="cli-scale-zero",
    ),
    pytest.param(
        lambda f, out: explain_image(f, out, str(f.folder / "empty")),
        r"no inputs: the folder '.*empty' holds no files \(hidden ones are skipped\); "
        r"accepted: a folder of image files \(\.png, \.jpg",
        id="cli-empty-folder",
    ),
    pytest.param(
        lambda f, out: explain_image(f, out, images(f), str(f.folder / "missing.png")),
        r"input '.*missing\.png' does not exist; accepted: image files, folders",
        id="cli-missing-input-path",
    ),
    pytest.param(
        lambda f, out: explain_image(f, out, str(f.folder / "blank.jsonl")),
        r"no inputs: '.*blank\.jsonl' lists no images",
        id="cli-empty-list-file",
    ),
    pytest.param(
        lambda f, out: explain_text(f, out, "--file", str(f.folder / "blank.jsonl")),
        r"no inputs: --file '.*blank\.jsonl' holds no texts",
        id="cli-empty-text-file",
    ),
    pytest.param(
        lambda f, out: explain_image(f, out, images(f), model=f.text_model),
        r"model '.*text\.keras' takes inputs of shape \(16,\) \(int32\) per row, not images: "
        r"the image masker gives it \(height, width, channels\) images",
        id="cli-text-model-for-images",
    ),
    pytest.param(
        lambda f, out: [
            *explain_image(f, out, images(f)),
            "--labels",
            str(f.folder / "one-label.txt"),
        ],
        r"labels file '.*one-label\.txt': 1 names were given but the model has 4 outputs "
        r"\('.*image\.keras'\)",
        id="cli-labels-file-count-not-matching-outputs",
    ),
    pytest.param(
        lambda f, out: explain_text(f, out, "--max-length", "2", "python"),
        r"max_length=2 leaves no room .*\(command line: --max-length\)",
        id="cli-max-length-without-room-for-text",
    ),
    pytest.param(
        lambda f, out: explain_image(f, out, images(f), "--algorithm", "kernel-rows"),
        r"argument --algorithm: invalid choice: 'kernel-rows'",
        id="cli-row-algorithm-for-images",
    ),
    pytest.param(
        lambda f, out: explain_text(f, out, "--algorithm", "gradient", "python"),
        r"argument --algorithm: invalid choice: 'gradient'",
        id="cli-gradient-for-texts",
    ),
    pytest.param(
        lambda f, out: [
            *explain_table(f, out, f.folder / "background.csv"),
            "--algorithm",
            "partition",
        ],
        r"algorithm='partition' needs a feature hierarchy, but this masker gives none "
        r"\(IndependentMasker; tabular: PartitionMasker has one, command line: --masker "
        r"partition\); accepted with this masker: \('auto', ",
        id="cli-partition-without-a-hierarchy",
    ),
]


@pytest.mark.parametrize(("command", "pattern"), REFUSED)
def test_a_bad_command_exits_2_before_writing(files, tmp_path, capsys, command, pattern):
    out = tmp_path / "out"

    status = run(command(files, out))

    assert status == 2
    assert re.search(pattern, capsys.readouterr().err.replace("\n", " ")), pattern
    assert not out.exists()


def run(argv: list[str]) -> int:
    """The exit status of ``labelshap ARGV``: argparse's own refusals exit at once."""
    try:
        return main(argv)
    except SystemExit as exit:
        return int(exit.code)


def test_cli_threshold_above_1_is_accepted_for_logits(files, tmp_path, capsys):
    command = explain_image(files, tmp_path, images(files), "--threshold", "2")

    assert main([*command, "--space", "logit"]) == 0


# Bad items of a batch job: recorded in the manifest, the job goes on.


def failures(out: Path) -> dict[str, str]:
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return {record["id"]: record["error"] for record in manifest["failures"]}


def test_cli_empty_text_in_a_batch_fails_alone(files, tmp_path, capsys):
    jsonl = tmp_path / "texts.jsonl"
    lines = [{"text": "python module"}, {"text": ""}, {"text": " \t"}, {"text": "perl"}]
    jsonl.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")

    status = main(explain_text(files, tmp_path / "out", "--file", str(jsonl)))

    assert status == 1
    recorded = failures(tmp_path / "out")
    assert sorted(recorded) == ["line-2", "line-3"]
    assert 'line 2: "text" is empty; accepted: a text with at least one' in recorded["line-2"]
    assert "2 explained, 0 already done, 2 failed" in capsys.readouterr().out


def test_cli_empty_text_argument_fails_alone(files, tmp_path, capsys):
    status = main(explain_text(files, tmp_path / "out", "python", ""))

    assert status == 1
    assert failures(tmp_path / "out") == {
        "text-1": "ValueError: TEXT argument 2 is empty; accepted: a text with at least one "
        "visible character"
    }


def test_cli_jsonl_line_not_json_shows_its_place(files, tmp_path, capsys):
    listing = tmp_path / "list.jsonl"
    good = json.dumps({"path": str(files.folder / "images" / "0.png")})
    broken = '{"path": "images/1.png", "id": "x" and a long tail of words after the fault}'
    listing.write_text(f"{good}\n{broken}\n", encoding="utf-8")

    status = main(explain_image(files, tmp_path / "out", str(listing)))

    assert status == 1
    error = failures(tmp_path / "out")["list.jsonl:line-2"]
    assert re.search(
        r"line 2 is not JSON: Expecting ',' delimiter at column 36, in "
        r"(\.\.\.)?'.*\"id\": \"x\" and a long.*'(\.\.\.)?; accepted: one JSON object per line",
        error,
    ), error


CSV_CELLS = [
    pytest.param("", "line 3, column 'q' is empty; accepted: a number", id="cli-csv-empty-cell"),
    pytest.param(
        "nan", "line 3, column 'q' holds 'nan', not a finite number", id="cli-csv-nan-cell"
    ),
]


@pytest.mark.parametrize(("cell", "message"), CSV_CELLS)
def test_a_bad_csv_cell_names_its_line(files, tmp_path, capsys, cell, message):
    rows = tmp_path / "rows.csv"
    rows.write_text(f"p,q,r\n1,2,3\n1,{cell},3\n", encoding="utf-8")

    status = main(explain_table(files, tmp_path / "out", rows))

    assert status == 1
    assert message in failures(tmp_path / "out")["line-3"]


def test_cli_logits_declared_as_probabilities_name_the_flag(files, tmp_path, capsys):
    status = main(explain_image(files, tmp_path / "out", images(files), model=files.logit_model))

    assert status == 1
    errors = failures(tmp_path / "out").values()
    assert len(errors) == 3 and all("(command line: --output logit)" in e for e in errors)


def test_cli_max_evals_too_small_for_an_image_names_the_flag(files, tmp_path, capsys):
    command = explain_image(files, tmp_path / "out", images(files), "--algorithm", "permutation")
    command[command.index("--max-evals") + 1] = "10"

    status = main(command)

    assert status == 1
    errors = failures(tmp_path / "out").values()
    assert len(errors) == 3
    assert all(
        re.search(r"accepted: at least 32 \(command line: --max-evals 32\)", e) for e in errors
    )


# Warnings: the command's own log lines, once, with the command's options.


def test_cli_softmax_warning_is_logged_once(files, tmp_path, capsys, caplog):
    status = main(explain_image(files, tmp_path / "out", images(files), model=files.softmax_model))

    assert status == 0
    logged = [r for r in caplog.records if "looks single-label" in r.getMessage()]
    assert len(logged) == 1 and logged[0].name.startswith("labelshap")
    assert "UserWarning" not in capsys.readouterr().err


def test_cli_long_texts_are_counted_and_name_the_flag(files, tmp_path, capsys, caplog):
    long_texts = ["python module " * 20, "perl game " * 20]

    status = main(explain_text(files, tmp_path / "out", "short text", *long_texts))

    assert status == 0
    messages = [r.getMessage() for r in caplog.records if "longer than the model" in r.getMessage()]
    assert messages[-1].startswith("2 texts were longer than the model's 16 tokens")
    assert all("--long-text window" in message for message in messages)
    assert not any("long_text=" in message for message in messages)
