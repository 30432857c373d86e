"""N and M categories derived from a report's findings (lung cancer, AJCC 8th edition).

When a report does not state its category, :mod:`integration.inference.evidence.decide` writes the model's
N or M answer only when it agrees with the category the findings support. This module derives that
category from the node stations and metastatic sites the report describes, with the sentences
behind it as :class:`~integration.inference.evidence.Fact`\\ s (``kind="finding"``, ``value`` what the
sentence contributes, ``note`` a short fixed-vocabulary reason such as "ipsilateral subcarinal
node"). ``Verdict.reason`` is built from fixed words and counts only, never from report text, so
it is safe to log.

Sources
-------
* AJCC Cancer Staging Manual, 8th edition, chapter 36 (Lung): N and M definitions.
* Rusch VW et al., "The IASLC lung cancer staging project: a proposal for a new international
  lymph node map", J Thorac Oncol 2009;4:568-77 (stations 1-14).
* Eberhardt WEE et al., "The IASLC Lung Cancer Staging Project: proposals for the revision of the
  M descriptors", J Thorac Oncol 2015;10:1515-22 (M1a / M1b / M1c).

Which sentences count
---------------------
Findings come from every section except the history/indication and the comparison: a "history of
liver metastases" is not this examination's finding. The technique section is kept because
:mod:`text` files the unlabelled findings after an "Examination:" header under it. A report whose
findings follow an "Indication:" header with no further header has them filed as history and gets
no verdict (safe, not helpful). Whether the report is about lung cancer, and the side of the
primary, may come from the history: that is where the diagnosis is usually named.

Primary and applicability
-------------------------
The primary is a mass / tumour / carcinoma / primary / malignancy / neoplasm / cancer / NSCLC, or
a spiculated nodule / lesion, in a named lobe ("right upper lobe", "RUL", "lingula" = left) or the
right / left lung, not negated, not a "tumour nodule". Its side is the lobe's. Current sections win
over the history; primaries on both sides give no side.

The verifiers apply when the report names lung cancer anywhere, hedged or not (lung cancer /
carcinoma / primary / tumour, NSCLC, SCLC, (non-)small cell carcinoma, bronchogenic or bronchial
carcinoma, pulmonary adenocarcinoma / squamous cell carcinoma, "right upper lobe carcinoma",
"known lung primary"); a negated mention ("no lung primary identified") does not count. Failing
that, a named non-lung primary (breast, colorectal, head and neck, melanoma, lymphoma, ...) makes
them not applicable; otherwise a lobe primary whose sentence says primary / malignant /
spiculated / carcinoma, in a report that says "staging", makes them applicable.

N (regional nodes, lung only)
-----------------------------
A node mention is a node word (lymph node(s), node(s), nodal disease / metastases,
(lymph)adenopathy) with the regions coordinated before it ("ipsilateral subcarinal and left
paratracheal lymph nodes", "right hilar (SUVmax 6) and subcarinal nodes") or after it
("adenopathy in the right hilum and subcarinal region"), or IASLC stations alone ("4R", "10L" in
capitals; "station(s) 7", "stations 2R, 4R and 7"; "level" only with R/L, since "level 4" may be
a cervical level). Its status, first rule that applies, from the text between its neighbours:

1. negated: :func:`text.negated` (NegEx; "no change in" is not a negation), "not (pathologically)
   enlarged", "no longer enlarged", "none enlarged" -> negative;
2. hedged: possible, may represent, indeterminate, equivocal, borderline, questionable,
   nonspecific, cannot be excluded, versus, "?" -> hedged;
3. metastatic / malignant / necrotic / nodal disease / conglomerate / involved -> positive;
4. not FDG-avid / without uptake -> negative (hedged if the node is enlarged by size);
5. FDG-avid / hypermetabolic / increased uptake / SUVmax >= 2.5 -> positive (a PET-positive
   subcentimetre node counts);
6. calcified / granulomatous / fatty hilum / benign -> benign;
7. enlarged / bulky / pathologic / suspicious / (lymph)adenopathy -> positive;
8. subcentimetre / non-enlarged / normal(-sized) / small / unremarkable -> negative;
9. a size: short axis >= 1 cm -> positive, smaller -> benign. A stated short axis wins; an
   unlabelled size is read as the short axis ("15 x 12 mm": the smaller); a size next to
   "long axis" is ignored, as are prior sizes ("previously 14 mm", "from 1.5 cm").

"Reactive" or "prominent" turn a positive into hedged ("1.2 cm node, likely reactive"). Soft
positive words -- suspicious, concerning, likely, consistent with -- count as positive, as staging
reads them. "The mediastinum and hila are unremarkable" / "Hila: normal" are negative statements
about those regions without a node word.

Station categories, the side relative to the primary coming from the node's own words ("right
hilar", "4R", "ipsilateral", "contralateral"; "bilateral" / "both" / "hila bilaterally" include
the contralateral side; a side word covers the regions coordinated after it, "contralateral hilar
and mediastinal"):

* N1: hilar (10), interlobar (11), lobar (12), segmental (13), subsegmental (14), peribronchial,
  intrapulmonary -- ipsilateral or without a side.
* N2: paratracheal (2, 4), prevascular (3a), retrotracheal (3p), paraoesophageal (8), pulmonary
  ligament (9), "mediastinal" -- ipsilateral or without a side (ipsilateral assumed); subcarinal
  (7) on either side; aortopulmonary window / subaortic (5) and para-aortic (6) for a left
  primary.
* N3: contralateral or bilateral mediastinal / hilar / 10-14; supraclavicular, scalene, low
  cervical, sternal notch (1) on any side; stations 5 and 6 for a right primary.
* Not N: para-aortic nodes in a sentence about the abdomen, axillary, (non-low) cervical,
  abdominal, retroperitoneal, pelvic ... nodes are distant (M).

The N verdict is the highest decided category. A right / left node whose primary side is unknown,
or an "ipsilateral adenopathy" without a region, is undecided: the verdict is None unless N3 is
already reached. Positive nodes without a region ("enlarged lymph nodes") are ignored next to
located ones (they are summaries) and otherwise leave the verdict None. N0 needs negative
statements covering both the hilar and the mediastinal nodes ("No mediastinal or hilar
lymphadenopathy", "no thoracic lymphadenopathy", an unqualified "no lymphadenopathy") and no
positive node. ``uncertain`` is set when a hedged node could raise the verdict.

M (distant metastasis)
----------------------
A site (liver, adrenal, bone words, brain, lung, pleura, pericardium, peritoneum, kidney, spleen,
pancreas, soft tissue, bowel; "abdomen" and "distant / extrathoracic / widespread" as stand-ins) is
positive when a metastasis word (metastasis, metastases, metastatic, mets, deposits, secondaries,
"separate tumour nodule") characterises it, not negated and not hedged. A characterising word
covers the sites written before it back to the previous characterising word ("two lesions in the
liver ... compatible with metastases"), or after it when none follow ("metastases to the liver and
bones"); an adjective right before a site ("metastatic adrenal nodule") covers that site. A benign
word (cyst, haemangioma, adenoma, bone island, granuloma, "likely benign") marks the site benign;
"adenoma or metastasis" is hedged, as is a lesion called indeterminate / too small to
characterise / FDG-avid without a metastasis word. "Metastatic lung cancer" names a diagnosis, and
"to assess for metastases" a question: neither is a finding. Distant nodes follow the node rules.

* M1a: pleural or pericardial nodules / nodularity / nodular thickening / metastases; an effusion
  called malignant; lung metastases that are contralateral, bilateral or "in both lungs". Lung
  metastases on the primary's side are T descriptors, not M. A plain pleural or pericardial
  effusion is not M1a but sets ``uncertain`` (AJCC: most effusions with lung cancer are
  malignant, imaging cannot tell), as do unsided lung metastases.
* M1b: one extrathoracic metastasis in one organ: a singular "metastasis", "a solitary / single
  lesion ... metastasis", one distant node.
* M1c: several extrathoracic metastases: two organs (distant nodes count as one), or one organ
  with plural lesions ("liver metastases", "two lesions", "multiple", "the largest", "bilateral
  adrenal"), or singular mentions at different places of one organ (left and right adrenal, rib
  and vertebra, two liver segments). The same organ named again without a place ("Solitary hepatic
  metastasis" in the impression) is the same lesion.
* An extrathoracic metastasis whose count is not stated ("osseous metastatic disease"), or a
  metastasis without any site, gives ``value="M1"`` with ``uncertain=True``: the subcategory is
  open.
* M0: an explicit negative ("no distant metastases", "no evidence of (nodal or distant)
  metastatic disease", "no extrathoracic metastases"; not "... in the chest", which covers only
  M1a's sites), or both the liver and the adrenals described as normal, negative or benign ("No
  adrenal lesion", "liver is unremarkable", "Liver and adrenals normal", "hepatic cyst", "adrenal
  adenoma"; "no metastatic disease in the abdomen" and "the upper abdomen is unremarkable" cover
  both), with no positive site. A hedged site sets ``uncertain``.
* The highest wins: M1c > M1b > M1a > M0; ``uncertain`` is set only for hedged findings that could
  raise the verdict.

For a report that is not about lung cancer (another primary, or none named) ``verify_m`` still
answers what holds for any cancer: ``"M1"`` with ``applicable=True`` for a clearly stated distant
metastasis (organ sites, lung and pleura included; nodes are left out, as which nodes are regional
depends on the primary), ``"M0"`` with ``applicable=True`` for an explicit negative, otherwise not
applicable. ``verify_n`` is lung-only: not applicable for any other report.

All patterns are bounded and every rule reads a window of at most a few hundred characters around
its term: linear in the report, including a hostile 200 KB one.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache

from integration.inference.evidence import Fact
from integration.inference.evidence.text import Sentence, Span, negated, sentences

__all__ = ["Verdict", "primary", "verify_n", "verify_m"]

_EXCLUDED_SECTIONS = ("history", "comparison")
_WINDOW = 240  # characters of context either side of a term that any rule looks at
_N_ORDER = {"N0": 0, "N1": 1, "N2": 2, "N3": 3}
_M_ORDER = {"M0": 0, "M1a": 1, "M1b": 2, "M1c": 3, "M1": 2}


@dataclass(frozen=True)
class Verdict:
    """The category the findings support, or None when they do not decide it."""

    value: str | None
    evidence: tuple[Fact, ...]
    applicable: bool
    reason: str
    uncertain: bool = False


# -- sentences and clauses -------------------------------------------------------------------------

_SP = r"[ \t\n]"  # whitespace inside a sentence (reports wrap lines mid-sentence)
_WS = _SP + r"{1,3}"


def _current(text: str) -> list[Sentence]:
    """Sentences about this examination (not the history or the comparison)."""
    return [s for s in sentences(text) if s.section not in _EXCLUDED_SECTIONS]


# A clause ends at ";", at a contrastive word, and at a comma or "and" that opens a negative
# ("Enlarged right hilar node, no mediastinal adenopathy"): a negation must not reach back over it
# and a positive word must not reach forward over it.
_CLAUSE_BREAK = re.compile(
    r";|\b(?:but|however|whereas|although|though|except|apart" + _WS + r"from)\b"
    r"|,(?=" + _SP + r"{0,3}(?:(?:and|or|with)" + _WS + r")?(?:no|without|nor|there" + _WS + r"(?:is|are))\b)"
    r"|\band(?=" + _WS + r"(?:no|without)\b)",
    re.I,
)
# Where a modifier's reach ends inside a clause: "no hilar adenopathy and a 2 cm subcarinal node".
_CONNECTOR = re.compile(r",|\b(?:and|or|with|including|plus)\b", re.I)
_NEG_WORD = re.compile(r"\b(?:no|without|neither|nor|negative" + _WS + r"for|free" + _WS + r"of)\b", re.I)


def _clauses(sentence: str) -> list[tuple[int, int]]:
    out, start = [], 0
    for m in _CLAUSE_BREAK.finditer(sentence):
        out.append((start, m.start()))
        start = m.end()
    out.append((start, len(sentence)))
    return [(a, b) for a, b in out if sentence[a:b].strip()]


def _negated(sentence: str, start: int, end: int, lo: int = 0, hi: int | None = None) -> bool:
    """:func:`text.negated` on ``sentence[lo:hi]`` cut to a bounded window: it scans its whole
    clause, which on a hostile 200 KB sentence would make every call linear in the sentence."""
    hi = len(sentence) if hi is None else hi
    a, b = max(lo, start - _WINDOW), min(hi, end + _WINDOW)
    return negated(sentence[a:b], start - a, end - a)


def _reach(sentence: str, lo: int, start: int, coordinated: bool) -> int:
    """Where the left context of a term at ``start`` begins: after the last connector, unless a
    negation before it governs a coordination ("No enlarged, necrotic or avid nodes") or the
    connector coordinates the term with the word before it (``coordinated``)."""
    lo = max(lo, start - _WINDOW)
    last = None
    for c in _CONNECTOR.finditer(sentence, lo, start):
        last = c
    if last is None or coordinated or _NEG_WORD.search(sentence, lo, last.start()):
        return lo
    return last.end()


def _fact(s: Sentence, start: int, end: int, value: object, note: str) -> Fact:
    return Fact(value, Span(s.span.start + start, s.span.start + end), s.span, s.section,
                kind="finding", note=note)


# -- shared vocabulary -----------------------------------------------------------------------------

_HEDGE = re.compile(
    r"\b(?:possible|possibly|(?:may|might)(?=" + _WS + r"(?:be|represent|reflect|relate|indicate|correspond|"
    r"suggest|well|also|have|signify)\b)|questionabl[ey]|equivocal|indeterminate|borderline|uncertain|"
    r"cannot" + _WS + r"be" + _WS + r"(?:excluded|ruled" + _WS + r"out)|can" + _SP + r"?not" + _WS + r"(?:exclude|rule"
    + _WS + r"out)|can't" + _WS + r"exclude|not" + _WS + r"excluded|non-?specific|versus|vs|differential|query|"
    r"atypical|low[- ]grade|too" + _WS + r"small" + _WS + r"to" + _WS + r"characteri[sz]e|tstc)\b|(?<![\w)])\?",
    re.I,
)
_AVID = re.compile(
    r"\b(?:(?:fdg[- ]?)?avid(?:ity)?|hypermetabolic|hypermetabolism|metabolically" + _WS + r"active|"
    r"(?:increased|intense|marked|elevated|abnormal|focal)" + _WS + r"(?:fdg" + _WS + r")?"
    r"(?:uptake|avidity|activity))\b",
    re.I,
)

# -- the primary and applicability -----------------------------------------------------------------

_LOBE = (r"(?:(?P<lside>right|left)" + _WS + r"(?:upper|middle|lower)" + _WS + r"lobes?|(?P<abbr>RUL|RML|RLL|LUL|LLL)"
         r"|(?P<ling>lingula(?:r)?)|(?P<lung>right|left)" + _WS + r"(?:lung|hemithorax))")
_TUMOUR = (r"(?:mass|tumou?r|(?:adeno)?carcinoma|primary|malignancy|neoplasm|cancer|nsclc|sclc|"
           r"spiculated" + _WS + r"(?:nodule|lesion|opacity))")
# Up to n words between the lobe and the tumour word, none of them starting another finding.
_BETWEEN = r"(?:[ \t\n,]{1,3}(?!(?:and|or|with|nodules?|lesions?|but)\b)[\w-]{1,20}){0,%d}?"
_PRIMARY_LOBE_FIRST = re.compile(r"\b" + _LOBE + r"\b" + _BETWEEN % 3 + _WS + r"(?P<tumour>" + _TUMOUR + r")\b", re.I)
_PRIMARY_TUMOUR_FIRST = re.compile(
    r"\b(?P<tumour>" + _TUMOUR + r")\b" + _BETWEEN % 5 + _WS + r"(?:in|of|within|involving|at|arising" + _WS
    + r"from)" + _WS + r"(?:the" + _WS + r")?(?:[\w-]{1,15}" + _WS + r"(?:segment" + _WS + r"of" + _WS + r"the" + _WS
    + r")?)?" + _LOBE + r"\b",
    re.I,
)
_TUMOUR_NODULE = re.compile(_SP + r"{1,3}(?:nodules?|deposits?)\b", re.I)  # "separate tumour nodule"

_LUNG_CANCER = re.compile(
    r"\b(?:(?:lung|bronch(?:ogenic|ial)|pulmonary)" + _WS + r"(?:cancer|carcinoma|malignancy|neoplasm|primary|"
    r"adenocarcinoma|squamous" + _WS + r"cell" + _WS + r"carcinoma|tumou?r)|nsclc|sclc|"
    r"(?:non-?" + _SP + r"{0,3})?small[- ]cell" + _WS + r"(?:lung" + _WS + r")?(?:cancer|carcinoma)|"
    r"primary" + _WS + r"(?:lung|pulmonary|bronchogenic)" + _WS + r"(?:cancer|carcinoma|malignancy|neoplasm|tumou?r)|"
    r"(?:adeno|squamous" + _WS + r"cell" + _WS + r")?carcinoma" + _WS + r"of" + _WS + r"the" + _WS
    + r"(?:(?:right|left)" + _WS + r")?(?:lung|bronchus)|"
    r"(?:(?:right|left)" + _WS + r"(?:upper|middle|lower)" + _WS + r"lobe|rul|rml|rll|lul|lll|lingular)" + _WS
    + r"(?:adeno|squamous" + _WS + r"cell" + _WS + r")?(?:carcinoma|cancer|malignancy|nsclc))\b",
    re.I,
)
_OTHER_PRIMARY = re.compile(
    r"\b(?:(?:breast|colon|colonic|colorectal|rectal|rectum|sigmoid|caecal|cecal|gastric|stomach|o?esophageal|"
    r"pancreatic|renal(?:" + _WS + r"cell)?|kidney|prostate|prostatic|bladder|urothelial|ovarian|endometrial|"
    r"uterine|cervical|thyroid|head" + _WS + r"and" + _WS + r"neck|oropharyngeal|laryngeal|nasopharyngeal|"
    r"hypopharyngeal|oral|tongue|tonsillar|hepatocellular|testicular|germ" + _WS + r"cell|anal)" + _WS
    + r"(?:cancer|carcinoma|adenocarcinoma|malignancy|primary|tumou?r|neoplasm)|"
    r"(?:carcinoma|cancer)" + _WS + r"of" + _WS + r"the" + _WS + r"(?:breast|colon|rectum|stomach|o?esophagus|"
    r"pancreas|kidney|prostate|bladder|ovary|cervix|thyroid|tongue|larynx|pharynx|oropharynx|tonsil)|"
    r"melanoma|lymphoma|sarcoma|myeloma|hcc|rcc|mesothelioma)\b",
    re.I,
)
_STAGING = re.compile(r"\b(?:re-?)?staging\b", re.I)
_MALIGNANT_PRIMARY = re.compile(r"\b(?:primary|malignan\w{0,4}|spiculat\w{0,4}|carcinoma|cancer|nsclc)\b", re.I)


def _side_of_lobe(m: re.Match[str]) -> str:
    if m.group("ling"):
        return "left"
    if m.group("abbr"):
        return "right" if m.group("abbr").upper().startswith("R") else "left"
    return (m.group("lside") or m.group("lung")).lower()


def _primary_mentions(sents: list[Sentence]) -> list[tuple[str, Fact]]:
    out = []
    for s in sents:
        found = list(_PRIMARY_LOBE_FIRST.finditer(s.text)) + list(_PRIMARY_TUMOUR_FIRST.finditer(s.text))
        for m in sorted(found, key=lambda m: m.start()):
            if _TUMOUR_NODULE.match(s.text, m.end("tumour")):
                continue  # "tumour nodule in the right lower lobe": a separate nodule, not the primary
            if _negated(s.text, m.start(), m.end()):
                continue  # "no mass in the left lower lobe"
            side = _side_of_lobe(m)
            out.append((side, _fact(s, m.start(), m.end(), side, f"{side} lung primary")))
    return out


@lru_cache(maxsize=64)
def primary(text: str) -> tuple[str | None, Fact | None]:
    """The side of the lung primary ("right" / "left" / None) and the sentence naming it."""
    history = [s for s in sentences(text) if s.section in _EXCLUDED_SECTIONS]
    for group in (_current(text), history):
        found = _primary_mentions(group)
        if not found:
            continue
        if len({side for side, _ in found}) > 1:
            return None, None  # primaries on both sides: a node's side cannot be judged
        return found[0]
    return None, None


def _unnegated(pattern: re.Pattern[str], sents: tuple[Sentence, ...]) -> bool:
    return any(not _negated(s.text, m.start(), m.end()) for s in sents for m in pattern.finditer(s.text))


@lru_cache(maxsize=64)
def _lung_context(text: str) -> tuple[bool, str]:
    """Is this report about lung cancer? (applicable, a reason in fixed words)."""
    every = sentences(text)
    if _unnegated(_LUNG_CANCER, every):
        return True, "lung cancer named"
    if _unnegated(_OTHER_PRIMARY, every):
        return False, "a non-lung primary is named"
    _side, fact = primary(text)
    if fact is not None and _STAGING.search(text) and _MALIGNANT_PRIMARY.search(fact.sentence.of(text)):
        return True, "lung primary in a staging report"
    return False, "no lung primary found"


# -- nodes -----------------------------------------------------------------------------------------

_SIDE = r"(?:right|left|ipsilateral|contralateral|bilateral|both)(?:[- ]sided)?"
_REGION = re.compile(
    r"\b(?:(?P<side>" + _SIDE + r")" + _WS + r")?"
    r"(?:(?:the|upper|lower|high|low|anterior|posterior|superior|inferior|middle)" + _WS + r"(?!cervical)){0,2}"
    r"(?:(?P<scv>supra-?clavicular|scalene|low(?:er)?" + _WS + r"(?:anterior" + _WS + r")?cervical|sternal" + _WS
    + r"notch)"
    r"|(?P<sub>sub-?carinal|infra-?carinal)"
    r"|(?P<ap>aorto-?" + _SP + r"?pulmonary|a-?p" + _WS + r"window|sub-?aortic)"
    r"|(?P<paa>para-?" + _SP + r"?aortic)"
    r"|(?P<med>(?:para|pre|retro)-?tracheal|pre-?vascular|para-?o?esophageal|pulmonary" + _WS + r"ligament|"
    r"mediastin(?:al|um))"
    r"|(?P<hil>(?:peri-?|bi-?)?hil(?:ar|um|a))"
    r"|(?P<n1>interlobar|lobar|sub-?segmental|segmental|peri-?bronchial|intra-?pulmonary|broncho-?pulmonary)"
    r"|(?P<dist>axillary|axillae|axilla|cervical|neck|submandibular|abdominal|abdomen|retro-?peritone(?:al|um)|"
    r"aorto-?caval|para-?caval|retro-?caval|porto-?caval|porta-?caval|porta" + _WS + r"hepatis|peri-?portal|"
    r"c(?:o)?eliac|mesenteric|pelvic|pelvis|iliac|inguinal|retro-?crural|gastro-?hepatic|peri-?pancreatic|"
    r"distant|extra-?thoracic|non-?regional)"
    r"|(?P<cover>thoracic|intra-?thoracic|regional|chest)"
    r"|(?P<sideonly>contralateral|ipsilateral|bilateral))"
    r"(?:" + _WS + r"(?:region|regions|station|stations|space|window|fossae|fossa|chain|group|area))?\b",
    re.I,
)
_REGION_KINDS = ("scv", "sub", "ap", "paa", "med", "hil", "n1", "dist", "cover", "sideonly")
_STATION_LIST = re.compile(
    r"\b(?P<word>stations?|levels?)" + _WS + r"(?P<list>(?:1[0-4]|[1-9])[rlap]?\b(?:" + _SP + r"{0,2}(?:,|/|&|and|or)"
    + _SP + r"{0,2}(?:1[0-4]|[1-9])[rlap]?\b){0,8})",
    re.I,
)
_STATION_ITEM = re.compile(r"(1[0-4]|[1-9])([rlap]?)", re.I)
_STATION_BARE = re.compile(r"\b(1[0-4]|[1-9])([RL])\b")  # "4R", "10L": capitals only
_STATION_KIND = {"1": "scv", "2": "med", "3": "med", "4": "med", "5": "ap", "6": "ap", "7": "sub", "8": "med",
                 "9": "med", "10": "hil", "11": "n1", "12": "n1", "13": "n1", "14": "n1"}
_NODE = re.compile(
    r"\b(?:lymph[- ]?nod(?:es|e|al)|lymphadenopath(?:y|ies)|adenopath(?:y|ies)|nodes|node|"
    r"nodal(?:" + _WS + r"(?P<nodal>disease|metastas[ie]s|mets|mass|masses|conglomerate|involvement|spread|"
    r"deposits?))?)\b",
    re.I,
)
# Node words that say the node is abnormal by themselves.
_NODE_INTRINSIC = re.compile(
    r"adenopath|nodal" + _WS + r"(?:disease|metasta|mets|mass|conglomerate|involvement|spread|deposit)", re.I)
# Words allowed between the last region and its node word: "hilar enlarged lymph nodes".
# A parenthesis is transparent in a coordination: "right hilar (SUVmax 6.1) and subcarinal", and
# "paratracheal (4R, SUVmax 6.0) lymph nodes" after the station inside it.
_PAREN = r"(?:[^()]{0,30}\)" + _SP + r"{0,3})?(?:\([^()]{0,40}\)" + _SP + r"{0,3})?"
_TO_NODE_GAP = re.compile(
    r"[ \t\n()]{0,4}" + _PAREN + r"(?:(?:lymph|enlarged|fdg[- ]avid|avid|hypermetabolic|necrotic|bulky|"
    r"pathologic(?:al)?|abnormal|"
    r"metastatic|soft[- ]tissue|conglomerate|small|subcentimet(?:er|re)|calcified|prominent|borderline|mildly|"
    r"stations?|region|level|nodal|group)[ \t\n()]{1,4}){0,3}",
    re.I,
)
# Between coordinated regions: "subcarinal and left paratracheal", "hilar, mediastinal or".
_COORD_GAP = re.compile(
    r"[ \t\n,/()&]{0,6}" + _PAREN + r"[ \t\n,]{0,3}"
    r"(?:(?:and/or|and|or|nor|as" + _WS + r"well" + _WS + r"as|plus)[ \t\n,/()]{1,4})?"
    r"(?:(?:the|a|an|both)" + _WS + r")?",
    re.I,
)
# Between a node word and regions after it: "adenopathy in the right hilum".
_FROM_NODE_GAP = re.compile(
    _SP + r"{0,3}(?:(?:is|are|seen|noted|present|identified|enlarged|again)" + _WS + r"){0,2}"
    r"(?:in|at|within|involving|of|along|throughout|around|adjacent" + _WS + r"to)" + _WS
    + r"(?:(?:the|both)" + _WS + r")?",
    re.I,
)
_ABDOMINAL_CONTEXT = re.compile(r"\b(?:abdom\w{0,5}|retroperiton\w{0,4}|renal|infrarenal|pelvi\w{0,2}|iliac|"
                                r"c(?:o)?eliac|aortocaval|mesenter\w{0,3})\b", re.I)
_BILATERALLY = re.compile(r"[^.;]{0,30}?\b(?:bilaterally|on" + _WS + r"both" + _WS + r"sides)\b", re.I)

_POST_NEG = re.compile(
    r"[^.;]{0,60}?\b(?:not|no" + _WS + r"longer|none(?:" + _WS + r"(?:of" + _WS + r"(?:which|them)|is|are))?)"
    + _WS + r"(?:(?:pathologically|significantly|morphologically|"
    r"abnormally|appreciably|clearly|definitely|metabolically|radiologically)" + _WS + r")?"
    r"(?:enlarged|avid|fdg[- ]avid|hypermetabolic|active|seen|identified|present|demonstrated|visuali[sz]ed|"
    r"evident|detected|appreciated)\b",
    re.I,
)
_STRONG_POS = re.compile(
    r"\b(?:metasta\w{0,8}|mets|malignan\w{0,4}|necro\w{1,6}|nodal" + _WS + r"(?:disease|involvement|spread)|"
    r"conglomerate|matted|involved|infiltrat\w{1,6}|tumou?r" + _WS + r"(?:involvement|deposits?))\b",
    re.I,
)
_NON_AVID = re.compile(
    r"\b(?:non-?" + _SP + r"?(?:fdg[- ]?)?avid|not" + _WS + r"(?:fdg[- ]?)?avid|non-?hypermetabolic|not" + _WS
    + r"hypermetabolic|(?:without|no)" + _WS + r"(?:(?:significant|abnormal|increased|appreciable)" + _WS
    + r")?(?:fdg" + _WS + r")?(?:uptake|avidity)|(?:background|physiologic(?:al)?)" + _WS
    + r"(?:level" + _WS + r")?(?:uptake|activity))\b",
    re.I,
)
_SUV = re.compile(r"\bsuv" + _SP + r"{0,2}(?:max)?[ \t:]{0,3}(?:of" + _WS + r")?(?:up" + _WS + r"to" + _WS + r")?"
                  r"(\d{1,2}(?:\.\d{1,2})?)", re.I)
_BENIGN_NODE = re.compile(
    r"\b(?:calcifi\w{1,6}|granulomat\w{1,6}|fatty" + _WS + r"hil\w{1,3}|benign|fat[- ]containing)\b", re.I)
_ENLARGED = re.compile(
    r"(?<!non-)(?<!non )(?<!none )(?<!previously )(?<!formerly )"  # "non-enlarged", "previously enlarged"
    r"\b(?:enlarg(?:ed|ing|ement)|bulky|pathologic(?:al|ally)?|suspicious|abnormal|"
    r"increas\w{1,3}" + _WS + r"in" + _WS + r"size|adenopath\w{1,3}|lymphadenopath\w{1,3}|concerning|worrisome)\b",
    re.I,
)
_SMALL = re.compile(
    r"\b(?:sub-?" + _SP + r"?cent\w{1,8}|non-?" + _SP + r"?enlarged|not" + _WS + r"enlarged|normal(?:[- ](?:sized?|"
    r"appearing))?|small|tiny|diminutive|within" + _WS + r"normal" + _WS + r"limits|unremarkable|non-?patholog\w{1,6}|"
    r"less" + _WS + r"than" + _WS + r"(?:1" + _SP + r"{0,2}cm|10" + _SP + r"{0,2}mm))\b"
    r"|<" + _SP + r"{0,2}(?:1" + _SP + r"{0,2}cm|10" + _SP + r"{0,2}mm)",
    re.I,
)
_WEAK_HEDGE = re.compile(r"\b(?:reactive|prominent)\b", re.I)
_PREVIOUSLY = re.compile(
    r"\b(?:previously|formerly|was|from|prior|compared" + _WS + r"(?:to|with)|before)\b[^\d]{0,12}$", re.I)
_NUM = r"\d{1,3}(?:\.\d{1,2})?"
_SIZE = re.compile(
    r"(?<![\d.])(" + _NUM + r")" + _SP + r"{0,2}(?:(?:cm|mm)" + _SP + r"{0,2})?(?:(?:x|×|by)" + _SP + r"{0,2}(" + _NUM
    + r")" + _SP + r"{0,2}(?:(?:cm|mm)" + _SP + r"{0,2})?)?(?:(?:x|×|by)" + _SP + r"{0,2}" + _NUM + _SP + r"{0,2})?"
    r"(cm|mm)\b",
    re.I,
)
_SHORT_AXIS = re.compile(r"short[- ]axis|\bsad\b", re.I)
_LONG_AXIS = re.compile(r"long[- ]axis|\blongest\b", re.I)

_REGION_NAMES = {"mediastinum": "mediastinal", "hilum": "hilar", "hila": "hilar", "perihilar": "hilar",
                 "bihilar": "hilar", "subcarinal": "subcarinal", "infracarinal": "subcarinal",
                 "aortopulmonary": "aortopulmonary", "apwindow": "aortopulmonary", "subaortic": "subaortic",
                 "paraaortic": "para-aortic", "paraesophageal": "paraoesophageal", "paraoesophageal": "paraoesophageal",
                 "pulmonaryligament": "pulmonary ligament", "sternalnotch": "sternal notch",
                 "lowcervical": "low cervical", "lowercervical": "low cervical",
                 "loweranteriorcervical": "low cervical", "lowanteriorcervical": "low cervical",
                 "axilla": "axillary", "axillae": "axillary", "intrathoracic": "thoracic", "abdomen": "abdominal",
                 "retroperitoneum": "retroperitoneal", "pelvis": "pelvic"}


@dataclass(frozen=True)
class _Region:
    start: int
    end: int
    kind: str  # one of _REGION_KINDS
    side: str | None  # right, left, ipsilateral, contralateral, bilateral, or None
    name: str  # a fixed word for notes ("paratracheal", "station 4R")


@dataclass(frozen=True)
class _NodeGroup:
    sentence: Sentence
    start: int  # its regions and its node word (or a bare station), in sentence coordinates
    end: int
    regions: tuple[_Region, ...]
    status: str  # positive, negative (negated or called normal), benign, hedged, neutral
    plural: bool
    node: tuple[int, int]  # the node word (or the last station)


def _norm_side(word: str | None) -> str | None:
    if not word:
        return None
    word = re.split(r"[- \t\n]", word.lower())[0]
    return "bilateral" if word == "both" else word


def _regions(sentence: str, lo: int, hi: int) -> list[_Region]:
    out: list[_Region] = []
    for m in _REGION.finditer(sentence, lo, hi):
        kind = next(k for k in _REGION_KINDS if m.group(k))
        word = re.sub(r"[^a-z]", "", m.group(kind).lower())
        side = _norm_side(m.group("side"))
        if kind == "sideonly":
            side, name = word, ""
        else:
            name = _REGION_NAMES.get(word, word)
        if word.startswith("bihil"):
            side = "bilateral"
        if kind == "paa":  # station 6 in the chest; a distant node in the abdomen
            near = _ABDOMINAL_CONTEXT.search(sentence, max(lo, m.start() - _WINDOW), min(hi, m.end() + _WINDOW))
            kind = "dist" if near else "ap"
        out.append(_Region(m.start(), m.end(), kind, side, name))
    taken: set[int] = set()  # where listed stations start: a bare "4R" there is the same station
    for m in _STATION_LIST.finditer(sentence, lo, hi):
        level = m.group("word").lower().startswith("level")
        for i, item in enumerate(_STATION_ITEM.finditer(m.group("list"))):
            taken.add(m.start("list") + item.start())
            number, suffix = item.group(1), item.group(2).upper()
            if level and suffix not in ("R", "L"):
                continue  # "level 4" is as likely a cervical level as a station
            start = m.start() if i == 0 else m.start("list") + item.start()
            out.append(_Region(start, m.start("list") + item.end(), _STATION_KIND[number],
                               {"R": "right", "L": "left"}.get(suffix), f"station {number}{suffix}"))
    for m in _STATION_BARE.finditer(sentence, lo, hi):
        if m.start() not in taken:
            number, suffix = m.group(1), m.group(2)
            out.append(_Region(m.start(), m.end(), _STATION_KIND[number], "right" if suffix == "R" else "left",
                               f"station {number}{suffix}"))
    return sorted(out, key=lambda r: r.start)


def _size_mm(sentence: str, lo: int, hi: int) -> float | None:
    """The node's short axis in mm from ``sentence[lo:hi]``, or None (see the module docstring)."""
    labelled = plain = None
    for m in _SIZE.finditer(sentence, lo, hi):
        if _PREVIOUSLY.search(sentence, max(lo, m.start() - 30), m.start()):
            continue  # "previously 1.4 cm", "decreased from 15 mm"
        a, b = float(m.group(1)), float(m.group(2)) if m.group(2) else None
        mm = (min(a, b) if b is not None else a) * (10 if m.group(3).lower() == "cm" else 1)
        near = sentence[max(lo, m.start() - 25):min(hi, m.end() + 25)]
        if _SHORT_AXIS.search(near):
            labelled = mm if labelled is None else labelled
        elif not _LONG_AXIS.search(near) and plain is None:
            plain = mm
    return labelled if labelled is not None else plain


