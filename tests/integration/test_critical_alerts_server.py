"""Critical-result alerts written to a real FHIR server (sekmet-fhir) with the results: a
pneumothorax report gets one Communication to the ordering provider (from the ServiceRequest the
report is basedOn), about its Observation; a replay after a crash writes no second one; a normal
report gets none; the early wake writes an alert before older routine jobs; an alert not
acknowledged in time escalates (once, even when the check is repeated as after a crash), a received
or replied one closes, and an amended report withdraws its alerts and Flag (issue 23)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

from integration.fhir.transaction import ALERT_SYSTEM, escalation_identifier, plan_escalation, plan_transaction
from integration.store import AlertState, State
from integration.writeback.alerts import watch_alerts
from integration.writeback.client import FhirClient
from integration.writeback.runner import write_due
from integration.writeback.scheduler import WritebackScheduler
from tests.fhir_server import chexpert, result
from tests.integration.conftest import inferred_job
from tests.integration.test_writeback_server import report_ref, wb_settings, written_of

EVIDENCE = {"label:Pneumothorax": [{"offset": 0, "length": 27, "text": "Moderate right pneumothorax."}]}


def _pneumothorax_results() -> dict:
    return {"abnormality_detection": {**result(chexpert(Pneumothorax="positive")), "evidence": EVIDENCE}}


def _ordered_report(fhir_server, seeded_report, suffix: str) -> dict:
    fhir_server.put({"resourceType": "Practitioner", "id": f"orderer-{suffix}", "name": [{"family": "Orderer"}]})
    report = seeded_report(0)
    order = fhir_server.put({"resourceType": "ServiceRequest", "id": f"order-{suffix}", "status": "completed",
                             "intent": "order", "subject": report["subject"],
                             "requester": {"reference": f"Practitioner/orderer-{suffix}"}})
    return seeded_report(0, basedOn=[{"reference": f"ServiceRequest/{order['id']}"}])


def test_a_pneumothorax_alerts_the_ordering_provider_once(fhir_server, store, mappings_with_alerts,
                                                          seeded_report) -> None:
    report = _ordered_report(fhir_server, seeded_report, "a")
    job = inferred_job(store, report, _pneumothorax_results())
    client = FhirClient(fhir_server.base_url)

    # "Crash" after the server committed: the store never hears, another scheduler writes again.
    [claimed] = store.claim_for_writeback("crashed", 10, lease_seconds=0.3)
    first = plan_transaction(claimed, mappings_with_alerts, base_url=client.base_url,
                             recipients={"ordering_provider": {"reference": "Practitioner/orderer-a"}})
    client.post_transaction(first.bundle)
    time.sleep(0.4)
    assert write_due(store, client, mappings_with_alerts, "s2", wb_settings()).written == 1
    written = written_of(store, job)

    alerts = fhir_server.search("Communication", subject=report["subject"]["reference"])
    [alert] = [a for a in alerts if any(i["system"] == ALERT_SYSTEM for i in a.get("identifier", []))
               and any(x.get("reference", "").startswith(report_ref(report)) for x in a["about"])]
    assert alert["recipient"] == [{"reference": "Practitioner/orderer-a"}]
    assert alert["priority"] == "stat" and alert["status"] == "completed"
    obs_ids = {r["id"] for r in written["resources"] if r["type"] == "Observation"}
    about = [a["reference"] for a in alert["about"]]
    assert about[0].split("/")[0] == "Observation" and about[0].split("/")[1] in obs_ids
    assert about[1].startswith(report_ref(report))
    assert "Moderate right pneumothorax." in alert["payload"][0]["contentString"]
    [comm] = [r for r in written["resources"] if r["type"] == "Communication"]
    assert comm["id"] == alert["id"]


def test_a_report_without_a_rule_met_gets_no_alert(fhir_server, store, mappings_with_alerts, seeded_report) -> None:
    report = _ordered_report(fhir_server, seeded_report, "b")
    inferred_job(store, report, {"abnormality_detection": result(chexpert(Edema="positive", Pneumothorax="uncertain"))})
    client = FhirClient(fhir_server.base_url)
    assert write_due(store, client, mappings_with_alerts, "s1", wb_settings()).written == 1
    alerts = fhir_server.search("Communication", subject=report["subject"]["reference"])  # the patient's, any report
    assert [a for a in alerts if any(x.get("reference", "").startswith(report_ref(report)) for x in a["about"])] == []


def test_the_write_back_finds_the_ordering_provider_on_the_ehr(fhir_server, store, mappings_with_alerts,
                                                               seeded_report) -> None:
    from integration import monitoring

    report = _ordered_report(fhir_server, seeded_report, "c")
    job = inferred_job(store, report, _pneumothorax_results())
    before = monitoring.ALERT_SECONDS._sum.get(), sum(b.get() for b in monitoring.ALERT_SECONDS._buckets)
    assert write_due(store, FhirClient(fhir_server.base_url), mappings_with_alerts, "s1", wb_settings()).written == 1
    [comm] = [r for r in written_of(store, job)["resources"] if r["type"] == "Communication"]
    alert = fhir_server.search("Communication", _id=comm["id"])[0]
    # Read from the ServiceRequest the report is basedOn, not given by the test.
    assert alert["recipient"] == [{"reference": "Practitioner/orderer-c"}]
    # Intake to alert on the EHR is measured (radlite_alert_written_seconds): one more observation.
    assert sum(b.get() for b in monitoring.ALERT_SECONDS._buckets) == before[1] + 1
    assert monitoring.ALERT_SECONDS._sum.get() > before[0]


# -- the rest of issue 23: early wake, acknowledgement, escalation, Flag, withdrawal -----------------

def _escalating_mappings(mappings_with_alerts, *, flag: bool = False):
    """The shipped rules, with the pneumothorax rule escalating to the results interpreter and then
    a configured team (and asking for a Flag)."""
    rules = tuple(
        r.model_copy(update={"escalate_to": ("results_interpreter", "team:chest-on-call"), "flag": flag})
        if r.id == "pneumothorax" else r
        for r in mappings_with_alerts.critical)
    return dataclasses.replace(mappings_with_alerts, critical=rules)


def _interpreted_report(fhir_server, seeded_report, suffix: str) -> dict:
    fhir_server.put({"resourceType": "Practitioner", "id": f"reader-{suffix}", "name": [{"family": "Reader"}]})
    report = _ordered_report(fhir_server, seeded_report, suffix)
    return seeded_report(0, basedOn=report["basedOn"], resultsInterpreter=[{"reference": f"Practitioner/reader-{suffix}"}])


def _alerts_about(fhir_server, report: dict) -> list[dict]:
    found = fhir_server.search("Communication", subject=report["subject"]["reference"])
    return [a for a in found if any(i["system"] == ALERT_SYSTEM for i in a.get("identifier", []))
            and any(x.get("reference", "").startswith(report_ref(report)) for x in a.get("about", []))]


def test_the_early_wake_writes_an_alert_job_before_older_routine_ones(fhir_server, store, mappings_with_alerts,
                                                                       seeded_report) -> None:
    routine = inferred_job(store, seeded_report(0), {"abnormality_detection": result(chexpert(Edema="positive"))})
    report = _ordered_report(fhir_server, seeded_report, "d")
    urgent = inferred_job(store, report, _pneumothorax_results())
    assert store.get(urgent.id).priority == 3 and store.get(routine.id).priority == 0
    scheduler = WritebackScheduler(store, FhirClient(fhir_server.base_url), mappings_with_alerts, wb_settings())
    try:
        counts = scheduler.urgent_tick()  # the early wake: alerts only
    finally:
        scheduler.release()
    assert counts.written == 1
    assert store.get(urgent.id).state == State.WRITTEN.value
    assert store.get(routine.id).state == State.INFERRED.value  # waits for the regular tick
    [alert] = store.job_alerts(urgent.id)
    assert alert.state == AlertState.OPEN.value and alert.recipient == "Practitioner/orderer-d"
    assert alert.due_at - alert.sent_at == dt.timedelta(minutes=60)


def test_an_unacknowledged_alert_escalates_after_its_limit_then_a_received_one_closes(
        fhir_server, store, mappings_with_alerts, seeded_report) -> None:
    mappings = _escalating_mappings(mappings_with_alerts)
    report = _interpreted_report(fhir_server, seeded_report, "e")
    job = inferred_job(store, report, _pneumothorax_results())
    client = FhirClient(fhir_server.base_url)
    settings = wb_settings(alert_teams={"chest-on-call": "CareTeam/chest-on-call"})
    assert write_due(store, client, mappings, "s1", settings).written == 1
    [first] = store.job_alerts(job.id)

    # Read back every twelfth of its limit (5 minutes for 60), not on every check.
    assert watch_alerts(store, client, settings).checked == 0
    assert first.check_at - first.sent_at == dt.timedelta(minutes=5)
    # Within the limit and not acknowledged: nothing happens but the next read being scheduled.
    assert watch_alerts(store, client, settings, now=first.check_at).as_dict() == {
        "checked": 1, "acknowledged": 0, "escalated": 0, "unanswered": 0, "withdrawn": 0, "unreachable": 0}
    assert store.job_alerts(job.id)[0].check_at == first.check_at + dt.timedelta(minutes=5)
    # Past it: the results interpreter, the rule's next recipient, is alerted. Before that, a
    # scheduler was killed after the server wrote this escalation but before the store heard of
    # it: the check finds it by its identifier and writes none twice.
    later = first.due_at + dt.timedelta(minutes=1)
    original = fhir_server.search("Communication", _id=first.communication.split("/")[1])[0]
    client.post_transaction(plan_escalation(original, escalation_identifier(first.chain, 1),
                                            {"reference": "Practitioner/reader-e"}, step=1, minutes=60, now=later))
    assert watch_alerts(store, client, settings, now=later).escalated == 1
    # The escalation has its own limit, from when it was sent.
    assert watch_alerts(store, client, settings, now=later + dt.timedelta(minutes=59)).escalated == 0
    alerts = _alerts_about(fhir_server, report)
    assert len(alerts) == 2
    [escalation] = [a for a in alerts if a["id"] != first.communication.split("/")[1]]
    assert escalation["recipient"] == [{"reference": "Practitioner/reader-e"}]
    assert escalation["payload"][0]["contentString"].startswith("Escalation 1: not acknowledged within 60 minutes.")
    assert [a["reference"].split("/")[0] for a in escalation["about"]] == ["Observation", "DiagnosticReport"]
    rows = {a.step: a for a in store.job_alerts(job.id)}
    assert rows[0].state == AlertState.ESCALATED.value and rows[1].state == AlertState.OPEN.value
    assert rows[1].recipient_key == "results_interpreter" and rows[1].escalate_to == ["team:chest-on-call"]

    # The interpreter's inbox marks it received: acknowledged, the chain closed.
    held = fhir_server.search("Communication", _id=escalation["id"])[0]
    fhir_server.put({**held, "received": "2026-12-04T12:00:00Z"})
    counts = watch_alerts(store, client, settings, now=later + dt.timedelta(hours=2))
    assert (counts.acknowledged, counts.escalated) == (1, 0)
    rows = {a.step: a for a in store.job_alerts(job.id)}
    assert rows[1].state == AlertState.ACKNOWLEDGED.value and rows[1].closed_by == "received"
    assert store.open_alerts() == []


def test_a_reply_acknowledges_and_nobody_left_means_unanswered(fhir_server, store, mappings_with_alerts,
                                                               seeded_report) -> None:
    report = _ordered_report(fhir_server, seeded_report, "f")
    # A reply (inResponseTo the alert) acknowledges it.
    job = inferred_job(store, report, _pneumothorax_results())
    client = FhirClient(fhir_server.base_url)
    assert write_due(store, client, mappings_with_alerts, "s1", wb_settings()).written == 1
    [alert] = store.job_alerts(job.id)
    fhir_server.put({"resourceType": "Communication", "id": f"reply-{job.id[:8]}", "status": "completed", "subject": report["subject"],
                      "sent": "2099-01-01T00:00:00Z", "inResponseTo": [{"reference": alert.communication}],
                      "payload": [{"contentString": "Seen, chest tube placed."}]})
    assert watch_alerts(store, client, wb_settings(), now=alert.check_at).acknowledged == 1
    assert store.job_alerts(job.id)[0].closed_by == "reply"

    # The shipped rule escalates to nobody: past the limit it is unanswered, and counted.
    report2 = _ordered_report(fhir_server, seeded_report, "g")
    job2 = inferred_job(store, report2, _pneumothorax_results())
    assert write_due(store, client, mappings_with_alerts, "s1", wb_settings()).written == 1
    [alert2] = store.job_alerts(job2.id)
    counts = watch_alerts(store, client, wb_settings(), now=alert2.due_at + dt.timedelta(seconds=1))
    assert (counts.unanswered, counts.escalated) == (1, 0)
    assert store.job_alerts(job2.id)[0].state == AlertState.UNANSWERED.value
    assert len(_alerts_about(fhir_server, report2)) == 1


def test_a_flag_goes_with_the_alert_and_an_amended_report_withdraws_both(fhir_server, store, mappings_with_alerts,
                                                                          seeded_report) -> None:
    mappings = _escalating_mappings(mappings_with_alerts, flag=True)
    report = _interpreted_report(fhir_server, seeded_report, "h")
    job = inferred_job(store, report, _pneumothorax_results())
    client = FhirClient(fhir_server.base_url)
    settings = wb_settings(alert_teams={"chest-on-call": "CareTeam/chest-on-call"})
    assert write_due(store, client, mappings, "s1", settings).written == 1
    [flag_ref] = [r for r in written_of(store, job)["resources"] if r["type"] == "Flag"]
    flag = fhir_server.search("Flag", _id=flag_ref["id"])[0]
    assert flag["status"] == "active" and flag["subject"] == {"reference": report["subject"]["reference"]}
    assert "Pneumothorax" in flag["code"]["text"] and flag["meta"]["security"][0]["code"] == "AIAST"
    [first] = store.job_alerts(job.id)
    assert watch_alerts(store, client, settings, now=first.due_at + dt.timedelta(minutes=1)).escalated == 1

    # The radiologist amends the report: no pneumothorax after all.
    amended = fhir_server.put({**fhir_server.search("DiagnosticReport", _id=report["id"])[0], "status": "amended"})
    job2 = inferred_job(store, amended, {"abnormality_detection": result(chexpert(Edema="positive"))})
    assert write_due(store, client, mappings, "s1", settings).written == 1
    assert store.get(job2.id).state == State.WRITTEN.value
    # The first alert, its escalation and the Flag are withdrawn on the EHR and in the store.
    for a in _alerts_about(fhir_server, report):
        assert a["status"] == "entered-in-error", a["id"]
    assert fhir_server.search("Flag", _id=flag_ref["id"])[0]["status"] == "entered-in-error"
    assert {a.state for a in store.job_alerts(job.id)} == {AlertState.ESCALATED.value, AlertState.WITHDRAWN.value}
    assert store.open_alerts() == []


def test_follow_up_recommendations_become_service_request_proposals(fhir_server, store, mappings_with_alerts,
                                                                     seeded_report) -> None:
    text = ("FINDINGS: An 8 mm solid nodule in the right upper lobe.\n"
            "IMPRESSION: 1. Indeterminate 8 mm right upper lobe nodule. "
            "2. Recommend follow-up CT of the chest in 3 months. 3. No pneumothorax.")
    report = seeded_report(0, conclusion=text, presentedForm=[], effectiveDateTime="2026-01-31T10:00:00Z")
    job = inferred_job(store, report, {"abnormality_detection": result(chexpert(Edema="positive"))})
    assert [f["procedure"] for f in store.get(job.id).followups] == ["ct"]
    client = FhirClient(fhir_server.base_url)
    assert write_due(store, client, mappings_with_alerts, "s1", wb_settings()).written == 1
    [ref] = [r for r in written_of(store, job)["resources"] if r["type"] == "ServiceRequest"]
    sr = fhir_server.search("ServiceRequest", _id=ref["id"])[0]
    assert (sr["status"], sr["intent"]) == ("draft", "proposal")
    assert sr["code"]["coding"][0]["code"] == "77477000" and sr["bodySite"][0]["coding"][0]["code"] == "51185008"
    assert sr["category"][0]["coding"][0]["code"] == "363679005"
    # "in 3 months" from the examination on 31 January: the end of April.
    assert sr["occurrencePeriod"] == {"start": "2026-04-30", "end": "2026-04-30"}
    assert sr["subject"] == {"reference": report["subject"]["reference"]}
    assert sr["reasonReference"][0]["reference"].startswith(report_ref(report))
    [ext] = sr["extension"]
    offset = next(e["valueInteger"] for e in ext["extension"] if e["url"] == "offset")
    length = next(e["valueInteger"] for e in ext["extension"] if e["url"] == "length")
    assert text[offset:offset + length] == "2. Recommend follow-up CT of the chest in 3 months."
    # A replay creates no second proposal; a normal report gets none.
    assert write_due(store, client, mappings_with_alerts, "s1", wb_settings()).claimed == 0
    assert len(fhir_server.search("ServiceRequest", subject=report["subject"]["reference"], status="draft",
                                  _count="100")) >= 1
    plain = inferred_job(store, seeded_report(0), {"abnormality_detection": result(chexpert(Edema="positive"))})
    assert write_due(store, client, mappings_with_alerts, "s1", wb_settings()).written == 1
    assert [r for r in written_of(store, plain)["resources"] if r["type"] == "ServiceRequest"] == []
