"""FHIR intake over HTTP: the real Flask app, a real SQLite job store, no mocks."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging

import pytest
import structlog
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from integration.audit import configure_logging
from integration.intake.http.app import create_app
from integration.samples import sample_diagnostic_reports, sample_reports
from integration.settings import Settings
from integration.store import JobStore

TOKEN = "s3cret-intake-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FHIR = {**AUTH, "Content-Type": "application/fhir+json"}
MAX_BODY = 64_000


def make_settings(tmp_path, **intake) -> Settings:
    auth = intake.pop("auth", {"mode": "token", "token_sha256": [hashlib.sha256(TOKEN.encode()).hexdigest()]})
    return Settings.model_validate({
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "intake": {"max_body_bytes": MAX_BODY, "auth": auth, **intake},
        "audit": {"file": None},
    })


@pytest.fixture
def store(tmp_path):
    s = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    yield s
    s.close()


@pytest.fixture
def app(tmp_path, store):
    return create_app(make_settings(tmp_path), store)


@pytest.fixture
def client(app):
    return app.test_client()


def samples() -> list[dict]:
    return copy.deepcopy(sample_diagnostic_reports())


def post(client, path, body, headers=FHIR, **kw):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(path, data=data, headers=headers, **kw)


def local(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


def job_of(client, resp) -> dict:
    r = client.get(local(resp.headers["Location"]), headers=AUTH)
    assert r.status_code == 200, r.json
    return r.json


def job_at(client, location: str) -> dict:
    r = client.get(local(location), headers=AUTH)
    assert r.status_code == 200, r.json
    return r.json


def assert_outcome(resp, status: int, code: str, expression: str | None = None) -> dict:
    """``resp`` is an R4B OperationOutcome with ``status`` and an issue of ``code`` (at ``expression``)."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/fhir+json"
    body = resp.get_json(force=True)
    OperationOutcome.model_validate(body)
    hits = [i for i in body["issue"] if i["code"] == code
            and (expression is None or expression in i.get("expression", []))]
    assert hits, f"no issue {code} at {expression}: {body}"
    return body


def n_jobs(store) -> int:
    return sum(store.counts().values())


def bundle(btype: str, resources: list, **extra) -> dict:
    return {"resourceType": "Bundle", "type": btype, "entry": [{"resource": r} for r in resources], **extra}


# -- accepted --------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(sample_reports())), ids=[s["id"] for s in sample_reports()])
def test_each_sample_is_accepted_and_its_job_visible(client, index):
    report = samples()[index]
    r = post(client, "/fhir/DiagnosticReport", report)
    assert r.status_code == 202, r.json
    assert r.headers["Location"].startswith("http://localhost/jobs/")
    OperationOutcome.model_validate(r.json)
    assert r.json["issue"][0]["severity"] == "information"
    job = job_of(client, r)
    assert job["state"] == "received"
    assert job["report"] == {"reference": f"DiagnosticReport/{report['id']}"}
    assert job["version"] == "1"
    assert job["source"] == "push"
    assert job["url"] == r.headers["Location"]
    assert job["results"] is None and job["supersedes"] is None and job["superseded_by"] is None


def test_same_version_twice_is_one_job(client, store):
    report = samples()[0]
    first = post(client, "/fhir/DiagnosticReport", report)
    second = post(client, "/fhir/DiagnosticReport", report)
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.headers["Location"] == second.headers["Location"]
    assert n_jobs(store) == 1


def test_report_without_version_is_idempotent_on_content(client, store):
    report = samples()[1]
    del report["meta"]
    assert post(client, "/fhir/DiagnosticReport", report).status_code == 202
    assert post(client, "/fhir/DiagnosticReport", report).status_code == 200
    report["conclusion"] = "Changed."
    assert post(client, "/fhir/DiagnosticReport", report).status_code == 202
    assert n_jobs(store) == 2


