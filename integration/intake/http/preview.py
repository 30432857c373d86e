"""``POST /fhir/DiagnosticReport/$preview``: the transaction Bundle the write-back would write.

The report goes through the intake's checks in the intake's order -- auth (401), Content-Type
(415), size (413), JSON (400), resource type (400), report text size (413), FHIR validation
(422) -- then to a worker: the web process never runs a model (deploy/gunicorn.conf.py). It
queues the report as a preview request in the store (``previews``, never a job: nothing is
written back or counted) and waits for a ``radlite worker`` to answer it with task selection,
inference and the write-back's bundle assembly (:mod:`integration.inference.dry_run`,
:meth:`integration.inference.worker.Worker.run_previews`), polling the store every 50 ms at first, every
200 ms later. The answer is ``200`` with the Bundle (``application/fhir+json``);
``X-RadLite-Rule`` and ``X-RadLite-Tasks`` say which routing rule matched and which tasks ran.
The preview is deleted as soon as it is read (it holds the report and its results: PHI).

Bounded, so previews cannot take the intake's threads or the workers' time from the pushes:

* at most ``preview.max_pending`` previews queued or running in the whole deployment, and at most
  ``preview.max_waiting_per_process`` requests of one web process waiting: beyond, ``429
  throttled`` + ``Retry-After``;
* no answer within ``preview.timeout_seconds`` (no worker running, or all of them busy with
  batches): ``503 transient`` + ``Retry-After``, and the preview is deleted, so that no worker
  starts it late.

Development only: ``radlite serve --inline-previews`` gives the app a :class:`Previewer`, and the
web process then runs previews itself, as it did before (one at a time; no worker needed).
``integration.wsgi`` (gunicorn) never does.

The mappings are loaded when the app is created, so a broken mapping file stops ``serve`` at
startup, as it stops the worker.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, current_app

from integration.audit import audit, hash_id
from integration.fhir.issues import Issue, has_errors
from integration.fhir.outcome import fhir_response
from integration.fhir.report import check_report, oversize_issues
from integration.intake.http.body import json_resource
from integration.intake.http.context import client, correlation_id, ehr_base_url, max_report_chars, runtime
from integration.intake.http.errors import ApiError, response_mimetype
from integration.intake.http.quotas import throttled
from integration.mappings import load_mappings
from integration.store import PreviewFailure, PreviewsFull, PreviewState, StoreError, report_identity

bp = Blueprint("preview", __name__, url_prefix="/fhir")

EXTENSION = "radlite.preview"
# Retry-After of a 429 (a slot frees when a preview ahead is answered: seconds) and of a 503 (no
# worker answered in time: busy with batches, or none running).
FULL_RETRY_AFTER = 5
TIMEOUT_RETRY_AFTER = 30
# The waiting request polls the preview's state: first after 50 ms, each wait 1.5x the last, at
# most 200 ms (the tiny test model answers in ~0.1 s; radlite-mini in seconds).
POLL_FIRST, POLL_GROWTH, POLL_MAX = 0.05, 1.5, 0.2
_ANSWERED = (PreviewState.DONE.value, PreviewState.FAILED.value)


@dataclass
class Previews:
    """What a web process needs for $preview: the requests it lets wait at once, and -- in the
    development server's inline mode only -- a :class:`~integration.inference.dry_run.Previewer` that runs
    previews in this process."""

    max_waiting: int
    inline: Any = None  # integration.inference.dry_run.Previewer (or a test's stand-in)
    _waiting: threading.BoundedSemaphore = field(init=False)

    def __post_init__(self) -> None:
        self._waiting = threading.BoundedSemaphore(self.max_waiting)


def init_app(app: Flask, previewer: Any = None) -> None:
    """Load the mappings (MappingError stops the app) and set up $preview. ``previewer``: run
    previews in this process (``radlite serve --inline-previews``, tests); None: queue them for a
    worker (production)."""
    settings = app.extensions["radlite"].settings
    if previewer is None:
        load_mappings(settings.writeback.mappings_dir)
    app.extensions[EXTENSION] = Previews(settings.preview.max_waiting_per_process, previewer)


def previews() -> Previews:
    return current_app.extensions[EXTENSION]


@bp.post("/DiagnosticReport/$preview")
def preview_report():
    resource = json_resource()
    if resource.get("resourceType") != "DiagnosticReport":
        raise ApiError.simple(400, "this endpoint takes a DiagnosticReport", "resourceType", code="invalid")
    # The same checks as the intake, subject included: a preview shows what would be written for a
    # report the intake would accept, and refuses what it would refuse -- here, before a worker is
    # asked (the worker tokenises what it is given).
    too_long = oversize_issues(resource, max_report_chars())
    if too_long:
        raise ApiError(413, too_long)
    issues = check_report(resource, ehr_base_url=ehr_base_url())
    if has_errors(issues):
        raise ApiError(422, issues)
    try:
        report_key, _ = report_identity(resource)
    except StoreError:
        raise _no_identity() from None
    service = previews()
    if service.inline is not None:
        bundle, summary = _run_inline(service.inline, resource)
    else:
        bundle, summary = _run_on_a_worker(service, resource)
    audit("preview.built", report=hash_id(report_key), rule=summary["rule"], tasks=summary["tasks"],
          entries=summary["entries"], parse_failures=summary.get("parse_failures", {}))
    headers = {"X-RadLite-Rule": summary["rule"], "X-RadLite-Tasks": ",".join(summary["tasks"])}
    return fhir_response(bundle, 200, headers, mimetype=response_mimetype())


def _no_identity() -> ApiError:
    return ApiError.simple(422, "the report needs an id or an identifier with a value",
                           "DiagnosticReport.id", "DiagnosticReport.identifier", code="required")


def _unavailable(detail: str) -> ApiError:
    return ApiError(503, Issue("error", "transient", f"inference is not available: {detail}"))


def _build_failed(detail: str) -> ApiError:
    return ApiError(500, Issue("fatal", "exception", f"cannot build the transaction: {detail}"))


def _run_on_a_worker(service: Previews, resource: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Queue the preview, wait for a worker's answer, delete it; (bundle, summary) or ApiError."""
    settings = runtime().settings.preview
    if not service._waiting.acquire(blocking=False):
        raise throttled(f"this server is already waiting for {service.max_waiting} previews "
                        "(preview.max_waiting_per_process); try again shortly", FULL_RETRY_AFTER)
    try:
        store = runtime().store
        try:
            queued = store.submit_preview(resource, timeout_seconds=settings.timeout_seconds,
                                          max_pending=settings.max_pending, correlation_id=correlation_id(),
                                          client=client())
        except PreviewsFull as exc:
            raise throttled(f"{exc.limit} previews are already queued or running (preview.max_pending); "
                            "try again shortly", FULL_RETRY_AFTER) from None
        answer = _wait(store, queued.id, settings.timeout_seconds)
    finally:
        service._waiting.release()
    if answer is None or answer.state not in _ANSWERED:
        audit("preview.timed_out", preview=queued.id, timeout_seconds=settings.timeout_seconds,
              state=answer.state if answer is not None else "gone")
        raise ApiError(503, Issue("error", "transient",
                                  f"no inference worker answered the preview within {settings.timeout_seconds:g} s "
                                  "(the workers are busy, or none is running); try again later"),
                       {"Retry-After": str(TIMEOUT_RETRY_AFTER)})
    audit("preview.answered", preview=queued.id, state=answer.state,
          queued_seconds=_seconds(answer.created_at, answer.started_at),
          run_seconds=_seconds(answer.started_at, answer.finished_at))
    return _answered(answer.result, answer.error_kind, answer.error)


