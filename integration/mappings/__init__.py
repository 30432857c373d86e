"""Mappings: how each task's typed result becomes FHIR (``mappings/*.yaml``).

One YAML file per task. Each file names its ``task`` and a ``kind`` that fixes its shape:

* ``label_status`` (abnormality_detection): one Observation per label whose status is listed in
  ``write_statuses``; ``labels`` give Observation.code per label, ``values`` the value per status.
* ``entities`` (radiology_ner): one Observation per entity whose NER label is in ``values``;
  ``body_sites`` map anatomy phrases to Observation.bodySite.
* ``changes`` (temporal_comparison): one Observation per (finding, change); ``values`` and
  ``interpretation`` per change.
* ``rads`` (rads_assignment): one Observation for the assessment; per RADS system a ``code`` and
  ``categories`` (value per category); ``none`` says what "no applicable RADS" becomes.
* ``category`` (n_staging, m_staging): one Observation with ``code`` and ``values`` per label.
* ``text`` (impression_generation): one Observation with ``code`` and the text as valueString.
* ``none`` (radiology_nli, radiology_qa): nothing is written.

A concept is ``{text: ..., coding: [{system, code, display}]}``. Every coding must use a known
code-system URI (or one the file declares in ``local_systems``); SNOMED CT ids and LOINC codes are
checked against their check digits, which catches most typing errors. Anything not mapped is
written as ``code.text`` only -- never an invented code.

Errors name the file, the line and the key path: ``mappings/x.yaml:12: labels.Edema.coding.0.code:
...``.
"""

from integration.mappings.checks import Validation, coverage_problems, display_findings, validate_paths
from integration.mappings.codes import KNOWN_SYSTEMS, LOINC, SNOMED, loinc_valid, sctid_valid
from integration.mappings.loader import (
    MappingError,
    Mappings,
    declared_task,
    key_line,
    load_file,
    load_mappings,
    mappings_digest,
)
from integration.mappings.schema import Coding, Concept

__all__ = [
    "KNOWN_SYSTEMS", "LOINC", "SNOMED", "Coding", "Concept", "MappingError", "Mappings", "Validation",
    "coverage_problems", "declared_task", "display_findings", "key_line", "load_file", "load_mappings",
    "loinc_valid", "mappings_digest", "sctid_valid", "validate_paths",
]
