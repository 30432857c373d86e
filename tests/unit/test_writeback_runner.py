"""The write-back step against a scripted client: success, retry with backoff, dead letter."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import random
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from integration.mappings import load_mappings
from integration.samples import sample_diagnostic_reports
from integration.settings import WritebackSettings
from integration.store import JobStore, State
from integration.writeback import runner
from integration.writeback.client import WritebackError
from integration.writeback.runner import backoff_delay, write_due
from integration.writeback.scheduler import WritebackScheduler
from tests.fhir_server import full_results, result

ROOT = Path(__file__).resolve().parents[2]
# Without the critical-result rules: these tests count the results' own resources.
MAPPINGS = dataclasses.replace(load_mappings(ROOT / "mappings"), critical=())
SAMPLE = sample_diagnostic_reports()[1]["id"]  # the report inferred_job pushes
OO = {"resourceType": "OperationOutcome",
      "issue": [{"severity": "error", "code": "structure", "diagnostics": "Patient Quentin Testpatient bad"}]}


class ScriptedClient:
    """post_transaction answers from a script (a dict echo or an exception)."""

    base_url = "http://ehr.test/fhir"

    def __init__(self, *script) -> None:
        self.script = list(script)
        self.posted: list[dict] = []
        self.reads: dict[str, dict] = {}
        # The EHR holds the sample reports as they are pushed (the report check reads them).
        self.reports: dict[str, dict] = {r["id"]: r for r in sample_diagnostic_reports()}
        self.report_reads: list[str] = []

    def get_json(self, path, *, what):
        return self.request("GET", path, what=what).json()

    def request(self, method, path, *, what, **kw):
        self.report_reads.append(path)
        _, rid, _, vid = path.split("/")
        held = self.reports.get(rid)
        if isinstance(held, Exception):
            raise held
        if held is None or held["meta"]["versionId"] != vid:
            raise WritebackError(f"{what}: HTTP 404", retryable=False, status=404)
        return SimpleNamespace(json=lambda: copy.deepcopy(held))

    def post_transaction(self, bundle):
        self.posted.append(bundle)
        item = self.script.pop(0) if self.script else "ok"
        if isinstance(item, Exception):
            raise item
        entries = []
        for i, e in enumerate(bundle["entry"]):
            rtype = e["resource"]["resourceType"]
            rid = e["request"]["url"].split("/")[1] if e["request"]["method"] == "PUT" else f"{rtype.lower()}-{i}"
            entries.append({"response": {"status": "200 OK" if e["request"]["method"] == "PUT" else "201 Created",
                                         "location": f"{self.base_url}/{rtype}/{rid}/_history/1"}})
        return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}

    def read(self, rtype, rid):
        if rtype == "DiagnosticReport":
            self.report_reads.append(f"{rtype}/{rid}")
            return copy.deepcopy(self.reports[rid]), 'W/"1"'
        if rid not in self.reads:
            raise WritebackError("read: HTTP 404", retryable=False, status=404)
        return copy.deepcopy(self.reads[rid]), 'W/"1"'


@pytest.fixture()
def store(tmp_path: Path):
    s = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    yield s
    s.close()


@pytest.fixture()
def audits(monkeypatch):
    events = []
    monkeypatch.setattr(runner, "audit", lambda event, **f: events.append((event, f)))
    return events


def settings(**kw) -> WritebackSettings:
    base = dict(batch_size=10, lease_seconds=60, backoff_base_seconds=2, backoff_max_seconds=300, max_attempts=3)
    base.update(kw)
    return WritebackSettings(**base)


def inferred_job(store: JobStore, results=None, report=None):
    report = copy.deepcopy(report or sample_diagnostic_reports()[1])
    job, _ = store.submit(report)
    [claimed] = store.claim_for_inference("w", 1, 60)
    results = results or full_results()
    assert store.finish_inference(claimed.id, "w", list(results), results)
    return store.get(job.id)


def test_success_records_written(store, audits) -> None:
    job = inferred_job(store)
    client = ScriptedClient()
    counts = write_due(store, client, MAPPINGS, "s1", settings())
    assert (counts.claimed, counts.written) == (1, 1)
    done = store.get(job.id)
    assert done.state == State.WRITTEN.value
    assert done.written["counts"] == {"created": 15, "existing": 0, "amended": 0}
    assert done.written["server"] == client.base_url
    roles = [r["role"] for r in done.written["resources"]]
    assert roles.count("finding") == 12 and roles.count("summary") == 1 and "provenance" in roles
    names = [e for e, _ in audits]
    assert names == ["writeback.attempted", "writeback.succeeded"]


def test_nothing_to_write_does_not_call_server(store, audits) -> None:
    job = inferred_job(store, {"radiology_qa": result("yes"), "m_staging": result(None, parsed=False)})
    client = ScriptedClient()
    write_due(store, client, MAPPINGS, "s1", settings())
    assert client.posted == []
    done = store.get(job.id)
    assert done.state == "written" and done.written["resources"] == []
    assert done.written["parse_failures"] == {"m_staging": 1}
    assert ("writeback.parse_failures_skipped", {"job": runner.hash_id(job.id), "failures": {"m_staging": 1}}) in audits


def test_retryable_failure_backs_off(store, audits) -> None:
    job = inferred_job(store)
    client = ScriptedClient(WritebackError("transaction: HTTP 503", retryable=True, status=503))
    before = dt.datetime.now(dt.timezone.utc)
    counts = write_due(store, client, MAPPINGS, "s1", settings(backoff_base_seconds=10), rng=random.Random(1))
    assert counts.retried == 1
    again = store.get(job.id)
    assert again.state == State.INFERRED.value and again.error == "transaction: HTTP 503"
    wait = (again.next_attempt_at - before).total_seconds()
    assert 0 <= wait <= 10.5
    assert write_due(store, client, MAPPINGS, "s1", settings()).claimed == 0  # not due yet
    event, fields = audits[-1]
    assert event == "writeback.retried" and fields["status"] == 503 and fields["delay"] == round(counts.delays[0], 3)


def test_retry_after_larger_than_backoff_wins(store, audits) -> None:
    inferred_job(store)
    err = WritebackError("transaction: HTTP 429", retryable=True, status=429, retry_after=120)
    counts = write_due(store, ScriptedClient(err), MAPPINGS, "s1", settings(backoff_base_seconds=1))
    assert counts.delays == [120]


def test_backoff_delay_full_jitter_and_cap() -> None:
    rng = random.Random(0)
    for attempt in range(1, 12):
        d = backoff_delay(attempt, 2, 60, rng=rng)
        assert 0 <= d <= min(60, 2 * 2 ** (attempt - 1))
    assert backoff_delay(1, 2, 60, retry_after=500, rng=rng) == 500
    assert max(backoff_delay(30, 2, 60, rng=random.Random(i)) for i in range(200)) <= 60


def test_dead_letter_after_max_attempts(store, audits) -> None:
    job = inferred_job(store)
    err = lambda: WritebackError("transaction: ConnectionError", retryable=True)  # noqa: E731 -- a one-line local factory
    client = ScriptedClient(err(), err(), err())
    s = settings(max_attempts=3, backoff_base_seconds=0.001, backoff_max_seconds=0.001)
    for _ in range(3):
        time.sleep(0.01)
        write_due(store, client, MAPPINGS, "s1", s)
    dead = store.get(job.id)
    assert dead.state == State.FAILED.value and dead.write_attempts == 3
    assert "gave up after 3 attempts" in dead.error
    assert audits[-1][0] == "writeback.dead_lettered"


def test_permanent_failure_dead_letters_with_outcome(store, audits) -> None:
    job = inferred_job(store)
    client = ScriptedClient(WritebackError("transaction: HTTP 400", retryable=False, status=400, outcome=OO))
    counts = write_due(store, client, MAPPINGS, "s1", settings())
    assert counts.dead_lettered == 1
    dead = store.get(job.id)
    assert dead.state == "failed" and dead.error == "transaction: HTTP 400"
    assert dead.error_detail["operation_outcome"] == OO and dead.error_detail["status"] == 400
    event, fields = audits[-1]
    assert event == "writeback.dead_lettered" and fields["issue_codes"] == ["structure"]
    # The audit trail never carries the OperationOutcome's text (it may echo PHI).
    assert "Quentin" not in json.dumps(audits, default=str)
    # `radlite jobs retry` sends it back to write-back.
    assert store.requeue([job.id]) == 1 and store.get(job.id).state == "inferred"


def test_build_error_dead_letters(store, audits) -> None:
    job = inferred_job(store, {"abnormality_detection": result(["not a dict"])})
    write_due(store, ScriptedClient(), MAPPINGS, "s1", settings())
    assert store.get(job.id).state == "failed"
    assert store.get(job.id).error_detail == {"kind": "build"}


def test_amendment_reads_previous_results(store, audits) -> None:
    v1 = inferred_job(store, {"n_staging": result("N1")})
    client = ScriptedClient()
    write_due(store, client, MAPPINGS, "s1", settings())
    written_v1 = store.get(v1.id).written
    [obs_id] = [r["id"] for r in written_v1["resources"] if r["role"] == "finding"]
    client.reads[obs_id] = {"resourceType": "Observation", "id": obs_id, "status": "preliminary",
                            "meta": {"versionId": "1"}, "code": {"text": "N"}}
    report = copy.deepcopy(sample_diagnostic_reports()[1])
    report["meta"]["versionId"] = "2"
    v2 = inferred_job(store, {"n_staging": result("N2")}, report=report)
    assert v2.supersedes == v1.id
    client.reports[SAMPLE] = report  # the EHR holds version 2 now
    write_due(store, client, MAPPINGS, "s1", settings())
    puts = [e for e in client.posted[-1]["entry"] if e["request"]["method"] == "PUT"]
    assert [p["request"]["url"] for p in puts] == [f"Observation/{obs_id}"]
    done = store.get(v2.id)
    assert done.written["counts"]["amended"] == 1
    assert "amendment.written" in [e for e, _ in audits]


def test_keep_going_false_releases_the_batch(store) -> None:
    a = inferred_job(store)
    report = copy.deepcopy(sample_diagnostic_reports()[2])
    b = inferred_job(store, report=report)
    calls = iter([True, False])
    counts = write_due(store, ScriptedClient(), MAPPINGS, "s1", settings(), keep_going=lambda: next(calls))
    assert (counts.written, counts.released) == (1, 1)
    assert {store.get(a.id).state, store.get(b.id).state} == {"written", "inferred"}


def test_two_schedulers_one_lock(store) -> None:
    inferred_job(store)
    s = settings(interval_seconds=5)
    first = WritebackScheduler(store, ScriptedClient(), MAPPINGS, s, owner="A")
    second = WritebackScheduler(store, ScriptedClient(), MAPPINGS, s, owner="B")
    assert first.tick().written == 1
    assert second.tick() is None and second.client.posted == []
    first.release()
    assert second.tick() is not None and second.holding


def test_lock_ttl_bounds_how_long_a_dead_scheduler_blocks(store) -> None:
    assert WritebackScheduler(store, ScriptedClient(), MAPPINGS, settings(interval_seconds=5)).lock_ttl == 30
    s = settings(interval_seconds=0.1, lock_ttl_seconds=0.3)
    dead = WritebackScheduler(store, ScriptedClient(), MAPPINGS, s, owner="dead")
    assert dead.tick() is not None  # takes the lock, then "dies" without releasing it
    successor = WritebackScheduler(store, ScriptedClient(), MAPPINGS, s, owner="next")
    assert successor.tick() is None
    deadline = time.monotonic() + 5
    while successor.tick() is None:
        assert time.monotonic() < deadline, "the dead scheduler's lock never expired"
        time.sleep(0.05)
    assert successor.holding


def test_absurd_retry_after_is_honoured_up_to_a_day(store, audits) -> None:
    # 317 years parked the job (never written, never dead-lettered); 1e15 s overflowed the date
    # and fell through to "unexpected OverflowError".
    assert backoff_delay(1, 2, 60, retry_after=1e15, rng=random.Random(0)) == runner.RETRY_AFTER_MAX_SECONDS
    job = inferred_job(store)
    for ra in (1e10, 1e15):
        err = WritebackError("transaction: HTTP 503", retryable=True, status=503, retry_after=ra)
        before = dt.datetime.now(dt.timezone.utc)
        counts = write_due(store, ScriptedClient(err), MAPPINGS, "s1", settings(max_attempts=10))
        assert counts.delays == [runner.RETRY_AFTER_MAX_SECONDS]
        got = store.get(job.id)
        assert got.state == State.INFERRED.value and got.error == "transaction: HTTP 503"
        assert got.next_attempt_at - before <= dt.timedelta(days=1, seconds=5)
        with store.Session.begin() as s:  # due again, for the next round
            s.get(type(got), job.id).next_attempt_at = dt.datetime.now(dt.timezone.utc)


# -- the report check: the EHR must hold the pushed version, same patient, same status ----------------


def test_report_check_reads_the_pushed_version(store, audits) -> None:
    inferred_job(store)
    client = ScriptedClient()
    assert write_due(store, client, MAPPINGS, "s1", settings()).written == 1
    assert client.report_reads == [f"DiagnosticReport/{SAMPLE}/_history/1"]


@pytest.mark.parametrize("change, reason", [
    ({"subject": {"reference": "Patient/someone-else"}}, "another subject"),
    ({"status": "entered-in-error"}, "status 'entered-in-error'"),
    ({"meta": {"versionId": "7"}}, "does not hold this report version"),
])
def test_report_check_mismatch_is_a_dead_letter_never_a_write(store, audits, change, reason) -> None:
    job = inferred_job(store)
    client = ScriptedClient()
    client.reports[SAMPLE] = {**client.reports[SAMPLE], **change}
    counts = write_due(store, client, MAPPINGS, "s1", settings())
    assert counts.dead_lettered == 1 and client.posted == []
    failed = store.get(job.id)
    assert failed.state == State.FAILED.value and reason in failed.error
    assert failed.error.startswith("report check failed:") and failed.error_detail == {"kind": "report-check"}
    assert "writeback.report_mismatch" in [e for e, _ in audits]


def test_report_check_outage_is_retried(store, audits) -> None:
    job = inferred_job(store)
    client = ScriptedClient()
    client.reports[SAMPLE] = WritebackError("read report version: HTTP 503", retryable=True, status=503)
    assert write_due(store, client, MAPPINGS, "s1", settings()).retried == 1
    assert store.get(job.id).state == State.INFERRED.value and client.posted == []


def test_report_check_current_mode_and_off(store, audits) -> None:
    inferred_job(store)
    client = ScriptedClient()
    assert write_due(store, client, MAPPINGS, "s1", settings(verify_report="current")).written == 1
    assert client.report_reads == [f"DiagnosticReport/{SAMPLE}"]
    job2 = inferred_job(store, report={**sample_diagnostic_reports()[2], "meta": {"versionId": "1"}})
    client2 = ScriptedClient()
    client2.reports = {}
    assert write_due(store, client2, MAPPINGS, "s1", settings(verify_report="off")).written == 1
    assert client2.report_reads == [] and store.get(job2.id).state == State.WRITTEN.value


def test_current_mode_catches_a_newer_version_on_the_ehr(store, audits) -> None:
    job = inferred_job(store)
    client = ScriptedClient()
    client.reports[SAMPLE] = {**client.reports[SAMPLE], "meta": {"versionId": "2"}}
    assert write_due(store, client, MAPPINGS, "s1", settings(verify_report="current")).dead_lettered == 1
    assert "holds version 2" in store.get(job.id).error
