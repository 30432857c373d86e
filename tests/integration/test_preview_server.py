"""$preview against the real FHIR server (sekmet-fhir): preview a report, then push it through
intake -> worker -> write-back and compare what the server holds with what the preview said.

Scored tasks (n_staging, m_staging) with the tiny random bundle: deterministic answers, so the
preview and the real run must agree on every Observation's identifier, code and value.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from fhir.resources.R4B.bundle import Bundle

from integration.fhir.transaction import RESULT_SYSTEM
from integration.inference.router import Router
from integration.inference.worker import Worker
from integration.intake.http.app import create_app
from integration.mappings import load_mappings
from integration.settings import load_settings
from integration.store import JobStore
from integration.writeback.client import FhirClient
from integration.writeback.runner import write_due
from tests.fhir_server import BY_REPORT
from tests.previews import preview_worker

FHIR = {"Content-Type": "application/fhir+json"}


def _settings(tmp_path: Path, bundle: Path, fhir_base: str):
    site = {
        "inference": {"bundles": {"tiny": str(bundle)}, "default_bundle": "tiny", "threads": 1},
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "intake": {"auth": {"mode": "open"}},
        "ehr": {"base_url": fhir_base},
        "audit": {"file": None},
        "routing": {"rules": [], "default_tasks": ["n_staging", "m_staging"]},
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site))
    return load_settings(path, environ={})


def _key(obs: dict) -> str:
    [value] = [i["value"] for i in obs["identifier"] if i["system"] == RESULT_SYSTEM]
    return value


def _essentials(obs: dict) -> dict:
    """What the preview promises about an Observation (the server adds id, meta.versionId, ...)."""
    keep = ("status", "category", "code", "valueCodeableConcept", "valueString", "bodySite", "interpretation",
            "subject", "effectiveDateTime", "derivedFrom", "identifier", "note")
    out = {k: obs[k] for k in keep if k in obs}
    out["security"] = obs["meta"]["security"]
    return out


def test_preview_matches_what_the_write_back_writes(tmp_path, tiny_qwen2, fhir_server, seeded_report) -> None:
    report = seeded_report(8)  # sample-ct-staging with a unique id, as the EHR holds it (versionId 1)
    settings = _settings(tmp_path, tiny_qwen2, fhir_server.base_url)
    store = JobStore(settings.store.url)
    client = FhirClient.from_settings(settings.ehr)
    try:
        http = create_app(settings, store).test_client()

        # A worker answers the preview (the web app only queues it and waits).
        with preview_worker(settings, store):
            resp = http.post("/fhir/DiagnosticReport/$preview", json=copy.deepcopy(report), headers=FHIR)
        assert resp.status_code == 200 and resp.mimetype == "application/fhir+json"
        preview = resp.get_json()
        Bundle.model_validate(preview)
        predicted = {_key(e["resource"]): e["resource"] for e in preview["entry"]
                     if e["resource"]["resourceType"] == "Observation"}
        assert len(predicted) == 2
        # The preview wrote nothing and stored nothing.
        derived = {BY_REPORT: f"DiagnosticReport/{report['id']}"}
        assert fhir_server.count("Observation", **derived) == 0
        assert store.jobs() == [] and sum(store.preview_counts().values()) == 0

        # The real thing: intake -> worker -> write-back.
        assert http.post("/fhir/DiagnosticReport", json=copy.deepcopy(report), headers=FHIR).status_code == 202
        worker = Worker(settings, store, Router.from_settings(settings.inference), owner="w-preview")
        assert worker.run_once() == 1
        counts = write_due(store, client, load_mappings(settings.writeback.mappings_dir), "s-preview",
                           settings.writeback)
        assert counts.written == 1

        on_server = {_key(o): o for o in fhir_server.search("Observation", **derived)}
        assert set(on_server) == set(predicted)
        for key, obs in on_server.items():
            expected = _essentials(predicted[key])
            assert _essentials(obs) == expected, key
            # The device reference was a urn:uuid in the Bundle; on the server it is the Device made.
            assert obs["device"]["reference"].startswith("Device/")
        # The Device and the Provenance the preview listed are there too.
        [device_entry] = [e for e in preview["entry"] if e["resource"]["resourceType"] == "Device"]
        ident = device_entry["resource"]["identifier"][0]
        assert fhir_server.count("Device", identifier=f"{ident['system']}|{ident['value']}") == 1
        [provenance] = fhir_server.search("Provenance", entity=f"DiagnosticReport/{report['id']}")
        # Its targets: the Observations and the critical-result alert (the sample states M1c).
        alerts = [e for e in preview["entry"] if e["resource"]["resourceType"] == "Communication"]
        assert len(alerts) == 1
        assert len(provenance["target"]) == len(predicted) + len(alerts)
    finally:
        client.close()
        store.close()
