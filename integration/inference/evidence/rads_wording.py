"""RADS categories a report determines in words rather than codes.

Many reports never write "BI-RADS 5" but say what category 5 *is*: "irregular spiculated mass,
highly suggestive of malignancy" is the ACR BI-RADS definition of category 5, word for word.
:mod:`.rads` reads written codes; this module reads the lexicons' own defining words, and a few
deterministic criteria, inside the one examination each lexicon is for.

``rads_exam(text)`` names the system whose examination the report is (a mammogram is a BI-RADS
exam, a coronary CTA a CAD-RADS exam) with the sentence that says so; ``derived_rads(text)``
returns the category the report's wording determines in that exam, or None. A miss costs only a
fall back to the model; a false fact overrides it -- so every rule below is narrow on purpose.

Sources (the words each category is defined by)
-----------------------------------------------
* BI-RADS: ACR BI-RADS Atlas, 5th ed. (D'Orsi et al., ACR 2013), assessment categories: 0
  "Incomplete -- need additional imaging evaluation and/or prior mammograms for comparison",
  1 "Negative", 2 "Benign", 3 "Probably benign", 4 "Suspicious" (4A "low suspicion for
  malignancy", 4B "moderate suspicion", 4C "high suspicion"), 5 "Highly suggestive of
  malignancy", 6 "Known biopsy-proven malignancy"; the overall assessment follows the most
  worrisome finding (1 < 2 < 3 < 6 < 0 < 4 < 4A < 4B < 4C < 5, :func:`.rads.severity`).
* LI-RADS CT/MRI v2018 (ACR 2018): LR-1 "definitely benign", LR-2 "probably benign", LR-3
  "intermediate probability of malignancy", LR-4 "probably HCC", LR-5 "definitely HCC", LR-M
  "probably or definitely malignant, not HCC specific", LR-TIV "tumor in vein".
* ACR TI-RADS (Tessler et al., JACR 2017;14:587-595): TR1 "benign" 0 points, TR2 "not
  suspicious" 2, TR3 "mildly suspicious" 3, TR4 "moderately suspicious" 4-6, TR5 "highly
  suspicious" >= 7; points per feature category (composition, echogenicity, shape, margin,
  echogenic foci; a spongiform nodule takes no further points).
* Lung-RADS v2022 (ACR 2022): 0 "incomplete", 1 "negative", 2 "benign appearance or behavior",
  3 "probably benign", 4A "suspicious", 4B "very suspicious".
* PI-RADS v2.1 (Turkbey et al., Eur Urol 2019;76:340-351): 1 very low (clinically significant
  cancer highly unlikely), 2 low (unlikely), 3 intermediate (equivocal), 4 high (likely),
  5 very high (highly likely).
* O-RADS US v2022 (ACR; Andreotti et al., Radiology 2020;294:168-185): 2 "almost certainly
  benign", 3 "low risk", 4 "intermediate risk", 5 "high risk" of malignancy.
* CAD-RADS 2.0 (Cury et al., J Cardiovasc Comput Tomogr 2022;16:536-557), maximal stenosis:
  0 none (no plaque or stenosis), 1 minimal 1-24% (or plaque without stenosis), 2 mild 25-49%,
  3 moderate 50-69%, 4A severe 70-99%, 4B left main >50% or three-vessel obstructive (>=70%)
  disease, 5 total occlusion (100%).
* NI-RADS (Aiken et al., JACR 2018;15:1097-1108): 1 "no evidence of recurrence", 3 "high
  suspicion" of recurrence, 4 "definite recurrence".
* VI-RADS (Panebianco et al., Eur Urol 2018;74:294-306): muscle invasion 1 highly unlikely,
  2 unlikely, 3 equivocal, 4 likely, 5 very likely (tumour extending into extravesical fat).

Where the words count
---------------------
* Only inside the matching exam (:func:`rads_exam`): "probably benign" is BI-RADS 3 on a
  mammogram, LR-2 on a cirrhotic liver MRI, Lung-RADS 3 on a screening CT, nothing on a chest CT.
* Only sentences about this examination: impression (assessment, conclusion) first; else the
  findings, recommendation or header-less body. History, comparison and technique never count.
* Several statements in the chosen sections: the most severe (:func:`.rads.severity`; for
  BI-RADS that is the ACR overall hierarchy above).
* Not when the report writes a category code (:func:`.rads.stated_rads`): that statement wins.
* Not negated ("no suspicious mass", "not suspicious" -- except where the negative words are the
  category's own: TI-RADS "not suspicious", CAD-RADS "no plaque or stenosis", NI-RADS "no
  evidence of recurrence"), not prior ("previously probably benign, now suspicious" reads only
  "suspicious"; "history of benign biopsy"), not hypothetical ("if enlarging, suspicious"), not
  hedged ("likely benign", "benign versus malignant", "suspicious mass cannot be excluded";
  "cannot exclude malignancy" is none of the defining words).

Decisions
---------
* BI-RADS 1 needs a whole-study statement: a sentence that *is* "Negative." / "Negative bilateral
  screening mammogram." / "The mammogram is negative." "No suspicious mass, calcifications or
  distortion" is not category 1 (a benign finding may still be reported: category 2), and
  "otherwise negative" implies a finding.
* Modified "suspicious" is not read where the lexicon does not define the modifier: BI-RADS
  "highly suspicious" lies between 4C and 5, "mildly suspicious" is no ACR category -- neither
  gives a fact (and neither lets plain "suspicious" be read inside it).
* TI-RADS level words count only in a sentence about a nodule and not about a lymph node; "benign"
  not next to biopsy / cytology words (a Bethesda II result is not a TR1 level).
* TI-RADS points: a stated total ("TI-RADS points: 5", "total score 4", "2+2+0+0+0 = 4") or a bare
  "5 points" that is not a per-feature score ("solid (2 points)", "Echogenicity: hypoechoic,
  2 points"). A total of 1 point is not in the ACR chart (TR1 is 0 points, TR2 2 points): no fact.
* TI-RADS features: only the labelled form ("Composition: solid / Echogenicity: hypoechoic /
  Shape: ... / Margin: ... / Echogenic foci: ..."), each label exactly once in the report's
  current sections (one nodule), every value recognised.
* CAD-RADS: a stated percentage (or range within one bin, "<25%", ">70%") next to stenosis /
  narrowing / occlusion words; a grade word ("moderate stenosis"), whose stated percentage decides
  when both are given ("moderate (70%)" -> 4A). CAD-RADS writes "left main >50%"; its own bins
  start at 50, so a left-main stenosis of 50% or more ("moderate" or worse) is read as 4B. >= 70%
  in each of the LAD, LCx and RCA territories -> 4B. "No plaque or stenosis" and "no coronary
  artery disease" only when no vessel is named in the sentence. Valve and non-coronary arterial
  stenoses ("aortic valve: mild stenosis") are not read.
* Descriptor words -- BI-RADS "benign" / "benign-appearing", TI-RADS "benign", Lung-RADS "benign
  appearance" -- describe one finding; they are the study's assessment only in the impression,
  or in a report that has no impression.
* Assessment and management must agree (ACR): when the report recommends a biopsy / FNA /
  tissue sampling (not negated, not "post-biopsy", not "if ..."), a category below BI-RADS 4,
  TI-RADS TR3, Lung-RADS 4A or PI-RADS 3 is not its assessment -- no fact.
* Words about another organ or process are not read: "suspicious for abscess / pneumonia"
  (suspicious of something other than malignancy); Lung-RADS words about a thyroid, adrenal or
  lymph node finding on the screening CT; LI-RADS "probably / definitely benign" about a renal
  cyst or a bone island; TI-RADS levels of a lymph node.

Skipped, on purpose
-------------------
* LI-RADS criteria (size + nonrim APHE + washout / capsule / threshold growth): LR-M features,
  ancillary features and tie-breaking adjust the table, and reports describe several
  observations in free order; a partial reading would produce confident wrong categories.
* C-RADS: its category words ("intermediate polyp or indeterminate finding", "polyp, possibly
  advanced adenoma") are descriptions, not wording a report uses to assign the category.
* NI-RADS 2a / 2b ("low suspicion", split by superficial vs deep site) and Lung-RADS 4X.
* O-RADS 0 / 1 ("incomplete", "normal ovary") and BI-RADS / O-RADS percentages of malignancy risk.

Known limitations
-----------------
* Words are read, not findings: a finding described without category words does not count, so
  the most severe *worded* statement wins even if an unworded finding is worse (the biopsy
  concordance check catches the commonest case).
* Negation scope runs over commas ("No masses, calcifications, or suspicious areas" is one
  negated list), so "No skin thickening, suspicious mass at 2 o'clock" is missed.
* The exam is read from one sentence (the first naming a modality); a report that names its exam
  only in the indication is read from there, one that names none gives no exam.
* NI-RADS scores the primary site and the neck separately; "no evidence of recurrence" at one
  site with the other site undescribed in category words reads 1. The CAD-RADS 4B aggregate uses
  the statements of the chosen section only (impression first).
* A hypothetical opening far back in a very long sentence ("If ..., ..., suspicious") is outside
  the fixed look-back window.

All patterns are bounded (no unbounded quantifier over free text) and every context check reads
a fixed window around its match: linear on hostile input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

from integration.inference.evidence import Fact
from integration.inference.evidence.rads import (  # .rads's reader: mid-line headers too
    _located_sentences,
    severity,
    stated_rads,
)
from integration.inference.evidence.text import Sentence, Span

__all__ = ["derived_rads", "rads_exam"]

_D = "\\-\u2010\u2011\u2012\u2013\u2014"  # hyphen and dashes
_SEP = rf"[\s{_D}]{{1,3}}"  # between the words of a phrase: "biopsy-proven", "tumor in vein"
_START = rf"(?<![a-z0-9{_D}/])"  # a word start, not inside "non-suspicious" or "and/or"
_STOP = r"(?![a-z0-9])"


def _p(phrase: str) -> str:
    """A phrase as a pattern: each space matches one to three spaces or hyphens."""
    return phrase.replace(" ", _SEP)


def _words(*alternatives: str) -> re.Pattern[str]:
    """Whole-word phrases; the group ``w`` is the words the fact's span covers."""
    return re.compile(rf"{_START}(?P<w>{'|'.join(_p(a) for a in alternatives)}){_STOP}", re.IGNORECASE)


