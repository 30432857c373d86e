"""Fuzzing the FHIR intake (issue 9) with hypothesis, against the real Flask app and a real store.

Every hostile input gets a 4xx with a FHIR OperationOutcome -- the right status for what is wrong
(400 JSON, 413 size, 415 content type, 422 FHIR validation) -- never a 5xx, never a crash; reports
that happen to stay valid are accepted, and exactly when the validator says so. Between the hostile
inputs, every tenth case, a fresh valid report is pushed: each one is accepted and stored as a job,
and nothing else is (job counts are checked exactly per test).

Categories (one test each): malformed JSON, wrong resource types, missing and wrong-typed fields,
huge strings, nesting bombs, bad base64 in presentedForm, HTML/script in presentedForm, unicode
edge cases (lone surrogates, NUL, RTL overrides, overlong and other invalid UTF-8), duplicated
keys, wrong content types, oversize bodies, random Bundles, ids in PUT URLs; the key fields again
against PostgreSQL; and a smaller mixed batch over real HTTP to a gunicorn process, which must keep
its worker process throughout, after which the valid reports sent in between are processed by a
``radlite worker`` process.

Reproducible: ``derandomize=True`` and no example database, so CI runs the same cases every time.
About 1,300 cases in CI (under two minutes on two cores); RADLITE_RELIABILITY_LONG=1 runs ten times
as many. Each test records its figures: cases tried and the statuses seen.
"""

from __future__ import annotations

import base64
import binascii
import copy
import encodings.aliases
import hashlib
import html
import http.client
import io
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from integration.audit import configure_logging
from integration.fhir.report import check_report, report_text
from integration.intake.http.app import create_app
from integration.samples import sample_diagnostic_reports
from integration.settings import Settings
from integration.store import JobStore
from tests.integration.postgres import empty_pg_url, pg_url  # noqa: F401 -- pytest fixtures, taken by name as test parameters
from tests.reliability.harness import gunicorn_process

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 64_000  # intake.max_body_bytes here: oversize bodies stay cheap to make
MAX_DEPTH = 100  # integration.fhir.strict_json.MAX_JSON_DEPTH, as documented in docs/api.md
TOKEN = "fuzz-token-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FHIR_JSON = "application/fhir+json"
JSON_TYPES = ("application/fhir+json", "application/json")
VALID_EVERY = 10  # a valid report after every this many hostile cases
REPORT = "/fhir/DiagnosticReport"
PREVIEW = "/fhir/DiagnosticReport/$preview"
ENDPOINTS = ("report", "bundle", "put", "preview")
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_ids = itertools.count(1)


def examples(n: int, long_mode: bool) -> int:
    return n * 10 if long_mode else n


def fuzz_settings(n: int) -> settings:
    return settings(max_examples=n, deadline=None, derandomize=True, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much, HealthCheck.large_base_example])


# -- oracles: what a strict reader makes of the bytes, independently of the product --------------


class _Dup(ValueError):
    pass


