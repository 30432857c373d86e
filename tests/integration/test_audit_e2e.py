"""The audit trail over the real flow: Flask intake -> store -> worker (tiny model) -> scheduler
write-back -> sekmet FHIR server, with every log line (structlog and stdlib) and the chained audit
file captured.

* No PHI: none of the sample reports' patient names, MRNs, patient ids, report ids or report
  sentences appears in any of it.
* Every job is traced from receipt to write-back by its correlation id with `radlite audit query`.
* The audit file verifies.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import re

import pytest
import structlog
import yaml
from click.testing import CliRunner

from integration.audit import clear_context, configure_audit_file, configure_logging, set_secret
from integration.inference.router import Router
from integration.inference.worker import Worker
from integration.intake.http.app import create_app
from integration.mappings import load_mappings
from integration.ops.cli import cli
from integration.samples import sample_diagnostic_reports, sample_reports
from integration.settings import load_settings
from integration.store import JobStore
from integration.writeback.client import FhirClient
from integration.writeback.scheduler import WritebackScheduler

SECRET = "e2e-audit-secret"
TOKEN = "e2e-intake-token"
FHIR = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {TOKEN}"}
FLOW = ["request.received", "job.queued", "job.planned", "inference.started", "inference.finished",
        "job.inferred", "writeback.attempted", "writeback.succeeded"]


def phi_strings() -> list[str]:
    """What must never be logged: the PHI-shaped parts of every sample report."""
    out: list[str] = []
    for s in sample_reports():
        p = s["patient"]
        out += [p["name"], *p["name"].split(), p["mrn"], p["id"], s["id"], f"ACC-{s['id']}"]
        text = s["text"]
        out += [m.strip() for m in re.findall(r"Signed:\s*(.+)", text)]
        out += [x.strip() for x in re.split(r"[.\n]", text) if len(x.strip()) > 15]
    return sorted(set(out), key=len, reverse=True)


@pytest.fixture()
def captured():
    """All log output of this process into one buffer; the process is put back afterwards."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    buf = io.StringIO()
    set_secret(SECRET)
    yield buf
    structlog.configure(**saved)
    root.handlers[:] = [h for h in handlers if not type(h).__module__.startswith("_pytest")]
    root.setLevel(level)
    configure_audit_file(None)
    clear_context()
    set_secret(None)