# -- context: is a statement about this examination, asserted, now? -------------------------------

_WINDOW = 100  # characters read on either side of a match
_NEAR = 120  # reach of a rule's "near" / "not near" words

# A clause ends at ; : . and at contrast words; "now" starts the current half of "previously X,
# now Y". Commas do not end a clause: "No masses, calcifications, or suspicious areas" is one
# negated list.
_CLAUSE_END = re.compile(
    r"[;:.]|(?<![a-z])(?:but|however|although|though|whereas|while|except|now|currently|which)(?![a-z])",
    re.IGNORECASE)
_NEG_BEFORE = re.compile(
    r"(?<![a-z])(?:no|not|without|nor|neither|never|negative\s{1,3}for|free\s{1,3}of|absence\s{1,3}of|absent|"
    r"rather\s{1,3}than|instead\s{1,3}of|rules?\s{1,3}out|ruled\s{1,3}out|exclude[sd]?|denies)(?![a-z])",
    re.IGNORECASE)
# Words that look like negations but negate something else: "no change in the suspicious mass".
_PSEUDO_NEG = re.compile(
    r"(?<![a-z])(?:no\s{1,3}(?:significant\s{1,3}|interval\s{1,3})?change|not\s{1,3}only|"
    r"no\s{1,3}(?:increase|decrease)|without\s{1,3}(?:interval\s{1,3})?change)(?![a-z])", re.IGNORECASE)
_NEG_AFTER = re.compile(
    r"^[^,;.]{0,40}?(?<![a-z])(?:(?:is|are|was|were)\s{1,3}(?:not|no\s{1,3}longer)\s{1,3}(?:seen|identified|present|"
    r"demonstrated|visuali[sz]ed|evident|appreciated|detected)|not\s{1,3}(?:seen|identified|present|demonstrated|"
    r"detected)|(?:has|have)\s{1,3}resolved|ruled\s{1,3}out|excluded)(?![a-z])",
    re.IGNORECASE)

# A prior statement: a prior word followed only by link words ("previously assessed as probably
# benign", "upgraded from probably benign", "history of benign biopsy"); anything else breaks the
# link, so "changed from probably benign to suspicious" keeps "suspicious", and so does a comma:
# "compared to prior, the probably benign mass is stable" is current.
_LINK = (r"(?:a|an|the|been|be|being|was|were|is|as|assessed|characteri[sz]ed|categori[sz]ed|described|reported|"
         r"considered|felt|thought|deemed|called|classified|read|interpreted|to|of|seen|noted|known|this|that)")
_PRIOR_BEFORE = re.compile(
    r"(?<![a-z])(?:previously|previous|prior|formerly|originally|initially|earlier|historically|history\s{1,3}of|"
    r"hx\s{1,3}of|status\s{1,3}post|s/p|follow[\s\-]?up\s{1,3}of|f/u\s{1,3}of|from)[\s(:]{1,3}"
    rf"(?:{_LINK}[\s(:]{{1,3}}){{0,4}}$",
    re.IGNORECASE)
_PRIOR_AFTER = re.compile(
    r"^[\s,)]{0,3}(?:(?:was|were|mass|lesion|finding|findings|calcifications?|nodule|observation)\s{1,3}){0,2}"
    r"(?:(?:on|at|in|from|per)\s{1,3}(?:(?:the|her|his)\s{1,3})?(?:prior|previous|last|earlier|preceding|outside|"
    r"initial|original|old|index)(?![a-z])|previously(?![a-z])|in\s{1,3}the\s{1,3}past|at\s{1,3}that\s{1,3}time|"
    r"(?:in|on|from|dated)\s{1,3}(?:[a-z]{3,9}\.?\s{1,3})?(?:\d{1,2}/\d{1,2}/)?(?:19|20)\d\d|"
    r"(?:[a-z0-9]{1,10}\s{1,3})?(?:days?|weeks?|months?|years?)\s{1,3}ago)",
    re.IGNORECASE)
_CONDITION = re.compile(r"(?<![a-z])(?:if|unless|whether|would|should)(?![a-z])", re.IGNORECASE)
_CONDITION_AFTER = re.compile(r"^[\s,]{0,3}(?:if|unless)(?![a-z])", re.IGNORECASE)
# A hedge governing the statement ("likely benign", "possibly suspicious", "may represent a
# suspicious ..."): the hedge followed only by link words -- so "probably benign, now suspicious" and
# "from probably benign to suspicious" do not hedge "suspicious" -- or an alternative right before
# or after it ("benign versus malignant").
_HEDGE_BEFORE = re.compile(
    r"(?<![a-z])(?:possibl[ey]|probabl[ey]|questionabl[ey]|may|might|could|perhaps|presum\w{0,4}|likely|"
    r"favou?r\w{0,3}|suggest\w{0,4}|concerning|worrisome|equivocal|indeterminate|borderline|cannot\s{1,3}exclude)"
    r"\s{1,3}(?:(?:to|be|been|being|represent\w{0,2}|reflect\w{0,2}|a|an|the|is|are|considered|felt|thought)"
    r"\s{1,3}){0,3}$",
    re.IGNORECASE)
_ALTERNATIVE_BEFORE = re.compile(r"(?<![a-z])(?:or|versus|vs\.?|between|and/or)\s{1,3}$", re.IGNORECASE)
_HEDGE_AFTER = re.compile(
    r"^[\s,]{0,3}(?:(?:mass|lesion|finding|findings|nodule|abnormality)\s{1,3})?(?:(?:is|are)\s{1,3})?"
    r"(?:can\s?not\s{1,3}be\s{1,3}(?:excluded|ruled\s{1,3}out)|not\s{1,3}(?:excluded|ruled\s{1,3}out)|"
    r"(?:or|versus|vs\.?)\s{1,3}(?:malignant|benign|suspicious|probably|indeterminate))",
    re.IGNORECASE)


def _clause_before(before: str) -> str:
    start = 0
    for m in _CLAUSE_END.finditer(before):
        start = m.end()
    return before[start:]


def _negated(sentence: str, start: int, end: int) -> bool:
    """A negation trigger in the statement's clause, at most twelve words before it, or a denial
    right after it ("is not seen")."""
    clause = _PSEUDO_NEG.sub(" ", _clause_before(sentence[max(0, start - _WINDOW):start]))
    if _NEG_BEFORE.search(" ".join(clause.split()[-12:])):
        return True
    return bool(_NEG_AFTER.match(sentence[end:end + _WINDOW]))


def _prior(sentence: str, start: int, end: int) -> bool:
    before = sentence[max(0, start - _WINDOW):start]
    return bool(_PRIOR_BEFORE.search(before) or _PRIOR_AFTER.match(sentence[end:end + _WINDOW]))


def _hypothetical(sentence: str, start: int, end: int) -> bool:
    clause = _clause_before(sentence[max(0, start - _WINDOW):start])
    return bool(_CONDITION.search(clause) or _CONDITION_AFTER.match(sentence[end:end + 20]))


def _hedged(sentence: str, start: int, end: int) -> bool:
    phrase = re.split(r"[;:.]", sentence[max(0, start - 60):start])[-1]
    return bool(_HEDGE_BEFORE.search(phrase) or _ALTERNATIVE_BEFORE.search(phrase)
                or _HEDGE_AFTER.match(sentence[end:end + 60]))


# -- which exam is this? ---------------------------------------------------------------------------

_US = r"(?:ultrasound|ultrasonograph\w{0,2}|sonograph\w{0,2}|sonogram|us|tvus|duplex)"
_MR = r"(?:mri|mr|mpmri|bpmri|mp-mri|bp-mri|magnetic\s{1,3}resonance(?:\s{1,3}imaging)?)"
_CT = r"(?:(?<![a-z])ct|computed\s{1,3}tomograph\w{0,2}|cat\s{1,3}scan)"
_PET = r"(?:pet/ct|pet-ct|pet\s{1,3}ct|pet|fdg)"


def _near(a: str, b: str, gap: int = 40) -> str:
    """``a`` and ``b`` in either order, at most ``gap`` characters apart, no sentence break between."""
    return (rf"(?:{_START}{a}{_STOP}[^.;\n]{{0,{gap}}}?{_START}{b}{_STOP}"
            rf"|{_START}{b}{_STOP}[^.;\n]{{0,{gap}}}?{_START}{a}{_STOP})")


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# Any imaging modality: the first sentence naming one (not as a prior or a recommendation) is the
# exam sentence. "US" and "MR" only in capitals: "us" is a pronoun, "Mr" a title.
_MODALITY = _rx(
    rf"{_START}(?:mammo\w{{0,7}}|tomosynthes\w{{0,3}}|(?-i:DBT|US|MR|MRA|CTA|PET)|ultrasound\w{{0,3}}|"
    r"ultrasonograph\w{0,2}|sonogra\w{0,6}|ct|ccta|ldct|tvus|computed\s{1,3}tomograph\w{0,2}|mri|mp-?mri|bp-?mri|"
    r"magnetic\s{1,3}resonance|pet/ct|pet-ct|radiograph\w{0,3}|x-?rays?|(?-i:XR)|colonograph\w{0,2}|"
    r"virtual\s{1,3}colonoscop\w{0,2}|angiogra\w{0,5}|"
    rf"cc\s{{1,3}}and\s{{1,3}}mlo|craniocaudal){_STOP}")