def strict_json(data: bytes) -> tuple[bool, Any]:
    """(True, value) when ``data`` is one strict JSON document (UTF-8, no NaN, no duplicate keys)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False, None
    if not text.strip():
        return False, None

    def hook(pairs):
        if len({k for k, _ in pairs}) != len(pairs):
            raise _Dup()
        return dict(pairs)

    def constant(_name):
        raise ValueError("not JSON")

    try:
        return True, json.loads(text, object_pairs_hook=hook, parse_constant=constant)
    except (ValueError, RecursionError):
        return False, None


def depth(value: Any) -> int:
    best, stack = 0, [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        node, d = stack.pop()
        best = max(best, d)
        for child in (node.values() if isinstance(node, dict) else node):
            if isinstance(child, (dict, list)):
                stack.append((child, d + 1))
    return best


def has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(has_surrogate(k) or has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_surrogate(v) for v in value)
    return False


def valid_id(value: str) -> bool:
    return bool(_FHIR_ID.match(value)) and value.strip(".") != ""


def content_type_ok(ctype: str | None, encoding: str | None) -> bool:
    """docs/api.md: application/fhir+json or application/json, UTF-8, FHIR 4.x, no Content-Encoding."""
    if not ctype:
        return False
    parts = ctype.split(";")
    if parts[0].strip().lower() not in JSON_TYPES:
        return False
    params = {}
    for part in parts[1:]:
        if "=" in part:
            k, v = part.split("=", 1)
            params[k.strip().lower()] = v.strip().strip('"')
    if params.get("charset") is not None and params["charset"].lower() not in ("utf-8", "utf8"):
        return False
    if params.get("fhirversion") is not None and not params["fhirversion"].startswith("4."):
        return False
    return not (encoding and encoding.strip().lower() != "identity")


def b64_ok(data: str) -> bool:
    try:
        base64.b64decode("".join(data.split()), validate=True)
        return True
    except (binascii.Error, ValueError):
        return False


# -- reports -------------------------------------------------------------------------------------


def fresh(index: int = 0) -> dict:
    """A valid sample report with an id (and identifier) no other case uses."""
    r = copy.deepcopy(sample_diagnostic_reports()[index % 10])
    n = next(_ids)
    r["id"] = f"fz-{n}-{uuid.uuid4().hex[:8]}"
    r["identifier"] = [{"system": "urn:example:fuzz", "value": f"acc-{n}-{uuid.uuid4().hex[:8]}"}]
    return r


def as_bundle(resource: dict, btype: str = "batch") -> dict:
    return {"resourceType": "Bundle", "type": btype, "entry": [{"resource": resource}]}


# -- the app under test --------------------------------------------------------------------------


@dataclass
class Tally:
    """What one category tried and saw (the figures for docs/reliability.md)."""

    category: str
    cases: int = 0
    statuses: Counter = field(default_factory=Counter)
    created: int = 0  # jobs the hostile cases themselves created (valid by chance)
    valid_sent: int = 0
    valid_jobs: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        return {"cases": self.cases, "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "valid_reports_between": self.valid_sent}


class Intake:
    """The Flask app (token auth, SQLite store, a 64 kB body limit) and the checks every answer
    must pass."""

    def __init__(self, tmp: Path) -> None:
        self.store = JobStore(f"sqlite:///{tmp / 'jobs.sqlite'}")
        self.settings = Settings.model_validate({
            "store": {"url": f"sqlite:///{tmp / 'jobs.sqlite'}"},
            "intake": {"max_body_bytes": LIMIT, "auth": {
                "mode": "token", "token_sha256": [hashlib.sha256(TOKEN.encode()).hexdigest()]}},
            # No fuzz case may ever reach a model ($preview of a valid report queues it for a
            # worker): a bundle that does not exist would answer 503, which the never-5xx check catches.
            "inference": {"bundles": {"none": str(tmp / "no-such-bundle")}},
            "audit": {"file": None},
        })
        self.log = io.StringIO()
        configure_logging("INFO", stream=self.log)
        self.app = create_app(self.settings, self.store)
        self.client = self.app.test_client()

    def close(self) -> None:
        configure_logging("INFO")
        self.store.close()

    def jobs(self) -> int:
        return sum(self.store.counts().values())

    def send(self, endpoint: str, data: bytes | None, *, headers: dict[str, str] | None = None,
             put_id: str = "fz-put") -> Any:
        h = {**AUTH, "Content-Type": FHIR_JSON}
        if headers is not None:
            h = {**AUTH, **headers}
        method, path = {"report": ("post", REPORT), "bundle": ("post", "/fhir"),
                        "put": ("put", f"{REPORT}/{put_id}"), "preview": ("post", PREVIEW)}[endpoint]
        return getattr(self.client, method)(path, data=data, headers=h)

    def check(self, resp, tally: Tally, allowed: set[int], *, code: str | None = None,
              expression: str | None = None, secret: str | None = None) -> dict:
        """The properties every answer has; returns the body."""
        status = resp.status_code
        tally.statuses[status] += 1
        raw = resp.get_data()
        assert status < 500, f"{tally.category}: {status} {raw[:400]!r}"
        assert status in allowed, f"{tally.category}: {status} not in {sorted(allowed)}: {raw[:400]!r}"
        assert resp.mimetype == FHIR_JSON, (status, resp.mimetype)
        assert re.match(r"^[A-Za-z0-9._-]{1,64}$", resp.headers.get("X-Request-ID", ""))
        body = json.loads(raw)
        if secret is not None:
            # Diagnostics never quote the input.
            assert secret.encode() not in raw, f"{tally.category}: the answer quotes the input"
        if status >= 400:
            OperationOutcome.model_validate(body)
            errors = [i for i in body["issue"] if i["severity"] in ("error", "fatal")]
            assert errors, body
            if code is not None:
                assert any(i["code"] == code for i in errors), (code, body)
            if expression is not None:
                assert any(expression in i.get("expression", []) for i in errors), (expression, body)
        elif status in (200, 202) and body.get("resourceType") == "Bundle":
            Bundle.model_validate(body)
            tally.created += sum(e["response"]["status"].startswith("202") for e in body["entry"])
        elif status == 202:
            OperationOutcome.model_validate(body)
            tally.created += 1
            assert resp.headers["Location"].rsplit("/", 1)[1] in self._job_ids(resp)
        return body

    def _job_ids(self, resp) -> set[str]:
        jid = resp.headers["Location"].rsplit("/", 1)[1]
        return {jid} if self.store.get(jid) is not None else set()

    def send_valid(self, tally: Tally) -> None:
        r = self.send("report", json.dumps(fresh(tally.valid_sent)).encode())
        assert r.status_code == 202, f"{tally.category}: a valid report between hostile ones got {r.status_code}: {r.get_data()[:300]!r}"
        tally.valid_sent += 1
        tally.valid_jobs.append(r.headers["Location"].rsplit("/", 1)[1])

    def finish(self, tally: Tally, jobs_before: int, figures: Callable[..., None]) -> None:
        """Every valid report in between is a stored job; nothing else was stored."""
        for jid in tally.valid_jobs:
            job = self.store.get(jid)
            assert job is not None and job.state == "received", jid
        assert self.jobs() - jobs_before == tally.valid_sent + tally.created
        # No internal error was logged, and no answer was a 5xx.
        assert '"request.failed"' not in self.log.getvalue()
        assert not any(s >= 500 for s in tally.statuses)
        figures(**tally.figures())


@pytest.fixture(scope="module")
def intake(tmp_path_factory) -> Intake:
    env = Intake(tmp_path_factory.mktemp("fuzz"))
    yield env
    env.close()


def run(intake: Intake, figures, category: str, strategy, n: int, case: Callable[[Intake, Any, Tally], None]) -> Tally:
    """Run ``case`` on ``n`` generated inputs, a valid report after every VALID_EVERY of them."""
    tally = Tally(category)
    before = intake.jobs()

    @fuzz_settings(n)
    @given(strategy)
    def inner(value):
        case(intake, value, tally)
        tally.cases += 1
        if tally.cases % VALID_EVERY == 0:
            intake.send_valid(tally)

    inner()
    intake.finish(tally, before, figures)
    return tally


# -- strategies shared by several categories -----------------------------------------------------

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 40), 2 ** 40),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
json_any = st.recursive(json_leaf, lambda ch: st.lists(ch, max_size=3) | st.dictionaries(st.text(max_size=8), ch, max_size=3),
                        max_leaves=8)


# -- 1. malformed JSON ---------------------------------------------------------------------------

_VALID = json.dumps(sample_diagnostic_reports()[0]).encode()
MALFORMED_FIXED = [
    b"NaN", b'{"resourceType": "DiagnosticReport", "x": NaN}', b"[]", b"null", b"true", b'"DiagnosticReport"',
    b"{,}", b"{'a': 1}", b'{"a":1,}', b"\xef\xbb\xbf", b"   ", b'{"resourceType": Infinity}', b'{"a": -Infinity}',
    b"1e999", b'{"a": 1', b"}", b"\x00", b'{"resourceType":"DiagnosticReport"}\x00', b'{"a":1} {"b":2}',
    b"\xff\xfe{\x00}\x00", b'{"a":"\\x41"}', b'{"a":"\\u12"}', b'{"a":01}', b'{"a":.5}', b'{"a":+1}',
    b'{"a":"line\nbreak"}', b"{\"a\":\"tab\there\"}", b'/* comment */ {}', b"<DiagnosticReport/>",
]


@st.composite
def malformed(draw):
    body = draw(st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.integers(0, len(_VALID) - 1).map(lambda n: _VALID[:n]),
        st.tuples(st.integers(0, len(_VALID) - 1), st.binary(min_size=1, max_size=3)).map(
            lambda t: _VALID[:t[0]] + t[1] + _VALID[t[0] + 1:]),
        st.sampled_from(MALFORMED_FIXED),
        json_any.filter(lambda v: not isinstance(v, dict)).map(lambda v: json.dumps(v).encode()),
    ))
    endpoint = draw(st.sampled_from(ENDPOINTS))
    ok, value = strict_json(body)
    # $preview of a body that is a valid report waits for a worker (none here): not a fuzz case.
    assume(not (endpoint == "preview" and ok and isinstance(value, dict)))
    return endpoint, body


def _malformed_case(intake: Intake, value, tally: Tally) -> None:
    endpoint, body = value
    ok, parsed = strict_json(body)
    resp = intake.send(endpoint, body)
    if endpoint == "bundle" and not body.strip():
        intake.check(resp, tally, {200})  # R4 rest-hook ping without payload: documented, nothing queued
    elif not ok or not isinstance(parsed, dict) or depth(parsed) > MAX_DEPTH:
        intake.check(resp, tally, {400}, code="structure")
    else:  # the corruption left a JSON object: judged as any other object
        intake.check(resp, tally, {200, 202, 400, 422})


def test_malformed_json(intake, long_mode, figures):
    run(intake, figures, "malformed JSON", malformed(), examples(150, long_mode), _malformed_case)


# -- 2. wrong resource types ---------------------------------------------------------------------

MISSING = object()
resource_types = st.one_of(
    st.sampled_from(["Patient", "Observation", "Bundle", "OperationOutcome", "diagnosticreport", "DIAGNOSTICREPORT",
                     "DiagnosticReport ", " DiagnosticReport", "DiagnosticReport\u200b", "Diagnostic Report", "",
                     "DiagnosticReport/1", "ImagingStudy", "DocumentReference", "Parameters", "SubscriptionStatus",
                     "Diagnosticreport", "DiagnosticReport\x00"]),
    st.text(max_size=30), st.integers(), st.none(), st.booleans(), st.lists(st.text(max_size=5), max_size=3),
    st.just(MISSING),
).filter(lambda v: v != "DiagnosticReport")


def _wrong_type_case(intake: Intake, value, tally: Tally) -> None:
    rtype, endpoint = value
    r = fresh()
    if rtype is MISSING:
        del r["resourceType"]
    else:
        r["resourceType"] = rtype
    put_id = r["id"]
    resp = intake.send(endpoint, json.dumps(r).encode(), put_id=put_id)
    if endpoint == "bundle" and rtype == "Bundle":
        intake.check(resp, tally, {422})  # a Bundle with a report's elements: invalid Bundle
    else:
        intake.check(resp, tally, {400}, code="invalid", expression="resourceType")


def test_wrong_resource_types(intake, long_mode, figures):
    run(intake, figures, "wrong resource types", st.tuples(resource_types, st.sampled_from(ENDPOINTS)),
        examples(80, long_mode), _wrong_type_case)


# -- 3. missing and wrong-typed fields -----------------------------------------------------------

DELETE = object()
FIELD_PATHS = [
    ("id",), ("meta",), ("meta", "versionId"), ("identifier",), ("identifier", 0, "value"), ("status",),
    ("category",), ("category", 0), ("code",), ("code", "coding", 0, "code"), ("code", "text"), ("subject",),
    ("subject", "reference"), ("effectiveDateTime",), ("issued",), ("presentedForm",), ("presentedForm", 0),
    ("presentedForm", 0, "contentType"), ("presentedForm", 0, "data"), ("conclusion",), ("text",), ("text", "div"),
    ("foo",), ("_status",), ("contained",), ("extension",), ("effectivePeriod",), ("result",), ("performer",),
]


def mutate(resource: dict, path: tuple, value: Any) -> None:
    node: Any = resource
    for step in path[:-1]:
        if isinstance(step, int):
            if not isinstance(node, list) or len(node) <= step:
                return
        elif not isinstance(node, dict) or step not in node:
            return
        node = node[step]
    last = path[-1]
    if isinstance(last, int):
        if isinstance(node, list) and len(node) > last:
            if value is DELETE:
                del node[last]
            else:
                node[last] = value
    elif isinstance(node, dict):
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value


def _fields_case(intake: Intake, value, tally: Tally) -> None:
    index, mutations = value
    r = fresh(index)
    for path, new in mutations:
        mutate(r, path, new)
    resp = intake.send("report", json.dumps(r).encode())
    body = intake.check(resp, tally, {200, 202, 422})
    # The HTTP answer agrees with the validator: accepted exactly when it finds no error.
    errors = [i for i in check_report(r) if i.is_error]
    assert (resp.status_code in (200, 202)) == (not errors), (errors, body)


def test_missing_and_wrong_typed_fields(intake, long_mode, figures):
    mutation = st.tuples(st.sampled_from(FIELD_PATHS), st.one_of(st.just(DELETE), json_any))
    run(intake, figures, "missing and wrong-typed fields",
        st.tuples(st.integers(0, 9), st.lists(mutation, min_size=1, max_size=4)), examples(200, long_mode), _fields_case)


# -- 4. huge strings -----------------------------------------------------------------------------

HUGE_FIELDS = ["conclusion", "code.text", "id", "subject.reference", "identifier.value", "status",
               "effectiveDateTime", "meta.versionId", "presentedForm.text", "presentedForm.contentType", "unknown",
               "extension.url", "text.div", "key"]


def _huge_case(intake: Intake, value, tally: Tally) -> None:
    where, size, unit = value
    marker = f"HUGEMARK{next(_ids)}Q"
    text = (marker + unit * size)[:max(size, len(marker))]
    r = fresh(3)
    if where == "conclusion":
        r["conclusion"] = text
    elif where == "code.text":
        r["code"]["text"] = text
    elif where == "id":
        r["id"] = text
    elif where == "subject.reference":
        r["subject"]["reference"] = "Patient/" + text
    elif where == "identifier.value":
        del r["id"]
        r["identifier"][0]["value"] = text
    elif where == "status":
        r["status"] = text
    elif where == "effectiveDateTime":
        r["effectiveDateTime"] = text
    elif where == "meta.versionId":
        r["meta"]["versionId"] = text
    elif where == "presentedForm.text":
        r["presentedForm"] = [{"contentType": "text/plain", "data": base64.b64encode(text.encode()).decode()}]
    elif where == "presentedForm.contentType":
        r["presentedForm"] = [{"contentType": text, "data": "SGVsbG8="}]
    elif where == "unknown":
        r["unknownElement"] = text
    elif where == "extension.url":
        r["extension"] = [{"url": text, "valueString": "x"}]
    elif where == "text.div":
        r["text"] = {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{html.escape(text)}</div>'}
    else:
        r[text] = 1
    body = json.dumps(r).encode()
    resp = intake.send("report", body)
    if len(body) > LIMIT:
        intake.check(resp, tally, {413}, code="too-long", secret=marker)
    elif where in ("conclusion", "presentedForm.text", "text.div"):
        # Report text longer than the model can read (intake.max_report_chars) is 413 too (issue 20).
        found = intake.check(resp, tally, {200, 202, 413, 422}, secret=marker)
        assert resp.status_code != 413 or found["issue"][0]["code"] == "too-long", found
    else:
        intake.check(resp, tally, {200, 202, 422}, secret=marker)
    # Not in the log either (report content never is).
    assert marker not in intake.log.getvalue()


def test_huge_strings(intake, long_mode, figures):
    sizes = st.one_of(st.integers(1_000, LIMIT - 4_000), st.integers(LIMIT + 1, 4 * LIMIT))
    units = st.sampled_from(["a", "é", "𝄞", "<", "\\", '"', " ", "\n", "A1-.", "\u202e", "\x01"])
    run(intake, figures, "huge strings", st.tuples(st.sampled_from(HUGE_FIELDS), sizes, units),
        examples(60, long_mode), _huge_case)


# -- 5. nesting bombs ----------------------------------------------------------------------------


def nest(kind: str, levels: int) -> str:
    if kind == "array":
        return "[" * levels + "]" * levels
    if kind == "object":
        return '{"a":' * levels + "1" + "}" * levels
    pairs = (levels + 1) // 2  # mixed: {"e":[{"e":[...]}]}
    return '{"e":[' * pairs + "]}" * pairs


def _nesting_case(intake: Intake, value, tally: Tally) -> None:
    kind, levels, where = value
    inner = nest(kind, levels)
    r = fresh()
    # The bomb replaces (or adds) one element; json.dumps would itself recurse, so it goes in as text.
    r["extension" if where == "bundle" else where] = "__NEST__"
    if where == "body":
        body = inner
    elif where == "bundle":
        body = json.dumps(as_bundle(r)).replace('"__NEST__"', inner)
    else:
        body = json.dumps(r).replace('"__NEST__"', inner)
    data = body.encode()
    assert len(data) <= LIMIT
    ok, parsed = strict_json(data)
    endpoint = "bundle" if where == "bundle" else "report"
    resp = intake.send(endpoint, data)
    if not ok or depth(parsed) > MAX_DEPTH:
        intake.check(resp, tally, {400}, code="structure")
    else:
        intake.check(resp, tally, {200, 202, 400, 422})


def test_nesting_bombs(intake, long_mode, figures):
    levels = st.one_of(st.integers(MAX_DEPTH - 8, MAX_DEPTH + 8), st.integers(1, 4000))
    wheres = st.sampled_from(["body", "extension", "code", "contained", "subject", "bundle"])
    run(intake, figures, "nesting bombs", st.tuples(st.sampled_from(["array", "object", "mixed"]), levels, wheres),
        examples(100, long_mode), _nesting_case)


# -- 6. bad base64 in presentedForm --------------------------------------------------------------

bad_base64 = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["abc", "====", "YQ", "YQ=", "-_-_", "YWJj*", "%%%", "YWJj====", "Zm9v\x00", "data:text/plain;base64,Zm9v",
                     "Zm9v\u00e9", "Zm9v\u202e", "=Zm9v", "Zm=9v", "Zm9v\\n"]),
    st.tuples(st.integers(0, 30), st.sampled_from(list("!*%$#@~-_ä€\\\"'"))).map(
        lambda t: base64.b64encode(b"x" * 24).decode()[:t[0]] + t[1] + base64.b64encode(b"x" * 24).decode()[t[0]:]),
).filter(lambda s: "".join(s.split()) != "" and not b64_ok(s))


def _base64_case(intake: Intake, value, tally: Tally) -> None:
    data, position, ctype = value
    r = fresh(0)
    good = r["presentedForm"][0]
    forms = [copy.deepcopy(good) for _ in range(3)]
    forms[position] = {"contentType": ctype, "data": data}
    r["presentedForm"] = forms
    resp = intake.send("report", json.dumps(r).encode())
    intake.check(resp, tally, {422}, expression=f"DiagnosticReport.presentedForm[{position}].data")


def test_bad_base64_in_presented_form(intake, long_mode, figures):
    ctypes = st.sampled_from(["text/plain", "text/html", "text/plain; charset=utf-8", "application/pdf"])
    run(intake, figures, "bad base64", st.tuples(bad_base64, st.integers(0, 2), ctypes), examples(80, long_mode),
        _base64_case)


# -- 6b. attachment content types and charsets ---------------------------------------------------

# Every charset name Python knows (aliases included), and codecs lookup finds that are no charset.
CHARSETS = sorted(set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values()))
charsets = st.one_of(st.sampled_from(CHARSETS), st.sampled_from(["base64", "zlib", "rot13", "hex", "uu", "bz2", "quopri",
                                                                  "undefined", "punycode", "idna", "unicode_escape",
                                                                  "utf-8\x00", "", '"utf-8"', "UTF-8 ", "x" * 300]),
                     st.text(max_size=20))


def _charset_case(intake: Intake, value, tally: Tally) -> None:
    mime, charset, data = value
    r = fresh(0)
    r["presentedForm"] = [{"contentType": f"{mime}; charset={charset}", "data": base64.b64encode(data).decode()}]
    resp = intake.send("report", json.dumps(r).encode())
    intake.check(resp, tally, {200, 202, 422})


def test_attachment_charsets(intake, long_mode, figures):
    mimes = st.sampled_from(["text/plain", "text/html", "application/xhtml+xml", "application/pdf", "TEXT/PLAIN"])
    data = st.one_of(st.binary(max_size=40), st.sampled_from([b"Heart normal.", "Cœur normal.".encode("cp1252"),
                                                              "心脏正常".encode("gb18030"), b"\xff\xfe\x00"]))
    run(intake, figures, "attachment charsets", st.tuples(mimes, charsets, data), examples(80, long_mode), _charset_case)


# -- 7. HTML and script in presentedForm ---------------------------------------------------------

text_node = st.text(alphabet=st.characters(blacklist_characters="<>&", blacklist_categories=("Cs",)), max_size=20)
entity = st.sampled_from(["&lt;script&gt;alert(1)&lt;/script&gt;", "&#60;", "&#x3C;", "&amp;", "&nbsp;", "&bogus;",
                          "&#0;", "&#xD800;", "&#1114112;"])
tag_names = st.sampled_from(["p", "div", "b", "i", "br", "iframe", "img", "a", "svg", "math", "template", "noscript",
                             "object", "embed", "title", "head", "body", "html", "table", "tr", "td", "pre", "textarea",
                             "span", "ul", "li", "h1", "form", "input", "base", "meta", "link"])
attributes = st.sampled_from(['', ' onload="alert(1)"', ' onerror=alert(1)', ' href="javascript:alert(1)"', ' src=x',
                              ' style="background:url(javascript:alert(1))"', ' xmlns="http://www.w3.org/1999/xhtml"'])


@st.composite
def html_doc(draw):
    parts = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["text", "entity", "open", "close", "element", "comment", "cdata", "doctype"]))
        if kind == "text":
            parts.append(draw(text_node))
        elif kind == "entity":
            parts.append(draw(entity))
        elif kind == "open":
            parts.append(f"<{draw(tag_names)}{draw(attributes)}>")
        elif kind == "close":
            parts.append(f"</{draw(tag_names)}>")
        elif kind == "element":
            name = draw(tag_names)
            parts.append(f"<{name}{draw(attributes)}>{draw(text_node)}</{name}>")
        elif kind == "comment":
            parts.append(f"<!-- {draw(text_node)} -->")
        elif kind == "cdata":
            parts.append(f"<![CDATA[{draw(text_node)}]]>")
        else:
            parts.append("<!DOCTYPE html>")
    n = next(_ids)
    hidden = [f"<script>SCRIPTMARK{n}Q document.cookie</script>", f"<style>STYLEMARK{n}Q {{}}</style>",
              f'<script type="text/javascript">//<![CDATA[\nSCRIPTMARK{n}Q\n//]]></script>']
    for h in draw(st.lists(st.sampled_from(hidden), min_size=1, max_size=3)):
        parts.insert(draw(st.integers(0, len(parts))), h)
    return "".join(parts), n


def _html_case(intake: Intake, value, tally: Tally) -> None:
    (doc, n), ctype = value
    r = fresh(2)  # the sample whose text is an HTML attachment
    r["presentedForm"] = [{"contentType": ctype, "data": base64.b64encode(doc.encode("utf-8")).decode()}]
    resp = intake.send("report", json.dumps(r).encode())
    body = intake.check(resp, tally, {200, 202, 422})
    if resp.status_code == 422:
        # Valid base64 in a known charset: the only possible complaint is that no text is left.
        assert {i["code"] for i in body["issue"] if i["severity"] == "error"} == {"required"}, body
        return
    text = report_text(r)
    assert f"SCRIPTMARK{n}Q" not in text and f"STYLEMARK{n}Q" not in text
    job = intake.store.get(resp.headers["Location"].rsplit("/", 1)[1])
    assert job.resource == r  # stored as received: the markup is the EHR's, untouched


def test_html_and_script_in_presented_form(intake, long_mode, figures):
    ctypes = st.sampled_from(["text/html", "text/html; charset=utf-8", "application/xhtml+xml", "TEXT/HTML"])
    run(intake, figures, "HTML/script in presentedForm", st.tuples(html_doc(), ctypes), examples(80, long_mode),
        _html_case)


# -- 8. unicode edge cases -----------------------------------------------------------------------

ESCAPES = ["\\ud800", "\\udfff", "\\udc00\\ud800", "\\ud83d", "\\u0000", "\\u202e", "\\u2066", "\\ufeff",
           "\\ufffe", "\\uffff", "\\u200b", "\\u0085", "\\u2028", "\\u001b[31m", "\\ud83d\\ude00"]
RAW_TEXT = ["\u202e", "\u2066\u2069", "\u200f", "\ufeff", "\ufffe", "\U0010ffff", "e\u0301", "\U0001F469\u200d\u2695\ufe0f",
            "\u00a0", "\u0085", "\u2028", "\u0000", "\t", "\x1b", "\x7f", "\x01"]
RAW_BYTES = [b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
             b"\xed\xa0\xbd\xed\xb8\x80", b"\xe2\x82", b"\x80", b"\xe9", b"\xff", b"\xf4\x90\x80\x80", b"\xfe", b"\xf8\x88\x80\x80\x80"]
unicode_payload = st.one_of(
    st.sampled_from(ESCAPES).map(str.encode),
    st.sampled_from(RAW_TEXT).map(lambda s: s.encode("utf-8")),
    st.sampled_from(RAW_BYTES),
    st.text(alphabet=st.characters(codec=None), min_size=1, max_size=6).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.text(alphabet=st.characters(categories=["Cs", "Cc", "Cf", "Co", "Zl", "Zp"]), min_size=1, max_size=4).map(
        lambda s: s.encode("utf-8", "surrogatepass")),
)
UNICODE_FIELDS = ["conclusion", "code.text", "id", "subject.reference", "identifier.value", "status",
                  "effectiveDateTime", "extension.valueString", "key", "presentedForm.contentType", "versionId"]
PLACEHOLDER = "@@FUZZ@@"


def _unicode_case(intake: Intake, value, tally: Tally) -> None:
    where, payload = value
    r = fresh(3)
    if where == "conclusion":
        r["conclusion"] = f"Normal. {PLACEHOLDER} End."
    elif where == "code.text":
        r["code"]["text"] = PLACEHOLDER
    elif where == "id":
        r["id"] = "x" + PLACEHOLDER
    elif where == "subject.reference":
        r["subject"]["reference"] += PLACEHOLDER
    elif where == "identifier.value":
        del r["id"]
        r["identifier"][0]["value"] += PLACEHOLDER
    elif where == "status":
        r["status"] = "final" + PLACEHOLDER
    elif where == "effectiveDateTime":
        r["effectiveDateTime"] = PLACEHOLDER
    elif where == "extension.valueString":
        r["extension"] = [{"url": "http://example.org/x", "valueString": PLACEHOLDER}]
    elif where == "key":
        r[f"k{PLACEHOLDER}"] = 1
    elif where == "presentedForm.contentType":
        r["presentedForm"] = [{"contentType": f"text/plain; charset={PLACEHOLDER}", "data": "SGVsbG8="}]
    else:
        r["meta"]["versionId"] = PLACEHOLDER
    data = json.dumps(r).encode().replace(PLACEHOLDER.encode(), payload)
    ok, parsed = strict_json(data)
    resp = intake.send("report", data)
    if not ok:
        intake.check(resp, tally, {400}, code="structure")
        return
    if has_surrogate(parsed):
        intake.check(resp, tally, {422})
        return
    intake.check(resp, tally, {200, 202, 422})
    if resp.status_code in (200, 202):
        # Stored and served back exactly as sent.
        jid = resp.headers["Location"].rsplit("/", 1)[1]
        job = intake.client.get(f"/jobs/{jid}", headers=AUTH)
        assert job.status_code == 200 and job.json["id"] == jid
        assert intake.store.get(jid).resource == parsed


def test_unicode_edge_cases(intake, long_mode, figures):
    run(intake, figures, "unicode edge cases", st.tuples(st.sampled_from(UNICODE_FIELDS), unicode_payload),
        examples(150, long_mode), _unicode_case)


# -- 9. duplicated keys --------------------------------------------------------------------------


def object_paths(node: Any, path: tuple = ()) -> list[tuple]:
    out = []
    if isinstance(node, dict):
        out.append(path)
        for k, v in node.items():
            out += object_paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += object_paths(v, path + (i,))
    return out


def dump_with_duplicate(node: Any, target: tuple, key: str, value: Any, first: bool, path: tuple = ()) -> str:
    if isinstance(node, dict):
        items = [f"{json.dumps(k)}:{dump_with_duplicate(v, target, key, value, first, path + (k,))}" for k, v in node.items()]
        if path == target:
            dup = f"{json.dumps(key)}:{json.dumps(value)}"
            items = [dup, *items] if first else [*items, dup]
        return "{" + ",".join(items) + "}"
    if isinstance(node, list):
        return "[" + ",".join(dump_with_duplicate(v, target, key, value, first, path + (i,)) for i, v in enumerate(node)) + "]"
    return json.dumps(node)


def fhirpath(root: str, path: tuple) -> str:
    return root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


@st.composite
def duplicates(draw):
    r = fresh(draw(st.integers(0, 9)))
    wrapped = draw(st.booleans())
    doc = as_bundle(r) if wrapped else r
    paths = object_paths(doc)
    target = draw(st.sampled_from(paths))
    node: Any = doc
    for step in target:
        node = node[step]
    key = draw(st.sampled_from(sorted(node)))
    return doc, wrapped, target, key, draw(json_any), draw(st.booleans())


def _duplicate_case(intake: Intake, value, tally: Tally) -> None:
    doc, wrapped, target, key, dup_value, first = value
    data = dump_with_duplicate(doc, target, key, dup_value, first).encode()
    resp = intake.send("bundle" if wrapped else "report", data)
    expression = None
    if key != "resourceType" or target:
        expression = fhirpath("Bundle" if wrapped else "DiagnosticReport", target + (key,))
    intake.check(resp, tally, {400}, code="structure", expression=expression)


def test_duplicated_keys(intake, long_mode, figures):
    run(intake, figures, "duplicated JSON keys", duplicates(), examples(80, long_mode), _duplicate_case)


# -- 10. wrong content types ---------------------------------------------------------------------

printable = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
content_types = st.one_of(
    st.none(),
    st.sampled_from(["text/plain", "application/xml", "application/fhir+xml", "multipart/form-data; boundary=x",
                     "application/x-www-form-urlencoded", "", " ", "application/json; charset=latin-1",
                     "application/fhir+json; charset=utf-16", "application/fhir+json; fhirVersion=3.0",
                     "application/fhir+json; fhirVersion=5.0", "json", "application/jsonx", "*/*", "application/*",
                     "application/fhir+json;;;", "application/fhir+json; charset", 'application/json; charset="utf-8"',
                     "text/html; charset=utf-8", "application/octet-stream", "application/fhir+ndjson"]),
    printable,
    st.builds(lambda m, p: m + p, st.sampled_from([*JSON_TYPES, "text/json", "APPLICATION/JSON"]),
              st.lists(st.sampled_from(["; charset=utf-8", "; charset=UTF8", "; charset=iso-8859-1", "; fhirVersion=4.0",
                                        "; fhirVersion=4.3", "; fhirVersion=1.0", "; q=0.5", "; charset=", "; =x"]),
                       max_size=3).map("".join)),
)
encodings = st.one_of(st.none(), st.sampled_from(["gzip", "br", "deflate", "identity", "IDENTITY", " identity ", "x-gzip",
                                                  "compress", "gzip, identity", ""]))


def _content_type_case(intake: Intake, value, tally: Tally) -> None:
    ctype, encoding, endpoint = value
    r = fresh()
    body = json.dumps(as_bundle(r) if endpoint == "bundle" else r).encode()
    headers = {}
    if ctype is not None:
        headers["Content-Type"] = ctype
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    resp = intake.send(endpoint, body, headers=headers, put_id=r["id"])
    if content_type_ok(ctype, encoding):
        intake.check(resp, tally, {202})
    else:
        intake.check(resp, tally, {415}, code="not-supported")


def test_wrong_content_types(intake, long_mode, figures):
    run(intake, figures, "wrong content types",
        st.tuples(content_types, encodings, st.sampled_from(["report", "bundle", "put"])), examples(80, long_mode),
        _content_type_case)


# -- 11. oversize bodies -------------------------------------------------------------------------


def _oversize_case(intake: Intake, value, tally: Tally) -> None:
    size, fill, endpoint = value
    r = json.dumps(fresh()).encode()
    if fill == "spaces":
        body = r + b" " * (size - len(r))
    elif fill == "string":
        body = r[:-1] + b', "x": "' + b"y" * (size - len(r) - 8) + b'"}'
    else:
        body = bytes([fill]) * size
    resp = intake.send(endpoint, body)
    if len(body) > LIMIT:
        intake.check(resp, tally, {413}, code="too-long")
    else:  # exactly at the limit: read and judged (202 for the padded report)
        intake.check(resp, tally, {202} if fill == "spaces" and endpoint == "report" else {200, 202, 400, 422})


def test_oversize_bodies(intake, long_mode, figures):
    sizes = st.one_of(st.integers(LIMIT + 1, 5 * LIMIT), st.sampled_from([LIMIT, LIMIT + 1, LIMIT + 2]))
    fills = st.one_of(st.sampled_from(["spaces", "string"]), st.integers(0, 255))
    value = st.tuples(sizes, fills, st.sampled_from(ENDPOINTS)).filter(
        lambda v: not (v[0] <= LIMIT and v[2] == "preview"))
    run(intake, figures, "oversize bodies", value, examples(40, long_mode), _oversize_case)


# -- 12. random Bundles --------------------------------------------------------------------------

BUNDLE_TYPES = ["batch", "transaction", "collection", "history", "searchset", "subscription-notification", "document",
                "message", "bogus", ""]


@st.composite
def bundles(draw):
    entries = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["valid", "bad", "ignored", "empty", "string", "resource-string", "request",
                                     "random", "status"]))
        if kind == "valid":
            entries.append({"resource": fresh(draw(st.integers(0, 9)))})
        elif kind == "bad":
            r = fresh()
            mutate(r, draw(st.sampled_from(FIELD_PATHS)), draw(json_any))
            entries.append({"resource": r})
        elif kind == "ignored":
            entries.append({"resource": {"resourceType": draw(st.sampled_from(["Patient", "Observation", "Binary"]))}})
        elif kind == "empty":
            entries.append({})
        elif kind == "string":
            entries.append(draw(st.text(max_size=5)))
        elif kind == "resource-string":
            entries.append({"resource": draw(json_leaf)})
        elif kind == "request":
            r = fresh()
            entries.append({"resource": r, "request": {
                "method": draw(st.sampled_from(["POST", "PUT", "DELETE", "GET", "post", "", "PATCH"])),
                "url": draw(st.one_of(st.just(f"DiagnosticReport/{r['id']}"), st.just("DiagnosticReport"),
                                      st.sampled_from(["DiagnosticReport/../x", "Patient/1", "DiagnosticReport?identifier=a|b",
                                                       ""]), printable))}})
        elif kind == "status":
            entries.append({"resource": {"resourceType": draw(st.sampled_from(["SubscriptionStatus", "Parameters"]))}})
        else:
            entries.append(draw(json_any))
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": draw(st.one_of(st.sampled_from(BUNDLE_TYPES), json_leaf))}
    if entries or draw(st.booleans()):
        bundle["entry"] = entries
    if draw(st.booleans()):
        bundle[draw(st.sampled_from(["id", "meta", "timestamp", "total", "link", "bogus"]))] = draw(json_any)
    return bundle


def _bundle_case(intake: Intake, value, tally: Tally) -> None:
    before = intake.jobs()
    created_before = tally.created
    resp = intake.send("bundle", json.dumps(value).encode())
    body = intake.check(resp, tally, {200, 202, 422})
    made = intake.jobs() - before
    if resp.status_code == 422:
        assert made == 0  # a rejected Bundle (or transaction) queues nothing
    elif body["resourceType"] == "Bundle":
        assert len(body["entry"]) == len(value.get("entry") or [])
        assert made == tally.created - created_before
    else:  # a notification without reports: an OperationOutcome, nothing queued
        OperationOutcome.model_validate(body)
        assert made == 0


def test_random_bundles(intake, long_mode, figures):
    run(intake, figures, "random Bundles", bundles(), examples(100, long_mode), _bundle_case)


# -- 13. ids in PUT URLs (and job URLs) ----------------------------------------------------------

TRAVERSALS = ["..", "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "...", ".", "a/../b", "x" * 65,
              "\x00", "..\\..\\boot.ini", "%252e%252e", "\u2024\u2024", "~root", "$preview", "_history"]
put_ids = st.one_of(st.text(max_size=70), st.sampled_from(TRAVERSALS),
                    st.from_regex(r"[A-Za-z0-9\-.]{1,70}", fullmatch=True))


def _put_id_case(intake: Intake, rid: str, tally: Tally) -> None:
    r = fresh()
    r["id"] = rid
    body = json.dumps(r).encode()
    path_id = urllib.parse.quote(rid, safe="")
    resp = intake.send("put", body, put_id=path_id)
    if valid_id(rid):
        intake.check(resp, tally, {200, 202})
    else:
        intake.check(resp, tally, {400, 404, 405})
    resp = intake.client.get(f"/jobs/{path_id}", headers=AUTH)
    intake.check(resp, tally, {404}, code="not-found")


def test_ids_in_put_urls(intake, long_mode, figures):
    run(intake, figures, "ids in PUT and job URLs", put_ids, examples(80, long_mode), _put_id_case)


# -- 14. key fields against PostgreSQL -----------------------------------------------------------

KEY_FIELDS = ["id", "versionId", "identifier", "subject"]
key_values = st.one_of(
    st.text(max_size=80),
    st.integers(0, 700).map(lambda n: "k" * n),
    st.sampled_from(["a\x00b", "..", "a" * 64, "a" * 65, "v" * 128, "v" * 129, "x" * 512, "x" * 513, "\u202e", "\x1f"]),
)


def test_key_fields_against_postgresql(pg_url, tmp_path, long_mode, figures):
    # The bugs the fuzzing found were PostgreSQL-only 500s (VARCHAR limits, NUL): run the fields
    # that reach indexed columns against a real PostgreSQL store.
    store = JobStore(pg_url)
    try:
        settings_ = Settings.model_validate({
            "store": {"url": pg_url},
            "intake": {"max_body_bytes": LIMIT, "auth": {"mode": "token",
                                                         "token_sha256": [hashlib.sha256(TOKEN.encode()).hexdigest()]}},
            "inference": {"bundles": {"none": str(tmp_path / "no-such-bundle")}},
            "audit": {"file": None},
        })
        client = create_app(settings_, store).test_client()
        tally = Tally("key fields on PostgreSQL")

        @fuzz_settings(examples(60, long_mode))
        @given(st.sampled_from(KEY_FIELDS), key_values)
        def inner(where, text):
            r = fresh()
            if where == "id":
                r["id"] = text
            elif where == "versionId":
                r["meta"]["versionId"] = text
            elif where == "identifier":
                del r["id"]
                r["identifier"][0]["value"] = text
            else:
                r["subject"]["reference"] = "Patient/" + text
            resp = client.post(REPORT, data=json.dumps(r), headers={**AUTH, "Content-Type": FHIR_JSON})
            tally.statuses[resp.status_code] += 1
            tally.cases += 1
            assert resp.status_code in (200, 202, 422), (where, resp.status_code, resp.get_data()[:300])
            OperationOutcome.model_validate(resp.get_json(force=True))
            if resp.status_code == 202:
                tally.created += 1
            if tally.cases % VALID_EVERY == 0:
                ok = client.post(REPORT, data=json.dumps(fresh()), headers={**AUTH, "Content-Type": FHIR_JSON})
                assert ok.status_code == 202
                tally.valid_sent += 1

        inner()
        assert sum(store.counts().values()) == tally.created + tally.valid_sent
        figures(**tally.figures())
    finally:
        store.close()


# -- 15. over real HTTP, to gunicorn -------------------------------------------------------------


def _children(pid: int) -> set[int]:
    """Process ids whose parent is ``pid`` (from /proc: the gunicorn workers of a master)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


