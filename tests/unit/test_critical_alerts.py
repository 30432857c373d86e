"""Critical-result alerts in the write-back's transaction (issue 23): one Communication per met
rule, about the Observation written for the finding, to the resolved recipient, conditional on its
identifier so a replay writes none twice; none for what was not written."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

from integration.fhir.conformance import check_bundle
from integration.fhir.transaction import ALERT_SYSTEM, escalation_identifier, plan_escalation, plan_transaction
from integration.mappings import load_mappings
from integration.samples import sample_diagnostic_reports
from tests.fhir_server import chexpert, result

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = load_mappings(ROOT / "mappings")


def _job(results: dict, report: dict | None = None):
    report = report or copy.deepcopy(sample_diagnostic_reports()[0])
    return SimpleNamespace(resource=report, report_key=f"DiagnosticReport/{report['id']}", report_version="1",
                           results=results, supersedes=None, id="j1", correlation_id="c")


def _by_type(bundle: dict, rtype: str) -> list[dict]:
    return [e for e in bundle.get("entry", []) if e["resource"]["resourceType"] == rtype]


def test_a_pneumothorax_gets_one_stat_alert_about_its_observation() -> None:
    evidence = {"label:Pneumothorax": [{"offset": 0, "length": 30, "text": "Large right pneumothorax."}]}
    results = {"abnormality_detection": {**result(chexpert(Pneumothorax="positive")), "evidence": evidence}}
    plan = plan_transaction(_job(results), MAPPINGS,
                            recipients={"ordering_provider": {"reference": "Practitioner/dr-1"}})
    [alert] = _by_type(plan.bundle, "Communication")
    comm = alert["resource"]
    assert alert["request"]["ifNoneExist"].startswith("identifier=urn%3Aradlite%3Acritical-result%7C")
    assert comm["identifier"][0]["system"] == ALERT_SYSTEM
    assert comm["priority"] == "stat" and comm["category"][0]["coding"][0]["code"] == "alert"
    assert comm["recipient"] == [{"reference": "Practitioner/dr-1"}]
    [obs_url] = [e["fullUrl"] for e in _by_type(plan.bundle, "Observation")
                 if e["resource"]["code"].get("text", "").lower().startswith("pneumothorax")
                 or any(c.get("display", "").lower().startswith("pneumothorax") for c in e["resource"]["code"].get("coding", []))]
    assert comm["about"][0] == {"reference": obs_url}
    assert "Large right pneumothorax." in comm["payload"][0]["contentString"]
    assert comm["meta"]["security"][0]["code"] == "AIAST"
    [prov] = _by_type(plan.bundle, "Provenance")
    assert {"reference": alert["fullUrl"]} in prov["resource"]["target"]
    assert check_bundle(plan.bundle) == []
    # The same job planned again names the same alert: the server's conditional create keeps one.
    again = plan_transaction(_job(results), MAPPINGS, recipients={"ordering_provider": {"reference": "Practitioner/dr-1"}})
    assert _by_type(again.bundle, "Communication")[0]["request"] == alert["request"]


def test_no_alert_for_what_is_not_written_or_meets_no_rule() -> None:
    quiet = {"abnormality_detection": result(chexpert(Pneumothorax="uncertain", Edema="positive"))}
    assert _by_type(plan_transaction(_job(quiet), MAPPINGS).bundle, "Communication") == []
    abstained = {"m_staging": {**result(None), "abstained": True, "model_value": "M1c"}}
    assert _by_type(plan_transaction(_job(abstained), MAPPINGS).bundle, "Communication") == []


def test_an_unusable_recipient_is_left_out_not_sent() -> None:
    results = {"m_staging": result("M1c")}
    for ref in ("http://elsewhere.example/Practitioner/1", "Patient/p1", "Practitioner/a b"):
        plan = plan_transaction(_job(results), MAPPINGS, recipients={"ordering_provider": {"reference": ref}})
        [alert] = _by_type(plan.bundle, "Communication")
        assert "recipient" not in alert["resource"]
        assert check_bundle(plan.bundle) == []


def test_the_demo_prints_each_alert_and_counts_them() -> None:
    from integration.ops.demo import DemoResult, describe

    job = {"report": {"reference": "DiagnosticReport/sample-cxr-ptx"}, "version": "1", "state": "written",
           "results": {}, "critical": [{"rule": "pneumothorax", "category": "critical", "task": "abnormality_detection",
                                        "item": "Pneumothorax", "recipient": "ordering_provider",
                                        "within_minutes": 60, "evidence": []}],
           "written": {"resources": [{"type": "Communication", "id": "c1", "task": "abnormality_detection"}]}}
    text = describe(DemoResult(server="http://fhir", jobs=[job], seconds=1.0))
    assert "ALERT critical: Pneumothorax (rule pneumothorax; act within 60 min; to the ordering provider)" in text
    assert "http://fhir/Communication/c1  (critical-result alert, abnormality_detection)" in text
    assert text.endswith("1/1 reports written back in 1 s (1 critical-result alert(s), 0 follow-up proposal(s))")


def test_an_escalation_names_its_step_once_and_conforms() -> None:
    original = {"resourceType": "Communication", "id": "81", "status": "completed", "priority": "stat",
                "subject": {"reference": "Patient/p1"},
                "about": [{"reference": "Observation/12"}, {"reference": "DiagnosticReport/r1/_history/1"}],
                "sender": {"reference": "Device/7"}, "recipient": [{"reference": "Practitioner/dr-1"}],
                "payload": [{"contentString": "Escalation 1: not acknowledged within 60 minutes. "
                                              "Critical result (AI-detected, preliminary): Pneumothorax."}]}
    bundle = plan_escalation(original, escalation_identifier("chain", 2), {"reference": "CareTeam/on-call"},
                             step=2, minutes=60)
    assert check_bundle(bundle) == []
    [comm] = [e["resource"] for e in _by_type(bundle, "Communication")]
    assert comm["payload"][0]["contentString"] == ("Escalation 2: not acknowledged within 60 minutes. "
                                                   "Critical result (AI-detected, preliminary): Pneumothorax.")
    assert comm["recipient"] == [{"reference": "CareTeam/on-call"}] and comm["priority"] == "stat"
    assert comm["about"] == original["about"] and comm["subject"] == original["subject"]
    [prov] = [e["resource"] for e in _by_type(bundle, "Provenance")]
    assert prov["target"] == [{"reference": next(e["fullUrl"] for e in _by_type(bundle, "Communication"))}]
    # Deterministic: a replay after a crash asks for the same identifier.
    assert escalation_identifier("chain", 2) == escalation_identifier("chain", 2) != escalation_identifier("chain", 1)


def test_a_rule_can_ask_for_a_flag_and_escalation_recipients_are_checked() -> None:
    import dataclasses

    import pytest
    from pydantic import ValidationError

    from integration.mappings.critical import Rule

    rule = next(r for r in MAPPINGS.critical if r.id == "pneumothorax")
    flagged = dataclasses.replace(MAPPINGS, critical=(rule.model_copy(update={"flag": True}),))
    evidence = {"label:Pneumothorax": [{"offset": 0, "length": 30, "text": "Large right pneumothorax."}]}
    results = {"abnormality_detection": {**result(chexpert(Pneumothorax="positive")), "evidence": evidence}}
    plan = plan_transaction(_job(results), flagged)
    [flag] = [e["resource"] for e in _by_type(plan.bundle, "Flag")]
    assert flag["status"] == "active" and "Pneumothorax" in flag["code"]["text"]
    assert plan.counts()["flag"] == 1 and check_bundle(plan.bundle) == []
    with pytest.raises(ValidationError, match="escalate_to"):
        Rule.model_validate({**rule.model_dump(), "escalate_to": ["the-boss"]})
    assert Rule.model_validate({**rule.model_dump(), "escalate_to": ["team:chest", "results_interpreter"]}).chain == (
        "ordering_provider", "team:chest", "results_interpreter")