# A modality named as another exam: a prior, a comparison, a recommendation.
_ELSEWHERE_BEFORE = _rx(r"(?<![a-z])(?:prior|previous(?:ly)?|comparison|compared|recommend\w{0,4}|suggest\w{0,4}|"
                        r"consider\w{0,4}|correlat\w{0,5}|advis\w{0,4}|outside|seen\s{1,3}on|noted\s{1,3}on)(?![a-z])")
_ELSEWHERE_AFTER = _rx(r"^\s{0,3}(?:from|dated|of\s{1,3}\d|on\s{1,3}\d|in\s{1,3}(?:19|20)\d\d|\(\s{0,2}\d)")


def _elsewhere(sentence: str, start: int, end: int) -> bool:
    phrase = re.split(r"[,;.]", sentence[max(0, start - 60):start])[-1]
    return bool(_ELSEWHERE_BEFORE.search(phrase) or _ELSEWHERE_AFTER.match(sentence[end:end + 20]))


@dataclass(frozen=True)
class _Exam:
    """One way a report is a system's exam: the exam sentence matches ``pattern`` (and not
    ``unless``), and the report's current or history sentences hold every ``context``, unnegated."""

    system: str
    pattern: re.Pattern[str]
    note: str
    context: tuple[re.Pattern[str], ...] = ()
    unless: re.Pattern[str] | None = None


_BREAST = r"breasts?"
_AT_RISK_LIVER = _rx(r"cirrho\w{0,6}|hepatocellular\s{1,3}carcinoma|(?<![a-z])hcc(?![a-z])|chronic\s{1,3}hepatitis|"
                     r"hepatitis\s{1,3}[bc](?![a-z])|(?<![a-z])(?:hbv|hcv)(?![a-z])|li[\s\-]?rads|"
                     r"(?<![a-z])observations?(?![a-z])")
_HEAD_NECK_CANCER = _rx(
    r"(?:head\s{1,3}and\s{1,3}neck|oropharyn\w{0,5}|laryn\w{0,5}|hypopharyn\w{0,5}|nasopharyn\w{0,5}|"
    r"oral\s{1,3}cavity|tongue|tonsil\w{0,5}|glottic|supraglottic|sinonasal|parotid)[^.;\n]{0,40}?"
    r"(?:cancer|carcinoma|scc|malignan\w{0,4}|tumou?r)|(?<![a-z])(?:hnscc|scchn)(?![a-z])")
_POST_TREATMENT = _rx(r"post[\s\-]?treatment|post[\s\-]?(?:chemo)?radiation|chemoradiation|chemoradiotherapy|"
                      r"radiotherapy|radiation\s{1,3}therapy|status\s{1,3}post|s/p|resection|surveillance|"
                      r"(?<![a-z])treated")

_ADNEXAL_LESION = _rx(
    r"(?:ovar\w{0,4}|adnex\w{0,3}|paraovarian)[^.;\n]{0,40}?(?:cyst|mass|lesion|neoplasm|tumou?r)|"
    r"(?:cyst|mass|lesion)[^.;\n]{0,40}?(?:ovar\w{0,4}|adnex\w{0,3})|endometrioma|dermoid|teratoma")

_EXAMS: tuple[_Exam, ...] = (
    _Exam("C-RADS", _rx(rf"{_START}(?:ct\s{{1,3}}colonograph\w{{0,2}}|virtual\s{{1,3}}colonoscop\w{{0,2}}|"
                        rf"(?-i:CTC)){_STOP}"),
          "CT colonography"),
    _Exam("CAD-RADS", _rx(
        rf"{_START}(?:coronary\s{{1,3}}(?:ct|computed\s{{1,3}}tomograph\w{{0,2}})\s{{1,3}}angiogra\w{{0,5}}|"
        rf"coronary\s{{1,3}}cta|ccta|cta\s{{1,3}}(?:of\s{{1,3}}the\s{{1,3}})?coronar\w{{0,7}}|"
        rf"cardiac\s{{1,3}}cta){_STOP}|"
        + _near(_CT, r"(?:coronary|cardiac)\s{1,3}angiogra\w{0,5}")),
        "coronary CT angiography"),
    _Exam("Lung-RADS", _rx(_near(_CT, r"low[\s\-]{0,2}dose", 30)
                           + rf"|{_START}(?:ldct|lung\s{{1,3}}(?:cancer\s{{1,3}})?screening){_STOP}"),
          "low-dose CT for lung cancer screening", context=(_rx(r"screening"),)),
    _Exam("BI-RADS", _rx(
        rf"{_START}(?:mammo(?:gram|graphy|graphic)?s?|tomosynthesis|(?-i:DBT)|"
        rf"cc\s{{1,3}}and\s{{1,3}}mlo|craniocaudal\s{{1,3}}and\s{{1,3}}mediolateral){_STOP}|"
        + _near(rf"(?:{_US}|{_MR})", _BREAST)),
        "mammogram, breast tomosynthesis, ultrasound or MRI"),
    _Exam("TI-RADS", _rx(_near(_US, r"thyroid")), "thyroid ultrasound with a nodule",
          context=(_rx(r"nodul\w{0,3}"),)),
    _Exam("PI-RADS", _rx(_near(_MR, r"prostat\w{0,5}")), "prostate MRI"),
    _Exam("PI-RADS", _rx(_near(_MR, r"pelvi[cs]")), "pelvic MRI for a raised PSA or prostate cancer",
          context=(_rx(r"(?<![a-z])psa(?![a-z])|prostat\w{0,5}"),)),
    _Exam("VI-RADS", _rx(_near(_MR, r"(?:bladder|pelvi[cs])")), "bladder MRI for bladder cancer",
          context=(_rx(r"bladder\s{1,3}(?:cancer|carcinoma|tumou?r|mass|neoplasm|lesion)|urothelial\s{1,3}"
                       r"(?:carcinoma|cancer)|(?<![a-z])turbt(?![a-z])"),)),
    _Exam("O-RADS", _rx(_near(_US, r"(?:pelvi[cs]|transvaginal|endovaginal|ovar\w{0,4}|adnex\w{0,3}|gyn\w{0,9})")),
          "pelvic / adnexal ultrasound with an adnexal lesion",
          context=(_ADNEXAL_LESION,)),
    _Exam("NI-RADS", _rx(_near(rf"(?:{_CT}|{_MR}|{_PET})", r"(?:neck|head\s{1,3}and\s{1,3}neck)")),
          "post-treatment head and neck cancer surveillance", context=(_HEAD_NECK_CANCER, _POST_TREATMENT)),
    _Exam("LI-RADS", _rx(_near(rf"(?:{_CT}|{_MR})", r"(?:liver|hepatic|hepatobiliary|abdomen|abdominal)")),
          "liver CT/MRI in an at-risk (cirrhosis / HCC) context", context=(_AT_RISK_LIVER,),
          unless=_rx(r"chest|thora\w{1,4}|cardiac|colonograph")),
    _Exam("LI-RADS", _rx(rf"{_START}(?:multiphas\w{{0,3}}|triphasic|liver\s{{1,3}}protocol|gadoxetate|eovist|primovist)"
                         rf"{_STOP}"),
          "liver-protocol imaging in an at-risk (cirrhosis / HCC) context", context=(_AT_RISK_LIVER,),
          unless=_rx(r"chest|thora\w{1,4}|cardiac|colonograph")),
)

# Where the exam is named: its own header or the title first, then findings / impression, and the
# indication only when nothing else names a modality.
_EXAM_SECTION_ORDER = (("technique", "body"), ("findings", "impression"), ("history",))
_CONTEXT_SECTIONS = ("history", "technique", "body", "findings", "impression")


@lru_cache(maxsize=64)
def _located(text: str) -> tuple[tuple[Sentence, str], ...]:
    return tuple(_located_sentences(text))


def _exam_sentence(located: tuple[tuple[Sentence, str], ...]) -> tuple[Sentence, str] | None:
    for sections in _EXAM_SECTION_ORDER:
        for sentence, section in located:
            if section not in sections:
                continue
            for i, m in enumerate(_MODALITY.finditer(sentence.text)):
                if i >= 8:
                    break  # a sentence listing modalities over and over names no exam
                if not _elsewhere(sentence.text, m.start(), m.end()):
                    return sentence, section
    return None


def _has_context(pattern: re.Pattern[str], located: tuple[tuple[Sentence, str], ...]) -> Span | None:
    for sentence, section in located:
        if section not in _CONTEXT_SECTIONS:
            continue
        for i, m in enumerate(pattern.finditer(sentence.text)):
            if i >= 8:
                break
            if not _negated(sentence.text, m.start(), m.end()):
                return Span(sentence.span.start + m.start(), sentence.span.start + m.end())
    return None


