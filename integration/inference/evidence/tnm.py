"""TNM N and M categories that a radiology report states itself (AJCC 8th edition).

This module reads what the radiologist *wrote* ("cT2aN2M1c", "N2 disease", "stage IVB",
"no distant metastases"); it does not derive a category from findings (that is
:mod:`integration.inference.evidence.lung_staging`). The answers are the task label sets of
:mod:`integration.tasks.n_staging` (N0-N3) and :mod:`integration.tasks.m_staging` (M0, M1, M1a-c).

Sources: AJCC Cancer Staging Manual, 8th edition (Amin et al., Springer 2017): the TNM notation
(prefixes c/p/yp/yc/r, NX/MX, "(i+)", "(mol+)", "(sn)", "(f)", the melanoma LDH suffix "M1c(1)")
and the lung cancer stage groups (chapter 36). Negation and hedging follow NegEx in
:mod:`integration.inference.evidence.text`.

What counts as a stated category (``kind``):

* ``"category"`` -- an explicit N or M category:
  - in a combined string, which needs at least an N next to a T or an M, in AJCC order, with at
    most a space, comma, slash or hyphen between ("cT2aN2M1c", "pT1b pN0 cM0", "T2 N1 M0",
    "TNM: T3, N2, M0", "(T2a, N1, M0)", "cN2 cM0"). T, N and M are upper case and prefixes lower
    case, as AJCC writes them -- "Pn0" (perineural invasion) and "CN2" (cranial nerve) are not
    categories;
  - alone, when the token cannot be anything else: a prefix ("cN1", "pM0", "ypN0") or a
    subcategory ("N2b", "N1mi", "M1a", "M1c");
  - alone and bare ("N2", "M1", "M0") only with staging words next to it: before ("clinical N2",
    "nodal stage N2", "stage M1b", "staged as N1", "upstaged to N3", "N stage: N2") or after
    ("N2 disease", "N3 nodal disease", "N1 lymph node metastases", "M1 disease").
  Subcategories map to their parent as the task parsers do (N1a/N2b/N1mi -> N1/N2, N0(i+) -> N0,
  M1d -> M1); NX and MX state nothing and are dropped.
* ``"stage"`` -- M derived from a stage group, for lung cancer only. AJCC 8 lung: stage 0 to IIIC
  are M0, IVA is M1a or M1b (answered "M1"), IVB is M1c, plain IV is M1. Other cancers' groups
  differ (head-and-neck IVA/IVB are M0; melanoma, colorectal and others split IV by site), so a
  stage group is read only when a lung primary (lung cancer/carcinoma/adenocarcinoma, NSCLC, SCLC,
  non-small/small cell, bronchogenic carcinoma) is named in the same sentence, or is named
  somewhere in the report and no other primary cancer is. Stage IVC (not a lung group), stages of
  other systems (GOLD, Scadding, CKD, Tanner, Ann Arbor, ...) and non-cancer stages ("stage 2
  pressure ulcer", "stage III sarcoidosis") are not read. "Limited/extensive stage" SCLC (VALSG)
  is not AJCC and is not read. An explicit "(M1c)" beside the stage is also returned as a category.
* ``"negation"`` -- an explicit negative statement:
  - M0 from a negated unqualified or distant metastasis phrase: "no distant metastases", "no
    evidence of distant metastatic disease", "no metastatic disease", "no evidence of metastasis",
    "negative for distant metastases", "no evidence of recurrent or metastatic disease",
    "distant metastases: none", "metastatic disease is not identified", and "no M1 disease".
    A body-region scope is accepted ("... in the chest, abdomen, or pelvis": every statement is
    limited to the imaged field); an organ scope is not ("no metastases to the liver"), nor is
    a site adjective ("no liver metastases", "no osseous metastatic disease"), "no new ...",
    "no other ...", "... other than the known adrenal lesion", "... elsewhere" or "otherwise no
    ..." (they imply metastases exist). The modality's own scope is not judged: a bone scan's
    "no metastatic disease" reads as M0.
  - N0 from a negated nodal metastasis phrase: "no regional nodal metastases", "no nodal
    metastasis", "no lymph node metastases", "no nodal metastatic disease", "no metastatic
    lymphadenopathy", "node-negative"; "no nodal or distant metastases" gives both N0 and M0.
    Any site scope ("no nodal metastases in the mediastinum") is rejected: one station is not
    all regional nodes.
  - NOT from lymphadenopathy statements ("no lymphadenopathy", "no mediastinal or hilar
    lymphadenopathy", "no enlarged nodes"): they are size findings, not a stated category, and
    the regional node set depends on the primary. Deriving N from findings is lung_staging's job.

What is not a stated fact:

* sections other than impression, findings, recommendation and the header-less body (history,
  indication, comparison and technique describe other exams or the request);
* a prior in the sentence: a prior marker before the statement with no later current marker
  ("previously staged N1", "at diagnosis", "on the prior exam there were no distant metastases";
  "previously N1, now N2" keeps N2), "known"/"history of" right before it ("known stage IV", but
  not "known NSCLC with bulky N3 disease"), "from N1" in "upstaged from N1 to N2", or a prior
  right after ("M0 on the prior exam"). "Compared with the prior exam, ..." is neutral;
* hedges (NegEx uncertainty: "possible M1a", "cannot exclude N2", "likely", "versus"),
  conditions ("if", "would", "to confirm", "to evaluate for"), alternatives ("N2 or N3",
  "N2/N3") and negated or resolved categories ("no N3 disease" is not N0; "N2 disease has
  resolved");
* look-alikes: MRI sequences ("T1-weighted", "T2 hyperintense", "T2*", "T1 FLAIR", "M0 map"),
  vertebral levels ("T12", "C5-T1", "T1 vertebral body"), vessel segments ("M1 segment",
  "M2 branch", "the M1 and M2 segments", "left M1 occlusion"), chemistry ("N2 gas", "N2O",
  "N-acetylcysteine", "13N-ammonia"), cranial nerves ("CN2"), dental and motor-cortex "M1", and
  bare "N2"/"M1"/"M0" without staging words.

Answers (:func:`answer_n`, :func:`answer_m`): facts from an impression-like section win over
findings, recommendation and body; then an explicit category beats a stage-derived one, which
beats a negation; if what remains disagrees, the most advanced value wins (N3 > N2 > N1 > N0;
M1c > M1b > M1a > M1 > M0 -- bare M1 ranks below its subcategories because it is their parent,
less specific rather than less advanced), and the fact's ``note`` lists the other values.

Each fact's ``extra`` holds the raw ``token`` ("cN2b") and, for a combined string, ``tnm``; a
stage fact holds ``stage`` ("IVA") and says so in ``note``.

Not read (known limits): lower-case or all-capital strings ("t2n1m0", "CT2N0M0"), label forms
("T: 2, N: 1, M: 0"), "N+"/"node-positive" (no N number), descriptive station use ("N2 nodes").

Every pattern is bounded (no unbounded quantifier), context checks read fixed windows around a
match, and at most 40 statements of a kind are judged per sentence, so a long or hostile report
is read in linear time.
"""

