"""RADS categories a radiology report states itself ("BI-RADS 4B", "LI-RADS LR-5", "TI-RADS TR3").

A report that writes its own category settles ``rads_assignment`` without the model, so this
module must be strict: every fact is a category the report assigns to *this* examination, in the
canonical form :mod:`integration.tasks.rads_assignment` uses (``{"system": "LI-RADS",
"category": "LR-5"}``). A miss costs only a fall back to the model; a false fact overrides it.

Sources for the systems and their categories: the ``SYSTEMS`` table of ``rads_assignment`` (ACR
BI-RADS Atlas 5th ed. 2013; LI-RADS CT/MRI v2018; PI-RADS v2.1 2019; ACR TI-RADS, Tessler et al.
JACR 2017; Lung-RADS v2022; O-RADS US v2022; CAD-RADS 2.0 2022; NI-RADS white paper 2018;
VI-RADS, Panebianco et al. Eur Urol 2018; C-RADS, Zalis et al. Radiology 2005).

What counts as a statement
--------------------------
* **Named**: a system name (any spelling: "BI-RADS", "BIRADS", "Bi Rads", "ACR BI-RADS®"), then
  at most four filler words ("final assessment", "category", "cat.", "score", "level", a version
  "v2.1" / "2018", a modality "US" / "MRI" / "CT/MRI"), then a category the system defines.
  Roman numerals are read for BI-RADS, PI-RADS, O-RADS and VI-RADS ("BI-RADS IVb" -> 4B).
  Modifiers are dropped: Lung-RADS "2S" -> 2, CAD-RADS "4A/HRP" -> 4A.
* **Bare codes** name their system only in the right report: "LR-5" is LI-RADS when the report
  speaks of the liver (LI-RADS, liver, hepatic, HCC, cirrhosis, APHE, washout), "TR4" is TI-RADS
  when it speaks of the thyroid -- elsewhere "LR 5" may be a likelihood ratio, "TR" a
  repetition time. "C2" / "E2" are never read bare (vertebra, estradiol).
* **Breast final assessment**: "ASSESSMENT: Category 4B: Suspicious" or "Final assessment:
  category 2 - benign" is BI-RADS when the report is a breast examination (mammogram,
  tomosynthesis, breast ultrasound / MRI, or BI-RADS named anywhere), and only when the sentence
  starts with the category in an impression/assessment section or after the word "assessment".
* **Lists and transitions**: "C-RADS C2, E1" states both; "BI-RADS 3 -> 4" and "LR-3, now LR-4"
  state the later one (the earlier is marked prior, see below).

What is not a statement about this examination
----------------------------------------------
* a number that is not a category: "BI-RADS 4 months ago" (a unit follows), "PI-RADS 2.1" (a
  version), "BI-RADS 5th edition", ranges "BI-RADS 4-5" (no single category), "BI-RADS
  categories 3 to 5" (an enumeration), "TI-RADS points: 4" / "TI-RADS score 5" (ACR TI-RADS
  points, not a TR level -- "6 points, TR4" still reads TR4), "CAD-RADS N/A";
* breast density: "BI-RADS density 3", "Breast density: BI-RADS 2" (the old 1-4 density scale);
* other lexicons with a similar name: EU-TIRADS, K-TIRADS, C-TIRADS, Kwak TI-RADS, US LI-RADS;
* categories in the history, indication, comparison or technique sections (:mod:`.text`), also
  when such a header starts a sentence mid-line ("... Indication: follow-up of BI-RADS 3.");
* prior categories: a prior word governing the category ("previously BI-RADS 3", "prior
  Lung-RADS 2", "upgraded from BI-RADS 3", "previously assessed as LR-3", "prior mammogram
  (BI-RADS 2)"), a prior phrase after it ("LI-RADS 3 on the prior exam", "BI-RADS 3 in 2019",
  "BI-RADS 2 two years ago"), or a later category it changed into ("BI-RADS 3, now BI-RADS 4");
* negated ones: a negation governing the category ("no LR-5 observation", "does not meet
  criteria for LR-5", "rather than LR-5", "no longer BI-RADS 3") or denying it after ("LR-5
  criteria are not met", "BI-RADS 4 is not applicable");
* hypothetical ones: a sentence opening with "if" / "unless" ("If enlarging, BI-RADS 4"), "if"
  in the category's own clause, "would be BI-RADS 3", "BI-RADS 4 if solid".

"Governing" means the trigger word is followed only by words from a short list ("a", "the",
"definite", "features of", "criteria for", "assessed as", "been", ...) before the category. The
NegEx scope of :func:`.text.negated` (eight words, clause to ";") is too wide here: "No
mammographic evidence of malignancy, BI-RADS 1" and "BI-RADS 1 - Negative" (the category's own
name) are statements, not negations.

Decisions on ambiguous cases
----------------------------
* O-RADS MRI scores (Thomassin-Naggara et al., JAMA Netw Open 2020) are a different lexicon from
  O-RADS US but use the same 0-5 numbers and the label set has one O-RADS; they are read as
  O-RADS with ``extra["lexicon"] = "MRI"`` so a consumer can tell them apart.
* NI-RADS "2" (neck nodes, not split into 2a/2b) is a real NI-RADS category missing from the
  label set: it is reported (``extra["in_label_set"] = False``) but :func:`answer` never returns
  it -- when it wins, the report's answer is not representable and ``answer`` returns None.
* A hedge ("LR-5 cannot be excluded", "cannot exclude LR-5", "possible BI-RADS 4") is still the
  category the report names; it is kept.
* A prior-exam word reaches the category only through link words: "unchanged from prior exam
  BI-RADS 2" and "changed from prior to BI-RADS 4" are current, "prior BI-RADS 2 assessment" and
  "prior mammogram (BI-RADS 2)" are not.
* "Heterogeneously dense breasts, BI-RADS 2" is an assessment (the comma ends the density
  phrase); "Breast density: BI-RADS 3" is density.

Known gaps: one system name shared by several categories yields nothing ("BI-RADS: right 2,
left 4A") or only the first ("BI-RADS 4A and 4B"); LI-RADS v2014 subcategories ("LR-5g", "LR-5V") and roman
numerals for TI-RADS / Lung-RADS / NI-RADS / CAD-RADS are not read.

All patterns are bounded (no unbounded quantifier over free text): linear on hostile input.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from integration.inference.evidence import Fact
from integration.inference.evidence.text import CURRENT_SECTIONS, SECTION_NAMES, Sentence, Span, sentences
from integration.tasks.rads_assignment import SYSTEMS

__all__ = ["SEVERITY", "answer", "severity", "stated_rads"]

# -- severity -------------------------------------------------------------------------------------

# Least to most severe. The overall assessment follows the most worrisome finding (ACR BI-RADS
# Atlas, 5th ed.), so in one section the most severe category of a system is the report's answer.
SEVERITY: dict[str, tuple[str, ...]] = {
    # ACR hierarchy for the overall assessment: 1 < 2 < 3 < 6 < 0 < 4 < 4A < 4B < 4C < 5.
    "BI-RADS": ("1", "2", "3", "6", "0", "4", "4A", "4B", "4C", "5"),
    # LR-NC (not categorisable: degraded images) says nothing of malignancy: lowest.
    # LR-M (probably malignant, not HCC-specific) and LR-TIV (tumour in vein) above LR-5.
    "LI-RADS": ("LR-NC", "LR-1", "LR-2", "LR-3", "LR-4", "LR-5", "LR-M", "LR-TIV"),
    "PI-RADS": ("1", "2", "3", "4", "5"),
    "TI-RADS": ("TR1", "TR2", "TR3", "TR4", "TR5"),
    "Lung-RADS": ("0", "1", "2", "3", "4A", "4B", "4X"),
    "O-RADS": ("0", "1", "2", "3", "4", "5"),
    # N (non-diagnostic study) says nothing of stenosis: lowest.
    "CAD-RADS": ("N", "0", "1", "2", "3", "4A", "4B", "5"),
    # "2" (neck, unsplit) sits below the primary site's 2a / 2b.
    "NI-RADS": ("1", "2", "2a", "2b", "3", "4"),
    "VI-RADS": ("1", "2", "3", "4", "5"),
    # C-RADS is labelled by its colonic category: any colonic C outranks any extracolonic E.
    "C-RADS": ("E0", "E1", "E2", "E3", "E4", "C0", "C1", "C2", "C3", "C4"),
}

# Categories a lexicon defines that the rads_assignment label set lacks: reported, never answered.
_UNLISTED: dict[str, frozenset[str]] = {"NI-RADS": frozenset({"2"})}


def severity(system: str, category: str) -> int:
    """Rank of ``category`` within its system (higher is more severe); -1 if unknown."""
    order = SEVERITY.get(system, ())
    return order.index(category) if category in order else -1


# -- patterns -------------------------------------------------------------------------------------

_DASHES = "\\-\u2010\u2011\u2012\u2013\u2014"
_H = f"[ {_DASHES}]?"  # the optional hyphen or space inside "BI-RADS", "LR-5", "TR 4"
_SEP = rf"[\s:=#®™()\[\]{_DASHES}]"  # what may stand between name, filler words and category
_ROMAN = r"(?:iv|vi|v|i{1,3})"
_VERSION = r"(?:v(?:ersion)?\.?\s?\d{1,4}(?:\.\d{1,2}){0,2}|\d(?:\.\d{1,2}){1,2}|(?:19|20)\d\d)(?!\.?\d)"

# A category must end here: not glued to a word or number ("5th", "4000", "2.1"), not the start
# of a range ("4-5"), not a quantity ("4 months", "3 cm", "4 points", "4 x 3").
_UNITS = (r"(?:months?|mos?|years?|yrs?|y/?o|weeks?|wks?|days?|hours?|hrs?|minutes?|mins?|mm|cm|ms|"
          r"msec|mg|ml|cc|kg|points?|pts?|times|o'?clock|%)")
_QUANTITY = rf"[\s{_DASHES}]{{0,2}}{_UNITS}(?![a-z])"
_END = (rf"(?![a-z0-9])(?!\.\d)(?!{_QUANTITY})(?!\s?[x×]\s?\d)"
        # "4-5" is a range; "2 - 1 year follow-up" is not
        rf"(?!\s?[{_DASHES}]\s?\d[abc]?(?![a-z0-9])(?!\.\d)(?!{_QUANTITY}))")

_WORDS_COMMON = ("final", "overall", "assessment", "category", r"cat\.?", "classification", "class",
                 "grade", "level", "risk", "stratification", "is", "of", "as", "designation", "score")
_MODALITIES = ("ultrasound", "us", "mri", "mr", "ct/mri", "ct/mr", "ct", "ceus", "mammography")


@dataclass(frozen=True)
class _Lexicon:
    """How one system is written: its name, the filler words it allows, its category codes."""

    name: str
    category: str  # regex with a group "cat" holding the code
    words: tuple[str, ...] = _WORDS_COMMON
    modalities: tuple[str, ...] = _MODALITIES
    exclude_before: str | None = None  # a prefix naming another lexicon ("EU-" TIRADS)


_TR_POINTS = rf"\d{{1,2}}\s?(?:points?|pts?)\.?[\s,;:()=/{_DASHES}]{{1,4}}(?:(?:level|category){_SEP}{{1,3}})?"

_LEXICONS: dict[str, _Lexicon] = {
    "BI-RADS": _Lexicon(rf"bi{_H}rads", rf"(?P<cat>(?:[0-6]|{_ROMAN})(?:-?[abc])?)"),
    "LI-RADS": _Lexicon(rf"li{_H}rads", rf"(?:lr{_H})?(?P<cat>[1-5]|m|tiv|nc)",
                        modalities=("mri", "mr", "ct/mri", "ct/mr", "ct", "ceus"),
                        exclude_before=r"(?:^|[^a-z])us[ \-]$"),
    "PI-RADS": _Lexicon(rf"pi{_H}rads", rf"(?P<cat>[0-9]|{_ROMAN})"),
    # ACR TI-RADS "score" is the point total, not the TR level: not a filler word here.
    "TI-RADS": _Lexicon(rf"ti{_H}rads", rf"(?:(?:{_TR_POINTS})?tr{_H})?(?P<cat>[0-9])",
                        words=tuple(w for w in _WORDS_COMMON if w != "score"),
                        exclude_before=r"(?:^|[^a-z])(?:eu|k|kr|c|kwak)[ \-]{1,2}$"),
    "Lung-RADS": _Lexicon(rf"lung{_H}rads", r"(?P<cat>[0-4][abx]?)(?:[ \-/]?s)?"),
    "O-RADS": _Lexicon(rf"o{_H}rads", rf"(?P<cat>[0-9]|{_ROMAN})"),
    "CAD-RADS": _Lexicon(rf"cad{_H}rads", r"(?P<cat>[0-5](?:-?[ab])?|n(?!\s?/\s?a(?![a-z])|\.\s?a\.))"),
    "NI-RADS": _Lexicon(rf"ni{_H}rads", r"(?P<cat>[0-4](?:-?[ab])?)"),
    "VI-RADS": _Lexicon(rf"vi{_H}rads", rf"(?P<cat>[0-9]|{_ROMAN})"),
    "C-RADS": _Lexicon(rf"c{_H}rads", r"(?P<cat>(?:[ce][ \-]?)?[0-4])",
                       words=_WORDS_COMMON + ("colonic", "extra-?colonic")),
}


def _alternation(words: tuple[str, ...]) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


def _named_regex(lex: _Lexicon) -> re.Pattern[str]:
    filler_word = rf"(?:{_alternation(lex.words)}|{_alternation(lex.modalities)}|{_VERSION})(?![a-z0-9])"
    return re.compile(
        rf"(?<![a-z0-9])(?:acr[®™]?[ {_DASHES}]{{1,2}})?{lex.name}(?:®|™|\(r\)|\(tm\))?"
        rf"(?P<fill>(?:{_SEP}{{0,4}}{filler_word}){{0,4}}{_SEP}{{0,4}}){lex.category}{_END}",
        re.IGNORECASE,
    )


_NAMED = {system: _named_regex(lex) for system, lex in _LEXICONS.items()}

# "BI-RADS 3 -> 4", "LR-3, now LR-4", "upgraded to 4": a later category of the same system.
_TRANSITION_TO = (r"\s{0,3}(?:->|→|=>|>|,?\s{0,2}now(?:\s{1,3}(?:is|a))?|(?:upgraded|downgraded|changed|"
                  r"progressed|increased|decreased|revised|reclassified)\s{1,3}to)\s{0,3}(?:(?:category|cat\.?)\s{0,3})?")
_CONTINUE = {system: re.compile(_TRANSITION_TO + lex.category + _END, re.IGNORECASE)
             for system, lex in _LEXICONS.items()}
# "C-RADS C2, E1": C-RADS states a colonic and an extracolonic category together.
_C_RADS_PAIR = re.compile(
    r"[\s,;/&]{0,3}(?:and\s{1,3}|\+\s{0,2})?(?:(?:extra-?)?colonic[\s:]{1,3})?(?:category[\s:]{1,3})?"
    rf"(?P<cat>[ce][ \-]?[0-4]){_END}",
    re.IGNORECASE,
)

# Bare codes, read only with their organ in the report.
_BARE_LR = re.compile(rf"(?<![a-z0-9/])lr{_H}(?P<cat>[1-5]|m|tiv|nc){_END}", re.IGNORECASE)
_BARE_TR = re.compile(rf"(?<![a-z0-9/])tr{_H}(?P<cat>[1-5]){_END}(?!\s?/)", re.IGNORECASE)
_LIVER = re.compile(r"li[ \-]?rads|liver|hepat|\bhcc\b|cirrho|\baphe\b|wash-?out", re.IGNORECASE)
_THYROID = re.compile(r"ti[ \-]?rads|thyro", re.IGNORECASE)
_BREAST = re.compile(
    r"mammo|tomosynth|bi[ \-]?rads|breast\s{1,3}(?:ultrasound|ultrasonography|sonograph|us\b|mri|mr\b|imaging|magnetic)"
    r"|(?:ultrasound|sonograph\w{0,4}|us|mri|mr|imaging)\s{1,3}of\s{1,3}(?:the\s{1,3}|both\s{1,3})?"
    r"(?:(?:left|right|bilateral)\s{1,3})?breasts?",
    re.IGNORECASE,
)
# "ASSESSMENT: Category 4B: Suspicious" -- matched at the start of a sentence.
_BREAST_CATEGORY = re.compile(
    r"(?:\(?\d{1,2}[.)]\s{1,3}|[-*\u2022]\s{1,3})?"
    r"(?:(?P<assess>(?:the\s{1,3})?(?:(?:final|overall)\s{1,3})?assessment)(?:\s{1,3}is|\s{0,3}[:=\-])?\s{0,3})?"
    rf"(?P<name>category|cat\.?)\s{{0,3}}[:#\-]?\s{{0,3}}(?P<cat>(?:[0-6]|{_ROMAN})(?:-?[abc])?){_END}",
    re.IGNORECASE,
)

# -- context: what makes a category not this report's statement ----------------------------------

# Words that may stand between a trigger and the category it governs ("no definite features of
# LR-5", "previously assessed as BI-RADS 3"). Anything else breaks the link: "no suspicious
# findings, BI-RADS 1" is not a negated BI-RADS 1.
_LINK_WORDS = (
    "a", "an", "the", "any", "definite", "definitive", "formal", "specific", "applicable", "overall", "final",
    "features?", "criteria", "evidence", "of", "for", "to", "as", "at", "be", "been", "being", "is", "was",
    "were", "longer", "meets?", "met", "fulfill?s?", "satisfy", "satisfies", "upgraded?", "downgraded?",
    "warrants?", "qualify", "qualifies", "considered", "categori[sz]ed", "classified", "assigned", "assessed",
    "called", "designated", "reported", "rated", "scored", "graded", "read", "suggest(?:s|ive|ing)?",
    "assessment", "category",
)


def _governed(words: tuple[str, ...]) -> str:
    """At most four link words, then the end of the text before the category."""
    return rf"(?:(?:{'|'.join(words)})[\s(:]{{1,3}}){{0,4}}$"


_GOVERNED = _governed(_LINK_WORDS)
# Without "to": "changed from prior to BI-RADS 4" names the current category.
_GOVERNED_PRIOR = _governed(tuple(w for w in _LINK_WORDS if w != "to"))
_NEG_BEFORE = re.compile(
    r"(?<![a-z])(?:no|not|without|never|neither|nor|cannot|can't|can\s+not|rather\s+than|instead\s+of|"
    r"exclud(?:e|es|ed|ing)|rules?\s+out|ruled\s+out|negative\s+for|absence\s+of)[\s(:]{1,3}" + _GOVERNED,
    re.IGNORECASE,
)
_NOT_EXCLUDED = re.compile(
    r"(?<![a-z])(?:cannot|can't|can\s+not|not)\s{1,3}(?:be\s{1,3})?(?:exclud\w{0,3}|ruled?\s{1,3}out)[\s(:]{1,3}"
    + _GOVERNED, re.IGNORECASE)
_NEG_AFTER = re.compile(
    r"^[\s)]{0,3}(?:(?:category|criteria|features|assessment)\s{1,3})?(?:(?:is|are|was|were)\s{1,3})?"
    r"(?:not\s{1,3}(?:met|applicable|assigned|appropriate|warranted|given|favou?red|present|seen|fulfilled|"
    r"satisfied)|excluded|ruled\s{1,3}out|unlikely)(?![a-z])",
    re.IGNORECASE,
)
_PRIOR_BEFORE = re.compile(
    r"(?<![a-z])(?:previously|previous|prior|formerly|former|originally|original|initially|initial|earlier|"
    r"historically|historical|old|last|from|follow[\s-]?up\s+of|f/u\s+of)[\s(:]{1,3}" + _GOVERNED_PRIOR,
    re.IGNORECASE,
)
# "prior mammogram (BI-RADS 2)", "previous CT: LI-RADS 3": a prior exam labelled with its category.
_PRIOR_EXAM_BEFORE = re.compile(
    r"(?<![a-z])(?:prior|previous|last|earlier|old|outside)\s{1,3}(?:[a-z0-9/]{1,15}\s{1,3}){0,2}?"
    r"(?:exam|examination|study|mammogram|mammography|ultrasound|sonogram|us|ct|mri|mr|scan|imaging|screening)"
    r"(?![a-z])\s{0,3}(?:\(?(?:dated|of|from|in|on)\s{1,3}[^():;]{1,12}\)?\s{0,3})?[(:]\s{0,3}$",
    re.IGNORECASE,
)
_PRIOR_AFTER = re.compile(
    r"^[\s)]{0,3}(?:(?:was|were|had|been|assigned|assessed|categori[sz]ed|classified|called|reported|rated|"
    r"scored|given|lesions?|findings?|observations?|nodules?|masses|mass|calcifications?|category|"
    r"assessment|designation)\s{1,3}){0,3}"
    r"(?:(?:on|at|in|from|of|per)\s{1,3}(?:(?:the|her|his|a|an)\s{1,3})?(?:prior|previous|last|earlier|"
    r"preceding|outside|initial|original|old|index)(?![a-z])|previously(?![a-z])|before(?![a-z])|"
    r"in\s{1,3}the\s{1,3}past|at\s{1,3}that\s{1,3}time|(?:[a-z0-9]{1,10}\s{1,3})?(?:days?|weeks?|months?|"
    r"years?)\s{1,3}ago|(?:in|on|from|dated)\s{1,3}(?:[a-z]{1,9}\.?\s{1,3})?(?:\d{1,2}/\d{1,2}/)?(?:19|20)\d\d)",
    re.IGNORECASE,
)
# Between a category and a later one of the same system: the first was changed into the second.
_CHANGED_INTO = re.compile(
    r"(?<![a-z])(?:now|currently)(?![a-z])|->|→|=>|>|(?:upgrad|downgrad|chang|progress|evolv|increas|"
    r"decreas|revis|convert|reclassif|transition|advanc)\w{0,4}\s{1,3}(?:to|into)(?![a-z])",
    re.IGNORECASE,
)
_HYPOTHETICAL_CLAUSE = re.compile(r"(?<![a-z])(?:if|unless|whether)(?![a-z])", re.IGNORECASE)
_HYPOTHETICAL_BEFORE = re.compile(r"(?<![a-z])would[\s(:]{1,3}" + _GOVERNED, re.IGNORECASE)
_HYPOTHETICAL_AFTER = re.compile(r"^[\s,)]{0,3}(?:if|unless)(?![a-z])", re.IGNORECASE)
# "If enlarging, BI-RADS 4": a sentence (or a part after ";") that opens with a condition.
_CONDITIONAL_START = re.compile(r"^[\s(]{0,3}(?:\d{1,2}[.)]\s{1,3})?(?:if|unless)(?![a-z])", re.IGNORECASE)
_CLAUSE_START = re.compile(r"[,;:]|\.\s|(?<![a-z])(?:but|however|then)(?![a-z])", re.IGNORECASE)
_DENSITY_BEFORE = re.compile(r"dens|composition|fibroglandular|parenchym", re.IGNORECASE)
_DENSITY_AFTER = re.compile(r"^[\s)]{0,2}(?:breast\s{1,3})?(?:density|dense|composition)", re.IGNORECASE)

# A header that starts a sentence mid-line ("... . Indication: follow-up of BI-RADS 3."); text.py
# finds headers only at the start of a line.
_HEADER_TO_SECTION = {alias: name for name, aliases in SECTION_NAMES.items() for alias in aliases}
_INLINE_HEADER = re.compile(
    r"[ \t>*#_-]{0,6}(" + "|".join(sorted((re.escape(a) for a in _HEADER_TO_SECTION), key=len, reverse=True))
    + r")[ \t*_]{0,3}(?::|-(?=[ \t]))",
    re.IGNORECASE,
)

_WINDOW = 80  # characters of context looked at on either side of a category


# -- candidates -----------------------------------------------------------------------------------

@dataclass
class _Hit:
    """A category written in the text, before its context is judged."""

    system: str
    category: str
    start: int  # the statement: system name (or bare code) ...
    end: int  # ... through the category
    anchor: int  # where this hit's own words start (a continuation's category, else ``start``)
    source: str  # "named", "bare", "assessment", "continuation"
    tail: int = -1  # end of the match with its modifiers ("2S", "4A/HRP"); context is read after it
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.tail < self.end:
            self.tail = self.end


def _canonical(system: str, raw: str, fill: str = "") -> str | None:
    """The category as rads_assignment writes it, or None when the system does not define it."""
    code = re.sub(f"[\\s{_DASHES}]", "", raw).upper()
    roman = re.fullmatch(r"(IV|VI|V|I{1,3})([ABC]?)", code)
    if roman:
        code = str({"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6}[roman.group(1)]) + roman.group(2)
    if system == "LI-RADS":
        code = f"LR-{code}"
    elif system == "TI-RADS":
        code = f"TR{code}"
    elif system == "NI-RADS":
        code = code.lower()  # NI-RADS writes 2a / 2b
    elif system == "C-RADS":
        # "C-RADS colonic category 2": the letter comes from the word; neither word -> unknown.
        # A word contradicting the letter ("colonic category E2") leaves it unknown too.
        words = fill.lower()
        letter = "E" if "extra" in words else "C" if "colonic" in words else None
        if code[:1].isdigit():
            code = f"{letter}{code}" if letter else ""
        elif letter and code[0] != letter:
            code = ""
    if code in SYSTEMS[system] or code in _UNLISTED.get(system, ()):
        return code
    return None


def _hit(system: str, m: re.Match[str], start: int, source: str, fill: str = "") -> _Hit | None:
    category = _canonical(system, m.group("cat"), fill)
    if category is None:
        return None
    return _Hit(system, category, start, m.end("cat"), m.start("cat") if source == "continuation" else start,
                source, tail=m.end())


def _continuations(system: str, text: str, first: _Hit) -> list[_Hit]:
    """Categories chained to ``first``: "BI-RADS 3 -> 4", "C-RADS C2, E1"."""
    out = []
    m = _CONTINUE[system].match(text, first.tail)
    if m:
        hit = _hit(system, m, first.start, "continuation")
        if hit:
            out.append(hit)
    if system == "C-RADS" and not out:
        m = _C_RADS_PAIR.match(text, first.tail)
        if m:
            hit = _hit(system, m, first.start, "continuation")
            if hit and hit.category[0] != first.category[0]:
                out.append(hit)
    return out


def _named_hits(text: str) -> list[_Hit]:
    out = []
    for system, regex in _NAMED.items():
        lex = _LEXICONS[system]
        for m in regex.finditer(text):
            if lex.exclude_before and re.search(lex.exclude_before, text[max(0, m.start() - 8):m.start()], re.I):
                continue  # EU-TIRADS, US LI-RADS: another lexicon
            hit = _hit(system, m, m.start(), "named", m.group("fill"))
            if hit is None:
                continue
            if system == "O-RADS" and re.search(r"mr", m.group("fill"), re.I):
                hit.extra["lexicon"] = "MRI"
            out.append(hit)
            out.extend(_continuations(system, text, hit))
    return out


def _bare_hits(text: str, taken: list[tuple[int, int]]) -> list[_Hit]:
    """LR-x in a liver report, TRx in a thyroid report, outside the named statements."""
    out = []
    for system, regex, organ in (("LI-RADS", _BARE_LR, _LIVER), ("TI-RADS", _BARE_TR, _THYROID)):
        if not organ.search(text):
            continue
        for m in regex.finditer(text):
            if any(s <= m.start() < e for s, e in taken):
                continue
            hit = _hit(system, m, m.start(), "bare")
            if hit:
                out.append(hit)
                out.extend(_continuations(system, text, hit))
    return out


def _breast_hits(text: str, located: list[tuple[Sentence, str]], taken: list[tuple[int, int]]) -> list[_Hit]:
    """A breast report's bare "Category 4B" at the start of an assessment sentence."""
    if not _BREAST.search(text):
        return []
    out = []
    for sentence, section in located:
        m = _BREAST_CATEGORY.match(sentence.text)
        if not m or not (m.group("assess") or section == "impression"):
            continue
        start = sentence.span.start + m.start("name")
        if any(s <= start < e for s, e in taken):
            continue
        category = _canonical("BI-RADS", m.group("cat"))
        if category:
            out.append(_Hit("BI-RADS", category, start, sentence.span.start + m.end("cat"), start, "assessment"))
    return out