def test_new_version_is_a_new_job_superseding_the_old(client, store):
    v1 = samples()[0]
    r1 = post(client, "/fhir/DiagnosticReport", v1)
    v2 = copy.deepcopy(v1)
    v2["meta"]["versionId"] = "2"
    v2["status"] = "amended"
    r2 = post(client, "/fhir/DiagnosticReport", v2)
    assert (r1.status_code, r2.status_code) == (202, 202)
    assert r1.headers["Location"] != r2.headers["Location"]
    old, new = job_of(client, r1), job_of(client, r2)
    assert old["state"] == "superseded"
    assert old["superseded_by"]["id"] == new["id"]
    assert old["superseded_by"]["url"] == r2.headers["Location"]
    assert new["state"] == "received" and new["version"] == "2"


def test_identifier_only_report(client):
    report = samples()[3]
    del report["id"]
    r = post(client, "/fhir/DiagnosticReport", report)
    assert r.status_code == 202
    assert job_of(client, r)["report"] == {
        "type": "DiagnosticReport",
        "identifier": {"system": "urn:example:radlite:accession", "value": "ACC-sample-ct-nodule"},
    }


@pytest.mark.parametrize("ctype", [
    "application/json", "application/fhir+json; charset=utf-8", "application/json;charset=UTF-8",
    "application/fhir+json; fhirVersion=4.0", "Application/FHIR+JSON; fhirVersion=4.3; charset=utf-8",
])
def test_accepted_content_types(client, ctype):
    r = post(client, "/fhir/DiagnosticReport", samples()[0], headers={**AUTH, "Content-Type": ctype})
    assert r.status_code == 202


def test_public_base_url_and_request_id(tmp_path, store):
    app = create_app(make_settings(tmp_path, public_base_url="https://radlite.example.org/api/"), store)
    client = app.test_client()
    r = post(client, "/fhir/DiagnosticReport", samples()[0], headers={**FHIR, "X-Request-ID": "ehr-42.a_b"})
    assert r.headers["Location"].startswith("https://radlite.example.org/api/jobs/")
    assert r.headers["X-Request-ID"] == "ehr-42.a_b"
    job = store.get(r.headers["Location"].rsplit("/", 1)[1])
    assert job.correlation_id == "ehr-42.a_b"
    for bad in ("has space", "x" * 65, "semi;colon", "ünï"):
        r = client.get("/healthz", headers={"X-Request-ID": bad.encode("utf-8").decode("latin-1")})
        assert r.headers["X-Request-ID"] != bad
        assert len(r.headers["X-Request-ID"]) == 32
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 32


# -- rest-hook PUT ---------------------------------------------------------------------------


def test_put_rest_hook(client, store):
    report = samples()[2]
    r = client.put(f"/fhir/DiagnosticReport/{report['id']}", data=json.dumps(report), headers=FHIR)
    assert r.status_code == 202
    assert job_of(client, r)["source"] == "rest-hook"
    again = client.put(f"/fhir/DiagnosticReport/{report['id']}", data=json.dumps(report), headers=FHIR)
    assert again.status_code == 200 and again.headers["Location"] == r.headers["Location"]
    assert n_jobs(store) == 1


def test_put_id_must_match_the_body(client, store):
    report = samples()[2]
    r = client.put("/fhir/DiagnosticReport/another-id", data=json.dumps(report), headers=FHIR)
    assert_outcome(r, 400, "invalid", "DiagnosticReport.id")
    del report["id"]
    r = client.put("/fhir/DiagnosticReport/sample-cxr-ptx", data=json.dumps(report), headers=FHIR)
    assert_outcome(r, 400, "invalid", "DiagnosticReport.id")
    assert n_jobs(store) == 0