from __future__ import annotations

import re
from bisect import bisect_left, insort
from dataclasses import replace
from itertools import islice
from typing import Iterable

from integration.inference.evidence import Fact
from integration.inference.evidence.text import CURRENT_SECTIONS, Sentence, Span, sentences, uncertain

__all__ = ["N_ORDER", "M_ORDER", "stated_n", "stated_m", "answer_n", "answer_m"]

# Label order, least to most advanced (the answer rule's tie-break).
N_ORDER = ("N0", "N1", "N2", "N3")
M_ORDER = ("M0", "M1", "M1a", "M1b", "M1c")

_WINDOW = 160  # characters of context read on each side of a match for clause-level checks
_NEAR = 100  # characters read before a match by the patterns anchored at its start ("no ... N3")
# Statements judged per sentence and kind. A sentence a radiologist writes states a handful; a
# run of thousands is a table dump or an attack, and judging each would make the work quadratic.
_MAX_PER_SENTENCE = 40

# -- tokens -----------------------------------------------------------------------------------------
# AJCC writes prefixes in lower case (c, p, yp, yc, r) and T/N/M in upper case; keeping the case
# tells "cN2" from "CN2" (cranial nerve) and "pN0" from "Pn0" (perineural invasion).
_PRE = r"(?:y[cp]|[cpr])"
_T_TOK = rf"{_PRE}?T(?:is|[0-4Xx](?:mi|[a-e])?)(?:\((?:m|\d{{1,2}})\))?"
_N_SUFFIX = r"(?:\((?:i[+-]|mol[+-]|sn|f)\))?"
_M_SUFFIX = r"(?:\((?:i\+|[01])\))?"
_N_TOK = rf"{_PRE}?N(?:[Xx]|[0-3](?:mi|[a-c])?){_N_SUFFIX}"
_M_TOK = rf"{_PRE}?M(?:[Xx]|0|1[a-d]?){_M_SUFFIX}"
_SEP = r"(?:[ \t]{0,3}[,/][ \t]{0,3}|[ \t]{0,2}-[ \t]{0,2}|[ \t]{0,3})"
_EDGE_L = r"(?<![A-Za-z0-9])"
_EDGE_R = r"(?![A-Za-z0-9+*])"  # "T2*", "N2O", "M1+" are not categories

# A combined string: T then N (then M), or N then M.
_TNM = re.compile(rf"{_EDGE_L}(?P<t>{_T_TOK}){_SEP}(?P<n>{_N_TOK})(?:{_SEP}(?P<m>{_M_TOK}))?{_EDGE_R}")
_NM = re.compile(rf"{_EDGE_L}(?P<n>{_N_TOK}){_SEP}(?P<m>{_M_TOK}){_EDGE_R}")
# One category alone; its strength (prefix, subcategory) decides whether it needs staging words.
_ALONE = {
    "N": re.compile(rf"{_EDGE_L}(?P<tok>(?P<pre>{_PRE})?N(?P<cat>[0-3])(?P<sub>mi|[a-c])?{_N_SUFFIX}){_EDGE_R}"),
    "M": re.compile(rf"{_EDGE_L}(?P<tok>(?P<pre>{_PRE})?M(?P<cat>[01])(?P<sub>[a-d])?{_M_SUFFIX}){_EDGE_R}"),
}
_PARSE = re.compile(r"(?:y[cp]|[cpr])?([NM])([Xx]|[0-3])(mi|[a-d])?")