@st.composite
def http_cases(draw):
    """(method, path, headers, body, allowed statuses) from the categories with an exact answer."""
    category = draw(st.sampled_from(["malformed", "type", "nesting", "base64", "duplicate", "content-type", "oversize",
                                     "put-id", "unicode-bytes"]))
    post = {**AUTH, "Content-Type": FHIR_JSON}
    if category == "malformed":
        body = draw(st.one_of(st.binary(min_size=1, max_size=100), st.sampled_from(MALFORMED_FIXED)))
        ok, value = strict_json(body)
        assume(not ok and body.strip())
        return category, "POST", REPORT, post, body, {400}
    if category == "type":
        r = fresh()
        r["resourceType"] = draw(resource_types.filter(lambda v: v is not MISSING))
        return category, "POST", REPORT, post, json.dumps(r).encode(), {400}
    if category == "nesting":
        levels = draw(st.integers(MAX_DEPTH + 1, 5000))
        return category, "POST", REPORT, post, nest(draw(st.sampled_from(["array", "object", "mixed"])), levels).encode(), {400}
    if category == "base64":
        r = fresh(0)
        r["presentedForm"][0]["data"] = draw(bad_base64)
        return category, "POST", REPORT, post, json.dumps(r).encode(), {422}
    if category == "duplicate":
        doc, wrapped, target, key, dup_value, first = draw(duplicates())
        return category, "POST", "/fhir" if wrapped else REPORT, post, \
            dump_with_duplicate(doc, target, key, dup_value, first).encode(), {400}
    if category == "content-type":
        ctype, encoding = draw(content_types), draw(encodings)
        assume(not content_type_ok(ctype, encoding))
        headers = dict(AUTH)
        if ctype is not None:
            headers["Content-Type"] = ctype
        if encoding is not None:
            headers["Content-Encoding"] = encoding
        return category, "POST", REPORT, headers, json.dumps(fresh()).encode(), {415}
    if category == "oversize":
        return category, "POST", draw(st.sampled_from([REPORT, "/fhir", PREVIEW])), post, \
            b" " * draw(st.integers(LIMIT + 1, 3 * LIMIT)), {413}
    if category == "put-id":
        rid = draw(put_ids.filter(lambda v: not valid_id(v)))
        r = fresh()
        r["id"] = rid
        return category, "PUT", f"{REPORT}/{urllib.parse.quote(rid, safe='')}", post, json.dumps(r).encode(), {400, 404, 405}
    r = fresh(3)
    r["conclusion"] = "Normal " + PLACEHOLDER
    return category, "POST", REPORT, post, json.dumps(r).encode().replace(PLACEHOLDER.encode(), draw(st.sampled_from(RAW_BYTES))), {400}