@pytest.mark.parametrize("path", [
    "/fhir/DiagnosticReport/../x", "/fhir/DiagnosticReport/%2E%2E%2Fx", "/fhir/DiagnosticReport/..",
    "/fhir/DiagnosticReport/a%2Fb", "/fhir/DiagnosticReport/..%5C..%5Cwin", "/fhir/DiagnosticReport/" + "a" * 65,
    "/fhir/DiagnosticReport/a%00b", "/fhir/DiagnosticReport/a b",
])
def test_path_traversal_ids_are_rejected(client, store, path):
    report = samples()[0]
    report["id"] = path.rsplit("/", 1)[-1]
    r = client.put(path, data=json.dumps(report), headers=FHIR)
    assert_outcome(r, 400, "value", "DiagnosticReport.id")
    assert n_jobs(store) == 0


@pytest.mark.parametrize("path", ["/jobs/../x", "/jobs/%2E%2E%2Fetc%2Fpasswd", "/jobs/..", "/jobs/" + "0" * 31,
                                  "/jobs/" + "0" * 32])
def test_unknown_or_malformed_job_ids_are_404(client, path):
    assert_outcome(client.get(path, headers=AUTH), 404, "not-found")


# -- bundles ---------------------------------------------------------------------------------


def test_batch_with_one_bad_entry(client, store):
    good = samples()[:3]
    bad = samples()[3]
    del bad["subject"]
    patient = {"resourceType": "Patient", "id": "p1"}
    b = bundle("batch", [good[0], bad, good[1], patient, good[2]])
    for e in b["entry"]:
        e["request"] = {"method": "POST", "url": "DiagnosticReport"}
    r = post(client, "/fhir", b)
    assert r.status_code == 202
    assert r.mimetype == "application/fhir+json"
    Bundle.model_validate(r.json)
    assert r.json["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in r.json["entry"]]
    assert statuses == ["202 Accepted", "422 Unprocessable Entity", "202 Accepted", "200 OK", "202 Accepted"]
    outcome = r.json["entry"][1]["response"]["outcome"]
    OperationOutcome.model_validate(outcome)
    assert {"code": "required", "expression": ["DiagnosticReport.subject"]}.items() <= outcome["issue"][0].items()
    ignored = r.json["entry"][3]["response"]["outcome"]["issue"][0]
    assert ignored["severity"] == "information"
    assert ignored["expression"] == ["Bundle.entry[3].resource.resourceType"]
    for i in (0, 2, 4):
        job = job_at(client, r.json["entry"][i]["response"]["location"])
        assert job["state"] == "received" and job["source"] == "batch"
    assert n_jobs(store) == 3
    # The same batch again: nothing new, every good entry a 200.
    again = post(client, "/fhir", b)
    assert again.status_code == 200
    assert [e["response"]["status"] for e in again.json["entry"]][0] == "200 OK"
    assert n_jobs(store) == 3


def test_collection_and_searchset_bundles(client, store):
    r = post(client, "/fhir", bundle("collection", samples()[:2]))
    assert r.status_code == 202 and r.json["type"] == "batch-response"
    s = bundle("searchset", samples()[2:4])
    for e in s["entry"]:
        e["search"] = {"mode": "match"}
    assert post(client, "/fhir", s).status_code == 202
    assert n_jobs(store) == 4


def test_transaction_with_a_bad_entry_queues_nothing(client, store):
    bad = samples()[1]
    bad["status"] = "signed"
    b = bundle("transaction", [samples()[0], bad, samples()[2]])
    for e in b["entry"]:
        e["request"] = {"method": "PUT", "url": f"DiagnosticReport/{e['resource']['id']}"}
    r = post(client, "/fhir", b)
    body = assert_outcome(r, 422, "code-invalid", "Bundle.entry[1].resource.status")
    assert body["issue"][0]["code"] == "processing"
    assert n_jobs(store) == 0
    # Fixed, the whole transaction goes in.
    b["entry"][1]["resource"]["status"] = "final"
    r = post(client, "/fhir", b)
    assert r.status_code == 202
    Bundle.model_validate(r.json)
    assert r.json["type"] == "transaction-response"
    assert [e["response"]["status"] for e in r.json["entry"]] == ["202 Accepted"] * 3
    assert n_jobs(store) == 3


def test_transaction_entry_request_checks(client, store):
    b = bundle("transaction", samples()[:2])
    b["entry"][0]["request"] = {"method": "DELETE", "url": "DiagnosticReport/sample-cxr-normal"}
    b["entry"][1]["request"] = {"method": "PUT", "url": "DiagnosticReport/not-this-one"}
    r = post(client, "/fhir", b)
    assert_outcome(r, 422, "not-supported", "Bundle.entry[0].request.method")
    assert_outcome(r, 422, "invalid", "Bundle.entry[1].request.url")
    assert n_jobs(store) == 0


@pytest.mark.parametrize("change,code,expression", [
    ({"type": "document"}, "not-supported", "Bundle.type"),
    ({"type": None}, "required", "Bundle.type"),
    ({"entry": {"resource": {}}}, "structure", "Bundle.entry"),
    ({"timestamp": "not a time"}, "value", "Bundle.timestamp"),
])
def test_bad_bundle_shell_is_422(client, store, change, code, expression):
    b = bundle("batch", samples()[:1])
    b.update(change)
    b = {k: v for k, v in b.items() if v is not None}
    assert_outcome(post(client, "/fhir", b), 422, code, expression)
    assert n_jobs(store) == 0


def test_non_bundle_to_fhir_base_is_400(client):
    assert_outcome(post(client, "/fhir", samples()[0]), 400, "invalid", "resourceType")


# -- subscription notifications ------------------------------------------------------------------


def subscription_status(kind: str, events: int = 0) -> dict:
    return {
        "resourceType": "SubscriptionStatus",
        "status": "active",
        "type": kind,
        "eventsSinceSubscriptionStart": str(events),
        "subscription": {"reference": "Subscription/radlite-reports"},
        "topic": "http://example.org/SubscriptionTopic/diagnostic-report-final",
    }


def backport_parameters(kind: str, events: int = 0) -> dict:
    return {
        "resourceType": "Parameters",
        "id": "notification-status",
        "parameter": [
            {"name": "subscription", "valueReference": {"reference": "Subscription/radlite-reports"}},
            {"name": "topic", "valueCanonical": "http://example.org/SubscriptionTopic/diagnostic-report-final"},
            {"name": "status", "valueCode": "active"},
            {"name": "type", "valueCode": kind},
            {"name": "events-since-subscription-start", "valueString": str(events)},
        ],
    }


def test_r4b_subscription_notification(client, store):
    reports = samples()[:2]
    b = bundle("subscription-notification", [subscription_status("event-notification", 2), *reports],
               timestamp="2026-06-01T10:00:00Z")
    for e, rep in zip(b["entry"][1:], reports):
        e["fullUrl"] = f"http://ehr.example/fhir/DiagnosticReport/{rep['id']}"
    r = post(client, "/fhir", b)
    assert r.status_code == 202
    Bundle.model_validate(r.json)
    assert [e["response"]["status"] for e in r.json["entry"]] == ["200 OK", "202 Accepted", "202 Accepted"]
    assert job_at(client, r.json["entry"][1]["response"]["location"])["source"] == "rest-hook"
    assert n_jobs(store) == 2


def test_r4_backport_history_notification(client, store):
    reports = samples()[4:6]
    b = bundle("history", [backport_parameters("event-notification", 7), *reports])
    b["entry"][0]["request"] = {"method": "GET", "url": "Subscription/radlite-reports/$status"}
    b["entry"][0]["response"] = {"status": "200"}
    for e, rep in zip(b["entry"][1:], reports):
        e["fullUrl"] = f"http://ehr.example/fhir/DiagnosticReport/{rep['id']}"
        e["request"] = {"method": "PUT", "url": f"DiagnosticReport/{rep['id']}"}
        e["response"] = {"status": "201"}
    r = post(client, "/fhir", b)
    assert r.status_code == 202
    statuses = [e["response"]["status"] for e in r.json["entry"]]
    assert statuses == ["200 OK", "202 Accepted", "202 Accepted"]
    assert job_at(client, r.json["entry"][2]["response"]["location"])["source"] == "rest-hook"
    assert n_jobs(store) == 2


@pytest.mark.parametrize("note", [
    bundle("subscription-notification", [subscription_status("heartbeat")]),
    bundle("subscription-notification", [subscription_status("handshake")]),
    bundle("history", [backport_parameters("heartbeat")]),
    bundle("history", [backport_parameters("handshake")]),
    # id-only payload: nothing to queue from here
    {**bundle("subscription-notification", [subscription_status("event-notification", 3)]),
     "entry": [{"resource": subscription_status("event-notification", 3)},
               {"fullUrl": "http://ehr.example/fhir/DiagnosticReport/abc"}]},
], ids=["r4b-heartbeat", "r4b-handshake", "backport-heartbeat", "backport-handshake", "id-only"])
def test_empty_notifications_get_200_and_queue_nothing(client, store, note):
    r = post(client, "/fhir", note)
    body = assert_outcome(r, 200, "informational")
    assert "nothing queued" in body["issue"][0]["diagnostics"]
    assert n_jobs(store) == 0


def test_rest_hook_ping_without_payload(client, store):
    r = client.post("/fhir", headers=AUTH)
    body = assert_outcome(r, 200, "informational")
    assert body["issue"][0]["severity"] == "information"
    assert n_jobs(store) == 0


def test_notification_with_a_bad_report_keeps_the_good_one(client, store):
    bad = samples()[1]
    bad["presentedForm"][0]["data"] = "%%%"
    b = bundle("subscription-notification", [subscription_status("event-notification", 2), samples()[0], bad])
    r = post(client, "/fhir", b)
    assert r.status_code == 202
    assert [e["response"]["status"] for e in r.json["entry"]] == ["200 OK", "202 Accepted", "422 Unprocessable Entity"]
    issue = r.json["entry"][2]["response"]["outcome"]["issue"][0]
    assert issue["code"] == "value" and issue["expression"] == ["DiagnosticReport.presentedForm[0].data"]
    assert n_jobs(store) == 1


# -- 415, 413, 400 ----------------------------------------------------------------------------


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/xml", "application/fhir+xml",
                                   "application/x-www-form-urlencoded", "application/json; charset=latin-1",
                                   "application/fhir+json; fhirVersion=3.0", "multipart/form-data; boundary=x"])