# -- what a bare N2/M1 needs around it -------------------------------------------------------------
_STAGING_WORDS = (r"stage[ds]?|staging|category|classification|clinical(?:ly)?|pathologic(?:al(?:ly)?)?|"
                  r"radiologic(?:al(?:ly)?)?|TNM|(?:up|down|re)stag(?:ed|ing)")
_CONTEXT_BEFORE = {
    "N": re.compile(
        rf"\b(?:{_STAGING_WORDS}|nodal(?:\s{{1,3}}(?:disease|involvement))?|N)"
        r"(?:\s{0,2}-?\s{0,2}(?:stage|category|classification|status))?"
        r"\s{0,3}(?:[:=(]\s{0,3}|(?:is|as|to|of|from\s{1,3}[\w()+-]{1,8}\s{1,3}to)\s{1,3})?$", re.I),
    "M": re.compile(
        rf"\b(?:{_STAGING_WORDS}|(?:distant|metastatic)(?:\s{{1,3}}disease)?|M)"
        r"(?:\s{0,2}-?\s{0,2}(?:stage|category|classification|status))?"
        r"\s{0,3}(?:[:=(]\s{0,3}|(?:is|as|to|of|from\s{1,3}[\w()+-]{1,8}\s{1,3}to)\s{1,3})?$", re.I),
}
_CONTEXT_AFTER = {
    "N": re.compile(r"^\s{0,3}\)?\s{0,3}(?:(?:nodal|lymph\s{1,3}node|node)\s{1,3})?"
                    r"(?:disease|involvement|metastas[ie]s|status|stage|category|classification)\b", re.I),
    "M": re.compile(r"^\s{0,3}\)?\s{0,3}(?:(?:metastatic|distant)\s{1,3})?"
                    r"(?:disease|status|stage|category|classification)\b", re.I),
}
# Words after a token that make it a vessel segment, sequence, vertebra, gas, tooth ...
_LOOKALIKE_AFTER = re.compile(
    r"^[ \t-]{0,3}(?:segments?|branch(?:es)?|portions?|occlu\w{0,6}|thromb\w{0,10}|stenos[ie]s|aneurysms?|"
    r"bifurcation|trunks?|MCA|ACA|PCA|arter\w{0,3}|junction|divisions?|gas|weighted|signal|sequences?|"
    r"scans?|images?|maps?|mapping|bias|peaks?|molars?|tooth|teeth|vertebra\w{0,3}|levels?|nerves?|roots?|"
    r"cortex|receptors?|fib(?:er|re)s?|hyperintens\w{0,4}|hypointens\w{0,4}|flair|relaxation|velocit\w{0,3}|flow|"
    r"stent\w{0,3}|plaques?|calcif\w{0,9}|dissection|vasospasm|atheroscler\w{0,6}|lumen|narrowing|clot|embol\w{0,4})\b",
    re.I)
# Vessel wording before a token: "proximal M1 disease" is atherosclerosis, "left M1" an artery.
_LOOKALIKE_BEFORE = re.compile(r"\b(?:MCA|ACA|PCA|ICA|cerebral|artery|proximal|distal|mid|left|right|bilateral|CN)"
                               r"[ \t]{1,3}$", re.I)
# "N2 or N3", "N2/N3", "M1 and M2 segments": alternatives and ranges of the same letter.
_ALTERNATIVE_AFTER = {
    L: re.compile(rf"^[ \t]{{0,2}}(?:and|or|through|versus|vs\.?|[-/,])[ \t]{{0,2}}(?:y?[cp])?{L}[0-9Xx]", re.I)
    for L in "NM"
}
_ALTERNATIVE_BEFORE = {
    L: re.compile(rf"{L}[0-9Xx](?:mi|[a-d])?[ \t]{{0,2}}(?:and|or|through|versus|vs\.?|[-/,])[ \t]{{0,2}}$", re.I)
    for L in "NM"
}

# -- statement status: negated, prior, conditional -------------------------------------------------
# A negation right before a category ("no N3 disease", "not consistent with N2") or after it.
_NEG_BEFORE = re.compile(
    r"\b(?:no(?![ \t]{1,3}(?:interval[ \t]{1,3}|significant[ \t]{1,3})?change)|not|without|negative[ \t]{1,3}for|"
    r"rather[ \t]{1,3}than|instead[ \t]{1,3}of|absence[ \t]{1,3}of|free[ \t]{1,3}of|exclud\w{0,3}|rules?[ \t]{1,3}out|"
    r"ruled[ \t]{1,3}out|resolved|(?:resolution|clearance)[ \t]{1,3}of)"
    r"(?:[ \t]{1,3}[\w-]{1,20}){0,3}[ \t]{1,3}\(?$", re.I)
_NEG_AFTER = re.compile(
    r"^[ \t]{0,3}(?:(?:nodal|metastatic|distant)?[ \t]{0,3}disease[ \t]{1,3})?"
    r"(?:(?:is|are|was|were)[ \t]{1,3}(?:not|no[ \t]{1,3}longer)\b|(?:(?:is|are|has|have)[ \t]{1,3})?"
    r"(?:absent|excluded|ruled[ \t]{1,3}out|resolved)\b)",
    re.I)
# A break that starts a new statement; the prior/condition search looks back only to the last one.
_RESET = re.compile(r";|\b(?:but|however|although|though|whereas|while)\b|"
                    r",[ \t]{1,3}(?:and[ \t]{1,3})?(?:there[ \t]{1,3}(?:is|are)|with)\b", re.I)
