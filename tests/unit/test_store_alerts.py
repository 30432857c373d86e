"""The store's part of critical results (issue 23): jobs with an alert are claimed first and by
the early wake alone; alerts recorded with the write are open once, withdrawn with their report
version, escalated and closed only while open."""

from __future__ import annotations

import copy

import pytest

from integration.samples import sample_diagnostic_reports
from integration.store import AlertState, JobStore, SentAlert, State


@pytest.fixture()
def store(tmp_path) -> JobStore:
    s = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    yield s
    s.close()


def _inferred(store: JobStore, rid: str, priority: int = 0, version: str = "1"):
    report = copy.deepcopy(sample_diagnostic_reports()[0])
    report["id"], report["meta"] = rid, {"versionId": version}
    job, _ = store.submit(report)
    [claimed] = [j for j in store.claim_for_inference("w", 10, 60) if j.id == job.id]
    assert store.finish_inference(claimed.id, "w", ["m_staging"], {}, priority)
    return store.get(job.id)


def _sent(ident: str) -> SentAlert:
    return SentAlert(ident, "distant-metastases", "incidental_actionable", "ordering_provider",
                     "Practitioner/1", f"Communication/{ident}", 60, ["results_interpreter"])


def test_alert_jobs_are_claimed_first_and_alone_by_the_early_wake(store) -> None:
    routine = _inferred(store, "r-old")
    urgent = _inferred(store, "r-urgent", priority=3)
    also = _inferred(store, "r-actionable", priority=1)
    assert [j.id for j in store.claim_for_writeback("s", 10, 60, min_priority=1)] == [urgent.id, also.id]
    assert [j.id for j in store.claim_for_writeback("s", 10, 60)] == [routine.id]
    assert [j.id for j in store.jobs_by_urgency()] == [urgent.id, also.id, routine.id]


def test_alerts_are_recorded_once_with_the_write_and_withdrawn_by_the_next_version(store) -> None:
    v1 = _inferred(store, "r1", priority=1)
    [job] = store.claim_for_writeback("s", 10, 60)
    assert store.finish_writeback(job.id, "s", {"resources": []}, [_sent("a1")])
    [alert] = store.open_alerts()
    assert (alert.job_id, alert.step, alert.chain, alert.state) == (v1.id, 0, "a1", AlertState.OPEN.value)
    assert (alert.due_at - alert.sent_at).total_seconds() == 3600

    v2 = _inferred(store, "r1", version="2")
    assert store.report_alert_communications(v2) == ["Communication/a1"]
    [job2] = store.claim_for_writeback("s", 10, 60)
    assert store.finish_writeback(job2.id, "s", {"resources": []}, [])
    assert store.open_alerts() == []
    [withdrawn] = store.job_alerts(v1.id)
    assert withdrawn.state == AlertState.WITHDRAWN.value and withdrawn.closed_by == f"job:{v2.id}"


def test_an_alert_escalates_and_closes_only_while_open(store) -> None:
    _inferred(store, "r2", priority=3)
    [job] = store.claim_for_writeback("s", 10, 60)
    store.finish_writeback(job.id, "s", {"resources": []}, [_sent("b1")])
    [alert] = store.open_alerts()
    assert store.escalate_alert(alert, "b2", "results_interpreter", "Practitioner/2", "Communication/b2", [])
    assert not store.escalate_alert(alert, "b2", "results_interpreter", "Practitioner/2", "Communication/b2", [])
    [step1] = store.open_alerts()
    assert (step1.id, step1.step, step1.chain, step1.escalate_to) == ("b2", 1, "b1", [])
    assert store.alert_chain("b1") == ["Communication/b1", "Communication/b2"]
    assert store.close_alert("b2", AlertState.ACKNOWLEDGED, "received")
    assert not store.close_alert("b2", AlertState.UNANSWERED, "no-one-left")
    assert [a.state for a in store.job_alerts(job.id)] == [AlertState.ESCALATED.value, AlertState.ACKNOWLEDGED.value]
    assert store.get(job.id).state == State.WRITTEN.value


def test_open_alerts_are_read_back_by_their_limit_not_every_minute() -> None:
    import datetime as dt

    from integration.store.alerts import check_interval, next_check

    assert check_interval(60) == dt.timedelta(minutes=5)  # a critical alert: every 5 minutes
    assert check_interval(4320) == dt.timedelta(hours=1)  # one of 3 days: hourly, not 4,320 reads
    assert check_interval(5) == dt.timedelta(minutes=1)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    due = t0 + dt.timedelta(minutes=60)
    assert next_check(t0, due, 60) == t0 + dt.timedelta(minutes=5)
    # Never past the limit: the escalation is not delayed by the interval.
    assert next_check(due - dt.timedelta(minutes=2), due, 60) == due
    assert next_check(due + dt.timedelta(minutes=1), due, 60) == due + dt.timedelta(minutes=6)