# -- sentences and sections -----------------------------------------------------------------------

def _located_sentences(text: str) -> list[tuple[Sentence, str]]:
    """Each sentence with its section, where a header starting a sentence mid-line ("... .
    Indication: ...") sets the section for the rest of that line."""
    out = []
    override, line_end = None, -1
    for s in sentences(text):
        if s.span.start > line_end:
            override = None
        m = _INLINE_HEADER.match(s.text)
        if m:
            override = _HEADER_TO_SECTION[m.group(1).lower()]
            newline = text.find("\n", s.span.start)
            line_end = newline if newline >= 0 else len(text)
        out.append((s, override or s.section))
    return out


def _locate(hit: _Hit, located: list[tuple[Sentence, str]], starts: list[int]) -> tuple[Span, str] | None:
    """The sentence span holding the hit (several sentences when text.py split inside it, as after
    "cat."), and its section; None when the hit is outside every sentence or crosses sections."""
    first = bisect.bisect_right(starts, hit.start) - 1
    if first < 0 or located[first][0].span.end <= hit.start:
        return None
    last = first
    while located[last][0].span.end < hit.end:
        last += 1
        if last == len(located) or located[last][1] != located[first][1]:
            return None
    return Span(located[first][0].span.start, located[last][0].span.end), located[first][1]


