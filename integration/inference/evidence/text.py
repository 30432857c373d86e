"""Report text as the evidence extractors read it: sections, sentences and clause-level negation.

Every span is a character offset into the exact text the adapter extracted from the report
(:func:`integration.fhir.report.report_text`), so evidence written to the EHR points at the
characters a reader sees. Nothing here rewrites the text.

Sections matter because a category in the history ("follow-up of BI-RADS 3") or the comparison
is not this report's answer. A header is a known name at the start of a line followed by a colon
("IMPRESSION:", "Clinical history:", "FINDINGS"), and a section runs to the next header.

Negation follows NegEx (Chapman et al., J Biomed Inform 2001) in its simplest useful form:
a trigger before the term within the same clause ("no", "without", "negative for", "no evidence
of") or after it ("is not seen", "are not enlarged", "absent"). Clauses end at ";", ":", and at
"but", "however", "although", "except", "which", "whereas" -- so "no effusion, but a mass" does not
negate the mass.

All patterns are bounded: linear on hostile input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# Section names, canonical -> the header spellings seen in reports.
SECTION_NAMES: dict[str, tuple[str, ...]] = {
    "history": ("clinical history", "history", "clinical information", "clinical indication", "indication",
                "indications", "reason for exam", "reason for examination", "clinical data", "clinical details",
                # "Diagnosis: stage IV NSCLC" on a request is the referral's diagnosis, not this report's.
                "diagnosis", "clinical diagnosis"),
    "comparison": ("comparison", "comparisons", "prior studies", "prior study", "priors"),
    "technique": ("technique", "procedure", "protocol", "examination", "exam", "study"),
    "findings": ("findings", "finding", "report", "description"),
    "impression": ("impression", "impressions", "conclusion", "conclusions", "assessment", "summary",
                   "opinion", "final assessment", "overall assessment", "interpretation"),
    "recommendation": ("recommendation", "recommendations", "plan", "management"),
}
# Sections whose statements are about this examination (where an answer may be stated).
CURRENT_SECTIONS = ("impression", "findings", "recommendation", "body")

_HEADER_TO_SECTION = {alias: name for name, aliases in SECTION_NAMES.items() for alias in aliases}
_HEADER = re.compile(
    r"(?im)^[ \t>*#_-]{0,6}(" + "|".join(sorted((re.escape(a) for a in _HEADER_TO_SECTION), key=len, reverse=True))
    + r")[ \t*_]{0,3}(?::|-(?=[ \t])|$)"
)


@dataclass(frozen=True)
class Span:
    """Characters ``start:end`` of the report text."""

    start: int
    end: int

    @property
    def offset(self) -> int:
        return self.start

    @property
    def length(self) -> int:
        return self.end - self.start

    def of(self, text: str) -> str:
        return text[self.start:self.end]

    def covers(self, other: "Span") -> bool:
        return self.start <= other.start and other.end <= self.end


@dataclass(frozen=True)
class Sentence:
    span: Span
    text: str
    section: str  # a SECTION_NAMES key, or "body" before any header


@dataclass(frozen=True)
class Section:
    name: str
    span: Span  # the section's content, header excluded


# Sections that hold a line or two about the request, not the findings: they end with their first
# line of content, and what follows without a header of its own is "body" ("Examination: CT chest."
# then the findings on the next line).
_ONE_LINE_SECTIONS = ("history", "comparison", "technique")


def sections(text: str) -> list[Section]:
    """The report cut at its headers; text before the first header is section "body"."""
    out: list[Section] = []
    name, start = "body", 0
    for m in _HEADER.finditer(text):
        out.extend(_section(text, name, start, m.start()))
        name, start = _HEADER_TO_SECTION[m.group(1).lower()], m.end()
    out.extend(_section(text, name, start, len(text)))
    return [s for s in out if s.span.of(text).strip()]


def _section(text: str, name: str, start: int, end: int) -> list[Section]:
    if name not in _ONE_LINE_SECTIONS:
        return [Section(name, Span(start, end))]
    content = len(text[start:end]) - len(text[start:end].lstrip())
    line_end = text.find("\n", start + content, end)
    if line_end == -1:
        return [Section(name, Span(start, end))]
    return [Section(name, Span(start, line_end)), Section("body", Span(line_end, end))]


# A sentence ends at . ! ? followed by whitespace, unless the dot belongs to a number ("1.8"),
# a short abbreviation ("Dr.", "e.g.", "vs.", "approx.") or a list number ("1. "); and at a
# blank line or a line that starts a numbered/bulleted item.
_ABBREV = re.compile(r"(?i)(?:\b(?:dr|mr|mrs|ms|vs|approx|e\.g|i\.e|cf|fig|incl|resp|seg|cat)|(?<![\w.])[a-z])\.$")
_BREAK = re.compile(r"[.!?]+(?=\s)|\n[ \t]*\n|\n(?=[ \t]*(?:\d{1,2}[.)]|[-*\u2022])[ \t])")


def _split(text: str, span: Span) -> list[Span]:
    chunk = span.of(text)
    out, start = [], 0
    for m in _BREAK.finditer(chunk):
        end = m.end()
        if m.group(0).startswith(".") and _ABBREV.search(chunk[max(0, m.start() - 8):m.start() + 1]):
            continue  # "Dr. X", "e.g. a", "vs. b"
        if m.group(0) == "." and re.fullmatch(r"\s*\(?\d{1,2}", chunk[start:m.start()]):
            continue  # the "1." of a numbered item
        if m.group(0).startswith(".") and re.match(r"\s*\d", chunk[end:end + 3]) and \
                re.search(r"\d$", chunk[max(0, m.start() - 1):m.start()]):
            continue
        out.append(Span(span.start + start, span.start + end))
        start = end
    out.append(Span(span.start + start, span.end))
    trimmed = []
    for s in out:
        raw = s.of(text)
        left = len(raw) - len(raw.lstrip())
        right = len(raw.rstrip())
        if right > left:
            trimmed.append(Span(s.start + left, s.start + right))
    return trimmed


@lru_cache(maxsize=64)
def sentences(text: str) -> tuple[Sentence, ...]:
    """Every sentence of the report with its section. Cached: each extractor reads the same text."""
    out = []
    for section in sections(text):
        for span in _split(text, section.span):
            out.append(Sentence(span, span.of(text), section.name))
    return tuple(out)


def sentence_at(text: str, position: int) -> Sentence | None:
    for s in sentences(text):
        if s.span.start <= position < s.span.end:
            return s
    return None


# -- negation -------------------------------------------------------------------------------------

_CLAUSE_END = re.compile(r"[;:]|\b(?:but|however|although|though|except|which|whereas|while|apart from)\b|,\s+(?:and\s+)?(?:there\s+(?:is|are)|with)\b", re.I)
_PRE_NEG = re.compile(
    r"\b(?:no|not|without|negative\s+for|free\s+of|absence\s+of|absent|resolved|resolution\s+of|"
    r"no\s+(?:\w+\s+){0,2}evidence\s+of|no\s+(?:signs?|findings?)\s+of|rules?\s+out|ruled\s+out|"
    r"excluded?|neither|nor|denies|never)\b",
    re.I,
)
_POST_NEG = re.compile(
    r"^[^.;:]{0,60}?\b(?:(?:is|are|was|were)\s+(?:not|no\s+longer)\s+(?:seen|identified|present|demonstrated|"
    r"visualized|enlarged|evident|appreciated|detected)|not\s+(?:seen|identified|present|enlarged|demonstrated|"
    r"detected|evident)|absent|(?:has|have)\s+resolved|resolved|negative|within\s+normal\s+limits|"
    r"unremarkable|normal\s+in\s+size)\b",
    re.I,
)
_PSEUDO = re.compile(r"\b(?:no\s+(?:change|interval\s+change|significant\s+change|longer)|not\s+only|"
                     r"no\s+increase|no\s+decrease|without\s+(?:change|interval\s+change))\b", re.I)
_UNCERTAIN = re.compile(
    r"\b(?:may|might|possible|possibly|probable|probably|likely|suspicious\s+for|suspected|questionable|"
    r"cannot\s+be\s+excluded|can\s*not\s+be\s+(?:excluded|ruled\s+out)|indeterminate|equivocal|versus|vs\.?|"
    r"differential|concerning\s+for|worrisome\s+for|suggest(?:s|ive|ing)?|favou?r(?:ed|s)?|"
    r"raises?\s+the\s+possibility|to\s+be\s+determined|cannot\s+exclude)\b",
    re.I,
)


def _clause_bounds(sentence: str, start: int, end: int) -> tuple[int, int]:
    left = 0
    for m in _CLAUSE_END.finditer(sentence, 0, start):
        left = m.end()
    right_m = _CLAUSE_END.search(sentence, end)
    return left, right_m.start() if right_m else len(sentence)


def negated(sentence: str, start: int, end: int) -> bool:
    """Is the term at ``sentence[start:end]`` negated in its clause (NegEx-style)?"""
    left, right = _clause_bounds(sentence, start, end)
    before = sentence[left:start]
    before_clean = _PSEUDO.sub(" ", before)
    # A pre-trigger at most eight words before the term.
    window = " ".join(before_clean.split()[-8:])
    if _PRE_NEG.search(window):
        return True
    after = sentence[end:right]
    return bool(_POST_NEG.match(after)) and not _PSEUDO.match(after.strip())


def uncertain(sentence: str, start: int, end: int) -> bool:
    """Is the term hedged ("possible", "may represent", "cannot be excluded") in its clause?"""
    left, right = _clause_bounds(sentence, start, end)
    return bool(_UNCERTAIN.search(sentence[left:right]))