def _node_status(sentence: str, lo: int, hi: int, node: tuple[int, int], intrinsic: bool) -> str:
    """The status of the node group whose window is ``sentence[lo:hi]`` (module docstring, 1-8)."""
    window = sentence[lo:hi]
    if _negated(sentence, node[0], node[1], lo, hi) or _POST_NEG.match(sentence, node[1], hi):
        return "negative"
    if _HEDGE.search(window):
        return "hedged"
    size = _size_mm(sentence, lo, hi)
    big = bool(_ENLARGED.search(window)) or intrinsic or (size is not None and size >= 10)
    if _STRONG_POS.search(window):
        status = "positive"
    elif _NON_AVID.search(window):
        return "hedged" if big else "negative"
    elif _AVID.search(window) or any(float(v) >= 2.5 for v in _SUV.findall(window)):
        status = "positive"
    elif _BENIGN_NODE.search(window):
        return "benign"
    elif _ENLARGED.search(window) or intrinsic:
        status = "positive"
    elif _SMALL.search(window):
        return "negative"
    elif size is not None:
        status = "positive" if size >= 10 else "benign"
    else:
        return "hedged" if _WEAK_HEDGE.search(window) else "neutral"
    if _WEAK_HEDGE.search(window):
        return "hedged"  # "likely reactive", "prominent"
    return status


