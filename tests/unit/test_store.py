"""The job store's state machine, idempotency, leases and fencing (SQLite file)."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest

from integration.samples import sample_diagnostic_reports
from integration.store import JobStore, QuotaExceeded, State, StoreError, report_identity


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


# -- a transaction Bundle: JobStore.submit_many (issue 20, item 3) ---------------------------------


def _version(report: dict, version: str, **meta) -> dict:
    out = copy.deepcopy(report)
    out["meta"] = {"versionId": version, **meta}
    return out


def _history(store: JobStore) -> list[tuple]:
    """Every job as (report, version, state, supersedes' version, superseded_by's version, source):
    what two stores hold in common when the same reports were recorded in the same order."""
    jobs = store.jobs(limit=1000)
    version_of = {j.id: j.report_version for j in jobs}
    return sorted((j.report_key, j.report_version, j.state, version_of.get(j.supersedes),
                   version_of.get(j.superseded_by)) for j in jobs)


SEQUENCES = {
    "newer-then-older": ["1", "2", "1"],
    "older-after-newer": ["2", "1"],
    "same-version-twice": ["1", "1"],
    "three-versions": ["1", "3", "2", "4"],
    "repeat-of-a-superseded-one": ["1", "2", "1", "2"],
}


@pytest.mark.parametrize("versions", list(SEQUENCES.values()), ids=list(SEQUENCES))
def test_a_transaction_records_as_if_its_entries_were_pushed_in_order(tmp_path, report, versions) -> None:
    other = copy.deepcopy(sample_diagnostic_reports()[1])
    resources = [_version(report, v) for v in versions] + [other]
    one_by_one = JobStore(f"sqlite:///{tmp_path / 'one-by-one.sqlite'}")
    together = JobStore(f"sqlite:///{tmp_path / 'together.sqlite'}")
    try:
        singles = [one_by_one.submit(copy.deepcopy(r), source="transaction") for r in resources]
        recorded = together.submit_many(copy.deepcopy(resources), correlation_id="tx-1")
        assert [(j.report_version, c, j.state) for j, c in recorded] == \
               [(j.report_version, c, j.state) for j, c in singles]
        assert _history(together) == _history(one_by_one)
        assert {j.correlation_id for j, _ in recorded} == {"tx-1"}
        assert {j.source for j in together.jobs()} == {"transaction"}
    finally:
        one_by_one.close()
        together.close()


def test_interleaved_reports_in_a_transaction_record_as_pushed_in_order(tmp_path, report) -> None:
    # Recorded in report-key order (a lock order for PostgreSQL): each report's versions keep theirs.
    b = copy.deepcopy(sample_diagnostic_reports()[1])
    b["id"] = "a-first-by-key"
    resources = [_version(report, "1"), _version(b, "2"), _version(report, "3"), _version(b, "1"),
                 _version(report, "2"), _version(b, "3"), _version(report, "1")]
    one_by_one = JobStore(f"sqlite:///{tmp_path / 'one-by-one.sqlite'}")
    together = JobStore(f"sqlite:///{tmp_path / 'together.sqlite'}")
    try:
        singles = [one_by_one.submit(copy.deepcopy(r), source="transaction") for r in resources]
        recorded = together.submit_many(copy.deepcopy(resources))
        assert [(j.report_key, j.report_version, c, j.state) for j, c in recorded] == \
               [(j.report_key, j.report_version, c, j.state) for j, c in singles]
        assert _history(together) == _history(one_by_one)
        created = [j.created_at for j, c in recorded if c]
        assert created == sorted(created) and len(set(created)) == len(created)  # the Bundle's order
    finally:
        one_by_one.close()
        together.close()


def test_a_transaction_returns_stored_jobs_for_versions_it_repeats(store, report) -> None:
    before, _ = store.submit(report)
    other = copy.deepcopy(sample_diagnostic_reports()[1])
    (dup, dup_created), (new, new_created) = store.submit_many([copy.deepcopy(report), other])
    assert (dup.id, dup_created) == (before.id, False)
    assert new_created and store.get(new.id) is not None
    assert sum(store.counts().values()) == 2


def test_a_transaction_supersedes_and_amends_what_the_store_holds(store, report) -> None:
    unwritten, _ = store.submit(report)
    second = copy.deepcopy(sample_diagnostic_reports()[1])
    written, _ = store.submit(second)
    store.claim_for_inference("w", 10, 60)
    store.finish_inference(written.id, "w", [], {})
    store.claim_for_writeback("s", 10, 60)
    assert store.finish_writeback(written.id, "s", {})
    (v2, _), (second_v2, _) = store.submit_many([_version(report, "2"), _version(second, "9")])
    assert store.get(unwritten.id).state == "superseded" and store.get(unwritten.id).superseded_by == v2.id
    assert v2.supersedes is None  # nothing written to amend
    assert store.get(written.id).state == "written" and store.get(second_v2.id).supersedes == written.id


def test_an_error_mid_transaction_records_nothing(store, report, monkeypatch) -> None:
    import integration.store.jobs as jobs_module

    first, _ = store.submit(report)
    real, calls = jobs_module._record, []

    def failing_third(conn, job, row):
        calls.append(job.report_key)
        if len(calls) == 3:
            raise RuntimeError("the disk is full")
        return real(conn, job, row)

    monkeypatch.setattr(jobs_module, "_record", failing_third)
    others = [copy.deepcopy(r) for r in sample_diagnostic_reports()[1:4]]
    with pytest.raises(RuntimeError):
        store.submit_many([_version(report, "2"), *others])
    assert len(calls) == 3
    # Neither the inserts before the error nor the supersede of the stored version stayed.
    assert [(j.id, j.state, j.superseded_by) for j in store.jobs()] == [(first.id, "received", None)]


def test_a_report_without_identity_fails_the_transaction_before_it_starts(store, report) -> None:
    nameless = copy.deepcopy(sample_diagnostic_reports()[1])
    del nameless["id"], nameless["identifier"]
    with pytest.raises(StoreError):
        store.submit_many([report, nameless])
    assert sum(store.counts().values()) == 0


def test_queue_quota_per_client(store, report) -> None:
    reports = [copy.deepcopy(r) for r in sample_diagnostic_reports()[:4]]
    for r in reports[:2]:
        store.submit(r, client="ris", max_queued=2)
    assert store.queued("ris") == 2 and store.queued("pacs") == 0
    with pytest.raises(QuotaExceeded) as refused:
        store.submit(reports[2], client="ris", max_queued=2)
    assert (refused.value.client, refused.value.limit) == ("ris", 2)
    # Another client is served; a duplicate and a new version of an unwritten report add no work.
    assert store.submit(reports[2], client="pacs", max_queued=2)[1]
    dup, created = store.submit(copy.deepcopy(reports[0]), client="ris", max_queued=2)
    assert not created and dup.id == store.find(*report_identity(reports[0])).id
    assert store.submit(_version(reports[1], "7"), client="ris", max_queued=2)[1]
    # A transaction that would go over records nothing; one that fits records all.
    with pytest.raises(QuotaExceeded):
        store.submit_many([reports[3], _version(reports[0], "8")], client="pacs", max_queued=2)
    assert store.queued("pacs") == 1 and sum(store.counts().values()) == 4
    assert all(c for _, c in store.submit_many([reports[3]], client="pacs", max_queued=2))
    # Finished jobs leave the count.
    store.claim_for_inference("w", 100, 60)
    for job in store.jobs(State.INFERRING):
        store.fail(job.id, "w", State.INFERRING, "test")
    assert store.queued("ris") == 0 and store.queued("pacs") == 0