@lru_cache(maxsize=64)
def _exam(text: str) -> tuple[str, Fact] | None:
    located = _located(text)
    found = _exam_sentence(located)
    if found is None:
        return None
    sentence, section = found
    matches: dict[str, Fact] = {}
    for exam in _EXAMS:
        if exam.system in matches or (exam.unless and exam.unless.search(sentence.text)):
            continue
        m = next((m for m in exam.pattern.finditer(sentence.text)
                  if not _elsewhere(sentence.text, m.start(), m.end())), None)
        if m is None:
            continue
        contexts = [_has_context(c, located) for c in exam.context]
        if not all(contexts):
            continue
        span = Span(sentence.span.start + m.start(), sentence.span.start + m.end())
        matches[exam.system] = Fact(exam.system, span, sentence.span, section, kind="exam", note=exam.note,
                                    extra={"context": contexts})
    if len(matches) != 1:
        return None  # no RADS exam, or two (a pelvic MRI with both PSA and bladder cancer): unsure
    return next(iter(matches.items()))


def rads_exam(text: str) -> tuple[str, Fact] | None:
    """The RADS system whose exam this report is, with the sentence that says so, or None.

    Mammogram / breast tomosynthesis / breast ultrasound / breast MRI -> BI-RADS; liver CT/MRI
    with cirrhosis / HCC / hepatitis / "observation" in the report -> LI-RADS; thyroid ultrasound
    with a nodule -> TI-RADS; low-dose CT with "screening" -> Lung-RADS; prostate MRI (or pelvic MRI
    for PSA / prostate) -> PI-RADS; pelvic / transvaginal ultrasound with an adnexal lesion ->
    O-RADS; coronary CTA -> CAD-RADS; neck CT/MRI/PET after head-and-neck cancer treatment ->
    NI-RADS; bladder / pelvic MRI for bladder cancer -> VI-RADS; CT colonography -> C-RADS.

    The exam is read from one sentence: the first that names a modality (not as a prior, a
    comparison or a recommendation), searched in the exam / technique header and the title, then
    findings / impression, then the indication. So a chest CT that mentions the liver, or a
    breast mass on a chest CT with "recommend mammogram", is no RADS exam. Two systems matching
    the same sentence -> None. ``Fact.value`` is the system, ``span`` the exam words, ``kind``
    "exam", ``note`` the rule; ``extra["context"]`` the spans of the context words it needed.
    """
    if not text or not text.strip():
        return None
    return _exam(text)


# -- wording rules ---------------------------------------------------------------------------------

Category = str | Callable[[re.Match[str]], str | None] | None


@dataclass(frozen=True)
class _Rule:
    """Words that determine a category. ``category`` None marks a blocker: words the lexicon
    does not define ("highly suspicious" for BI-RADS) that a shorter rule must not read."""

    category: Category
    pattern: re.Pattern[str]
    note: str
    kind: str = "wording"
    negatable: bool = True  # False where negative words are the category ("not suspicious")
    hedgeable: bool = True  # False where the words carry their own hedge ("probably benign")
    near: re.Pattern[str] | None = None  # must be within _NEAR characters
    not_near: re.Pattern[str] | None = None  # must not be within _NEAR characters
    accept: Callable[[str, int, int], bool] | None = None  # a last check on (sentence, start, end)
    extra: Callable[[re.Match[str], str, int, int], dict[str, Any]] | None = None
    # Only in the impression when the report has one: "benign-appearing calcifications" in the
    # findings describes one finding, not the study's assessment.
    assessment_only: bool = False


def _blocker(*alternatives: str) -> _Rule:
    return _Rule(None, _words(*alternatives), "not a lexicon category")


def _group(m: re.Match[str], *names: str) -> str | None:
    """The first of ``names`` that took part in the match: alternatives of one pattern cannot share
    a group name, so each names its own ("n" / "n2")."""
    for name in names:
        if name in m.re.groupindex and m.group(name) is not None:
            return m.group(name)
    return None


def _by_word(mapping: dict[str, str], *names: str) -> Callable[[re.Match[str]], str | None]:
    """The category named by the group ``q`` (or the first of ``names`` present): "highly
    unlikely" -> "1", spacing ignored."""
    def category(m: re.Match[str]) -> str | None:
        word = _group(m, *(names or ("q",)))
        return mapping.get(" ".join(re.split(_SEP, word.lower()))) if word else None
    return category


# A whole-study statement: the sentence is the assessment ("Negative.", "Negative bilateral
# screening mammogram.", "Final assessment: incomplete", "The mammogram is negative.").
_BULLET = r"(?:[\-*\u2022]\s{1,3}|\(?\d{1,2}[.)]\s{1,3})?"
_LEAD = (rf"^{_BULLET}"
         r"(?:(?:acr\s{1,3})?(?:bi|lung)[\s\-]?rads\s{1,3})?(?:(?:final|overall)\s{1,3})?"
         r"(?:(?:assessment|category|impression|result|conclusion)\s{0,3}[:\-\u2013]\s{0,3})?")
_STUDY = (r"(?:bilateral|unilateral|digital|screening|diagnostic|3d|2d|mammogram|mammography|mammographic|study|exam|"
          r"examination|evaluation|ultrasound|sonogram|mri|mr|with|and|tomosynthesis|dbt|synthesized|low[\s\-]dose|"
          r"ldct|ct|chest|lung|cancer|breast|breasts|left|right)")
_STUDY_NOUN = re.compile(r"(?<![a-z])(?:mammo\w{0,7}|study|exam\w{0,7}|evaluation|ultrasound|sonogram|mri|mr|"
                         r"tomosynthesis|dbt|screening|ldct|ct)(?![a-z])", re.IGNORECASE)
_ASSESSMENT_WORDS = re.compile(r"(?i)negative|incomplete|assessment|final|overall|category|impression|result|"
                               r"conclusion|bi[\s\-]?rads|lung[\s\-]?rads|acr|[\W\d_]")
_FOR_NOTHING = r"(?:\s{1,3}for\s{1,3}(?:malignancy|cancer|lung\s{1,3}cancer|(?:lung\s{1,3}|pulmonary\s{1,3})?nodules))?"
_WHOLE_STUDY_END = r"\s{0,3}(?:[.;,:\-\u2013]|$)"


def _whole_study(word: str) -> re.Pattern[str]:
    """``word`` opening the sentence ("Negative bilateral mammogram.") or closing it after the study's
    name ("The mammogram is negative."), with nothing else but the end of the sentence or clause."""
    return re.compile(
        rf"{_LEAD}(?P<w>{word}(?:\s{{1,3}}{_STUDY}){{0,8}}){_FOR_NOTHING}{_WHOLE_STUDY_END}"
        rf"|^{_BULLET}(?:the\s{{1,3}}|this\s{{1,3}})?(?P<study>(?:{_STUDY}\s{{1,3}}){{0,5}}{_STUDY})\s{{0,3}}"
        rf"(?:is\s{{1,3}}|was\s{{1,3}}|[:\-\u2013]\s{{0,3}})?(?P<w2>{word}){_FOR_NOTHING}{_WHOLE_STUDY_END}",
        re.IGNORECASE)


def _names_the_study(sentence: str, start: int, end: int) -> bool:
    """A whole-study sentence names the study ("Negative mammogram.") or nothing else ("Negative.");
    "Right breast: negative" is about one breast, not the study."""
    head = _ASSESSMENT_WORDS.sub(" ", sentence[:end])
    return not head.strip() or bool(_STUDY_NOUN.search(head))


def _whole_study_rule(category: str, word: str, note: str) -> _Rule:
    return _Rule(category, _whole_study(word), note, negatable=False, hedgeable=False, accept=_names_the_study)


# BI-RADS -----------------------------------------------------------------------------------------

_MALIGNANCY = r"(?:malignancy|carcinoma|cancer|(?:a\s{1,3})?malignant\s{1,3}(?:neoplasm|process|lesion))"
# "Suspicious for infection / pneumonia / abscess": suspicious of something other than malignancy.
_SUSPICIOUS_OF_OTHER = (r"suspicious (?:for|of) (?!(?:a |an )?(?:malignan|cancer|carcinoma|neoplas|tumou?r|metasta|"
                        r"lymphoma|recurren|dcis|ductal|lobular|invasive))[a-z]{2,20}")
_TREATED = _rx(r"status\s{1,3}post|s/p|lumpectom\w{1,3}|mastectom\w{1,3}|excis\w{1,5}|resect\w{1,5}|treated|"
               r"treatment|history|prior|previous|recurren\w{1,4}|post[\s\-]?op\w{0,8}|surgical")

