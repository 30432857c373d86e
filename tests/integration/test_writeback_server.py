"""Write-back against a real FHIR server (sekmet-fhir): read back, replay, outage, rejection,
SMART and bearer auth, the scheduler lock."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.provenance import Provenance

from integration.fhir.transaction import AIAST, RESULT_SYSTEM, plan_transaction
from integration.settings import EhrAuth, EhrSettings, WritebackSettings
from integration.store import JobStore, State
from integration.writeback.client import BearerAuth, FhirClient, SmartBackendAuth
from integration.writeback.runner import write_due
from integration.writeback.scheduler import LOCK_NAME, WritebackScheduler
from tests.fhir_server import BY_REPORT, MODEL, SmartClient, full_results, make_key, result
from tests.integration.conftest import inferred_job

ROOT = Path(__file__).resolve().parents[2]
EXPECTED_OBSERVATIONS = 13  # 12 findings + the summary, from full_results()
AIAST_PARAM = f"{AIAST['system']}|AIAST"


def wb_settings(**kw) -> WritebackSettings:
    base = dict(batch_size=10, lease_seconds=30, backoff_base_seconds=0.05, backoff_max_seconds=0.2, max_attempts=20)
    base.update(kw)
    return WritebackSettings(**base)


def report_ref(report: dict) -> str:
    return f"DiagnosticReport/{report['id']}"


def written_of(store: JobStore, job) -> dict:
    done = store.get(job.id)
    assert done.state == State.WRITTEN.value, (done.state, done.error, done.error_detail)
    return done.written


def test_write_and_read_back(fhir_server, store, mappings, seeded_report) -> None:
    report = seeded_report(1)
    job = inferred_job(store, report)
    client = FhirClient(fhir_server.base_url)
    counts = write_due(store, client, mappings, "s1", wb_settings())
    assert counts.written == 1
    written = written_of(store, job)
    # Observations + Provenance are new; the model's Device may already exist on this shared server
    # (any earlier test that wrote results of the same model made it), and is then reused.
    assert written["counts"]["amended"] == 0
    assert written["counts"]["created"] + written["counts"]["existing"] == EXPECTED_OBSERVATIONS + 2
    assert written["counts"]["existing"] <= 1

    # Every Observation can be found by its identifier and through the Provenance naming the report.
    derived = fhir_server.search("Observation", **{BY_REPORT: report_ref(report)})
    assert len(derived) == EXPECTED_OBSERVATIONS
    for r in written["resources"]:
        if r["type"] == "Observation":
            [found] = fhir_server.search("Observation", identifier=f"{RESULT_SYSTEM}|{r['identifier']}")
            assert found["id"] == r["id"] and found["meta"]["versionId"] == r["version"]
    assert fhir_server.count("Observation", **{BY_REPORT: report_ref(report), "_security": AIAST_PARAM}) == \
        EXPECTED_OBSERVATIONS
    for obs in derived:
        Observation.model_validate(obs)
        assert obs["status"] == "preliminary"
        assert "derivedFrom" not in obs  # the report names no ImagingStudy
        assert obs["subject"] == {"reference": report["subject"]["reference"]}
    summary = [o for o in derived if "valueString" in o]
    assert len(summary) == 1 and summary[0]["code"]["coding"][0]["code"] == "19005-8"

    # The Provenance: found by target, points at the report version and the Device.
    [prov] = fhir_server.search("Provenance", target=f"Observation/{derived[0]['id']}")
    Provenance.model_validate(prov)
    assert {t["reference"] for t in prov["target"]} == {f"Observation/{o['id']}" for o in derived}
    assert prov["entity"] == [{"role": "source", "what": {"reference": f"{report_ref(report)}/_history/1"}}]
    device_ref = prov["agent"][0]["who"]["reference"]
    device = fhir_server.read(*device_ref.split("/"))
    Device.model_validate(device)
    assert device["identifier"][0]["value"] == f"{MODEL['name']}@{MODEL['version']}:{MODEL['sha256']}"
    assert all(o["device"] == {"reference": device_ref} for o in derived)
    for res in (prov, device):
        assert AIAST in res["meta"]["security"]

    # The radiologist's report was not touched.
    assert fhir_server.read("DiagnosticReport", report["id"])["meta"]["versionId"] == "1"


def test_replay_creates_no_duplicates(fhir_server, store, mappings, seeded_report) -> None:
    report = seeded_report(2)
    job = inferred_job(store, report)
    client = FhirClient(fhir_server.base_url)

    # "Crash": the scheduler claims the job and the server commits, but the store never hears.
    [claimed] = store.claim_for_writeback("crashed", 10, lease_seconds=0.3)
    plan = plan_transaction(claimed, mappings, base_url=client.base_url)
    first = client.post_transaction(plan.bundle)
    made = [e for e in first["entry"] if "/Device/" not in e["response"]["location"]]  # the Device is shared
    assert len(made) == EXPECTED_OBSERVATIONS + 1 and all(e["response"]["status"].startswith("201") for e in made)
    before = {t: fhir_server.history_count(t) for t in ("Observation", "Provenance", "Device")}

    time.sleep(0.4)  # the lease runs out; another scheduler takes the job and writes it again
    counts = write_due(store, client, mappings, "s2", wb_settings())
    assert counts.written == 1
    written = written_of(store, job)
    assert written["counts"] == {"created": 0, "existing": EXPECTED_OBSERVATIONS + 2, "amended": 0}
    assert fhir_server.count("Observation", **{BY_REPORT: report_ref(report)}) == EXPECTED_OBSERVATIONS
    [prov] = fhir_server.search("Provenance", entity=f"{report_ref(report)}/_history/1")
    # Same resources, same ids as the first commit; nothing new anywhere on the server.
    first_ids = {e["response"]["location"].split("/_history")[0].rsplit("/", 2)[-1] for e in first["entry"]}
    assert {r["id"] for r in written["resources"]} == first_ids
    assert prov["id"] in first_ids
    assert {t: fhir_server.history_count(t) for t in before} == before

    # And a plain second post of the same job's bundle changes nothing either.
    again = client.post_transaction(plan_transaction(store.get(job.id), mappings).bundle)
    assert all(e["response"]["status"].startswith("200") for e in again["entry"])
    assert {t: fhir_server.history_count(t) for t in before} == before


def test_audit_event_option(fhir_server, store, mappings, seeded_report) -> None:
    report = seeded_report(9)
    job = inferred_job(store, report, {"m_staging": result("M0")})
    client = FhirClient(fhir_server.base_url)
    assert write_due(store, client, mappings, "s1", wb_settings(audit_event=True)).written == 1
    assert [r["role"] for r in written_of(store, job)["resources"]].count("audit-event") == 1
    again = plan_transaction(store.get(job.id), mappings, audit_event=True).bundle
    client.post_transaction(again)  # replay
    events = fhir_server.search("AuditEvent", entity=report_ref(report))
    assert len(events) == 1 and events[0]["action"] == "C"


def test_amended_report_withdraws_earlier_results(fhir_server, store, mappings, seeded_report) -> None:
    report = seeded_report(0)
    client = FhirClient(fhir_server.base_url)
    v1 = inferred_job(store, report, {"abnormality_detection": result({**full_results()["abnormality_detection"]["value"]}),
                                      "impression_generation": result("First impression.")})
    write_due(store, client, mappings, "s1", wb_settings())
    old_ids = {r["id"] for r in written_of(store, v1)["resources"] if r["role"] in ("finding", "summary")}
    assert len(old_ids) == 5

    changed = copy.deepcopy(report)
    changed["conclusion"] = "Addendum: small effusion."
    v2_report = fhir_server.put(changed)  # the EHR amends the report: version 2
    assert v2_report["meta"]["versionId"] == "2"
    v2 = inferred_job(store, v2_report, {"n_staging": result("N1"), "impression_generation": result("Second.")})
    assert v2.supersedes == v1.id
    write_due(store, client, mappings, "s1", wb_settings())
    written = written_of(store, v2)
    assert written["counts"]["amended"] == 5
    current = fhir_server.search("Observation", **{BY_REPORT: report_ref(report)})
    status = {o["id"]: o["status"] for o in current}
    assert {status[i] for i in old_ids} == {"entered-in-error"}
    live = [o for o in current if o["status"] == "preliminary"]
    assert len(live) == 2
    # The second Provenance (entity = report version 2) records the withdrawal too. The server's
    # reference search ignores the version, so both Provenances match the search.
    provs = fhir_server.search("Provenance", entity=report_ref(report))
    assert len(provs) == 2
    [prov] = [p for p in provs if p["entity"][0]["what"]["reference"].endswith("/_history/2")]
    assert {f"Observation/{i}" for i in old_ids} <= {t["reference"] for t in prov["target"]}
    assert {f"Observation/{o['id']}" for o in live} <= {t["reference"] for t in prov["target"]}


def test_server_outage_then_written_exactly_once(fresh_fhir_server, store, mappings, seeded_report) -> None:
    server = fresh_fhir_server
    report = seeded_report(1, server=server)
    job = inferred_job(store, report)
    client = FhirClient(server.base_url, timeout=5)
    server.stop()
    counts = write_due(store, client, mappings, "s1", wb_settings())
    assert counts.retried == 1
    waiting = store.get(job.id)
    assert waiting.state == State.INFERRED.value and "ConnectionError" in waiting.error

    server.start()  # same port, same database
    deadline = time.monotonic() + 20
    while store.get(job.id).state != State.WRITTEN.value and time.monotonic() < deadline:
        write_due(store, client, mappings, "s1", wb_settings())
        time.sleep(0.05)
    written_of(store, job)
    assert server.count("Observation", **{BY_REPORT: report_ref(report)}) == EXPECTED_OBSERVATIONS
    assert server.count("Provenance", entity=f"{report_ref(report)}/_history/1") == 1
    assert server.count("Device") == 1


def test_nonconforming_bundle_is_never_sent(fhir_server, store, mappings, seeded_report) -> None:
    """The adapter checks its Bundle as a validating server would: a malformed date copied from the
    report into every Observation is a dead letter of kind build, and nothing reaches the server."""
    report = seeded_report(3)
    job = inferred_job(store, dict(report, effectiveDateTime="last tuesday"))
    assert write_due(store, FhirClient(fhir_server.base_url), mappings, "s1", wb_settings()).dead_lettered == 1
    dead = store.get(job.id)
    assert dead.state == State.FAILED.value and dead.error_detail["kind"] == "build"
    assert "does not conform to FHIR R4" in dead.error and ".effectiveDateTime:" in dead.error
    assert "last tuesday" not in dead.error  # problems name elements, never values
    assert fhir_server.count("Observation", **{BY_REPORT: report_ref(report)}) == 0
    assert fhir_server.count("Provenance", entity=report_ref(report)) == 0


def test_rejected_bundle_goes_to_dead_letter(fhir_server, store, mappings, seeded_report, monkeypatch) -> None:
    # What the server rejects on rules of its own is a dead letter with its OperationOutcome. The
    # adapter's own check would catch this Bundle first (above); switched off, the server sees it.
    monkeypatch.setattr("integration.fhir.transaction._check_conformance", lambda bundle: None)
    report = seeded_report(3)
    bad = dict(report, effectiveDateTime="last tuesday")  # copied into every Observation
    job = inferred_job(store, bad)
    counts = write_due(store, FhirClient(fhir_server.base_url), mappings, "s1", wb_settings())
    assert counts.dead_lettered == 1
    dead = store.get(job.id)
    assert dead.state == State.FAILED.value and dead.error.startswith("transaction: HTTP 400")
    assert dead.error_detail["status"] == 400 and dead.error_detail["retryable"] is False
    outcome = dead.error_detail["operation_outcome"]
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "structure"
    # The transaction was atomic: nothing of it is on the server.
    assert fhir_server.count("Observation", **{BY_REPORT: report_ref(report)}) == 0


def _smart_client(server, key: Path, alg: str, client_id: str = "radlite") -> FhirClient:
    session = requests.Session()
    auth = SmartBackendAuth(client_id=client_id, token_url=server.token_url, private_key_file=key, key_id="k1",
                            algorithm=alg, scope="system/*.write system/*.read", session=session)
    return FhirClient(server.base_url, auth, session=session)


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_smart_backend_services(sekmet_factory, store, mappings, seeded_report, tmp_path, alg) -> None:
    key, pub = make_key(tmp_path / f"radlite-{alg}.pem", alg)
    ro_key, ro_pub = make_key(tmp_path / "readonly.pem", "RS384")
    server = sekmet_factory(bearer_tokens=["admin-token"], smart_clients=[
        SmartClient("radlite", pub, scopes="system/*.*"),
        SmartClient("readonly", ro_pub, scopes="system/*.read"),
    ])
    reports = [seeded_report(i, server=server) for i in (1, 2)]
    jobs = [inferred_job(store, r, {"n_staging": result("N1"), "impression_generation": result("x")}) for r in reports]

    # Without a token the server refuses.
    assert requests.get(f"{server.base_url}/Observation", timeout=5).status_code == 401

    client = _smart_client(server, key, alg)
    counts = write_due(store, client, mappings, "s1", wb_settings())
    assert counts.written == 2
    for r, j in zip(reports, jobs):
        written_of(store, j)
        assert server.count("Observation", **{BY_REPORT: report_ref(r)}) == 2
    assert client.auth.tokens_fetched == 1  # one token for both transactions

    # A token the server no longer accepts: one 401, a fresh token, success.
    client.auth._token = "not-a-valid-token"
    r3 = seeded_report(3, server=server)
    j3 = inferred_job(store, r3, {"n_staging": result("N2")})
    assert write_due(store, client, mappings, "s1", wb_settings()).written == 1
    written_of(store, j3)
    assert client.auth.tokens_fetched == 2

    # A client whose scopes do not allow writing: 403 is permanent -> dead letter with the outcome.
    r4 = seeded_report(4, server=server)
    j4 = inferred_job(store, r4, {"n_staging": result("N3")})
    ro = _smart_client(server, ro_key, "RS384", client_id="readonly")
    ro.auth.scope = "system/*.read"
    assert write_due(store, ro, mappings, "s1", wb_settings()).dead_lettered == 1
    dead = store.get(j4.id)
    assert dead.error_detail["status"] == 403
    assert dead.error_detail["operation_outcome"]["issue"][0]["code"] == "forbidden"


def test_static_bearer(sekmet_factory, store, mappings, seeded_report, monkeypatch) -> None:
    server = sekmet_factory(bearer_tokens=["s3cret-token"])
    report = seeded_report(1, server=server)
    job = inferred_job(store, report, {"m_staging": result("M1a")})
    monkeypatch.setenv("EHR_TOKEN", "s3cret-token")
    client = FhirClient.from_settings(EhrSettings(base_url=server.base_url,
                                                  auth=EhrAuth(mode="bearer", token_env="EHR_TOKEN")))
    assert write_due(store, client, mappings, "s1", wb_settings()).written == 1
    written_of(store, job)
    [obs] = server.search("Observation", **{BY_REPORT: report_ref(report)})
    assert obs["valueCodeableConcept"]["coding"][0] == {"system": "http://cancerstaging.org", "code": "cM1a"}

    wrong = FhirClient(server.base_url, BearerAuth(token_env="T", environ={"T": "wrong"}))
    j2 = inferred_job(store, seeded_report(2, server=server), {"m_staging": result("M0")})
    assert write_due(store, wrong, mappings, "s1", wb_settings()).dead_lettered == 1
    assert store.get(j2.id).error_detail["status"] == 401


def test_two_schedulers_only_one_writes(fhir_server, store, mappings, seeded_report) -> None:
    report = seeded_report(5)
    job = inferred_job(store, report, {"n_staging": result("N0")})
    posts = {"A": 0, "B": 0}

    class Counting(FhirClient):
        def __init__(self, name):
            super().__init__(fhir_server.base_url)
            self.name = name

        def post_transaction(self, bundle):
            posts[self.name] += 1
            return super().post_transaction(bundle)

    a = WritebackScheduler(store, Counting("A"), mappings, wb_settings(interval_seconds=1), owner="A")
    b = WritebackScheduler(store, Counting("B"), mappings, wb_settings(interval_seconds=1), owner="B")
    results = [a.tick(), b.tick(), b.tick(), a.tick()]
    assert results[1] is None and results[2] is None  # B never gets the lock while A holds it
    assert posts == {"A": 1, "B": 0}
    written_of(store, job)
    a.release()
    assert b.tick() is not None and b.holding


def _site_config(tmp_path: Path, server, store_url: str) -> Path:
    cfg = {
        "store": {"url": store_url},
        "ehr": {"base_url": server.base_url, "timeout_seconds": 5},
        "writeback": {"interval_seconds": 0.3, "lease_seconds": 30, "backoff_base_seconds": 0.05,
                      "backoff_max_seconds": 0.2, "mappings_dir": str(ROOT / "mappings")},
        "audit": {"file": None},
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def _events(path: Path, name: str) -> list[dict]:
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("event") == name:
            out.append(rec)
    return out


def test_radlite_scheduler_processes_lock_and_sigterm(fhir_server, tmp_path, mappings, seeded_report) -> None:
    store_url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    store = JobStore(store_url)
    config = _site_config(tmp_path, fhir_server, store_url)
    exe = Path(sys.executable).parent / "radlite"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADLITE__")}
    env["RADLITE__AUDIT__ALLOW_DEVELOPMENT_KEY"] = "true"  # no audit secret here: development mode
    procs, logs = [], []
    for name in ("one", "two"):
        log = tmp_path / f"scheduler-{name}.log"
        logs.append(log)
        procs.append(subprocess.Popen([str(exe), "--config", str(config), "scheduler"], cwd=tmp_path, env=env,
                                      stdout=subprocess.DEVNULL, stderr=open(log, "wb"), start_new_session=True))
    try:
        jobs = [inferred_job(store, seeded_report(i), {"n_staging": result("N1")}) for i in (6, 7)]
        deadline = time.monotonic() + 20
        while any(store.get(j.id).state != "written" for j in jobs) and time.monotonic() < deadline:
            time.sleep(0.1)
        for j in jobs:
            written_of(store, j)
        holders = [i for i, log in enumerate(logs) if _events(log, "scheduler.lock_acquired")]
        assert len(holders) == 1, [log.read_text()[-2000:] for log in logs]
        holder, other = procs[holders[0]], procs[1 - holders[0]]

        # SIGTERM: the holder stops cleanly and releases the lock; the other one takes over.
        os.kill(holder.pid, signal.SIGTERM)
        assert holder.wait(timeout=15) == 0
        assert _events(logs[holders[0]], "scheduler.lock_released")
        j3 = inferred_job(store, seeded_report(8), {"n_staging": result("N2")})
        deadline = time.monotonic() + 20
        while store.get(j3.id).state != "written" and time.monotonic() < deadline:
            time.sleep(0.1)
        written_of(store, j3)
        assert _events(logs[1 - holders[0]], "scheduler.lock_acquired")
        os.kill(other.pid, signal.SIGTERM)
        assert other.wait(timeout=15) == 0
        assert store.acquire_lock(LOCK_NAME, "test", 5)  # released: anyone may take it
        # No PHI in the scheduler's logs: no patient names, no report or model text.
        for log in logs:
            text = log.read_text(encoding="utf-8", errors="replace")
            assert "Samplecase" not in text and "Testpatient" not in text and "sample-" not in text
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        store.close()
