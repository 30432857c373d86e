"""Security (issue 9): who may call what, ids that try to be paths, markup in reports and model
answers, secrets in logs, and the SMART key's file mode.

* 401 for a missing, malformed or unknown bearer token; 403 for a valid token without the scope
  the endpoint needs (integration.intake.http.auth); each an OperationOutcome, nothing stored.
* Report ids, version ids and job ids never act as path steps: in URLs (raw, percent-encoded,
  double-encoded, over real HTTP too) and in resource bodies.
* The write-back never sends a narrative: markup from a report or a model answer reaches the EHR
  only as plain strings, and every resource it builds validates with fhir.resources.
* Intake, worker, scheduler and doctor run as processes with an intake token, a SMART key, a
  database password and an audit secret set; none of them appears in their JSON logs, stdout or
  the audit files (nor does report text).
* A SMART private key readable by group or others stops the scheduler (and fails doctor) with the
  fix in the message.
"""

from __future__ import annotations

import copy
import hashlib
import http.client
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
import yaml
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from integration.audit import configure_logging
from integration.fhir.report import report_text
from integration.fhir.transaction import plan_transaction
from integration.intake.http.app import create_app
from integration.ops.devserver import SmartClient, free_port
from integration.samples import sample_diagnostic_reports
from integration.settings import Settings, SettingsError, load_settings
from integration.store import JobStore
from tests.fhir_server import make_key, result
from tests.integration.postgres import child_env, empty_pg_url, pg_url, wait_for  # noqa: F401 -- pytest fixtures, taken by name as test parameters
from tests.unit.stub_http import StubServer

ROOT = Path(__file__).resolve().parents[2]
FHIR_JSON = "application/fhir+json"

# One token per kind of grant. Their values are secrets: they must never reach a log.
FULL = "full-access-" + uuid.uuid4().hex
INTAKE = "intake-only-" + uuid.uuid4().hex
JOBS = "jobs-reader-" + uuid.uuid4().hex
PREVIEW = "previewer-" + uuid.uuid4().hex
ADMIN = "scoped-admin-" + uuid.uuid4().hex
FILE_SCOPED = "file-scoped-" + uuid.uuid4().hex
FILE_FULL = "file-full-" + uuid.uuid4().hex


