"""`radlite run-task` prints the typed result as JSON, and says clearly what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from integration.ops.cli import cli


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), obj={}, catch_exceptions=False)


def test_run_task_prints_json(tiny_qwen2: Path) -> None:
    res = _run("run-task", "--task", "radiology_nli", "--bundle", str(tiny_qwen2),
               "--text", "No pleural effusion.", "--hypothesis", "There is a pleural effusion.")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["task"] == "radiology_nli" and out["parsed"] is True
    assert out["value"] in ("entailment", "contradiction", "neutral")
    assert set(out["label_probs"]) == {"entailment", "contradiction", "neutral"}


def test_run_task_reads_text_file_and_generates(tiny_qwen2: Path, tmp_path: Path) -> None:
    report = tmp_path / "r.txt"
    report.write_text("FINDINGS: Clear lungs.")
    res = _run("run-task", "--task", "impression_generation", "--bundle", str(tiny_qwen2), "--text-file", str(report))
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["mode"] == "generate"


def test_run_task_errors(tiny_qwen2: Path, tmp_path: Path) -> None:
    assert "unknown task" in _run("run-task", "--task", "knitting", "--text", "x").output
    res = _run("run-task", "--task", "radiology_nli", "--bundle", str(tiny_qwen2), "--text", "x")
    assert res.exit_code != 0 and "needs 'hypothesis'" in res.output
    res = _run("run-task", "--task", "m_staging", "--bundle", str(tmp_path), "--text", "x")
    assert res.exit_code != 0 and "radlite.json is missing" in res.output
