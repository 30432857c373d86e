"""Regression tests for intake bugs found by the fuzzing in tests/reliability/test_fuzz_intake.py.

Each of these answered 500 (or stored a key the write-back would turn into a path step) before
the fix; now each is a 4xx OperationOutcome and nothing is stored.
"""

from __future__ import annotations

import copy
import json

import pytest

from integration.fhir.report import check_report
from integration.fhir.strict_json import MAX_JSON_DEPTH
from tests.unit.test_intake import (  # noqa: F401 -- pytest fixtures, taken by name as test parameters
    FHIR,
    app,
    assert_outcome,
    bundle,
    client,
    n_jobs,
    post,
    samples,
    store,
)


def _nested_extension(levels: int) -> dict:
    """extension-in-extension, ``levels`` deep: fhir.resources validates it by recursion."""
    ext: dict = {"url": "http://example.org/x", "valueString": "leaf"}
    for _ in range(levels):
        ext = {"url": "http://example.org/x", "extension": [ext]}
    return ext


def _depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


# -- ids that are not FHIR ids ------------------------------------------------------------------


@pytest.mark.parametrize("rid", ["..", "...", "x" * 65])
def test_body_id_must_be_a_fhir_id(client, store, rid):
    # ".." passed the R4B pattern and became the job's key DiagnosticReport/.. -- a path step in the
    # derivedFrom / Provenance references the write-back builds from it.
    report = samples()[0]
    report["id"] = rid
    assert_outcome(post(client, "/fhir/DiagnosticReport", report), 422, "value", "DiagnosticReport.id")
    assert n_jobs(store) == 0


@pytest.mark.parametrize("vid", ["..", "v" * 65])
def test_version_id_must_be_a_fhir_id(client, store, vid):
    # A 65+ character versionId overflowed report_version (VARCHAR(128) on PostgreSQL: a 500 there).
    report = samples()[0]
    report["meta"]["versionId"] = vid
    assert_outcome(post(client, "/fhir/DiagnosticReport", report), 422, "value", "DiagnosticReport.meta.versionId")
    assert n_jobs(store) == 0


def test_bundle_entry_with_dot_id_is_rejected_on_its_own(client, store):
    good, bad = samples()[0], samples()[1]
    bad["id"] = ".."
    r = post(client, "/fhir", bundle("batch", [good, bad]))
    assert r.status_code == 202
    statuses = [e["response"]["status"] for e in r.json["entry"]]
    assert statuses == ["202 Accepted", "422 Unprocessable Entity"]
    assert r.json["entry"][1]["response"]["outcome"]["issue"][0]["expression"] == ["DiagnosticReport.id"]
    assert n_jobs(store) == 1


# -- keys the store cannot hold -----------------------------------------------------------------


def test_identifier_key_longer_than_the_store_column(client, store):
    # report_key is VARCHAR(512) on PostgreSQL: this was a DataError, a 500.
    report = samples()[3]
    del report["id"]
    report["identifier"] = [{"system": "urn:x", "value": "v" * 600}]
    assert_outcome(post(client, "/fhir/DiagnosticReport", report), 422, "too-long", "DiagnosticReport.identifier[0]")
    report["identifier"] = [{"system": "urn:x", "value": "v" * 490}]
    assert post(client, "/fhir/DiagnosticReport", report).status_code == 202
    assert n_jobs(store) == 1


@pytest.mark.parametrize("field,value,code", [
    ("subject", "Patient/" + "1" * 600, "too-long"),
    ("subject", "Patient/a\x00b", "value"),
    ("identifier", "ACC\x00-1", "value"),
])
def test_key_fields_with_control_characters_or_too_long(client, store, field, value, code):
    # PostgreSQL refuses NUL in VARCHAR columns (report_key, subject_ref): a 500 before.
    report = samples()[3]
    if field == "subject":
        report["subject"]["reference"] = value
        where = "DiagnosticReport.subject.reference"
    else:
        del report["id"]
        report["identifier"] = [{"value": value}]
        where = "DiagnosticReport.identifier[0]"
    assert_outcome(post(client, "/fhir/DiagnosticReport", json.dumps(report)), 422, code, where)
    assert n_jobs(store) == 0


def test_nul_in_free_text_is_still_accepted(client, store):
    # Free text goes into the JSON column (escaped), not an indexed one: no reason to refuse it.
    report = samples()[0]
    report["conclusion"] = "No acute findings.\x00"
    assert post(client, "/fhir/DiagnosticReport", report).status_code == 202


# -- nesting bombs ------------------------------------------------------------------------------


def test_deeply_nested_extensions_are_400_not_500(client, store):
    # 130 levels of extension-in-extension exhausted the stack inside fhir.resources: a 500.
    report = samples()[0]
    report["extension"] = [_nested_extension(130)]
    body = assert_outcome(post(client, "/fhir/DiagnosticReport", report), 400, "structure")
    assert "nested too deeply" in body["issue"][0]["diagnostics"]
    assert n_jobs(store) == 0


def test_depth_limit_boundary(client, store):
    report = samples()[0]
    levels = 1
    while True:  # the deepest report at the limit, and one level more
        report["extension"] = [_nested_extension(levels + 1)]
        if _depth(report) > MAX_JSON_DEPTH:
            break
        levels += 1
    report["extension"] = [_nested_extension(levels)]
    assert _depth(report) <= MAX_JSON_DEPTH
    assert post(client, "/fhir/DiagnosticReport", report).status_code == 202
    deeper = copy.deepcopy(report)
    deeper["id"] = "deeper"
    deeper["extension"] = [_nested_extension(levels + 1)]
    assert _depth(deeper) == MAX_JSON_DEPTH + 1
    assert_outcome(post(client, "/fhir/DiagnosticReport", deeper), 400, "structure")
    # The same limit on Bundles and on $preview's body (one parser for all).
    assert_outcome(post(client, "/fhir", bundle("batch", [deeper])), 400, "structure")


