"""Hardening the deployment (issue 20), item 2: quotas per client, and a bounded audit chain.

As reported: one 2.5 MB ``batch`` Bundle of 10,000 reports was accepted in 8 s -- hours of inference
for one client, ahead of everyone else; and each request without a valid token added about 1 KB to
the audit chain, which is never pruned. Now (integration/intake/http/quotas.py, docs/api.md "Quotas"):

* a Bundle of more than ``intake.max_bundle_entries`` entries is refused at once, 413 too-costly,
  and nothing is queued;
* a client with ``intake.max_queued_jobs_per_client`` unfinished jobs gets 429 + Retry-After for
  what would add more, while another client is still served;
* a client over ``intake.requests_per_minute_per_client`` gets 429 + Retry-After;
* requests without a valid token are counted into one ``request.unauthenticated`` audit record per
  minute and web process, and the chain still verifies.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from fhir.resources.R4B.operationoutcome import OperationOutcome

from integration.audit import configure_audit_file
from integration.audit.chain import verify
from integration.intake.http import EXTENSION
from integration.intake.http.app import create_app
from integration.samples import sample_diagnostic_reports
from integration.settings import Settings
from integration.store import JobStore, State
from tests.reliability.harness import gunicorn_process

FHIR_JSON = "application/fhir+json"
RIS, PACS = "quota-ris-token", "quota-pacs-token"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _settings(tmp_path: Path, **intake: Any) -> Settings:
    return Settings.model_validate({
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "intake": {"auth": {"mode": "token", "tokens": [
            {"sha256": _digest(RIS), "scopes": ["intake", "jobs:read"], "name": "ris"},
            {"sha256": _digest(PACS), "scopes": ["intake"]},
        ]}, **intake},
        "ehr": {"base_url": "http://127.0.0.1:9/fhir"},
        "audit": {"file": None},
    })


@pytest.fixture
def store(tmp_path):
    s = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    yield s
    s.close()


def _app(tmp_path: Path, store: JobStore, **intake: Any):
    return create_app(_settings(tmp_path, **intake), store)


def _reports(tag: str, n: int) -> list[dict]:
    samples = sample_diagnostic_reports()
    out = []
    for i in range(n):
        report = copy.deepcopy(samples[i % len(samples)])
        report["id"] = f"{tag}-{i}"
        report.pop("meta", None)
        out.append(report)
    return out


def _small_report(rid: str) -> dict:
    """A valid report of about 200 bytes."""
    return {"resourceType": "DiagnosticReport", "id": rid, "status": "final", "code": {"text": "XR chest"},
            "subject": {"reference": "Patient/p-1"}, "conclusion": "No acute cardiopulmonary abnormality."}


def _bundle(btype: str, reports: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": btype,
            "entry": [{"resource": r, "request": {"method": "POST", "url": "DiagnosticReport"}} for r in reports]}


def _post(client, path: str, body: Any, token: str | None):
    headers = {"Content-Type": FHIR_JSON, **({"Authorization": f"Bearer {token}"} if token else {})}
    return client.post(path, data=body if isinstance(body, (bytes, str)) else json.dumps(body), headers=headers)


def _outcome(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:1000]
    body = resp.get_json(force=True)
    OperationOutcome.model_validate(body)
    assert any(i["code"] == code for i in body["issue"]), body
    return body


def _jobs(store: JobStore) -> int:
    return sum(store.counts().values())


# -- entries per Bundle --------------------------------------------------------------------------


def test_a_10000_entry_batch_is_refused_at_once_and_nothing_queued(tmp_path, store, figures) -> None:
    client = _app(tmp_path, store).test_client()
    # As reported: 10,000 small reports, about 2.5 MB.
    body = json.dumps(_bundle("batch", [_small_report(f"big-{i}") for i in range(10_000)]))
    assert len(body) < 5_000_000  # under intake.max_body_bytes: only the entry limit can refuse it
    started = time.perf_counter()
    resp = _post(client, "/fhir", body, RIS)
    seconds = time.perf_counter() - started
    found = _outcome(resp, 413, "too-costly")
    assert "10000 entries" in found["issue"][0]["diagnostics"] and "1000" in found["issue"][0]["diagnostics"]
    assert found["issue"][0]["expression"] == ["Bundle.entry"]
    assert _jobs(store) == 0
    # Refused before any entry was validated (8 s to accept it before): the JSON parse is the cost.
    assert seconds < 3, seconds
    # At the limit it is accepted (a transaction too), and the limit can be set.
    assert _post(client, "/fhir", _bundle("transaction", _reports("fits", 1000)), RIS).status_code == 202
    assert _jobs(store) == 1000
    small = _app(tmp_path, store, max_bundle_entries=2).test_client()
    _outcome(_post(small, "/fhir", _bundle("transaction", _reports("three", 3)), RIS), 413, "too-costly")
    figures(entries=10_000, bundle_bytes=len(body), refused_in_seconds=round(seconds, 3))


# -- unfinished jobs per client --------------------------------------------------------------------


def test_a_client_over_its_queue_quota_gets_429_while_another_is_served(tmp_path, store, figures) -> None:
    client = _app(tmp_path, store, max_queued_jobs_per_client=5).test_client()
    ris = _reports("ris", 12)
    for r in ris[:5]:
        assert _post(client, "/fhir/DiagnosticReport", r, RIS).status_code == 202
    refused = _post(client, "/fhir/DiagnosticReport", ris[5], RIS)
    _outcome(refused, 429, "throttled")
    assert refused.headers["Retry-After"] == "60"
    # A Bundle is refused before its entries are read; a transaction over the quota records nothing.
    _outcome(_post(client, "/fhir", _bundle("batch", ris[5:8]), RIS), 429, "throttled")
    assert _jobs(store) == 5
    # Another client is served all the while; a repeated push of a stored report still answers 200.
    pacs = _reports("pacs", 3)
    for r in pacs:
        assert _post(client, "/fhir/DiagnosticReport", r, PACS).status_code == 202
    assert _post(client, "/fhir/DiagnosticReport", ris[0], PACS).status_code == 200
    assert {j.client for j in store.jobs(limit=100)} == {"ris", "token:" + _digest(PACS)[:12]}

    # The worker finishes two of ris's jobs: room for two, and a batch takes them entry by entry.
    store.claim_for_inference("w", 2, 60)
    for job in store.jobs(State.INFERRING):
        store.fail(job.id, "w", State.INFERRING, "test")
    resp = _post(client, "/fhir", _bundle("batch", ris[5:8]), RIS)
    assert resp.status_code == 202
    statuses = [e["response"]["status"] for e in resp.get_json()["entry"]]
    assert statuses == ["202 Accepted", "202 Accepted", "429 Too Many Requests"]
    assert resp.get_json()["entry"][2]["response"]["outcome"]["issue"][0]["code"] == "throttled"
    # A transaction that would go over is refused whole: nothing of it is queued.
    store.claim_for_inference("w", 1, 60)
    for job in store.jobs(State.INFERRING):
        store.fail(job.id, "w", State.INFERRING, "test")
    _outcome(_post(client, "/fhir", _bundle("transaction", ris[8:10]), RIS), 429, "throttled")
    assert store.queued("ris") == 4
    assert _post(client, "/fhir", _bundle("transaction", ris[8:9]), RIS).status_code == 202
    assert store.queued("ris") == 5 and store.queued("token:" + _digest(PACS)[:12]) == 3
    figures(quota=5, clients=2)


# -- requests per minute per client --------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_over_its_rate_gets_429_and_the_audit_file_a_count(tmp_path, store) -> None:
    app = _app(tmp_path, store, requests_per_minute_per_client=30)
    clock = FakeClock()
    rt = app.extensions[EXTENSION]
    rt.limiter._clock = clock
    rt.throttled._clock = clock
    client = app.test_client()
    audit_file = tmp_path / "audit.jsonl"
    configure_audit_file(audit_file)
    try:
        missing = "/jobs/" + "0" * 32
        for _ in range(30):
            assert client.get(missing, headers={"Authorization": f"Bearer {RIS}"}).status_code == 404
        refused = client.get(missing, headers={"Authorization": f"Bearer {RIS}"})
        _outcome(refused, 429, "throttled")
        assert refused.headers["Retry-After"] == "2"  # one request every 2 s at 30 a minute
        for _ in range(99):
            assert client.get(missing, headers={"Authorization": f"Bearer {RIS}"}).status_code == 429
        # Another client has its own bucket.
        assert _post(client, "/fhir/DiagnosticReport", _reports("other", 1)[0], PACS).status_code == 202
        clock.now += 2.0  # one request's worth refilled
        assert client.get(missing, headers={"Authorization": f"Bearer {RIS}"}).status_code == 404
        clock.now += 61.0  # the window of counted refusals is over: the next request writes it
        assert client.get("/healthz").status_code == 200
    finally:
        configure_audit_file(None)
    records = [json.loads(line) for line in audit_file.read_text().splitlines()]
    throttled = [r for r in records if r["event"] == "request.throttled"]
    assert [(r["count"], r["counts"]) for r in throttled] == [(100, {"ris": 100})]
    # The refused requests left no record of their own; the served ones did.
    assert sum(r["event"] == "request.received" for r in records) == 30 + 1 + 1
    assert verify([audit_file]).ok


# -- unauthenticated requests and the audit chain --------------------------------------------------


def test_unauthenticated_requests_are_counted_once_a_minute_and_the_chain_verifies(tmp_path, store, figures) -> None:
    app = _app(tmp_path, store)
    clock = FakeClock()
    app.extensions[EXTENSION].unauthenticated._clock = clock
    client = app.test_client()
    audit_file = tmp_path / "audit.jsonl"
    configure_audit_file(audit_file)
    sent = 0
    try:
        for minute in range(3):
            for i in range(700):
                header = {} if i % 7 == 0 else {"Authorization": f"Bearer not-a-token-{minute}-{i}"}
                assert _post(client, "/fhir/DiagnosticReport", b"{}", None if not header else header["Authorization"][7:]).status_code == 401
                sent += 1
            clock.now += 30.0
        # An authenticated push between: audited as always.
        assert _post(client, "/fhir/DiagnosticReport", _reports("real", 1)[0], RIS).status_code == 202
        clock.now += 61.0
        client.get("/healthz")  # a probe after the minute writes the last count
    finally:
        configure_audit_file(None)
    records = [json.loads(line) for line in audit_file.read_text().splitlines()]
    counted = [r for r in records if r["event"] == "request.unauthenticated"]
    # 2,100 refused requests; before, each wrote three records (about 1 KB): now two records in all.
    assert sum(r["count"] for r in counted) == sent == 2100
    assert len(counted) == 2 and len(records) <= 6, [r["event"] for r in records]
    assert counted[0]["counts"] == {"missing": 200, "invalid": 1200}
    assert {"auth.failed", "request.rejected"}.isdisjoint(r["event"] for r in records)
    assert {"request.received", "job.queued"} <= {r["event"] for r in records}
    assert verify([audit_file]).ok
    figures(unauthenticated_requests=sent, audit_records=len(records), audit_bytes=audit_file.stat().st_size)


@pytest.mark.slow
def test_a_flood_on_gunicorn_adds_a_bounded_count_to_a_verifiable_chain(tmp_path, figures) -> None:
    pytest.importorskip("gunicorn")
    audit_file = tmp_path / "audit.jsonl"
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "intake": {"auth": {"mode": "token", "token_sha256": [_digest(RIS)]}},
        "ehr": {"base_url": "http://127.0.0.1:9/fhir"},
        "audit": {"file": str(audit_file), "allow_development_key": True},
    }))
    n = 1000
    # Leaving the block stops gunicorn gracefully: each worker writes the count of its open minute.
    with gunicorn_process(site, tmp_path / "gunicorn.log", workers=2) as (_, base):
        before = len(audit_file.read_text().splitlines()) if audit_file.exists() else 0
        with requests.Session() as http:
            for i in range(n):
                headers = {"Content-Type": FHIR_JSON, "Authorization": f"Bearer wrong-{i}"}
                assert http.post(base + "/fhir/DiagnosticReport", data=b"{}", headers=headers, timeout=10).status_code == 401
        during = len(audit_file.read_text().splitlines()) - before
    records = [json.loads(line) for line in audit_file.read_text().splitlines()]
    counted = [r for r in records if r["event"] == "request.unauthenticated"]
    assert sum(r["count"] for r in counted) == n
    # At most one record per worker per minute (the flood takes well under two minutes).
    assert during <= 4 and len(counted) <= 4, (during, len(counted))
    assert len(records) - before <= 4
    result = verify([audit_file])
    assert result.ok, [str(p) for p in result.problems]
    figures(unauthenticated_requests=n, web_workers=2, audit_records_added=len(records) - before)
