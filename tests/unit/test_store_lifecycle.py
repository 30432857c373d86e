"""The store's side of a report's lifecycle: the right prior, old versions never written, a
failed version's withdrawal (issue: chart safety)."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest

from integration.fhir.lifecycle import mismatch
from integration.samples import sample_diagnostic_reports
from integration.store import JobStore, State


@pytest.fixture()
def store(tmp_path: Path) -> JobStore:
    s = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    yield s
    s.close()


def _report(rid: str, subject: str, version: str = "1", status: str = "final") -> dict:
    r = copy.deepcopy(sample_diagnostic_reports()[0])
    r["id"], r["subject"], r["status"] = rid, {"reference": subject}, status
    r["meta"] = {"versionId": version}
    return r


def _submit(store: JobStore, *args, **kw):
    job, created = store.submit(_report(*args, **kw))
    assert created
    time.sleep(0.002)  # created_at orders the reports
    return job


def _written(store: JobStore, job) -> None:
    [claimed] = [c for c in store.claim_for_inference("w", 100, 60) if c.id == job.id]
    assert store.finish_inference(claimed.id, "w", [], {})
    claimed = [c for c in store.claim_for_writeback("s", 100, 60) if c.id == job.id]
    assert claimed, store.get(job.id).state
    assert store.finish_writeback(job.id, "s", {"resources": [{"type": "Observation", "role": "finding", "id": "o1"}],
                                                "counts": {}})


# -- the prior --------------------------------------------------------------------------------------


def test_prior_is_the_same_patients_latest_final_report(store) -> None:
    older = _submit(store, "cxr-1", "Patient/p1")
    _submit(store, "cxr-other", "Patient/p2")
    new = _submit(store, "cxr-2", "Patient/p1")
    assert store.prior_report(new).id == older.id


def test_a_report_moved_to_another_patient_is_not_the_prior(store) -> None:
    _submit(store, "mammo", "Patient/pat-1005")
    _submit(store, "mammo", "Patient/pat-1008", version="2")  # moved
    new = _submit(store, "cxr", "Patient/pat-1005")
    assert store.prior_report(new) is None


def test_a_report_moved_to_this_patient_is_their_prior(store) -> None:
    _submit(store, "mammo", "Patient/pat-1008")
    moved = _submit(store, "mammo", "Patient/pat-1005", version="2")
    new = _submit(store, "cxr", "Patient/pat-1005")
    assert store.prior_report(new).id == moved.id


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled", "preliminary", "partial", "registered"])
def test_withdrawn_or_unreleased_reports_are_never_the_prior(store, status) -> None:
    final = _submit(store, "cxr-0", "Patient/p1")
    _submit(store, "cxr-1", "Patient/p1")
    _submit(store, "cxr-1", "Patient/p1", version="2", status=status)
    new = _submit(store, "cxr-2", "Patient/p1")
    assert store.prior_report(new).id == final.id  # the one before, still final


# -- old versions are never written ----------------------------------------------------------------


def test_a_write_retried_after_a_newer_version_arrived_is_never_sent(store) -> None:
    v1 = _submit(store, "r", "Patient/p1")
    [c] = store.claim_for_inference("w", 10, 60)
    store.finish_inference(c.id, "w", [], {})
    [c] = store.claim_for_writeback("s", 10, 60)
    v2 = _submit(store, "r", "Patient/p1", version="2")  # arrives while v1 is being written
    assert store.retry_writeback(v1.id, "s", 0, "EHR timeout")
    claimed = store.claim_for_writeback("s", 10, 60)
    assert v1.id not in [j.id for j in claimed]
    assert store.get(v1.id).state == State.SUPERSEDED.value
    assert store.get(v2.id).state == State.RECEIVED.value


def test_a_requeued_old_dead_letter_is_superseded_not_inferred(store) -> None:
    v1 = _submit(store, "r", "Patient/p1")
    [c] = store.claim_for_inference("w", 10, 60)
    store.fail(c.id, "w", State.INFERRING, "boom")
    v2 = _submit(store, "r", "Patient/p1", version="2")
    _written(store, v2)
    assert store.requeue([v1.id]) == 1
    assert store.claim_for_inference("w", 10, 60) == []
    assert store.get(v1.id).state == State.SUPERSEDED.value


def test_withdrawal_waits_for_any_version_still_being_written(store) -> None:
    v1 = _submit(store, "r", "Patient/p1")
    [c] = store.claim_for_inference("w", 10, 60)
    store.finish_inference(c.id, "w", [], {})
    [c] = store.claim_for_writeback("s", 10, 60)  # v1 writing
    v2 = _submit(store, "r", "Patient/p1", version="2", status="entered-in-error")
    [c2] = store.claim_for_inference("w", 10, 60)
    assert store.withdraw_only(c2.id, "w")
    assert store.claim_for_writeback("s2", 10, 60) == []  # v1's write has not settled
    assert store.finish_writeback(v1.id, "s", {"resources": [], "counts": {}})
    assert [j.id for j in store.claim_for_writeback("s2", 10, 60)] == [v2.id]


# -- a failed version withdraws the earlier results, then is a dead letter --------------------------


def test_failed_version_is_withdrawn_then_dead_lettered(store) -> None:
    v1 = _submit(store, "r", "Patient/p1")
    _written(store, v1)
    v2 = _submit(store, "r", "Patient/p1", version="2")
    [c] = store.claim_for_inference("w", 10, 60)
    assert store.has_written_version(c)
    assert [j.id for j in store.written_versions(c)] == [v1.id]
    assert store.withdraw_only(c.id, "w", "inference failed: too long")
    [c] = store.claim_for_writeback("s", 10, 60)
    assert c.id == v2.id and c.results == {} and c.error_detail["withdraw_only"]
    assert store.finish_withdrawal(c.id, "s", {"resources": [], "counts": {"amended": 1}})
    done = store.get(v2.id)
    assert done.state == State.FAILED.value and done.error == "inference failed: too long" and done.written
    assert store.requeue([v2.id]) == 1
    again = store.get(v2.id)
    assert again.state == State.RECEIVED.value and again.error_detail is None


def test_inference_given_up_withdraws_when_an_earlier_version_was_written(store) -> None:
    small = JobStore(store.engine.url.render_as_string(hide_password=False), max_inference_attempts=1)
    v1 = _submit(small, "r", "Patient/p1")
    _written(small, v1)
    v2 = _submit(small, "r", "Patient/p1", version="2")
    small.claim_for_inference("w", 10, 0)  # taken; the worker dies, the lease runs out
    time.sleep(0.01)
    assert small.claim_for_inference("w", 10, 60) == []
    job = small.get(v2.id)
    assert job.state == State.INFERRED.value and job.error_detail == {"stage": "inference", "withdraw_only": True}
    small.close()


# -- the check against the EHR's copy ---------------------------------------------------------------


def test_mismatch_compares_patient_and_status() -> None:
    pushed = _report("r", "Patient/p1")
    assert mismatch(pushed, copy.deepcopy(pushed)) is None
    absolute = copy.deepcopy(pushed)
    absolute["subject"] = {"reference": "https://ehr.example/fhir/Patient/p1"}
    assert mismatch(pushed, absolute) is None
    moved = copy.deepcopy(pushed)
    moved["subject"] = {"reference": "Patient/p2"}
    assert "another subject" in mismatch(pushed, moved)
    withdrawn = copy.deepcopy(pushed)
    withdrawn["status"] = "entered-in-error"
    assert "status" in mismatch(pushed, withdrawn)
    assert "not a DiagnosticReport" in mismatch(pushed, {"resourceType": "OperationOutcome"})


def test_prior_matches_a_patient_however_the_reference_is_written(store) -> None:
    older = _submit(store, "cxr-1", "https://ehr.example/fhir/Patient/p1")
    new = _submit(store, "cxr-2", "Patient/p1/_history/3")
    assert store.prior_report(new).id == older.id
    assert new.subject_ref == "Patient/p1"


def test_provenance_of_a_withdrawal_says_why() -> None:
    from types import SimpleNamespace

    from integration.fhir.conformance import check_bundle
    from integration.fhir.transaction import WITHDRAWN_NOTE, plan_transaction
    from integration.mappings import load_mappings

    report = _report("r", "Patient/p1", version="2", status="entered-in-error")
    job = SimpleNamespace(resource=report, report_key="DiagnosticReport/r", report_version="2", results={})
    earlier = {"resourceType": "Observation", "id": "o1", "status": "preliminary", "code": {"text": "N"},
               "meta": {"versionId": "1"}}
    plan = plan_transaction(job, load_mappings(Path(__file__).resolve().parents[2] / "mappings"),
                            amend=[(earlier, 'W/"1"')], amend_note=WITHDRAWN_NOTE)
    [prov] = [e["resource"] for e in plan.bundle["entry"] if e["resource"]["resourceType"] == "Provenance"]
    assert prov["reason"] == [{"text": WITHDRAWN_NOTE}]
    [put] = [e for e in plan.bundle["entry"] if e["request"]["method"] == "PUT"]
    assert put["resource"]["status"] == "entered-in-error" and put["request"]["ifMatch"] == 'W/"1"'
    assert check_bundle(plan.bundle) == []
