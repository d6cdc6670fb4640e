"""The HTML report: job stores, demo folders and single results; self-contained; renders.

The rendering test opens the page in Debian's Chromium (``/usr/bin/chromium``) through
Playwright and fails on any console error, page error or network request.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from labelshap import Explainer, LabelModel, TopK
from labelshap.explanation import concatenate
from labelshap.report import add_report_arguments, run_report, write_report

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Table cells that reach past the panel holding them, or past a box that hides its overflow.
CLIPPED_CELLS = """() => Array.from(document.querySelectorAll(".panel td, .panel th")).filter(
  cell => {
    let right = cell.closest(".panel").getBoundingClientRect().right;
    for (let node = cell.parentElement; node; node = node.parentElement) {
      if (getComputedStyle(node).overflowX !== "visible") {
        right = Math.min(right, node.getBoundingClientRect().right);
      }
    }
    return cell.getBoundingClientRect().right > right + 1;
  }).map(cell => cell.textContent)"""
TEXT_BLOCK = '<section style="margin: 0 0 1.6em 0">'
PNG_IMAGE = re.compile(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"')
FAILURE = "could not decode <image> & 'friends'"
HOST = platform.node()
# A job's runs: one stopped by an exception, one killed (SIGKILL) with its process gone,
# one that finished.
RUNS = [
    {
        "started": "2026-01-01T10:00:00+00:00",
        "seconds": 1.0,
        "host": HOST,
        "pid": 1,
        "explained": 2,
        "skipped": 0,
        "failed": 0,
        "failed_before": 0,
        "status": "interrupted",
    },
    {
        "started": "2026-01-01T11:00:00+00:00",
        "seconds": 0.5,
        "host": HOST,
        "pid": None,
        "explained": 1,
        "skipped": 2,
        "failed": 1,
        "failed_before": 0,
        "status": "running",
    },
    {
        "started": "2026-01-01T12:00:00+00:00",
        "seconds": 1.0,
        "host": HOST,
        "pid": 1,
        "explained": 2,
        "skipped": 3,
        "failed": 0,
        "failed_before": 1,
        "status": "completed",
    },
]
TABULAR_NAMES = ["count", "age", "visits", "score", "days", "rank"]


def make_mlp(n_columns: int = 6, n_labels: int = 3, seed: int = 0):
    """A one-input MLP with sigmoid outputs; its weights depend only on ``seed``."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((n_columns,), name="features")
    hidden = keras.layers.Dense(8, activation="tanh")(inputs)
    return keras.Model(inputs, keras.layers.Dense(n_labels, activation="sigmoid")(hidden))


@pytest.fixture(scope="module")
def results(image_label_model, images_factory, text_tokenizers, text_label_models):
    """Small explanations of every modality: ``{"image": ..., "text": ..., "tabular": ...}``."""
    from labelshap.modalities.image import ImageMasker
    from labelshap.modalities.tabular import IndependentMasker
    from labelshap.modalities.text import TextMasker

    images = images_factory(5, size=16, seed=5)
    image = Explainer(image_label_model, ImageMasker("grid", cell=4), max_evals=100).explain(
        images, labels=TopK(1)
    )
    texts = [
        "A Perl module for parsing configuration files.",
        "Python bindings for the GTK toolkit.",
        "Qt widgets <b>for</b> plotting & data.",
    ]
    text_masker = TextMasker(text_tokenizers["wordpiece"])
    text = Explainer(text_label_models["wordpiece"], text_masker, max_evals=100, seed=1).explain(
        texts, labels=TopK(2)
    )
    rng = np.random.default_rng(0)
    masker = IndependentMasker(rng.normal(size=(10, 6)), feature_names=TABULAR_NAMES)
    model = LabelModel(make_mlp(), ["drama", "comedy", "horror"], batch_size=512)
    tabular = Explainer(model, masker, algorithm="exact", max_evals=64).explain(
        rng.normal(size=(8, 6))
    )
    return {"image": image, "text": text, "tabular": tabular}


