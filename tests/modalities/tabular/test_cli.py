"""``labelshap explain tabular`` end to end on a model trained in the test; the demo, tiny."""

from __future__ import annotations

import json

import numpy as np
import pytest

from labelshap.cli import main
from labelshap.explanation import load_explanation
from labelshap.modalities.tabular import TabularExplanation, write_csv
from labelshap.modalities.tabular.demo import run_demo
from labelshap.modalities.tabular.model import RecommenderConfig
from labelshap.modalities.tabular.movielens import Ratings

USER = ["count", "span", "mean"]
CONTEXT = ["weekend", "mobile"]
LABELS = ["drama", "comedy"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A two-input model trained for a few epochs, saved with its schema and two CSVs."""
    import keras

    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 5))
    targets = np.column_stack([features[:, 0] > 0, features[:, 0] + features[:, 3] > 0.5])

    keras.utils.set_random_seed(0)
    user = keras.Input((3,), name="user")
    context = keras.Input((2,), name="context")
    hidden = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()([user, context]))
    outputs = keras.layers.Dense(2, activation="sigmoid")(hidden)
    model = keras.Model({"user": user, "context": context}, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.03), loss="binary_crossentropy")
    model.fit(
        {"user": features[:, :3], "context": features[:, 3:]},
        targets.astype(np.float32),
        epochs=5,
        batch_size=32,
        verbose=0,
    )

    folder = tmp_path_factory.mktemp("tabular-model")
    model.save(folder / "model.keras")
    (folder / "labels.txt").write_text("\n".join(LABELS) + "\n")
    (folder / "schema.json").write_text(json.dumps({"inputs": {"user": USER, "context": CONTEXT}}))
    # The CSVs list the context columns first: the schema, not the order, decides.
    order = [3, 4, 0, 1, 2]
    names = [(USER + CONTEXT)[j] for j in order]
    write_csv(folder / "background.csv", names, features[:250][:, order])
    write_csv(folder / "rows.csv", names, features[250:256][:, order])
    return folder


def explain_args(folder, out, *extra):
    return [
        "explain",
        "tabular",
        "--model",
        str(folder / "model.keras"),
        "--labels",
        str(folder / "labels.txt"),
        "--background",
        str(folder / "background.csv"),
        "--out",
        str(out),
        "--max-evals",
        "100",
        *extra,
    ]


def test_explain_tabular_writes_charts_audit_and_the_explanation(saved, tmp_path, capsys):
    args = explain_args(
        saved, tmp_path, "--summarize", "10", "--sensitive", "mobile", str(saved / "rows.csv")
    )

    assert main(args) == 0

    result = load_explanation(tmp_path)
    assert isinstance(result, TabularExplanation)
    assert result.names == USER + CONTEXT
    assert result.values.shape == (6, 5, 2)
    gap = result.scores - result.base_values
    np.testing.assert_allclose(result.values.sum(axis=1), gap, atol=1e-4)
    assert result.info["model_rows"] == result.info["evaluations"] * 10
    charts = sorted(
        path.relative_to(tmp_path / "charts").as_posix()
        for path in (tmp_path / "charts").rglob("*.png")
    )
    assert charts == [
        "comedy/bar.png",
        "comedy/beeswarm.png",
        "comedy/waterfall_row0.png",
        "drama/bar.png",
        "drama/beeswarm.png",
        "drama/waterfall_row0.png",
        "heatmap.png",
    ]
    audit = (tmp_path / "audit.csv").read_text().splitlines()
    assert any(line.startswith("sensitive,drama,") and ",mobile," in line for line in audit)
    # The first label only depends on "count": the audit says so.
    assert any(line.startswith("driver,drama,") and ",1,count," in line for line in audit)
    assert "share: mobile" in capsys.readouterr().out


def test_explain_tabular_names_a_column_the_rows_lack(saved, tmp_path, capsys):
    rows = tmp_path / "short.csv"
    write_csv(rows, ["weekend", "mobile", "count", "span"], np.zeros((2, 4)))

    assert main(explain_args(saved, tmp_path / "out", str(rows))) == 2

    assert "rows lacks columns ['mean']" in capsys.readouterr().err


def test_a_row_with_a_bad_cell_fails_alone_and_ids_come_from_a_column(saved, tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "user,weekend,mobile,count,span,mean\n"
        "u1,0.1,0.2,0.3,0.4,0.5\n"
        "u2,0.1,two,0.3,0.4,0.5\n"
        "u3,1,0,-1,0.5,2\n",
        encoding="utf-8",
    )
    args = explain_args(saved, tmp_path / "out", "--id-column", "user", str(rows))

    assert main(args) == 1
    captured = capsys.readouterr()
    assert "labelshap: 2 explained, 0 already done, 1 failed" in captured.out
    assert f"failed: u2: ValueError: {str(rows)!r} line 3, column 'mobile': 'two' is not a " in (
        captured.err
    )
    result = load_explanation(tmp_path / "out")
    assert result.info["ids"] == ["u1", "u3"]
    np.testing.assert_array_equal(result.data[1], [-1, 0.5, 2, 1, 0])  # the schema's order
    assert (tmp_path / "out" / "audit.csv").is_file()

    # The same command again explains nothing more.
    assert main(args) == 1
    assert "0 explained, 2 already done, 1 failed" in capsys.readouterr().out


def test_explain_tabular_refuses_an_unknown_id_column_and_other_suffixes(saved, tmp_path, capsys):
    rows = str(saved / "rows.csv")

    assert main(explain_args(saved, tmp_path / "a", "--id-column", "user", rows)) == 2
    assert "--id-column 'user' is not a column of" in capsys.readouterr().err
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text('{"count": 1}\n')
    assert main(explain_args(saved, tmp_path / "b", str(jsonl))) == 2
    assert "has suffix '.jsonl'; accepted: a .csv file" in capsys.readouterr().err


def test_explain_tabular_with_the_partition_masker(saved, tmp_path):
    args = explain_args(
        saved,
        tmp_path,
        "--masker",
        "partition",
        "--algorithm",
        "partition",
        "--label",
        "comedy",
        str(saved / "rows.csv"),
    )

    assert main(args) == 0
    assert load_explanation(tmp_path).label_names == ["comedy"]


def test_explain_tabular_with_kernel_rows(saved, tmp_path):
    args = explain_args(
        saved, tmp_path, "--summarize", "10", "--algorithm", "kernel-rows", str(saved / "rows.csv")
    )

    assert main(args) == 0

    result = load_explanation(tmp_path)
    assert result.info["algorithms_run"] == ["kernel-rows"]
    # 5 features: each background row's design stops at all 2 ** 5 coalitions.
    assert result.info["evaluations"] == 6 * 2**5
    assert result.info["model_rows"] == 6 * 2**5 * 10
    gap = result.scores - result.base_values
    np.testing.assert_allclose(result.values.sum(axis=1), gap, atol=1e-4)


def test_the_demo_writes_its_summary_and_files(tmp_path):
    rng = np.random.default_rng(0)
    genres = ["Action", "Comedy", "Drama", "Action|Drama"]
    n_users, per_user = 40, 12
    movies = rng.integers(0, len(genres), n_users * per_user)
    ratings = Ratings(
        movie_ids=movies.astype(np.int64),
        titles=np.array([f"movie {movie}" for movie in movies], dtype=object),
        years=1980.0 + movies,
        genres=np.array([genres[movie] for movie in movies], dtype=object),
        user_ids=np.repeat(np.arange(n_users), per_user).astype(np.int64),
        ratings=rng.integers(1, 11, len(movies)) / 2.0,
        timestamps=np.tile(np.arange(per_user) * 86_400, n_users).astype(np.int64),
    )
    config = RecommenderConfig(hidden_units=4, max_epochs=1, patience=1, min_label_users=1)

    summary = run_demo(
        tmp_path, ratings=ratings, config=config, max_evals=100, summarize=3, n_chart_labels=1
    )

    written = json.loads((tmp_path / "summary.json").read_text())
    assert written == json.loads(json.dumps(summary))
    explanations = summary["explanations"]
    assert explanations["count"] == 8
    assert set(explanations["top_driver_per_label"]) == {"Action", "Comedy", "Drama"}
    assert explanations["deletion_top_mean_change"] >= 0
    for name in ("model.keras", "labels.txt", "schema.json", "background.csv", "rows.csv"):
        assert (tmp_path / name).is_file()
    for name in ("audit.csv", "audit.md", "explanation.npz", "charts/heatmap.png"):
        assert (tmp_path / name).is_file()

    # The command over the demo's files gives the demo's values bit for bit.
    job = tmp_path / "job"
    status = main(
        ["explain", "tabular", "--model", str(tmp_path / "model.keras"),
         "--labels", str(tmp_path / "labels.txt"), "--background", str(tmp_path / "background.csv"),
         "--summarize", "3", "--max-evals", "100", "--algorithm", "permutation", "--no-report",
         str(tmp_path / "rows.csv"),
         "--out", str(job)]
    )  # fmt: skip
    demo, command = load_explanation(tmp_path / "explanation"), load_explanation(job)
    assert status == 0
    np.testing.assert_array_equal(command.values, demo.values)
    np.testing.assert_array_equal(command.base_values, demo.base_values)


def test_a_hierarchical_algorithm_without_a_hierarchy_exits_2_before_writing(
    saved, tmp_path, capsys
):
    # The default masker (independent) has no feature hierarchy: partition is refused with
    # the fix named, and nothing is written; with --masker partition the job runs.
    out = tmp_path / "out"
    rows = str(saved / "rows.csv")

    assert main(explain_args(saved, out, "--algorithm", "partition", rows)) == 2
    assert "--masker partition" in capsys.readouterr().err
    assert not out.exists()
    assert (
        main(explain_args(saved, out, "--algorithm", "partition", "--masker", "partition", rows))
        == 0
    )


def test_an_unknown_sensitive_feature_is_refused_before_explaining(saved, tmp_path, capsys):
    args = explain_args(saved, tmp_path, "--sensitive", "mobil", str(saved / "rows.csv"))

    assert main(args) == 2
    assert "--sensitive ['mobil'] are not features" in capsys.readouterr().err
    assert not (tmp_path / "manifest.json").exists()


def test_a_job_stopped_before_its_charts_writes_them_over_every_row_when_resumed(
    saved, tmp_path, monkeypatch
):
    args = explain_args(
        saved, tmp_path, "--chunk-size", "2", "--no-report", str(saved / "rows.csv")
    )

    def killed(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(TabularExplanation, "save_charts", killed)
    with pytest.raises(RuntimeError, match="killed"):
        main(args)
    monkeypatch.undo()
    stopped_with = json.loads((tmp_path / "manifest.json").read_text())
    assert not (tmp_path / "charts").exists()

    assert main(args) == 0

    assert sum(len(shard["ids"]) for shard in stopped_with["shards"]) == 6
    assert (tmp_path / "charts" / "heatmap.png").is_file()
    assert json.loads((tmp_path / "audit.json").read_text())["rows"] == 6