def _answered(result: dict[str, Any] | None, error_kind: str | None,
              error: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(bundle, summary) of an answered preview, or the ApiError its failure kind calls for."""
    if error_kind is None and result is not None:
        return result["bundle"], result["summary"]
    detail = error or "unknown error"
    if error_kind == PreviewFailure.UNAVAILABLE.value:
        raise _unavailable(detail)
    if error_kind == PreviewFailure.BUILD.value:
        raise _build_failed(detail)
    if error_kind == PreviewFailure.INVALID.value:
        raise _no_identity()
    raise ApiError(500, Issue("fatal", "exception", f"the preview failed in the inference worker ({detail})"))


def _wait(store, preview_id: str, timeout: float):
    """Poll until the preview is answered (then it is read and deleted) or ``timeout`` seconds
    have passed (then it is deleted whatever its state, after a last look for an answer)."""
    deadline = time.monotonic() + timeout
    delay = POLL_FIRST
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return store.take_preview(preview_id, cancel=True)
        time.sleep(min(delay, left))
        delay = min(delay * POLL_GROWTH, POLL_MAX)
        state = store.preview_state(preview_id)
        if state is None:
            return None
        if state in _ANSWERED:
            return store.take_preview(preview_id)


def _seconds(start, end) -> float | None:
    return round((end - start).total_seconds(), 3) if start is not None and end is not None else None


def _run_inline(previewer: Any, resource: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Development only (``radlite serve --inline-previews``): run the preview in this process,
    through the previewer the app was given (:class:`integration.inference.dry_run.Previewer`)."""
    answer = previewer.answer(resource, runtime().store)
    return _answered(answer.result, answer.error_kind, answer.error)