_BI_RADS: tuple[_Rule, ...] = (
    _Rule("5", _words(f"highly suggestive of {_MALIGNANCY}"), "BI-RADS 5: highly suggestive of malignancy"),
    _Rule("6", _words("known (?:(?:biopsy|pathology|tissue|histologically) (?:proven|confirmed) )?"
                      "(?:(?:left|right|breast|ipsilateral|contralateral) ){0,2}(?:malignancy|carcinoma|cancer)",
                      "(?:biopsy|pathology|tissue|histologically) (?:proven|confirmed) (?:(?:invasive|infiltrating|"
                      "ductal|lobular|mammary|breast|high grade|multifocal|inflammatory|left|right) ){0,3}"
                      "(?:malignancy|carcinoma|cancer|dcis|idc|ilc|ductal carcinoma in situ)"),
          "BI-RADS 6: known biopsy-proven malignancy", not_near=_TREATED),
    _blocker("(?:low|moderate|intermediate|high) (?:to|-|/|or) (?:low|moderate|intermediate|high) "
             "(?:level of )?suspicion", "(?:very|extremely) (?:low|high) (?:level of )?suspicion"),
    _Rule("4C", _words(f"high (?:level of )?suspicion(?: (?:for|of) {_MALIGNANCY})?"),
          "BI-RADS 4C: high suspicion for malignancy"),
    _Rule("4B", _words(f"moderate (?:level of )?suspicion(?: (?:for|of) {_MALIGNANCY})?"),
          "BI-RADS 4B: moderate suspicion for malignancy"),
    _Rule("4A", _words(f"low (?:level of )?suspicion(?: (?:for|of) {_MALIGNANCY})?"),
          "BI-RADS 4A: low suspicion for malignancy"),
    _blocker("(?:highly|very|mildly|slightly|minimally|moderately|extremely|somewhat|most|more|less|least) suspicious",
             _SUSPICIOUS_OF_OTHER),
    _Rule("3", _words("probably benign"), "BI-RADS 3: probably benign", hedgeable=False),
    _Rule("4", _words(f"suspicious(?: abnormality| (?:for|of) {_MALIGNANCY})?"), "BI-RADS 4: suspicious"),
    _Rule("2", _words("benign(?: appearing)?"), "BI-RADS 2: benign", assessment_only=True),
    _whole_study_rule("1", "negative", "BI-RADS 1: negative (whole study)"),
    _whole_study_rule("0", "incomplete", "BI-RADS 0: incomplete"),
    _Rule("0", _words("(?:assessment|study|evaluation) (?:is|remains) incomplete",
                      "need(?:s|ed)? (?:for )?additional imaging(?: evaluation)?",
                      "additional imaging(?: evaluation)? (?:is )?(?:needed|required|recommended|warranted|necessary)",
                      r"(?:recall(?:ed)?|call[\s\-]?back|called back) for additional (?:imaging|views|evaluation|"
                      "mammographic views|diagnostic views|diagnostic imaging)",
                      "additional (?:diagnostic )?(?:mammographic )?views (?:are |is )?(?:recommended|needed|required)",
                      "need(?:s|ed)? prior (?:mammograms|images|studies|examinations) for comparison"),
          "BI-RADS 0: need additional imaging evaluation"),
)

# LI-RADS v2018 -----------------------------------------------------------------------------------

_HCC = r"(?:hcc|hepatocellular carcinoma)"
# "Probably benign" / "definitely benign" are LI-RADS categories of a liver observation, not of the
# renal cyst or the bone island the same MRI shows.
_LIVER_WORDS = _rx(r"observation|hepat|liver|segment|(?<![a-z])seg(?![a-z])|lesion|nodule|lobe|dome|caudate")
_NOT_LIVER = _rx(r"renal|kidney|adrenal|splen|pancrea|gallbladder|ovar|uter|bone|osseous|vertebra|lung|lymph|"
                 r"(?<![a-z])nodes?(?![a-z])")
_LI_RADS: tuple[_Rule, ...] = (
    _Rule("LR-M", _words("(?:probably or definitely|definitely or probably|probably/definitely) malignant,? "
                         f"(?:but )?not (?:{_HCC} specific|specific (?:for|to) {_HCC})",
                         f"malignant,? (?:but )?not (?:{_HCC} specific|specific (?:for|to) {_HCC})"),
          "LR-M: probably or definitely malignant, not HCC specific", hedgeable=False),
    _Rule("LR-TIV", _words("tumou?r in (?:the )?(?:(?:main|right|left|middle|portal|hepatic|anterior|posterior) ){0,3}"
                           "veins?"),
          "LR-TIV: tumor in vein"),
    _Rule("LR-5", _words(f"definite(?:ly)? {_HCC}"), "LR-5: definitely HCC"),
    _Rule("LR-4", _words(f"probabl[ey] {_HCC}"), "LR-4: probably HCC", hedgeable=False),
    _Rule("LR-3", _words("intermediate probability (?:of|for) malignancy"),
          "LR-3: intermediate probability of malignancy"),
    _Rule("LR-1", _words("definitely benign"), "LR-1: definitely benign", near=_LIVER_WORDS, not_near=_NOT_LIVER),
    _Rule("LR-2", _words("probably benign"), "LR-2: probably benign", hedgeable=False, near=_LIVER_WORDS,
          not_near=_NOT_LIVER),
)

# ACR TI-RADS -------------------------------------------------------------------------------------


def _tr_level(points: int) -> str | None:
    """ACR TI-RADS level from total points; 1 point is not in the chart."""
    if points == 0:
        return "TR1"
    if points in (2, 3):
        return f"TR{points}"
    if 4 <= points <= 6:
        return "TR4"
    return "TR5" if 7 <= points <= 20 else None


def _points_total(m: re.Match[str]) -> str | None:
    return _tr_level(int(_group(m, "n", "n2")))


def _points_sum(m: re.Match[str]) -> str | None:
    """"2+2+0+0+0 = 4": only when the sum adds up."""
    addends = [int(x) for x in re.findall(r"\d{1,2}", m.group("sum"))]
    total = int(m.group("n"))
    return _tr_level(total) if sum(addends) == total else None


_FEATURE_LABEL = _rx(r"(?:composition|echogenicity|shape|margins?|echogenic\s{1,3}foci|calcifications?)\s{0,2}[:=\-]")


def _total_not_feature_points(sentence: str, start: int, end: int) -> bool:
    """A bare "5 points" is the total unless it scores one feature: "solid (2 points)",
    "Echogenicity: hypoechoic, 2 points", or one of several scores on the line."""
    if re.search(r"\(\s{0,2}$", sentence[max(0, start - 5):start]):
        return False
    line_start = max(sentence.rfind("\n", max(0, start - 200), start) + 1, start - 200, 0)
    line_end = sentence.find("\n", end, end + 200)
    line = sentence[line_start:line_end if line_end >= 0 else min(len(sentence), end + 200)]
    return not (_FEATURE_LABEL.search(line) or len(re.findall(r"(?i)\bp(?:oin)?ts?\b", line)) > 1)


_NODULE = _rx(r"nodul")
_NODE_OR_PATHOLOGY = _rx(r"lymph|(?<![a-z])nodes?(?![a-z])|biops|cytolog|(?<![a-z])fna(?![a-z])|bethesda|"
                         r"patholog|aspirat")
_NODE = _rx(r"lymph|(?<![a-z])nodes?(?![a-z])")

_TI_RADS: tuple[_Rule, ...] = (
    _Rule(_points_total, _words(r"(?:acr )?ti[\s\-]?rads (?:total )?(?:points?|score|pts)\s{0,3}"
                                r"(?:[:=]|of|is|total)?\s{0,3}(?P<n>\d{1,2})(?:\s{0,2}(?:points?|pts))?(?!\.\d|\s?%)"),
          "ACR TI-RADS level from the stated total points", kind="criteria", hedgeable=False),
    _Rule(_points_total, _words(r"total (?:(?:acr|ti[\s\-]?rads) )?(?:points?|score|pts)\s{0,3}(?:[:=]|of|is)?\s{0,3}"
                                r"(?P<n>\d{1,2})(?:\s{0,2}(?:points?|pts))?(?!\.\d|\s?%)",
                                r"total (?:of )?(?P<n2>\d{1,2}) (?:points?|pts)"),
          "ACR TI-RADS level from the stated total points", kind="criteria", hedgeable=False),
    _Rule(_points_sum, re.compile(r"(?<![\d.])(?P<w>(?P<sum>(?:\d{1,2}\s{0,2}\+\s{0,2}){1,6}\d{1,2})\s{0,2}=\s{0,2}"
                                  r"(?P<n>\d{1,2})(?:\s{0,2}(?:points?|pts))?)(?!\d|\.\d)", re.IGNORECASE),
          "ACR TI-RADS level from the summed points", kind="criteria", hedgeable=False),
    _Rule(_points_total, _words(r"(?P<n>\d{1,2}) (?:total )?(?:points?|pts)(?: (?:total|in total|overall))?"),
          "ACR TI-RADS level from the stated total points", kind="criteria", hedgeable=False,
          accept=_total_not_feature_points),
    _Rule("TR5", _words("highly suspicious"), "TI-RADS TR5: highly suspicious", near=_NODULE, not_near=_NODE),
    _Rule("TR4", _words("moderately suspicious"), "TI-RADS TR4: moderately suspicious", near=_NODULE, not_near=_NODE),
    _Rule("TR3", _words("mildly suspicious"), "TI-RADS TR3: mildly suspicious", near=_NODULE, not_near=_NODE),
    _Rule("TR2", _words("not suspicious", "non suspicious", "nonsuspicious"), "TI-RADS TR2: not suspicious",
          negatable=False, near=_NODULE, not_near=_NODE),
    _Rule("TR1", _words("benign(?: appearing)?"), "TI-RADS TR1: benign", near=_NODULE, not_near=_NODE_OR_PATHOLOGY,
          assessment_only=True),
)


# Lung-RADS v2022 ---------------------------------------------------------------------------------

# Lung-RADS words are about a lung finding; a screening CT also shows thyroid, adrenal, nodes ...
_LUNG_FINDING = _rx(r"nodul|mass|lesion|opacit|finding|consolidat|lung|lobe|pulmonary|ground[\s\-]glass")
_NOT_LUNG = _rx(r"lymph|(?<![a-z])nodes?(?![a-z])|thyroid|adrenal|renal|kidney|liver|hepatic|breast|bone|osseous|"
                r"vertebra|spleen|splenic|pancrea|pneumonia|infect|inflammat")