def test_check_report_survives_a_nesting_bomb_without_the_http_limit():
    # Pull mode validates reports read from the EHR without going through the HTTP body parser.
    report = samples()[0]
    report["extension"] = [_nested_extension(400)]
    issues = check_report(report)
    assert [(i.code, i.expression) for i in issues if i.is_error] == [("structure", ("DiagnosticReport",))]


# -- URLs -----------------------------------------------------------------------------------------


def test_double_slash_is_an_outcome_not_an_html_redirect(client, store):
    # Werkzeug merged "//" with a 308 redirect whose body was an HTML page (error handlers bypassed).
    r = client.put("/fhir/DiagnosticReport//etc/passwd", data=json.dumps(samples()[0]), headers=FHIR)
    assert_outcome(r, 404, "not-found")  # the id part may not start with "/": no route
    assert_outcome(client.get("/jobs//" + "0" * 32, headers=FHIR), 404, "not-found")
    assert_outcome(post(client, "/fhir//DiagnosticReport", samples()[0]), 404, "not-found")
    assert n_jobs(store) == 0


@pytest.mark.parametrize("url", [
    "DiagnosticReport/../../Patient/x", "Patient/sample-cxr-normal", "DiagnosticReport/./sample-cxr-normal/..",
    "sample-cxr-normal", "DiagnosticReport/sample-cxr-normal/_history/1",
])
def test_transaction_put_url_must_name_the_report(client, store, url):
    # A PUT to another resource type (or through "..") was accepted and queued as this report.
    b = bundle("transaction", samples()[:1])
    b["entry"][0]["request"] = {"method": "PUT", "url": url}
    assert_outcome(post(client, "/fhir", b), 422, "invalid", "Bundle.entry[0].request.url")
    assert n_jobs(store) == 0


@pytest.mark.parametrize("url", ["DiagnosticReport/sample-cxr-normal", "https://ehr.example/fhir/DiagnosticReport/sample-cxr-normal",
                                 "DiagnosticReport?identifier=urn:x|1"])
def test_transaction_put_urls_that_name_the_report(client, store, url):
    b = bundle("transaction", samples()[:1])
    b["entry"][0]["request"] = {"method": "PUT", "url": url}
    assert post(client, "/fhir", b).status_code == 202
    assert n_jobs(store) == 1


# -- attachment charsets --------------------------------------------------------------------------


@pytest.mark.parametrize("charset,code,where", [
    ("\ud800", "value", "contentType"),  # UnicodeEncodeError in codecs.lookup: a 500 before (R4B names it)
    ("utf-8\x00", "not-supported", "contentType"),  # ValueError (embedded NUL): a 500 before
    ("base64", "not-supported", "contentType"),  # found by lookup, LookupError on decode: a 500 before
    ("zlib", "not-supported", "contentType"),
    ("rot13", "not-supported", "contentType"),
    ("undefined", "not-supported", "contentType"),  # plain UnicodeError: a 500 before
    ("punycode", "value", "data"),  # plain UnicodeError on decode: a 500 before
    ("no-such-charset", "not-supported", "contentType"),
])
def test_odd_attachment_charsets_are_422(client, store, charset, code, where):
    report = samples()[0]
    report["presentedForm"] = [{"contentType": f"text/plain; charset={charset}", "data": "SGVsbG89"}]
    r = post(client, "/fhir/DiagnosticReport", json.dumps(report))
    assert_outcome(r, 422, code, f"DiagnosticReport.presentedForm[0].{where}")
    assert n_jobs(store) == 0


def test_known_charsets_still_decode(client, store):
    report = samples()[0]
    report["presentedForm"] = [{"contentType": "text/plain; charset=ISO-8859-1", "data": "SGVhcnQgbm9ybWFsLiDp"}]
    assert post(client, "/fhir/DiagnosticReport", report).status_code == 202


# -- bodies the WSGI server cannot read -----------------------------------------------------------


class _ParseException(Exception):
    """Stands in for gunicorn.http.errors.InvalidChunkSize (a ParseException, not an OSError)."""


class _BrokenInput:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def read(self, *_args) -> bytes:
        raise self.exc


@pytest.mark.parametrize("exc", [_ParseException("Invalid chunk size"), OSError("Invalid chunk header")])
def test_unreadable_chunked_body_is_400_not_500(client, store, exc):
    # gunicorn raised InvalidChunkSize out of wsgi.input for broken chunked framing: a 500 before.
    r = client.post("/fhir/DiagnosticReport", headers=FHIR,
                    environ_overrides={"wsgi.input": _BrokenInput(exc), "wsgi.input_terminated": True})
    body = assert_outcome(r, 400, "structure")
    assert "could not be read" in body["issue"][0]["diagnostics"]
    assert n_jobs(store) == 0


def test_malformed_chunked_body_over_real_http(app, store):
    import socket
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as s:
            s.sendall(b"POST /fhir/DiagnosticReport HTTP/1.1\r\nHost: x\r\nAuthorization: " + FHIR["Authorization"].encode()
                      + b"\r\nContent-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                      + b"zz\r\nabc\r\n0\r\n\r\n")
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
    finally:
        server.shutdown()
        thread.join(timeout=10)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b'"resourceType":"OperationOutcome"' in answer
    assert n_jobs(store) == 0