def _chain_before(sentence: str, regions: list[_Region], starts: list[int], end: int) -> list[_Region]:
    """Regions coordinated directly before position ``end`` (a node word)."""
    chain: list[_Region] = []
    cursor, gap_rule = end, _TO_NODE_GAP
    i = bisect.bisect_left(starts, end)  # regions are sorted by start
    for r in reversed(regions[max(0, i - 12):i]):  # a coordination longer than 12 regions is not one
        if r.end > cursor:
            continue
        if cursor - r.end > 60 or not gap_rule.fullmatch(sentence, r.end, cursor):
            break
        chain.append(r)
        cursor, gap_rule = r.start, _COORD_GAP
    return chain[::-1]


def _chain_after(sentence: str, regions: list[_Region], starts: list[int], start: int) -> list[_Region]:
    """Regions after a node word: "adenopathy in the right hilum and subcarinal region"."""
    chain: list[_Region] = []
    cursor, gap_rule = start, _FROM_NODE_GAP
    i = bisect.bisect_left(starts, start)
    for r in regions[i:i + 12]:
        if r.start - cursor > 60 or not gap_rule.fullmatch(sentence, cursor, r.start):
            break
        chain.append(r)
        cursor, gap_rule = r.end, _COORD_GAP
    return chain


def _propagate_sides(chain: list[_Region]) -> list[_Region]:
    """A side word covers the regions coordinated after it: "contralateral hilar and mediastinal"."""
    out, side = [], None
    for r in chain:
        if r.side is not None:
            side = r.side
        elif side is not None and r.kind in ("med", "hil", "n1"):
            r = _Region(r.start, r.end, r.kind, side, r.name)
        out.append(r)
    return out


