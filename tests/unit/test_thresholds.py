"""Threshold choice on val rows (training/thresholds.py): decisions are taken again per threshold."""

from __future__ import annotations

import math

from integration.tasks import TaskInput
from training.thresholds import Curve, Row

STAGING = (
    "Staging CT of the chest, abdomen and pelvis for newly diagnosed non-small cell lung cancer.\n"
    "A 4.1 cm spiculated mass in the left upper lobe. No thoracic lymphadenopathy.\n"
    "Two enhancing lesions in the liver, the largest 2.2 cm, compatible with metastases.\n"
)
MAMMO = "Bilateral screening mammogram. There is an irregular mass in the left breast upper outer quadrant."


def test_staging_threshold_lets_the_findings_stand_when_the_model_is_unsure() -> None:
    record = {"parsed": True, "value": "M0", "label_probs": {"M0": 0.4, "M1c": 0.3, "M1b": 0.3}}
    curve = Curve("m_staging", [Row(TaskInput(STAGING), record, "M1c")])
    assert curve.at(0.0) == (0, None)  # a model at or above the threshold disagrees: abstain
    chosen = curve.choose()
    assert chosen > 0.4 and curve.at(chosen) == (1, 1.0)


def test_model_answer_threshold_is_the_lowest_that_reaches_the_precision_target() -> None:
    def row(category: str, p: float, gold: str) -> Row:
        record = {"parsed": True, "value": {"system": "BI-RADS", "category": category}, "mean_logprob": math.log(p)}
        return Row(TaskInput(MAMMO), record, {"system": "BI-RADS", "category": gold})

    curve = Curve("rads_assignment", [row("4", 0.95, "4"), row("4", 0.9, "4"), row("2", 0.6, "4")])
    assert curve.at(0.0) == (3, 2 / 3)
    chosen = curve.choose()
    assert 0.6 < chosen <= 0.9 and curve.at(chosen) == (2, 1.0)
    assert Curve("rads_assignment", [row("2", 0.99, "4")]).choose() == 1.0  # never reaches the target


def test_stated_answers_do_not_carry_a_weak_model_over_the_target() -> None:
    stated_text = MAMMO + "\nIMPRESSION: Suspicious mass. BI-RADS 4."
    record = {"parsed": True, "value": {"system": "BI-RADS", "category": "2"}, "mean_logprob": math.log(0.8)}
    rows = [Row(TaskInput(stated_text), record, {"system": "BI-RADS", "category": "4"}) for _ in range(19)]
    rows.append(Row(TaskInput(MAMMO), record, {"system": "BI-RADS", "category": "4"}))  # model alone, wrong
    curve = Curve("rads_assignment", rows)
    assert curve.at(0.0) == (20, 0.95)  # overall over the target only thanks to the stated answers
    chosen = curve.choose()
    assert chosen > 0.8 and curve.at(chosen) == (19, 1.0)
