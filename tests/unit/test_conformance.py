"""Outbound conformance (integration/fhir/conformance.py), and every resource the demo writes.

The demo part builds, for each of the ten sample reports, the results its routing rule asks for
(config/default.yaml), as the model would answer and as :func:`decide` then keeps them (with
evidence, so the derivation-reference extensions are there too), plans the transaction and checks
it the way a validating R4 server would.
"""

from __future__ import annotations

import copy
import datetime as dt
import types
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from integration.fhir.conformance import allowed_targets, check_bundle, check_resource, reference_type
from integration.fhir.report import report_text
from integration.fhir.transaction import DERIVATION_REFERENCE, BuildError, plan_transaction, report_reference
from integration.inference.evidence.decide import decide
from integration.mappings import load_mappings
from integration.samples import diagnostic_report, sample_reports
from integration.tasks import TaskInput
from tests.fhir_server import chexpert, result

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 6, 2, 8, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def mappings():
    return load_mappings(ROOT / "mappings")


def _observation(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "preliminary", "code": {"text": "finding"},
            "subject": {"reference": "Patient/p1"}, **extra}


# -- conformance.py ---------------------------------------------------------------------------------


def test_a_conforming_observation_has_no_problem() -> None:
    assert check_resource(_observation(derivedFrom=[{"reference": "ImagingStudy/s1"}],
                                       device={"reference": "Device/d1"})) == []


def test_derived_from_a_diagnostic_report_is_caught() -> None:
    problems = check_resource(_observation(derivedFrom=[{"reference": "DiagnosticReport/r1/_history/2"}]))
    [problem] = problems
    assert problem.startswith("Observation.derivedFrom[0]: references DiagnosticReport;")
    assert "ImagingStudy" in problem and "r1" not in problem  # types, never ids
    # The same by `type` alone (a logical reference), and by an absolute URL.
    assert check_resource(_observation(derivedFrom=[{"type": "DiagnosticReport",
                                                     "identifier": {"value": "ACC-1"}}]))
    assert check_resource(_observation(derivedFrom=[{"reference": "https://ehr.example/fhir/DiagnosticReport/r1"}]))


def test_allowed_targets_come_from_the_library() -> None:
    assert allowed_targets("Observation", "derivedFrom") == {
        "DocumentReference", "ImagingStudy", "Media", "QuestionnaireResponse", "Observation", "MolecularSequence"}
    assert allowed_targets("Provenance", "target") is None  # Reference(Any)
    assert allowed_targets("Extension", "valueReference") is None


def test_a_wrong_type_subject_is_caught() -> None:
    # R4 Observation.subject: Patient | Group | Device | Location. (R4B, which fhir.resources
    # models, adds Medication, Substance, ...; a Specimen is wrong in both.)
    [problem] = check_resource(_observation(subject={"reference": "Specimen/s1"}))
    assert problem.startswith("Observation.subject: references Specimen;")
    # A reference whose type and target disagree, and a type that is no resource.
    assert check_resource(_observation(subject={"reference": "Patient/p1", "type": "Group"}))
    assert check_resource(_observation(subject={"reference": "Patinet/p1"}))
    assert check_resource(_observation(subject={"reference": "not-a-reference"}))


def test_nested_references_are_checked() -> None:
    """Backbone elements, contained resources and a `#id` that names nothing."""
    bad_agent = {"resourceType": "Provenance", "target": [{"reference": "Observation/o1"}],
                 "recorded": "2026-01-01T00:00:00Z",
                 "agent": [{"who": {"reference": "Observation/o2"}}]}
    [problem] = check_resource(bad_agent)
    assert problem.startswith("Provenance.agent[0].who: references Observation;")
    contained = _observation(contained=[{"resourceType": "Specimen", "id": "sp"}],
                             focus=[{"reference": "#sp"}], device={"reference": "#sp"})
    [problem] = check_resource(contained)
    assert problem.startswith("Observation.device: references Specimen;")
    assert check_resource(_observation(focus=[{"reference": "#missing"}])) == [
        "Observation.focus[0]: references a contained resource the resource does not contain"]


