"""The codes the shipped mappings use, pinned with their displays from the code systems' releases.

Why: a check digit catches a mistyped code, not a wrong one. ``Pleural Effusion`` mapped to
36118008 with the display "Pleural effusion" passes every schema check and writes *pneumothorax*
into the chart -- the EHR reads the code, a human reads the display, and nobody sees the mismatch.
``radlite mappings validate`` compares each coding's display with the display pinned here for its
code (:func:`display_problem`) and fails when they disagree; a code that is not in this table gets a
warning (its display cannot be checked). The loader behind ``serve``/``worker``/``scheduler`` does
not run this check: a wrong display is a finding for the engineer's CI, not a reason to stop
production.

Releases the displays are pinned to (one per system; re-check against these when adding a code):

* SNOMED CT -- International Edition, 2024-08-01 release (http://snomed.info/sct/900000000000207008/
  version/20240801): the fully specified name (FSN) and the preferred term (PT, US English).
* LOINC -- version 2.78 (2024-08): the Long Common Name.
* RadLex -- release 4.1: the preferred name of each RID.
* HL7 Terminology (THO) 5.5.0: CodeSystem ``observation-category`` and
  ``v3-ObservationInterpretation`` displays (unchanged since FHIR R4 4.0.1).
* AJCC (http://cancerstaging.org) -- AJCC Cancer Staging Manual, 8th edition: the category
  itself (``cN0``); AJCC publishes no display terms, so the code is its own display.

Each entry comes from the mappings' own sources (see the headers of mappings/*.yaml); several
were cross-checked against other public uses of the same code (FHIR IGs, DICOM PS3.16 context
groups), which corrected three shipped displays (3120008, 72410000, RID1310). None was checked
against the release files themselves (licensed downloads, not reachable from where this was
written): entries whose display could be confirmed only in part carry a comment saying so.

A coding's display passes when it equals, ignoring case and runs of whitespace, the entry's
``display`` (the FSN for SNOMED CT, the Long Common Name for LOINC, the preferred name for RadLex,
the display for HL7), the SNOMED CT preferred term (``pt``), or one of its ``synonyms``: only
descriptions of the *same* concept (a SNOMED CT synonym, DICOM's code meaning, an older preferred
term), never a broader or related one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Collection

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RADLEX = "http://radlex.org"
AJCC = "http://cancerstaging.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"

SYSTEM_NAMES = {
    SNOMED: "SNOMED CT",
    LOINC: "LOINC",
    RADLEX: "RadLex",
    AJCC: "AJCC",
    OBSERVATION_CATEGORY: "HL7 observation-category",
    V3_INTERPRETATION: "HL7 v3-ObservationInterpretation",
    "http://dicom.nema.org/resources/ontology/DCM": "DICOM DCM",
}


@dataclass(frozen=True)
class Term:
    system: str
    code: str
    display: str  # FSN / Long Common Name / preferred name / display (see the module docstring)
    pt: str | None = None  # SNOMED CT preferred term, when it differs from the FSN
    synonyms: tuple[str, ...] = ()

    def accepted(self) -> tuple[str, ...]:
        """Every display that passes, ``display`` first."""
        out = [self.display]
        if self.pt:
            out.append(self.pt)
        out += self.synonyms
        return tuple(dict.fromkeys(out))


def _sct(code: str, fsn: str, *synonyms: str) -> Term:
    """A SNOMED CT concept: its FSN, and the FSN's term without the semantic tag as ``pt`` (the
    preferred term of most concepts; where the preferred term differs, it is among ``synonyms``)."""
    pt = re.sub(r"\s*\([^()]*\)$", "", fsn)
    return Term(SNOMED, code, fsn, pt, tuple(synonyms))


TERMS: tuple[Term, ...] = (
    # -- SNOMED CT: findings and disorders (abnormality_detection) --------------------------------
    _sct("8186001", "Cardiomegaly (disorder)"),
    _sct("19242006", "Pulmonary edema (disorder)", "Pulmonary oedema"),
    _sct("95436008", "Lung consolidation (disorder)"),
    _sct("233604007", "Pneumonia (disorder)"),
    _sct("46621007", "Atelectasis (disorder)"),
    _sct("36118008", "Pneumothorax (disorder)"),
    _sct("60046008", "Pleural effusion (disorder)"),
    _sct("125605004", "Fracture of bone (disorder)", "Bone fracture"),
    # -- SNOMED CT: qualifier values (presence, change) -------------------------------------------
    _sct("52101004", "Present (qualifier value)"),
    _sct("2667000", "Absent (qualifier value)"),  # not shipped: docs/mapping-guide.md suggests it for OBS-DA
    _sct("82334004", "Indeterminate (qualifier value)"),
    _sct("7147002", "New (qualifier value)"),
    _sct("230993007", "Worsening (qualifier value)"),
    _sct("385633008", "Improving (qualifier value)"),
    _sct("723506003", "Resolved (qualifier value)"),
    _sct("260388006", "No status change (qualifier value)"),
    # -- SNOMED CT: BI-RADS assessment findings (rads_assignment) ----------------------------------
    # Displays as in the HL7 Lithuania BI-RADS value set the mapping cites; DICOM PS3.16's code
    # meanings (no semantic tag; categories 3 and 5 with their longer wording) are listed as synonyms.
    _sct("397138000", "Mammography assessment (Category 0) - Need additional imaging evaluation (finding)"),
    _sct("397140005", "Mammography assessment (Category 1) - Negative (finding)"),
    _sct("397141009", "Mammography assessment (Category 2) - Benign finding (finding)"),
    _sct("397143007", "Mammography assessment (Category 3) - Probably benign finding, short interval follow-up (finding)",
         "Mammography assessment (Category 3) - Probably benign finding, short interval follow-up suggested"),
    _sct("397144001", "Mammography assessment (Category 4) - Suspicious abnormality, biopsy should be considered (finding)"),
    _sct("397145000", "Mammography assessment (Category 5) - Highly suggestive of malignancy (finding)",
         "Mammography assessment (Category 5) - Highly suggestive of malignancy, appropriate action should be taken"),
    # -- SNOMED CT: body structures (radiology_ner body sites) -------------------------------------
    _sct("51185008", "Thoracic structure (body structure)", "Thorax", "Chest"),
    _sct("39607008", "Lung structure (body structure)", "Lung"),
    _sct("3341006", "Right lung structure (body structure)", "Right lung"),
    _sct("44029006", "Left lung structure (body structure)", "Left lung"),
    _sct("42400003", "Structure of upper lobe of right lung (body structure)", "Right upper lobe of lung"),
    # FSN confirmed in part: FHIR IG instances write "Structure of middle lobe of right lung", the
    # OIDM anatomic-locations table "Middle lobe of right lung structure", DICOM "Middle lobe of
    # right lung"; all are descriptions of this one concept.
    _sct("72481006", "Structure of middle lobe of right lung (body structure)",
         "Middle lobe of right lung structure", "Middle lobe of right lung", "Right middle lobe of lung",
         "Structure of right middle lobe of lung"),
    _sct("266005", "Structure of lower lobe of right lung (body structure)", "Right lower lobe of lung"),
    _sct("44714003", "Structure of upper lobe of left lung (body structure)", "Left upper lobe of lung"),
    _sct("41224006", "Structure of lower lobe of left lung (body structure)", "Left lower lobe of lung"),
    _sct("3120008", "Pleural membrane structure (body structure)", "Pleura"),
    _sct("72410000", "Mediastinal structure (body structure)", "Mediastinum"),
    _sct("80891009", "Heart structure (body structure)", "Heart"),
    _sct("10200004", "Liver structure (body structure)", "Liver"),
    _sct("113345001", "Abdominal structure (body structure)", "Abdomen"),
    _sct("12921003", "Pelvic structure (body structure)", "Pelvis"),
    _sct("64033007", "Kidney structure (body structure)", "Kidney"),
    _sct("69748006", "Thyroid structure (body structure)", "Thyroid gland"),
    _sct("41216001", "Prostatic structure (body structure)", "Prostate"),
    _sct("12738006", "Brain structure (body structure)", "Brain"),
    _sct("76752008", "Breast structure (body structure)", "Breast"),
    # PT confirmed in part: "Lymph node structure" is the preferred term in recent releases.
    _sct("59441001", "Structure of lymph node (body structure)", "Lymph node structure", "Lymph node"),
    # -- SNOMED CT: procedures and service categories (followup/codes.yaml) -----------------------
    # Confirmed in part: the concept of each is confirmed by public FHIR IG value sets (e.g. imaging
    # methods: 77477000 "CT - Computerized tomography", 363680008 "X-ray", 312275004 "Fluoroscopic
    # imaging"); the FSNs are the International Edition's as we know them, not read off the release.
    _sct("77477000", "Computerized axial tomography (procedure)", "Computerized tomography",
         "CT - Computerized tomography"),
    _sct("113091000", "Magnetic resonance imaging (procedure)", "MRI - Magnetic resonance imaging"),
    _sct("16310003", "Ultrasonography (procedure)", "US - Ultrasound"),
    _sct("71651007", "Mammography (procedure)"),
    _sct("82918005", "Positron emission tomography (procedure)", "PET - Positron emission tomography"),
    _sct("363680008", "Radiographic imaging procedure (procedure)", "X-ray"),
    _sct("312275004", "Fluoroscopic imaging (procedure)"),
    _sct("86273004", "Biopsy (procedure)"),
    _sct("363679005", "Imaging (procedure)"),
    _sct("387713003", "Surgical procedure (procedure)"),
    # -- LOINC -----------------------------------------------------------------------------------
    Term(LOINC, "19005-8", "Radiology Imaging study [Impression] (narrative)"),
    Term(LOINC, "21906-3", "Regional lymph nodes.clinical [Class] Cancer"),
    Term(LOINC, "21907-1", "Distant metastases.clinical [Class] Cancer"),
    # -- RadLex ----------------------------------------------------------------------------------
    Term(RADLEX, "RID1243", "thorax"),
    Term(RADLEX, "RID1301", "lung"),
    Term(RADLEX, "RID1302", "right lung"),
    Term(RADLEX, "RID1326", "left lung"),
    Term(RADLEX, "RID1303", "upper lobe of right lung", synonyms=("right upper lobe",)),
    # Preferred name confirmed in part (DICOM-SR tooling writes "right middle lobe").
    Term(RADLEX, "RID1310", "middle lobe of right lung", synonyms=("right middle lobe",)),
    Term(RADLEX, "RID1315", "lower lobe of right lung", synonyms=("right lower lobe",)),
    Term(RADLEX, "RID1327", "upper lobe of left lung", synonyms=("left upper lobe",)),
    Term(RADLEX, "RID1338", "lower lobe of left lung", synonyms=("left lower lobe",)),
    Term(RADLEX, "RID1362", "pleura"),
    Term(RADLEX, "RID1384", "mediastinum"),
    Term(RADLEX, "RID1385", "heart"),
    Term(RADLEX, "RID58", "liver"),
    Term(RADLEX, "RID205", "kidney"),
    Term(RADLEX, "RID7578", "thyroid gland"),
    Term(RADLEX, "RID343", "prostate"),
    Term(RADLEX, "RID6434", "brain"),
    # -- HL7 Terminology -------------------------------------------------------------------------
    Term(OBSERVATION_CATEGORY, "imaging", "Imaging"),
    Term(V3_INTERPRETATION, "B", "Better"),
    Term(V3_INTERPRETATION, "W", "Worse"),
    # -- AJCC 8th edition: the category is its own display ----------------------------------------
    *(Term(AJCC, code, code) for code in ("cN0", "cN1", "cN2", "cN3", "cM0", "cM1", "cM1a", "cM1b", "cM1c")),
)

BY_CODE: dict[tuple[str, str], Term] = {(t.system, t.code): t for t in TERMS}
# The systems this table speaks for: a code of one of them that is not listed gets a warning.
SYSTEMS = frozenset(t.system for t in TERMS)

_WS = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _WS.sub(" ", text).strip().casefold()


def lookup(system: str, code: str) -> Term | None:
    return BY_CODE.get((system, code))


def display_matches(term: Term, display: str) -> bool:
    """Whether ``display`` is one of the displays accepted for ``term`` (case and runs of
    whitespace ignored)."""
    given = _norm(display)
    return any(_norm(d) == given for d in term.accepted())


def display_problem(system: str, code: str, display: str | None) -> str | None:
    """Why a coding's display is wrong for its code (None when it is right, absent, or the code is
    not pinned: see :func:`unknown_code`)."""
    if display is None:
        return None
    term = lookup(system, code)
    if term is None or display_matches(term, display):
        return None
    name = SYSTEM_NAMES.get(system, system)
    return (f"display {display!r} is not how {name} names {code}: {term.display!r}"
            + (f" (also accepted: {', '.join(repr(d) for d in term.accepted()[1:])})" if term.accepted()[1:] else "")
            + "; the code or the display is wrong (integration/mappings/terminology.py)")


def unknown_code(system: str, code: str, systems: Collection[str] = SYSTEMS) -> str | None:
    """A warning for a code of one of ``systems`` (by default those the table pins codes of) that
    is not in the table: its display cannot be checked. None for a pinned code or another system
    (a site-local one is not the table's business)."""
    if system not in systems or (system, code) in BY_CODE:
        return None
    name = SYSTEM_NAMES.get(system, system)
    return (f"{name} {code} is not in the pinned terminology table (integration/mappings/terminology.py): "
            f"its display cannot be checked; verify it against the code system")
