"""Small text helpers shared by the task parsers.

Every regex here is anchored or built from bounded quantifiers, so parsing stays linear on
huge or hostile model output.
"""

from __future__ import annotations

import re
from typing import Iterable

# Characters trimmed from both ends of a list item: whitespace, bullets, markdown emphasis,
# trailing punctuation. Brackets and apostrophes are kept ("effusion (left)", "crohn's").
_EDGE = " \t-\u2013\u2014*\u2022\u00b7>.,;:!?\"`_"
_NUMBERED = re.compile(r"\d{1,3}[.)]\s")  # "1. " / "2) " list numbering


def clean_phrase(text: str) -> str:
    """Lowercase, collapse whitespace, drop list bullets and edge punctuation.

    Idempotent: ``clean_phrase(clean_phrase(s)) == clean_phrase(s)``. Findings and entities are
    stored in this form, so a value survives render -> parse unchanged.
    """
    s = " ".join(text.lower().split())
    while True:
        t = s.strip(_EDGE)
        m = _NUMBERED.match(t)
        if m:
            t = t[m.end() :]
        if t == s:
            return s
        s = t


def strip_leading_labels(text: str, names: Iterable[str]) -> str:
    """Strip surrounding whitespace and any leading ``Name:`` labels ("Answer:", "**Impression:**")."""
    alternation = "|".join(names)
    pattern = re.compile(
        rf"[\s*#_>]{{0,10}}(?:{alternation})[\s*_]{{0,5}}:[\s*_]{{0,10}}", re.IGNORECASE
    )
    s = text.strip()
    for _ in range(3):  # "Answer: Impression: ..." at most a few deep
        m = pattern.match(s)
        if not m:
            break
        s = s[m.end() :].strip()
    return s


def split_items(text: str) -> list[str]:
    """Split a list answer on line breaks and semicolons."""
    return [part for line in text.splitlines() for part in line.split(";")]


_EMPTY = re.compile(
    r"(?<!\w)(?:none|n/a|not applicable|no (?:change |changed |comparison |relevant )?findings|"
    r"no entities)(?!\w)",
    re.IGNORECASE,
)


def says_none(text: str) -> bool:
    """True when the text holds an explicit empty answer ("none", "n/a", "no findings")."""
    return _EMPTY.search(text) is not None


def normalize_answer(text: str) -> str:
    """Case-, punctuation- and whitespace-insensitive form, for exact-match scoring."""
    return " ".join(re.sub(r"[^\w\s]|_", " ", text.lower()).split())