def test_an_extension_may_reference_a_diagnostic_report() -> None:
    """R4 Extension.value[x] allows any target: the derivation-reference extension names the report."""
    obs = _observation(extension=[{"url": DERIVATION_REFERENCE, "extension": [
        {"url": "reference", "valueReference": {"reference": "DiagnosticReport/r1/_history/1"}},
        {"url": "offset", "valueInteger": 3}]}])
    assert check_resource(obs) == []
    # ... but a reference inside an extension is still a reference: it must name a resource type.
    obs["extension"][0]["extension"][0]["valueReference"] = {"reference": "Reprot/r1"}
    assert check_resource(obs)


def test_parse_errors_are_problems() -> None:
    # fhir.resources checks a code's syntax, not its value set (R4B does not enforce required
    # bindings): a malformed code is caught, "bogus" would not be.
    problems = check_resource(_observation(status="pre liminary  "))
    assert problems and problems[0].startswith("Observation.status:")
    assert check_resource(_observation(status=None))
    assert check_resource(_observation(colour="red")) == ["Observation.colour: element not defined for this "
                                                         "resource in FHIR R4/R4B"]
    assert check_resource({"resourceType": "Nonsense"}) == [
        "Nonsense: not a FHIR resource (resourceType missing or unknown)"]


def _transaction(*entries: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": url, "resource": res, "request": {"method": "POST", "url": res["resourceType"]}}
        for url, res in entries]}


def test_urn_uuid_references_resolve_to_their_entry() -> None:
    device = {"resourceType": "Device", "status": "active"}
    other = _observation()
    ok = _transaction(("urn:uuid:dev", device), ("urn:uuid:obs", _observation(device={"reference": "urn:uuid:dev"})))
    assert check_bundle(ok) == []
    # Observation.device must be a Device (or DeviceMetric): here the urn names an Observation.
    wrong = _transaction(("urn:uuid:other", other),
                         ("urn:uuid:obs", _observation(device={"reference": "urn:uuid:other"})))
    assert check_bundle(wrong) == ["Bundle.entry[1].resource.device: references Observation; "
                                   "Observation.device may reference only Device | DeviceMetric"]
    dangling = _transaction(("urn:uuid:obs", _observation(device={"reference": "urn:uuid:gone"})))
    [problem] = check_bundle(dangling)
    assert "not the fullUrl of any entry" in problem


def test_bundle_level_problems() -> None:
    obs = _observation()
    twice = _transaction(("urn:uuid:a", obs), ("urn:uuid:a", copy.deepcopy(obs)))
    assert check_bundle(twice) == ["Bundle.entry[1].fullUrl: the same fullUrl as an earlier entry"]
    misrouted = _transaction(("urn:uuid:a", obs))
    misrouted["entry"][0]["request"]["url"] = "Condition"
    assert check_bundle(misrouted) == ["Bundle.entry[0].request.url: a POST to Condition with a Observation resource"]
    put = _transaction(("http://ehr/fhir/Observation/o1", dict(obs, id="o1")))
    put["entry"][0]["request"] = {"method": "PUT", "url": "Observation/o2"}
    assert check_bundle(put) == ["Bundle.entry[0].request.url: the id in the URL is not the resource's id"]
    no_method = _transaction(("urn:uuid:a", obs))
    del no_method["entry"][0]["request"]["method"]
    assert check_bundle(no_method)[0].startswith("Bundle.entry[0].request.method:")


def test_reference_type() -> None:
    assert reference_type({"reference": "DiagnosticReport/r1/_history/2"}) == "DiagnosticReport"
    assert reference_type({"reference": "https://h/fhir/ImagingStudy/s.1"}) == "ImagingStudy"
    assert reference_type({"reference": "Patient?identifier=x|1"}) == "Patient"
    assert reference_type({"type": "http://hl7.org/fhir/StructureDefinition/Patient"}) == "Patient"
    assert reference_type({"identifier": {"value": "1"}}) is None
    assert reference_type({"reference": "urn:uuid:0f"}) is None


