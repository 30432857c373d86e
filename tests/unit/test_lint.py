"""The linter runs under plain ``pytest`` too, not only ``make test``: ``ruff check`` with the rule
set of pyproject.toml ([tool.ruff]) is clean on the whole repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _ruff() -> str | None:
    # The venv's own ruff (the dev extra) first: a ruff on PATH may be another version.
    local = Path(sys.executable).with_name("ruff")
    return str(local) if local.is_file() else shutil.which("ruff")


def test_ruff_check_is_clean() -> None:
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    done = subprocess.run([ruff, "check", "--no-cache", "--output-format", "concise", "."], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"ruff check found problems (fix them, or explain a noqa):\n{done.stdout}{done.stderr}"
