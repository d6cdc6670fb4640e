"""Batch jobs on Ray against local jobs: the same store item by item, and a Ray job killed
by SIGKILL that resumes like a local one.

One local Ray instance with 2 CPUs serves the module. The reference is always a local job
(no Ray) over the same inputs; every Ray store must equal it: the same shards and ids,
the same failures, and the same values, base values, scores and chosen labels bit for bit.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from job_fixtures import LABELS, NAMES, kill_after_shards, save_tabular_job, tabular_command

from labelshap import Explainer, LabelModel, TopK
from labelshap.cli import main
from labelshap.distributed import RayExecutor, run_ray_job
from labelshap.jobs import Item, load_store, positions_from, run_job
from labelshap.modalities.tabular import IndependentMasker

COMPARED = ("values", "base_values", "scores", "selected", "data")


@pytest.fixture(scope="module")
def ray_address():
    """A local Ray instance (2 CPUs) for the module; its address, for other drivers."""
    ray = pytest.importorskip("ray", reason='the Ray tests need pip install -e ".[ray]"')
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    # The actors unpickle this module's factory by value: workers cannot import tests.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray.get_runtime_context().gcs_address
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    ray.shutdown()


def build_explainer(model_path: str, background: np.ndarray, builds: str) -> Explainer:
    """The job's explainer, as each actor builds it; notes the building process's id."""
    with open(builds, "a", encoding="utf-8") as log:
        log.write(f"{os.getpid()}\n")
    model = LabelModel(model_path, LABELS, batch_size=512)
    masker = IndependentMasker(background, feature_names=NAMES)
    return Explainer(model, masker, algorithm="permutation", max_evals=60, seed=7)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A saved MLP, its background, CSV files for the command line (the last row has a
    cell that is not a number), and 13 rows."""
    folder = tmp_path_factory.mktemp("ray-job")
    rng = np.random.default_rng(11)
    background = save_tabular_job(folder, N_ROWS, rng)
    with open(folder / "rows.csv", "a", encoding="utf-8") as rows:
        rows.write("1,2,3,not-a-number,5,6\n")
    return folder, background, rng.normal(size=(13, len(NAMES)))


def with_bad_items(rows: np.ndarray) -> list[Item]:
    """The rows as items, one with a NaN cell (fails in the worker), one unreadable."""
    items = list(positions_from((f"user-{i}", row) for i, row in enumerate(rows)))
    with_nan = rows[2].copy()
    with_nan[4] = np.nan
    items[2] = Item("user-2", 2, with_nan)
    items[7] = Item("user-7", 7, OSError("could not read user-7"))
    return items


def assert_same_store(reference: Path, other: Path) -> None:
    """``other`` holds what the local job's ``reference`` holds, item by item."""
    expected = json.loads((reference / "manifest.json").read_text())
    got = json.loads((other / "manifest.json").read_text())
    assert got["shards"] == expected["shards"]
    assert got["failures"] == expected["failures"]
    assert got["settings"] == expected["settings"]
    local, distributed = load_store(reference), load_store(other)
    assert distributed.info["ids"] == local.info["ids"]
    for row, item_id in enumerate(local.info["ids"]):
        for name in COMPARED:
            np.testing.assert_array_equal(
                getattr(distributed, name)[row], getattr(local, name)[row], err_msg=item_id
            )


def test_a_ray_job_gives_a_local_jobs_store_item_by_item(ray_address, saved, tmp_path):
    folder, background, rows = saved
    builds = tmp_path / "builds.txt"
    factory = functools.partial(
        build_explainer, str(folder / "model.keras"), background, str(builds)
    )
    items = with_bad_items(rows)
    options = {"labels": TopK(1), "chunk_size": 3, "progress": False}
    run_job(factory(), items, tmp_path / "local", **options)
    builds.unlink()

    summary = run_ray_job(factory, items, tmp_path / "ray", workers=2, **options)

    assert (summary.explained, summary.failed) == (11, 2)
    assert_same_store(tmp_path / "local", tmp_path / "ray")
    failures = {record["id"]: record["error"] for record in summary.failures}
    assert failures["user-2"].startswith("ValueError: rows holds nan at row 0, column 'days'")
    assert failures["user-7"] == "OSError: could not read user-7"
    # The driver built the explainer once, and each of the 2 actors once.
    pids = builds.read_text().split()
    assert pids.count(str(os.getpid())) == 1
    workers = [pid for pid in pids if pid != str(os.getpid())]
    assert len(workers) == len(set(workers)) == 2


def test_a_finished_ray_job_resumes_without_starting_ray(saved, tmp_path, monkeypatch):
    folder, background, rows = saved
    factory = functools.partial(
        build_explainer, str(folder / "model.keras"), background, str(tmp_path / "builds.txt")
    )
    items = list(positions_from((f"user-{i}", row) for i, row in enumerate(rows[:4])))
    run_job(factory(), items, tmp_path, progress=False)
    monkeypatch.setitem(sys.modules, "ray", None)  # any use of Ray would fail

    summary = run_job(factory(), items, tmp_path, executor=RayExecutor(factory), progress=False)

    assert (summary.explained, summary.skipped) == (0, 4)


