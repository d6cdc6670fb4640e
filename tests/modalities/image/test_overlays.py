"""The overlay files of a job's store: stable unique names, and the missing ones filled in."""

from __future__ import annotations

import pytest

from labelshap import Explainer, TopK
from labelshap.jobs import positions_from, run_job
from labelshap.modalities.image import ImageMasker
from labelshap.modalities.image.overlays import OverlayNames, write_missing_overlays

IDS = ["/in/a/cat.png", "/in/b/cat.png", "/in/cat_1.jpg", "/in/dog.png", "/in/a/cat.png"]


def test_overlay_names_are_unique_and_the_same_for_the_same_id():
    names = OverlayNames()

    stems = names.add(IDS)

    assert stems == ["cat", "cat_1", "cat_1_1", "dog", "cat"]


def test_a_resumed_run_names_new_images_as_one_run_would(store, tmp_path):
    later = ["/in/c/cat.png", "/in/dog.jpg"]

    resumed = OverlayNames.of_store(store).add(later)

    assert resumed == OverlayNames().add(IDS[:4] + later)[4:] == ["cat_2", "dog_1"]
    assert OverlayNames.of_store(tmp_path / "no-job-yet").add(later) == ["cat", "dog"]


@pytest.fixture
def store(tmp_path, image_label_model, images_factory):
    """A job's store of 4 images, in shards of 3 and 1, and no overlay written yet."""
    images = images_factory(4, size=16, seed=2)
    explainer = Explainer(image_label_model, ImageMasker("grid", cell=4), max_evals=60)
    run_job(
        explainer,
        positions_from(zip(IDS[:4], images, strict=True)),
        tmp_path / "store",
        labels=TopK(2),
        chunk_size=3,
        progress=False,
    )
    return tmp_path / "store"


def test_only_the_missing_overlays_are_written(store):
    out = store / "overlays"
    first = write_missing_overlays(store, out)
    kept = {path.name: path.stat().st_mtime_ns for path in first}
    (out / "cat_1.png").unlink()
    (out / "dog.png").unlink()
    (out / "cat.png.partial").write_bytes(b"half a PNG")  # what a kill mid-write leaves

    second = write_missing_overlays(store, out)
    third = write_missing_overlays(store, out)

    assert sorted(path.name for path in first) == ["cat.png", "cat_1.png", "cat_1_1.png", "dog.png"]
    assert sorted(path.name for path in second) == ["cat_1.png", "dog.png"]
    assert third == []
    assert sorted(path.name for path in out.iterdir()) == sorted(kept)
    for name in ("cat.png", "cat_1_1.png"):
        assert (out / name).stat().st_mtime_ns == kept[name]
