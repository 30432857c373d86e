"""``GET /metrics``: Prometheus exposition, no authentication (counts and durations only; restrict
it at the network, as any metrics port). Also times every FHIR intake request into
``radlite_intake_request_seconds``, and reports the EHR's reachability (``radlite_ehr_up``,
probed at most every ``EHR_PROBE_INTERVAL`` seconds). See :mod:`integration.monitoring`."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, g, request

from integration import monitoring
from integration.intake.http.context import runtime
from integration.intake.http.health import EHR_PROBE_INTERVAL, ehr_reachable

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
        monitoring.INTAKE_SECONDS.labels(endpoint, str(response.status_code)).observe(time.perf_counter() - started)
    return response


_EHR_PROBE = "radlite.ehr_probe"


def _ehr_probe() -> monitoring.CachedProbeCollector:
    """This app's EHR probe (one per app, so its cache spans scrapes)."""
    probe = current_app.extensions.get(_EHR_PROBE)
    if probe is None:
        settings = runtime().settings
        probe = monitoring.CachedProbeCollector(
            "ehr", "1 when the EHR's FHIR server answered GET [base]/metadata at the last probe by this web "
            "process (401/403 count as up).", lambda: ehr_reachable(settings), EHR_PROBE_INTERVAL)
        probe = current_app.extensions.setdefault(_EHR_PROBE, probe)
    return probe


@bp.get("/metrics")
def metrics_view():
    store = runtime().store
    return Response(monitoring.render(store.counts, [_ehr_probe(), monitoring.OpenAlertsCollector(store.open_alert_ages)]), mimetype=None, content_type=monitoring.CONTENT_TYPE)