_REGION_NORMAL = re.compile(
    r"(?:" + _SP + r"{0,2}:" + _SP + r"{0,3}(?:normal|unremarkable|clear|nil|negative|no" + _WS + r"(?:abnormality|"
    r"mass))\b|(?:" + _SP + r"{1,3}(?:and|or)" + _SP + r"{1,3}[\w-]{1,15}){0,2}" + _WS + r"(?:is|are|appears?|appear)"
    + _WS + r"(?:otherwise" + _WS + r")?(?:normal|unremarkable|clear|within" + _WS + r"normal" + _WS + r"limits)\b)",
    re.I,
)


def _loose_groups(text: str, loose: list[_Region], hi: int) -> list[tuple[tuple[int, int], list[_Region], bool, bool]]:
    """Groups without a node word: coordinated stations ("stations 1R and 4R are avid": a station
    implies a node) and a mediastinum / hila called normal ("Hila: normal", "the mediastinum and
    hila are unremarkable")."""
    out = []
    chain: list[_Region] = []
    for r in loose + [None]:  # type: ignore[list-item]
        if r is not None and chain and _COORD_GAP.fullmatch(text, chain[-1].end, r.start) and \
                r.name.startswith("station") == chain[-1].name.startswith("station"):
            chain.append(r)
            continue
        if chain and chain[0].name.startswith("station"):
            out.append(((chain[-1].start, chain[-1].end), chain, False, len(chain) > 1))
        elif chain and all(c.kind in ("med", "hil") for c in chain) and \
                _REGION_NORMAL.match(text, chain[-1].end, hi):
            out.append(((chain[-1].start, chain[-1].end), chain, False, True))
        chain = [r] if r is not None else []
    return out


