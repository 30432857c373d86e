"""What a chart holds as a report goes through its versions (issue: chart safety), against the real
FHIR server with the whole pipe: intake -> store -> worker (tiny CTranslate2 model) -> write-back.

The invariant (docs/writeback.md, "What a chart holds"): the live AI results of a report are those
of its current version -- none when that version is withdrawn, failed, or not what the EHR holds --
and every one names the current version's patient.
"""

from __future__ import annotations

import copy
import uuid

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from integration.samples import sample_diagnostic_reports
from integration.store import State
from tests.integration.test_end_to_end import _push, pipeline  # noqa: F401 -- the fixture

# A sample whose text states TNM categories: even the tiny random model's job writes results.
STAGING = next(r for r in sample_diagnostic_reports() if r["id"] == "sample-ct-staging")
# Past the engine's input limit (4,096 tokens: about 7,000 here), under the intake's size bound
# (8 characters a token: 32,768): accepted, then inference fails.
TOO_LONG = " ".join(["The lungs are clear."] * 1400)


def _report(subject: str = "Patient/pat-a") -> dict:
    report = copy.deepcopy(STAGING)
    report["id"] = f"lifecycle-{uuid.uuid4().hex[:10]}"
    report["subject"] = {"reference": subject}
    report.pop("meta", None)
    return report


def _ehr_put(server, report: dict) -> dict:
    """The EHR stores a version (it assigns meta.versionId) and pushes it to the adapter."""
    server.put({"resourceType": "Patient", "id": report["subject"]["reference"].split("/")[-1]})
    held = server.put({k: v for k, v in report.items() if k != "meta"})
    return held


def _push_version(pipe, report: dict, **changes) -> dict:
    """Store the next version on the EHR and push it; a ``conclusion`` change replaces the text."""
    version = copy.deepcopy(report)
    if "conclusion" in changes:
        version.pop("presentedForm", None)
    version.update(changes)
    held = _ehr_put(pipe.server, version)
    status, _ = _push(pipe.http, held)
    assert status == 202, status
    return held


def _live(pipe, report_id: str) -> list[dict]:
    """The AI Observations of this report on the server that are not withdrawn."""
    ids = set()
    for job in pipe.store.jobs(limit=1000):
        if job.report_key == f"DiagnosticReport/{report_id}" and job.written:
            ids |= {r["id"] for r in job.written["resources"] if r["type"] == "Observation" and r["role"] != "amended"}
    found = [pipe.server.read("Observation", i) for i in sorted(ids)]
    return [o for o in found if o["status"] != "entered-in-error"]


def _version_of(obs: dict) -> str:
    ext = next(e for e in obs["extension"] if e["url"].endswith("derivation-reference"))
    ref = next(x["valueReference"]["reference"] for x in ext["extension"] if x["url"] == "reference")
    return ref.rsplit("/_history/", 1)[1]


def _run(pipe) -> None:
    pipe.drain()
    pipe.write_all()


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled"])
def test_withdrawn_report_withdraws_every_result_and_writes_none(pipeline, status) -> None:
    report = _report()
    _push_version(pipeline, report)
    _run(pipeline)
    first = _live(pipeline, report["id"])
    assert first, "the staging sample states its categories: results are written"

    _push_version(pipeline, report, status=status)
    _run(pipeline)
    assert _live(pipeline, report["id"]) == []
    withdrawal = [j for j in pipeline.store.jobs() if j.report_key.endswith(report["id"]) and j.report_version == "2"][0]
    assert withdrawal.state == State.WRITTEN.value
    assert withdrawal.written["counts"]["created"] <= 2  # the Provenance (and the adapter's Device): no result
    # Its Observations, and its critical-result alert and follow-up proposals with them.
    v1 = [j for j in pipeline.store.jobs() if j.report_key.endswith(report["id"]) and j.report_version == "1"][0]
    others = [r for r in v1.written["resources"] if r["type"] in ("Communication", "Flag", "ServiceRequest")]
    assert any(r["type"] == "Communication" for r in others)  # the staging sample states M1c
    assert withdrawal.written["counts"]["amended"] == len(first) + len(others)
    for obs in first:
        held = pipeline.server.read("Observation", obs["id"])
        assert held["status"] == "entered-in-error"
        assert "withdrawn" in held["note"][-1]["text"]
    for other in others:
        assert pipeline.server.read(other["type"], other["id"])["status"] == "entered-in-error"


def test_failed_version_leaves_no_older_results_standing(pipeline) -> None:
    report = _report()
    _push_version(pipeline, report)
    _run(pipeline)
    assert _live(pipeline, report["id"])

    _push_version(pipeline, report, conclusion=TOO_LONG)
    _run(pipeline)
    failed = [j for j in pipeline.store.jobs() if j.report_key.endswith(report["id"]) and j.report_version == "2"][0]
    assert failed.state == State.FAILED.value and "tokens" in failed.error
    assert failed.written["counts"]["amended"] > 0
    assert _live(pipeline, report["id"]) == []  # v1's results no longer describe the report

    _push_version(pipeline, report)  # v3: readable again
    _run(pipeline)
    live = _live(pipeline, report["id"])
    assert live and {_version_of(o) for o in live} == {"3"}


def test_a_version_the_ehr_does_not_hold_is_never_written(pipeline) -> None:
    report = _report("Patient/pat-1005")
    _push_version(pipeline, report)
    _run(pipeline)
    before = _live(pipeline, report["id"])
    assert before

    # A push claiming version 2 moved to another patient; the EHR holds version 1 only.
    forged = copy.deepcopy(pipeline.server.read("DiagnosticReport", report["id"]))
    forged["meta"] = {"versionId": "2"}
    forged["subject"] = {"reference": "Patient/pat-1008"}
    assert _push(pipeline.http, forged)[0] == 202
    _run(pipeline)
    job = [j for j in pipeline.store.jobs() if j.report_key.endswith(report["id"]) and j.report_version == "2"][0]
    assert job.state == State.FAILED.value
    assert job.error.startswith("report check failed: the EHR does not hold this report version")
    assert [o["id"] for o in _live(pipeline, report["id"])] == [o["id"] for o in before]