def sha(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def settings_for(tmp_path: Path, **auth) -> Settings:
    return Settings.model_validate({
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "intake": {"max_body_bytes": 64_000, "auth": auth or {"mode": "token"}},
        "audit": {"file": None},
    })


@pytest.fixture()
def store(tmp_path):
    s = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    yield s
    s.close()


@pytest.fixture()
def token_file(tmp_path) -> Path:
    path = tmp_path / "intake-tokens.txt"
    path.write_text(f"# site tokens\n{sha(FILE_SCOPED)} intake jobs:read\n{sha(FILE_FULL)}\n")
    return path


@pytest.fixture()
def scoped_app(tmp_path, store, token_file):
    settings = settings_for(tmp_path, mode="token", token_sha256=[sha(FULL)], token_sha256_file=str(token_file),
                            tokens=[{"sha256": sha(INTAKE), "scopes": ["intake"]},
                                    {"sha256": sha(JOBS), "scopes": ["jobs:read"]},
                                    {"sha256": sha(PREVIEW), "scopes": ["preview"]},
                                    {"sha256": sha(ADMIN), "scopes": ["admin"]}])
    return create_app(settings, store)


def report(rid: str | None = None) -> dict:
    r = copy.deepcopy(sample_diagnostic_reports()[0])
    r["id"] = rid or f"sec-{uuid.uuid4().hex[:12]}"
    return r


def n_jobs(store) -> int:
    return sum(store.counts().values())


def outcome(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == FHIR_JSON
    body = resp.get_json(force=True)
    OperationOutcome.model_validate(body)
    assert any(i["code"] == code for i in body["issue"]), body
    return body


# -- 401 and 403 --------------------------------------------------------------------------------

# (name, method, path, body maker, content type, the scope it needs)
ENDPOINTS = [
    ("push", "post", "/fhir/DiagnosticReport", lambda: report(), FHIR_JSON, "intake"),
    ("rest-hook", "put", None, lambda: report(), FHIR_JSON, "intake"),
    ("bundle", "post", "/fhir", lambda: {"resourceType": "Bundle", "type": "batch",
                                         "entry": [{"resource": report()}]}, FHIR_JSON, "intake"),
    ("job", "get", "/jobs/" + "0" * 32, None, None, "jobs:read"),
    # Every client's jobs: for operators only.
    ("job-list", "get", "/jobs", None, None, "admin"),
    # text/plain: a 415 once past auth, so no model is loaded for the test.
    ("preview", "post", "/fhir/DiagnosticReport/$preview", lambda: report(), "text/plain", "preview"),
]
GRANTS = {
    FULL: {"intake", "jobs:read", "preview", "admin"},  # a token listed without scopes has them all
    FILE_FULL: {"intake", "jobs:read", "preview", "admin"},
    ADMIN: {"intake", "jobs:read", "preview", "admin"},
    INTAKE: {"intake"},
    JOBS: {"jobs:read"},
    PREVIEW: {"preview"},
    FILE_SCOPED: {"intake", "jobs:read"},
}
ALLOWED_STATUS = {"push": {202}, "rest-hook": {202}, "bundle": {202}, "job": {404}, "job-list": {200},
                  "preview": {415}}


def call(client, name, method, path, make, ctype, headers):
    body = make() if make else None
    if name == "rest-hook":
        path = f"/fhir/DiagnosticReport/{body['id']}"
    h = dict(headers)
    if ctype:
        h["Content-Type"] = ctype
    return getattr(client, method)(path, data=json.dumps(body) if body is not None else None, headers=h)


@pytest.mark.parametrize("token", list(GRANTS), ids=["full", "file-full", "admin", "intake", "jobs", "preview",
                                                       "file-scoped"])
def test_scope_matrix(scoped_app, store, token, figures):
    client = scoped_app.test_client()
    seen = {}
    for name, method, path, make, ctype, scope in ENDPOINTS:
        before = n_jobs(store)
        r = call(client, name, method, path, make, ctype, bearer(token))
        seen[name] = r.status_code
        if scope in GRANTS[token]:
            assert r.status_code in ALLOWED_STATUS[name], (name, r.get_data(as_text=True)[:300])
        else:
            body = outcome(r, 403, "forbidden")
            assert scope in body["issue"][0]["diagnostics"]
            assert r.headers["WWW-Authenticate"] == f'Bearer realm="radlite", error="insufficient_scope", scope="{scope}"'
            assert n_jobs(store) == before, f"{name}: a refused request stored a job"
    # An unknown path is a 404 to any valid token (the scope check needs a route to know the scope).
    outcome(client.get("/no/such/route", headers=bearer(token)), 404, "not-found")
    figures(statuses=seen)


BAD_HEADERS = [
    ({}, "missing", 'Bearer realm="radlite"'),
    ({"Authorization": "Basic " + "dXNlcjpwYXNz"}, "malformed", 'Bearer realm="radlite", error="invalid_request"'),
    ({"Authorization": "Bearer"}, "malformed", 'Bearer realm="radlite", error="invalid_request"'),
    ({"Authorization": f"Bearer {FULL} extra"}, "malformed", 'Bearer realm="radlite", error="invalid_request"'),
    ({"Authorization": f"Bearer {FULL}x"}, "invalid", 'Bearer realm="radlite", error="invalid_token"'),
    ({"Authorization": f"Bearer {sha(FULL)}"}, "invalid", 'Bearer realm="radlite", error="invalid_token"'),
    ({"Authorization": "Bearer " + "A" * 5000}, "invalid", 'Bearer realm="radlite", error="invalid_token"'),
]


@pytest.mark.parametrize("headers,reason,challenge", BAD_HEADERS,
                         ids=["none", "basic", "empty", "two-words", "wrong", "the-digest", "huge"])
def test_unauthenticated_is_401_everywhere(scoped_app, store, headers, reason, challenge):
    client = scoped_app.test_client()
    for name, method, path, make, ctype, _scope in ENDPOINTS:
        r = call(client, name, method, path, make, ctype, headers)
        outcome(r, 401, "login")
        assert r.headers["WWW-Authenticate"] == challenge, name
    outcome(client.get("/no/such/route", headers=headers), 401, "login")
    outcome(client.delete("/fhir/DiagnosticReport", headers=headers), 401, "login")
    assert n_jobs(store) == 0
    # The probes stay open.
    assert client.get("/healthz").status_code == 200


def test_scope_refusals_come_before_body_checks(scoped_app, store):
    # A wrongly scoped client learns nothing about the body: 403 even for a body that would be 413.
    client = scoped_app.test_client()
    big = b"{" + b" " * 100_000 + b"}"
    r = client.post("/fhir/DiagnosticReport", data=big, headers={**bearer(JOBS), "Content-Type": FHIR_JSON})
    outcome(r, 403, "forbidden")
    r = client.post("/fhir/DiagnosticReport/$preview", data=big, headers={**bearer(INTAKE), "Content-Type": "x/y"})
    outcome(r, 403, "forbidden")
    outcome(client.get("/jobs/" + "0" * 32, headers=bearer(PREVIEW)), 403, "forbidden")
    assert n_jobs(store) == 0


def test_scope_refusal_is_audited_without_the_token(scoped_app):
    buf = io.StringIO()
    configure_logging("INFO", stream=buf)
    try:
        client = scoped_app.test_client()
        call(client, *ENDPOINTS[0][:5], bearer(JOBS))
        call(client, *ENDPOINTS[3][:5], bearer("not-a-token-" + INTAKE))
    finally:
        configure_logging("INFO")
    events = [json.loads(line) for line in buf.getvalue().splitlines() if line.startswith("{")]
    failed = [e for e in events if e.get("event") == "auth.failed"]
    assert [(e["reason"], e.get("scope")) for e in failed] == [("insufficient_scope", "intake"), ("invalid", None)]
    for secret in (JOBS, INTAKE, sha(JOBS), sha(INTAKE)):
        assert secret not in buf.getvalue()


def test_token_file_scopes_rotate_without_restart(scoped_app, store, token_file):
    client = scoped_app.test_client()
    push = ENDPOINTS[0]
    assert call(client, *push[:5], bearer(FILE_SCOPED)).status_code == 202
    token_file.write_text(f"{sha(FILE_SCOPED)} jobs:read\n")
    st = os.stat(token_file)
    os.utime(token_file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    outcome(call(client, *push[:5], bearer(FILE_SCOPED)), 403, "forbidden")
    outcome(client.get("/jobs/" + "0" * 32, headers=bearer(FILE_SCOPED)), 404, "not-found")
    # A digest dropped from the file is a 401 at once.
    outcome(call(client, *push[:5], bearer(FILE_FULL)), 401, "login")


def test_bad_scope_configuration_stops_startup(tmp_path, store):
    bad_file = tmp_path / "tokens.txt"
    bad_file.write_text(f"{sha(FULL)} intake write-everything\n")
    with pytest.raises(SettingsError, match="unknown scope 'write-everything'"):
        create_app(settings_for(tmp_path, mode="token", token_sha256_file=str(bad_file)), store)
    site = tmp_path / "site.yaml"
    for scopes, complaint in ((["root"], "Input should be 'intake', 'jobs:read', 'preview' or 'admin'"),
                              ([], "at least 1 item")):
        site.write_text(yaml.safe_dump({"intake": {"auth": {"tokens": [{"sha256": sha(FULL), "scopes": scopes}]}}}))
        with pytest.raises(SettingsError) as err:
            load_settings(site, environ={})
        assert f"{site}: intake.auth.tokens.0.scopes" in str(err.value) and complaint in str(err.value)
    with pytest.raises(SettingsError, match="not a sha256"):
        create_app(settings_for(tmp_path, mode="token", tokens=[{"sha256": FULL, "scopes": ["intake"]}]), store)
    # A digest in the full-access list cannot carry scopes (the list predates them).
    with pytest.raises(SettingsError, match="not a sha256"):
        create_app(settings_for(tmp_path, mode="token", token_sha256=[f"{sha(FULL)} intake"]), store)


def test_open_mode_grants_every_scope(tmp_path, store):
    client = create_app(settings_for(tmp_path, mode="open"), store).test_client()
    for name, method, path, make, ctype, _scope in ENDPOINTS:
        assert call(client, name, method, path, make, ctype, {}).status_code in ALLOWED_STATUS[name]


# -- ids as paths -------------------------------------------------------------------------------

TRAVERSALS = [
    "..", "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "%2e%2e",
    "%252e%252e%252fetc%252fpasswd", "..%5c..%5cwindows%5cwin.ini", "a/../../b", "...", "x" * 65,
    "%00", "abc%00.json", "%C0%AE%C0%AE%2F", "%EF%BC%8E%EF%BC%8E", "%2F%2Fetc%2Fpasswd", ".%2e/.%2e/etc",
]


@pytest.mark.parametrize("raw", TRAVERSALS)
def test_traversal_ids_in_urls(scoped_app, store, raw):
    client = scoped_app.test_client()
    body = report("harmless")
    r = client.put(f"/fhir/DiagnosticReport/{raw}", data=json.dumps(body),
                   headers={**bearer(FULL), "Content-Type": FHIR_JSON})
    assert r.status_code in (400, 404), r.get_data(as_text=True)[:300]
    OperationOutcome.model_validate(r.get_json(force=True))
    r = client.get(f"/jobs/{raw}", headers=bearer(FULL))
    outcome(r, 404, "not-found")
    assert n_jobs(store) == 0


@pytest.mark.parametrize("field,value", [
    ("id", "../../etc/passwd"), ("id", ".."), ("id", "..."), ("id", "a/b"), ("id", "%2e%2e"), ("id", "x" * 65),
    ("id", "..\\..\\boot.ini"), ("versionId", ".."), ("versionId", "../1"), ("versionId", "v" * 65),
])
def test_traversal_ids_in_bodies(scoped_app, store, field, value):
    client = scoped_app.test_client()
    body = report()
    where = "DiagnosticReport.id"
    if field == "id":
        body["id"] = value
    else:
        body["meta"]["versionId"] = value
        where = "DiagnosticReport.meta.versionId"
    r = client.post("/fhir/DiagnosticReport", data=json.dumps(body), headers={**bearer(FULL), "Content-Type": FHIR_JSON})
    got = outcome(r, 422, "value")
    assert any(where in i.get("expression", []) for i in got["issue"]), got
    # The same in a Bundle: the entry is refused on its own.
    r = client.post("/fhir", data=json.dumps({"resourceType": "Bundle", "type": "batch", "entry": [{"resource": body}]}),
                    headers={**bearer(FULL), "Content-Type": FHIR_JSON})
    assert r.json["entry"][0]["response"]["status"] == "422 Unprocessable Entity"
    assert n_jobs(store) == 0


def test_transaction_put_url_cannot_redirect_an_entry(scoped_app, store):
    client = scoped_app.test_client()
    body = report("real-id")
    entry = {"resource": body, "request": {"method": "PUT", "url": "DiagnosticReport/../../Patient/x"}}
    r = client.post("/fhir", data=json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [entry]}),
                    headers={**bearer(FULL), "Content-Type": FHIR_JSON})
    outcome(r, 422, "invalid")
    assert n_jobs(store) == 0


def test_identifier_values_never_become_paths(mappings):
    # Identifier values are free strings (an accession number may hold "/"): they are allowed, and
    # the write-back uses them only in logical references and percent-encoded search parameters.
    body = report()
    del body["id"]
    hostile = "../../Patient/x?_format=xml&a=/../"
    body["identifier"] = [{"system": "urn:x/../y", "value": hostile}]
    job = SimpleNamespace(resource=body, report_key=f"identifier:urn:x/../y|{hostile}", report_version="1",
                          results={"n_staging": result("N1"), "impression_generation": result("x")})
    plan = plan_transaction(job, mappings)
    Bundle.model_validate(plan.bundle)
    for e in plan.bundle["entry"]:
        req = e["request"]
        condition = req.get("ifNoneExist", "=")
        assert ".." not in req["url"] and ".." not in condition.replace("%2E", "."), req
        assert "/" not in condition.split("=", 1)[1], req
        for ref in _references(e["resource"]):
            assert ".." not in ref, ref


def _references(node) -> list[str]:
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "reference" and isinstance(v, str):
                out.append(v)
            else:
                out.extend(_references(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(_references(v))
    return out


def test_traversal_ids_over_real_http(scoped_app, store):
    # Werkzeug's test client decodes paths before routing; a real server sees the raw request line,
    # with encoded slashes and dots, which http.client sends as written.
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, scoped_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    seen: dict[str, int] = {}
    try:
        for raw in TRAVERSALS + ["/../../../etc/passwd", "..;/..;/etc/passwd", "%u002e%u002e"]:
            for method, path, body in (("PUT", f"/fhir/DiagnosticReport/{raw}", json.dumps(report("harmless"))),
                                       ("GET", f"/jobs/{raw}", None)):
                conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
                conn.request(method, path, body=body, headers={**bearer(FULL), "Content-Type": FHIR_JSON})
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                seen[f"{method} {raw}"] = resp.status
                assert resp.status in (400, 404), (method, raw, resp.status, data[:300])
                OperationOutcome.model_validate(json.loads(data))
    finally:
        server.shutdown()
        thread.join(timeout=10)
    assert n_jobs(store) == 0


# -- markup in reports and model answers --------------------------------------------------------

MARKUP = [
    '<script>alert("x")</script>',
    '<div xmlns="http://www.w3.org/1999/xhtml"><img src=x onerror=alert(1)></div>',
    ']]><!ENTITY xxe SYSTEM "file:///etc/passwd"><x>&xxe;</x>',
    '</div><a href="javascript:alert(1)">click</a><div>',
    '"><svg/onload=alert(1)>',
]


def _resources(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle["entry"]]


def test_writeback_sends_markup_only_as_plain_strings(mappings):
    from fhir.resources.R4B import get_fhir_model_class

    body = report()
    body["conclusion"] = " ".join(MARKUP)
    results = {
        "impression_generation": result(MARKUP[0] + " " + MARKUP[1]),
        "radiology_ner": result([{"text": m, "label": "OBS-DP"} for m in MARKUP]
                                + [{"text": MARKUP[3], "label": "ANAT-DP"}]),
        "temporal_comparison": result([{"finding": MARKUP[2], "change": "new"},
                                       {"finding": "effusion", "change": MARKUP[4]}]),
        "n_staging": result("N1"),
    }
    job = SimpleNamespace(resource=body, report_key=f"DiagnosticReport/{body['id']}", report_version="1",
                          results=results)
    plan = plan_transaction(job, mappings)
    Bundle.model_validate(plan.bundle)
    carried = []
    for res in _resources(plan.bundle):
        get_fhir_model_class(res["resourceType"]).model_validate(res)
        assert "text" not in res, f"{res['resourceType']} carries a narrative"
        assert "contained" not in res
        carried += [s for s in _strings(res) if "<" in s or ">" in s]
    # Every markup string went out verbatim as a JSON string (plain text in FHIR), in the elements
    # that hold text -- never as a div.
    assert carried, "the hostile strings should be carried as text"
    for res in _resources(plan.bundle):
        for path, s in _strings_with_paths(res):
            if "<" in s:
                assert path.split(".")[-1] in ("valueString", "text"), path


def test_amended_observation_loses_the_servers_narrative(mappings):
    body = report()
    body["meta"]["versionId"] = "2"
    earlier = {
        "resourceType": "Observation", "id": "old-1", "status": "preliminary", "code": {"text": "x"},
        "text": {"status": "generated",
                 "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Finding: x</p><script>alert(1)</script></div>'},
        "meta": {"versionId": "1", "security": [{"code": "AIAST"}]},
    }
    job = SimpleNamespace(resource=body, report_key=f"DiagnosticReport/{body['id']}", report_version="2",
                          results={"n_staging": result("N1")})
    plan = plan_transaction(job, mappings, amend=[(earlier, 'W/"1"')])
    amended = [e for e in plan.bundle["entry"] if e["request"]["method"] == "PUT"]
    assert len(amended) == 1
    assert amended[0]["resource"]["status"] == "entered-in-error"
    assert "text" not in amended[0]["resource"]
    assert "<script" not in json.dumps(plan.bundle)
    Bundle.model_validate(plan.bundle)


def test_markup_in_report_text_is_stripped_for_the_model():
    import base64

    from integration.fhir.report import report_text

    body = report()
    html = ("<html><head><title>t</title><script>stealCookies()</script><style>p{}</style></head>"
            "<body><p>Heart size normal.</p><img src=x onerror=alert(1)><iframe src=javascript:1></iframe></body></html>")
    body["presentedForm"] = [{"contentType": "text/html", "data": base64.b64encode(html.encode()).decode()}]
    text = report_text(body)
    assert "Heart size normal." in text
    for bad in ("stealCookies", "onerror", "<", "javascript"):
        assert bad not in text


def _strings(node) -> list[str]:
    return [s for _, s in _strings_with_paths(node)]


def _strings_with_paths(node, path: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _strings_with_paths(v, f"{path}.{k}" if path else k)
    elif isinstance(node, list):
        for v in node:
            out += _strings_with_paths(v, path)
    elif isinstance(node, str):
        out.append((path, node))
    return out


# -- the SMART key's file mode ------------------------------------------------------------------


def _cli(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "integration.ops.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _smart_site(tmp_path: Path, key: Path, fhir_base: str, token_url: str) -> Path:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "ehr": {"base_url": fhir_base, "auth": {"mode": "smart", "client_id": "radlite", "token_url": token_url,
                                                 "private_key_file": str(key), "key_id": "k1"}},
        "audit": {"file": None},
    }))
    return site


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666])
def test_scheduler_refuses_a_smart_key_readable_by_others(tmp_path, mode):
    key, _pub = make_key(tmp_path / "keys" / "client.pem")
    os.chmod(key, mode)
    site = _smart_site(tmp_path, key, "http://127.0.0.1:9/fhir", "http://127.0.0.1:9/token")
    r = _cli(["scheduler", "--once"], child_env(site))
    assert r.returncode != 0, r.stdout + r.stderr
    assert f"SMART private key file {key} is accessible by group or others (mode {mode:04o})" in r.stderr, r.stderr
    assert f"chmod 600 {key}" in r.stderr
    assert "Traceback" not in r.stderr
    # The refusal is the whole story: the key is left as it was, and not a byte of it is printed.
    assert os.stat(key).st_mode & 0o777 == mode
    assert "PRIVATE KEY" not in r.stdout + r.stderr


