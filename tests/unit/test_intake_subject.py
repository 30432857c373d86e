"""DiagnosticReport.subject at intake (issue 19, chart safety): only references that name one
Patient on the EHR's server get in, for single pushes, PUTs, bundle entries, $preview, pull and
``radlite preview``. The write-back copies subject.reference into every Observation it writes, so
whatever passes here ends up in a chart."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from integration.fhir.report import check_report
from integration.inference.dry_run import PreviewAnswer
from integration.intake.http import preview as preview_api
from integration.intake.http.app import create_app
from integration.intake.pull import poll_once
from integration.ops.cli import cli
from integration.settings import PullSettings, Settings
from tests.unit.test_intake import FHIR, assert_outcome, bundle, make_settings, n_jobs, post, samples, store  # noqa: F401 -- store: a pytest fixture, taken by name as a test parameter

EHR = "https://ehr.example.org/fhir"
WHERE = "DiagnosticReport.subject.reference"

# Every one was accepted (and would have been written into Observation.subject) before.
REFUSED = {
    "contained, no such resource": "#p1",
    "path step": "Patient/../Patient/pat-1002",
    "dot-only id": "Patient/..",
    "other server": "http://evil.example/fhir/Patient/1",
    "right-to-left override at the end": "Patient/pat-1002\u202e",
    "right-to-left override inside": "Patient/pat\u202e-1002",
    "zero-width space": "Patient/\u200bpat-1002",
    "byte order mark": "\ufeffPatient/pat-1002",
    "no-break space": "Patient/pat-1002\u00a0",
    "leading space": " Patient/pat-1002",
    "Group": "Group/g1",
    "Device": "Device/d1",
    "Location": "Location/l1",
    "Group on the EHR": f"{EHR}/Group/g1",
    "urn:uuid": "urn:uuid:2b1f3c9e-6a34-4a8e-9a68-3c1c1b0e2f10",
    "urn:oid": "urn:oid:1.2.3.4",
    "query string": "Patient/pat-1002?_format=json",
    "fragment": "Patient/pat-1002#x",
    "lower-case type": "patient/pat-1002",
    "trailing slash": "Patient/pat-1002/",
    "leading slash": "/Patient/pat-1002",
    "id too long": "Patient/" + "a" * 65,
    "empty version": "Patient/pat-1002/_history/",
    "dot-only version": "Patient/pat-1002/_history/..",
    "type only": "Patient",
    "EHR base with a path step": "https://ehr.example.org/fhir/../fhir/Patient/pat-1002",
    "EHR base with a doubled slash": "https://ehr.example.org/fhir//Patient/pat-1002",
    "EHR base, other path case": "https://ehr.example.org/FHIR/Patient/pat-1002",
    "EHR base with user info": "https://nurse@ehr.example.org/fhir/Patient/pat-1002",
    "EHR base with a query": "https://ehr.example.org/fhir/Patient/pat-1002?x=1",
    "EHR base with a backslash": "https://ehr.example.org\\@evil.example/fhir/Patient/pat-1002",
    "EHR base, other scheme": "http://ehr.example.org/fhir/Patient/pat-1002",
    "EHR base, other port": "https://ehr.example.org:8443/fhir/Patient/pat-1002",
    "EHR base as a prefix of another host": "https://ehr.example.org.evil.example/fhir/Patient/pat-1002",
    "other server, EHR base in the query": f"https://evil.example/?u={EHR}/Patient/pat-1002",
}

ACCEPTED = {
    "relative": "Patient/pat-1002",
    "relative, versioned": "Patient/pat-1002/_history/3",
    "on the EHR base": f"{EHR}/Patient/pat-1002",
    "on the EHR base, versioned": f"{EHR}/Patient/pat-1002/_history/2",
    "scheme and host in another case": "HTTPS://EHR.Example.ORG/fhir/Patient/pat-1002",
    "the default port spelled out": "https://ehr.example.org:443/fhir/Patient/pat-1002",
}


def ehr_settings(tmp_path, base: str = EHR) -> Settings:
    settings = make_settings(tmp_path)
    settings.ehr.base_url = base
    return settings


@pytest.fixture
def client(tmp_path, store):
    return create_app(ehr_settings(tmp_path), store).test_client()


def report_with(ref: str | None, **subject) -> dict:
    report = samples()[1]
    report["subject"] = {**({"reference": ref} if ref is not None else {}), **subject}
    return report


def stored_resources(store) -> list[dict]:
    return [job.resource for job in store.jobs()]


# -- single pushes and PUTs ----------------------------------------------------------------------


@pytest.mark.parametrize("ref", REFUSED.values(), ids=REFUSED.keys())
def test_refused_subjects_are_422_and_nothing_is_queued(client, store, ref):
    body = assert_outcome(post(client, "/fhir/DiagnosticReport", report_with(ref)), 422, "value", WHERE)
    # The diagnostics never echo the reference (it may hold a patient identifier).
    if "/" in ref:  # ("Patient" alone is a word of the messages)
        assert all(ref.strip() not in i.get("diagnostics", "") for i in body["issue"])
    report = report_with(ref)
    put = client.put(f"/fhir/DiagnosticReport/{report['id']}", data=json.dumps(report), headers=FHIR)
    assert_outcome(put, 422, "value", WHERE)
    assert n_jobs(store) == 0


def test_a_contained_patient_does_not_make_a_local_reference_acceptable(client, store):
    report = report_with("#p1")
    report["contained"] = [{"resourceType": "Patient", "id": "p1"}]
    assert_outcome(post(client, "/fhir/DiagnosticReport", report), 422, "value", WHERE)
    assert n_jobs(store) == 0


@pytest.mark.parametrize("ref", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_accepted_subjects_are_stored_exactly_as_sent(client, store, ref):
    report = report_with(ref, display="Rosalind Samplecase")
    r = post(client, "/fhir/DiagnosticReport", report)
    assert r.status_code == 202, r.json
    assert stored_resources(store) == [report]  # nothing normalised


@pytest.mark.parametrize("configured", [EHR, EHR + "/", "https://EHR.example.org:443/fhir/"])
def test_the_configured_base_matches_with_or_without_a_trailing_slash(tmp_path, store, configured):
    client = create_app(ehr_settings(tmp_path, configured), store).test_client()
    assert post(client, "/fhir/DiagnosticReport", report_with(f"{EHR}/Patient/pat-1002")).status_code == 202
    assert_outcome(post(client, "/fhir/DiagnosticReport", report_with(f"{EHR}//Patient/pat-1003")), 422, "value", WHERE)


def test_a_subject_without_a_reference_is_required(client, store):
    for subject in ({"display": "Rosalind Samplecase"},
                    {"identifier": {"system": "urn:mrn", "value": "MRN-TEST-1002"}}):
        report = samples()[1]
        report["subject"] = subject
        assert_outcome(post(client, "/fhir/DiagnosticReport", report), 422, "required", WHERE)
    report = samples()[1]
    del report["subject"]
    assert_outcome(post(client, "/fhir/DiagnosticReport", report), 422, "required", "DiagnosticReport.subject")
    assert n_jobs(store) == 0


def test_subject_type_must_be_patient(client, store):
    assert_outcome(post(client, "/fhir/DiagnosticReport", report_with("Patient/pat-1002", type="Group")),
                   422, "value", "DiagnosticReport.subject.type")
    assert post(client, "/fhir/DiagnosticReport", report_with("Patient/pat-1002", type="Patient")).status_code == 202


def test_without_a_configured_base_only_relative_references_pass():
    ok = report_with("Patient/pat-1002")
    absolute = report_with(f"{EHR}/Patient/pat-1002")
    assert check_report(ok) == []
    assert [i.expression for i in check_report(absolute)] == [(WHERE,)]
    assert check_report(absolute, ehr_base_url=EHR) == []
    assert check_report(absolute, ehr_base_url="not a url")[0].code == "value"


# -- bundles -------------------------------------------------------------------------------------


def test_batch_entry_with_a_bad_subject_is_its_own_422(client, store):
    good = samples()[:2]
    b = bundle("batch", [good[0], report_with("http://evil.example/fhir/Patient/1"), good[1]])
    for e in b["entry"]:
        e["request"] = {"method": "POST", "url": "DiagnosticReport"}
    r = post(client, "/fhir", b)
    assert r.status_code == 202
    Bundle.model_validate(r.json)
    assert [e["response"]["status"] for e in r.json["entry"]] == [
        "202 Accepted", "422 Unprocessable Entity", "202 Accepted"]
    outcome = r.json["entry"][1]["response"]["outcome"]
    OperationOutcome.model_validate(outcome)
    assert [(i["code"], i["expression"]) for i in outcome["issue"]] == [("value", [WHERE])]
    assert n_jobs(store) == 2


def test_transaction_with_a_bad_subject_queues_nothing(client, store):
    b = bundle("transaction", [samples()[0], report_with("Patient/pat-1002\u202e"), samples()[2]])
    for e in b["entry"]:
        e["request"] = {"method": "PUT", "url": f"DiagnosticReport/{e['resource']['id']}"}
    assert_outcome(post(client, "/fhir", b), 422, "value", "Bundle.entry[1].resource.subject.reference")
    assert n_jobs(store) == 0
    b["entry"][1]["resource"]["subject"]["reference"] = f"{EHR}/Patient/pat-1002"  # on the EHR: fine
    assert post(client, "/fhir", b).status_code == 202
    assert n_jobs(store) == 3


# -- $preview, pull, radlite preview -------------------------------------------------------------


class FakePreviewer:
    """Stands in for the model pipeline: records what reached it."""

    def __init__(self) -> None:
        self.seen: list[dict] = []

    def answer(self, resource, store):
        self.seen.append(resource)
        summary = {"rule": "default", "tasks": [], "entries": {}}
        return PreviewAnswer(result={"bundle": {"resourceType": "Bundle", "type": "transaction"}, "summary": summary})


def test_preview_applies_the_same_subject_rules(tmp_path, store):
    app = create_app(ehr_settings(tmp_path), store)
    fake = FakePreviewer()
    preview_api.init_app(app, fake)
    client = app.test_client()
    url = "/fhir/DiagnosticReport/$preview"
    for ref in ("#p1", "http://evil.example/fhir/Patient/1", "Group/g1", "Patient/pat-1002\u202e"):
        assert_outcome(post(client, url, report_with(ref)), 422, "value", WHERE)
    assert fake.seen == []
    for ref in ("Patient/pat-1002", f"{EHR}/Patient/pat-1002/_history/2"):
        r = post(client, url, report_with(ref))
        assert r.status_code == 200, r.json
    assert [seen["subject"]["reference"] for seen in fake.seen] == [
        "Patient/pat-1002", f"{EHR}/Patient/pat-1002/_history/2"]
    assert n_jobs(store) == 0


class FakeEhr:
    """A FhirClient's ``base_url`` and ``request`` over one searchset page."""

    def __init__(self, base_url: str, reports: list[dict]) -> None:
        self.base_url = base_url
        self.page = {"resourceType": "Bundle", "type": "searchset",
                     "entry": [{"resource": r, "search": {"mode": "match"}} for r in reports]}

    def request(self, method, path, *, what, params=None, **_):
        return SimpleNamespace(json=lambda: self.page)


def test_pull_accepts_the_ehrs_own_absolute_patient_urls_only(store):
    own, foreign = report_with(f"{EHR}/Patient/pat-1002"), samples()[2]
    foreign["subject"]["reference"] = "http://evil.example/fhir/Patient/1"
    counts = poll_once(store, FakeEhr(EHR, [own, foreign]), PullSettings(enabled=True))
    assert (counts.queued, counts.rejected) == (1, 1)
    assert stored_resources(store) == [own]


def test_cli_preview_refuses_a_bad_subject(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({"ehr": {"base_url": EHR}, "audit": {"file": None},
                                    "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"}}))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(report_with("http://evil.example/fhir/Patient/1")))
    res = CliRunner().invoke(cli, ["--config", str(site), "preview", str(bad)], obj={})
    assert res.exit_code != 0
    assert f"({WHERE})" in res.output and "the intake would answer 422" in res.output