def test_a_nonconforming_transaction_is_a_build_error(mappings) -> None:
    """plan_transaction checks the Bundle it built: a report whose subject Observation.subject
    cannot take is dead-lettered with a clear reason, not sent."""
    report = diagnostic_report(sample_reports()[8])
    report["subject"] = {"reference": "Specimen/sp-1"}
    job = _job(report, {"n_staging": result("N2")})
    with pytest.raises(BuildError, match=r"does not conform to FHIR R4: Bundle\.entry\[1\]\.resource\.subject: "
                                         r"references Specimen"):
        plan_transaction(job, mappings, now=NOW)


# -- every resource the demo writes -----------------------------------------------------------------

# What each sample's routing rule (config/default.yaml) runs, and what a good model answers.
DEMO_ANSWERS: dict[str, dict[str, Any]] = {
    "sample-cxr-normal": {
        "abnormality_detection": chexpert(No_Finding="positive"),
        "impression_generation": "No acute cardiopulmonary process.",
        "radiology_ner": [{"text": "heart", "label": "ANAT-DP"}, {"text": "pleural effusion", "label": "OBS-DA"},
                          {"text": "pneumothorax", "label": "OBS-DA"}, {"text": "Chest radiograph", "label": "OBS-DP"}],
    },
    "sample-cxr-chf": {
        "abnormality_detection": chexpert(Cardiomegaly="positive", Edema="positive", Pleural_Effusion="positive",
                                          Atelectasis="uncertain"),
        "impression_generation": "Cardiomegaly with interstitial pulmonary edema and new small bilateral "
                                 "pleural effusions.",
        "radiology_ner": [{"text": "cardiac silhouette", "label": "ANAT-DP"},
                          {"text": "interstitial edema", "label": "OBS-DP"},
                          {"text": "pleural effusions", "label": "OBS-DP"},
                          {"text": "left base", "label": "ANAT-DP"},
                          {"text": "opacity at the left base", "label": "OBS-DP"},
                          {"text": "Opacity at the left base", "label": "OBS-U"},
                          {"text": "atelectasis", "label": "OBS-U"},
                          {"text": "pneumothorax", "label": "OBS-DA"}],
    },
    "sample-cxr-ptx": {
        "abnormality_detection": chexpert(Pneumothorax="positive", Fracture="positive", Support_Devices="positive"),
        "impression_generation": "Decreased small right pneumothorax with chest tube in place. Right sixth rib "
                                 "fracture.",
        "radiology_ner": [{"text": "right apical pneumothorax", "label": "OBS-DP"},
                          {"text": "fracture of the right lateral sixth rib", "label": "OBS-DP"},
                          {"text": "chest tube", "label": "OBS-DP"}, {"text": "left lung", "label": "ANAT-DP"}],
    },
    "sample-ct-nodule": {
        "rads_assignment": {"system": "Lung-RADS", "category": "4A"},
        "impression_generation": "Growing 9 mm solid right upper lobe nodule. Lung-RADS 4A.",
        "radiology_ner": [{"text": "right upper lobe", "label": "ANAT-DP"},
                          {"text": "solid nodule in the right upper lobe", "label": "OBS-DP"},
                          {"text": "centrilobular emphysema", "label": "OBS-DP"},
                          {"text": "low-dose CT", "label": "OBS-DP"}, {"text": "lymphadenopathy", "label": "OBS-DA"}],
    },
    "sample-mammo": {
        "rads_assignment": {"system": "BI-RADS", "category": "4B"},
        "impression_generation": "Suspicious left breast mass. BI-RADS 4B.",
    },
    "sample-liver-mri": {
        "rads_assignment": {"system": "LI-RADS", "category": "LR-5"},
        "impression_generation": "24 mm segment 8 observation, LI-RADS 5.",
        "radiology_ner": [{"text": "liver", "label": "ANAT-DP"}, {"text": "splenomegaly", "label": "OBS-DP"},
                          {"text": "ascites", "label": "OBS-DP"}, {"text": "MRI liver", "label": "OBS-DP"}],
    },
    "sample-prostate-mri": {
        "rads_assignment": {"system": "PI-RADS", "category": "4"},
        "impression_generation": "Left peripheral zone lesion, PI-RADS 4.",
        "radiology_ner": [{"text": "prostate", "label": "ANAT-DP"}, {"text": "restricted diffusion", "label": "OBS-DP"},
                          {"text": "Targeted biopsy", "label": "OBS-DP"},
                          {"text": "extraprostatic extension", "label": "OBS-DA"}],
    },
    "sample-thyroid-us": {
        "rads_assignment": {"system": "TI-RADS", "category": "TR4"},
        "impression_generation": "Right thyroid nodule, ACR TI-RADS TR4.",
        "radiology_ner": [{"text": "thyroid", "label": "ANAT-DP"}, {"text": "Right lobe nodule", "label": "OBS-DP"},
                          {"text": "Thyroid ultrasound", "label": "OBS-DP"},
                          {"text": "Fine needle aspiration", "label": "OBS-U"}],
    },
    "sample-ct-staging": {
        "n_staging": "N2",
        "m_staging": "M1c",
        "impression_generation": "Left upper lobe primary with nodal disease (N2) and hepatic metastases (M1c).",
    },
    "sample-cxr-followup": {
        "abnormality_detection": chexpert(Cardiomegaly="positive", Pleural_Effusion="positive",
                                          Support_Devices="positive"),
        "impression_generation": "Resolved interstitial edema, improving trace effusions, stable cardiomegaly.",
        "radiology_ner": [{"text": "heart", "label": "ANAT-DP"}, {"text": "pleural effusions", "label": "OBS-DP"},
                          {"text": "PICC line", "label": "OBS-DP"}, {"text": "comparison", "label": "OBS-DP"}],
        "temporal_comparison": [{"finding": "interstitial edema", "change": "resolved"},
                                {"finding": "pleural effusions", "change": "improved"},
                                {"finding": "cardiomegaly", "change": "unchanged"}],
    },
}