def test_unsupported_media_type(client, store, ctype):
    headers = dict(AUTH)
    if ctype:
        headers["Content-Type"] = ctype
    assert_outcome(post(client, "/fhir/DiagnosticReport", samples()[0], headers=headers), 415, "not-supported")
    assert_outcome(post(client, "/fhir", bundle("batch", samples()[:1]), headers=headers), 415, "not-supported")
    assert n_jobs(store) == 0


def test_compressed_body_is_415(client):
    r = post(client, "/fhir/DiagnosticReport", samples()[0], headers={**FHIR, "Content-Encoding": "gzip"})
    assert_outcome(r, 415, "not-supported")


def big_report() -> dict:
    report = samples()[0]
    report["conclusion"] = "x" * (MAX_BODY + 10)
    return report


def test_body_over_the_limit_is_413(client, store):
    r = post(client, "/fhir/DiagnosticReport", big_report())
    body = assert_outcome(r, 413, "too-long")
    assert str(MAX_BODY) in body["issue"][0]["diagnostics"]
    assert_outcome(post(client, "/fhir", bundle("batch", [big_report()])), 413, "too-long")
    assert n_jobs(store) == 0


def chunked(client, path, payload: bytes, terminated: bool = True):
    env = {"wsgi.input_terminated": True} if terminated else {}
    return client.post(path, input_stream=io.BytesIO(payload), environ_overrides=env,
                       headers={**FHIR, "Transfer-Encoding": "chunked"})


