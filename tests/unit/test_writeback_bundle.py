"""Bundle assembly from hand-made job results (no server)."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import types
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from integration.fhir.transaction import (
    AIAST,
    RESULT_SYSTEM,
    BuildError,
    earlier_observations,
    parse_location,
    plan_transaction,
    report_reference,
    summarize,
)
from integration.mappings import load_mappings
from integration.samples import sample_diagnostic_reports
from tests.fhir_server import MODEL, chexpert, full_results, result

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 3, 6, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def mappings():
    # Without the critical-result rules: these tests count the results' own resources (the alerts
    # the rules add are tested in test_critical_alerts.py).
    return dataclasses.replace(load_mappings(ROOT / "mappings"), critical=())


def make_job(results, *, report=None, version="1", supersedes=None):
    report = copy.deepcopy(report or sample_diagnostic_reports()[1])
    report.setdefault("meta", {})["versionId"] = version
    return types.SimpleNamespace(
        id="job1", resource=report, report_key=f"DiagnosticReport/{report.get('id')}",
        report_version=version, results=results, supersedes=supersedes, correlation_id="c1",
    )


def resources(bundle, rtype=None):
    return [e["resource"] for e in bundle["entry"] if rtype is None or e["resource"]["resourceType"] == rtype]


def test_full_bundle_validates_as_r4b(mappings) -> None:
    plan = plan_transaction(make_job(full_results()), mappings, now=NOW)
    Bundle.model_validate(plan.bundle)
    assert plan.bundle["type"] == "transaction"
    counts = plan.counts()
    assert counts == {"device": 1, "finding": 12, "summary": 1, "provenance": 1}
    assert plan.not_written == ["radiology_nli", "radiology_qa"]
    assert plan.parse_failures == {}


def test_every_task_alone_validates(mappings) -> None:
    for task, res in full_results().items():
        plan = plan_transaction(make_job({task: res}), mappings, now=NOW)
        if task in ("radiology_nli", "radiology_qa"):
            assert plan.empty, task
            continue
        Bundle.model_validate(plan.bundle)
        assert plan.counts()["provenance"] == 1, task


def test_observation_shape(mappings) -> None:
    job = make_job(full_results())
    bundle = plan_transaction(job, mappings, now=NOW).bundle
    report = job.resource
    for entry in bundle["entry"]:
        obs = entry["resource"]
        if obs["resourceType"] != "Observation":
            continue
        assert obs["status"] == "preliminary"
        assert obs["category"][0]["coding"][0] == {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "imaging",
            "display": "Imaging"}
        assert obs["subject"] == {"reference": report["subject"]["reference"]}  # no display (a name)
        assert obs["effectiveDateTime"] == report["effectiveDateTime"]
        # R4 derivedFrom may not name a DiagnosticReport; the sample names no ImagingStudy.
        assert "derivedFrom" not in obs
        assert obs["device"]["reference"].startswith("urn:uuid:")
        [ident] = obs["identifier"]
        assert ident["system"] == RESULT_SYSTEM and len(ident["value"]) == 64
        req = entry["request"]
        assert req["method"] == "POST" and req["url"] == "Observation"
        assert req["ifNoneExist"] == f"identifier=urn%3Aradlite%3Aresult%7C{ident['value']}"
        assert entry["fullUrl"].startswith("urn:uuid:")


def test_aiast_on_every_resource(mappings) -> None:
    bundle = plan_transaction(make_job(full_results()), mappings, now=NOW).bundle
    for res in resources(bundle):
        assert AIAST in res["meta"]["security"], res["resourceType"]


def test_identifiers_deterministic_and_versioned(mappings) -> None:
    a = plan_transaction(make_job(full_results()), mappings, now=NOW).bundle
    b = plan_transaction(make_job(full_results()), mappings, now=NOW + dt.timedelta(hours=1)).bundle
    ids = lambda bun: [r["identifier"][0]["value"] for r in resources(bun, "Observation")]  # noqa: E731 -- a one-line local helper
    assert ids(a) == ids(b)
    assert len(set(ids(a))) == len(ids(a))
    assert [e["fullUrl"] for e in a["entry"]] == [e["fullUrl"] for e in b["entry"]]
    # A new report version or a new model gives new identifiers.
    v2 = plan_transaction(make_job(full_results(), version="2"), mappings, now=NOW).bundle
    assert not set(ids(v2)) & set(ids(a))
    other = dict(MODEL, sha256="cd" * 32)
    m2 = plan_transaction(make_job(full_results(other)), mappings, now=NOW).bundle
    assert not set(ids(m2)) & set(ids(a))


def test_abnormality_positive_and_uncertain_never_negative(mappings) -> None:
    job = make_job({"abnormality_detection": result(chexpert(Pleural_Effusion="positive", Pneumonia="uncertain"))})
    obs = resources(plan_transaction(job, mappings, now=NOW).bundle, "Observation")
    by_code = {o["code"]["text"]: o for o in obs}
    assert set(by_code) == {"Pleural effusion", "Pneumonia"}
    eff = by_code["Pleural effusion"]
    assert eff["code"]["coding"][0] == {"system": "http://snomed.info/sct", "code": "60046008",
                                        "display": "Pleural effusion (disorder)"}
    assert eff["valueCodeableConcept"]["coding"][0]["code"] == "52101004"  # Present
    pna = by_code["Pneumonia"]
    assert pna["valueCodeableConcept"]["text"] == "Uncertain"
    assert pna["valueCodeableConcept"]["coding"][0]["code"] == "82334004"  # Indeterminate, not Present


def test_unmapped_is_text_only(mappings) -> None:
    job = make_job({
        "abnormality_detection": result(chexpert(Support_Devices="positive")),
        "rads_assignment": result({"system": "BI-RADS", "category": "4A"}),
        "n_staging": result("N9"),  # a label the mapping does not know
    })
    obs = resources(plan_transaction(job, mappings, now=NOW).bundle, "Observation")
    by_text = {o["code"]["text"]: o for o in obs}
    assert "coding" not in by_text["Support devices"]["code"]
    assert by_text["BI-RADS assessment category"]["valueCodeableConcept"] == {"text": "BI-RADS 4A"}
    staging = next(o for o in obs if o["code"].get("coding", [{}])[0].get("code") == "21906-3")
    assert staging["valueCodeableConcept"] == {"text": "N9"}


def test_no_applicable_rads_is_skipped(mappings) -> None:
    job = make_job({"rads_assignment": result({"system": None, "category": None})})
    assert plan_transaction(job, mappings, now=NOW).empty


def test_parse_failures_skipped_and_counted(mappings) -> None:
    job = make_job({
        "abnormality_detection": result(None, parsed=False),
        "m_staging": result(None, parsed=False),
        "n_staging": result("N2"),
    })
    plan = plan_transaction(job, mappings, now=NOW)
    assert plan.parse_failures == {"abnormality_detection": 1, "m_staging": 1}
    [obs] = resources(plan.bundle, "Observation")
    assert obs["valueCodeableConcept"]["coding"][0] == {"system": "http://cancerstaging.org", "code": "cN2"}


def test_all_failed_means_nothing_to_write(mappings) -> None:
    plan = plan_transaction(make_job({"abnormality_detection": result(None, parsed=False)}), mappings, now=NOW)
    assert plan.empty and plan.bundle["entry"] == []


def test_ner_body_site_only_when_it_fits(mappings) -> None:
    job = make_job({"radiology_ner": result([
        {"text": "right upper lobe", "label": "ANAT-DP"},
        {"text": "right upper lobe nodule", "label": "OBS-DP"},
        {"text": "left base", "label": "ANAT-DP"},
        {"text": "patchy opacity at the left base", "label": "OBS-U"},
        {"text": "effusion", "label": "OBS-DP"},
        {"text": "pneumothorax", "label": "OBS-DA"},
    ])})
    obs = {o["code"]["text"]: o for o in resources(plan_transaction(job, mappings, now=NOW).bundle, "Observation")}
    assert set(obs) == {"right upper lobe nodule", "patchy opacity at the left base", "effusion"}
    assert obs["right upper lobe nodule"]["bodySite"]["coding"][0]["code"] == "42400003"
    assert obs["patchy opacity at the left base"]["bodySite"] == {"text": "left base"}  # unmapped anatomy: text
    assert "bodySite" not in obs["effusion"]
    assert obs["patchy opacity at the left base"]["valueCodeableConcept"]["text"] == "Uncertain"
    for o in obs.values():
        assert "coding" not in o["code"]  # model free text never gets a code


def test_temporal_interpretation(mappings) -> None:
    job = make_job({"temporal_comparison": result([
        {"finding": "cardiomegaly", "change": "worsened"}, {"finding": "effusion", "change": "resolved"}])})
    obs = {o["code"]["text"]: o for o in resources(plan_transaction(job, mappings, now=NOW).bundle, "Observation")}
    assert obs["cardiomegaly"]["interpretation"][0]["coding"][0]["code"] == "W"
    assert obs["cardiomegaly"]["valueCodeableConcept"] == {
        "coding": [{"system": "http://snomed.info/sct", "code": "230993007", "display": "Worsening (qualifier value)"}],
        "text": "Worsened"}
    assert "interpretation" not in obs["effusion"]


def test_summary_is_value_string_marked_ai(mappings) -> None:
    plan = plan_transaction(make_job({"impression_generation": result("  Mild cardiomegaly.  ")}), mappings, now=NOW)
    [obs] = resources(plan.bundle, "Observation")
    assert obs["valueString"] == "Mild cardiomegaly."
    assert obs["code"]["coding"][0]["code"] == "19005-8"
    assert "AI" in obs["code"]["text"] and obs["note"][0]["text"]
    assert plan.entries[1].role == "summary"


def test_device_and_provenance(mappings) -> None:
    plan = plan_transaction(make_job(full_results()), mappings, now=NOW)
    bundle = plan.bundle
    [device_entry] = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Device"]
    dev = device_entry["resource"]
    assert dev["identifier"][0]["value"] == f"radlite-mini@0.1.0:{'ab' * 32}"
    assert device_entry["request"]["ifNoneExist"].startswith("identifier=urn%3Aradlite%3Adevice%7Cradlite-mini%400.1.0")
    [prov_entry] = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance"]
    prov = prov_entry["resource"]
    made = {e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"}
    assert {t["reference"] for t in prov["target"]} == made
    assert prov["agent"][0]["who"] == {"reference": device_entry["fullUrl"]}
    assert prov["entity"] == [{"role": "source", "what": {"reference": "DiagnosticReport/sample-cxr-chf/_history/1"}}]
    assert prov["recorded"] == "2026-03-06T12:00:00.000Z"
    tag = prov["meta"]["tag"][0]
    assert prov_entry["request"]["ifNoneExist"] == f"_tag=urn%3Aradlite%3Aprovenance%7C{tag['code']}"
    # every Observation points at the device
    for obs in resources(bundle, "Observation"):
        assert obs["device"] == {"reference": device_entry["fullUrl"]}


def test_two_models_two_devices(mappings) -> None:
    other = dict(MODEL, name="qwen-3b", sha256="ef" * 32)
    results = {"n_staging": result("N1"), "impression_generation": result("x", model=other)}
    bundle = plan_transaction(make_job(results), mappings, now=NOW).bundle
    assert len(resources(bundle, "Device")) == 2
    [prov] = resources(bundle, "Provenance")
    assert len(prov["agent"]) == 2


def test_report_without_id_uses_logical_reference(mappings) -> None:
    report = copy.deepcopy(sample_diagnostic_reports()[0])
    del report["id"]
    ref = report_reference(report)
    assert ref == {"type": "DiagnosticReport",
                   "identifier": {"system": "urn:example:radlite:accession", "value": "ACC-sample-cxr-normal"}}
    job = make_job({"n_staging": result("N0")}, report=report)
    bundle = plan_transaction(job, mappings, now=NOW).bundle
    Bundle.model_validate(bundle)
    assert resources(bundle, "Provenance")[0]["entity"] == [{"role": "source", "what": ref}]
    del report["identifier"]
    with pytest.raises(BuildError):
        report_reference(report)


def test_amendment_entries(mappings) -> None:
    earlier = [
        ({"resourceType": "Observation", "id": "old-1", "meta": {"versionId": "1", "security": [AIAST]},
          "status": "preliminary", "code": {"text": "Cardiomegaly"}}, 'W/"1"'),
        ({"resourceType": "Observation", "id": "old-2", "meta": {"versionId": "2"},
          "status": "entered-in-error", "code": {"text": "Edema"}}, 'W/"2"'),
    ]
    plan = plan_transaction(make_job({"n_staging": result("N1")}, version="2", supersedes="job0"), mappings,
                            amend=earlier, base_url="http://ehr.example/fhir", now=NOW)
    Bundle.model_validate(plan.bundle)
    [put] = [e for e in plan.bundle["entry"] if e["request"]["method"] == "PUT"]
    assert put["request"] == {"method": "PUT", "url": "Observation/old-1", "ifMatch": 'W/"1"'}
    assert put["fullUrl"] == "http://ehr.example/fhir/Observation/old-1"
    assert put["resource"]["status"] == "entered-in-error"
    assert "versionId" not in put["resource"]["meta"]
    assert plan.already_amended == ["Observation/old-2"]
    [prov] = resources(plan.bundle, "Provenance")
    refs = {t["reference"] for t in prov["target"]}
    assert {"Observation/old-1", "Observation/old-2"} <= refs
    assert plan.counts()["amended"] == 1


def test_amendment_drops_an_earlier_derived_from_the_report(mappings) -> None:
    """Observations written before derivedFrom was fixed name the DiagnosticReport there; their
    withdrawal must conform, or it would be refused and the old result stay current."""
    earlier = [({"resourceType": "Observation", "id": "old-1", "status": "preliminary", "code": {"text": "x"},
                 "derivedFrom": [{"reference": "DiagnosticReport/sample-cxr-chf/_history/1"}]}, None),
               ({"resourceType": "Observation", "id": "old-2", "status": "preliminary", "code": {"text": "y"},
                 "derivedFrom": [{"type": "DiagnosticReport", "identifier": {"value": "ACC-1"}},
                                 {"reference": "ImagingStudy/s1"}]}, None)]
    plan = plan_transaction(make_job({"n_staging": result("N1")}, version="2"), mappings, amend=earlier, now=NOW)
    puts = {e["resource"]["id"]: e["resource"] for e in plan.bundle["entry"] if e["request"]["method"] == "PUT"}
    assert "derivedFrom" not in puts["old-1"]
    assert puts["old-2"]["derivedFrom"] == [{"reference": "ImagingStudy/s1"}]


def test_a_bundle_a_validating_server_would_reject_is_never_planned(mappings) -> None:
    report = copy.deepcopy(sample_diagnostic_reports()[1])
    report["encounter"] = {"reference": "Patient/not-an-encounter"}
    with pytest.raises(BuildError, match="encounter: references Patient"):
        plan_transaction(make_job({"n_staging": result("N1")}, report=report), mappings, now=NOW)


def test_amendment_only_uses_adapter_device(mappings) -> None:
    earlier = [({"resourceType": "Observation", "id": "old-1", "status": "preliminary", "code": {"text": "x"}}, None)]
    plan = plan_transaction(make_job({"n_staging": result(None, parsed=False)}, version="2"), mappings,
                            amend=earlier, now=NOW)
    Bundle.model_validate(plan.bundle)
    [dev] = resources(plan.bundle, "Device")
    assert dev["deviceName"][0]["name"] == "radlite-fhir-adapter"
    [prov] = resources(plan.bundle, "Provenance")
    assert prov["activity"]["coding"][0]["code"] == "UPDATE"


def test_summarize_records_server_answer(mappings) -> None:
    plan = plan_transaction(make_job({"n_staging": result("N1")}), mappings, now=NOW)
    response = {"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"response": {"status": "201 Created", "location": "http://s/fhir/Device/d1/_history/1"}},
        {"response": {"status": "200 OK", "location": "Observation/o1/_history/3"}},
        {"response": {"status": "201 Created", "etag": 'W/"1"'}, "resource": {"resourceType": "Provenance", "id": "p1"}},
    ]}
    written = summarize(plan, response, server="http://s/fhir")
    assert [(r["role"], r["type"], r["id"], r["version"], r["status"]) for r in written["resources"]] == [
        ("device", "Device", "d1", "1", 201), ("finding", "Observation", "o1", "3", 200),
        ("provenance", "Provenance", "p1", "1", 201)]
    assert written["counts"] == {"created": 2, "existing": 1, "amended": 0}
    assert earlier_observations(written) == ["o1"]


def test_parse_location() -> None:
    assert parse_location("http://h/fhir/Observation/abc-1/_history/2") == ("Observation", "abc-1", "2")
    assert parse_location("Observation/abc") == ("Observation", "abc", None)
    assert parse_location(None) == (None, None, None)


def test_result_of_wrong_type_is_build_error(mappings) -> None:
    with pytest.raises(BuildError):
        plan_transaction(make_job({"abnormality_detection": result(["not", "a", "dict"])}), mappings, now=NOW)


def test_optional_audit_event(mappings) -> None:
    plan = plan_transaction(make_job({"n_staging": result("N1")}), mappings, now=NOW, audit_event=True)
    Bundle.model_validate(plan.bundle)
    [event] = resources(plan.bundle, "AuditEvent")
    assert event["action"] == "C" and event["agent"][0]["requestor"] is True
    assert AIAST in event["meta"]["security"]
    assert plan.counts()["audit-event"] == 1
    assert not resources(plan_transaction(make_job({"n_staging": result("N1")}), mappings, now=NOW).bundle,
                         "AuditEvent")


def test_evidence_becomes_derivation_reference_extensions(mappings) -> None:
    """Each evidence sentence of a result is a derivation-reference extension on its Observation:
    the report version, the element the text came from, offset and length (R4B-valid)."""
    from integration.fhir.report import report_text_and_path
    from integration.fhir.transaction import DERIVATION_REFERENCE

    job = make_job({"m_staging": {**result("M1c"), "evidence": {"category": [
        {"offset": 10, "length": 42, "section": "findings", "text": "x"},
        {"offset": 60, "length": 5, "section": "impression", "text": "y"}]}}})
    bundle = plan_transaction(job, mappings, now=NOW).bundle
    Bundle.model_validate(bundle)
    [obs] = resources(bundle, "Observation")
    assert [e["url"] for e in obs["extension"]] == [DERIVATION_REFERENCE, DERIVATION_REFERENCE]
    parts = {p["url"]: p for p in obs["extension"][0]["extension"]}
    assert parts["offset"]["valueInteger"] == 10 and parts["length"]["valueInteger"] == 42
    assert parts["reference"]["valueReference"] == report_reference(job.resource)
    assert parts["path"]["valueString"] == report_text_and_path(job.resource)[1]


def test_result_without_value_is_not_written(mappings) -> None:
    """An abstained result (value None, the model's answer kept aside) writes nothing."""
    job = make_job({"m_staging": {**result("M0"), "value": None, "model_value": "M0", "abstained": True}})
    plan = plan_transaction(job, mappings, now=NOW)
    assert plan.empty and plan.not_written == ["m_staging"]


def test_stated_value_is_written_even_when_the_model_answer_did_not_parse(mappings) -> None:
    unparsed = result(None, parsed=False)
    job = make_job({"m_staging": {**unparsed, "value": "M1c", "source": "stated", "abstained": False,
                                  "evidence": {"category": [{"offset": 0, "length": 5}]}}})
    plan = plan_transaction(job, mappings, now=NOW)
    assert plan.counts().get("finding") == 1 and plan.parse_failures == {}