def _clause_groups(s: Sentence, lo: int, hi: int) -> list[_NodeGroup]:
    text = s.text
    regions = _regions(text, lo, hi)
    starts = [r.start for r in regions]
    used: set[int] = set()
    # (node word span, regions, intrinsic, plural)
    raw: list[tuple[tuple[int, int], list[_Region], bool, bool]] = []
    for n in _NODE.finditer(text, lo, hi):
        chain = _chain_before(text, regions, starts, n.start()) + _chain_after(text, regions, starts, n.end())
        chain = [r for r in chain if r.start not in used]
        used.update(r.start for r in chain)
        word = n.group(0).lower()
        raw.append(((n.start(), n.end()), chain, bool(_NODE_INTRINSIC.search(word)),
                    # "nodal metastasis" is one node, "nodal metastases" several; "nodal disease" says
                    # no number and counts as one.
                    word.endswith(("nodes", "ies", "metastases"))))
    loose = [r for r in regions if r.start not in used]
    if loose and len(raw) == 1 and not raw[0][1]:
        # one node word, its regions not coordinated with it: "Mediastinum: no lymphadenopathy"
        node = raw[0][0]
        near = [r for r in loose if (abs(node[0] - r.end) <= 40 or abs(r.start - node[1]) <= 40)
                and r.name not in ("distant", "extrathoracic", "nonregional")]  # "nodal or distant metastases"
        raw[0] = (node, near, raw[0][2], raw[0][3])
        used.update(r.start for r in near)
    raw.extend(_loose_groups(text, [r for r in regions if r.start not in used], hi))
    spans = sorted(((min([n[0]] + [r.start for r in chain]), max([n[1]] + [r.end for r in chain])), i)
                   for i, (n, chain, _intr, _pl) in enumerate(raw))
    groups: list[_NodeGroup] = []
    for k, ((start, end), i) in enumerate(spans):
        node, chain, intrinsic, plural = raw[i]
        seg_lo = max(lo, spans[k - 1][0][1] if k else lo)
        seg_hi = min(hi, spans[k + 1][0][0] if k + 1 < len(spans) else hi, end + _WINDOW)
        seg_lo = _reach(text, seg_lo, start, coordinated=False)
        site = _SITE.search(text, end, seg_hi)  # "subcentimetre nodes and hepatic metastases"
        if site is not None:
            seg_hi = site.start()
        status = _node_status(text, seg_lo, seg_hi, node, intrinsic)
        chain = _propagate_sides(chain)
        if chain and _BILATERALLY.match(text, end, seg_hi):
            chain = [r if r.side else _Region(r.start, r.end, r.kind, "bilateral", r.name) for r in chain]
        # Two regions name two nodes ("left hilar and subcarinal"), unless the second is a gloss in
        # brackets ("para-aortic (retroperitoneal) node").
        several = len(chain) > 1 and "(" not in text[chain[0].end:chain[-1].start]
        groups.append(_NodeGroup(s, start, end, tuple(chain), status, plural or several, node))
    return groups


@lru_cache(maxsize=64)
def _node_groups(text: str) -> tuple[_NodeGroup, ...]:
    return tuple(g for s in _current(text) for lo, hi in _clauses(s.text) for g in _clause_groups(s, lo, hi))


def _relative(side: str | None, primary_side: str | None) -> str | None:
    """ipsilateral / contralateral / bilateral for a side word; None without one; "unknown" for
    right / left when the primary's side is unknown."""
    if side in ("right", "left"):
        if primary_side is None:
            return "unknown"
        return "ipsilateral" if side == primary_side else "contralateral"
    return side


def _n_category(region: _Region, primary_side: str | None) -> str | None:
    """The N category of a positive node in ``region``; None when it depends on an unknown side."""
    rel = _relative(region.side, primary_side)
    if region.kind == "scv":
        return "N3"
    if region.kind == "sub":
        return "N2"
    if region.kind == "ap":  # stations 5 and 6 lie on the left
        return {"left": "N2", "right": "N3"}.get(primary_side or "")
    if rel in ("contralateral", "bilateral"):
        return "N3"
    if rel == "unknown" or region.kind == "sideonly":
        return None  # "ipsilateral adenopathy": hilar (N1) or mediastinal (N2)
    return "N2" if region.kind == "med" else "N1"


def _note(region: _Region, primary_side: str | None) -> str:
    rel = _relative(region.side, primary_side)
    if rel == "unknown":
        rel = region.side
    return " ".join(w for w in (rel, region.name, "node") if w)


def _coverage(regions: list[_Region]) -> set[str]:
    """The regional areas a negative statement covers: "hil", "med", "scv", "contra"."""
    if not regions:
        return {"hil", "med", "scv"}  # "No lymphadenopathy."
    out: set[str] = set()
    for r in regions:
        out |= {"cover": {"hil", "med"}, "med": {"med"}, "sub": {"med"}, "ap": {"med"}, "hil": {"hil"},
                "n1": {"hil"}, "scv": {"scv"}, "sideonly": {"contra"}}.get(r.kind, set())
    return out


def _span_of(group: _NodeGroup, region: _Region) -> tuple[int, int]:
    """From the region to its node word ("left paratracheal lymph nodes"); the region alone when a
    long coordination lies between them."""
    start, end = min(group.node[0], region.start), max(group.node[1], region.end)
    return (start, end) if end - start <= 60 else (region.start, region.end)


