"""``GET /metrics``: Prometheus exposition, no authentication (counts and durations only; restrict
it at the network, as any metrics port). Also times every FHIR intake request into
``radlite_intake_request_seconds``. See :mod:`integration.metrics`."""

from __future__ import annotations

import time

from flask import Blueprint, Response, g, request

from integration import metrics
from integration.api.context import runtime

bp = Blueprint("metrics", __name__)

# Endpoints timed as intake: the FHIR blueprint's views.
_INTAKE_PREFIXES = ("fhir.",)


@bp.before_app_request
def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


@bp.after_app_request
def _observe(response):
    endpoint = request.endpoint or ""
    started = g.get("metrics_started")
    if started is not None and endpoint.startswith(_INTAKE_PREFIXES):
        metrics.INTAKE_SECONDS.labels(endpoint, str(response.status_code)).observe(time.perf_counter() - started)
    return response


@bp.get("/metrics")
def metrics_view():
    store = runtime().store
    return Response(metrics.render(store.counts), mimetype=None, content_type=metrics.CONTENT_TYPE)
