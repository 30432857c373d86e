"""Critical-result alerts written to a real FHIR server (sekmet-fhir) with the results: a
pneumothorax report gets one Communication to the ordering provider (from the ServiceRequest the
report is basedOn), about its Observation; a replay after a crash writes no second one; a normal
report gets none (issue 23)."""

from __future__ import annotations

import time

from integration.fhir.transaction import ALERT_SYSTEM, plan_transaction
from integration.writeback.client import FhirClient
from integration.writeback.runner import write_due
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
