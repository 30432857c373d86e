"""``POST /fhir/DiagnosticReport/$preview``: the transaction Bundle the write-back would write.

The report goes through the intake's checks in the intake's order -- auth (401), Content-Type
(415), size (413), JSON (400), resource type (400), report text size (413), FHIR validation
(422) -- then through task selection, inference with the configured bundles and the write-back's
bundle assembly (:mod:`integration.preview`). Nothing is stored and nothing is sent to the EHR.
The answer is ``200`` with the Bundle (``application/fhir+json``); ``X-RadLite-Rule`` and ``X-RadLite-Tasks``
say which routing rule matched and which tasks ran.

The mappings are loaded when the app is created, so a broken mapping file stops ``serve`` at
startup; the model bundles load on the first preview.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app

from integration.api.body import json_resource
from integration.api.context import ehr_base_url, max_report_chars, runtime
from integration.api.errors import ApiError, response_mimetype
from integration.audit import audit, hash_id
from integration.fhir.issues import Issue, has_errors
from integration.fhir.outcome import fhir_response
from integration.fhir.report import check_report, oversize_issues
from integration.preview import Previewer, store_prior

bp = Blueprint("preview", __name__, url_prefix="/fhir")

EXTENSION = "radlite.preview"


def init_app(app: Flask, previewer: Previewer | None = None) -> None:
    """Load the mappings (MappingError stops the app) and keep the previewer on the app."""
    if previewer is None:
        previewer = Previewer.from_settings(app.extensions["radlite"].settings)
    app.extensions[EXTENSION] = previewer


def previewer() -> Previewer:
    return current_app.extensions[EXTENSION]


@bp.post("/DiagnosticReport/$preview")
def preview_report():
    from integration.inference import BundleError
    from integration.store import StoreError
    from integration.writeback.bundle import BuildError

    resource = json_resource()
    if resource.get("resourceType") != "DiagnosticReport":
        raise ApiError.simple(400, "this endpoint takes a DiagnosticReport", "resourceType", code="invalid")
    # The same checks as the intake, subject included: a preview shows what would be written for a
    # report the intake would accept, and refuses what it would refuse. The size check matters more
    # here than anywhere: $preview tokenises in the web process itself.
    too_long = oversize_issues(resource, max_report_chars())
    if too_long:
        raise ApiError(413, too_long)
    issues = check_report(resource, ehr_base_url=ehr_base_url())
    if has_errors(issues):
        raise ApiError(422, issues)
    try:
        preview = previewer().preview(resource, prior_resource=store_prior(runtime().store, resource))
    except StoreError:
        raise ApiError.simple(422, "the report needs an id or an identifier with a value",
                              "DiagnosticReport.id", "DiagnosticReport.identifier", code="required") from None
    except BundleError as exc:
        # Our own message: which configured bundle could not be loaded or serve the task.
        raise ApiError(503, Issue("error", "transient", f"inference is not available: {exc}")) from None
    except BuildError as exc:
        raise ApiError(500, Issue("fatal", "exception", f"cannot build the transaction: {exc}")) from None
    summary = preview.summary()
    audit("preview.built", report=hash_id(preview.report_key), rule=summary["rule"], tasks=summary["tasks"],
          entries=summary["entries"], parse_failures=summary.get("parse_failures", {}))
    headers = {"X-RadLite-Rule": summary["rule"], "X-RadLite-Tasks": ",".join(summary["tasks"])}
    return fhir_response(preview.bundle, 200, headers, mimetype=response_mimetype())