def test_chunked_body_over_the_limit_is_413(client, store):
    r = chunked(client, "/fhir/DiagnosticReport", json.dumps(big_report()).encode())
    assert_outcome(r, 413, "too-long")
    exactly = json.dumps(samples()[0]).encode()
    exactly += b" " * (MAX_BODY - len(exactly))
    assert chunked(client, "/fhir/DiagnosticReport", exactly).status_code == 202
    assert chunked(client, "/fhir/DiagnosticReport", exactly + b" ").status_code == 413
    assert n_jobs(store) == 1


def test_chunked_body_the_server_cannot_delimit_is_411(client):
    r = chunked(client, "/fhir/DiagnosticReport", json.dumps(samples()[0]).encode(), terminated=False)
    assert_outcome(r, 411, "required")


@pytest.mark.parametrize("data,expression", [
    (b'{"resourceType": "DiagnosticReport", ', None),
    (b"", None),
    (b"   ", None),
    (b"\xff\xfe{}", None),
    (b'{"resourceType": "DiagnosticReport", "value": NaN}', None),
    (b'[{"resourceType": "DiagnosticReport"}]', None),
    (b'"DiagnosticReport"', None),
    (b"[" * 100_00 + b"]" * 100_00, None),
])
def test_malformed_bodies_are_400(client, store, data, expression):
    body = assert_outcome(post(client, "/fhir/DiagnosticReport", data), 400, "structure", expression)
    assert body["issue"][0]["severity"] == "error"
    assert n_jobs(store) == 0