def test_a_pushed_subject_the_ehr_does_not_hold_is_never_written(pipeline) -> None:
    report = _report("Patient/pat-1005")
    held = _ehr_put(pipeline.server, report)
    wrong = copy.deepcopy(held)
    wrong["subject"] = {"reference": "Patient/pat-1008"}
    assert _push(pipeline.http, wrong)[0] == 202
    _run(pipeline)
    [job] = [j for j in pipeline.store.jobs() if j.report_key.endswith(report["id"])]
    assert job.state == State.FAILED.value and "another subject" in job.error
    assert _live(pipeline, report["id"]) == []


# -- the invariant, over sequences of versions, failures and write-back rounds ----------------------

EVENTS = st.lists(
    st.sampled_from(["final-a", "final-b", "amended-a", "withdraw", "fail", "write", "infer"]),
    min_size=1, max_size=6,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=EVENTS)
def test_chart_always_holds_only_the_current_version(pipeline, events) -> None:
    report = _report()
    current: dict | None = None
    subject = report["subject"]
    for event in events:
        if event == "write":
            pipeline.write_all()
        elif event == "infer":
            pipeline.drain()
        else:
            if event in ("final-a", "final-b", "amended-a"):
                subject = {"reference": "Patient/pat-b" if event == "final-b" else "Patient/pat-a"}
            changes: dict = {"subject": subject, "status": {"withdraw": "entered-in-error",
                                                             "amended-a": "amended"}.get(event, "final")}
            if event == "fail":
                changes["conclusion"] = TOO_LONG
            current = _push_version(pipeline, report, **changes)
    _run(pipeline)
    live = _live(pipeline, report["id"])
    if current is None:
        assert live == []
        return
    version = current["meta"]["versionId"]
    job = pipeline.store.find(f"DiagnosticReport/{report['id']}", version)
    if current["status"] in ("entered-in-error", "cancelled") or job.state != State.WRITTEN.value:
        assert live == [], (events, job.state)
    else:
        assert live, events
        assert {_version_of(o) for o in live} == {version}, events
    assert all(o["subject"] == current["subject"] for o in live)


# -- the prior and the subject ----------------------------------------------------------------------

MAMMO = next(r for r in sample_diagnostic_reports() if r["id"] == "sample-mammo")
CXR = next(r for r in sample_diagnostic_reports() if r["id"] == "sample-cxr-normal")


def _fresh(sample: dict, subject: str) -> dict:
    r = copy.deepcopy(sample)
    r["id"] = f"{sample['id']}-{uuid.uuid4().hex[:8]}"
    r["subject"] = {"reference": subject}
    r.pop("meta", None)
    return r


def _temporal_pipeline(pipe):
    pipe.worker.settings.routing.default_tasks = ["temporal_comparison", "m_staging"]
    return pipe


@pytest.mark.parametrize("change", [
    {"subject": {"reference": "Patient/pat-1008"}},  # moved to another patient
    {"status": "entered-in-error"},                  # withdrawn
])
def test_a_moved_or_withdrawn_report_is_never_the_prior(pipeline, change) -> None:
    pipe = _temporal_pipeline(pipeline)
    patient = f"Patient/p-{uuid.uuid4().hex[:8]}"
    mammo = _fresh(MAMMO, patient)
    _push_version(pipe, mammo)
    _run(pipe)
    _push_version(pipe, mammo, **change)
    _run(pipe)
    film = _fresh(CXR, patient)
    _push_version(pipe, film)
    _run(pipe)
    [job] = [j for j in pipe.store.jobs() if j.report_key.endswith(film["id"])]
    temporal = job.results["temporal_comparison"]
    assert temporal.get("skipped") and "no earlier report" in temporal["error"]
    assert not [r for r in job.written["resources"] if r.get("task") == "temporal_comparison"]


def test_the_prior_is_the_same_patients_current_final_report(pipeline) -> None:
    pipe = _temporal_pipeline(pipeline)
    patient = f"Patient/p-{uuid.uuid4().hex[:8]}"
    earlier = _fresh(CXR, patient)
    _push_version(pipe, earlier)
    _run(pipe)
    film = _fresh(CXR, patient)
    _push_version(pipe, film)
    _run(pipe)
    [job] = [j for j in pipe.store.jobs() if j.report_key.endswith(film["id"])]
    assert not job.results["temporal_comparison"].get("skipped")
    assert pipe.store.prior_report(job).report_key.endswith(earlier["id"])


@pytest.mark.parametrize("reference", [
    "#p1", "Patient/../Patient/pat-1002", "http://evil.example/fhir/Patient/1", "Patient/pat-1002\u202e",
])
def test_a_subject_reference_that_is_not_a_patient_on_this_ehr_is_refused(pipeline, reference) -> None:
    report = _fresh(CXR, "Patient/pat-1002")
    report["subject"] = {"reference": reference}
    resp = pipeline.http.post("/fhir/DiagnosticReport", json=report, headers={"Content-Type": "application/fhir+json"})
    assert resp.status_code == 422
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert any("DiagnosticReport.subject" in e for i in outcome["issue"] for e in i.get("expression", []))
    assert pipeline.store.jobs() == [] or all(not j.report_key.endswith(report["id"]) for j in pipeline.store.jobs())