_LUNG_RADS: tuple[_Rule, ...] = (
    _blocker("(?:highly|mildly|slightly|minimally|moderately|extremely|somewhat|most|more|less|least) suspicious",
             _SUSPICIOUS_OF_OTHER),
    _Rule("4B", _words("very suspicious"), "Lung-RADS 4B: very suspicious", near=_LUNG_FINDING, not_near=_NOT_LUNG),
    _Rule("3", _words("probably benign"), "Lung-RADS 3: probably benign", hedgeable=False, near=_LUNG_FINDING,
          not_near=_NOT_LUNG),
    _Rule("4A", _words("suspicious"), "Lung-RADS 4A: suspicious", near=_LUNG_FINDING, not_near=_NOT_LUNG),
    # The lexicon's own phrase names no other organ's finding; its shorter forms must be about the lung.
    _Rule("2", _words("benign (?:appearance|behaviou?r) (?:or|and|and/or) (?:appearance|behaviou?r)"),
          "Lung-RADS 2: benign appearance or behavior", not_near=_NOT_LUNG),
    _Rule("2", _words("benign (?:in )?(?:appearance|behaviou?r)", "benign appearing"),
          "Lung-RADS 2: benign appearance or behavior", near=_LUNG_FINDING, not_near=_NOT_LUNG, assessment_only=True),
    _whole_study_rule("1", "negative", "Lung-RADS 1: negative (whole study)"),
    _whole_study_rule("0", "incomplete", "Lung-RADS 0: incomplete"),
)

# PI-RADS v2.1 ------------------------------------------------------------------------------------

_CS_PCA = (r"(?:clinically significant (?:prostate )?(?:cancer|carcinoma|disease|malignancy|adenocarcinoma)|"
           r"cs[\s\-]?pca|cspc)")
_LIKELIHOOD = r"(?P<q>highly unlikely|very unlikely|unlikely|equivocal|highly likely|very likely|likely)"
_PI_WORDS = {"highly unlikely": "1", "very unlikely": "1", "unlikely": "2", "equivocal": "3", "likely": "4",
             "highly likely": "5", "very likely": "5",
             "very low": "1", "low": "2", "intermediate": "3", "high": "4", "very high": "5"}
_PI_RADS: tuple[_Rule, ...] = (
    _blocker(f"(?:low|intermediate|high) (?:to|-|/) (?:intermediate|high) (?:suspicion|likelihood|probability|risk) "
             f"(?:of|for) {_CS_PCA}"),
    _Rule(_by_word(_PI_WORDS), _words(f"(?:(?:the )?(?:presence|likelihood) of )?{_CS_PCA} (?:is |are )?{_LIKELIHOOD}"
                                      "(?: to be present)?"),
          "PI-RADS v2.1 likelihood of clinically significant cancer", hedgeable=False),
    _Rule(_by_word(_PI_WORDS), _words(f"{_LIKELIHOOD} (?:for |to (?:be|represent|harbou?r|contain) (?:a )?)?{_CS_PCA}"),
          "PI-RADS v2.1 likelihood of clinically significant cancer", hedgeable=False),
    _Rule(_by_word(_PI_WORDS), _words(f"(?P<q>very low|low|intermediate|equivocal|very high|high) (?:suspicion|"
                                      f"likelihood|probability|risk) (?:of|for) {_CS_PCA}"),
          "PI-RADS v2.1 suspicion of clinically significant cancer", hedgeable=False),
)

# O-RADS US v2022 ---------------------------------------------------------------------------------

_O_WORDS = {"low": "3", "intermediate": "4", "high": "5"}
_O_RADS: tuple[_Rule, ...] = (
    _blocker("(?:very|extremely) (?:low|high) risk", "(?:low|intermediate) (?:to|-|/) (?:intermediate|high) risk"),
    _Rule("2", _words("almost certainly benign"), "O-RADS 2: almost certainly benign"),
    _Rule(_by_word(_O_WORDS, "q", "q2", "q3"),
          _words("(?P<q>low|intermediate|high) risk (?:of|for) (?:ovarian )?malignan(?:cy|t)",
                 "(?P<q2>low|intermediate|high) (?:malignancy|malignant) risk",
                 "risk of malignancy (?:is )?(?P<q3>low|intermediate|high)"),
          "O-RADS US malignancy risk"),
)


# CAD-RADS 2.0 ------------------------------------------------------------------------------------

_VESSEL = _rx(
    r"(?<![a-z])(?:(?P<LM>left\s{1,3}main(?:\s{1,3}coronary(?:\s{1,3}artery)?)?|lm|lmca)|"
    r"(?P<LAD>left\s{1,3}anterior\s{1,3}descending|lad|diagonal|d[12])|"
    r"(?P<LCx>(?:left\s{1,3})?circumflex|lcx|cx|obtuse\s{1,3}marginal|om[1-3]?)|"
    r"(?P<RCA>right\s{1,3}coronary(?:\s{1,3}artery)?|rca|posterior\s{1,3}descending|pda|posterolateral|plv)|"
    r"(?P<ramus>ramus(?:\s{1,3}intermedius)?))(?![a-z0-9])")
# "... of the proximal LAD": a vessel named right after the stenosis is its vessel.
_VESSEL_AFTER = re.compile(r"^[^,;.]{0,25}?(?<![a-z])(?:of|in|involving|within|at|affecting)\s{1,3}(?:the\s{1,3})?"
                           r"(?:(?:proximal|mid|distal|ostial|mid-?distal|proximal-?mid|first|second)"
                           r"[\s\-]{1,3}){0,2}$",
                           re.IGNORECASE)


def _vessel(sentence: str, start: int, end: int) -> str | None:
    """The vessel a stenosis is in: named just after it ("stenosis of the mid LAD"), else the last
    vessel named before it in its phrase ("LAD: 70% stenosis")."""
    for m in _VESSEL.finditer(sentence, end, min(len(sentence), end + 60)):
        if _VESSEL_AFTER.match(sentence[end:m.start()]):
            return m.lastgroup
        break
    phrase_start = max(0, start - 60)
    cut = max(sentence.rfind(c, phrase_start, start) for c in ",;.")
    last = None
    for m in _VESSEL.finditer(sentence, max(phrase_start, cut + 1), start):
        last = m.lastgroup
    return last


_PCT = (r"(?P<lt>(?:<|less than|under)\s{0,2})?(?P<gt>(?:>=|≥|>|greater than|more than|at least|over)\s{0,2})?"
        rf"(?P<lo>\d{{1,3}})(?:\s{{0,2}}%?\s{{0,2}}(?:[{_D}]|to)\s{{0,2}}(?P<hi>\d{{1,3}}))?\s{{0,2}}(?:%|percent)")
_STENOSIS = r"(?:(?:in[\s\-]stent\s{1,3})?(?:re)?stenos[ie]s|narrowing|occlu\w{2,4}|obstruction|stenotic)"
_CAD_BINS = ((0, 0, "0"), (1, 24, "1"), (25, 49, "2"), (50, 69, "3"), (70, 99, "4A"), (100, 100, "5"))


def _stenosis_range(m: re.Match[str]) -> tuple[int, int] | None:
    """(lowest, highest) percent a stated stenosis allows: "50-69%" -> (50, 69), "<25%" -> (1, 24),
    ">70%" -> (71, 99); None when no percentage was stated. The reversed form ("stenosis of 70%")
    names its groups r_lo, r_hi, ..., a percentage after a grade word ("moderate (50-69%)") w_lo, ..."""
    def read(name: str) -> str | None:
        return _group(m, name, f"r_{name}", f"w_{name}")

    if read("lo") is None:
        return None
    lo = int(read("lo"))
    hi = int(read("hi")) if read("hi") else lo
    if read("lt"):
        lo, hi = 1, lo - 1
    elif read("gt"):
        lo, hi = (lo if read("gt").strip() in ("≥", ">=", "at least") else lo + 1), 99
    return (lo, hi) if 0 <= lo <= hi <= 100 else None


def _cad_bin(low: int, high: int) -> str | None:
    """The CAD-RADS category when the whole range lies in one bin; None when it straddles two."""
    for b_lo, b_hi, category in _CAD_BINS:
        if b_lo <= low and high <= b_hi:
            return category
    return None


def _percent_category(m: re.Match[str]) -> str | None:
    r = _stenosis_range(m)
    return _cad_bin(*r) if r else None


def _percent_extra(m: re.Match[str], sentence: str, start: int, end: int) -> dict[str, Any]:
    r = _stenosis_range(m)
    return {"low": r[0] if r else None, "vessel": _vessel(sentence, start, end)}


_WORDING_LOW = {"minimal": 1, "mild": 25, "moderate": 50, "severe": 70}
_CAD_WORDS = {"minimal": "1", "mild": "2", "moderate": "3", "severe": "4A"}


def _grade_category(m: re.Match[str]) -> str | None:
    """"moderate stenosis" -> 3; a percentage stated with the word ("moderate (60%)") decides."""
    r = _stenosis_range(m)
    return _cad_bin(*r) if r else _CAD_WORDS[m.group("q").lower()]


def _grade_extra(m: re.Match[str], sentence: str, start: int, end: int) -> dict[str, Any]:
    r = _stenosis_range(m)
    return {"low": r[0] if r else _WORDING_LOW[m.group("q").lower()], "vessel": _vessel(sentence, start, end)}


def _wording_extra(low: int) -> Callable[[re.Match[str], str, int, int], dict[str, Any]]:
    """The least stenosis a fixed wording means ("total occlusion" 100%), and its vessel."""
    def extra(m: re.Match[str], sentence: str, start: int, end: int) -> dict[str, Any]:
        return {"low": low, "vessel": _vessel(sentence, start, end)}
    return extra


# A coronary CTA also reports the aortic valve, the great vessels: their stenoses are not CAD-RADS.
_NOT_CORONARY = _rx(r"aortic|valv\w{0,4}|mitral|tricuspid|pulmonic|pulmonary\s{1,3}(?:artery|vein)|carotid|"
                    r"renal\s{1,3}arter|subclavian|iliac|coarctation")
_CAD_NOISE = (r"(?:luminal|focal|diameter|eccentric|concentric|segmental|proximal|mid|distal|ostial|in-stent|"
              r"maximal|maximum|area)")