def test_duplicate_keys_are_400_with_the_path(client, store):
    text = json.dumps(samples()[0])
    dup_status = text.replace('"status": "final"', '"status": "final", "status": "cancelled"')
    assert_outcome(post(client, "/fhir/DiagnosticReport", dup_status), 400, "structure", "DiagnosticReport.status")
    dup_nested = text.replace('"reference": "Patient/pat-1001"',
                              '"reference": "Patient/pat-1001", "reference": "Patient/pat-9999"')
    assert_outcome(post(client, "/fhir/DiagnosticReport", dup_nested), 400, "structure",
                   "DiagnosticReport.subject.reference")
    in_bundle = json.dumps(bundle("batch", samples()[:2])).replace(
        '"id": "sample-cxr-chf"', '"id": "sample-cxr-chf", "id": "other"')
    assert_outcome(post(client, "/fhir", in_bundle), 400, "structure", "Bundle.entry[1].resource.id")
    assert n_jobs(store) == 0


@pytest.mark.parametrize("resource", [
    {"resourceType": "Observation", "status": "final"},
    {"resourceType": "Bundle", "type": "batch"},
    {"status": "final"},
])
def test_wrong_resource_type_is_400(client, store, resource):
    assert_outcome(post(client, "/fhir/DiagnosticReport", resource), 400, "invalid", "resourceType")
    r = client.put("/fhir/DiagnosticReport/x1", data=json.dumps({**resource, "id": "x1"}), headers=FHIR)
    assert_outcome(r, 400, "invalid", "resourceType")


# -- 422 ----------------------------------------------------------------------------------------


def _no_subject(r):
    del r["subject"]


def _bad_status(r):
    r["status"] = "signed-off"


def _no_text(r):
    del r["presentedForm"]


def _no_id(r):
    del r["id"]
    del r["identifier"]


def _bad_base64(r):
    r["presentedForm"][0]["data"] = "@@@@"


def _pdf_only(r):
    r["presentedForm"][0]["contentType"] = "application/pdf"


def _unknown_element(r):
    r["radiologistMood"] = "good"


