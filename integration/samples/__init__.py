"""The sample reports the project ships (written by us; see reports.yaml), as text or as FHIR."""

from __future__ import annotations

import base64
import html
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml


@lru_cache(maxsize=1)
def sample_reports() -> tuple[dict[str, Any], ...]:
    text = resources.files(__package__).joinpath("reports.yaml").read_text(encoding="utf-8")
    return tuple(yaml.safe_load(text))


def sample_texts() -> list[str]:
    return [r["text"] for r in sample_reports()]


def diagnostic_report(sample: dict[str, Any], version: str = "1") -> dict[str, Any]:
    """A FHIR R4 DiagnosticReport carrying the sample's text the way its ``form`` says."""
    patient = sample["patient"]
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": sample["id"],
        "meta": {"versionId": version},
        "identifier": [{"system": "urn:example:radlite:accession", "value": f"ACC-{sample['id']}"}],
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD", "display": "Radiology"}
                ]
            }
        ],
        "code": {
            "coding": [{"system": "http://loinc.org", "code": sample["loinc"], "display": sample["code_text"]}],
            "text": sample["code_text"],
        },
        "subject": {"reference": f"Patient/{patient['id']}", "display": patient["name"]},
        "effectiveDateTime": sample["effective"],
        "issued": sample["effective"],
    }
    if modality := sample.get("modality"):
        # DICOM modality as an extra category coding lets routing rules select by modality.
        resource["category"].append(
            {"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": modality}]}
        )
    text = sample["text"]
    form = sample["form"]
    if form == "presentedForm-plain":
        resource["presentedForm"] = [_attachment("text/plain", text)]
    elif form == "presentedForm-html":
        body = "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines())
        resource["presentedForm"] = [_attachment("text/html", f"<html><body>{body}</body></html>")]
    elif form == "conclusion":
        resource["conclusion"] = text
    elif form == "narrative":
        lines = "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines())
        resource["text"] = {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{lines}</div>'}
    else:
        raise ValueError(f"sample {sample['id']}: unknown form {form!r}")
    return resource


def _attachment(content_type: str, text: str) -> dict[str, str]:
    return {
        "contentType": content_type,
        "language": "en",
        "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
    }


def sample_diagnostic_reports() -> list[dict[str, Any]]:
    return [diagnostic_report(s) for s in sample_reports()]