@pytest.fixture(scope="module")
def job_store(results, tmp_path_factory):
    """A batch job's store written by hand: 5 images in shards of 3 and 2, one failure."""
    folder = tmp_path_factory.mktemp("job")
    runs = [dict(run) for run in RUNS]
    runs[1]["pid"] = dead_pid()
    image = results["image"]
    ids = [f"photo-{i}.png" for i in range(len(image))]
    shards = []
    for number, (start, stop) in enumerate([(0, 3), (3, 5)]):
        name = f"shard-{number:06d}"
        image[start:stop].save(folder / "shards" / name)
        shards.append({"name": name, "ids": ids[start:stop]})
    manifest = {
        "format": "labelshap-job",
        "version": 1,
        "modality": "image",
        "settings": {
            "model": "model.keras",
            "algorithm": "auto",
            "max_evals": 100,
            "seed": 0,
            "labels": ["a", "b", "c", "d"],
            "space": None,
            "resize": False,
            "masker": {"segmentation": "grid", "cell": 4},
            "images": [f"/data/a/rather/long/folder/of/images/photo-{i}.png" for i in range(5)],
        },
        "shards": shards,
        "failures": [{"id": "broken.png", "error": FAILURE}],
        "timing": {"seconds": 2.5, "items": 5, "runs": runs},
        "quality": {
            "mean_average_precision": 0.75,
            "average_precision": {"a": 0.5, "b": 1.0},
            "activity_baseline_average_precision": {"a": 0.123456, "b": 0.987654},
            "per_label_average_precision_on_the_held_out_split": {"a": 0.5, "b": 1.0},
        },
    }
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def demo_folder(results, tmp_path_factory):
    """A folder laid out as ``labelshap demo`` writes it, one subfolder per modality."""
    folder = tmp_path_factory.mktemp("demo")
    summaries = {
        "image": {
            "model": {"mean_average_precision": 0.9, "average_precision": {"a": 0.8, "b": 1.0}},
            "explanations": {"count": 5, "pointing_game": 0.95, "seconds": 1.0},
        },
        "text": {
            "model": {"micro_auc": 0.93, "per_label_auc": {"a": 0.9, "b": 0.96}},
            "explanations": {"count": 3, "cue_hit_rate": 0.9, "seconds": 0.5},
        },
        "tabular": {
            "model": {"macro_auc": 0.7},
            "explanations": {"count": 8, "deletion_ratio": 5.4, "flagged_features": ["count"]},
        },
    }
    for name, result in results.items():
        result.save(folder / name / "explanation")
        summary = json.dumps(summaries[name])
        (folder / name / "summary.json").write_text(summary, encoding="utf-8")
    return folder


def dead_pid() -> int:
    """The id of a process of this host that has ended."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    return ended.pid


def panel(page: str, title: str) -> str:
    """The HTML of one panel of the first section, from its heading to the next panel."""
    return page.split(f"<h3>{title}</h3>", 1)[1].split('<div class="panel', 1)[0]


def cells(row_html: str) -> list[str]:
    return re.findall(r"<td[^>]*>(.*?)</td>", row_html)


def external_references(page: str) -> list[str]:
    """Every src or href that is not an embedded data: URI or an anchor on the page."""
    targets = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]*)""", page, flags=re.I)
    return [target for target in targets if not target.startswith(("data:", "#"))]


def assert_self_contained(page: str) -> None:
    assert "http://" not in page and "https://" not in page
    assert external_references(page) == []
    assert "@import" not in page and "url(" not in page


def test_a_job_store_report_counts_every_item_and_lists_the_failure(job_store):
    page = write_report(job_store).read_text(encoding="utf-8")

    assert_self_contained(page)
    assert '<section id="image">' in page
    assert len(PNG_IMAGE.findall(page)) == 5
    assert "photo-4.png: " in page
    assert "broken.png" in page
    assert "could not decode &lt;image&gt; &amp; &#x27;friends&#x27;" in page
    assert FAILURE not in page
    assert "mean_average_precision" in page and "max_evals" in page
    assert "items / s" in page


def test_max_items_stops_loading_shards_once_enough_are_drawn(job_store, monkeypatch, tmp_path):
    import labelshap.report as report

    loaded = []
    original = report.load_explanation
    monkeypatch.setattr(
        report, "load_explanation", lambda path: loaded.append(path) or original(path)
    )

    page = write_report(job_store, out=tmp_path / "two.html", max_items=2).read_text()

    assert [Path(path).name for path in loaded] == ["shard-000000"]
    assert len(PNG_IMAGE.findall(page)) == 2
    assert '<div class="value">5</div><div class="name">items explained</div>' in page