_CAD_RADS: tuple[_Rule, ...] = (
    _blocker(rf"(?:minimal|mild|moderate|severe) (?:to|-|/|or) (?:mild|moderate|severe) (?:{_CAD_NOISE} )?{_STENOSIS}",
             rf"(?:high grade|critical|significant|subtotal|sub total|near total|nearly total|near) {_STENOSIS}"),
    _Rule("4B", _words("(?:three|3|triple) vessel (?:obstructive|severe) (?:coronary (?:artery )?)?"
                       "(?:disease|cad|stenos[ie]s)",
                       "(?:obstructive|severe) (?:three|3|triple) vessel (?:coronary (?:artery )?)?(?:disease|cad)"),
          "CAD-RADS 4B: three-vessel obstructive disease"),
    _Rule("5", _words("(?:chronic )?total(?:ly)? occlu\\w{2,4}", "cto", "(?:is|are|appears?) occluded"),
          "CAD-RADS 5: total occlusion", not_near=_NOT_CORONARY, extra=_wording_extra(100)),
    _Rule(_grade_category, _words(rf"(?P<q>minimal|mild|moderate|severe) (?:\({_PCT.replace('?P<', '?P<w_')}\) )?"
                                       rf"(?:{_CAD_NOISE} ){{0,2}}(?:stenos[ie]s|narrowing)"),
          "CAD-RADS 2.0 stenosis grade", not_near=_NOT_CORONARY, extra=_grade_extra),
    _Rule(_percent_category, _words(rf"{_PCT}\s{{0,2}}\)?\s{{0,3}}(?:{_CAD_NOISE} ){{0,3}}{_STENOSIS}",
                                    rf"{_STENOSIS} (?:(?:of|is|measuring|measures|estimated|at|approximately|"
                                    r"approx\.?|about|~|:|=)\s{0,3}){0,3}" + _PCT.replace("?P<", "?P<r_")),
          "CAD-RADS 2.0 from the maximal stenosis stated", kind="criteria", hedgeable=False,
          not_near=_NOT_CORONARY, extra=_percent_extra),
    _Rule("1", _words("plaque (?:with no|without) (?:luminal )?(?:stenosis|narrowing)"),
          "CAD-RADS 1: plaque without stenosis", extra=_wording_extra(1)),
    _Rule("0", _words("no (?:evidence of )?(?:coronary (?:artery )?)?(?:atherosclerotic )?(?:plaque|atherosclerosis) "
                      "(?:or|and|/) (?:luminal )?(?:stenosis|narrowing)",
                      "no (?:coronary (?:artery )?)?(?:stenosis|luminal narrowing) or plaque",
                      "no (?:evidence of )?coronary artery disease", "absence of coronary artery disease"),
          "CAD-RADS 0: no plaque or stenosis", negatable=False, not_near=_VESSEL),
)


# NI-RADS, VI-RADS --------------------------------------------------------------------------------

_RECURRENCE = (r"(?:(?:local|locoregional|regional|nodal|tumou?r|residual|recurrent|or|and) ){0,3}"
               r"(?:recurren(?:ce|t (?:tumou?r|disease|malignancy|cancer|neoplasm))|residual (?:tumou?r|disease))")
_NI_RADS: tuple[_Rule, ...] = (
    _Rule("1", _words(f"no (?:imaging |radiographic |definite )?evidence of {_RECURRENCE}"),
          "NI-RADS 1: no evidence of recurrence", negatable=False, hedgeable=False),
    _Rule("3", _words(f"high suspicion (?:for|of) {_RECURRENCE}"), "NI-RADS 3: high suspicion of recurrence"),
    _Rule("4", _words("(?:definite|definitive|biopsy proven|pathologically proven|histologically proven) "
                      + _RECURRENCE),
          "NI-RADS 4: definite recurrence"),
)

_MUSCLE_INVASION = (r"(?:(?:detrusor )?muscle invasion|detrusor (?:muscle )?invasion|muscularis propria invasion|"
                    r"invasion of the (?:detrusor|muscularis propria|muscle layer|muscularis)(?: muscle)?|"
                    r"muscle invasive (?:disease|tumou?r|cancer|bladder cancer))")
_VI_WORDS = {"highly unlikely": "1", "very unlikely": "1", "unlikely": "2", "equivocal": "3", "likely": "4",
             "highly likely": "5", "very likely": "5"}
_VI_RADS: tuple[_Rule, ...] = (
    _Rule(_by_word(_VI_WORDS), _words(f"{_MUSCLE_INVASION} (?:is )?{_LIKELIHOOD}"),
          "VI-RADS likelihood of muscle invasion", hedgeable=False),
    _Rule(_by_word(_VI_WORDS), _words(f"{_LIKELIHOOD} (?:for )?{_MUSCLE_INVASION}"),
          "VI-RADS likelihood of muscle invasion", hedgeable=False),
    _Rule("5", _words("extravesical (?:fat )?(?:extension|invasion|infiltration|spread)",
                      "(?:extension|invasion|infiltration) (?:into|of) (?:the )?(?:extravesical|perivesical) fat"),
          "VI-RADS 5: extension into extravesical fat", kind="criteria"),
)

_RULES: dict[str, tuple[_Rule, ...]] = {
    "BI-RADS": _BI_RADS, "LI-RADS": _LI_RADS, "TI-RADS": _TI_RADS, "Lung-RADS": _LUNG_RADS, "PI-RADS": _PI_RADS,
    "O-RADS": _O_RADS, "CAD-RADS": _CAD_RADS, "NI-RADS": _NI_RADS, "VI-RADS": _VI_RADS,
}

# -- reading a report ------------------------------------------------------------------------------

# Impression (assessment, conclusion) first; findings, recommendation and header-less body next.
_RANK = {"impression": 0, "findings": 1, "recommendation": 1, "body": 1}


@dataclass
class _Candidate:
    category: str | None
    span: Span
    sentence: Span
    section: str
    note: str
    kind: str
    extra: dict[str, Any] = field(default_factory=dict)
    assessment_only: bool = False


def _span_of(m: re.Match[str]) -> tuple[int, int]:
    for name in ("w", "w2"):
        if name in m.re.groupindex and m.group(name) is not None:
            return m.span(name)
    return m.span()


def _asserted(rule: _Rule, s: str, start: int, end: int) -> bool:
    """Is the matched statement about this exam, asserted and current?"""
    lo, hi = max(0, start - _NEAR), min(len(s), end + _NEAR)
    if rule.near and not rule.near.search(s, lo, hi):
        return False
    if rule.not_near and rule.not_near.search(s, lo, hi):
        return False
    if rule.accept and not rule.accept(s, start, end):
        return False
    if rule.negatable and _negated(s, start, end):
        return False
    if rule.hedgeable and _hedged(s, start, end):
        return False
    return not (_prior(s, start, end) or _hypothetical(s, start, end))


def _sentence_candidates(system: str, sentence: Sentence, section: str) -> list[_Candidate]:
    s = sentence.text
    claimed = bytearray(len(s))  # characters a more specific rule (or a blocker) already read
    out = []
    for rule in _RULES.get(system, ()):  # C-RADS has none
        for m in rule.pattern.finditer(s):
            start, end = _span_of(m)
            if any(claimed[start:end]):
                continue
            claimed[start:end] = b"\x01" * (end - start)
            if rule.category is None or not _asserted(rule, s, start, end):
                continue
            category = rule.category(m) if callable(rule.category) else rule.category
            extra = rule.extra(m, s, start, end) if rule.extra else {}
            if category is None and not extra:
                continue  # straddles two categories, and no aggregate rule reads it
            out.append(_Candidate(category, Span(sentence.span.start + start, sentence.span.start + end),
                                  sentence.span, section, rule.note, rule.kind, extra, rule.assessment_only))
    return out


# TI-RADS points from the five labelled feature categories (ACR TI-RADS chart).
_TI_LABEL = _rx(r"(?<![a-z])(?P<label>composition|echogenicity|shape|margins?|echogenic\s{1,3}foci)\s{0,2}[:=\-]")
_TI_FEATURES: dict[str, tuple[tuple[str, int], ...]] = {
    # Checked in order: "mixed cystic and solid" before "cystic" and "solid".
    "composition": ((r"spongiform", 0), (r"mixed|partially\s{1,3}cystic|predominantly|cystic\s{1,3}and\s{1,3}solid|"
                                          r"solid\s{1,3}and\s{1,3}cystic", 1),
                    (r"cystic|cyst", 0), (r"solid", 2)),
    "echogenicity": ((r"(?:very|markedly)\s{1,3}hypoechoic", 3), (r"hypoechoic", 2),
                     (r"hyperechoic|isoechoic|iso-echoic", 1), (r"anechoic", 0)),
    "shape": ((r"taller[\s\-]{1,3}than[\s\-]{1,3}wide", 3), (r"wider[\s\-]{1,3}than[\s\-]{1,3}tall", 0)),
    "margin": ((r"extra-?\s?thyroidal\s{1,3}(?:extension|invasion)|(?<![a-z])ete(?![a-z])", 3),
               (r"lobulated|irregular", 2), (r"smooth|ill[\s\-]defined", 0)),
}
_TI_FOCI = ((r"punctate|microcalcification", 3), (r"peripheral|(?<![a-z])rim(?![a-z])|eggshell", 2),
            (r"macrocalcification|coarse", 1), (r"(?<![a-z])(?:none|absent)(?![a-z])|comet[\s\-]tail", 0))


_VALUE_NEGATED = re.compile(r"(?i)(?<![a-z])(?:no|not|without)\s{1,3}(?:[a-z\-]{1,15}\s{1,3})?$")


