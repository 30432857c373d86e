"""Temporal comparison: how did each finding change since the prior report?

Value: a list of ``{"finding": str, "change": str}``, sorted and without duplicates. ``finding``
is in :func:`clean_phrase` form (lowercase, single spaces, no bullets or edge punctuation) and
holds no ":" or ";"; ``change`` is one of :data:`CHANGES`.

Answer text: ``finding: change`` items joined by "; ", e.g.
"cardiomegaly: unchanged; pleural effusion: improved"; "none" when nothing is compared.

The parser also takes one item per line, bullets, "Answer:" chatter and change synonyms
("stable", "increased", "better", "cleared"...). Items it cannot read are skipped; an answer with
no readable item and no "none" is a parse error.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from integration.tasks.base import ParseError, Task
from integration.tasks.scoring import mean_jaccard
from integration.tasks.text import clean_phrase, says_none, split_items

CHANGES = ("new", "worsened", "improved", "resolved", "unchanged")
EMPTY_TEXT = "none"

_SYNONYMS = {
    "new": ("new", "newly", "newly seen", "developed", "appeared", "interval development"),
    "worsened": (
        "worsened", "worse", "worsening", "increased", "increasing", "progressed", "progressing",
        "progression", "enlarged", "enlarging", "larger",
    ),
    "improved": (
        "improved", "improving", "better", "decreased", "decreasing", "regressed", "reduced",
        "smaller", "diminished",
    ),
    "resolved": ("resolved", "resolving", "cleared", "resolution", "no longer seen", "disappeared"),
    "unchanged": ("unchanged", "stable", "no change", "not changed", "similar", "same", "persistent"),
}
_CHANGE_OF = {word: change for change, words in _SYNONYMS.items() for word in words}
# A change word at the start of the text after a colon: ": improved", ": is stable".
_CHANGE_AT_START = re.compile(
    r"\s*(?:(?:is|are|has|have|was|were)\s{1,3})?(?:been\s{1,3})?"
    r"(?:(?:mildly|slightly|minimally|moderately|markedly|significantly|largely|partially"
    r"|completely|essentially|overall)\s{1,3})?("
    + "|".join(re.escape(w) for w in sorted(_CHANGE_OF, key=len, reverse=True))
    + r")(?!\w)",
    re.IGNORECASE,
)
_LEADING_AND = re.compile(r"\s*(?:and|&)\s", re.IGNORECASE)


def is_valid_finding(finding: str) -> bool:
    return bool(finding) and clean_phrase(finding) == finding and not set(finding) & {":", ";"}


def make_value(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """Build the canonical value from (finding, change) pairs: cleaned, deduplicated, sorted."""
    items = set()
    for finding, change in pairs:
        finding = clean_phrase(finding.replace(":", " ").replace(";", " "))
        if change not in CHANGES:
            raise ValueError(f"unknown change {change!r}")
        if finding:
            items.add((finding, change))
    return [{"finding": f, "change": c} for f, c in sorted(items)]


def parse_temporal(text: str) -> list[dict[str, str]]:
    pairs: list[tuple[str, str]] = []
    for chunk in split_items(text):
        # "a: improved, b: stable" -> ["a", " improved, b", " stable"]: each part after a colon
        # opens with a change word; what follows it names the next finding.
        parts = chunk.split(":")
        finding = parts[0]
        for part in parts[1:]:
            m = _CHANGE_AT_START.match(part)
            if not m:
                finding = part  # "Findings: effusion: improved" -- a header, not a finding
                continue
            cleaned = clean_phrase(finding)
            if cleaned:
                pairs.append((cleaned, _CHANGE_OF[m.group(1).lower()]))
            rest = part[m.end() :]
            finding = rest.rsplit(",", 1)[-1]
            finding = finding[m2.end() :] if (m2 := _LEADING_AND.match(finding)) else finding
    if pairs:
        return make_value(pairs)
    if says_none(text):
        return []
    raise ParseError("no 'finding: change' item in answer")


def render_temporal(value: list[dict[str, str]]) -> str:
    for item in value:
        if item["change"] not in CHANGES or not is_valid_finding(item["finding"]):
            raise ValueError(f"invalid temporal item {item!r}")
    items = sorted((item["finding"], item["change"]) for item in value)
    return "; ".join(f"{f}: {c}" for f, c in items) or EMPTY_TEXT


def _pairs(value: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(item["finding"], item["change"]) for item in value}


def temporal_metric(predicted: list[Any], gold: list[Any]) -> dict[str, float]:
    return mean_jaccard(predicted, gold, key=_pairs)


TASK = Task(
    name="temporal_comparison",
    description="Compare a report with the prior report and label how each finding changed.",
    instruction="Changes since the prior report as 'finding: change; ...'.",
    max_new_tokens=256,
    parser=parse_temporal,
    render=render_temporal,
    metric=temporal_metric,
    requires=("prior_report",),
    primary_metric="jaccard",
    write_kind="changes",
    vocabulary={"changes": CHANGES},
    min_confidence=0.6,
)
