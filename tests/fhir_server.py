"""Test helpers for the FHIR server tests: keys, and hand-made job results in the worker's format.

The server itself lives in :mod:`integration.ops.devserver` (the demo uses it too).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from integration.ops.devserver import (  # noqa: F401 -- re-exported for the tests
    FHIR_VENV,
    MAKE_HINT,
    SEKMET,
    SekmetServer,
    SmartClient,
    free_port,
    sekmet_available,
)


def make_key(path: Path, algorithm: str = "RS384") -> tuple[Path, Path]:
    """A private key (mode 0600) and its public PEM beside it, for SMART tests."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    path.parent.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1()) if algorithm == "ES384" else rsa.generate_private_key(65537, 2048)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    os.chmod(path, 0o600)
    pub = path.with_suffix(".pub.pem")
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return path, pub


# Search parameter for the Observations written for a report: those a Provenance with the report
# as entity targets (``Observation?_has:Provenance:target:entity=DiagnosticReport/<id>``). R4 does
# not let Observation.derivedFrom name a DiagnosticReport, so there is no derived-from to search.
BY_REPORT = "_has:Provenance:target:entity"


# -- hand-made job results (the inference worker's format), for write-back tests -------------

MODEL = {"name": "radlite-mini", "version": "0.1.0", "sha256": "ab" * 32, "base_model": "SmolLM2-135M-Instruct"}


def result(value: Any, *, parsed: bool = True, model: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "parsed": parsed,
        "value": value if parsed else None,
        "error": None if parsed else "no known label in answer",
        "raw": "" if parsed else "garbled",
        "mode": "generate",
        "bundle": dict(model or MODEL),
        "prompt_tokens": 120,
        "output_tokens": 12,
        "seconds": 0.2,
    }


def chexpert(**statuses: str) -> dict[str, str]:
    """All 14 CheXpert labels negative except those given (keyword = label with _ for space)."""
    from integration.tasks.abnormality_detection import CHEXPERT_LABELS

    value = dict.fromkeys(CHEXPERT_LABELS, "negative")
    for key, status in statuses.items():
        label = key.replace("_", " ")
        assert label in value, label
        value[label] = status
    return value


def full_results(model: dict[str, str] | None = None) -> dict[str, Any]:
    """One result for every task, every written task with something to write."""
    return {
        "abnormality_detection": result(chexpert(Cardiomegaly="positive", Edema="positive",
                                                 Atelectasis="uncertain", Lung_Lesion="positive"), model=model),
        "impression_generation": result("Cardiomegaly with interstitial edema.", model=model),
        "radiology_ner": result([
            {"text": "cardiac silhouette", "label": "ANAT-DP"},
            {"text": "enlarged cardiac silhouette", "label": "OBS-DP"},
            {"text": "left base", "label": "ANAT-DP"},
            {"text": "patchy opacity at the left base", "label": "OBS-U"},
            {"text": "pneumothorax", "label": "OBS-DA"},
            {"text": "right upper lobe", "label": "ANAT-DP"},
            {"text": "right upper lobe nodule", "label": "OBS-DP"},
        ], model=model),
        "temporal_comparison": result([
            {"finding": "cardiomegaly", "change": "worsened"},
            {"finding": "pleural effusion", "change": "new"},
        ], model=model),
        "rads_assignment": result({"system": "BI-RADS", "category": "4"}, model=model),
        "n_staging": result("N1", model=model),
        "m_staging": result("M0", model=model),
        "radiology_nli": result("entailment", model=model),
        "radiology_qa": result("Yes.", model=model),
    }