_PRIOR = re.compile(
    r"\b(?:previous(?:ly)?|prior|initial(?:ly)?|original(?:ly)?|formerly|historical(?:ly)?|"
    r"at[ \t]{1,3}(?:diagnosis|presentation|baseline)|on[ \t]{1,3}(?:the[ \t]{1,3})?baseline|"
    r"(?:was|were|had[ \t]{1,3}been)[ \t]{1,3}(?:staged|classified|categori[sz]ed|considered)|"
    r"in[ \t]{1,3}(?:19|20)\d\d|last[ \t]{1,3}(?:year|month|exam|study|scan)|outside|pre-?(?:treatment|therapy))\b",
    re.I)
# "known" and "history of" date only what they modify: "known N2 disease", not "known NSCLC with N3".
_PRIOR_ADJACENT = re.compile(
    r"\b(?:known|history[ \t]{1,3}of)(?:[ \t]{1,3}(?!(?:with|and)\b)[\w-]{1,20}){0,2}[ \t]{1,3}\(?$", re.I)
_CURRENT = re.compile(
    r"\b(?:now|currently|current|today|presently|newly|new|interval|this[ \t]{1,3}(?:exam|examination|study|scan)|"
    r"(?:up|down|re)-?stag(?:ed|ing))\b", re.I)
# "Compared with the prior exam of 1/2/2024, ..." names a prior without stating one.
_COMPARED = re.compile(
    r"\b(?:compared|comparison|relative)[ \t]{1,3}(?:with|to)[ \t]{1,3}(?:the[ \t]{1,3})?(?:prior|previous|outside)"
    r"(?:[ \t]{1,3}[\w/.-]{1,15}){0,4}|\bsince[ \t]{1,3}(?:the[ \t]{1,3})?(?:prior|previous)\b", re.I)
_FROM_BEFORE = re.compile(r"\bfrom[ \t]{1,3}\(?$", re.I)
_PRIOR_AFTER = re.compile(
    r"^[ \t,)]{0,3}(?:(?:nodal[ \t]{1,3}|metastatic[ \t]{1,3})?disease[ \t]{1,3})?"
    r"(?:(?:on|at|in|from|per|by)[ \t]{1,3}(?:the[ \t]{1,3})?(?:prior|previous|initial|baseline|original|outside|"
    r"diagnosis|presentation|(?:19|20)\d\d)|\(?(?:previously|formerly|initially|originally)\b)", re.I)
_CONDITIONAL = re.compile(
    r"\b(?:if|whether|would|could|should|unless|consider(?!ed)|in[ \t]{1,3}case|"
    r"to[ \t]{1,3}(?:confirm|assess|evaluate|exclude|establish|determine|document)|"
    r"for[ \t]{1,3}(?:confirmation|evaluation|assessment)|(?:assess(?:ment)?|evaluat(?:e|ion))[ \t]{1,3}for|"
    r"rule[ \t]{1,3}out|r/o)\b", re.I)

# -- stage groups (lung only) ----------------------------------------------------------------------
_STAGE = re.compile(
    r"(?<![A-Za-z])(?:[Ss]tage|STAGE)(?:[ \t]{1,3}group)?[ \t]{0,3}[:=]?[ \t]{0,3}"
    r"(?P<group>(?:IV|iv|III|iii|II|ii|I|[0-4])(?:[ABCabc][1-3]?)?)(?![A-Za-z0-9])")
_LUNG_GROUP = re.compile(r"(?i)(?:0|(?:I|1)(?:A[1-3]?|B)?|(?:II|2)[AB]?|(?:III|3)[ABC]?|(?:IV|4)[AB]?)")
# Another staging system or condition just before "stage" ("GOLD stage III", "CKD stage 3", "end-stage"),
# or a determiner ("at this stage I would ...").
_OTHER_SYSTEM_BEFORE = re.compile(
    r"\b(?:(?:GOLD|Scadding|Tanner|NYHA|CKD|FIGO|Arbor|Lugano|Bosniak|Salter(?:-Harris)?|Kellgren|Ficat|Steinberg|"
    r"Outerbridge|Fazekas|Hurley|Rai|Binet|Durie|ISS|Clark|Masaoka|Enneking|Hoehn|Yahr|Braak|Evans|INSS|Child|"
    r"BCLC|Ishak|METAVIR|fibrosis|pressure|decubitus|ulcer|renal|kidney)[ \t-]{1,3}(?:[\w-]{1,15}[ \t]{1,3})?|"
    r"(?:this|that|which|any|same|early|late|end)[ \t-]{1,3})$", re.I)
# A non-lung condition named in the next few words ("stage 2 pressure ulcer", "stage IV breast cancer");
# words after "with"/"and" belong to something else ("stage IV NSCLC with liver metastases").
_NON_CANCER_AFTER = re.compile(
    r"^[ \t,(]{0,3}(?:(?!(?:with|and|of|in|to|from)\b)[\w-]{1,15}[ \t]{1,3}){0,2}"
    r"(?:ulcers?|pressure|injur\w{0,3}|decubit\w{0,3}|kidney|renal|CKD|COPD|emphysema|sarcoid\w{0,5}|"
    r"fibrosis|hypertension|heart|cardiac|cirrhosis|osteonecrosis|avascular|AVN|lymphoma|myeloma|"
    r"breast|colon|colorectal|rectal|prostate|melanoma|ovarian|cervical|endometrial|bladder|pancreatic|gastric|"
    r"esophageal|thyroid|head[ \t]and[ \t]neck|laryngeal|Hodgkin|chondromalacia|osteoarthritis|labor|pregnan\w{0,3})\b",
    re.I)