# -- judging the context --------------------------------------------------------------------------

def _clause_before(before: str) -> str:
    """The clause that ends where ``before`` ends: from its last , ; : or "but"."""
    start = 0
    for m in _CLAUSE_START.finditer(before):
        start = m.end()
    return before[start:]


def _is_negated(before: str, after: str) -> bool:
    if _NOT_EXCLUDED.search(before):
        return False  # "cannot exclude LR-5": a hedge, the category is still named
    return bool(_NEG_BEFORE.search(before) or _NEG_AFTER.match(after))


# A sentence about an earlier study, its category later in the sentence: "Previous MRI abdomen,
# 6 months earlier; assessment then LI-RADS LR-M", "Thyroid ultrasound last year: TIRADS 3 nodule".
_PRIOR_SENTENCE = re.compile(
    r"^\s{0,3}(?:previous|prior|earlier|outside)\s|(?<![a-z])(?:last\s{1,3}(?:year|month|week)|"
    r"(?:\d{1,3}|one|two|three|four|five|six|several|a\s{1,3}few)\s{1,3}(?:days?|weeks?|months?|years?)\s{1,3}"
    r"(?:ago|earlier|before|previously)|assessment\s{1,3}then)(?![a-z])",
    re.IGNORECASE,
)
_NOW = re.compile(r"(?<![a-z])(?:now|currently|today|current|this\s{1,3}(?:exam|examination|study))(?![a-z])",
                  re.IGNORECASE)


