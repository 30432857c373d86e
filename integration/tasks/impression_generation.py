"""Impression generation: write the report's impression from its findings.

Value: the impression text (str, stripped, non-empty). Answer text: the impression itself, with
no label. The parser also accepts a leading "Impression:" / "Answer:" label and drops it.
"""

from __future__ import annotations

from integration.tasks.base import ParseError, Task
from integration.tasks.scoring import rouge_l_metric
from integration.tasks.text import strip_leading_labels

_LABEL_NAMES = (r"answer", r"(?:final\s{1,3})?impressions?")


def parse_impression(text: str) -> str:
    value = strip_leading_labels(text, _LABEL_NAMES)
    if not value:
        raise ParseError("empty impression")
    return value


def render_impression(value: str) -> str:
    return value.strip()


TASK = Task(
    name="impression_generation",
    description="Generate the impression section from the findings of a report.",
    instruction="Write the impression.",
    max_new_tokens=256,
    parser=parse_impression,
    render=render_impression,
    metric=rouge_l_metric,
    primary_metric="rougeL",
    write_kind="text",
    min_confidence=0.6,
)