_LUNG_PRIMARY = re.compile(
    r"\b(?:N?SCLC|non[- ]?small[- ]cell|small[- ]cell[ \t]{1,3}(?:lung[ \t]{1,3})?(?:cancer|carcinoma)|"
    r"(?:lung|pulmonary|bronchogenic)[ \t]{1,3}"
    r"(?:(?:adeno|(?:squamous|large|small)[ \t]{1,3}cell[ \t]{1,3})?carcinoma|adenocarcinoma|cancer|primary)|"
    r"(?:carcinoma|cancer|adenocarcinoma)[ \t]{1,3}of[ \t]{1,3}the[ \t]{1,3}(?:(?:right|left)[ \t]{1,3})?lung|"
    r"primary[ \t]{1,3}lung[ \t]{1,3}(?:cancer|carcinoma|adenocarcinoma|malignancy|neoplasm)|"
    r"(?:RUL|RML|RLL|LUL|LLL|(?:right|left)[ \t]{1,3}(?:upper|middle|lower)[ \t]{1,3}lobe)[ \t]{1,3}"
    r"(?:(?:adeno|squamous[ \t]{1,3}cell[ \t]{1,3})?carcinoma|adenocarcinoma|cancer))\b", re.I)
_OTHER_PRIMARY = re.compile(
    r"\b(?:(?:breast|colon|colorectal|rectal|prostate|prostatic|renal|kidney|bladder|urothelial|pancreatic|pancreas|"
    r"gastric|stomach|esophageal|oesophageal|head[ \t]{1,3}and[ \t]{1,3}neck|oropharyngeal|laryngeal|nasopharyngeal|"
    r"oral|thyroid|cervical|ovarian|endometrial|uterine|hepatocellular|testicular|anal|skin|tongue|tonsil(?:lar)?)"
    r"[ \t]{1,3}(?:cell[ \t]{1,3})?(?:cancer|carcinoma|adenocarcinoma|malignancy|primary)|"
    r"melanoma|lymphoma|myeloma|sarcoma|mesothelioma|cholangiocarcinoma|HCC|RCC|"
    r"(?:carcinoma|cancer)[ \t]{1,3}of[ \t]{1,3}the[ \t]{1,3}(?!(?:(?:right|left)[ \t]{1,3})?lung\b)[a-z]{2,15})\b",
    re.I)

# -- negative statements -----------------------------------------------------------------------------
_NEG_TRIGGER = r"(?:no|without|negative[ \t]{1,3}for|free[ \t]{1,3}of|absence[ \t]{1,3}of)"
# Words that may stand between the trigger and the metastasis ("no definite CT evidence of ...").
# "new", "other", "additional", "further" may not: they imply metastases exist.
_NEG_QUALIFIER = (r"(?:(?:definite|definitive|convincing|clear|obvious|any|CT|MR|MRI|PET|PET/CT|FDG|imaging|"
                  r"radiographic|radiologic|sonographic|scintigraphic)[ \t]{1,3}){0,2}")
_EVIDENCE_OF = (r"(?:(?:evidence|signs?|findings?)[ \t]{1,3}(?:of|for|to[ \t]{1,3}suggest|suggestive[ \t]{1,3}of|"
                r"suspicious[ \t]{1,3}for)[ \t]{1,3})?")
_SITES_OF = r"(?:(?:sites?|foci|areas?)[ \t]{1,3}of[ \t]{1,3})?"
_NODAL = r"(?:regional[ \t]{1,3})?(?:lymph[ \t]{1,3}node|nodal|node)"
# Which metastases a phrase denies: nodal and distant ("nodal or distant"), distant, or nodal.
_MODIFIER = (rf"(?:(?P<both1>{_NODAL}[ \t]{{0,3}}(?:,|/|or|and)[ \t]{{0,3}}distant)|"
             rf"(?P<both2>distant[ \t]{{1,3}}(?:or|and|/)[ \t]{{1,3}}{_NODAL})|"
             rf"(?P<distant>distant)|(?P<nodal>{_NODAL}))[ \t]{{1,3}}")
_METASTASIS = (r"(?:metastas[ie]s|metastatic[ \t]{1,3}(?:or[ \t]{1,3}recurrent[ \t]{1,3})?"
               r"(?:disease|spread|involvement|lesions?|deposits?|foci|malignancy)|mets)\b")
_RECURRENT_OR = r"(?:(?:locally[ \t]{1,3})?recurrent[ \t]{1,3}(?:or|and|/)[ \t]{1,3})?"
_NEG_LEAD = rf"\b{_NEG_TRIGGER}[ \t]{{1,3}}{_NEG_QUALIFIER}{_EVIDENCE_OF}{_NEG_QUALIFIER}{_SITES_OF}"
_NEG_PRE = re.compile(rf"{_NEG_LEAD}{_RECURRENT_OR}(?:{_MODIFIER})?(?P<head>{_METASTASIS})", re.I)
_NEG_POST = re.compile(
    rf"(?:{_MODIFIER})?(?P<head>{_METASTASIS})[ \t]{{0,3}}"
    r"(?::[ \t]{0,3}(?:none|absent|negative|not[ \t]{1,3}(?:seen|identified|present|detected))|"
    r"(?:(?:is|are|was|were)[ \t]{1,3})?(?:not[ \t]{1,3}(?:seen|identified|present|demonstrated|detected|evident|"
    r"appreciated)|absent))\b", re.I)
