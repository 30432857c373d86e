"""Radiology NER: the report's RadGraph entities with their labels.

Labels (RadGraph): ANAT-DP anatomy; OBS-DP observation definitely present; OBS-DA definitely
absent; OBS-U uncertain.

Value: a list of ``{"text": str, "label": str}``, deduplicated and sorted by (text, label). ``text``
is in :func:`clean_phrase` form (lowercase, single spaces, no bullets or edge punctuation) and
holds no ";".

Answer text: one line per label present, labels in :data:`ENTITY_LABELS` order, its entities
sorted and joined by "; " -- e.g. "ANAT-DP: left lung\nOBS-DP: effusion; opacity" -- or "none".
Grouping by label (prompt format 2) writes each label once instead of once per entity: a third
fewer answer tokens on IU X-ray reports, and decoding is what a CPU pays most per token.

The parser also takes one entity per line ("OBS-DP: effusion", format 1), "obs dp",
"text (OBS-DP)", bullets and "Answer:" chatter. Within a line, entities after a leading label
take that label; lines without a label are skipped, and an answer with no entity and no "none"
is a parse error.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from integration.tasks.base import ParseError, Task
from integration.tasks.scoring import mean_jaccard
from integration.tasks.text import clean_phrase, says_none, split_items

ENTITY_LABELS = ("ANAT-DP", "OBS-DP", "OBS-DA", "OBS-U")
EMPTY_TEXT = "none"

_PRESENCE = {"OBS-DP": "present", "OBS-DA": "absent", "OBS-U": "uncertain"}

_LABEL = r"(anat(?:[\s_-]{0,3}dp)?|obs[\s_-]{0,3}(?:dp|da|u))(?!\w)"
# "- OBS-DP: effusion", "1. Answer: OBS-DP: effusion"
_LABEL_FIRST = re.compile(
    r"[\s\-*\u2022>\d.)]{0,20}(?:(?:answer|entities)\s{0,3}:\s{0,3})?" + _LABEL, re.IGNORECASE
)
# "effusion (OBS-DP)", "effusion - obs_dp."
_BARE_LABEL = re.compile(_LABEL, re.IGNORECASE)
_LABEL_LAST = re.compile(r"[(\[]?\s{0,3}" + _LABEL + r"[\s)\].]{0,5}$", re.IGNORECASE)


def presence(label: str) -> str | None:
    """'present' / 'absent' / 'uncertain' for observations; None for anatomy or unknown labels."""
    return _PRESENCE.get(label)


def _canonical_label(raw: str) -> str:
    code = re.sub(r"[\s_-]", "", raw).upper()  # "obs dp" -> "OBSDP"
    return "ANAT-DP" if code.startswith("ANAT") else f"OBS-{code[3:]}"


def is_valid_text(text: str) -> bool:
    return bool(text) and clean_phrase(text) == text and ";" not in text


def make_value(entities: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """Build the canonical value from (text, label) pairs: cleaned, deduplicated, sorted."""
    items = set()
    for text, label in entities:
        if label not in ENTITY_LABELS:
            raise ValueError(f"unknown entity label {label!r}")
        text = clean_phrase(text.replace(";", " "))
        if text:
            items.add((text, label))
    return [{"text": t, "label": lab} for t, lab in sorted(items)]


def parse_ner(text: str) -> list[dict[str, str]]:
    pairs = []
    for line in text.splitlines():
        line_label = None  # set by a leading "LABEL:", it labels the line's later items too
        for chunk in split_items(line):
            bare = chunk.strip()
            if line_label and _BARE_LABEL.fullmatch(bare) and bare not in ENTITY_LABELS:
                # A later item that is only a lowercase label-like word ("ANAT-DP: lung; anat") is
                # an entity (entities are stored lowercase); an exact "OBS-DP" still switches label.
                entity, label = chunk, line_label
            elif m := _LABEL_FIRST.match(chunk):
                entity, label = chunk[m.end() :], _canonical_label(m.group(1))
                line_label = label
            elif m := _LABEL_LAST.search(chunk):
                entity, label = chunk[: m.start()], _canonical_label(m.group(1))
            elif line_label:
                entity, label = chunk, line_label
            else:
                continue  # chatter
            entity = clean_phrase(entity)
            if entity:
                pairs.append((entity, label))
    if pairs:
        return make_value(pairs)
    if says_none(text):
        return []
    raise ParseError("no 'LABEL: entity' line in answer")


def render_ner(value: list[dict[str, str]]) -> str:
    for item in value:
        if item["label"] not in ENTITY_LABELS or not is_valid_text(item["text"]):
            raise ValueError(f"invalid entity {item!r}")
    lines = []
    for label in ENTITY_LABELS:
        texts = sorted({item["text"] for item in value if item["label"] == label})
        if texts:
            lines.append(f"{label}: {'; '.join(texts)}")
    return "\n".join(lines) or EMPTY_TEXT


def _pairs(value: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(item["text"], item["label"]) for item in value}


def ner_metric(predicted: list[Any], gold: list[Any]) -> dict[str, float]:
    return mean_jaccard(predicted, gold, key=_pairs)


TASK = Task(
    name="radiology_ner",
    description="Extract RadGraph entities (anatomy and observations with presence) from a report.",
    instruction="Entities by label, 'LABEL: text; text' (ANAT-DP, OBS-DP, OBS-DA, OBS-U).",
    max_new_tokens=256,
    parser=parse_ner,
    render=render_ner,
    metric=ner_metric,
    primary_metric="jaccard",
    write_kind="entities",
    # "written": the entity labels that become Observations (present and uncertain findings).
    vocabulary={"entities": ENTITY_LABELS, "written": ("OBS-DP", "OBS-U")},
    min_confidence=0.6,
)
