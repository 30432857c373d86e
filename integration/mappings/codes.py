"""Code systems a mapping may use, their canonical URIs and aliases, and the check digits of SNOMED CT
ids and LOINC codes (which catch most typing errors in a code)."""

from __future__ import annotations

import re

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
AJCC = "http://cancerstaging.org"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DICOM_DCM = "http://dicom.nema.org/resources/ontology/DCM"
RADLEX = "http://radlex.org"

# Code systems a shipped or site mapping may use without declaring them.
KNOWN_SYSTEMS = frozenset({SNOMED, LOINC, AJCC, V3_INTERPRETATION, OBSERVATION_CATEGORY, DICOM_DCM, RADLEX})

# Spellings of known systems that are not their FHIR canonical URI (an OID, www., a trailing
# slash, the v2/v3 names): a coding with one of these would not be recognised by the EHR.
SYSTEM_ALIASES = {
    "urn:oid:2.16.840.1.113883.6.96": SNOMED,
    "http://www.snomed.org": SNOMED,
    "http://www.snomed.org/": SNOMED,
    "http://snomed.info/sct/": SNOMED,
    "https://snomed.info/sct": SNOMED,
    "http://snomed.info": SNOMED,
    "urn:oid:2.16.840.1.113883.6.1": LOINC,
    "http://www.loinc.org": LOINC,
    "http://loinc.org/": LOINC,
    "https://loinc.org": LOINC,
    "urn:oid:2.16.840.1.113883.6.256": RADLEX,
    "http://www.radlex.org": RADLEX,
    "http://radlex.org/": RADLEX,
    "https://radlex.org": RADLEX,
    "http://radlex.org/RID": RADLEX,
    "http://www.radlex.org/RID": RADLEX,
    "urn:oid:1.2.840.10008.2.16.4": DICOM_DCM,
    "http://hl7.org/fhir/v3/ObservationInterpretation": V3_INTERPRETATION,
    "http://hl7.org/fhir/observation-category": OBSERVATION_CATEGORY,
}

SCTID_SYNTAX = re.compile(r"^[1-9][0-9]{5,17}$")
LOINC_SYNTAX = re.compile(r"^[0-9]{1,7}-[0-9]$")
RADLEX_ID = re.compile(r"^RID[1-9][0-9]*$")


# -- check digits ----------------------------------------------------------------------------

_VERHOEFF_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_VERHOEFF_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]


def sctid_valid(code: str) -> bool:
    """SNOMED CT identifiers end in a Verhoeff check digit (SNOMED CT TIG, 'SCTID')."""
    if not SCTID_SYNTAX.match(code):
        return False
    c = 0
    for i, ch in enumerate(reversed(code)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][int(ch)]]
    return c == 0


def loinc_valid(code: str) -> bool:
    """LOINC codes end in a mod-10 check digit (LOINC Users' Guide, 'Calculating mod 10')."""
    if not LOINC_SYNTAX.match(code):
        return False
    body, check = code.split("-")
    digits = [int(ch) for ch in body]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:  # rightmost digit and every second one to its left are doubled
            d *= 2
            d = d // 10 + d % 10
        total += d
    return (10 - total % 10) % 10 == int(check)