def _is_prior(before: str, after: str, to_next: str | None) -> bool:
    if _PRIOR_BEFORE.search(before) or _PRIOR_EXAM_BEFORE.search(before):
        return True
    if _PRIOR_SENTENCE.search(before) and not _NOW.search(before):
        return True
    if _PRIOR_AFTER.match(re.split(r"[,;]", after, maxsplit=1)[0]):
        return True
    # A later category of the same system it changed into: "BI-RADS 3, now BI-RADS 4".
    return to_next is not None and len(to_next) <= 60 and bool(_CHANGED_INTO.search(to_next))


def _is_hypothetical(opening: str | None, clause: str, before: str, after: str) -> bool:
    """"if"/"unless" in the clause, "would be ...", "... if solid", or a conditional sentence."""
    if opening is not None and _CONDITIONAL_START.match(opening):
        return True
    return bool(_HYPOTHETICAL_CLAUSE.search(clause) or _HYPOTHETICAL_BEFORE.search(before)
                or _HYPOTHETICAL_AFTER.match(after))


def _opening(text: str, sentence: Span, pos: int) -> str | None:
    """The start of the part of the sentence holding ``pos`` (after its last ";"), or None when
    that start lies beyond the look-back (a very long sentence)."""
    reach = max(sentence.start, pos - 4 * _WINDOW)
    part = text[reach:pos].rsplit(";", 1)
    return part[-1] if len(part) == 2 or reach == sentence.start else None


