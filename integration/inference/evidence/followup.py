"""Follow-up recommendations a report makes ("CT of the chest is recommended for further
evaluation", "recommend follow-up chest x-ray in 6 weeks", "tissue sampling recommended"):
issue 23, written to the EHR as ServiceRequest proposals.

A sentence (clause) of the report's current sections (findings, impression, recommendation, body: never
the history or comparison, where "follow-up of a nodule" is the reason for the exam) is a
recommendation when it has both

* a **recommending** phrase: "recommend(ed)", "is suggested" / "suggest a ...", "consider",
  "advise(d)", "should / could / may be obtained or performed", "would be helpful", "would better
  evaluate", "is warranted", "for further evaluation", "to (ensure / document) resolution" -- and
  not the diagnostic hedges that share the words ("suggestive of", "to suggest pneumonia",
  "suggestion of", "considerations include");
* an **action**: an imaging modality or procedure (CT, MRI, ultrasound, radiograph or views,
  mammography, PET, biopsy or tissue sampling), or follow-up / repeat / further imaging;

and is not a negative ("no follow-up is needed", "further imaging is not recommended"). What is
read from it, each a key the site's codes map (mappings/followup/codes.yaml): the procedure
(the first named), the body site (the first named), the timing ("in 6 weeks", "in 3 to 4
months", "annual"), and whether it is conditional ("if clinically indicated", "if symptoms
persist"). A sentence is read clause by clause (cut at semicolons: "CT is insensitive; MRI
recommended"). The evidence is the clause, as offset and length into the report text.

Precision was counted by hand on IU X-ray reports (docs/critical-results.md). The patterns are
bounded: linear on hostile input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from integration.fhir.report import ReportTextError, report_text
from integration.inference.evidence.text import CURRENT_SECTIONS, sentences

# Recommending phrases. "suggest" only as a recommendation ("is suggested", "suggest a CT"), never
# the hedge ("suggestive of", "suggesting", "to suggest", "suggestion of").
_RECOMMEND = re.compile(
    r"\b(?:recommend(?:s|ed|ing|ation)?|advis(?:e|ed|able)|"
    r"(?:is|are|be)\s+suggested|\bsuggested\s+(?=for\b|in\b)|(?<!to\s)suggest(?:ed)?\s+(?=(?:a|an|the|that|repeat|follow|further|dedicated|short)\b)|"
    r"consider(?:ed|ing)?(?!ations?)\b|"
    r"(?:should|could|may|might|can|would)\s+be\s+(?:obtained|performed|considered|helpful|useful|of\s+value)|"
    r"would\s+(?:be\s+helpful|better\s+evaluate|help|benefit\s+from)|(?:is|are)\s+warranted|"
    r"(?:is|are|be)\s+indicated|(?:may|might|would)\s+be\s+of\s+benefit|consideration\s+(?:may|should|could)\s+be\s+given|"
    r"for\s+further\s+(?:evaluation|characteri[sz]ation|assessment)|further\s+evaluation\s+with|"
    r"to\s+(?:ensure|document|confirm)\s+(?:resolution|clearing|stability)|to\s+resolution)",
    re.I,
)
# What a recommendation asks for: (key, pattern), the first match in the sentence wins; keys are
# those of mappings/followup/codes.yaml. PET/CT before CT; "US" only in capitals.
PROCEDURES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("pet", re.compile(r"\bPET(?:[/ -]?CT)?\b|positron emission", re.I)),
    ("biopsy", re.compile(r"\bbiops(?:y|ies)\b|\bsampling\b|tissue\s+diagnosis|\bFNA\b|fine[- ]needle\s+aspiration|"
                          r"\bEBUS\b|\bTBNA\b", re.I)),
    ("colonoscopy", re.compile(r"\bcolonoscop\w*", re.I)),
    ("angiography", re.compile(r"\b(?:coronary\s+)?angiogra(?:phy|m)\b|\bcatheteri[sz]ation\b", re.I)),
    ("mammography", re.compile(r"\bmammogra\w*", re.I)),
    ("ct", re.compile(r"\bCT\b|\bCTA\b|\bHRCT\b|\bcat\s+scan|computed\s+tomograph\w*|high[- ]resolution", re.I)),
    ("mri", re.compile(r"\bMRI\b|\bMR\b|magnetic\s+resonance", re.I)),
    ("ultrasound", re.compile(r"(?i:\bultrasound\b|\bsonogra\w+)|\bUS\b")),
    ("nuclear_medicine", re.compile(r"\bbone\s+scan|\bscintigra\w+|\bnuclear\s+medicine\b|\bSPECT\b", re.I)),
    ("fluoroscopy", re.compile(r"\bfluoroscop\w*", re.I)),
    ("radiography", re.compile(r"\bradiograph\w*|\bx-?rays?\b|\bfilms?\b|\bviews?\b|\bdecubitus\b|"
                               r"\b(?:rib|skeletal|bone)\s+(?:series|survey)\b|\boblique\s+images\b", re.I)),
)
# Follow-up without a named modality: an action still ("follow-up to resolution is recommended").
_FOLLOW_UP = re.compile(r"\bfollow[- ]?up\b|\bfollowing\s+(?:this|the|these)\b|\brepeat\b|\bre-?(?:imag|evaluat|assess)\w*|"
                        r"\b(?:further|additional|dedicated)\s+(?:imaging|evaluation|studies|study|examination|"
                        r"characteri[sz]ation|assessment|workup|work-up)\b|\bimaging\b|\bshort[- ](?:term|interval)\b|"
                        r"\bto\s+further\s+(?:evaluate|assess|characteri[sz]e)\b|\bfor\s+(?:further\s+)?evaluation\b|"
                        r"\bwith\s+(?:iv\s+|intravenous\s+)?contrast\b|\bto\s+resolution\b|\buntil\s+clear(?:ed)?\b", re.I)
BODY_SITES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("chest", re.compile(r"\bchest\b|\bthora(?:x|cic)\b|\blungs?\b|\bpulmonary\b", re.I)),
    ("abdomen", re.compile(r"\babdom(?:en|inal)\b", re.I)),
    ("pelvis", re.compile(r"\bpelvi[cs]\b", re.I)),
    ("breast", re.compile(r"\bbreasts?\b", re.I)),
    ("liver", re.compile(r"\bliver\b|\bhepatic\b", re.I)),
    ("thyroid", re.compile(r"\bthyroid\b", re.I)),
    ("brain", re.compile(r"\bbrain\b|\bhead\b", re.I)),
    ("kidney", re.compile(r"\bkidneys?\b|\brenal\b", re.I)),
    ("prostate", re.compile(r"\bprostat\w*", re.I)),
)
_NEGATIVE = re.compile(
    r"\bno\s+(?:further\s+|additional\s+|routine\s+|dedicated\s+)?(?:follow[- ]?up|imaging|evaluation|workup|work-up)\b|"
    r"\bnot\s+(?:recommended|needed|necessary|required|indicated|warranted)\b|"
    r"\b(?:is|are)\s+unnecessary\b|\bnot\s+suggested\b|\bno\s+need\b",
    re.I,
)
_CONDITIONAL = re.compile(r"\bif\b|\bunless\b|\bshould\s+(?:symptoms|there)\b|\bas\s+clinically\s+(?:indicated|warranted)\b|"
                          r"\bwhen\s+clinically\b|\bclinically\s+indicated\b", re.I)
_NUMBER = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
           "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "eighteen": 18, "twenty-four": 24}
_N = r"(\d{1,2}|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|eighteen|twenty-four)"
_UNIT = r"(day|week|month|year|wk|mo|yr)s?"
_TIMING = re.compile(
    rf"\b(?:in|within|at|after|for)\s+(?:approximately\s+|about\s+|roughly\s+)?{_N}(?:\s*(?:to|-|–|or)\s*{_N})?\s*{_UNIT}\b|"
    rf"\b{_N}(?:\s*(?:to|-|–)\s*{_N})?[- ]{_UNIT}\s+(?:follow[- ]?up|interval|repeat)\b|"
    rf"\b{_N}-{_UNIT}\b(?!-old)",
    re.I,
)
_ANNUAL = re.compile(r"\b(?:annual(?:ly)?|yearly)\b", re.I)
_UNITS = {"day": "d", "week": "wk", "wk": "wk", "month": "mo", "mo": "mo", "year": "a", "yr": "a"}


@dataclass(frozen=True)
class Recommendation:
    procedure: str | None  # a PROCEDURES key; None = follow-up imaging, modality not named
    procedure_text: str  # the words of the report that name it ("CT of the chest", "followup")
    body_site: str | None  # a BODY_SITES key
    timing: dict[str, Any] | None  # {"low": 3, "high": 4, "unit": "mo"} (UCUM units: d, wk, mo, a)
    conditional: bool
    offset: int
    length: int
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"procedure": self.procedure, "procedure_text": self.procedure_text, "body_site": self.body_site,
                "timing": self.timing, "conditional": self.conditional,
                "evidence": [{"offset": self.offset, "length": self.length, "text": self.text}]}


def _number(word: str | None) -> int | None:
    if word is None:
        return None
    return int(word) if word.isdigit() else _NUMBER.get(word.lower())


def timing(sentence: str) -> dict[str, Any] | None:
    m = _TIMING.search(sentence)
    if m is not None:
        groups = m.groups()
        # Three forms: "in 3 (to 4) months", "3(-4) month follow-up", "3-month".
        low, high, unit = next(g for g in ((groups[0], groups[1], groups[2]), (groups[3], groups[4], groups[5]),
                                            (groups[6], None, groups[7])) if g[0] is not None)
        lo, hi = _number(low), _number(high)
        if lo is not None and unit is not None and lo > 0:
            hi = hi if hi is not None and hi >= lo else lo
            return {"low": lo, "high": hi, "unit": _UNITS[unit.lower().rstrip("s")]}
    if _ANNUAL.search(sentence):
        return {"low": 1, "high": 1, "unit": "a"}
    return None


# An earlier study to compare with is not a new one: "comparison with prior films would be
# helpful", "correlation with outside radiographs".
_EARLIER = re.compile(r"(?:\b(?:prior|previous|old|older|outside|remote|earlier|available)\s+(?:\w+\s+){0,2}|"
                      r"\b(?:comparison|correlation|compare|correlate)\s+(?:(?:with|to)\s+(?:\w+\s+){0,3})?)$", re.I)
_COMPARING = re.compile(r"\s+(?:correlation|comparison|correlate)\b", re.I)
# A modality that guides or targets the recommended procedure is not the procedure: "ultrasound-
# guided biopsy", "MRI-targeted biopsy".
_GUIDING = re.compile(r"[- ]?(?:guided|targeted|directed)\b", re.I)
# Events the report records, not recommendations: "she declined tissue sampling", "biopsy is
# scheduled", "the recommendation was discussed".
_EVENT = re.compile(r"\b(?:declined|scheduled|was\s+offered|(?:was|were)\s+discussed|(?:was|were)\s+informed|"
                    r"has\s+been\s+(?:performed|obtained|arranged))\b", re.I)


def _first(table: tuple[tuple[str | None, re.Pattern[str]], ...], sentence: str,
           near: tuple[int, ...] = ()) -> tuple[str | None, re.Match[str]] | None:
    """The match of any pattern in ``table`` -- not an earlier study, not a guiding modality --
    nearest to a position in ``near`` (the recommending words: in "CT is insensitive; MRI
    recommended" the MRI is recommended), else the earliest."""
    best, best_rank = None, None
    for key, pattern in table:
        for m in pattern.finditer(sentence):
            if _EARLIER.search(sentence[max(0, m.start() - 60):m.start()]) or _COMPARING.match(sentence, m.end()) \
                    or _GUIDING.match(sentence, m.end()):
                continue
            rank = (min((p - m.end() if p >= m.end() else max(0, m.start() - p) for p in near), default=0), m.start())
            if best_rank is None or rank < best_rank:
                best, best_rank = (key, m), rank
    return best


def _clauses(text: str) -> list[tuple[int, str]]:
    """(offset, clause) of a sentence cut at semicolons: "CT is insensitive; MRI recommended",
    "Recommend 3-month CT; PET/CT may be considered" -- each clause is read on its own."""
    out, start = [], 0
    for m in re.finditer(r";", text):
        out.append((start, text[start:m.start()]))
        start = m.end()
    out.append((start, text[start:]))
    return [(o + len(c) - len(c.lstrip()), c.strip()) for o, c in out if c.strip()]


def recommendations(report: str) -> list[Recommendation]:
    """Every follow-up recommendation the report makes, in report order (one per clause)."""
    out: list[Recommendation] = []
    for s in sentences(report):
        if s.section not in CURRENT_SECTIONS or len(s.text) > 600:
            continue
        for at, clause in _clauses(s.text):
            # In a RECOMMENDATION section a sentence recommends without saying so ("Short-interval
            # follow-up ultrasound in 6 months.").
            verbs = tuple(m.start() for m in _RECOMMEND.finditer(clause))
            if not verbs and s.section != "recommendation":
                continue
            if _NEGATIVE.search(clause) or _EVENT.search(clause):
                continue
            found = _first(PROCEDURES, clause, verbs) or _first(((None, _FOLLOW_UP),), clause, verbs)
            if found is None:
                continue  # "clinical correlation is recommended", "comparison with prior films would be helpful"
            site = _first(BODY_SITES, clause)
            out.append(Recommendation(
                procedure=found[0],
                procedure_text=found[1].group(0),
                body_site=site[0] if site else None,
                timing=timing(clause),
                conditional=_CONDITIONAL.search(clause) is not None,
                offset=s.span.offset + at, length=len(clause), text=clause,
            ))
    return out


def followup_recommendations(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The recommendations of a DiagnosticReport's text, as the job stores them (an unreadable
    text has none: the tasks fail on it on their own)."""
    try:
        text = report_text(resource)
    except ReportTextError:
        return []
    return [r.as_dict() for r in recommendations(text)]
