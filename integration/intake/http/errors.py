"""Every error is an OperationOutcome: 4xx raised by our handlers, Werkzeug's own HTTP errors
(400, 404, 405, 413, 414, 431…) and unexpected exceptions (500) alike. Never an HTML page.

That covers what reaches the app. What the WSGI server refuses before (gunicorn: an oversized
request line or header, conflicting Content-Length and Transfer-Encoding) is answered by the
server; under deploy/gunicorn.conf.py that is an OperationOutcome too
(:mod:`integration.intake.http.gunicorn_errors`)."""

from __future__ import annotations

from typing import Iterable, Mapping

from flask import Flask, g, request
from werkzeug.exceptions import HTTPException

from integration.audit import audit, get_logger
from integration.fhir.issues import Issue
from integration.fhir.outcome import outcome_response, status_issue
from integration.store.integrity import StoreCorrupt, is_corruption

log = get_logger("radlite.api")


class ApiError(Exception):
    """Raise from a view to answer ``status`` with an OperationOutcome of ``issues``."""

    def __init__(self, status: int, issues: Iterable[Issue] | Issue, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.issues = [issues] if isinstance(issues, Issue) else list(issues)
        self.headers = dict(headers or {})

    @classmethod
    def simple(cls, status: int, diagnostics: str, *expression: str, code: str | None = None,
               headers: Mapping[str, str] | None = None) -> "ApiError":
        issue = status_issue(status, diagnostics, *expression)
        if code:
            issue = Issue(issue.severity, code, diagnostics, issue.expression)
        return cls(status, issue, headers)


def response_mimetype() -> str:
    """application/fhir+json unless the client asks for plain application/json only."""
    accept = request.accept_mimetypes
    if accept and accept.best_match(["application/fhir+json", "application/json"]) == "application/json" \
            and accept["application/json"] > accept["application/fhir+json"]:
        return "application/json"
    return "application/fhir+json"


def reject(status: int, issues: list[Issue], headers: Mapping[str, str] | None = None):
    first = next((i for i in issues if i.is_error), issues[0] if issues else None)
    audit(
        "request.rejected",
        # False for a request without a valid token or over its rate: counted, not chained (app.py).
        chained=g.get("audit_chained", True),
        status=status,
        code=first.code if first else None,
        expression=first.expression[0] if first and first.expression else None,
        issues=len(issues),
    )
    return outcome_response(issues, status, headers, response_mimetype())


_HTTP_MESSAGES = {
    400: "bad request: the request could not be read",
    404: "no such endpoint",
    405: "method not allowed here",
    413: "request body is larger than the configured limit",
    414: "the request URL is too long",
    431: "request headers too large",
}
# Issue types more precise than status_issue's default for these statuses.
_HTTP_CODES = {414: "too-long", 431: "too-long"}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return reject(exc.status, exc.issues, exc.headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        message = _HTTP_MESSAGES.get(status) or (exc.name or "error").lower()
        if status == 413:
            message = f"request body is larger than {app.config.get('MAX_CONTENT_LENGTH')} bytes"
        headers = {k: v for k, v in exc.get_headers() if k.lower() in ("allow", "retry-after", "www-authenticate")}
        issue = status_issue(status, message)
        if status in _HTTP_CODES:
            issue = Issue(issue.severity, _HTTP_CODES[status], issue.diagnostics, issue.expression)
        return reject(status, [issue], headers)

    @app.errorhandler(StoreCorrupt)
    def _store_corrupt(exc: StoreCorrupt):
        return _store_damaged()

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if is_corruption(exc):  # a damaged page met outside the intake's write (a job read, a lookup)
            return _store_damaged()
        # The exception's message may quote input: log its type only.
        log.error("request.failed", error=type(exc).__name__)
        return reject(500, [status_issue(500, "internal error; the request id identifies it in the logs")])


def _store_damaged():
    """503 for a request that met a damaged database file: the sender keeps its report and retries
    (a 202 would tell it the report is safe in a store that may lose it). The operator's part --
    `radlite db check`, restore -- is in the log line, not in the answer to the sender."""
    log.error("store.corrupt", detail="the job store's database file is damaged: run `radlite db check` "
                                      "and restore the newest good backup (docs/deploy.md)")
    issue = Issue.error("no-store", "the job store is unavailable (its database is damaged): send the request again "
                                    "later (a report received before is recognised, not duplicated)")
    return reject(503, [issue])
