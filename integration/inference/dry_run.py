"""Preview: the transaction Bundle the write-back WOULD write for a report -- nothing is stored,
nothing is sent to the EHR.

``POST /fhir/DiagnosticReport/$preview`` (run by ``radlite worker``: the web process only queues
the report, :mod:`integration.intake.http.preview`) and ``radlite preview FILE`` both end here. The steps
are the production ones, not a re-implementation:

1. :func:`integration.inference.report_plan.plan_report` -- the routing rules pick the tasks (and the patient's
   earlier report for temporal_comparison, when a job store is at hand);
2. :func:`integration.inference.report_plan.infer_report` -- the configured bundles answer, through the same
   :class:`~integration.inference.Router` and :func:`~integration.inference.report_plan.result_record` as the
   worker, so the results have the worker's format;
3. :func:`integration.fhir.transaction.plan_transaction` -- the write-back's bundle assembly, on a
   job made of the report's own (report_key, report_version) (:func:`report_identity`, as the
   store computes them).

So the Observations of a preview carry the identifiers, codes and values the write-back then
writes for that report version (given the same model answers: scored tasks are deterministic,
generated text can differ when batched with other reports). Not in a preview: the
``entered-in-error`` updates of an earlier version's Observations (they need the EHR's current
copies), and the time stamps (Provenance.recorded is the time of the preview).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from integration.fhir.transaction import BuildError, TransactionPlan, plan_transaction
from integration.inference.evidence.followup import followup_recommendations
from integration.inference.model_bundle import BundleError
from integration.inference.report_plan import ReportPlan, infer_report
from integration.inference.router import Router
from integration.mappings import Mappings, load_mappings
from integration.settings import Settings
from integration.store import Job, JobStore, PreviewFailure, StoreError, report_identity
from integration.store.models import utcnow


@dataclass
class Preview:
    report_key: str
    report_version: str
    plan: ReportPlan
    results: dict[str, Any]
    transaction: TransactionPlan

    @property
    def bundle(self) -> dict[str, Any]:
        """The transaction Bundle. With nothing to write it has no entries (the write-back then
        posts nothing); ``entry`` is left out, as FHIR JSON has no empty arrays."""
        bundle = dict(self.transaction.bundle)
        if not bundle.get("entry"):
            bundle.pop("entry", None)
        return bundle

    def summary(self) -> dict[str, Any]:
        """What ran and what was left out, for people (CLI stderr, HTTP headers, audit)."""
        out: dict[str, Any] = {
            "rule": self.plan.rule,
            "tasks": list(self.plan.tasks),
            "entries": self.transaction.counts(),
        }
        if self.plan.skipped:
            out["skipped"] = dict(self.plan.skipped)
        if self.transaction.parse_failures:
            out["parse_failures"] = dict(self.transaction.parse_failures)
        if self.transaction.not_written:
            out["not_written"] = list(self.transaction.not_written)
        return out


def preview_report(
    resource: dict[str, Any],
    settings: Settings,
    router: Router,
    mappings: Mappings,
    *,
    prior_resource: Callable[[], dict[str, Any] | None] | None = None,
    now: dt.datetime | None = None,
) -> Preview:
    """Run the pipeline on ``resource`` (a DiagnosticReport that passed ``check_report``) and
    build the transaction Bundle; raises StoreError when the report has neither id nor identifier,
    BuildError when a result does not fit its task (as the write-back would)."""
    key, version = report_identity(resource)
    plan, results = infer_report(resource, settings.routing, router, settings.decisions.min_confidence, prior_resource)
    # A job that is never stored: the write-back's assembly reads the same fields from it.
    job = Job(id=None, resource=resource, report_key=key, report_version=version, results=results,
              supersedes=None, correlation_id=None, followups=followup_recommendations(resource))
    transaction = plan_transaction(job, mappings, base_url=settings.ehr.base_url, now=now,
                                   audit_event=settings.writeback.audit_event)
    return Preview(key, version, plan, results, transaction)


def store_prior(store, resource: dict[str, Any]) -> Callable[[], dict[str, Any] | None]:
    """The patient's most recent earlier report in ``store`` (read only), as the worker finds it
    for a report received now."""
    def find() -> dict[str, Any] | None:
        key, _ = report_identity(resource)
        probe = Job(subject_ref=(resource.get("subject") or {}).get("reference") or None,
                    report_key=key, created_at=utcnow())
        earlier = store.prior_report(probe)
        return earlier.resource if earlier is not None else None

    return find


@dataclass(frozen=True)
class PreviewAnswer:
    """A preview's answer in the form the store keeps for a queued one: ``result`` (the Bundle and
    its summary) or ``error_kind`` (a :class:`~integration.store.PreviewFailure` value) with
    ``error``, a message of ours that never quotes the report."""

    result: dict[str, Any] | None = None
    error_kind: str | None = None
    error: str | None = None


def answer_preview(resource: dict[str, Any], store: JobStore, settings: Settings, router: Router,
                   mappings: Mappings) -> PreviewAnswer:
    """Run a preview and sort its expected failures into the kinds the intake answers with its
    own status (no bundle: 503, no identity: 422, cannot build: 500). Anything else propagates."""
    try:
        preview = preview_report(resource, settings, router, mappings, prior_resource=store_prior(store, resource))
    except BundleError as exc:
        return PreviewAnswer(error_kind=PreviewFailure.UNAVAILABLE.value, error=str(exc))  # which bundle, why
    except BuildError as exc:
        return PreviewAnswer(error_kind=PreviewFailure.BUILD.value, error=str(exc))
    except StoreError:
        return PreviewAnswer(error_kind=PreviewFailure.INVALID.value,
                             error="the report needs an id or an identifier with a value")
    return PreviewAnswer(result={"bundle": preview.bundle, "summary": preview.summary()})


@dataclass
class Previewer:
    """What ``radlite preview FILE`` (and ``radlite serve --inline-previews``, development only)
    needs to run previews in its own process: the mappings (loaded at startup, so a broken file
    stops the process) and a router whose bundles load on the first preview. Previews run one at
    a time: the router's lazy loading is not meant for concurrent first use. (``radlite worker``
    runs them on its own router instead: :meth:`integration.inference.worker.Worker.run_previews`.)"""

    settings: Settings
    mappings: Mappings
    router_factory: Callable[[], Router] | None = None
    _router: Router | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Settings, mappings: Mappings | None = None) -> "Previewer":
        if mappings is None:
            mappings = load_mappings(settings.writeback.mappings_dir)
        return cls(settings, mappings)

    @property
    def router(self) -> Router:
        if self._router is None:
            factory = self.router_factory or (lambda: Router.from_settings(self.settings.inference))
            self._router = factory()
        return self._router

    def preview(self, resource: dict[str, Any], *, prior_resource=None, now: dt.datetime | None = None) -> Preview:
        with self._lock:
            return preview_report(resource, self.settings, self.router, self.mappings,
                                  prior_resource=prior_resource, now=now)

    def answer(self, resource: dict[str, Any], store: JobStore) -> PreviewAnswer:
        """The inline ``$preview`` (:mod:`integration.intake.http.preview` calls this through the
        app, so the web layer never imports inference)."""
        with self._lock:
            return answer_preview(resource, store, self.settings, self.router, self.mappings)
