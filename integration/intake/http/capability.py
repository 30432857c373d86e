"""What this FHIR endpoint can do, in FHIR's own terms. No authentication (see below).

* ``GET /fhir/metadata``                   the R4 CapabilityStatement (``kind: instance``)
* ``GET /fhir/OperationDefinition/preview`` the OperationDefinition of ``$preview``

Both describe only what the intake really does (:mod:`integration.intake.http.push`,
:mod:`integration.intake.http.preview`): ``create`` and ``update`` of DiagnosticReport, ``batch`` and
``transaction`` at the system level, and ``$preview``. There is no read or search of reports
here: an accepted report is queued, not served back. When a route or its scopes change, change
this module and its test (tests/unit/test_capability.py) with it.

Why without a token: FHIR clients and interface engines read ``metadata`` before they know which
authorization to use (FHIR R4 http.html#capabilities), and nothing in either resource is patient
data or a secret -- the security section names the scheme and scopes, never a token. For the same
reason the two reads are not written to the audit trail (they are listed with the probes in
:data:`integration.intake.http.PROBE_ENDPOINTS`): they are polled like health checks.
"""

from __future__ import annotations

import datetime as dt
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Blueprint

from integration.fhir.outcome import fhir_response
from integration.intake.http.body import JSON_TYPES
from integration.intake.http.context import base_url, runtime
from integration.intake.http.errors import response_mimetype

bp = Blueprint("capability", __name__, url_prefix="/fhir")

PACKAGE = "radlite-fhir"
FHIR_VERSION = "4.0.1"
# The statement describes this running instance, so its date is when the process loaded this module
# (its start); FHIR requires a date and asks that it change when the content does, which for an
# instance only happens with a restart (a new version or configuration).
STARTED = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def software_version() -> str:
    """The installed package's version; "0" when it is not installed (run from a source tree)."""
    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return "0"


def fhir_base() -> str:
    """This server's FHIR base, as clients address it: ``intake.public_base_url`` (or the request's
    host) followed by ``/fhir``."""
    return f"{base_url()}/fhir"


def preview_definition_url() -> str:
    """Canonical URL of the ``$preview`` OperationDefinition: where it is served."""
    return f"{fhir_base()}/OperationDefinition/preview"


def _security() -> dict[str, Any]:
    # integration.intake.http.auth: static bearer tokens (RFC 6750) whose SHA-256 digests are configured,
    # each with scopes. There is no OAuth or SMART authorization server, so the SMART-on-FHIR and
    # OAuth codes of restful-security-service would be untrue: the service is described in text.
    if runtime().auth.open:
        return {
            "cors": False,
            "description": "Authentication is switched off on this instance (intake.auth.mode: open, "
                           "for local development only): every endpoint answers without a token.",
        }
    return {
        "cors": False,
        "service": [{"text": "Bearer token (RFC 6750), issued by the site out of band; no OAuth or SMART "
                             "authorization server"}],
        "description": (
            "Every request except GET /fhir/metadata, GET /fhir/OperationDefinition/preview and the "
            "health probes needs 'Authorization: Bearer <token>'. A token holds scopes: 'intake' for "
            "POST /fhir/DiagnosticReport, PUT /fhir/DiagnosticReport/<id> and POST /fhir; 'preview' "
            "for POST /fhir/DiagnosticReport/$preview; 'jobs:read' for GET /jobs/<id>; 'admin' for "
            "all. A missing or unknown token answers 401, a token without the endpoint's scope 403."
        ),
    }