def _bad_date(r):
    r["effectiveDateTime"] = "March 2nd"


@pytest.mark.parametrize("break_it,code,expression", [
    (_no_subject, "required", "DiagnosticReport.subject"),
    (_bad_status, "code-invalid", "DiagnosticReport.status"),
    (_no_text, "required", "DiagnosticReport.presentedForm"),
    (_no_id, "required", "DiagnosticReport.identifier"),
    (_bad_base64, "value", "DiagnosticReport.presentedForm[0].data"),
    (_pdf_only, "not-supported", "DiagnosticReport.presentedForm[0].contentType"),
    (_unknown_element, "structure", "DiagnosticReport.radiologistMood"),
    (_bad_date, "value", "DiagnosticReport.effectiveDateTime"),
], ids=lambda v: getattr(v, "__name__", str(v)))
def test_invalid_reports_are_422(client, store, break_it, code, expression):
    report = samples()[0]
    break_it(report)
    body = assert_outcome(post(client, "/fhir/DiagnosticReport", report), 422, code, expression)
    text = json.dumps(body)
    assert "Quentin" not in text and "cough" not in text.lower()
    assert n_jobs(store) == 0


# -- auth ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("header,error", [
    (None, None),
    ("Bearer wrong-token", "invalid_token"),
    (f"Bearer {TOKEN}x", "invalid_token"),
    (f"Basic {TOKEN}", "invalid_request"),
    ("Bearer", "invalid_request"),
    (f"Bearer {TOKEN} extra", "invalid_request"),
])
def test_unauthenticated_is_401(client, store, header, error):
    headers = {"Content-Type": "application/fhir+json"}
    if header:
        headers["Authorization"] = header
    r = post(client, "/fhir/DiagnosticReport", samples()[0], headers=headers)
    assert_outcome(r, 401, "login")
    challenge = r.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="radlite"')
    assert (f'error="{error}"' in challenge) if error else ("error=" not in challenge)
    assert_outcome(client.get("/jobs/" + "0" * 32, headers={"Authorization": header} if header else {}), 401, "login")
    assert_outcome(client.get("/no/such/route"), 401, "login")
    assert n_jobs(store) == 0


