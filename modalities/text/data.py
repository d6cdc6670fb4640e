"""Debian package descriptions and their debtags: loading, label choice and a leak-free split."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import logging
import lzma
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from labelshap.paths import shared_data_file

__all__ = [
    "CUE_TAGS",
    "DESCRIPTION_SOURCES",
    "TEXT_FACETS",
    "Document",
    "choose_tags",
    "load_apt_lists",
    "load_debtags",
    "split_by_description",
]

logger = logging.getLogger(__name__)

#: Facets whose tags a package's description can reveal: its language, toolkit, interface,
#: purpose, data, role, development use, network side and scope. Facets such as
#: ``x11::``, ``suite::`` or ``culture::`` say little the text does not repeat elsewhere, and
#: ``special::``/``made-of::`` are bookkeeping.
TEXT_FACETS = (
    "implemented-in",
    "uitoolkit",
    "interface",
    "use",
    "works-with",
    "role",
    "devel",
    "network",
    "scope",
)

#: Tags with a plain cue word (python, perl, qt, gtk, game) that the explanation checks rely
#: on; :func:`choose_tags` keeps them whenever they are frequent enough.
CUE_TAGS = (
    "implemented-in::python",
    "implemented-in::perl",
    "uitoolkit::qt",
    "uitoolkit::gtk",
    "use::gameplaying",
)

#: Where a document's long description came from: the ``Translation-en`` file matched by
#: ``Description-md5``, the ``Packages`` file itself, or nowhere (summary only).
DESCRIPTION_SOURCES = ("translation-en", "packages", "none")

_DROPPED_FACETS = ("special::", "made-of::")
_COMPRESSIONS = ("", ".lz4", ".gz", ".xz", ".bz2")
_BRACED_TAGS = re.compile(r"([^\s,{}]+::)\{([^}]*)\}")


@dataclass(frozen=True)
class Document:
    """One Debian binary package with its description and debtags.

    Attributes:
        package: Package name.
        section: Archive section without its component (``python``, not ``universe/python``).
        summary: The one-line synopsis.
        description: The long description, paragraphs separated by blank lines; may be empty.
        tags: Sorted debtags, without the ``special::`` and ``made-of::`` facets.
        description_source: One of :data:`DESCRIPTION_SOURCES`.
    """

    package: str
    section: str
    summary: str
    description: str
    tags: tuple[str, ...]
    description_source: str = "translation-en"

    @property
    def text(self) -> str:
        """The text to classify: the summary, a newline, then the long description."""
        if not self.description:
            return self.summary
        return f"{self.summary}\n{self.description}"


def load_debtags(path: str | Path | None = None) -> list[Document]:
    """Read the shared ``debtags.jsonl.gz`` table (one JSON object per package).

    Args:
        path: The file; defaults to ``shared_data_file("debtags.jsonl.gz")``.

    Returns:
        The documents in file order.

    Raises:
        FileNotFoundError: If no path is given and the shared file cannot be found.
        ValueError: If a line is not a JSON object with the expected keys.
    """
    path = shared_data_file("debtags.jsonl.gz") if path is None else Path(path)
    opener = gzip.open if str(path).endswith(".gz") else open
    documents = []
    with opener(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                description = record["description"]
                documents.append(
                    Document(
                        package=record["package"],
                        section=record["section"],
                        summary=record["summary"],
                        description=description,
                        tags=tuple(sorted(record["tags"])),
                        description_source="translation-en" if description else "none",
                    )
                )
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise ValueError(
                    f"{path}: line {number} is not a debtags record ({err}); expected a JSON "
                    "object with package, section, summary, description and tags"
                ) from err
    logger.info("read %d documents from %s", len(documents), path)
    return documents


def load_apt_lists(lists_dir: str | Path = "/var/lib/apt/lists") -> list[Document]:
    """Build the debtags table from this machine's own apt lists.

    Reads every ``*_Packages`` index (plain, ``.lz4``, ``.gz``, ``.xz`` or ``.bz2``) and keeps
    the packages with a ``Tag:`` field that still has tags once the ``special::`` and
    ``made-of::`` facets are removed; when a package appears in several indexes (two
    architectures, two suites) the first stanza in sorted file order wins. The long
    description comes from the ``Packages`` stanza when it carries one (Ubuntu, older
    releases), else from an ``*_i18n_Translation-en`` file matched by ``Description-md5``
    (Debian; fetched with ``apt-get -o Acquire::Languages=en update``). Each document's
    ``description_source`` says which, and a log line counts them.

    Args:
        lists_dir: Directory holding the apt lists.

    Returns:
        The documents sorted by package name.

    Raises:
        FileNotFoundError: If ``lists_dir`` holds no ``Packages`` index.
        RuntimeError: If no ``Packages`` index could be decompressed.

    Notes:
        ``.lz4`` files (apt's default on many container images) need the ``lz4`` Python
        module or the ``lz4`` command; with neither they are skipped with a warning.
    """
    lists_dir = Path(lists_dir)
    packages_files = _index_files(lists_dir, "_Packages")
    if not packages_files:
        raise FileNotFoundError(
            f"lists_dir={str(lists_dir)!r} holds no *_Packages index (plain or "
            f"{', '.join(c for c in _COMPRESSIONS if c)}); run 'apt-get update' first"
        )

    # Long descriptions from the English translations, keyed by Description-md5.
    translations: dict[str, str] = {}
    for path in _index_files(lists_dir, "_i18n_Translation-en"):
        with _open_index(path) as lines:
            if lines is None:
                continue
            for stanza in _stanzas(lines):
                md5 = stanza.get("Description-md5")
                if md5 and "Description-en" in stanza:
                    translations.setdefault(md5, _long_description(stanza["Description-en"]))

    documents: dict[str, Document] = {}
    read_any = False
    for path in packages_files:
        with _open_index(path) as lines:
            if lines is None:
                continue
            read_any = True
            for stanza in _stanzas(lines):
                document = _document_from_stanza(stanza, translations)
                if document is not None:
                    documents.setdefault(document.package, document)
    if not read_any:
        raise RuntimeError(
            f"no *_Packages index under {str(lists_dir)!r} could be decompressed; "
            "install the lz4 module (pip install lz4) or the lz4 command"
        )

    sources = Counter(d.description_source for d in documents.values())
    logger.info(
        "read %d tagged packages from %s; long descriptions from %s",
        len(documents),
        lists_dir,
        dict(sources),
    )
    return [documents[name] for name in sorted(documents)]


def choose_tags(
    documents: Sequence[Document],
    n: int = 20,
    *,
    facets: Sequence[str] = TEXT_FACETS,
    include: Sequence[str] = CUE_TAGS,
    min_count: int = 50,
    max_overlap: float = 0.8,
) -> list[str]:
    """Choose the labels to learn: frequent, non-redundant tags of facets text can reveal.

    The rule: count, per tag, the documents that carry it; keep the tags of ``facets`` held
    by at least ``min_count`` documents; visit the ``include`` tags first, then the others
    from most to least frequent, and accept a tag unless its documents overlap those of an
    already accepted tag with a Jaccard index of ``max_overlap`` or more (a duplicate label
    such as ``interface::graphical`` beside ``interface::x11``, 1.0 on the Debian data, or
    ``devel::lang:perl`` beside ``implemented-in::perl``, 0.90); stop at ``n`` tags.

    Args:
        documents: The documents to count over (use the training part to avoid a peek).
        n: How many tags to return at most.
        facets: Facet names (the part before ``::``) whose tags may be chosen.
        include: Tags visited before the frequency order; each still needs ``min_count``.
        min_count: Fewest documents a tag needs.
        max_overlap: Jaccard index with an accepted tag at which a tag counts as redundant;
            1.0 or more accepts every tag.

    Returns:
        The chosen tags, most frequent first (ties by name).

    Raises:
        ValueError: If ``n`` or ``min_count`` is not a positive integer, ``max_overlap`` is not
            positive, or no tag passes.
    """
    for name, value in (("n", n), ("min_count", min_count)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not max_overlap > 0:
        raise ValueError(f"max_overlap must be a positive number, got {max_overlap!r}")

    prefixes = tuple(f"{facet}::" for facet in facets)
    rows_of: dict[str, set[int]] = {}
    for row, document in enumerate(documents):
        for tag in document.tags:
            if tag.startswith(prefixes):
                rows_of.setdefault(tag, set()).add(row)
    eligible = {tag for tag, rows in rows_of.items() if len(rows) >= min_count}
    if not eligible:
        raise ValueError(
            f"no tag of facets {tuple(facets)!r} is held by min_count={min_count!r} of the "
            f"{len(documents)} documents; lower min_count or widen facets"
        )

    by_frequency = sorted(eligible, key=lambda tag: (-len(rows_of[tag]), tag))
    candidates = [tag for tag in dict.fromkeys(include) if tag in eligible] + by_frequency
    chosen: list[str] = []
    for tag in dict.fromkeys(candidates):
        if len(chosen) == n:
            break
        if all(_jaccard(rows_of[tag], rows_of[other]) < max_overlap for other in chosen):
            chosen.append(tag)
    return sorted(chosen, key=lambda tag: (-len(rows_of[tag]), tag))


def split_by_description(
    documents: Sequence[Document], *, test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices into train and test so that no description straddles the split.

    Documents are grouped by their long description (by their summary when the description
    is empty), so a library and its ``-dev`` package that share one description land on the
    same side. Groups are integer ids, never the strings themselves. The groups are visited
    in a seeded random order and each joins the test side while that side stays within
    ``test_fraction`` of the rows.

    Args:
        documents: The documents to split.
        test_fraction: Target share of rows in the test part, strictly between 0 and 1.
        seed: Seed of the group order.

    Returns:
        ``(train_idx, test_idx)``: sorted ``int64`` row indices, disjoint, covering all rows.

    Raises:
        ValueError: If ``test_fraction`` is outside (0, 1) or there are fewer than 2 groups.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction!r}")

    group_of: dict[tuple[str, str], int] = {}
    groups = np.empty(len(documents), dtype=np.int64)
    for row, document in enumerate(documents):
        if document.description.strip():
            key = ("description", document.description)
        else:
            key = ("summary", document.summary)
        groups[row] = group_of.setdefault(key, len(group_of))
    if len(group_of) < 2:
        raise ValueError(
            f"documents must hold at least 2 distinct descriptions to split, got {len(group_of)}"
        )

    sizes = np.bincount(groups)
    target = test_fraction * len(documents)
    order = np.random.default_rng(seed).permutation(len(sizes))
    in_test = np.zeros(len(sizes), dtype=bool)
    taken = 0
    for group in order:
        if taken + sizes[group] <= target:
            in_test[group] = True
            taken += sizes[group]
    if not in_test.any():
        in_test[order[0]] = True

    test_rows = in_test[groups]
    return np.flatnonzero(~test_rows), np.flatnonzero(test_rows)


def _jaccard(first: set[int], second: set[int]) -> float:
    """Return the Jaccard index of two non-empty sets."""
    return len(first & second) / len(first | second)


def _index_files(lists_dir: Path, suffix: str) -> list[Path]:
    """Return the index files named ``*<suffix>[.compression]``, one per base name.

    When a base name exists both plain and compressed, the plain file wins.
    """
    if not lists_dir.is_dir():
        return []
    chosen: dict[str, Path] = {}
    for path in sorted(lists_dir.iterdir()):
        compression = _compression_of(path)
        base = path.name[: len(path.name) - len(compression)]
        if not base.endswith(suffix) or not path.is_file():
            continue
        previous = chosen.get(base)
        if previous is None or _COMPRESSIONS.index(compression) < _COMPRESSIONS.index(
            _compression_of(previous)
        ):
            chosen[base] = path
    return [chosen[base] for base in sorted(chosen)]


def _compression_of(path: Path) -> str:
    """Return the compression suffix of ``path`` ("" for a plain file)."""
    return next((c for c in _COMPRESSIONS[1:] if path.name.endswith(c)), "")


@contextmanager
def _open_index(path: Path) -> Iterator[IO[str] | None]:
    """Open an apt index as text, decompressing by suffix; yield None if it cannot be read."""
    compression = _compression_of(path)
    if compression == ".gz":
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
            yield handle
    elif compression == ".xz":
        with lzma.open(path, "rt", encoding="utf-8", errors="replace") as handle:
            yield handle
    elif compression == ".bz2":
        with bz2.open(path, "rt", encoding="utf-8", errors="replace") as handle:
            yield handle
    elif compression == ".lz4":
        with _open_lz4(path) as handle:
            yield handle
    else:
        with open(path, encoding="utf-8", errors="replace") as handle:
            yield handle


@contextmanager
def _open_lz4(path: Path) -> Iterator[IO[str] | None]:
    """Open an lz4 frame file with the lz4 module, else the lz4 command, else yield None."""
    try:
        import lz4.frame
    except ImportError:
        command = shutil.which("lz4")
        if command is None:
            logger.warning(
                "skipping %s: reading .lz4 needs the lz4 module (pip install lz4) or the lz4 "
                "command",
                path,
            )
            yield None
            return
        with subprocess.Popen(
            [command, "-dc", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        ) as process:
            yield io.TextIOWrapper(process.stdout, encoding="utf-8", errors="replace")
            _, stderr = process.communicate()
        if process.returncode != 0:
            logger.warning(
                "lz4 -dc %s failed (exit %d): %s", path, process.returncode, stderr.decode()
            )
        return
    with lz4.frame.open(path, "rt", encoding="utf-8", errors="replace") as handle:
        yield handle


def _stanzas(lines: Iterable[str]) -> Iterator[dict[str, str]]:
    """Parse Debian control-file stanzas: blank-line separated, continuations start with space.

    A field's continuation lines are joined to its first line with newlines, unchanged.
    """
    stanza: dict[str, str] = {}
    field = None
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line.strip():
            if stanza:
                yield stanza
            stanza, field = {}, None
        elif line[0] in " \t":
            if field is not None:
                stanza[field] += "\n" + line
        elif ":" in line:
            field, _, value = line.partition(":")
            stanza[field] = value.strip()
    if stanza:
        yield stanza


def _long_description(value: str) -> str:
    """Turn a ``Description`` field value into its long part, paragraphs split by blank lines."""
    lines = value.split("\n")[1:]
    body = ["" if line.strip() == "." else line[1:].rstrip() for line in lines]
    return "\n".join(body).strip("\n")


def _parse_tags(value: str) -> tuple[str, ...]:
    """Split a ``Tag`` field, expanding ``facet::{a,b}`` and dropping bookkeeping facets."""
    expanded = _BRACED_TAGS.sub(
        lambda m: ",".join(m.group(1) + item.strip() for item in m.group(2).split(",")), value
    )
    tags = {tag.strip() for tag in expanded.replace("\n", " ").split(",")}
    return tuple(sorted(t for t in tags if t and not t.startswith(_DROPPED_FACETS)))


def _document_from_stanza(stanza: dict[str, str], translations: dict[str, str]) -> Document | None:
    """Build a document from one ``Packages`` stanza, or None if it has no usable tags."""
    tags = _parse_tags(stanza.get("Tag", ""))
    if not tags or "Package" not in stanza:
        return None

    description_field = stanza.get("Description", "")
    summary = description_field.split("\n", 1)[0].strip()
    description = _long_description(description_field)
    if description:
        source = "packages"
    elif stanza.get("Description-md5") in translations:
        description = translations[stanza["Description-md5"]]
        source = "translation-en"
    else:
        source = "none"
    return Document(
        package=stanza["Package"],
        section=stanza.get("Section", "").rsplit("/", 1)[-1],
        summary=summary,
        description=description,
        tags=tags,
        description_source=source,
    )
