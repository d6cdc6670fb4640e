"""The bad-input kinds as a whole: enough of them, and each one documented."""

from __future__ import annotations

import re
from pathlib import Path

from bad_inputs import test_cli
from bad_inputs.test_image import IMAGE_CASES
from bad_inputs.test_models import MODEL_CASES
from bad_inputs.test_tabular import TABLE_CASES
from bad_inputs.test_text import TEXT_CASES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "bad-inputs.md"
ALL_CASES = [*IMAGE_CASES, *TEXT_CASES, *TABLE_CASES, *MODEL_CASES]
# The command line's kinds: its parametrized cases, and one test_cli_<kind> per other kind.
CLI_KINDS = {case.id for case in [*test_cli.REFUSED, *test_cli.CSV_CELLS]} | {
    name.removeprefix("test_").replace("_", "-")
    for name in dir(test_cli)
    if name.startswith("test_cli_")
}


def documented_kinds() -> set[str]:
    """The test ids the first column of the tables of ``docs/bad-inputs.md`` names."""
    kinds = set()
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            first_column = line.split("|")[1]
            kinds.update(re.findall(r"`([a-z0-9-]+)`", first_column))
    return kinds


def test_at_least_forty_kinds_are_covered():
    assert len(ALL_CASES) >= 40


def test_every_kind_is_documented():
    missing = sorted(({case.id for case in ALL_CASES} | CLI_KINDS) - documented_kinds())

    assert missing == []