def test_health_needs_no_token(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json == {"status": "ok"}


def test_token_scheme_is_case_insensitive(client):
    r = post(client, "/fhir/DiagnosticReport", samples()[0],
             headers={"Authorization": f"bearer {TOKEN}", "Content-Type": "application/json"})
    assert r.status_code == 202


def test_token_file_is_read_and_reloaded(tmp_path, store):
    token_file = tmp_path / "tokens.sha256"
    token_file.write_text("# intake tokens\n" + hashlib.sha256(b"from-file").hexdigest() + "\n")
    app = create_app(make_settings(tmp_path, auth={"mode": "token", "token_sha256_file": str(token_file)}), store)
    client = app.test_client()
    ok = {"Authorization": "Bearer from-file", "Content-Type": "application/json"}
    assert post(client, "/fhir/DiagnosticReport", samples()[0], headers=ok).status_code == 202
    import os
    token_file.write_text(hashlib.sha256(b"rotated").hexdigest() + "\n")
    st = os.stat(token_file)
    os.utime(token_file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert post(client, "/fhir/DiagnosticReport", samples()[1], headers=ok).status_code == 401
    ok["Authorization"] = "Bearer rotated"
    assert post(client, "/fhir/DiagnosticReport", samples()[1], headers=ok).status_code == 202


def test_bad_token_digest_config_fails_at_startup(tmp_path, store):
    from integration.settings import SettingsError

    with pytest.raises(SettingsError, match="token_sha256"):
        create_app(make_settings(tmp_path, auth={"mode": "token", "token_sha256": ["not-a-digest"]}), store)
    with pytest.raises(SettingsError, match="not found"):
        create_app(make_settings(tmp_path, auth={"mode": "token", "token_sha256_file": str(tmp_path / "none")}), store)


def test_open_mode_needs_no_token(tmp_path, store):
    app = create_app(make_settings(tmp_path, auth={"mode": "open"}), store)
    r = post(app.test_client(), "/fhir/DiagnosticReport", samples()[0], headers={"Content-Type": "application/json"})
    assert r.status_code == 202


# -- every error is an OperationOutcome ------------------------------------------------------------


def test_404_405_and_500_are_operation_outcomes(tmp_path, store):
    app = create_app(make_settings(tmp_path), store)

    @app.get("/boom")
    def boom():  # an endpoint that fails, to see the 500 path
        raise RuntimeError("Quentin Testpatient")

    client = app.test_client()
    assert_outcome(client.get("/no/such/thing", headers=AUTH), 404, "not-found")
    r = client.get("/fhir/DiagnosticReport", headers=AUTH)
    assert_outcome(r, 405, "not-supported")
    assert "POST" in r.headers["Allow"]
    assert_outcome(client.delete("/fhir/DiagnosticReport/x", headers=AUTH), 405, "not-supported")
    assert_outcome(client.post("/healthz", headers=AUTH), 405, "not-supported")
    r = client.get("/boom", headers=AUTH)
    body = assert_outcome(r, 500, "exception")
    assert "Quentin" not in json.dumps(body)
    assert b"<html" not in r.data.lower()


def test_outcomes_follow_accept_json(client):
    r = post(client, "/fhir/DiagnosticReport", b"{", headers={**FHIR, "Accept": "application/json"})
    assert r.status_code == 400 and r.mimetype == "application/json"
    OperationOutcome.model_validate(r.json)


# -- no PHI in the logs -------------------------------------------------------------------------


@pytest.fixture
def log_stream():
    saved = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    yield stream
    structlog.configure(**saved)
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def test_logs_carry_no_phi(tmp_path, store, log_stream):
    client = create_app(make_settings(tmp_path), store).test_client()
    reports = samples()
    for report in reports:
        assert post(client, "/fhir/DiagnosticReport", report, headers={**FHIR, "X-Request-ID": "trace-1"}).status_code == 202
    post(client, "/fhir/DiagnosticReport", reports[0])  # duplicate
    bad = samples()[1]
    del bad["subject"]
    post(client, "/fhir/DiagnosticReport", bad)
    post(client, "/fhir", bundle("batch", [samples()[2], bad]))
    dup = json.dumps(reports[3]).replace('"status": "final"', '"status": "final", "status": "final"')
    post(client, "/fhir/DiagnosticReport", dup)
    client.put("/fhir/DiagnosticReport/pat-1001", data=json.dumps(reports[4]), headers=FHIR)
    post(client, "/fhir/DiagnosticReport", reports[0], headers={"Authorization": "Bearer leaked-token-value"})
    client.get(f"/jobs/{reports[0]['id']}", headers=AUTH)

    lines = [json.loads(line) for line in log_stream.getvalue().splitlines() if line.strip()]
    events = {line["event"] for line in lines}
    assert {"request.received", "job.queued", "job.duplicate", "request.rejected", "auth.failed"} <= events
    queued = [line for line in lines if line["event"] == "job.queued"]
    assert queued[0]["correlation_id"] == "trace-1"
    assert all(line["report"].startswith("h:") for line in queued)

    text = log_stream.getvalue()
    forbidden = ["leaked-token-value", TOKEN]
    for sample in sample_reports():
        forbidden += [sample["patient"]["name"], sample["patient"]["mrn"], sample["patient"]["id"], sample["id"]]
        forbidden += [s.strip() for s in sample["text"].replace("\n", " ").split(".") if len(s.strip()) > 15]
        forbidden += sample["patient"]["name"].split()
    for needle in forbidden:
        assert needle not in text, f"log leaks {needle!r}"