def test_a_demo_folder_report_has_a_section_per_modality(demo_folder, tmp_path):
    page = write_report(demo_folder, out=tmp_path / "demo.html").read_text(encoding="utf-8")

    assert_self_contained(page)
    for modality in ("image", "text", "tabular"):
        assert f'<section id="{modality}">' in page
    assert "pointing_game" in page and "cue_hit_rate" in page and "deletion_ratio" in page
    assert "no failures" in page
    assert "background-color: rgb(" in page
    assert ">&lt;</span>" in page and "<b>for</b>" not in page
    assert "<h3>Audit</h3>" in page
    assert "<!DOCTYPE html>" not in page.split("<body>", 1)[1]


def test_a_single_result_folder_is_reported(demo_folder, tmp_path):
    path = write_report(demo_folder / "tabular", out=tmp_path / "tabular.html")
    page = path.read_text(encoding="utf-8")

    assert_self_contained(page)
    assert page.count("<section id=") == 1
    assert "macro_auc" in page and "drama" in page


def test_one_input_is_counted_in_the_singular(results, tmp_path):
    one = results["text"][:1]
    one.save(tmp_path / "explanation")

    page = write_report(tmp_path).read_text(encoding="utf-8")

    assert "The one text." in page and "All 1 texts" not in page
    assert "1 input, 3 labels; showing 1" in results["tabular"][:1]._repr_html_()


def test_a_flat_summary_splits_into_quality_figures_and_timing(results, tmp_path):
    results["image"].save(tmp_path / "explanation")
    summary = {"mean_average_precision": 0.99, "pointing_game": 0.98, "count": 5, "seconds": 2.0}
    (tmp_path / "summary.json").write_text(json.dumps(summary), encoding="utf-8")

    page = write_report(tmp_path, max_items=1).read_text(encoding="utf-8")
    quality = page.split("<h3>Model quality</h3>", 1)[1].split("</div>", 1)[0]
    figures = page.split("<h3>Explanation figures</h3>", 1)[1].split("</div>", 1)[0]

    assert "mean_average_precision" in quality and "pointing_game" not in quality
    assert "pointing_game" in figures
    assert '<td>items per second</td><td class="num">2.5</td>' in page
    assert len(PNG_IMAGE.findall(page)) == 1