def _record(task: str, value: Any) -> dict[str, Any]:
    """The worker's result record for a confident model answer."""
    record = result(value)
    record["mean_logprob"] = -0.02
    if task == "abnormality_detection":
        record["slot_probs"] = {label: {status: 0.95} for label, status in value.items()}
    return record


def _job(report: dict[str, Any], results: dict[str, Any], *, version: str = "1",
         supersedes: str | None = None) -> types.SimpleNamespace:
    report = copy.deepcopy(report)
    report.setdefault("meta", {})["versionId"] = version
    return types.SimpleNamespace(id=f"job-{report['id']}-{version}", resource=report,
                                 report_key=f"DiagnosticReport/{report['id']}", report_version=version,
                                 results=results, supersedes=supersedes, correlation_id="c1")


def _demo_job(sample: dict[str, Any], **kw: Any) -> types.SimpleNamespace:
    report = diagnostic_report(sample)
    text = report_text(report)
    prior = next((s["text"] for s in sample_reports() if s["id"] == sample.get("prior")), None)
    results = {task: decide(task, TaskInput(text, prior_report=prior), _record(task, value), 0.5)
               for task, value in DEMO_ANSWERS[sample["id"]].items()}
    return _job(report, results, **kw)


def _resources(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def _assert_conforms(bundle: dict[str, Any], report: dict[str, Any]) -> None:
    assert check_bundle(bundle) == []
    Bundle.model_validate(bundle)
    for obs in _resources(bundle, "Observation"):
        for ref in obs.get("derivedFrom") or []:
            assert reference_type(ref) != "DiagnosticReport"
            assert ref.get("type") != "DiagnosticReport"
    # The report version stays linked where R4 allows it.
    for prov in _resources(bundle, "Provenance"):
        assert prov["entity"] == [{"role": "source", "what": report_reference(report)}]


def test_demo_answers_cover_every_sample() -> None:
    assert sorted(DEMO_ANSWERS) == sorted(s["id"] for s in sample_reports())


@pytest.mark.parametrize("sample", sample_reports(), ids=lambda s: s["id"])
def test_every_resource_the_demo_writes_conforms(sample, mappings) -> None:
    job = _demo_job(sample)
    plan = plan_transaction(job, mappings, now=NOW, audit_event=True)
    counts = plan.counts()
    assert counts.get("finding", 0) + counts.get("summary", 0) >= 1, counts
    assert counts["provenance"] == 1 and counts["audit-event"] == 1
    _assert_conforms(plan.bundle, job.resource)
    report_ref = report_reference(job.resource)
    for obs in _resources(plan.bundle, "Observation"):
        assert "derivedFrom" not in obs  # the samples name no ImagingStudy
        for ext in obs.get("extension") or []:
            assert ext["url"] == DERIVATION_REFERENCE
            parts = {p["url"]: p for p in ext["extension"]}
            assert parts["reference"]["valueReference"] == report_ref
    # What decide dropped as no finding never reaches the chart.
    texts = {o["code"].get("text", "").lower() for o in _resources(plan.bundle, "Observation")}
    for bad in ("chest radiograph", "low-dose ct", "mri liver", "targeted biopsy", "thyroid ultrasound",
                "fine needle aspiration", "comparison"):
        assert bad not in texts


def test_demo_amendment_with_audit_event_conforms(mappings) -> None:
    """Version 2 of the follow-up report withdraws what version 1 wrote. The earlier Observations,
    as the server returns them, were written by an adapter that still put the DiagnosticReport in
    derivedFrom: the withdrawal must not send that back."""
    sample = next(s for s in sample_reports() if s["id"] == "sample-cxr-followup")
    first = plan_transaction(_demo_job(sample), mappings, now=NOW)
    earlier = []
    for i, obs in enumerate(_resources(first.bundle, "Observation")[:3]):
        stored = copy.deepcopy(obs)
        stored.update(id=f"old-{i}", meta={**stored["meta"], "versionId": "1", "lastUpdated": "2026-03-19T16:00:00Z"},
                      text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
                      derivedFrom=[{"reference": "DiagnosticReport/sample-cxr-followup/_history/1"},
                                   {"reference": "ImagingStudy/study-9"}])
        earlier.append((stored, 'W/"1"'))
    job = _demo_job(sample, version="2", supersedes="job-1")
    plan = plan_transaction(job, mappings, amend=earlier, base_url="https://ehr.example/fhir", now=NOW,
                            audit_event=True)
    assert plan.counts()["amended"] == 3
    _assert_conforms(plan.bundle, job.resource)
    for entry in plan.bundle["entry"]:
        if entry["request"]["method"] == "PUT":
            assert entry["resource"]["status"] == "entered-in-error"
            assert entry["resource"]["derivedFrom"] == [{"reference": "ImagingStudy/study-9"}]


def test_imaging_study_becomes_derived_from(mappings) -> None:
    """A report that names its ImagingStudy: every Observation is derivedFrom it (reference only)."""
    sample = next(s for s in sample_reports() if s["id"] == "sample-ct-nodule")
    report = diagnostic_report(sample)
    report["imagingStudy"] = [
        {"reference": "ImagingStudy/ct-nodule-1", "display": "CT chest of Imogen Placeholder"},
        {"identifier": {"system": "urn:dicom:uid", "value": "urn:oid:1.2.840.99.1"}},
        {"reference": "#contained-study"},  # contained in the report, not copied with it
    ]
    job = _job(report, {"rads_assignment": result({"system": "Lung-RADS", "category": "4A"})})
    plan = plan_transaction(job, mappings, now=NOW, audit_event=True)
    _assert_conforms(plan.bundle, job.resource)
    [obs] = _resources(plan.bundle, "Observation")
    assert obs["derivedFrom"] == [
        {"reference": "ImagingStudy/ct-nodule-1"},
        {"identifier": {"system": "urn:dicom:uid", "value": "urn:oid:1.2.840.99.1"}, "type": "ImagingStudy"}]
