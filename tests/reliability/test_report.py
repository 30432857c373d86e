"""tests/reliability/report.py renders any test's figures into docs/reliability.md's marked section."""

from __future__ import annotations

import json
from pathlib import Path

from tests.reliability.report import END, START, main, render, splice

DATA = {
    "finished": "2026-01-01T00:00:00+00:00", "long_mode": False, "exit_status": 0, "machine": "x86_64, 2 cpus",
    "tests": {
        "tests/reliability/test_b.py::test_two[p|q]": {"statuses": {"push": 202, "job": 404}, "ok": True},
        "tests/reliability/test_a.py::test_one": {"kills": 3, "rate": 231.5, "ids": ["x", "y"], "none": None},
        "tests/reliability/test_c.py::test_empty": {},
    },
}


def test_render_is_generic_and_sorted() -> None:
    text = render(DATA)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0] == "| test | figure | value |"
    assert rows[1] == "| `test_a.py::test_one` | ids | x, y |"
    assert "|  | kills | 3 |" in rows and "|  | rate | 231.5 |" in rows and "|  | none | – |" in rows
    assert "| `test_b.py::test_two[p\\|q]` | ok | yes |" in rows  # a pipe cannot split a cell
    assert "|  | statuses | job=404, push=202 |" in rows
    assert "| `test_c.py::test_empty` | | |" in rows
    assert "short (CI) variants" in text and "exit status 0" in text


def test_splice_replaces_only_the_marked_section() -> None:
    doc = f"# T\n\nintro\n\n{START}\nold\n{END}\n\nafter\n"
    once = splice(doc, "new")
    assert once == f"# T\n\nintro\n\n{START}\nnew\n{END}\n\nafter\n"
    assert splice(once, "new") == once
    appended = splice("# T\n", "new")
    assert appended.startswith("# T\n") and f"{START}\nnew\n{END}" in appended


def test_main_writes_then_check_passes(tmp_path: Path) -> None:
    figures, doc = tmp_path / "last-run.json", tmp_path / "reliability.md"
    figures.write_text(json.dumps(DATA))
    doc.write_text(f"# R\n\n{START}\n{END}\n")
    assert main(["--json", str(figures), "--doc", str(doc), "--check"]) == 1
    assert main(["--json", str(figures), "--doc", str(doc)]) == 0
    assert "test_a.py::test_one" in doc.read_text()
    assert main(["--json", str(figures), "--doc", str(doc), "--check"]) == 0
    assert main(["--json", str(tmp_path / "missing.json"), "--doc", str(doc)]) == 2
