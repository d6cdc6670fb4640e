"""Project hygiene: CI runs the README's test command, and the code passes ruff."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", quick_start, re.DOTALL).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_quick_start_has_one_demo_and_one_test_command():
    commands = readme_commands()

    assert len(commands) == 2
    assert "labelshap demo" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci_script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")

    assert readme_commands()[1] in ci_script.splitlines()


def _ruff() -> list[str]:
    executable = Path(sys.executable).parent / "ruff"
    if executable.exists():
        return [str(executable)]
    found = shutil.which("ruff")
    if found is None:
        pytest.fail("ruff is not installed; pip install -e '.[test]'")
    return [found]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=" ".join)
def test_code_passes_ruff(command):
    completed = subprocess.run(
        [*_ruff(), *command, "toolkit", "modalities", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
