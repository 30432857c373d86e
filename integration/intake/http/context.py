"""What the views share: settings, the job store, the authenticator; the request id."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from flask import current_app, g, request

from integration.audit.aggregate import AuditAggregate
from integration.fhir.report import report_char_limit
from integration.intake.http.auth import TokenAuth
from integration.intake.http.quotas import RateLimiter
from integration.mappings.critical import Rule
from integration.settings import Settings
from integration.store import JobStore

EXTENSION = "radlite"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass
class Runtime:
    settings: Settings
    store: JobStore
    auth: TokenAuth
    # Per process (integration.intake.http.quotas): requests per minute per client.
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(0))
    # Refusals anyone can cause in any number, audited as one counted record per minute
    # (integration.audit.aggregate): requests without a valid token, requests over the rate limit.
    unauthenticated: AuditAggregate = field(default_factory=lambda: AuditAggregate("request.unauthenticated"))
    throttled: AuditAggregate = field(default_factory=lambda: AuditAggregate("request.throttled"))
    # The site's critical-result rules, shown with each job (integration/mappings/critical.py).
    critical_rules: tuple[Rule, ...] = ()


def runtime() -> Runtime:
    return current_app.extensions[EXTENSION]


def request_correlation_id() -> str:
    """The caller's X-Request-ID when it is a safe token (1-64 of ``[A-Za-z0-9._-]``), else a new one."""
    given = request.headers.get("X-Request-ID", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def correlation_id() -> str:
    return g.get("correlation_id") or request_correlation_id()


def client() -> str | None:
    """The client of this request's token (None in open mode or before authentication)."""
    return g.get("client")


def max_queued_jobs() -> int:
    """``intake.max_queued_jobs_per_client`` (0: no limit)."""
    return runtime().settings.intake.max_queued_jobs_per_client


def base_url() -> str:
    public = runtime().settings.intake.public_base_url
    return (public or request.host_url).rstrip("/")


def ehr_base_url() -> str:
    """The FHIR base the write-back writes to (``ehr.base_url``): the one server an absolute
    ``DiagnosticReport.subject.reference`` may point at (:func:`integration.fhir.report.check_report`)."""
    return runtime().settings.ehr.base_url


def max_report_chars() -> int:
    """The most characters a report text element may have at intake (``intake.max_report_chars``,
    by default derived from ``inference.max_input_tokens``): :func:`integration.fhir.report.oversize_issues`."""
    settings = runtime().settings
    return report_char_limit(settings.inference.max_input_tokens, settings.intake.max_report_chars)


def job_url(job_id: str) -> str:
    return f"{base_url()}/jobs/{job_id}"
