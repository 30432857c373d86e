"""What the report itself says, found without the model: stated answers and the sentences behind them.

The model answers; this package checks. ``rads`` and ``tnm`` find categories the report states
("BI-RADS 4B", "cT2aN2M1c", "no distant metastases"); ``lung_staging`` derives N and M from the
findings (AJCC 8th edition, lung); ``findings`` finds the sentence naming an abnormality. Each
returns :class:`Fact`\\ s with character spans into the report text, which
:mod:`integration.decide` weighs against the model's answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from integration.inference.evidence.text import Sentence, Span, sentences

__all__ = ["Fact", "Span", "Sentence", "sentences"]


@dataclass(frozen=True)
class Fact:
    """One answer the report supports, with where it says so.

    ``value`` is the task's typed value (``{"system": "BI-RADS", "category": "4B"}``, ``"N2"``,
    ``"M0"``); ``span`` the characters that state it; ``sentence`` the sentence holding them;
    ``section`` that sentence's section; ``kind`` what sort of statement it is ("category" for an
    explicit category, "negation" for "no distant metastases", "finding" for a derived fact).
    """

    value: Any
    span: Span
    sentence: Span
    section: str
    kind: str = "category"
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
