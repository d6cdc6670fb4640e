"""Debian documents: apt lists parsed like the shared table, label choice and a leak-free split."""

from __future__ import annotations

import bz2
import gzip
import json
import logging
import lzma
import sys

import numpy as np
import pytest

from labelshap.modalities.text import data
from labelshap.modalities.text.data import (
    Document,
    choose_tags,
    load_apt_lists,
    load_debtags,
    split_by_description,
)

# Debian's format: stanzas split by blank lines, continuation lines start with a space,
# " ." is an empty line of the long description, two leading spaces keep a line verbatim.
PACKAGES_MAIN = """\
Package: python3-foo
Version: 1.0-1
Architecture: all
Description: Python library for foo
Description-md5: 0123456789abcdef0123456789abcdef
Tag: devel::lang:python, devel::library, implemented-in::python,
 made-of::python, role::shared-lib, special::auto-inst-parts
Section: python

Package: libbar-perl
Version: 2.1-3
Description: Perl module for bar
 Bar::Baz parses bar files; it is
 written in pure Perl.
 .
 Features:
   * fast
   * small
Tag: devel::lang:perl, implemented-in::perl, role::shared-lib
Section: contrib/perl

Package: untagged
Description: A package without debtags
Section: misc

Package: only-special
Description: Only bookkeeping tags
Tag: special::not-yet-tagged, made-of::data
Section: misc

Package: qgame
Description: A Qt game
Description-md5: fedcba9876543210fedcba9876543210
Tag: game::strategy, interface::x11, uitoolkit::qt, use::{gameplaying,playing}
Section: non-free/games
"""

PACKAGES_I386 = """\
Package: python3-foo
Version: 1.1-1
Description: Python library for foo (i386 copy, read second)
Tag: implemented-in::python
Section: python
"""

TRANSLATION = """\
Package: python3-foo
Description-md5: 0123456789abcdef0123456789abcdef
Description-en: Python library for foo
 Foo does things
 across two lines.
 .
 A second paragraph.

Package: unrelated
Description-md5: 11111111111111111111111111111111
Description-en: Not used
 Nothing matches this one.
"""


@pytest.fixture
def apt_lists(tmp_path):
    """A lists folder with a plain, an xz and a bz2 index and a gzip translation.

    ``python3-foo`` also appears in the i386 index, which sorts after amd64 and so loses.
    """
    prefix = "deb.debian.org_debian_dists_bookworm"
    (tmp_path / f"{prefix}_main_binary-amd64_Packages").write_text(PACKAGES_MAIN)
    with lzma.open(tmp_path / f"{prefix}_main_binary-i386_Packages.xz", "wt") as f:
        f.write(PACKAGES_I386)
    with bz2.open(tmp_path / f"{prefix}_contrib_binary-amd64_Packages.bz2", "wt") as f:
        f.write("Package: other\nDescription: Other\nTag: role::program\nSection: utils\n")
    with gzip.open(tmp_path / f"{prefix}_main_i18n_Translation-en.gz", "wt") as f:
        f.write(TRANSLATION)
    (tmp_path / f"{prefix}_InRelease").write_text("not an index\n")
    (tmp_path / "lock").write_text("")
    return tmp_path


def test_apt_lists_give_the_same_table_as_the_shared_data(apt_lists):
    documents = {d.package: d for d in load_apt_lists(apt_lists)}

    assert sorted(documents) == ["libbar-perl", "other", "python3-foo", "qgame"]
    foo = documents["python3-foo"]
    assert foo == Document(
        package="python3-foo",
        section="python",
        summary="Python library for foo",
        description="Foo does things\nacross two lines.\n\nA second paragraph.",
        tags=("devel::lang:python", "devel::library", "implemented-in::python", "role::shared-lib"),
        description_source="translation-en",
    )
    assert foo.text == "Python library for foo\n" + foo.description


def test_apt_lists_read_long_descriptions_from_the_packages_file(apt_lists):
    perl = next(d for d in load_apt_lists(apt_lists) if d.package == "libbar-perl")

    assert perl.description_source == "packages"
    assert perl.section == "perl"
    assert perl.description == (
        "Bar::Baz parses bar files; it is\nwritten in pure Perl.\n\nFeatures:\n  * fast\n  * small"
    )


def test_apt_lists_without_a_translation_keep_the_summary_only(apt_lists):
    documents = {d.package: d for d in load_apt_lists(apt_lists)}

    assert documents["qgame"].description == ""
    assert documents["qgame"].description_source == "none"
    assert documents["qgame"].text == "A Qt game"
    assert documents["qgame"].section == "games"
    assert documents["qgame"].tags == (
        "game::strategy",
        "interface::x11",
        "uitoolkit::qt",
        "use::gameplaying",
        "use::playing",
    )


def test_apt_lists_log_the_description_sources(apt_lists, caplog):
    with caplog.at_level(logging.INFO, logger=data.__name__):
        load_apt_lists(apt_lists)

    assert "'translation-en': 1" in caplog.text and "'packages': 1" in caplog.text


def test_apt_lists_skip_lz4_with_a_warning_when_nothing_can_read_it(apt_lists, caplog, monkeypatch):
    (apt_lists / "x_dists_sid_main_binary-amd64_Packages.lz4").write_bytes(b"\x04\x22\x4d\x18")
    monkeypatch.setitem(sys.modules, "lz4", None)
    monkeypatch.setitem(sys.modules, "lz4.frame", None)
    monkeypatch.setattr(data.shutil, "which", lambda name: None)

    with caplog.at_level(logging.WARNING, logger=data.__name__):
        documents = load_apt_lists(apt_lists)

    assert "skipping" in caplog.text and "pip install lz4" in caplog.text
    assert len(documents) == 4