def _raw(port: int, payload: bytes, timeout: float = 15) -> bytes:
    """Send raw bytes, read until the server closes (or the timeout): the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (socket.timeout, ConnectionResetError):
            pass
    return b"".join(chunks)


def _status_of(raw: bytes) -> int | None:
    m = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    return int(m.group(1)) if m else None


@pytest.mark.slow
def test_fuzz_over_http_to_gunicorn_then_worker_processes_the_valid_ones(tmp_path, tiny_qwen2, long_mode, figures):
    pytest.importorskip("gunicorn")
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "inference": {"bundles": {"tiny": str(tiny_qwen2)}, "default_bundle": "tiny", "threads": 1},
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "intake": {"max_body_bytes": LIMIT, "auth": {"mode": "token",
                                                     "token_sha256": [hashlib.sha256(TOKEN.encode()).hexdigest()]}},
        "routing": {"rules": [], "default_tasks": ["n_staging"]},
        "worker": {"batch_size": 64},
        "audit": {"file": str(tmp_path / "audit.jsonl")},
    }))
    # The worker runs with the same environment gunicorn got (gunicorn_process strips RADLITE_*).
    secret = {"RADLITE_AUDIT_SECRET": "fuzz-test-audit-secret-0123456789abcdef", "OMP_NUM_THREADS": "1"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADLITE")}
    env.update({"RADLITE_CONFIG": str(site), **secret})
    tally = Tally("over HTTP (gunicorn)")
    with gunicorn_process(site, tmp_path / "gunicorn.log", workers=1,
                          extra_env={"RADLITE_WEB_THREADS": "2", **secret}) as (proc, base):
        port = int(base.rsplit(":", 1)[1])
        log_path = tmp_path / "gunicorn.log"
        workers = _children(proc.pid)
        assert len(workers) == 1, workers

        def send(method: str, path: str, headers: dict, body: bytes | None) -> tuple[int, bytes, dict]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.putrequest(method, path, skip_accept_encoding=True)
                for k, v in headers.items():
                    conn.putheader(k, v)
                conn.putheader("Content-Length", str(len(body or b"")))
                conn.endheaders()
                if body:
                    try:
                        conn.send(body)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the server may answer 413 and close before reading it all
                resp = conn.getresponse()
                return resp.status, resp.read(), dict(resp.getheaders())
            finally:
                conn.close()

        @fuzz_settings(examples(120, long_mode))
        @given(http_cases())
        def inner(case):
            category, method, path, headers, body, allowed = case
            status, raw, hdrs = send(method, path, headers, body)
            tally.statuses[status] += 1
            tally.cases += 1
            assert status in allowed, (category, status, raw[:300])
            assert hdrs.get("Content-Type", "").startswith(FHIR_JSON), (category, hdrs)
            OperationOutcome.model_validate(json.loads(raw))
            if tally.cases % VALID_EVERY == 0:
                status, raw, hdrs = send("POST", REPORT, {**AUTH, "Content-Type": FHIR_JSON},
                                         json.dumps(fresh(tally.valid_sent)).encode())
                assert status == 202, raw[:300]
                tally.valid_sent += 1
                tally.valid_jobs.append(hdrs["Location"].rsplit("/", 1)[1])

        inner()

        # What only a real server sees: chunked bodies, broken framing, lying lengths, junk.
        valid = json.dumps(fresh()).encode()
        auth = f"Authorization: Bearer {TOKEN}\r\nContent-Type: {FHIR_JSON}\r\n".encode()

        def chunked(body: bytes, size: int = 4096) -> bytes:
            out = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size))
            return out + b"0\r\n\r\n"

        raw_cases = {
            "chunked valid": (b"POST /fhir/DiagnosticReport HTTP/1.1\r\nHost: x\r\n" + auth +
                              b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked(valid), {202}),
            "chunked oversize": (b"POST /fhir/DiagnosticReport HTTP/1.1\r\nHost: x\r\n" + auth +
                                 b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked(b" " * (LIMIT + 10)), {413}),
            "chunked bad framing": (b"POST /fhir/DiagnosticReport HTTP/1.1\r\nHost: x\r\n" + auth +
                                    b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", {400}),
            "content-length not a number": (b"POST /fhir/DiagnosticReport HTTP/1.1\r\nHost: x\r\n" + auth +
                                            b"Content-Length: abc\r\nConnection: close\r\n\r\n{}", {400}),
            "content-length negative": (b"POST /fhir/DiagnosticReport HTTP/1.1\r\nHost: x\r\n" + auth +
                                        b"Content-Length: -5\r\nConnection: close\r\n\r\n{}", {400}),
            "body shorter than content-length": (b"POST /fhir/DiagnosticReport HTTP/1.1\r\nHost: x\r\n" + auth +
                                                 b"Content-Length: 5000\r\nConnection: close\r\n\r\n{\"resourceType\"", {400, None}),
            "request line junk": (b"\x00\xff GARBAGE \x01\r\n\r\n", {400, None}),
            "huge header": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", {400, 431, None}),
            "header without colon": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nnot a header\r\n\r\n", {400, None}),
            "http/0.9": (b"GET /healthz\r\n\r\n", {400, None}),
            "both length and chunked": (b"POST /fhir/DiagnosticReport HTTP/1.1\r\nHost: x\r\n" + auth +
                                        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked(valid),
                                        {400, 202}),
        }
        raw_seen = {}
        for name, (payload, allowed) in raw_cases.items():
            status = _status_of(_raw(port, payload))
            raw_seen[name] = status
            tally.statuses[status or 0] += 1
            tally.cases += 1
            assert status in allowed, (name, status)
            if name in ("chunked valid", "both length and chunked") and status == 202:
                tally.created += 1

        # The process never crashed: the same master and the same worker process are serving.
        assert proc.poll() is None
        assert _children(proc.pid) == workers, "the gunicorn worker was replaced: it crashed or timed out"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
        text = log_path.read_text(errors="replace")
        for bad in ("Traceback", "WORKER TIMEOUT", "Worker exiting", "request.failed"):
            assert bad not in text, bad

        # The valid reports sent in between are jobs; a worker process infers every one of them.
        store = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
        try:
            assert sum(store.counts().values()) == tally.valid_sent + tally.created
            wenv = {**env, "RADLITE_CONFIG": str(site)}
            for _ in range(3):
                done = subprocess.run([sys.executable, "-m", "integration.ops.cli", "worker", "--once"], cwd=ROOT, env=wenv,
                                      capture_output=True, text=True, timeout=300)
                assert done.returncode == 0, done.stderr[-2000:]
                if all(store.get(j).state == "inferred" for j in tally.valid_jobs):
                    break
            states = Counter(store.get(j).state for j in tally.valid_jobs)
            assert states == Counter({"inferred": tally.valid_sent}), states
        finally:
            store.close()
    figures(**tally.figures(), raw_protocol_cases=raw_seen, valid_reports_inferred=tally.valid_sent)