def verify_n(text: str) -> Verdict:
    """The N category the node findings support (lung cancer only; see the module docstring)."""
    applicable, why = _lung_context(text)
    if not applicable:
        return Verdict(None, (), False, why)
    side, primary_fact = primary(text)
    decided: list[tuple[str, Fact]] = []
    undecided: list[Fact] = []
    unlocated: list[Fact] = []
    hedged: list[str | None] = []
    negatives: list[Fact] = []
    covered: set[str] = set()
    used_side = False
    for g in _node_groups(text):
        regional = [r for r in g.regions if r.kind != "dist"]
        if g.regions and not regional:
            continue  # axillary, abdominal: distant nodes are M's business
        if g.status == "negative":
            covered |= _coverage(regional)
            negatives.append(_fact(g.sentence, g.start, g.end, "N0", "negative regional nodes"))
            continue
        if g.status not in ("positive", "hedged"):
            continue
        located = [r for r in regional if r.kind != "cover"]
        if not located:
            if g.status == "positive":
                unlocated.append(_fact(g.sentence, g.start, g.end, None, "node without a station"))
            else:
                hedged.append(None)
            continue
        for r in located:
            cat = _n_category(r, side)
            if g.status == "hedged":
                hedged.append(cat)
                continue
            used_side = used_side or r.side in ("right", "left") or r.kind == "ap"
            fact = _fact(g.sentence, *_span_of(g, r), cat, _note(r, side))
            if cat is None:
                undecided.append(fact)
            else:
                decided.append((cat, fact))
    best = max((c for c, _ in decided), key=_N_ORDER.__getitem__, default=None)
    evidence = tuple(f for _, f in sorted(decided, key=lambda cf: -_N_ORDER[cf[0]]))
    if used_side and primary_fact is not None and evidence:
        evidence += (primary_fact,)  # the side the categories were judged against
    if best == "N3" or (best is not None and not undecided):
        value, reason = best, f"{best} is the highest of {len(decided)} positive node finding(s)"
    elif undecided:
        value, reason = None, "a positive node's side relative to the primary is unknown"
        evidence += tuple(undecided)
    elif unlocated:
        value, reason, evidence = None, "positive nodes without a stated station", tuple(unlocated)
    elif {"hil", "med"} <= covered:
        value, reason, evidence = "N0", "negative statement covering hilar and mediastinal nodes", tuple(negatives)
    else:
        value, reason = None, "no positive node and no negative statement covering the regional nodes"
    rank = _N_ORDER[value] if value else -1
    uncertain = any(c is None or _N_ORDER[c] > rank for c in hedged)
    if uncertain:
        reason += "; hedged node finding(s) could change it"
    return Verdict(value, evidence, True, reason, uncertain)


# -- distant metastases ----------------------------------------------------------------------------

_SITE = re.compile(
    r"\b(?:(?P<side>right|left|bilateral|both|contralateral|ipsilateral)" + _WS + r"(?:the" + _WS + r")?)?"
    r"(?:(?P<liver>liver|hepatic)"
    r"|(?P<adrenal>(?:adrenals?|suprarenal)(?:" + _WS + r"glands?)?)"
    r"|(?P<brain>brain|cerebral|cerebellar|cerebellum|intracranial|leptomeningeal|intra-?axial|"
    r"(?:frontal|parietal|temporal|occipital)" + _WS + r"lobes?)"
    r"|(?P<bone>osseous|bony|bones?|skeletal|skeleton|(?:osteo)?lytic|(?:osteo)?blastic|(?:osteo)?sclerotic|"
    r"vertebra[el]?(?:" + _WS + r"bod(?:y|ies))?|spine|spinal|ribs?|sternum|sternal(?!" + _WS + r"notch)|sacrum|sacral|"
    r"iliac" + _WS + r"(?:bone|wing|crest)|ilium|acetabul\w{1,4}|femurs?|femoral|femora|humerus|humeral|scapulae?|"
    r"scapular|skull|calvari\w{1,3}|clavicles?|clavicular|marrow|pelvic" + _WS + r"bones?)"
    r"|(?P<pleura>(?<!sub)pleura[le]?(?![- ]based)|pleurae)"
    r"|(?P<pericardium>pericardi(?:um|al))"
    r"|(?P<lung>lungs|lung|pulmonary(?!" + _WS + r"ligament)|(?:upper|middle|lower)" + _WS + r"lobes?|"
    r"(?<=contralateral )lobes?|(?<=ipsilateral )lobes?|"
    r"lingula\w{0,2}|RUL|RML|RLL|LUL|LLL)"
    r"|(?P<peritoneum>periton\w{1,4}|omentum|omental)"
    r"|(?P<kidney>kidneys?|(?<!supra)renal)"
    r"|(?P<spleen>spleen|splenic)"
    r"|(?P<pancreas>pancreas|pancreatic)"
    r"|(?P<soft>soft[- ]tissues?|subcutaneous|intramuscular|muscles?|skin|cutaneous)"
    r"|(?P<bowel>bowel|intestinal|small" + _WS + r"intestine|gastric|stomach|ovar(?:y|ies|ian))"
    r"|(?P<abdomen>abdomen|abdominal)"
    r"|(?P<distant>distant|extra-?thoracic|disseminated|widespread))\b",
    re.I,
)
_ORGANS = ("liver", "adrenal", "brain", "bone", "pleura", "pericardium", "lung", "peritoneum", "kidney", "spleen",
           "pancreas", "soft", "bowel", "abdomen", "distant")
_EXTRATHORACIC = ("liver", "adrenal", "brain", "bone", "peritoneum", "kidney", "spleen", "pancreas", "soft", "bowel")
_PSEUDO_SITES = ("abdomen", "distant")  # used only when no organ is named
_ORGAN_NAMES = {"soft": "soft tissue", "abdomen": "abdominal"}
_MET = re.compile(
    r"\b(?:metasta(?:sis|ses|tic|tically|si[sz]ed)|mets|(?<!calcific )(?<!calcium )(?<!fat )deposits?|secondaries|"
    r"secondary" + _WS + r"deposits?|separate" + _WS + r"tumou?r" + _WS + r"nodules?)\b",
    re.I,
)
_BENIGN = re.compile(
    r"\b(?:cysts?|cystic|ha?emangioma(?:s|ta)?|adenomas?|bone" + _WS + r"islands?|enostos[ie]s|granulomas?|"
    r"granulomatous|benign|lipid[- ]rich|myelolipomas?|degenerative|schmorl\w{0,2}|lipomas?|steatosis|fatty" + _WS
    + r"infiltration|focal" + _WS + r"fat|calcified|healed|healing" + _WS + r"fractures?)\b",
    re.I,
)
# "adenoma or metastasis", "metastasis versus haemangioma": either, so hedged.
_EITHER = re.compile(
    r"\b(?:adenoma|cyst|ha?emangioma|benign|metasta\w{2,6})\w{0,2}" + _WS + r"(?:or|versus|vs\.?)" + _WS
    + r"(?:an?" + _WS + r"|\w{1,15}" + _WS + r")?(?:adenoma|cyst|ha?emangioma|benign|metasta\w{2,6})",
    re.I,
)
# "metastatic breast cancer", "metastatic NSCLC": a diagnosis, not a site finding.
_MET_DIAGNOSIS = re.compile(
    _WS + r"(?:(?:non-?" + _SP + r"?)?small[- ]cell" + _WS + r"|[a-z]{1,15}" + _WS + r"){0,2}(?:cancer|carcinoma|"
    r"adenocarcinoma|melanoma|nsclc|sclc|malignancy|neoplasm|disease" + _WS + r"from)\b",
    re.I,
)
# "to assess for metastases", "evaluation for metastatic disease": what the exam looks for.
_MET_SEARCH = re.compile(r"\b(?:assess\w{0,4}|evaluat\w{1,5}|search(?:ing)?|screen\w{0,3}|look\w{0,3}|survey|"
                         r"work-?up|r/o)(?:" + _WS + r"(?:of|for))?" + _WS + r"(?:\w{1,15}" + _WS + r"){0,2}$", re.I)
_LESION = re.compile(r"\b(?:lesions?|nodules?|masses|mass|foci|focus|hypo(?:dens|attenuat)\w{1,6}|deposits?|"
                     r"opacit(?:y|ies)|thickening|nodularity|enhancement|uptake|abnormalit(?:y|ies))\b", re.I)
_PLURAL = re.compile(
    r"\b(?:metastases|deposits|secondaries|mets|lesions|nodules|masses|foci|hypodensities|multiple|numerous|"
    r"innumerable|several|scattered|diffuse|diffusely|widespread|many|countless|multifocal|various|two|three|four|"
    r"five|six|seven|eight|nine|ten|\d{1,2}" + _WS + r"(?:lesions|metastases|foci|nodules)|largest|bilateral|both)\b",
    re.I,
)
_SINGULAR = re.compile(r"\b(?:metastasis|deposit|lesion|nodule|mass|focus|single|solitary|isolated|an?|one)\b", re.I)
_NORMAL_PRE = re.compile(r"\b(?:normal|unremarkable)\b(?:" + _WS + r"[\w-]{1,15}){0,6}" + _WS + r"$", re.I)
_NORMAL_POST = re.compile(
    r"(?:[ \t]{0,2}:?[ \t]{0,3}(?:normal|unremarkable|no\b|nil|negative|clear|within" + _WS + r"normal" + _WS
    + r"limits)|[^.;:]{0,150}?\b(?:is|are|appears?|remains?|looks?|were|was)" + _WS + r"(?:\w{1,12}" + _WS
    + r")?(?:normal|unremarkable|clear|intact|within" + _WS + r"normal" + _WS + r"limits|negative)\b)",
    re.I,
)
_NORMAL_LIST = re.compile(r"[^.;:]{0,80}?\b(?:normal|unremarkable)\b", re.I)
# A lung site that is the primary itself: "left upper lobe mass", "mass in the right upper lobe".
_PRIMARY_AFTER = re.compile(
    r"(?:" + _WS + r"[\w-]{1,20}){0,2}?" + _WS + r"(?:primary|mass|tumou?r(?!" + _WS + r"nodule)|cancer|carcinoma|"
    r"malignancy|nsclc|adenocarcinoma|collapse|consolidation)\b", re.I)
_PRIMARY_BEFORE = re.compile(r"\b(?:mass|tumou?r(?!" + _WS + r"nodule)|primary|carcinoma|cancer)\b(?:" + _WS
                             + r"[\w-]{1,15}){0,4}" + _WS + r"$", re.I)