_NEG_NODES = re.compile(
    rf"{_NEG_LEAD}(?P<head>metastatic[ \t]{{1,3}}(?:lymphadenopathy|adenopathy|(?:lymph[ \t]{{1,3}})?nodes?|"
    r"nodal[ \t]{1,3}disease))\b", re.I)
_NODE_NEGATIVE = re.compile(r"\b(?:lymph[ \t]{1,3})?nodes?[ \t-]{0,2}negative\b", re.I)
# Words that may precede a post-form head or "node-negative" without restricting it to a site.
_NEUTRAL_BEFORE = {"", "and", "any", "the", "of", "for", "also", "there", "definite", "evident", "clinically",
                   "radiologically", "pathologically", "sentinel", "is", "are", "remains", "patient", "be"}
# "other than the known adrenal nodule", "elsewhere", "otherwise no ...": the sentence admits some metastasis.
_EXCEPT_BEFORE = re.compile(
    r"\b(?:otherwise|elsewhere|(?:apart|aside)[ \t]{1,3}from[^,;]{0,40}|besides[^,;]{0,40}|"
    r"except[ \t]{1,3}for[^,;]{0,40})"
    r",?[ \t]{0,3}(?:there[ \t]{1,3}(?:is|are)[ \t]{1,3})?$", re.I)
# A scope after the head: body regions are the imaged field; organs and stations restrict it.
_SCOPE_AFTER = re.compile(r"^[ \t]{1,3}(?:(?:is|are|was|were)[ \t]{1,3})?"
                          r"(?:(?:seen|identified|present|demonstrated|detected|evident|noted|visualized)[ \t]{1,3})?"
                          r"(?:to|in|within|of|involving|at|throughout)[ \t]{1,3}(?:the[ \t]{1,3})?"
                          r"(?P<where>[\w-]{1,20})", re.I)
_BODY_REGIONS = {"chest", "thorax", "abdomen", "pelvis", "neck", "body", "torso", "visualized", "imaged",
                 "scanned", "field", "examined", "included", "study", "exam", "examination", "scan"}
_EXCEPT_AFTER = re.compile(r"^[^;]{0,60}?\b(?:other[ \t]{1,3}than|except|apart[ \t]{1,3}from|besides|"
                           r"aside[ \t]{1,3}from|save[ \t]{1,3}for|beyond[ \t]{1,3}the[ \t]{1,3}known|"
                           r"elsewhere)\b", re.I)


# =====================================================================================================
# public API


def stated_n(text: str) -> list[Fact]:
    """Every N category (N0-N3) the report states about this exam, in text order."""
    return _stated(text, "N")


def stated_m(text: str) -> list[Fact]:
    """Every M category (M0, M1, M1a-c) the report states about this exam, in text order."""
    return _stated(text, "M")


def answer_n(text: str) -> Fact | None:
    """The report's own N answer (impression first, category > stage > negation, most advanced)."""
    return _answer(stated_n(text), N_ORDER)


def answer_m(text: str) -> Fact | None:
    """The report's own M answer (impression first, category > stage > negation, most advanced)."""
    return _answer(stated_m(text), M_ORDER)


# =====================================================================================================
# driver


def _stated(text: str, letter: str) -> list[Fact]:
    out: list[Fact] = []
    lung_report = _lung_only_report(text) if letter == "M" else False
    for sentence in sentences(text):
        if sentence.section not in CURRENT_SECTIONS:
            continue  # history, indication, comparison, technique: not this exam's statement
        facts = _category_facts(sentence, letter) + _negation_facts(sentence, letter)
        if letter == "M":
            facts += _stage_facts(sentence, lung_report)
        out.extend(facts)
    return _dedupe(sorted(out, key=lambda f: (f.span.start, f.span.end)))


def _dedupe(facts: Iterable[Fact]) -> list[Fact]:
    seen, out = set(), []
    for f in facts:
        key = (f.value, f.span, f.kind)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


_SECTION_RANK = {"impression": 0}
_KIND_RANK = {"category": 0, "stage": 1, "negation": 2}


def _answer(facts: list[Fact], order: tuple[str, ...]) -> Fact | None:
    """Best section, then best kind, then the most advanced value (first stated on a tie)."""
    if not facts:
        return None

    def rank(f: Fact) -> tuple[int, int]:
        return _SECTION_RANK.get(f.section, 1), _KIND_RANK.get(f.kind, 3)

    best = min(rank(f) for f in facts)
    chosen = [f for f in facts if rank(f) == best]
    top = max(chosen, key=lambda f: order.index(f.value))  # max keeps the first of equals
    others = sorted({f.value for f in chosen} - {top.value}, key=order.index)
    if others:
        top = replace(top, note=f"most advanced of the stated {', '.join(others + [top.value])}")
    return top