def _is_density(before: str, after: str) -> bool:
    """The old BI-RADS density scale (1-4), not an assessment: "Breast density: BI-RADS 3",
    "BI-RADS 2 density". A comma ends the reach: "heterogeneously dense breasts, BI-RADS 2"."""
    phrase = re.split(r"[.;,]", before)[-1][-40:]
    return bool(_DENSITY_BEFORE.search(phrase) or _DENSITY_AFTER.match(after))


def _current(hit: _Hit, text: str, sentence: Span, next_same: _Hit | None) -> bool:
    """Is this category stated about this examination: not negated, prior, hypothetical or density?"""
    # Only a window around the hit is read: a 200 KB sentence with thousands of hits stays linear.
    lo = max(sentence.start, hit.anchor - _WINDOW)
    before = text[lo:hit.anchor]
    after = text[hit.tail:min(sentence.end, hit.tail + _WINDOW)]
    clause = _clause_before(before)
    to_next = None
    if next_same is not None:
        to_next = text[hit.tail:next_same.anchor]
        after = after[:max(0, next_same.anchor - hit.tail)]  # the next category's words are not ours
    if _is_negated(before, after) or _is_prior(before, after, to_next):
        return False
    if _is_hypothetical(_opening(text, sentence, hit.anchor), clause, before, after):
        return False
    return not (hit.system == "BI-RADS" and _is_density(before, after))


