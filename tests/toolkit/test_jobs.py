"""Batch jobs: the output store, resuming, per-item failures, and a job killed by SIGKILL.

The reference for every job's values is one plain ``Explainer.explain`` call over all the
inputs: a job must give the same numbers bit for bit, whatever its chunk size and
wherever it was interrupted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from job_fixtures import (
    LABELS,
    NAMES,
    kill_after_shards,
    make_mlp,
    save_tabular_job,
    tabular_command,
)

from labelshap import Explainer, LabelModel, TopK
from labelshap.jobs import Item, JobStore, load_store, positions_from, run_job
from labelshap.modalities.tabular import IndependentMasker


@pytest.fixture(scope="module")
def setup():
    """A sampling explainer (permutation: values depend on the seed) and 13 rows."""
    rng = np.random.default_rng(3)
    model = LabelModel(make_mlp(), LABELS, batch_size=512)
    masker = IndependentMasker(rng.normal(size=(8, len(NAMES))), feature_names=NAMES)
    explainer = Explainer(model, masker, algorithm="permutation", max_evals=60, seed=7)
    rows = rng.normal(size=(13, len(NAMES)))
    return explainer, rows


@pytest.fixture(scope="module")
def reference(setup):
    explainer, rows = setup
    return explainer.explain(rows)


def items_of(rows):
    return list(positions_from((f"user-{i}", row) for i, row in enumerate(rows)))


@pytest.mark.parametrize("chunk_size", [1, 4, 13, 50])
def test_a_job_gives_the_values_of_one_call_whatever_its_chunk_size(
    setup, reference, tmp_path, chunk_size
):
    explainer, rows = setup

    summary = run_job(explainer, items_of(rows), tmp_path, chunk_size=chunk_size, progress=False)

    assert (summary.explained, summary.failed, summary.skipped) == (13, 0, 0)
    stored = load_store(tmp_path)
    np.testing.assert_array_equal(stored.values, reference.values)
    np.testing.assert_array_equal(stored.base_values, reference.base_values)
    np.testing.assert_array_equal(stored.scores, reference.scores)
    assert stored.info["ids"] == [f"user-{i}" for i in range(13)]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [len(shard["ids"]) for shard in manifest["shards"]] == _sizes(13, chunk_size)


def _sizes(total, chunk):
    return [min(chunk, total - start) for start in range(0, total, chunk)]


def test_topk_marks_the_chosen_labels_but_every_label_is_explained(setup, reference, tmp_path):
    explainer, rows = setup

    run_job(explainer, items_of(rows), tmp_path, labels=TopK(1), chunk_size=5, progress=False)

    stored = load_store(tmp_path)
    np.testing.assert_array_equal(stored.values, reference.values)
    assert stored.selected.sum(axis=1).tolist() == [1] * 13
    assert (stored.selected.argmax(axis=1) == reference.scores.argmax(axis=1)).all()


class StopTheJobError(Exception):
    pass


def test_an_interrupted_job_resumes_without_redoing_or_losing_an_item(setup, reference, tmp_path):
    explainer, rows = setup
    calls = []

    def stop_after_two(result):
        calls.append(list(result.ids))
        if len(calls) == 2:
            raise StopTheJobError

    with pytest.raises(StopTheJobError):
        run_job(explainer, items_of(rows), tmp_path, chunk_size=3, on_chunk=stop_after_two)
    assert len(load_store(tmp_path)) == 6

    explained_again = []
    summary = run_job(
        explainer,
        items_of(rows),
        tmp_path,
        chunk_size=4,
        progress=False,
        on_chunk=lambda result: explained_again.extend(result.ids),
    )

    assert (summary.explained, summary.skipped) == (7, 6)
    assert explained_again == [f"user-{i}" for i in range(6, 13)]
    stored = load_store(tmp_path)
    assert stored.info["ids"] == [f"user-{i}" for i in range(13)]
    np.testing.assert_array_equal(stored.values, reference.values)
    runs = json.loads((tmp_path / "manifest.json").read_text())["timing"]["runs"]
    assert [(run["explained"], run["skipped"]) for run in runs] == [(6, 0), (7, 6)]
    assert [run["status"] for run in runs] == ["interrupted", "completed"]


def test_a_run_is_recorded_from_its_start_so_a_killed_run_shows_as_interrupted(
    setup, reference, tmp_path
):
    explainer, rows = setup
    manifest = tmp_path / "manifest.json"
    on_disk = []

    # What each chunk leaves on disk is what a SIGKILL right after it would leave.
    run_job(
        explainer,
        items_of(rows),
        tmp_path,
        chunk_size=5,
        progress=False,
        on_chunk=lambda result: on_disk.append(manifest.read_text()),
    )
    killed = json.loads(on_disk[1])
    manifest.write_text(on_disk[1])
    resumed = run_job(explainer, items_of(rows), tmp_path, chunk_size=5, progress=False)

    (running,) = killed["timing"]["runs"]
    assert running["status"] == "running"
    assert running["explained"] == sum(len(shard["ids"]) for shard in killed["shards"]) == 10
    runs = json.loads(manifest.read_text())["timing"]["runs"]
    assert [run["status"] for run in runs] == ["interrupted", "completed"]
    assert [(run["explained"], run["skipped"]) for run in runs] == [(10, 0), (3, 10)]
    assert (resumed.explained, resumed.skipped) == (3, 10)
    np.testing.assert_array_equal(load_store(tmp_path).values, reference.values)


def test_a_bad_item_is_recorded_and_the_job_goes_on(setup, reference, tmp_path):
    explainer, rows = setup
    items = items_of(rows)
    with_nan = rows[2].copy()
    with_nan[4] = np.nan
    items[2] = Item("user-2", 2, with_nan)
    items[5] = Item("user-5", 5, OSError("could not read user-5"))

    summary = run_job(explainer, items, tmp_path, chunk_size=4, progress=False)

    assert (summary.explained, summary.failed) == (11, 2)
    failures = {record["id"]: record["error"] for record in summary.failures}
    assert set(failures) == {"user-2", "user-5"}
    assert failures["user-2"].startswith("ValueError: rows holds nan at row 0, column 'days'")
    assert failures["user-5"] == "OSError: could not read user-5"
    stored = load_store(tmp_path)
    kept = [i for i in range(13) if i not in (2, 5)]
    assert stored.info["ids"] == [f"user-{i}" for i in kept]
    np.testing.assert_array_equal(stored.values, reference.values[kept])

    # Started again, failed items are skipped; with retry_failed, fixed ones are explained.
    again = run_job(explainer, items, tmp_path, chunk_size=4, progress=False)
    assert (again.explained, again.skipped, again.failed_before) == (0, 11, 2)
    assert len(again.failures) == 2
    retried = run_job(explainer, items_of(rows), tmp_path, retry_failed=True, progress=False)
    assert (retried.explained, retried.failures) == (2, [])
    stored = load_store(tmp_path)
    order = np.argsort([int(name.split("-")[1]) for name in stored.info["ids"]])
    np.testing.assert_array_equal(stored.values[order], reference.values)


def test_an_item_that_fails_inside_the_engine_fails_alone(setup, reference, tmp_path, monkeypatch):
    explainer, rows = setup
    original = explainer.masker.bind

    def bind(item, model):
        if np.array_equal(item, rows[3]):
            raise RuntimeError("the engine broke on this row")
        return original(item, model)

    monkeypatch.setattr(explainer.masker, "bind", bind)

    summary = run_job(explainer, items_of(rows), tmp_path, chunk_size=5, progress=False)

    assert [record["id"] for record in summary.failures] == ["user-3"]
    assert "RuntimeError: the engine broke on this row" in summary.failures[0]["error"]
    kept = [i for i in range(13) if i != 3]
    np.testing.assert_array_equal(load_store(tmp_path).values, reference.values[kept])


def test_a_repeated_id_is_a_failure_not_a_silent_overwrite(setup, tmp_path):
    explainer, rows = setup
    items = items_of(rows[:3]) + [Item("user-0", 3, rows[3])]

    summary = run_job(explainer, items, tmp_path, progress=False)

    assert summary.explained == 3
    assert summary.failures == [
        {
            "id": "user-0 (position 3)",
            "error": "ValueError: duplicate item id 'user-0' (first at position 0)",
        }
    ]
    assert load_store(tmp_path).info["ids"] == ["user-0", "user-1", "user-2"]
    again = run_job(explainer, items, tmp_path, progress=False)
    assert (again.explained, again.skipped, again.failed_before) == (0, 3, 1)


def test_a_store_refuses_a_job_with_other_settings(setup, tmp_path):
    explainer, rows = setup
    run_job(explainer, items_of(rows[:2]), tmp_path, progress=False)
    other = Explainer(explainer.model, explainer.masker, algorithm="permutation", max_evals=80)

    with pytest.raises(ValueError, match=r"holds a job with other settings \(max_evals: 60 -> 80"):
        run_job(other, items_of(rows[:2]), tmp_path, progress=False)


def test_leftovers_of_a_kill_between_writes_are_ignored(setup, reference, tmp_path):
    explainer, rows = setup
    run_job(explainer, items_of(rows[:4]), tmp_path, chunk_size=2, progress=False)
    shards = tmp_path / "shards"
    # A kill while a shard was being written, and one after its rename but before the
    # manifest named it: neither is part of the job.
    (shards / "shard-000002.partial.npz").write_bytes(b"half a file")
    (shards / "shard-000002.npz").write_bytes(b"not named by the manifest")
    (tmp_path / "manifest.json.partial").write_text("{")

    summary = run_job(explainer, items_of(rows), tmp_path, chunk_size=2, progress=False)

    assert (summary.explained, summary.skipped) == (9, 4)
    assert not list(shards.glob("*.partial.*"))
    np.testing.assert_array_equal(load_store(tmp_path).values, reference.values)


def test_a_manifest_of_another_kind_is_refused(setup, tmp_path):
    (tmp_path / "manifest.json").write_text('{"format": "something-else"}')

    with pytest.raises(ValueError, match="is not a labelshap job manifest"):
        JobStore(tmp_path, "tabular", {})


# A real job killed with SIGKILL midway, then started again with the same command.

N_ROWS = 120


@pytest.fixture(scope="module")
def saved_job(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kill")
    save_tabular_job(folder, N_ROWS, np.random.default_rng(11))
    return folder


def command(folder, out):
    return [sys.executable, "-m", "labelshap.cli", *tabular_command(folder, out)]


@pytest.mark.slow
def test_a_job_killed_by_sigkill_resumes_with_every_item_once(saved_job, tmp_path):
    out = tmp_path / "killed"
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done_at_kill = kill_after_shards(command(saved_job, out), out, 3)
    done_ids = [item for shard in done_at_kill for item in shard["ids"]]
    assert 3 * 4 <= len(done_ids) < N_ROWS, "the job was not killed midway"

    resumed = subprocess.run(
        command(saved_job, out), env=environment, capture_output=True, text=True, timeout=300
    )

    assert resumed.returncode == 0, resumed.stderr
    assert f"{N_ROWS - len(done_ids)} explained, {len(done_ids)} already done, 0 failed" in (
        resumed.stdout
    )
    manifest = json.loads((out / "manifest.json").read_text())
    ids = [item for shard in manifest["shards"] for item in shard["ids"]]
    assert sorted(ids) == sorted(f"line-{line}" for line in range(2, N_ROWS + 2))
    assert len(ids) == len(set(ids))
    assert manifest["shards"][: len(done_at_kill)] == done_at_kill
    runs = manifest["timing"]["runs"]
    assert [run["explained"] for run in runs] == [len(done_ids), N_ROWS - len(done_ids)]
    assert [run["status"] for run in runs] == ["interrupted", "completed"]

    # The same command into a fresh folder, never interrupted: the same values, bit for bit.
    clean = tmp_path / "clean"
    subprocess.run(command(saved_job, clean), env=environment, check=True, capture_output=True)
    stored, reference = load_store(out), load_store(clean)
    assert stored.info["ids"] == reference.info["ids"]
    np.testing.assert_array_equal(stored.values, reference.values)
    np.testing.assert_array_equal(stored.base_values, reference.base_values)


@pytest.mark.parametrize("batch_size", [16, 512])
def test_the_model_batch_size_does_not_change_a_jobs_values(reference, setup, tmp_path, batch_size):
    explainer, rows = setup
    model = LabelModel(make_mlp(), LABELS, batch_size=batch_size)  # the same weights
    other = Explainer(model, explainer.masker, algorithm="permutation", max_evals=60, seed=7)

    run_job(other, items_of(rows), tmp_path, chunk_size=5, progress=False)

    np.testing.assert_array_equal(load_store(tmp_path).values, reference.values)


def test_image_jobs_pack_differently_but_give_the_values_of_one_call(
    image_label_model, images_factory, tmp_path
):
    from labelshap.modalities.image import ImageMasker

    images = images_factory(7, size=16, seed=2)
    explainer = Explainer(
        image_label_model, ImageMasker("grid", cell=4), algorithm="owen-sampling", max_evals=120
    )
    reference = explainer.explain(images)
    items = list(positions_from((f"image-{i}", image) for i, image in enumerate(images)))

    for chunk_size in (1, 3, 7):
        folder = tmp_path / f"chunks-{chunk_size}"
        run_job(explainer, items, folder, chunk_size=chunk_size, progress=False)
        np.testing.assert_array_equal(load_store(folder).values, reference.values)


def test_text_jobs_give_the_values_of_one_call(text_tokenizers, text_label_models, tmp_path):
    from labelshap.modalities.text import TextMasker

    texts = [
        "A Perl module for parsing configuration files.",
        "Python bindings for the GTK toolkit.",
        "Qt widgets for plotting data.",
        "A fast strategy game with networked gameplay.",
        "Café naïve résumé for chat clients.",
    ]
    masker = TextMasker(text_tokenizers["wordpiece"])
    explainer = Explainer(
        text_label_models["wordpiece"], masker, algorithm="permutation", max_evals=80, seed=3
    )
    reference = explainer.explain(texts)
    items = list(positions_from((f"text-{i}", text) for i, text in enumerate(texts)))

    for chunk_size in (1, 2, 5):
        folder = tmp_path / f"chunks-{chunk_size}"
        run_job(explainer, items, folder, labels=TopK(2), chunk_size=chunk_size, progress=False)
        stored = load_store(folder)
        np.testing.assert_array_equal(stored.values, reference.values)
        assert [stored.text(row) for row in range(len(texts))] == texts


def test_load_store_stops_reading_shards_at_max_items(setup, reference, tmp_path, monkeypatch):
    import labelshap.jobs as jobs

    explainer, rows = setup
    run_job(explainer, items_of(rows), tmp_path, chunk_size=4, progress=False)
    read = []
    original = jobs.load_explanation
    monkeypatch.setattr(jobs, "load_explanation", lambda path: read.append(path) or original(path))

    first = load_store(tmp_path, max_items=6)

    assert len(read) == 2
    assert first.info["ids"] == [f"user-{i}" for i in range(6)]
    np.testing.assert_array_equal(first.values, reference.values[:6])


def test_log_lines_and_what_on_chunk_prints_go_above_the_progress_bar(
    setup, tmp_path, capsys, caplog, monkeypatch
):
    import logging

    explainer, rows = setup
    console = logging.StreamHandler()  # the console handler a command sets up (stderr)
    console.setFormatter(logging.Formatter("%(message)s"))
    monkeypatch.setattr(logging.root, "handlers", [console])
    caplog.set_level(logging.DEBUG)  # a job's chunks log at DEBUG

    def on_chunk(result):
        print(f"chunk of {result.ids[0]}", file=sys.stderr)

    run_job(explainer, items_of(rows[:3]), tmp_path, chunk_size=1, total=3, on_chunk=on_chunk)
    err = capsys.readouterr().err

    lines = [f"chunk of user-{i}" for i in range(3)] + ["explained 1 input with permutation"]
    for line in lines:
        assert line in err
        for start in [i for i in range(len(err)) if err.startswith(line, i)]:
            # The bar is cleared first ("\r", blanks, "\r"), so the line starts a row of
            # its own, instead of following the bar's "item/s]".
            assert start == 0 or err[start - 1] in "\r\n", repr(err[max(0, start - 40) : start])


def test_log_lines_count_one_input_in_the_singular(setup, tmp_path, caplog):
    from labelshap.report import write_report

    explainer, rows = setup

    with caplog.at_level("DEBUG", logger="labelshap"):
        run_job(explainer, items_of(rows[:1]), tmp_path, progress=False)
        write_report(tmp_path)

    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("explaining 1 input for 3 labels with ") for m in messages), messages
    assert any(m.startswith("explained 1 input with permutation") for m in messages), messages
    assert any(m.startswith("explained 1 item, 0 failed") for m in messages), messages
    assert any(m.startswith("wrote report over 1 modality to ") for m in messages), messages


def test_a_jobs_chunks_log_at_debug_and_the_job_at_info(setup, tmp_path, caplog):
    explainer, rows = setup

    with caplog.at_level("INFO", logger="labelshap"):
        run_job(explainer, items_of(rows[:3]), tmp_path, chunk_size=1, progress=False)

    messages = [record.getMessage() for record in caplog.records]
    assert not [m for m in messages if m.startswith(("explaining ", "explained 1 input"))]
    assert any(m.startswith("explained 3 items, 0 failed") for m in messages), messages
