"""`radlite audit query`: by report (raw id hashed with the secret, or the hash), job, correlation
id, time range and event type; a table or JSON lines. `radlite audit hash-id` and `anchor`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from integration.audit import hash_id, set_secret
from integration.audit.chain import AuditFile
from integration.ops.cli import cli

SECRET = "query-test-secret"


@pytest.fixture()
def trail(tmp_path):
    """Two jobs as the services log them: intake and worker with raw job ids, write-back hashed."""
    set_secret(SECRET)
    f = AuditFile(tmp_path / "audit.jsonl")
    for i, (job, rid, cid) in enumerate([("job-a", "rep-a", "cid-a"), ("job-b", "rep-b", "cid-b")]):
        report = hash_id(f"DiagnosticReport/{rid}")
        day = f"2026-03-0{i + 1}"
        f.append({"ts": f"{day}T08:00:00Z", "event": "request.received", "correlation_id": cid, "method": "POST"})
        f.append({"ts": f"{day}T08:00:01Z", "event": "job.queued", "correlation_id": cid, "job": job, "report": report})
        f.append({"ts": f"{day}T08:01:00Z", "event": "inference.finished", "correlation_id": cid, "job": job,
                  "task": "n_staging"})
        f.append({"ts": f"{day}T08:02:00Z", "event": "writeback.succeeded", "correlation_id": cid,
                  "job": hash_id(job), "report": report, "status": 200})
    f.append({"ts": "2026-03-03T00:00:00Z", "event": "scheduler.started", "owner": "s"})
    set_secret(None)
    yield tmp_path / "audit.jsonl"
    set_secret(None)


def q(path, *args):
    res = CliRunner().invoke(cli, ["audit", "query", str(path), "--json", *args], obj={},
                             env={"RADLITE_AUDIT_SECRET": SECRET}, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    set_secret(None)
    return [json.loads(line) for line in res.stdout.splitlines()]


def events(rows):
    return [r["event"] for r in rows]


FLOW = ["request.received", "job.queued", "inference.finished", "writeback.succeeded"]


def test_by_correlation_id(trail) -> None:
    assert events(q(trail, "--cid", "cid-a")) == FLOW
    assert {r["correlation_id"] for r in q(trail, "--correlation-id", "cid-b")} == {"cid-b"}


def test_by_report_raw_id_or_hash(trail) -> None:
    by_raw = q(trail, "--report", "rep-a")
    assert events(by_raw) == FLOW[1:]  # the report's records and those of its job (raw and hashed)
    assert q(trail, "--report", "DiagnosticReport/rep-a") == by_raw
    set_secret(SECRET)
    h = hash_id("DiagnosticReport/rep-a")
    set_secret(None)
    assert q(trail, "--report", h) == by_raw
    assert q(trail, "--report", "no-such-report") == []


def test_by_job_raw_or_hashed_event_and_time(trail) -> None:
    assert events(q(trail, "--job", "job-b")) == FLOW[1:]
    assert events(q(trail, "--event", "writeback.*")) == ["writeback.succeeded"] * 2
    assert events(q(trail, "--event", "job.queued", "--event", "scheduler.started")) == \
        ["job.queued", "job.queued", "scheduler.started"]
    assert {r["correlation_id"] for r in q(trail, "--since", "2026-03-02", "--until", "2026-03-02")} == {"cid-b"}
    assert events(q(trail, "--since", "2026-03-02T08:01:30Z", "--event", "writeback.succeeded")) == ["writeback.succeeded"]
    assert len(q(trail, "--limit", "3")) == 3


def test_table_output(trail) -> None:
    res = CliRunner().invoke(cli, ["audit", "query", str(trail), "--cid", "cid-a"], obj={}, catch_exceptions=False)
    out = res.stdout.splitlines()
    assert out[0].split() == ["seq", "ts", "event", "correlation_id", "job", "report", "fields"]
    assert len(out) == 5 and "writeback.succeeded" in out[4] and "status=200" in out[4]


def test_bad_time_is_a_usage_error(trail) -> None:
    res = CliRunner().invoke(cli, ["audit", "query", str(trail), "--since", "yesterday"], obj={})
    assert res.exit_code == 2 and "ISO 8601" in res.output


def test_hash_id_and_anchor(trail, tmp_path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(SECRET + "\n")
    res = CliRunner().invoke(cli, ["audit", "hash-id", "--report", "rep-a", "--secret-file", str(secret)], obj={})
    set_secret(SECRET)
    expected = hash_id("DiagnosticReport/rep-a")
    set_secret(None)
    assert res.stdout.strip() == expected
    last = json.loads(trail.read_text().splitlines()[-1])
    res = CliRunner().invoke(cli, ["audit", "anchor", str(trail)], obj={})
    assert res.stdout.strip() == f"{last['seq']}:{last['hash']}"
