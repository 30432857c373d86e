"""Radiology NLI: does the report entail, contradict, or say nothing about a hypothesis?"""

from __future__ import annotations

from integration.tasks.base import Task
from integration.tasks.labels import parse_label
from integration.tasks.scoring import accuracy_metric

LABELS = ("entailment", "contradiction", "neutral")

TASK = Task(
    name="radiology_nli",
    description="Natural language inference between a report (premise) and a hypothesis.",
    instruction="Hypothesis vs report: entailment, contradiction or neutral.",
    max_new_tokens=10,
    parser=lambda text: parse_label(text, LABELS),
    render=str,
    metric=accuracy_metric,
    labels=LABELS,
    mode="score",
    requires=("hypothesis",),
    write_kind="none",
    min_confidence=0.0,
)