def test_scheduler_starts_with_a_0600_key(tmp_path):
    key, _pub = make_key(tmp_path / "keys" / "client.pem")
    site = _smart_site(tmp_path, key, "http://127.0.0.1:9/fhir", "http://127.0.0.1:9/token")
    r = _cli(["scheduler", "--once"], child_env(site))
    # No job due, so no token is needed: the run gets past the key check and ends normally.
    assert r.returncode == 0, r.stderr[-2000:]
    assert "accessible by group or others" not in r.stderr


def test_doctor_fails_auth_for_an_open_key(tmp_path, tiny_qwen2):
    key, _pub = make_key(tmp_path / "keys" / "client.pem")
    os.chmod(key, 0o644)
    with StubServer() as fhir:
        site = _smart_site(tmp_path, key, fhir.base, fhir.base.replace("/fhir", "/token"))
        data = yaml.safe_load(site.read_text())
        data["inference"] = {"bundles": {"tiny": str(tiny_qwen2)}, "default_bundle": "tiny"}
        site.write_text(yaml.safe_dump(data))
        r = _cli(["doctor", "--json", "--timeout", "3"], child_env(site))
    auth = [f for f in json.loads(r.stdout) if f["check"] == "auth"]
    assert auth and auth[0]["status"] == "fail", auth
    assert "accessible by group or others (mode 0644)" in auth[0]["detail"] and "0600" in auth[0]["fix"]
    assert r.returncode != 0