_PLEURAL_NODULE = re.compile(
    r"\b(?:(?:nodular|irregular)" + _WS + r"(?:pleural|pericardial)" + _WS + r"thickening|"
    r"(?<!sub)(?:pleural|pericardial)" + _WS + r"(?:nodules?|nodularity|masses|implants|deposits|tumou?r" + _WS
    + r"nodules?))\b",
    re.I,
)
_EFFUSION = re.compile(r"\b(?:(?P<where>pleural|pericardial)" + _WS + r")?effusions?\b", re.I)
_MALIGNANT = re.compile(r"\bmalignan\w{1,4}\b", re.I)
_LIVER_SEGMENT = re.compile(r"\bsegments?" + _WS + r"(?:[1-8]|i{1,3}|iv[ab]?|vi{0,3})\b", re.I)
_BONE_PARTS = (("vertebr", "spine"), ("spin", "spine"), ("rib", "rib"), ("stern", "sternum"), ("sacr", "pelvis"),
               ("ilia", "pelvis"), ("ilium", "pelvis"), ("acetab", "pelvis"), ("pelvic", "pelvis"), ("fem", "femur"),
               ("humer", "humerus"), ("scapul", "scapula"), ("skull", "skull"), ("calvar", "skull"),
               ("clavic", "clavicle"))


@dataclass(frozen=True)
class _Site:
    sentence: Sentence
    start: int
    end: int
    organ: str
    side: str | None
    status: str  # positive, negative, benign, hedged, neutral
    count: str | None  # "one", "many" or None (positive and hedged sites)
    place: str | None  # a part of the organ: bone part, liver segment
    span: tuple[int, int]  # the site and the word characterising it, when near: "hepatic metastases"


def _characterisers(sentence: str, lo: int, hi: int) -> list[tuple[int, int, str]]:
    """Metastasis and benign words in ``sentence[lo:hi]``, as (start, end, "met" / "benign")."""
    out = []
    for m in _MET.finditer(sentence, lo, hi):
        if m.group(0).lower() == "metastatic" and _MET_DIAGNOSIS.match(sentence, m.end()):
            continue  # "metastatic breast cancer"
        if _MET_SEARCH.search(sentence, max(lo, m.start() - 60), m.start()):
            continue  # "to assess for metastases"
        out.append((m.start(), m.end(), "met"))
    out.extend((m.start(), m.end(), "benign") for m in _BENIGN.finditer(sentence, lo, hi))
    return sorted(out)


_ADJECTIVE_GAP = re.compile(_SP + r"{1,3}(?:[\w-]{1,15}" + _SP + r"{1,3}){0,2}")  # "metastatic [left] adrenal"
_SITE_COORD = re.compile(r"[ \t\n,/]{0,3}(?:or|and|nor)?" + _SP + r"{0,3}")  # "hepatic or adrenal"


def _attach(sentence: str, site: tuple[int, int], chars: list[tuple[int, int, str]],
            starts: list[int]) -> tuple[tuple[int, int, str] | None, int, int]:
    """The characterising word that covers ``site`` (module docstring) and the start and end of
    the text it characterises (-1: the clause's own bound). ``starts``: the words' starts."""
    if not chars:
        return None, -1, -1
    i = bisect.bisect_left(starts, site[1])  # the first word after the site
    if i > 0:
        c = chars[i - 1]  # an adjective right before it: "metastatic adrenal nodule", "benign liver cyst"
        if c[1] <= site[0] and _ADJECTIVE_GAP.fullmatch(sentence, c[1], site[0]) and \
                (c[2] == "benign" or sentence[c[0]:c[1]].lower() == "metastatic"):
            return c, c[0], chars[i][0] if i < len(chars) else -1
    if i < len(chars):  # the next word covers the sites back to the previous word
        return chars[i], chars[i - 1][1] if i > 0 else -1, chars[i][1]
    return chars[-1], chars[-1][0], -1  # none follows: the last word covers the sites after it


def _site_status(text: str, m: re.Match[str], char: tuple[int, int, str] | None, a: int, b: int,
                 lo: int, hi: int, neg_lo: int) -> str:
    window = text[a:b]
    if _negated(text, m.start(), m.end(), neg_lo, hi) or \
            (char and _negated(text, char[0], char[1], min(neg_lo, char[0]), hi)):
        return "negative"
    if char and any(e.start() <= char[0] < e.end()
                    for e in _EITHER.finditer(text, max(lo, char[0] - 40), min(hi, char[1] + 40))):
        return "hedged"
    if char and char[2] == "met":
        return "hedged" if _HEDGE.search(window) else "positive"
    if char and char[2] == "benign":
        return "benign"
    if _LESION.search(window) and (_HEDGE.search(window) or _AVID.search(window)):
        return "hedged"  # "indeterminate adrenal nodule", "FDG-avid focus in the iliac bone"
    if _NORMAL_POST.match(text, m.end(), hi) or _NORMAL_PRE.search(text, max(lo, m.start() - 80), m.start()):
        return "negative"
    normal = _NORMAL_LIST.match(text, m.end(), hi)  # "Liver and adrenals normal."
    if normal and not _LESION.search(text, m.end(), normal.end()):
        return "negative"
    return "neutral"


def _site_side(m: re.Match[str], organ: str) -> str | None:
    side = _norm_side(m.group("side"))
    if organ == "lung":
        word = m.group("lung")
        if word.upper() in ("RUL", "RML", "RLL", "LUL", "LLL"):
            return "right" if word.upper().startswith("R") else "left"
        if word.lower().startswith("lingula"):
            return "left"
        if word.lower() == "lungs" and side is None:
            return "bilateral"
    return side


class _Spans:
    """Sorted spans with logarithmic look-ups (a hostile sentence holds thousands)."""

    def __init__(self, spans: list[tuple[int, int]]):
        self.spans = sorted(spans)
        self.starts = [a for a, _ in self.spans]

    def covers(self, pos: int) -> bool:
        i = bisect.bisect_right(self.starts, pos) - 1
        return i >= 0 and self.spans[i][0] <= pos < self.spans[i][1]

    def any_starts_in(self, lo: int, hi: int) -> bool:
        i = bisect.bisect_left(self.starts, lo)
        return i < len(self.starts) and self.starts[i] < hi


def _clause_sites(s: Sentence, lo: int, hi: int, node_spans: _Spans) -> list[_Site]:
    text = s.text
    chars = _characterisers(text, lo, hi)
    starts = [c[0] for c in chars]
    out: list[_Site] = []
    previous_end = lo
    for m in _SITE.finditer(text, lo, hi):
        if node_spans.covers(m.start()):
            continue  # "abdominal lymph nodes": a node, the node rules judge it
        organ = next(o for o in _ORGANS if m.group(o))
        if organ == "lung" and (_PRIMARY_AFTER.match(text, m.end(), hi)
                                or _PRIMARY_BEFORE.search(text, max(lo, m.start() - 80), m.start())):
            continue  # the primary itself
        side = _site_side(m, organ)
        char, a, b = _attach(text, (m.start(), m.end()), chars, starts)
        a = max(lo, a if a >= 0 else lo, m.start() - _WINDOW)
        b = min(hi if b < 0 else b, m.end() + _WINDOW)
        coordinated = bool(_SITE_COORD.fullmatch(text, previous_end, m.start()))
        neg_lo = _reach(text, lo, m.start(), coordinated=coordinated and previous_end > lo)
        status = _site_status(text, m, char, a, b, lo, hi, neg_lo)
        count = place = None
        if status in ("positive", "hedged"):
            # count words near this site: not across an earlier site ("pulmonary nodules and a liver metastasis")
            count = "many" if side == "bilateral" else _count(text, max(a, previous_end, neg_lo), b)
            if organ == "bone":
                place = next((p for k, p in _BONE_PARTS if k in m.group("bone").lower()), None)
            elif organ == "liver":
                seg = _LIVER_SEGMENT.search(text, a, b)
                place = seg.group(0).lower() if seg else None
        span = (m.start(), m.end())
        if char is not None and max(char[0] - m.end(), m.start() - char[1]) <= 120:
            span = (min(span[0], char[0]), max(span[1], char[1]))
        out.append(_Site(s, m.start(), m.end(), organ, side, status, count, place, span))
        previous_end = m.end()
    return out


def _clause_span(text: str, lo: int, hi: int, term: tuple[int, int]) -> tuple[int, int]:
    """The clause around ``term`` as evidence ("No evidence of distant metastatic disease"), or the
    term alone when the clause is long."""
    raw = text[lo:hi]
    a = lo + len(raw) - len(raw.lstrip())
    b = lo + len(raw.rstrip().rstrip("."))
    return (a, b) if b - a <= 160 and a <= term[0] and term[1] <= b else term


def _count(text: str, a: int, b: int) -> str | None:
    if _PLURAL.search(text, a, b):
        return "many"
    if _SINGULAR.search(text, a, b):
        return "one"
    return None


_THORACIC = re.compile(r"\b(?:chest|thorax|thoracic|intra-?thoracic|lungs?|pulmonary)\b", re.I)


@dataclass(frozen=True)
class _Findings:
    sites: tuple[_Site, ...]
    global_negatives: tuple[Fact, ...]  # "no distant metastases"
    m1a: tuple[Fact, ...]  # pleural nodules, malignant effusions
    m1a_hedged: int  # hedged pleural nodules, plain effusions
    unsited: tuple[Fact, ...]  # "metastatic disease" without a site
    unsited_hedged: int


