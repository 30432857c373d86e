"""Scoring run-task's decided answers on a case file (training/cases.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.cases import load_cases, summary

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_cases_load_and_their_gold_answers_parse() -> None:
    from integration.tasks import get_task

    cases = load_cases(ROOT / "tests" / "data" / "cases" / "cases.yaml")
    assert len(cases) >= 45 and len({c["id"] for c in cases}) == len(cases)
    for case in cases:
        assert get_task(case["task"]).parse(str(case["gold"])).parsed, case["id"]


def test_abstention_is_a_miss_and_precision_counts_answers_only() -> None:
    rows = [
        {"task": "m_staging", "gold": "M1c", "value": "M1c", "model_value": "M0", "contradicts_stated": False, "stated_case": True},
        {"task": "m_staging", "gold": "M0", "value": None, "model_value": "M0", "contradicts_stated": False, "stated_case": False},
        {"task": "m_staging", "gold": "M1b", "value": "M1c", "model_value": "M1c", "contradicts_stated": True, "stated_case": False},
    ]
    s = summary(rows)["m_staging"]
    assert s["accuracy"] == pytest.approx(1 / 3) and s["coverage"] == pytest.approx(2 / 3)
    assert s["precision"] == 0.5 and s["model_accuracy"] == pytest.approx(1 / 3) and s["contradictions"] == 1


def test_a_case_without_gold_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("- {id: a, task: m_staging, text: x}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="gold"):
        load_cases(path)