# -- secrets never in logs ----------------------------------------------------------------------


def _jwt_like(text: str) -> list[str]:
    return re.findall(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", text)


@pytest.mark.slow
def test_secrets_and_report_text_never_reach_logs(tmp_path, pg_url, sekmet_factory, tiny_qwen2, figures):
    from sqlalchemy.engine import make_url

    db_password = "pw-" + uuid.uuid4().hex
    audit_secret = "audit-" + uuid.uuid4().hex
    intake_token = "intake-" + uuid.uuid4().hex
    wrong_token = "wrong-" + uuid.uuid4().hex
    key, pub = make_key(tmp_path / "keys" / "smart.pem")
    key_lines = [ln for ln in key.read_text().splitlines() if ln and "PRIVATE KEY" not in ln]
    server = sekmet_factory(bearer_tokens=["admin-" + uuid.uuid4().hex],
                            smart_clients=[SmartClient("radlite", pub, scopes="system/*.*")])
    # trust auth on the test server ignores the password; the processes still hold it in their URL.
    store_url = make_url(pg_url).set(password=db_password).render_as_string(hide_password=False)
    assert db_password in store_url

    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "inference": {"bundles": {"tiny": str(tiny_qwen2)}, "default_bundle": "tiny", "threads": 1},
        "intake": {"auth": {"mode": "token", "token_sha256": [sha(intake_token)]}},
        "ehr": {"base_url": server.base_url, "auth": {
            "mode": "smart", "client_id": "radlite", "token_url": server.token_url, "private_key_file": str(key),
            "key_id": "k1", "scope": "system/*.write system/*.read"}},
        "routing": {"rules": [], "default_tasks": ["n_staging", "m_staging"]},
        "audit": {"file": str(tmp_path / "audit" / "audit.jsonl")},
    }))
    env = child_env(site, RADLITE__STORE__URL=store_url, RADLITE_AUDIT_SECRET=audit_secret)

    reports = []
    for r in copy.deepcopy(sample_diagnostic_reports()[:3]):
        r["id"] = f"{r['id']}-{uuid.uuid4().hex[:8]}"
        r.pop("meta", None)
        server.put({"resourceType": "Patient", "id": r["subject"]["reference"].split("/", 1)[1],
                    "name": [{"family": "Testpatient"}]})
        # The EHR holds the report before it pushes it (the write-back checks the pushed version).
        r["meta"] = {"versionId": server.put(copy.deepcopy(r))["meta"]["versionId"]}
        reports.append(r)

    port = free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    serve_log = open(logs / "serve.log", "wb")
    serve = subprocess.Popen([sys.executable, "-m", "integration.ops.cli", "serve", "--port", str(port)], cwd=ROOT,
                             env=env, stdout=serve_log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            try:
                return requests.get(base + "/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return serve.poll() is not None
        wait_for(up, 90, "radlite serve", detail=lambda: (logs / "serve.log").read_text()[-2000:])
        assert serve.poll() is None, (logs / "serve.log").read_text()[-2000:]
        locations = []
        for r in reports:
            resp = requests.post(base + "/fhir/DiagnosticReport", json=r, timeout=30,
                                 headers={**bearer(intake_token), "Content-Type": FHIR_JSON})
            assert resp.status_code == 202, resp.text
            locations.append(resp.headers["Location"])
        assert requests.post(base + "/fhir/DiagnosticReport", json=reports[0], timeout=30,
                             headers={**bearer(wrong_token), "Content-Type": FHIR_JSON}).status_code == 401
        bad = dict(reports[0], id="../../etc/passwd")
        assert requests.post(base + "/fhir/DiagnosticReport", json=bad, timeout=30,
                             headers={**bearer(intake_token), "Content-Type": FHIR_JSON}).status_code == 422

        runs = {}
        for name, args in (("worker", ["worker", "--once"]), ("scheduler", ["scheduler", "--once"]),
                           ("doctor", ["doctor", "--timeout", "5"])):
            runs[name] = _cli(args, env, timeout=300)
            (logs / f"{name}.log").write_text(runs[name].stdout + "\n" + runs[name].stderr)
        assert runs["worker"].returncode == 0, runs["worker"].stderr[-2000:]
        assert runs["scheduler"].returncode == 0, runs["scheduler"].stderr[-2000:]
        # A failing database connection is where a URL most often leaks into a message.
        dead_url = make_url(store_url).set(port=free_port()).render_as_string(hide_password=False)
        runs["worker-no-db"] = _cli(["worker", "--once"], {**env, "RADLITE__STORE__URL": dead_url}, timeout=120)
        (logs / "worker-no-db.log").write_text(runs["worker-no-db"].stdout + "\n" + runs["worker-no-db"].stderr)
        assert runs["worker-no-db"].returncode != 0
        # One clear line, the password masked, no traceback (which could carry SQL and parameters).
        assert "Traceback" not in runs["worker-no-db"].stderr, runs["worker-no-db"].stderr[-1500:]
        assert f"database postgresql+psycopg://postgres:***@127.0.0.1:{make_url(dead_url).port}/" in runs["worker-no-db"].stderr
        assert "unreachable" in runs["worker-no-db"].stderr

        states = [requests.get(loc, headers=bearer(intake_token), timeout=10).json()["state"] for loc in locations]
        assert states == ["written"] * 3, states
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
        serve_log.close()

    texts = {p.name: p.read_text(encoding="utf-8", errors="replace") for p in logs.iterdir()}
    texts.update({f"audit/{p.name}": p.read_text(encoding="utf-8") for p in (tmp_path / "audit").iterdir()})
    everything = "\n".join(texts.values())
    # The logs are not empty: the processes did log the work, as JSON lines with events.
    events = {json.loads(ln).get("event") for ln in everything.splitlines() if ln.startswith("{")}
    assert {"job.queued", "auth.failed", "request.rejected"} <= events, events
    assert any(e and e.startswith("writeback") for e in events) or "written" in everything, events

    secrets = {"intake token": intake_token, "wrong token": wrong_token, "database password": db_password,
               "audit secret": audit_secret, "intake token digest": sha(intake_token)}
    secrets.update({f"private key line {i}": line for i, line in enumerate(key_lines)})
    phi = {f"report id {r['id']}": r["id"] for r in reports}
    phi.update({f"subject of {r['id']}": r["subject"]["reference"] for r in reports})
    # Every line of report text long enough to be distinctive (the models read all of it).
    phi.update({f"text of {r['id']}: line {n}": line.strip() for r in reports
                for n, line in enumerate(report_text(r).splitlines()) if len(line.strip()) >= 20})
    for name, text in texts.items():
        for what, value in {**secrets, **phi}.items():
            assert value not in text, f"{what} found in {name}"
        assert not _jwt_like(text), f"a JWT (assertion or access token) found in {name}"
        assert not re.search(r"Bearer\s+[A-Za-z0-9\-._~+/]{8,}", text), f"a bearer credential found in {name}"
    figures(processes=["serve", "worker", "scheduler", "doctor", "worker (database down)"],
            log_bytes=len(everything), secrets_checked=len(secrets), phi_values_checked=len(phi))