def test_apt_lists_prefer_the_plain_file_over_its_compressed_copy(tmp_path):
    (tmp_path / "a_Packages").write_text("Package: plain\nDescription: P\nTag: role::program\n")
    with gzip.open(tmp_path / "a_Packages.gz", "wt") as handle:
        handle.write("Package: zipped\nDescription: Z\nTag: role::program\n")

    assert [d.package for d in load_apt_lists(tmp_path)] == ["plain"]


def test_apt_lists_without_an_index_raise(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"holds no \*_Packages index"):
        load_apt_lists(tmp_path)


def test_load_debtags_reads_jsonl(tmp_path):
    path = tmp_path / "tiny.jsonl.gz"
    records = [
        {"package": "b", "section": "libs", "summary": "B", "description": "", "tags": ["z", "a"]},
        {"package": "a", "section": "net", "summary": "A", "description": "Long.", "tags": ["x"]},
    ]
    with gzip.open(path, "wt") as handle:
        handle.write("".join(json.dumps(record) + "\n" for record in records))

    documents = load_debtags(path)

    assert [d.package for d in documents] == ["b", "a"]
    assert documents[0].tags == ("a", "z") and documents[0].description_source == "none"
    assert documents[1].text == "A\nLong."


def test_load_debtags_names_the_bad_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"package": "a"}\n')

    with pytest.raises(ValueError, match="line 1 is not a debtags record"):
        load_debtags(path)


def _document(package, description, tags=("role::program",), summary=None):
    return Document(package, "misc", summary or package, description, tuple(tags))


def test_split_keeps_documents_with_one_description_on_one_side():
    rng = np.random.default_rng(0)
    documents = [
        _document(f"pkg{i}", f"description {int(rng.integers(0, 40))}") for i in range(300)
    ]
    documents += [_document(f"nodesc{i}", "", summary=f"summary {i % 7}") for i in range(30)]

    train, test = split_by_description(documents, test_fraction=0.25, seed=3)

    assert train.dtype == np.int64 and test.dtype == np.int64
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(len(documents)))
    train_keys = {(documents[i].description, documents[i].summary) for i in train}
    for i in test:
        key = documents[i].description or documents[i].summary
        assert all(key not in pair for pair in train_keys)
    assert 0.15 < len(test) / len(documents) <= 0.25


def test_split_is_seeded():
    documents = [_document(f"p{i}", f"d{i // 2}") for i in range(100)]

    first = split_by_description(documents, seed=1)
    again = split_by_description(documents, seed=1)
    other = split_by_description(documents, seed=2)

    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[1], other[1])


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_split_rejects_a_fraction_outside_zero_one(fraction):
    with pytest.raises(ValueError, match="test_fraction must lie strictly between 0 and 1"):
        split_by_description([_document("a", "x"), _document("b", "y")], test_fraction=fraction)


def test_split_needs_two_descriptions():
    with pytest.raises(ValueError, match="at least 2 distinct descriptions"):
        split_by_description([_document("a", "same"), _document("b", "same")])


def _tagged(counts):
    """Documents carrying each tag the given number of times (tags on separate documents)."""
    documents = []
    for tag, count in counts.items():
        documents += [_document(f"{tag}{i}", "d", tags=(tag,)) for i in range(count)]
    return documents


def test_choose_tags_takes_the_most_frequent_tags_of_text_facets():
    documents = _tagged(
        {
            "role::program": 50,
            "x11::application": 45,
            "implemented-in::c": 40,
            "scope::utility": 30,
            "culture::german": 25,
            "works-with::text": 20,
            "network::server": 4,
        }
    )

    chosen = choose_tags(documents, n=3, include=(), min_count=5)

    assert chosen == ["role::program", "implemented-in::c", "scope::utility"]


def test_choose_tags_keeps_cue_tags_that_are_frequent_enough():
    documents = _tagged(
        {
            "role::program": 50,
            "implemented-in::c": 40,
            "scope::utility": 30,
            "implemented-in::python": 8,
            "uitoolkit::qt": 2,
        }
    )

    chosen = choose_tags(documents, n=3, min_count=5)

    assert chosen == ["role::program", "implemented-in::c", "implemented-in::python"]


def test_choose_tags_drops_a_tag_that_duplicates_a_more_frequent_one():
    documents = [
        _document(f"p{i}", "d", tags=("interface::x11", "interface::graphical")) for i in range(20)
    ]
    documents += [_document(f"q{i}", "d", tags=("interface::x11",)) for i in range(2)]
    documents += [_document(f"r{i}", "d", tags=("use::gameplaying",)) for i in range(10)]

    assert choose_tags(documents, n=5, min_count=5) == ["interface::x11", "use::gameplaying"]
    assert choose_tags(documents, n=5, min_count=5, max_overlap=1.01) == [
        "interface::x11",
        "interface::graphical",
        "use::gameplaying",
    ]


def test_choose_tags_rejects_bad_arguments():
    documents = _tagged({"role::program": 3})
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        choose_tags(documents, n=0)
    with pytest.raises(ValueError, match="no tag of facets"):
        choose_tags(documents, min_count=10)


def test_shared_data_yields_the_documented_labels():
    try:
        documents = load_debtags()
    except FileNotFoundError:
        pytest.skip("shared/data/debtags.jsonl.gz is not beside this checkout")

    chosen = choose_tags(documents)

    assert len(documents) == 30303
    assert len(chosen) == 20
    assert set(data.CUE_TAGS) <= set(chosen)
    assert {"interface::graphical", "devel::lang:perl"}.isdisjoint(chosen)