def _fact(sentence: Sentence, start: int, end: int, value: str, kind: str, note: str = "", **extra) -> Fact:
    """A fact from sentence-relative offsets."""
    base = sentence.span.start
    return Fact(value=value, span=Span(base + start, base + end), sentence=sentence.span,
                section=sentence.section, kind=kind, note=note, extra=extra)


# =====================================================================================================
# explicit categories


def _normalise(token: str) -> str | None:
    """'cN2b' -> 'N2', 'pN1mi' -> 'N1', 'M1d' -> 'M1', 'M1c(1)' -> 'M1c'; NX/MX -> None."""
    m = _PARSE.match(token)
    if not m or m.group(2) in "Xx":
        return None
    letter, digit, sub = m.groups()
    if letter == "N":
        return f"N{digit}"
    if digit == "1" and sub in ("a", "b", "c"):
        return f"M1{sub}"
    return f"M{digit}"


def _first(matches: Iterable[re.Match]) -> list[re.Match]:
    """At most _MAX_PER_SENTENCE matches."""
    return list(islice(matches, _MAX_PER_SENTENCE))


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """Does ``start:end`` overlap one of the sorted, disjoint ``spans``?"""
    i = bisect_left(spans, (start, end))
    return any(a < end and start < b for a, b in spans[max(0, i - 1):i + 1])


def _category_facts(sentence: Sentence, letter: str) -> list[Fact]:
    s = sentence.text
    out: list[Fact] = []
    taken: list[tuple[int, int]] = []  # combined strings, so a component is not read again alone
    group = letter.lower()
    for pattern in (_TNM, _NM):
        for m in _first(pattern.finditer(s)):
            if _overlaps(taken, m.start(), m.end()):
                continue
            insort(taken, (m.start(), m.end()))
            if m.group(group) is None:
                continue
            fact = _judge_category(sentence, m.start(group), m.end(group), letter, strong=True,
                                   statement=(m.start(), m.end()), tnm=m.group(0))
            if fact:
                out.append(fact)
    for m in _first(_ALONE[letter].finditer(s)):
        if _overlaps(taken, m.start(), m.end()):
            continue
        strong = bool(m.group("pre") or m.group("sub"))
        fact = _judge_category(sentence, m.start("tok"), m.end("tok"), letter, strong=strong,
                               statement=(m.start("tok"), m.end("tok")), tnm=None)
        if fact:
            out.append(fact)
    return out


def _judge_category(sentence: Sentence, start: int, end: int, letter: str, *, strong: bool,
                    statement: tuple[int, int], tnm: str | None) -> Fact | None:
    """The fact a category token states, or None when it is a look-alike, hedged, prior, negated."""
    s = sentence.text
    token = s[start:end]
    value = _normalise(token)
    if value is None:
        return None
    before, after = s[max(0, start - _NEAR):start], s[end:end + _NEAR]
    if _LOOKALIKE_AFTER.match(after) or _LOOKALIKE_BEFORE.search(before[-30:]):
        return None
    if tnm is None:
        if token.startswith("c") and re.search(r"\d[ \t]?$", before):
            return None  # "2 cM1" is a measurement typo, not clinical M1
        if _ALTERNATIVE_AFTER[letter].match(after) or _ALTERNATIVE_BEFORE[letter].search(before[-24:]):
            return None
        if not strong and not (_CONTEXT_BEFORE[letter].search(before[-60:]) or _CONTEXT_AFTER[letter].match(after)):
            return None
    s0, s1 = statement
    if _not_stated(s, s0, s1):
        return None
    if _is_negated(s, s0, s1):
        # "no M1 disease" denies distant metastasis outright; "no N3 disease" says nothing about N0.
        if value == "M1" and token[-1] == "1" and tnm is None:
            lead = _NEG_BEFORE.search(s[max(0, s0 - _NEAR):s0])
            first = s0 - len(lead.group(0)) if lead else s0
            return _fact(sentence, first, end, "M0", "negation", note="negated M1", token=token)
        return None
    return _fact(sentence, start, end, value, "category", token=token, tnm=tnm)


# =====================================================================================================
# stage groups


def _lung_only_report(text: str) -> bool:
    """A lung primary is named and no other primary cancer is (the report-wide stage gate)."""
    return bool(_LUNG_PRIMARY.search(text)) and not _OTHER_PRIMARY.search(text)


def _stage_m(group: str) -> str | None:
    """AJCC 8 lung stage group -> M: 0-IIIC -> M0, IVA -> M1 (M1a or M1b), IVB -> M1c, IV -> M1."""
    g = group.upper()
    if not _LUNG_GROUP.fullmatch(g):
        return None  # "IIC", "IVC", "IA4" are not lung groups
    if g.startswith(("IV", "4")):
        return "M1c" if g.endswith("B") else "M1"
    return "M0"


def _stage_facts(sentence: Sentence, lung_report: bool) -> list[Fact]:
    s = sentence.text
    out = []
    for m in _first(_STAGE.finditer(s)):
        value = _stage_m(m.group("group"))
        if value is None:
            continue
        before, after = s[max(0, m.start() - 60):m.start()], s[m.end():m.end() + 80]
        if _OTHER_SYSTEM_BEFORE.search(before) or _NON_CANCER_AFTER.match(after):
            continue
        near = s[max(0, m.start() - _WINDOW):m.end() + _WINDOW]
        lung_here = bool(_LUNG_PRIMARY.search(near))
        if not lung_here and (not lung_report or _OTHER_PRIMARY.search(near)):
            continue
        if _not_stated(s, m.start(), m.end()) or _is_negated(s, m.start(), m.end()):
            continue
        out.append(_fact(sentence, m.start(), m.end(), value, "stage",
                         note=f"AJCC 8 lung stage {m.group('group').upper()}", stage=m.group("group")))
    return out