def test_the_command_writes_the_report_where_asked(demo_folder, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_report_arguments(parser)
    args = parser.parse_args([str(demo_folder / "text"), "--out", str(tmp_path / "r.html")])

    assert run_report(args) == 0
    assert (tmp_path / "r.html").is_file()
    assert capsys.readouterr().out.strip() == str(tmp_path / "r.html")


def test_a_folder_without_results_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        write_report(tmp_path)


def test_a_manifest_of_another_format_is_refused(tmp_path):
    (tmp_path / "manifest.json").write_text('{"format": "other", "version": 1}')

    with pytest.raises(ValueError, match="expected 'labelshap-job' version 1"):
        write_report(tmp_path)


def test_notebook_display_embeds_each_modalitys_picture(results):
    image_html = results["image"]._repr_html_()
    text_html = results["text"]._repr_html_()
    tabular_html = results["tabular"]._repr_html_()

    assert len(PNG_IMAGE.findall(image_html)) == 3
    assert 'title="' in text_html and "background-color: rgb(" in text_html
    assert "Perl" in text_html
    assert len(PNG_IMAGE.findall(tabular_html)) >= 2 and "driver 1" in tabular_html
    for fragment in (image_html, text_html, tabular_html):
        assert fragment.startswith('<div class="labelshap"><style>')
        assert_self_contained(fragment)


def test_the_generic_display_lists_top_features_per_label(results):
    from labelshap import Explanation

    tabular = results["tabular"]
    generic = Explanation(**{name: getattr(tabular, name) for name in _FIELDS})

    fragment = generic._repr_html_()

    assert "<th>feature 1</th>" in fragment and "drama" in fragment


_FIELDS = (
    "values",
    "base_values",
    "scores",
    "label_names",
    "feature_names",
    "selected",
    "data",
    "feature_data",
    "extras",
    "info",
)


def test_image_pictures_draw_each_images_selected_labels_with_their_scores(results, job_store):
    image = results["image"]

    page = write_report(job_store).read_text(encoding="utf-8")

    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    expected = []
    for row in range(len(image)):
        chosen = sorted(np.flatnonzero(image.selected[row]), key=lambda c: -image.scores[row, c])
        drawn = ", ".join(
            f"{image.label_names[c]} (score {image.scores[row, c]:.3f})" for c in chosen
        )
        expected.append(f"photo-{row}.png: {drawn}")
    assert captions == expected
    assert "red regions push that label&#x27;s score up, blue regions push it down" in page
    assert "All 5 images." in page


def test_an_image_with_more_labels_selected_than_drawn_shows_its_best_scored(
    image_label_model, images_factory, tmp_path, monkeypatch
):
    import labelshap.modalities.image.explanation as image_module
    from labelshap.modalities.image import ImageMasker

    monkeypatch.setattr(image_module, "_REPORT_MAX_LABELS", 2)
    explainer = Explainer(image_label_model, ImageMasker("grid", cell=4), max_evals=60)
    image = explainer.explain(images_factory(2, size=16, seed=6))  # all 4 labels selected
    image.save(tmp_path / "explanation")

    page = write_report(tmp_path).read_text(encoding="utf-8")

    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    for row, caption in enumerate(captions):
        best = np.argsort(-image.scores[row], kind="stable")[:2]
        names = [f"{image.label_names[c]} (score {image.scores[row, c]:.3f})" for c in best]
        assert caption == f"image {row}: {', '.join(names)}"
    assert "Where more than 2 labels were selected (2 of these images)" in page


def test_text_pictures_show_the_first_texts_with_their_selected_labels(results, tmp_path):
    text = results["text"]
    many = concatenate([text] * 5)  # 15 texts, 2 labels selected for each
    many.save(tmp_path / "explanation")

    page = write_report(tmp_path).read_text(encoding="utf-8")
    two = write_report(tmp_path, out=tmp_path / "two.html", max_items=2).read_text()

    assert page.count(TEXT_BLOCK) == 12
    assert "The first 12 of 15 texts" in page
    drawn = re.findall(r'font-weight: bold">(.*?)</span>', page)
    expected = []
    for row in range(12):
        chosen = np.flatnonzero(many.selected[row])
        expected += [many.label_names[c] for c in chosen[np.argsort(-many.scores[row, chosen])]]
    assert drawn == expected
    assert two.count(TEXT_BLOCK) == 2 and "The first 2 of 15 texts" in two


def test_settings_read_as_words_and_small_tables_not_json(job_store):
    page = write_report(job_store).read_text(encoding="utf-8")

    settings = panel(page, "Settings")

    assert "<td>labels</td><td>a, b, c, d</td>" in settings
    assert "<td>space</td><td>probability</td>" in settings  # resolved: the shards' space
    assert "<td>resize</td><td>no</td>" in settings
    assert "<td>segmentation</td><td>grid</td>" in settings  # the masker's own table
    assert "/photo-0.png, " in settings and "\u2026 (5 in all)</td>" in settings  # cut short
    for raw in ("null", "[&quot;", "{&quot;", '["', '{"', "None", "False"):
        assert raw not in settings


def job_store_with(job_store, folder, settings=None, timing=None):
    """A copy of the job store whose manifest has these settings and timing."""
    shutil.copytree(job_store, folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["settings"] = settings if settings is not None else manifest["settings"]
    manifest["timing"].update(timing or {})
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def settings_rows(folder) -> dict[str, str]:
    page = write_report(folder).read_text(encoding="utf-8")
    return dict(
        re.findall(r"<tr><td>([^<]*)</td><td[^>]*>(.*?)</td></tr>", panel(page, "Settings"))
    )


@pytest.mark.parametrize(
    ("segmentation", "shown", "hidden"),
    [("slic", "n_segments", "cell"), ("grid", "cell", "n_segments")],
)
def test_job_settings_show_what_the_job_used_and_nothing_unset(
    job_store, tmp_path, segmentation, shown, hidden
):
    # What `labelshap explain image --top-k 1` records (the space left to the model).
    settings = {
        "model": "/m/model.keras",
        "space": None,
        "output": "probability",
        "selection": "TopK(k=1)",
        "top_k": 1,
        "label": None,
        "threshold": None,
        "segmentation": segmentation,
        "n_segments": 30,
        "cell": 8,
        "scale": 1 / 255,
    }

    rows = settings_rows(job_store_with(job_store, tmp_path / "job", settings))

    assert rows["space"] == "probability"
    assert rows["selection"] == "TopK(k=1)"
    assert rows["scale"] == "1/255"
    assert shown in rows and hidden not in rows
    for key in ("top_k", "label", "threshold"):
        assert key not in rows
    assert "\u2014" not in rows.values()


def test_a_scale_other_than_1_over_255_is_shown_as_a_number(job_store, tmp_path):
    rows = settings_rows(job_store_with(job_store, tmp_path / "job", {"scale": 1 / 65535}))

    assert rows["scale"] == "1.53e-05"


def test_a_jobs_seconds_are_the_sum_of_its_runs_and_the_explaining_part_is_labelled(
    job_store, tmp_path
):
    folder = job_store_with(job_store, tmp_path / "job", timing={"seconds": 1.2})

    page = write_report(folder).read_text(encoding="utf-8")
    timing = dict(
        re.findall(r"<tr><td>([^<]*)</td><td[^>]*>(.*?)</td></tr>", panel(page, "Timing"))
    )

    assert sum(run["seconds"] for run in RUNS) == 2.5
    assert timing["seconds, all runs"] == "2.5"
    assert timing["seconds explaining"] == "1.2"
    assert timing["items per second"] == "2"  # 5 items in 2.5 s
    assert '<div class="value">2.5</div><div class="name">seconds</div>' in page


def test_a_killed_run_shows_as_interrupted_in_the_runs_table(job_store):
    page = write_report(job_store).read_text(encoding="utf-8")

    runs = panel(page, "Runs")
    rows = re.findall(r"<tr>(<td.*?)</tr>", runs)

    header = re.findall(r"<th>(.*?)</th>", runs)
    assert [name.replace("<wbr>", "") for name in header[:4]] == [
        "run",
        "status",
        "started",
        "seconds",
    ]
    assert [cells(row)[1] for row in rows] == ["interrupted", "interrupted", "completed"]
    assert [cells(row)[4] for row in rows] == ["2", "1", "2"]  # explained
    assert "pid" not in header


def test_the_tabular_audit_covers_every_row_of_the_store_as_audit_md_does(tmp_path):
    from labelshap.jobs import load_store, positions_from, run_job
    from labelshap.modalities.tabular import IndependentMasker

    rng = np.random.default_rng(4)
    masker = IndependentMasker(rng.normal(size=(10, 6)), feature_names=TABULAR_NAMES)
    model = LabelModel(make_mlp(seed=2), ["drama", "comedy", "horror"], batch_size=512)
    explainer = Explainer(model, masker, algorithm="exact", max_evals=64)
    rows = rng.normal(size=(30, 6)) * np.linspace(0.2, 3.0, 30)[:, None]
    run_job(explainer, positions_from(enumerate(rows)), tmp_path, chunk_size=10, progress=False)
    load_store(tmp_path).save_audit(tmp_path, top=2)  # what `explain tabular` writes

    page = write_report(tmp_path).read_text(encoding="utf-8")

    audit = page.split("<h3>Audit</h3>", 1)[1].split("</table>", 1)[0]
    reported = [cells(row) for row in re.findall(r"<tr>(<td.*?)</tr>", audit)]
    markdown = (tmp_path / "audit.md").read_text(encoding="utf-8").splitlines()[2:5]
    written = [[cell.strip() for cell in line.strip("|").split("|")] for line in markdown]
    assert [row[0] for row in reported] == [row[0] for row in written]
    for report_row, markdown_row in zip(reported, written, strict=True):
        assert len(report_row) == 2 + 2  # label, total and the 2 drivers of audit.md
        assert [cell.split(" (")[0] for cell in report_row[2:]] == [
            cell.split(" (")[0] for cell in markdown_row[2:]
        ]
    assert "Charts and audit over all 30 rows, the rows and options of audit.md" in page


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Chromium is not installed at {CHROMIUM}")
@pytest.mark.parametrize("layout", ["job_store", "demo_folder"])
def test_the_report_renders_in_chromium_without_errors(layout, request, tmp_path):
    from playwright.sync_api import sync_playwright

    path = write_report(request.getfixturevalue(layout), out=tmp_path / "report.html")
    problems, requests = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on(
                "request", lambda r: r.url.startswith(("data:", "file:")) or requests.append(r.url)
            )
            page.goto(path.as_uri(), wait_until="load")
            images = page.eval_on_selector_all(
                "img", "nodes => nodes.map(n => n.complete && n.naturalWidth > 0)"
            )
            clipped = page.evaluate(CLIPPED_CELLS)
            headings = page.locator("h2").all_inner_texts()
            screenshot = tmp_path / f"report-{layout}.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()

    assert problems == []
    assert requests == []
    assert images and all(images)
    assert clipped == []
    assert headings == (["Image"] if layout == "job_store" else ["Image", "Text", "Tabular"])
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("LABELSHAP_SCREENSHOT_DIR"):
        target = Path(os.environ["LABELSHAP_SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, target / screenshot.name)
