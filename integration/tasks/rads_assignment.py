"""RADS assignment: which ACR-style Reporting and Data System category does the report support?

Value: ``{"system": "BI-RADS", "category": "4A"}``, or ``{"system": None, "category": None}``
when no RADS system applies.

Answer text: the system name, a space, the category as the lexicon writes it --
"BI-RADS 4A", "LI-RADS LR-5", "TI-RADS TR3", "NI-RADS 2a", "C-RADS E2" -- or
"No applicable RADS".

The parser takes the first mention of a known system followed by a category that system
defines ("birads 4", "bi-rads category 4a", "ACR TI-RADS TR4", "Lung-RADS 4X"); a bare "LR-5" is
LI-RADS and a bare "TR3" is TI-RADS. A category the system does not define ("BI-RADS 9") is not
accepted.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from integration.tasks.base import ParseError, Task
from integration.tasks.text import says_none

NONE_TEXT = "No applicable RADS"

SYSTEMS: dict[str, tuple[str, ...]] = {
    # ACR BI-RADS Atlas, 5th edition (2013): final assessment categories, 4 split into 4A-4C.
    "BI-RADS": ("0", "1", "2", "3", "4", "4A", "4B", "4C", "5", "6"),
    # ACR LI-RADS CT/MRI v2018 diagnostic categories.
    "LI-RADS": ("LR-1", "LR-2", "LR-3", "LR-4", "LR-5", "LR-M", "LR-TIV", "LR-NC"),
    # PI-RADS v2.1 (ACR / ESUR / AdMeTech, 2019).
    "PI-RADS": ("1", "2", "3", "4", "5"),
    # ACR TI-RADS (ACR white paper, Tessler et al., JACR 2017).
    "TI-RADS": ("TR1", "TR2", "TR3", "TR4", "TR5"),
    # ACR Lung-RADS v2022 (S modifier not part of the category).
    "Lung-RADS": ("0", "1", "2", "3", "4A", "4B", "4X"),
    # ACR O-RADS US v2022 risk stratification.
    "O-RADS": ("0", "1", "2", "3", "4", "5"),
    # CAD-RADS 2.0 (SCCT / ACR / NASCI and others, 2022); modifiers (/P, /HRP, /S...) dropped.
    "CAD-RADS": ("0", "1", "2", "3", "4A", "4B", "5", "N"),
    # ACR NI-RADS (head and neck cancer surveillance, white paper 2018).
    "NI-RADS": ("1", "2a", "2b", "3", "4"),
    # VI-RADS (Panebianco et al., Eur Urol 2018; bladder MRI).
    "VI-RADS": ("1", "2", "3", "4", "5"),
    # C-RADS CT colonography (Zalis et al., Radiology 2005): colonic C0-C4, extracolonic E0-E4.
    "C-RADS": ("C0", "C1", "C2", "C3", "C4", "E0", "E1", "E2", "E3", "E4"),
}

LABELS: tuple[str, ...] = (NONE_TEXT,) + tuple(
    f"{system} {category}" for system, categories in SYSTEMS.items() for category in categories
)

# Between the system name and the category: "BI-RADS: 4", "BI-RADS category 4a", "O-RADS US 3".
_FILLER = r"[\s:=#®-]{0,4}(?:(?:category|cat\.?|score|assessment)[\s:=#-]{0,4})?"
_END = r"(?![a-z0-9])"

# system -> (name pattern, category pattern). The category group is normalised by _canonical.
_PATTERNS = {
    "BI-RADS": (r"bi[\s-]?rads", r"([0-6][abc]?)"),
    "LI-RADS": (r"li[\s-]?rads", r"(?:lr[\s-]?)?([1-5]|m|tiv|nc)"),
    "PI-RADS": (r"pi[\s-]?rads", r"([0-9])"),
    "TI-RADS": (r"ti[\s-]?rads", r"(?:tr[\s-]?)?([0-9])"),
    "Lung-RADS": (r"lung[\s-]?rads", r"([0-4][abx]?)s?"),
    "O-RADS": (r"o[\s-]?rads(?:\s?us)?", r"([0-9])"),
    "CAD-RADS": (r"cad[\s-]?rads", r"([0-5][ab]?|n)"),
    "NI-RADS": (r"ni[\s-]?rads", r"([0-4][ab]?)"),
    "VI-RADS": (r"vi[\s-]?rads", r"([0-9])"),
    "C-RADS": (r"c[\s-]?rads", r"([ce][\s-]?[0-9])"),
}
_REGEXES = {
    system: re.compile(rf"(?<![a-z0-9]){name}{_FILLER}{cat}{_END}", re.IGNORECASE)
    for system, (name, cat) in _PATTERNS.items()
}
# Category codes that name their system on their own.
_BARE = {
    "LI-RADS": re.compile(rf"(?<![a-z0-9])lr[\s-]?([1-5]|m|tiv|nc){_END}", re.IGNORECASE),
    "TI-RADS": re.compile(rf"(?<![a-z0-9])tr[\s-]?([1-5]){_END}", re.IGNORECASE),
}


def _canonical(system: str, raw: str) -> str:
    code = "".join(raw.split()).replace("-", "").upper()
    if system == "LI-RADS":
        return f"LR-{code}"
    if system == "TI-RADS":
        return f"TR{code}"
    if system == "NI-RADS":
        return code.lower()  # NI-RADS writes 2a / 2b
    return code


def _first(regexes: dict[str, re.Pattern[str]], text: str) -> tuple[int, str, str] | None:
    """Earliest (position, system, category) whose category the system defines."""
    best = None
    for system, regex in regexes.items():
        for m in regex.finditer(text):
            category = _canonical(system, m.group(1))
            if category in SYSTEMS[system]:
                if best is None or m.start() < best[0]:
                    best = (m.start(), system, category)
                break
    return best


def parse_rads(text: str) -> dict[str, str | None]:
    if not text or not text.strip():
        raise ParseError("empty answer")
    found = _first(_REGEXES, text) or _first(_BARE, text)
    if found:
        return {"system": found[1], "category": found[2]}
    if re.search(r"(?<![a-z])no\s{1,3}(?:applicable\s{1,3})?rads(?![a-z])", text, re.I) or says_none(
        text
    ):
        return {"system": None, "category": None}
    raise ParseError("no RADS system with a valid category in answer")


def render_rads(value: dict[str, str | None]) -> str:
    system, category = value["system"], value["category"]
    if system is None and category is None:
        return NONE_TEXT
    if category not in SYSTEMS.get(system, ()):
        raise ValueError(f"not a RADS category: {system} {category}")
    return f"{system} {category}"


def rads_metric(predicted: Sequence[Any], gold: Sequence[Any]) -> dict[str, float]:
    n = len(gold)
    exact = sum(p is not None and p == g for p, g in zip(predicted, gold))
    system = sum(p is not None and p["system"] == g["system"] for p, g in zip(predicted, gold))
    return {"accuracy": exact / n if n else 0.0, "system_accuracy": system / n if n else 0.0}


TASK = Task(
    name="rads_assignment",
    description="Assign the ACR RADS system and category a report supports.",
    instruction="RADS system and category, or 'No applicable RADS'.",
    max_new_tokens=30,
    parser=parse_rads,
    render=render_rads,
    metric=rads_metric,
    labels=LABELS,
    mode="generate",
    write_kind="rads",
    vocabulary={"systems": tuple(SYSTEMS), **{f"system:{name}": cats for name, cats in SYSTEMS.items()}},
    min_confidence=0.8,
)
