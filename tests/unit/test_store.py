"""The job store's state machine, idempotency, leases and fencing (SQLite file)."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest

from integration.samples import sample_diagnostic_reports
from integration.store import JobStore, State, StoreError, report_identity


@pytest.fixture()
def store(tmp_path: Path) -> JobStore:
    s = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    yield s
    s.close()


@pytest.fixture()
def report() -> dict:
    return copy.deepcopy(sample_diagnostic_reports()[0])


def test_identity_uses_id_and_version(report) -> None:
    assert report_identity(report) == ("DiagnosticReport/sample-cxr-normal", "1")


def test_identity_without_version_hashes_content_not_meta(report) -> None:
    del report["meta"]
    key, v1 = report_identity(report)
    report["meta"] = {"lastUpdated": "2026-01-01T00:00:00Z"}
    assert report_identity(report)[1] == v1  # servers rewrite meta; content is what counts
    report["conclusion"] = "changed"
    assert report_identity(report)[1] != v1
    assert v1.startswith("sha256:")


def test_identity_falls_back_to_identifier(report) -> None:
    del report["id"]
    assert report_identity(report)[0] == "identifier:urn:example:radlite:accession|ACC-sample-cxr-normal"
    del report["identifier"]
    with pytest.raises(StoreError):
        report_identity(report)


def test_same_version_twice_is_one_job(store, report) -> None:
    a, created_a = store.submit(report)
    b, created_b = store.submit(copy.deepcopy(report))
    assert created_a and not created_b
    assert a.id == b.id
    assert store.counts()["received"] == 1


def test_full_lifecycle(store, report) -> None:
    job, _ = store.submit(report)
    [claimed] = store.claim_for_inference("w1", 10, 60)
    assert claimed.id == job.id and claimed.state == "inferring"
    assert store.claim_for_inference("w2", 10, 60) == []  # leased
    assert store.finish_inference(job.id, "w1", ["radiology_nli"], {"radiology_nli": {"value": "neutral"}})
    [w] = store.claim_for_writeback("s1", 10, 60)
    assert store.finish_writeback(w.id, "s1", {"observations": ["Observation/1"]})
    done = store.get(job.id)
    assert done.state == "written" and done.written_at is not None
    assert done.results == {"radiology_nli": {"value": "neutral"}}


def test_expired_lease_is_taken_again_and_old_owner_is_fenced(store, report) -> None:
    job, _ = store.submit(report)
    store.claim_for_inference("dead-worker", 10, 0.05)
    time.sleep(0.1)
    [again] = store.claim_for_inference("w2", 10, 60)
    assert again.id == job.id and again.inference_attempts == 2
    # The first worker wakes up late: its results must not land.
    assert not store.finish_inference(job.id, "dead-worker", [], {"x": 1})
    assert store.finish_inference(job.id, "w2", [], {"x": 2})
    assert store.get(job.id).results == {"x": 2}


def test_poison_job_is_dead_lettered_after_max_attempts(tmp_path, report) -> None:
    store = JobStore(f"sqlite:///{tmp_path / 'p.sqlite'}", max_inference_attempts=2)
    job, _ = store.submit(report)
    for _ in range(2):
        assert store.claim_for_inference("w", 10, 0.01)
        time.sleep(0.05)
    assert store.claim_for_inference("w", 10, 60) == []
    failed = store.get(job.id)
    assert failed.state == "failed" and "2 attempts" in failed.error


def test_writeback_retry_waits_for_its_time(store, report) -> None:
    job, _ = store.submit(report)
    store.claim_for_inference("w", 1, 60)
    store.finish_inference(job.id, "w", [], {})
    store.claim_for_writeback("s", 1, 60)
    assert store.retry_writeback(job.id, "s", 30, "503 from server")
    assert store.claim_for_writeback("s", 1, 60) == []  # not due yet
    assert store.get(job.id).error == "503 from server"


def test_dead_letter_and_requeue(store, report) -> None:
    job, _ = store.submit(report)
    store.claim_for_inference("w", 1, 60)
    store.finish_inference(job.id, "w", [], {"a": 1})
    store.claim_for_writeback("s", 1, 60)
    assert store.fail(job.id, "s", State.WRITING, "422 from server", {"resourceType": "OperationOutcome"})
    assert store.get(job.id).state == "failed"
    assert store.requeue() == 1
    assert store.get(job.id).state == "inferred"  # has results: goes straight to write-back


def test_release_returns_job_without_counting_attempt(store, report) -> None:
    job, _ = store.submit(report)
    store.claim_for_inference("w", 1, 60)
    assert store.release(job.id, "w", State.INFERRING)
    again = store.get(job.id)
    assert again.state == "received" and again.inference_attempts == 0


def test_new_version_supersedes_unwritten_old_one(store, report) -> None:
    old, _ = store.submit(report)
    newer = copy.deepcopy(report)
    newer["meta"]["versionId"] = "2"
    new, created = store.submit(newer)
    assert created
    assert store.get(old.id).state == "superseded"
    assert store.get(new.id).supersedes is None  # nothing was written to amend


def test_new_version_amends_written_old_one(store, report) -> None:
    old, _ = store.submit(report)
    store.claim_for_inference("w", 1, 60)
    store.finish_inference(old.id, "w", [], {})
    store.claim_for_writeback("s", 1, 60)
    store.finish_writeback(old.id, "s", {})
    newer = copy.deepcopy(report)
    newer["meta"]["versionId"] = "2"
    new, _ = store.submit(newer)
    assert store.get(new.id).supersedes == old.id
    assert store.get(old.id).state == "written"


def test_late_older_version_is_recorded_but_never_processed(store, report) -> None:
    v2 = copy.deepcopy(report)
    v2["meta"]["versionId"] = "2"
    store.submit(v2)
    late, created = store.submit(report)  # version 1 arrives after version 2
    assert created and late.state == "superseded"
    assert [j.report_version for j in store.claim_for_inference("w", 10, 60)] == ["2"]


def test_versions_without_numbers_are_ordered_by_last_updated(store, report) -> None:
    """Non-numeric versionIds: meta.lastUpdated of the stored previous version decides."""
    report["meta"] = {"versionId": "a", "lastUpdated": "2026-03-02T10:00:00+00:00"}
    first, _ = store.submit(report)
    older = copy.deepcopy(report)
    older["meta"] = {"versionId": "b", "lastUpdated": "2026-03-01T10:00:00+00:00"}
    late, created = store.submit(older)
    assert created and late.state == "superseded" and late.superseded_by == first.id
    assert store.get(first.id).state == "received"
    newer = copy.deepcopy(report)
    newer["meta"] = {"versionId": "c", "lastUpdated": "2026-03-03T10:00:00+00:00"}
    new, created = store.submit(newer)
    assert created and new.state == "received"
    assert store.get(first.id).state == "superseded" and store.get(first.id).superseded_by == new.id
    # A new job reads back as it was returned; a duplicate push returns the stored job.
    stored = store.get(new.id)
    assert (stored.report_key, stored.report_version, stored.source, stored.inference_attempts,
            stored.tasks, stored.results, stored.error_detail) == (new.report_key, "c", "push", 0, None, None, None)
    again, created = store.submit(copy.deepcopy(newer))
    assert not created and again.id == new.id


def test_scheduler_lock(store) -> None:
    assert store.acquire_lock("scheduler", "a", 60)
    assert not store.acquire_lock("scheduler", "b", 60)
    assert store.acquire_lock("scheduler", "a", 60)  # renewal
    store.release_lock("scheduler", "a")
    assert store.acquire_lock("scheduler", "b", 60)


def test_cursor_roundtrip(store) -> None:
    assert store.get_cursor("pull") is None
    store.set_cursor("pull", "2026-01-01T00:00:00Z")
    store.set_cursor("pull", "2026-02-01T00:00:00Z")
    assert store.get_cursor("pull") == "2026-02-01T00:00:00Z"