def test_trace_every_job_and_no_phi_anywhere(tmp_path, tiny_qwen2, fresh_fhir_server, captured, capsys) -> None:
    audit_file = tmp_path / "var" / "audit.jsonl"
    site = {
        "inference": {"bundles": {"tiny": str(tiny_qwen2)}, "default_bundle": "tiny", "threads": 1},
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "intake": {"auth": {"mode": "token", "token_sha256": [hashlib.sha256(TOKEN.encode()).hexdigest()]}},
        "ehr": {"base_url": fresh_fhir_server.base_url},
        "writeback": {"backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05, "interval_seconds": 1},
        "worker": {"batch_size": 4, "lease_seconds": 60},
        "audit": {"file": str(audit_file), "max_bytes": 4000, "log_level": "DEBUG"},
        "routing": {"rules": [], "default_tasks": ["n_staging", "impression_generation"]},
    }
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(site))
    settings = load_settings(tmp_path / "site.yaml", environ={})
    configure_logging(settings.audit.log_level, captured, audit_file=settings.audit.file,
                      max_bytes=settings.audit.max_bytes)

    reports = sample_diagnostic_reports()
    for r in reports:  # the EHR has the reports and their patients (with names)
        pid = r["subject"]["reference"].split("/")[1]
        fresh_fhir_server.put({"resourceType": "Patient", "id": pid, "name": [{"text": r["subject"]["display"]}]})
        fresh_fhir_server.put({k: v for k, v in r.items() if k != "meta"})

    store = JobStore(settings.store.url)
    http = create_app(settings, store).test_client()
    # One by one, each under its own request id; the last three together in a batch Bundle.
    singles, batch = reports[:-3], reports[-3:]
    for i, r in enumerate(singles):
        resp = http.post("/fhir/DiagnosticReport", json=r, headers={**FHIR, "X-Request-ID": f"trace-{i}"})
        assert resp.status_code == 202 and resp.headers["X-Request-ID"] == f"trace-{i}"
    bundle = {"resourceType": "Bundle", "type": "batch",
              "entry": [{"resource": r, "request": {"method": "POST", "url": "DiagnosticReport"}} for r in batch]}
    assert http.post("/fhir", json=bundle, headers={**FHIR, "X-Request-ID": "trace-batch"}).status_code == 202
    # Paths that see PHI but must not log it: a duplicate, an invalid report, no token.
    assert http.post("/fhir/DiagnosticReport", json=reports[0], headers=FHIR).status_code == 200
    bad = copy.deepcopy(reports[1])
    bad["id"] = bad["id"] + "-bad"
    del bad["status"]
    assert http.post("/fhir/DiagnosticReport", json=bad, headers=FHIR).status_code == 422
    assert http.post("/fhir/DiagnosticReport", json=reports[2],
                     headers={"Content-Type": "application/fhir+json"}).status_code == 401

    worker = Worker(settings, store, Router.from_settings(settings.inference), owner="w-e2e")
    while worker.run_once():
        pass
    client = FhirClient.from_settings(settings.ehr)
    sched = WritebackScheduler(store, client, load_mappings(settings.writeback.mappings_dir), settings.writeback,
                               owner="s-e2e")
    try:
        for _ in range(20):
            sched.tick()
            if store.counts()["written"] == len(reports):
                break
        sched.release()
    finally:
        client.close()
    assert store.counts()["written"] == len(reports)
    jobs = store.jobs()
    store.close()

    # -- no PHI in any log line, the audit file, or anything printed ------------------------------
    files = sorted(audit_file.parent.glob("audit.jsonl*"))
    assert len([f for f in files if re.search(r"\.jsonl(\.\d+)?$", f.name)]) > 1  # it rotated
    out = capsys.readouterr()
    corpus = {"log": captured.getvalue(), "stdout": out.out, "stderr": out.err}
    corpus.update({f.name: f.read_text() for f in files if not f.name.endswith(".lock")})
    assert len(captured.getvalue().splitlines()) > 100
    leaks = [(where, s) for where, text in corpus.items() for s in phi_strings() if s in text]
    assert not leaks, leaks[:10]
    log_lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert not [line for line in log_lines if "phi_guard" in line]  # the code itself passes no PHI

    # -- every job traced by its correlation id ---------------------------------------------------
    runner = CliRunner()
    env = {"RADLITE_AUDIT_SECRET": SECRET, "RADLITE_CONFIG": str(tmp_path / "site.yaml")}
    res = runner.invoke(cli, ["audit", "verify"], obj={}, env=env, catch_exceptions=False)  # audit.file from config
    assert res.exit_code == 0 and res.stdout.startswith("OK "), res.output
    for job in jobs:
        res = runner.invoke(cli, ["audit", "query", str(audit_file.parent), "--cid", job.correlation_id, "--json"],
                            obj={}, env=env, catch_exceptions=False)
        rows = [json.loads(line) for line in res.stdout.splitlines()]
        assert {r["correlation_id"] for r in rows} == {job.correlation_id}
        seen = [r["event"] for r in rows if r.get("job") in (job.id, _hashed(job.id)) or r["event"] == "request.received"]
        for event in FLOW:
            assert event in seen, (job.correlation_id, event, seen)
        assert seen.index("job.queued") < seen.index("inference.finished") < seen.index("writeback.succeeded")
    assert {j.correlation_id for j in jobs} == {f"trace-{i}" for i in range(len(singles))} | {"trace-batch"}

    # ... and by report, with the raw id hashed by the CLI with the secret
    rid = reports[0]["id"]
    res = runner.invoke(cli, ["audit", "query", "--report", rid, "--json"], obj={}, env=env, catch_exceptions=False)
    events = [json.loads(line)["event"] for line in res.stdout.splitlines()]
    assert {"job.queued", "job.duplicate", "inference.finished", "writeback.succeeded"} <= set(events)


def _hashed(value: str) -> str:
    from integration.audit import hash_id

    set_secret(SECRET)
    return hash_id(value)