# -- public API -----------------------------------------------------------------------------------

_NOTES = {
    "bare": "a bare code read as {system} from the organ the report names",
    "assessment": "a breast report's final assessment category, read as BI-RADS",
    "continuation": "a category chained to the previous {system} statement",
}


def _fact(hit: _Hit, sentence: Span, section: str) -> Fact:
    extra = dict(hit.extra, source=hit.source,
                 in_label_set=hit.category in SYSTEMS[hit.system])
    note = _NOTES.get(hit.source, "").format(system=hit.system)
    if not extra["in_label_set"]:
        note = f"{hit.system} {hit.category} is not in the rads_assignment label set"
    elif extra.get("lexicon") == "MRI":
        note = "an O-RADS MRI score, read as O-RADS"
    return Fact({"system": hit.system, "category": hit.category}, Span(hit.start, hit.end), sentence, section,
                kind="category", note=note, extra=extra)


def stated_rads(text: str) -> list[Fact]:
    """Every RADS category this report states about the current examination, in text order.

    ``Fact.value`` is ``{"system": ..., "category": ...}`` exactly as rads_assignment
    canonicalises it ("LR-5", "TR4", "4A", "2a" for NI-RADS, "C2" / "E3" for C-RADS);
    ``Fact.span`` the characters of the statement (system name through category; the code alone
    for a bare "LR-5" / "TR4", "Category 4B" for a breast final assessment); ``Fact.sentence``
    the sentence's span; ``Fact.section`` its section; ``Fact.kind`` "category". History,
    comparison and technique sections, prior, negated and hypothetical categories are left out
    (module docstring). ``extra``: ``source`` (named / bare / assessment / continuation),
    ``in_label_set`` (False only for NI-RADS "2"), ``lexicon`` ("MRI" for O-RADS MRI).
    """
    return list(_stated(text)) if text and text.strip() else []


