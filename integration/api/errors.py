"""Every error is an OperationOutcome: 4xx raised by our handlers, Werkzeug's own HTTP errors
(404, 405, 413…) and unexpected exceptions (500) alike. Never an HTML page."""

from __future__ import annotations

from typing import Iterable, Mapping

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from integration.audit import audit, get_logger
from integration.fhir.issues import Issue
from integration.fhir.outcome import outcome_response, status_issue

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
        status=status,
        code=first.code if first else None,
        expression=first.expression[0] if first and first.expression else None,
        issues=len(issues),
    )
    return outcome_response(issues, status, headers, response_mimetype())


_HTTP_MESSAGES = {
    404: "no such endpoint",
    405: "method not allowed here",
    413: "request body is larger than the configured limit",
}


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
        return reject(status, [status_issue(status, message)], headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # The exception's message may quote input: log its type only.
        log.error("request.failed", error=type(exc).__name__)
        return reject(500, [status_issue(500, "internal error; the request id identifies it in the logs")])
