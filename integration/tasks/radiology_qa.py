"""Radiology QA: answer a free-text question about the report.

Value: the answer (str, stripped, non-empty). Answer text: the answer itself, with no label; the
parser also accepts and drops a leading "Answer:" label.
"""

from __future__ import annotations

from typing import Sequence

from integration.tasks.base import ParseError, Task
from integration.tasks.scoring import rouge_l_metric
from integration.tasks.text import normalize_answer, strip_leading_labels


def parse_answer(text: str) -> str:
    value = strip_leading_labels(text, ("answer",))
    if not value:
        raise ParseError("empty answer")
    return value


def render_answer(value: str) -> str:
    return value.strip()


def qa_metric(predicted: Sequence[str | None], gold: Sequence[str]) -> dict[str, float]:
    """ROUGE-L (the paper's metric) plus exact match ignoring case, punctuation and spacing."""
    out = rouge_l_metric(predicted, gold)
    hits = sum(
        p is not None and normalize_answer(p) == normalize_answer(g) for p, g in zip(predicted, gold)
    )
    out["exact_match"] = hits / len(gold) if gold else 0.0
    return out


TASK = Task(
    name="radiology_qa",
    description="Answer a question about a radiology report.",
    instruction="Answer the question briefly from the report.",
    max_new_tokens=256,
    parser=parse_answer,
    render=render_answer,
    metric=qa_metric,
    requires=("question",),
    primary_metric="rougeL",
    write_kind="none",
    min_confidence=0.0,
)