@lru_cache(maxsize=64)
def _stated(text: str) -> tuple[Fact, ...]:
    """stated_rads, cached: decide asks for the same report's facts several times."""
    located = _located_sentences(text)
    starts = [s.span.start for s, _ in located]
    hits = _named_hits(text)
    taken = [(h.start, h.end) for h in hits]
    hits += _bare_hits(text, taken)
    hits += _breast_hits(text, located, taken + [(h.start, h.end) for h in hits])
    # "LR-3, now LR-4": the chained LR-4 is also found on its own; keep the standalone one.
    standalone = {(h.system, h.end) for h in hits if h.source != "continuation"}
    hits = [h for h in hits if h.source != "continuation" or (h.system, h.end) not in standalone]
    hits.sort(key=lambda h: (h.anchor, h.end))

    placed = []
    for hit in hits:
        where = _locate(hit, located, starts)
        if where is not None and where[1] in CURRENT_SECTIONS:
            placed.append((hit, *where))
    facts = []
    for i, (hit, sentence, section) in enumerate(placed):
        next_same = next((h for h, s, _ in placed[i + 1:i + 6] if s == sentence and h.system == hit.system), None)
        if _current(hit, text, sentence, next_same):
            facts.append(_fact(hit, sentence, section))
    return tuple(facts)


# impression / assessment / conclusion first, then the recommendation, then findings or body.
_SECTION_RANK = {"impression": 0, "recommendation": 1, "findings": 2, "body": 2}


def answer(text: str) -> Fact | None:
    """The report's own answer, or None when it states none.

    The impression (assessment, conclusion) is where a radiologist writes the final category, so
    its facts win over the recommendation, which wins over the findings / body. Within the chosen
    section the first stated system is the answer's system (a report about two organs leads with
    its main one) and its most severe category wins (:data:`SEVERITY`; ACR: the overall assessment
    follows the most worrisome finding); equal severity -> the first stated. A winner outside the
    label set (NI-RADS "2") cannot be written as this task's value: None.
    """
    facts = stated_rads(text)
    if not facts:
        return None
    best = min(_SECTION_RANK.get(f.section, 3) for f in facts)
    chosen = [f for f in facts if _SECTION_RANK.get(f.section, 3) == best]
    system = chosen[0].value["system"]
    winner = max((f for f in chosen if f.value["system"] == system),
                 key=lambda f: severity(system, f.value["category"]))
    return winner if winner.extra.get("in_label_set", True) else None