def capability_statement() -> dict[str, Any]:
    """The CapabilityStatement of this instance (needs an app context: settings, request host)."""
    settings = runtime().settings
    implementation: dict[str, Any] = {
        "description": "RadLite FHIR adapter: reads pushed radiology DiagnosticReports with a small "
                       "language model and writes the results to the EHR as preliminary Observations",
    }
    if settings.intake.public_base_url:
        # Only the configured address: behind a reverse proxy the request's own host may be an
        # internal name that no client can use.
        implementation["url"] = f"{settings.intake.public_base_url.rstrip('/')}/fhir"
    preview_doc = ("POST /fhir/DiagnosticReport/$preview with the DiagnosticReport as the body: the "
                   "transaction Bundle the write-back would write for it, computed by an inference "
                   "worker; nothing is kept or sent")
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": STARTED,
        "kind": "instance",
        "name": "RadLiteFhirAdapter",
        "title": "RadLite FHIR adapter intake",
        "software": {"name": PACKAGE, "version": software_version()},
        "implementation": implementation,
        "fhirVersion": FHIR_VERSION,
        # What integration.intake.http.body accepts and what the answers are (JSON only, no XML or Turtle).
        "format": ["json", *JSON_TYPES],
        "rest": [{
            "mode": "server",
            "documentation": (
                "Receives DiagnosticReports (pushed one by one, in Bundles, or by rest-hook "
                "subscriptions) and queues each new report version as a job. Accepted reports are "
                "answered 202 Accepted with an OperationOutcome and a Location header naming the job "
                "(GET /jobs/<id>, JSON, not a FHIR resource), 200 for a version already received. "
                "Reports cannot be read or searched here. DiagnosticReport.subject must be "
                "Patient/<id> or an absolute URL on the EHR's FHIR base."
            ),
            "security": _security(),
            "resource": [{
                "type": "DiagnosticReport",
                "interaction": [
                    {"code": "create",
                     "documentation": "POST /fhir/DiagnosticReport: validated and queued (202, or 200 "
                                      "for a version already received; 422 with an OperationOutcome "
                                      "when invalid)"},
                    {"code": "update",
                     "documentation": "PUT /fhir/DiagnosticReport/<id>, as R4 rest-hook subscriptions "
                                      "send it: the id in the URL must be the body's id; queued like "
                                      "a create"},
                ],
                # A PUT of an id never seen before is accepted (it is queued like any other).
                "updateCreate": True,
                "operation": [{
                    "name": "preview",
                    "definition": preview_definition_url(),
                    "documentation": preview_doc,
                }],
            }],
            "interaction": [
                {"code": "transaction",
                 "documentation": "POST /fhir with a transaction Bundle: every DiagnosticReport entry is "
                                  "queued, or none (422) when any is invalid; entries use POST or PUT"},
                {"code": "batch",
                 "documentation": "POST /fhir with a batch Bundle (also collection, history, searchset "
                                  "and subscription notifications): each DiagnosticReport entry is "
                                  "answered on its own; other resources are ignored"},
            ],
        }],
    }


def preview_operation_definition() -> dict[str, Any]:
    """The OperationDefinition of ``$preview``, as :mod:`integration.intake.http.preview` implements it."""
    return {
        "resourceType": "OperationDefinition",
        "id": "preview",
        "url": preview_definition_url(),
        "version": software_version(),
        "name": "RadLitePreview",
        "title": "Preview the results the write-back would write for a report",
        "status": "active",
        "kind": "operation",
        "date": STARTED,
        "description": (
            "Runs the adapter's pipeline on one DiagnosticReport -- the intake's checks, the routing "
            "rules, inference with the configured model bundles and the write-back's bundle assembly "
            "-- and returns the transaction Bundle the write-back would write to the EHR for it. "
            "Nothing is sent to the EHR, and nothing is kept: the report waits in the adapter's store "
            "only until an inference worker has answered it."
        ),
        "affectsState": False,
        "code": "preview",
        "comment": (
            "Invoke with POST [base]/DiagnosticReport/$preview and the DiagnosticReport itself as the "
            "body (application/fhir+json or application/json), not wrapped in a Parameters resource; "
            "the answer (200) is the Bundle itself. The response headers X-RadLite-Rule and "
            "X-RadLite-Tasks name the routing rule that matched and the tasks that ran. Errors are "
            "OperationOutcomes: 400 (not a DiagnosticReport, malformed JSON), 401/403 (token; scope "
            "'preview'), 413, 415, 422 (the intake's validation), 429 with Retry-After (too many "
            "previews queued or waiting), 503 (a model bundle cannot be loaded; or, with Retry-After, "
            "no inference worker answered in time). The preview runs in an inference worker, not in "
            "the web server: the answer takes seconds, more while the workers are busy."
        ),
        "resource": ["DiagnosticReport"],
        "system": False,
        "type": True,
        "instance": False,
        "parameter": [
            {"name": "resource", "use": "in", "min": 1, "max": "1", "type": "DiagnosticReport",
             "documentation": "The report, checked as the intake checks it (a report the intake would "
                              "refuse is refused with the same 422). The patient's most recent earlier "
                              "report already received is used for temporal comparison."},
            {"name": "return", "use": "out", "min": 1, "max": "1", "type": "Bundle",
             "documentation": "A transaction Bundle: the preliminary Observations (and Device, "
                              "Provenance) the write-back would write; without entries when nothing "
                              "would be written."},
        ],
    }


@bp.get("/metadata")
def metadata():
    return fhir_response(capability_statement(), 200, mimetype=response_mimetype())


@bp.get("/OperationDefinition/preview")
def preview_definition():
    return fhir_response(preview_operation_definition(), 200, mimetype=response_mimetype())