def _feature_points(label: str, value: str) -> int | None:
    """Points of one labelled feature; None when its value is not recognised."""
    def present(pattern: str) -> bool:
        for m in re.finditer(pattern, value, re.IGNORECASE):
            if not _VALUE_NEGATED.search(value[:m.start()]):
                return True
        return False

    if label == "foci":
        found = [points for pattern, points in _TI_FOCI if present(pattern)]
        if not found:
            return 0 if re.search(r"(?i)(?<![a-z])no(?![a-z])", value) else None
        return sum(p for p in found if p > 0)  # ACR: echogenic foci points add up
    if label == "shape" and re.search(r"(?i)not\s{1,3}taller", value):
        return 0  # "not taller-than-wide"
    for pattern, points in _TI_FEATURES[label]:
        if present(pattern):
            return points
    return None


@dataclass(frozen=True)
class _Label:
    """One labelled TI-RADS feature: "Echogenicity: hypoechoic" -> name "echogenicity"."""

    name: str
    start: int  # the label's first character
    value_start: int  # just after its ":"
    sentence: Sentence
    section: str


def _feature_labels(located: tuple[tuple[Sentence, str], ...]) -> dict[str, list[_Label]]:
    labels: dict[str, list[_Label]] = {}
    for sentence, section in located:
        if section not in _RANK:
            continue
        for i, m in enumerate(_TI_LABEL.finditer(sentence.text)):
            if i >= 20:
                break  # a line of labels repeated over and over is no nodule's description
            word = m.group("label").lower()
            name = "foci" if word.startswith("echogenic ") else word.rstrip("s")  # "margins" -> "margin"
            labels.setdefault(name, []).append(_Label(name, sentence.span.start + m.start(),
                                                      sentence.span.start + m.end(), sentence, section))
    return labels


def _ti_rads_features(located: tuple[tuple[Sentence, str], ...], text: str) -> list[_Candidate]:
    """One nodule's five labelled features -- each label exactly once, all in one section -- summed
    with the ACR TI-RADS chart."""
    labels = _feature_labels(located)
    if sorted(labels) != ["composition", "echogenicity", "foci", "margin", "shape"]:
        return []
    if any(len(found) != 1 for found in labels.values()) or len({f[0].section for f in labels.values()}) != 1:
        return []  # several nodules, or features spread over sections
    order = sorted((found[0] for found in labels.values()), key=lambda label: label.start)
    total, spongiform, value_end = 0, False, 0
    for i, label in enumerate(order):
        # A value runs to the end of its line, the next label or its sentence, at most 80 characters.
        limit = min(order[i + 1].start if i + 1 < len(order) else len(text), label.value_start + 80,
                    label.sentence.span.end)
        newline = text.find("\n", label.value_start, limit)
        value_end = newline if newline >= 0 else limit
        value = text[label.value_start:value_end]
        points = _feature_points(label.name, value)
        if points is None:
            return []
        total += points
        spongiform |= label.name == "composition" and bool(re.search(r"(?i)spongiform", value))
    if spongiform:
        total = 0  # ACR: a spongiform nodule takes no further points
    category = _tr_level(total)
    if category is None:
        return []
    span = Span(order[0].start, len(text[:value_end].rstrip(" \t.;,")))
    sentence = Span(order[0].sentence.span.start, order[-1].sentence.span.end)
    return [_Candidate(category, span, sentence, order[0].section,
                       f"ACR TI-RADS points from the five feature categories ({total})", "criteria")]


def _cad_rads_aggregate(candidates: list[_Candidate]) -> list[_Candidate]:
    """CAD-RADS 4B from several statements: left main >= 50%, or >= 70% in the LAD, LCx and RCA."""
    stenoses = [c for c in candidates if c.extra.get("low") is not None]
    out = []
    for c in stenoses:
        if c.extra.get("vessel") == "LM" and c.extra["low"] >= 50 and c.extra["low"] < 100:
            out.append(_Candidate("4B", c.span, c.sentence, c.section, "CAD-RADS 4B: left main stenosis >= 50%",
                                  "criteria", dict(c.extra)))
    severe = {}
    for c in stenoses:
        if c.extra.get("vessel") in ("LAD", "LCx", "RCA") and 70 <= c.extra["low"] <= 100:
            severe.setdefault(c.extra["vessel"], c)
    if len(severe) == 3 and len({c.section for c in severe.values()}) == 1:
        parts = sorted(severe.values(), key=lambda c: c.span.start)
        out.append(_Candidate("4B", Span(parts[0].span.start, parts[-1].span.end),
                              Span(parts[0].sentence.start, max(p.sentence.end for p in parts)), parts[0].section,
                              "CAD-RADS 4B: three-vessel obstructive (>= 70%) disease", "criteria"))
    return out


# A recommended biopsy / FNA means the assessment is at least this category (ACR: assessment and
# management must agree): "probably benign" read from a report that recommends biopsy is not its
# assessment -- the finding that earned the biopsy was described in other words.
_SAMPLING_FLOOR = {"BI-RADS": "4", "TI-RADS": "TR3", "Lung-RADS": "4A", "PI-RADS": "3"}
_SAMPLING = _rx(r"(?<![a-z])(?:biops(?:y|ies)|fna|fine[\s\-]needle\s{1,3}aspiration|tissue\s{1,3}sampling)(?![a-z])")
_RECOMMEND = _rx(r"(?<![a-z])(?:recommend\w{0,4}|advis\w{1,4}|suggest\w{0,4}|should|indicated|warrant\w{0,4}|"
                 r"consider\w{0,6}|referr?\w{0,3}\s{1,3}for)(?![a-z])")
# "Biopsy is not recommended", "biopsy-proven", "biopsy clip", "post-biopsy": no sampling to come.
_NOT_NEEDED = _rx(r"[^,;.]{0,30}?(?<![a-z])(?:not|no\s{1,3}longer)\s{1,3}(?:recommended|needed|necessary|indicated|"
                  r"required|warranted|advised)")
_DONE_BEFORE = _rx(r"[\s\-]{0,2}(?:proven|confirmed|clip|site|marker|cavity|results?|showed|revealed|pathology)")


def _recommends_sampling(located: tuple[tuple[Sentence, str], ...]) -> bool:
    """Does the report recommend a biopsy / FNA now? In the recommendation section any current
    mention; elsewhere a sentence that also says "recommend" (or "advised", "should", ...)."""
    for sentence, section in located:
        if section not in _RANK:
            continue
        for i, m in enumerate(_SAMPLING.finditer(sentence.text)):
            if i >= 8:
                break
            s, start, end = sentence.text, m.start(), m.end()
            if section != "recommendation" and not _RECOMMEND.search(s, max(0, start - 80), end + 80):
                continue
            if not (_negated(s, start, end) or _prior(s, start, end) or _hypothetical(s, start, end)
                    or _NOT_NEEDED.match(s, end, end + 40) or _DONE_BEFORE.match(s, end, end + 12)
                    or re.search(r"(?i)post[\s\-]?$", s[max(0, start - 6):start])):
                return True
    return False


@lru_cache(maxsize=64)
def _derived(text: str) -> Fact | None:
    exam = _exam(text)
    if exam is None or stated_rads(text):
        return None
    system, exam_fact = exam
    located = _located(text)
    candidates: list[_Candidate] = []
    for sentence, section in located:
        if section in _RANK:
            candidates += _sentence_candidates(system, sentence, section)
    if system == "TI-RADS":
        candidates += _ti_rads_features(located, text)
    if any(section == "impression" for _, section in located):
        candidates = [c for c in candidates if c.section == "impression" or not c.assessment_only]
    if not candidates:
        return None
    best = min(_RANK[c.section] for c in candidates)
    chosen = [c for c in candidates if _RANK[c.section] == best]
    if system == "CAD-RADS":
        chosen += _cad_rads_aggregate(chosen)
    chosen = [c for c in chosen if c.category is not None]
    if not chosen:
        return None
    # The most severe statement; ties go to the first in the text.
    chosen.sort(key=lambda c: c.span.start)
    winner = max(chosen, key=lambda c: severity(system, c.category))
    floor = _SAMPLING_FLOOR.get(system)
    if floor and severity(system, winner.category) < severity(system, floor) and _recommends_sampling(located):
        return None  # the wording and the management disagree: the words are not the assessment
    return Fact({"system": system, "category": winner.category}, winner.span, winner.sentence, winner.section,
                kind=winner.kind, note=winner.note, extra={"exam": exam_fact, **winner.extra})


def derived_rads(text: str) -> Fact | None:
    """The category the report's own wording determines when no code is written, or None.

    Only inside the exam :func:`rads_exam` finds, only when :func:`.rads.stated_rads` finds no
    written category, only sentences about this examination (impression first, else findings /
    recommendation / body), never negated, prior, hypothetical or hedged statements; the most
    severe of several (:func:`.rads.severity`). Descriptor words ("benign-appearing") count from the
    findings only when the report has no impression; a category below the one a recommended biopsy
    / FNA implies gives no fact (module docstring, Decisions). ``Fact.value`` is ``{"system", "category"}`` as
    rads_assignment writes it; ``kind`` "wording" (the lexicon's assessment words) or "criteria"
    (TI-RADS points, CAD-RADS stenosis, VI-RADS extravesical extension); ``note`` the rule;
    ``span`` the words; ``sentence`` their sentence (for a criterion read over several sentences,
    the sentences from first to last); ``extra["exam"]`` the :func:`rads_exam` fact, plus
    ``vessel`` / ``low`` for a CAD-RADS stenosis.
    """
    if not text or not text.strip():
        return None
    return _derived(text)