# =====================================================================================================
# negative statements


def _negation_facts(sentence: Sentence, letter: str) -> list[Fact]:
    s = sentence.text
    found: list[tuple[int, int, str]] = []  # (start, end, "M0" | "N0")
    pre_spans: list[tuple[int, int]] = []
    for m in _first(_NEG_PRE.finditer(s)):
        pre_spans.append((m.start(), m.end()))
        found += _negation_values(s, m)
    for m in _first(_NEG_POST.finditer(s)):
        if _word_before(s, m.start()) not in _NEUTRAL_BEFORE or _overlaps(pre_spans, m.start(), m.end()):
            continue  # "hepatic metastases are not seen" is one site; or already read as pre-form
        found += _negation_values(s, m)
    if letter == "N":
        for m in _first(_NEG_NODES.finditer(s)):
            if not _SCOPE_AFTER.match(s[m.end():m.end() + 40]):
                found.append((m.start(), m.end(), "N0"))
        for m in _first(_NODE_NEGATIVE.finditer(s)):
            if _word_before(s, m.start()) in _NEUTRAL_BEFORE:
                found.append((m.start(), m.end(), "N0"))
    out = []
    for start, end, value in found:
        if value[0] != letter or not _negation_holds(s, start, end):
            continue
        out.append(_fact(sentence, start, end, value, "negation"))
    return out


def _negation_values(s: str, m: re.Match) -> list[tuple[int, int, str]]:
    """What a negated metastasis phrase denies: distant -> M0, nodal -> N0, unqualified -> M0."""
    after = s[m.end():m.end() + 80]
    scope = _SCOPE_AFTER.match(after)
    if scope and (m.group("nodal") or scope.group("where").lower() not in _BODY_REGIONS):
        return []  # "no metastases to the liver", "no nodal metastases in the mediastinum"
    if _EXCEPT_AFTER.match(after) or _EXCEPT_BEFORE.search(s[max(0, m.start() - _NEAR):m.start()]):
        return []  # "no distant metastases other than the known adrenal nodule", "otherwise no ..."
    if m.group("both1") or m.group("both2"):
        return [(m.start(), m.end(), "N0"), (m.start(), m.end(), "M0")]
    if m.group("nodal"):
        return [(m.start(), m.end(), "N0")]
    return [(m.start(), m.end(), "M0")]


def _negation_holds(s: str, start: int, end: int) -> bool:
    """A negative statement about this exam: not hedged elsewhere in its clause, not prior, not 'if'."""
    # Mask the phrase itself: "no findings suspicious for metastasis" is not a hedge.
    lo, hi = max(0, start - _WINDOW), end + _WINDOW
    masked = s[lo:start] + " " * (end - start) + s[end:hi]
    return not _not_stated(s, start, end, hedge_text=(masked, start - lo, end - lo))


def _word_before(s: str, position: int) -> str:
    """The word just before ``position`` (lower case), skipping up to three non-letters; "" if none."""
    m = re.search(r"([A-Za-z]{1,20})[^A-Za-z]{0,3}$", s[max(0, position - 30):position])
    return m.group(1).lower() if m else ""


# =====================================================================================================
# statement status


def _window(s: str, start: int, end: int) -> tuple[str, int, int]:
    """A bounded slice around a match, so clause scans stay linear on a huge one-sentence input."""
    lo = max(0, start - _WINDOW)
    return s[lo:end + _WINDOW], start - lo, end - lo


def _not_stated(s: str, start: int, end: int, *, hedge_text: tuple[str, int, int] | None = None) -> bool:
    """Hedged, prior or conditional: the sentence does not state this about this exam.

    ``hedge_text`` replaces the hedge check's window (a negation masks its own "suspicious for").
    """
    sub, a, b = hedge_text or _window(s, start, end)
    if uncertain(sub, a, b):
        return True
    before = _since_reset(s, start)
    return _is_prior(before, s[end:end + 60]) or bool(_CONDITIONAL.search(before))


def _since_reset(s: str, start: int) -> str:
    """The text before ``start`` back to the last statement break ('but', ';', ', with')."""
    before = s[max(0, start - _WINDOW):start]
    ends = [m.end() for m in _RESET.finditer(before)]
    return before[ends[-1]:] if ends else before


def _is_prior(before: str, after: str) -> bool:
    """A prior marker before the statement (not overridden by a later current one), or right after."""
    before = _COMPARED.sub(lambda m: " " * len(m.group(0)), before)
    if _FROM_BEFORE.search(before[-12:]) or _PRIOR_AFTER.match(after) or _PRIOR_ADJACENT.search(before[-80:]):
        return True
    prior = [m.end() for m in _PRIOR.finditer(before)]
    current = [m.end() for m in _CURRENT.finditer(before)]
    return bool(prior) and (not current or prior[-1] > current[-1])


def _is_negated(s: str, start: int, end: int) -> bool:
    before = s[max(0, start - _NEAR):start]
    return bool(_NEG_BEFORE.search(before) or _NEG_AFTER.match(s[end:end + 60]))