@lru_cache(maxsize=64)
def _m_findings(text: str) -> _Findings:
    sites: list[_Site] = []
    negatives: list[Fact] = []
    m1a: list[Fact] = []
    unsited: list[Fact] = []
    m1a_hedged = unsited_hedged = 0
    by_sentence: dict[Span, list[tuple[int, int]]] = {}
    for g in _node_groups(text):
        by_sentence.setdefault(g.sentence.span, []).append((g.start, g.end))
    for s in _current(text):
        node_spans = _Spans(by_sentence.get(s.span, []))
        for lo, hi in _clauses(s.text):
            clause_sites = _clause_sites(s, lo, hi, node_spans)
            sites.extend(clause_sites)
            has_node = node_spans.any_starts_in(lo, hi)
            distant_negative = any(x.organ == "distant" and x.status == "negative" for x in clause_sites)
            for a, b, kind in _characterisers(s.text, lo, hi):
                if kind != "met":
                    continue
                siteless = not clause_sites and not has_node
                is_negated = _negated(s.text, a, b, lo, hi)
                if distant_negative or (siteless and is_negated and not _THORACIC.search(s.text, lo, hi)):
                    # "no distant metastases", "no evidence of nodal or distant metastatic disease",
                    # "no evidence of metastatic disease" -- not "... in the chest" (only M1a's sites)
                    negatives.append(_fact(s, *_clause_span(s.text, lo, hi, (a, b)), "M0", "no distant metastasis"))
                    break
                if siteless and not is_negated:
                    if _HEDGE.search(s.text, max(lo, a - _WINDOW), min(hi, b + _WINDOW)):
                        unsited_hedged += 1
                    else:
                        unsited.append(_fact(s, a, b, "M1", "metastasis without a site"))
            for m in _PLEURAL_NODULE.finditer(s.text, lo, hi):
                if _negated(s.text, m.start(), m.end(), lo, hi):
                    continue
                if _HEDGE.search(s.text, max(lo, m.start() - _WINDOW), min(hi, m.end() + _WINDOW)):
                    m1a_hedged += 1
                else:
                    where = m.group(0).split()[-2 if m.group(0).lower().startswith(("nodular", "irregular")) else 0]
                    m1a.append(_fact(s, m.start(), m.end(), "M1a", f"{where.lower()} nodules"))
            for m in _EFFUSION.finditer(s.text, lo, hi):
                if _negated(s.text, m.start(), m.end(), lo, hi):
                    continue
                where = (m.group("where") or "pleural").lower()
                if _MALIGNANT.search(s.text, max(lo, m.start() - 60), min(hi, m.end() + 60)):
                    m1a.append(_fact(s, m.start(), m.end(), "M1a", f"malignant {where} effusion"))
                else:
                    m1a_hedged += 1  # a plain effusion: malignant or not, imaging cannot tell
    return _Findings(tuple(sites), tuple(negatives), tuple(m1a), m1a_hedged, tuple(unsited), unsited_hedged)


def _organ_count(mentions: list[_Site]) -> str | None:
    """"many", "one" or None (not stated) for the positive mentions of one organ."""
    if any(x.count == "many" for x in mentions):
        return "many"
    sides = {x.side for x in mentions if x.side in ("right", "left")}
    if len(sides) > 1 or len({x.place for x in mentions if x.place}) > 1:
        return "many"  # left and right adrenal, rib and vertebra, two liver segments
    return "one" if any(x.count == "one" for x in mentions) else None


def _distant_nodes(text: str) -> tuple[list[Fact], int, bool]:
    """(positive distant node facts, hedged count, any plural) -- for lung staging."""
    positive: list[Fact] = []
    hedged, plural = 0, False
    for g in _node_groups(text):
        for r in g.regions:
            if r.kind != "dist":
                continue
            if g.status == "positive":
                positive.append(_fact(g.sentence, *_span_of(g, r), None, f"distant {r.name} node"))
                plural = plural or g.plural
            elif g.status == "hedged":
                hedged += 1
    return positive, hedged, plural


def verify_m(text: str) -> Verdict:
    """The M category the metastatic-site findings support (see the module docstring)."""
    lung, why = _lung_context(text)
    f = _m_findings(text)
    if not lung:
        return _verify_m_any(f, why)
    side, _ = primary(text)
    positive = [x for x in f.sites if x.status == "positive"]
    hedged = [x for x in f.sites if x.status == "hedged"]
    extra: dict[str, list[_Site]] = {}
    for x in positive:
        if x.organ in _EXTRATHORACIC or x.organ in _PSEUDO_SITES:
            extra.setdefault(x.organ, []).append(x)
    nodes, nodes_hedged, nodes_plural = _distant_nodes(text)
    counts = {o: _organ_count(v) for o, v in extra.items() if o not in _PSEUDO_SITES}
    if nodes:
        # One node described with several words ("para-aortic (retroperitoneal) ... distant nodal
        # metastasis") or restated in the impression is one lesion: separate findings sentences
        # or a plural make several.
        findings_sentences = {n.sentence for n in nodes if n.section != "impression"}
        counts["nodes"] = "many" if nodes_plural or len(findings_sentences) > 1 else "one"
    if not counts:  # "distant metastases", "metastatic disease in the abdomen": only without an organ
        counts = {o: _organ_count(v) for o, v in extra.items()}
    m1a = list(f.m1a)
    m1a_open = f.m1a_hedged + sum(x.organ in ("pleura", "pericardium", "lung") for x in hedged)
    for x in positive:
        if x.organ in ("pleura", "pericardium"):
            m1a.append(_fact(x.sentence, *x.span, "M1a", f"{x.organ} metastasis"))
        elif x.organ == "lung":
            rel = _relative(x.side, side)
            if rel in ("contralateral", "bilateral"):
                m1a.append(_fact(x.sentence, *x.span, "M1a", f"{rel} lung metastasis"))
            elif rel != "ipsilateral":
                m1a_open += 1  # unsided lung metastases: contralateral (M1a) or a T descriptor
    evidence: list[Fact] = []
    if counts:
        if len(counts) > 1 or "many" in counts.values():
            value = "M1c"
        elif "one" in counts.values():
            value = "M1b"
        else:
            value = "M1"  # the count is not stated: M1b or M1c
        for organ, mentions in extra.items():
            if organ in counts:
                name = _ORGAN_NAMES.get(organ, organ)
                evidence.extend(_fact(x.sentence, *x.span, value, f"{name} metastasis") for x in mentions)
        evidence.extend(Fact(value, n.span, n.sentence, n.section, n.kind, n.note) for n in nodes)
        reason = {"M1c": "multiple extrathoracic metastases", "M1b": "a single extrathoracic metastasis",
                  "M1": "extrathoracic metastasis, count not stated"}[value] + f" in {len(counts)} site(s)"
        evidence.extend(m1a)
    elif m1a:
        value, reason, evidence = "M1a", f"intrathoracic metastatic disease ({len(m1a)} finding(s))", m1a
    elif f.unsited:
        value, reason, evidence = "M1", "metastasis stated without a site", list(f.unsited)
    else:
        value, reason, evidence = _m0(f)
    rank = _M_ORDER[value] if value else -1
    uncertain = value == "M1"  # the subcategory is open
    hedged_extra = any(x.organ in _EXTRATHORACIC for x in hedged) or nodes_hedged or f.unsited_hedged
    if hedged_extra and rank < _M_ORDER["M1c"]:
        uncertain = True  # a hedged metastasis could make it M1b, or M1c beside another
    if m1a_open and rank < _M_ORDER["M1a"]:
        uncertain = True  # a plain effusion, hedged pleural nodules, unsided lung metastases
    if uncertain:
        reason += "; hedged or open findings could change it"
    return Verdict(value, tuple(evidence), True, reason, uncertain)


def _m0(f: _Findings) -> tuple[str | None, str, list[Fact]]:
    """M0 from an explicit negative, or from a negative liver and adrenals (module docstring)."""
    if f.global_negatives:
        return "M0", "explicit negative for distant metastases", list(f.global_negatives)
    clear: dict[str, _Site] = {}
    for x in f.sites:
        if x.status in ("negative", "benign"):
            clear.setdefault(x.organ, x)
    if "abdomen" in clear and clear["abdomen"].status == "negative":  # "no metastases in the abdomen"
        clear.setdefault("liver", clear["abdomen"])
        clear.setdefault("adrenal", clear["abdomen"])
    if "liver" in clear and "adrenal" in clear:
        facts = [_fact(x.sentence, *x.span, "M0", f"{organ} {x.status}")
                 for organ, x in (("liver", clear["liver"]), ("adrenal", clear["adrenal"]))]
        return "M0", "liver and adrenals negative or benign, no positive site", facts
    return None, "no positive site and no negative statement covering distant sites", []


def _verify_m_any(f: _Findings, why: str) -> Verdict:
    """Not lung cancer: M1 for a clearly stated distant metastasis, M0 for an explicit negative."""
    positive = [x for x in f.sites if x.status == "positive" and x.organ != "abdomen"]
    hedged = f.unsited_hedged > 0 or any(x.status == "hedged" for x in f.sites)
    if positive:
        facts = tuple(_fact(x.sentence, *x.span, "M1", f"{_ORGAN_NAMES.get(x.organ, x.organ)} metastasis")
                      for x in positive)
        return Verdict("M1", facts, True, f"distant metastasis stated; {why}")
    if f.unsited:
        return Verdict("M1", f.unsited, True, f"metastasis stated without a site; {why}")
    if f.global_negatives:
        return Verdict("M0", f.global_negatives, True, f"explicit negative for distant metastases; {why}", hedged)
    return Verdict(None, (), False, why, hedged)
