"""OperationOutcome resources and FHIR JSON responses."""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from integration.fhir.issues import Issue

FHIR_JSON = "application/fhir+json"

# The issue-type for an HTTP error when nothing more precise is known.
STATUS_CODES = {
    400: "structure",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    411: "required",
    412: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "processing",
    429: "throttled",
    500: "exception",
    503: "transient",
}


def operation_outcome(issues: Iterable[Issue] | Issue) -> dict[str, Any]:
    """An OperationOutcome from issues (at least one: an empty list gives an "all OK" issue)."""
    if isinstance(issues, Issue):
        issues = [issues]
    items = [i.to_fhir() for i in issues]
    if not items:
        items = [Issue.info("informational", "all OK").to_fhir()]
    return {"resourceType": "OperationOutcome", "issue": items}


def status_issue(status: int, diagnostics: str, *expression: str) -> Issue:
    severity = "error" if status < 500 else "fatal"
    return Issue(severity, STATUS_CODES.get(status, "processing" if status < 500 else "exception"), diagnostics, expression)


def fhir_response(
    body: Mapping[str, Any],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    mimetype: str | None = None,
):
    """A Flask response carrying FHIR JSON (``application/fhir+json; charset=utf-8``)."""
    from flask import Response  # noqa: PLC0415 -- flask: the worker and scheduler use this module without it

    resp = Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status=status,
        mimetype=mimetype or FHIR_JSON,
    )
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def outcome_response(issues: Iterable[Issue] | Issue, status: int, headers: Mapping[str, str] | None = None,
                     mimetype: str | None = None):
    return fhir_response(operation_outcome(issues), status, headers, mimetype)
