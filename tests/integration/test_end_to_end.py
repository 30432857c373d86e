"""The main job end to end: push -> intake -> store -> worker (CTranslate2 int8) -> write-back ->
the real FHIR server, read back by search. The model is the tiny random bundle (its answers are
nonsense, but every code path is the real one); the FHIR server is sekmet-fhir.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from integration.inference.router import Router
from integration.inference.worker import Worker
from integration.intake.http.app import create_app
from integration.samples import sample_diagnostic_reports
from integration.settings import load_settings
from integration.store import JobStore, State
from integration.writeback.client import FhirClient
from integration.writeback.runner import write_due
from tests.fhir_server import BY_REPORT

ROOT = Path(__file__).resolve().parents[2]
AIAST = ("http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "AIAST")


def _settings(tmp_path: Path, bundle: Path, fhir_base: str, **overrides):
    site = {
        "inference": {"bundles": {"tiny": str(bundle)}, "default_bundle": "tiny", "threads": 1},
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "intake": {"auth": {"mode": "open"}},
        "ehr": {"base_url": fhir_base},
        "writeback": {"backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05},
        "worker": {"batch_size": 4, "lease_seconds": 60},
        "audit": {"file": None},
        # What a sample states (a RADS or TNM category) is written whatever the tiny random model
        # answers; its own answers are abstained, and generated tasks exercise the parse-failure path.
        "routing": {"rules": [], "default_tasks": ["rads_assignment", "n_staging", "m_staging",
                                                   "impression_generation"]},
    }
    for section, values in overrides.items():
        site.setdefault(section, {}).update(values)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site))
    return load_settings(path, environ={}), path


@pytest.fixture()
def pipeline(tmp_path, tiny_qwen2, fresh_fhir_server):
    settings, site_file = _settings(tmp_path, tiny_qwen2, fresh_fhir_server.base_url)
    store = JobStore(settings.store.url)
    app = create_app(settings, store)
    worker = Worker(settings, store, Router.from_settings(settings.inference), owner="w-test")
    client = FhirClient.from_settings(settings.ehr)
    from integration.mappings import load_mappings

    mappings = load_mappings(settings.writeback.mappings_dir)

    def write_all(max_rounds: int = 50) -> None:
        for _ in range(max_rounds):
            write_due(store, client, mappings, "s-test", settings.writeback)
            states = store.counts()
            if states["inferred"] == 0 and states["writing"] == 0:
                return
            time.sleep(0.06)
        raise AssertionError(f"write-back did not drain: {store.counts()}")

    def drain() -> None:
        while worker.run_once():
            pass

    ns = type("Pipeline", (), {})()
    ns.settings, ns.site_file, ns.store, ns.http = settings, site_file, store, app.test_client()
    ns.worker, ns.server, ns.write_all, ns.drain = worker, fresh_fhir_server, write_all, drain
    yield ns
    client.close()
    store.close()


def _seed_ehr(server, reports) -> None:
    for r in reports:
        server.put({"resourceType": "Patient", "id": r["subject"]["reference"].split("/")[1]})
        server.put({k: v for k, v in r.items() if k != "meta"})


def _push(http, report) -> tuple[int, str]:
    resp = http.post("/fhir/DiagnosticReport", json=report, headers={"Content-Type": "application/fhir+json"})
    return resp.status_code, resp.headers.get("Location", "")


# Samples whose text states a RADS or TNM category (integration/samples/reports.yaml).
STATED_SAMPLES = {"sample-ct-nodule", "sample-mammo", "sample-liver-mri", "sample-prostate-mri",
                  "sample-thyroid-us", "sample-ct-staging"}


def _ai_resources(server) -> dict[str, int]:
    return {t: server.count(t, _security=f"{AIAST[0]}|{AIAST[1]}") for t in ("Observation", "Provenance", "Device")}


def test_push_infer_write_read_back_and_replay(pipeline) -> None:
    reports = sample_diagnostic_reports()
    _seed_ehr(pipeline.server, reports)
    for report in reports:
        status, location = _push(pipeline.http, report)
        assert status == 202 and "/jobs/" in location
    pipeline.drain()
    counts = pipeline.store.counts()
    assert counts["inferred"] == len(reports) and counts["failed"] == 0
    pipeline.write_all()
    assert pipeline.store.counts()["written"] == len(reports)

    for report in reports:
        observations = pipeline.server.search("Observation", **{BY_REPORT: f"DiagnosticReport/{report['id']}"})
        # The tiny random model's own answers are abstained (no evidence, low confidence); what the
        # report states is written whatever the model says.
        if report["id"] in STATED_SAMPLES:
            assert observations, report["id"]
        for obs in observations:
            assert obs["status"] == "preliminary"
            assert any((s["system"], s["code"]) == AIAST for s in obs["meta"]["security"])
            assert obs["subject"]["reference"] == report["subject"]["reference"]
        provenance = pipeline.server.search("Provenance", entity=f"DiagnosticReport/{report['id']}")
        assert len(provenance) == (1 if observations else 0)
        if observations:
            targets = {t["reference"] for t in provenance[0]["target"]}
            assert {f"Observation/{o['id']}" for o in observations} <= targets
            assert provenance[0]["agent"][0]["who"]["reference"].startswith("Device/")
    # The radiologist's reports are untouched: still version 1, as the EHR wrote them.
    for report in reports:
        assert pipeline.server.read("DiagnosticReport", report["id"])["meta"]["versionId"] == "1"

    # Replay: the EHR pushes everything again. Nothing is queued, nothing changes on the server.
    before = _ai_resources(pipeline.server)
    for report in reports:
        assert _push(pipeline.http, report)[0] == 200
    assert pipeline.worker.run_once() == 0
    pipeline.write_all()
    assert _ai_resources(pipeline.server) == before


def test_ehr_outage_during_write_back_then_exactly_once(pipeline) -> None:
    report = sample_diagnostic_reports()[8]
    _seed_ehr(pipeline.server, [report])
    _push(pipeline.http, report)
    pipeline.drain()
    pipeline.server.stop()
    with pytest.raises(AssertionError, match="did not drain"):
        pipeline.write_all(max_rounds=3)
    job = pipeline.store.jobs()[0]
    assert job.state == State.INFERRED.value and job.write_attempts >= 2 and job.error
    pipeline.server.start()
    pipeline.write_all()
    assert pipeline.store.get(job.id).state == State.WRITTEN.value
    n = pipeline.server.count("Observation", **{BY_REPORT: f"DiagnosticReport/{report['id']}"})
    assert n == len([r for r in pipeline.store.get(job.id).written["resources"] if r["type"] == "Observation"])
    assert pipeline.server.count("Provenance", entity=f"DiagnosticReport/{report['id']}") == 1


def test_amended_report_supersedes_earlier_results(pipeline) -> None:
    report = copy.deepcopy(sample_diagnostic_reports()[8])
    _seed_ehr(pipeline.server, [report])
    _push(pipeline.http, report)
    pipeline.drain()
    pipeline.write_all()
    first = pipeline.server.search("Observation", **{BY_REPORT: f"DiagnosticReport/{report['id']}"})

    amended = copy.deepcopy(report)
    amended["status"] = "amended"
    _seed_ehr(pipeline.server, [amended])  # the EHR holds version 2 before it pushes it
    amended["meta"] = {"versionId": "2"}
    assert _push(pipeline.http, amended)[0] == 202
    pipeline.drain()
    pipeline.write_all()
    for obs in first:
        assert pipeline.server.read("Observation", obs["id"])["status"] == "entered-in-error"
    latest = [o for o in pipeline.server.search("Observation", **{BY_REPORT: f"DiagnosticReport/{report['id']}"})
              if o["status"] == "preliminary"]
    # ... and were written for version 2: the Provenance naming version 2 lists them.
    [prov] = [p for p in pipeline.server.search("Provenance", entity=f"DiagnosticReport/{report['id']}")
              if p["entity"][0]["what"]["reference"].endswith("/_history/2")]
    assert latest and {f"Observation/{o['id']}" for o in latest} <= {t["reference"] for t in prov["target"]}


def test_killed_worker_process_jobs_complete(pipeline, tmp_path) -> None:
    """kill -9 a real `radlite worker` mid-batch; a second worker finishes every job exactly once."""
    reports = sample_diagnostic_reports()[:6]
    _seed_ehr(pipeline.server, reports)
    for r in reports:
        _push(pipeline.http, r)
    env = {**os.environ, "RADLITE_CONFIG": str(pipeline.site_file),
           "RADLITE__WORKER__LEASE_SECONDS": "2", "RADLITE__WORKER__BATCH_SIZE": "6"}
    cmd = [sys.executable, "-m", "integration.ops.cli", "worker"]
    victim = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while pipeline.store.counts()["inferring"] == 0 and time.time() < deadline:
            time.sleep(0.05)
        assert pipeline.store.counts()["inferring"] > 0, "the worker never claimed a job"
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    finally:
        if victim.poll() is None:
            victim.kill()
    time.sleep(2.1)  # the dead worker's lease runs out
    survivor = subprocess.run([*cmd, "--once"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert survivor.returncode == 0, survivor.stderr[-2000:]
    pipeline.drain()  # anything the first worker never claimed
    pipeline.write_all()
    jobs = pipeline.store.jobs()
    assert {j.state for j in jobs} == {State.WRITTEN.value}
    assert any(j.inference_attempts == 2 for j in jobs)  # taken again after the kill
    for r in reports:
        expected = 1 if r["id"] in STATED_SAMPLES else 0  # nothing to write, nothing written
        assert pipeline.server.count("Provenance", entity=f"DiagnosticReport/{r['id']}") == expected
