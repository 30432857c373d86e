"""HTTP API blueprints: FHIR intake, $preview, capability (metadata), jobs, health, metrics.
Assembled by :func:`integration.intake.http.app.create_app`."""

from __future__ import annotations

from flask import Flask

from integration.intake.http.context import EXTENSION, Runtime, runtime
from integration.intake.http.errors import ApiError


def register_blueprints(app: Flask) -> None:
    # Loaded when an app is built: importing integration.intake.http.body/health/errors alone (doctor,
    # mappings_cli) does not pull in every route and, through preview, requests/jwt/cryptography.
    from integration.intake.http import capability, health, jobs, metrics, preview, push  # noqa: PLC0415 -- see above

    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(capability.bp)
    app.register_blueprint(push.bp)
    app.register_blueprint(preview.bp)
    app.register_blueprint(jobs.bp)
    preview.init_app(app)  # loads the mappings: a broken mapping file stops the app here


# What this server can do (CapabilityStatement, the $preview OperationDefinition): FHIR clients read
# it before they know how to authenticate; it holds no patient data and no secret.
CAPABILITY_ENDPOINTS = frozenset({"capability.metadata", "capability.preview_definition"})
# Endpoints reachable without a bearer token.
PUBLIC_ENDPOINTS = frozenset({"health.healthz", "health.readyz", "metrics.metrics_view"}) | CAPABILITY_ENDPOINTS
# Probes, scrapes and capability reads, polled every few seconds or on every client connect and
# touching no patient data: not written to the audit trail.
PROBE_ENDPOINTS = frozenset({"health.healthz", "health.readyz", "metrics.metrics_view"}) | CAPABILITY_ENDPOINTS
# The scope a token needs per endpoint (integration.intake.http.auth); "admin" holds every scope.
ENDPOINT_SCOPES = {
    "fhir.post_report": "intake",
    "fhir.put_report": "intake",
    "fhir.post_bundle": "intake",
    "preview.preview_report": "preview",
    "jobs.get_job": "jobs:read",
}


def required_scope(endpoint: str | None) -> str | None:
    """The scope ``endpoint`` needs; None for no route (404/405 to any valid token). An endpoint
    missing from ENDPOINT_SCOPES needs admin: a new endpoint is closed until it is listed."""
    if endpoint is None:
        return None
    return ENDPOINT_SCOPES.get(endpoint, "admin")

__all__ = ["ApiError", "CAPABILITY_ENDPOINTS", "ENDPOINT_SCOPES", "EXTENSION", "PROBE_ENDPOINTS", "PUBLIC_ENDPOINTS",
           "Runtime", "register_blueprints", "required_scope", "runtime"]