# A Ray job's driver killed by SIGKILL midway, then started again with the same command.

N_ROWS = 60


@pytest.mark.slow
def test_a_ray_job_killed_by_sigkill_resumes_like_a_local_job(ray_address, saved, tmp_path, capsys):
    folder, _, _ = saved
    out = tmp_path / "killed"
    cli = [sys.executable, "-m", "labelshap.cli"]
    on_ray = ["--engine", "ray", "--workers", "2", "--ray-address", ray_address]
    done_at_kill = kill_after_shards(cli + tabular_command(folder, out, *on_ray), out, 1)
    done_ids = [item for shard in done_at_kill for item in shard["ids"]]
    assert 4 <= len(done_ids) < N_ROWS, "the job was not killed midway"

    # Started again with the same command (in this process, on the same Ray instance).
    status = main(tabular_command(folder, out, *on_ray))

    assert status == 1  # the row that is not a number failed alone
    assert f"{N_ROWS - len(done_ids)} explained, {len(done_ids)} already done, 1 failed" in (
        capsys.readouterr().out
    )
    manifest = json.loads((out / "manifest.json").read_text())
    ids = [item for shard in manifest["shards"] for item in shard["ids"]]
    assert len(ids) == len(set(ids)) == N_ROWS
    assert manifest["shards"][: len(done_at_kill)] == done_at_kill
    runs = manifest["timing"]["runs"]
    assert [run["explained"] for run in runs] == [len(done_ids), N_ROWS - len(done_ids)]
    assert [run["status"] for run in runs] == ["interrupted", "completed"]
    assert [record["id"] for record in manifest["failures"]] == [f"line-{N_ROWS + 2}"]

    # The same command, local and never interrupted: the same store, bit for bit.
    assert main(tabular_command(folder, tmp_path / "clean")) == 1
    assert_same_store(tmp_path / "clean", out)
    # And the local command finds the Ray job's store complete: the engine is no setting.
    capsys.readouterr()
    assert main(tabular_command(folder, out)) == 1
    assert f"0 explained, {N_ROWS} already done, 1 failed" in capsys.readouterr().out


# Options, and Ray as an optional extra: no Ray instance needed.


def engine_command(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "explain",
        "tabular",
        "--model",
        str(tmp_path / "missing.keras"),
        "--labels",
        str(tmp_path / "labels.txt"),
        "--background",
        str(tmp_path / "background.csv"),
        str(tmp_path / "rows.csv"),
        "--out",
        str(tmp_path / "out"),
        *extra,
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--workers", "0"], "--workers 0 must be a whole number of 1 or more"),
        (
            ["--cpus-per-worker", "0", "--gpus-per-worker", "1.5"],
            "--cpus-per-worker 0.0 must be a number more than 0: a fraction below 1 or a whole "
            "number (Ray's rule for resources); --gpus-per-worker 1.5 must be a number 0 or more",
        ),
    ],
)
def test_bad_pool_sizes_are_refused_with_every_problem_named(tmp_path, capsys, extra, message):
    status = main(engine_command(tmp_path, "--engine", "ray", *extra))

    assert status == 2
    assert message in capsys.readouterr().err


def test_ray_options_without_engine_ray_are_refused(tmp_path, capsys):
    status = main(engine_command(tmp_path, "--workers", "2", "--ray-address", "auto"))

    assert status == 2
    assert (
        "--workers, --ray-address apply only with --engine ray (got --engine local)"
        in capsys.readouterr().err
    )


def test_an_unknown_engine_is_refused_with_the_accepted_ones(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(engine_command(tmp_path, "--engine", "spark"))

    assert exit_.value.code == 2
    assert "invalid choice: 'spark' (choose from" in capsys.readouterr().err


def test_without_ray_the_engine_says_which_extra_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed

    status = main(engine_command(tmp_path, "--engine", "ray"))

    assert status == 2
    assert 'needs Ray Data, not installed here: pip install -e ".[ray]"' in capsys.readouterr().err
    with pytest.raises(ImportError, match=r'pip install "ray\[data\]>=2.9,<2.64"'):
        next(RayExecutor(dict)(iter([[Item("a", 0, 1.0)]])))


def test_a_ray_executor_names_every_bad_argument():
    with pytest.raises(ValueError) as error:
        RayExecutor(dict, workers=0, cpus_per_worker=2.5, gpus_per_worker=-1, max_in_flight=0)

    message = str(error.value)
    for expected in (
        "workers=0 must be a whole number of 1 or more",
        "cpus_per_worker=2.5 must be a number more than 0",
        "gpus_per_worker=-1 must be a number 0 or more",
        "max_in_flight=0 must be a whole number of 1 or more",
    ):
        assert expected in message
    with pytest.raises(TypeError, match="factory='model.keras' must be a callable"):
        RayExecutor("model.keras")


def test_labelshap_and_its_commands_do_not_import_ray():
    code = (
        "import sys, labelshap, labelshap.cli, labelshap.jobs, labelshap.distributed\n"
        "labelshap.cli._build_parser().parse_args(['report', '.'])\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'ray'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )

    assert result.stdout.strip() == "[]"
