"""The inference worker: claim received jobs, run the tasks their reports call for, store results;
and answer ``$preview`` requests, which the web process queues in the store and never runs itself.

One batch = up to ``worker.batch_size`` jobs. All their task requests go to the router together,
so requests of one task are batched across reports. If the batch fails as a whole, each job is
retried alone so one bad report cannot sink the others; a job that still fails is dead-lettered
with the reason. Results are stored fenced on the lease: a worker that lost its lease (it was too
slow, or presumed dead) cannot overwrite the work of the one that took over.

Previews come first: a person is waiting for each. Every iteration answers the queued previews
(:meth:`Worker.run_previews`, one claim at a time so that idle workers share them) before it claims
a batch of jobs, and an idle worker looks for previews every ``preview.worker_poll_seconds``. A
preview is the code path of ``radlite preview`` (:func:`integration.inference.dry_run.preview_report`) on
this worker's router, so it costs no second copy of a model.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Sequence

from integration import monitoring
from integration.audit import audit, bind_correlation_id, clear_context, get_logger, hash_id
from integration.fhir.lifecycle import is_withdrawn
from integration.inference.dry_run import PreviewAnswer, answer_preview
from integration.inference.engine import Request
from integration.inference.evidence.followup import followup_recommendations
from integration.inference.report_plan import ReportPlan, collect_results, plan_report, record_decision
from integration.inference.router import Router
from integration.inference.routing import check_routing
from integration.mappings import load_mappings
from integration.mappings.critical import critical_findings, prior_tasks, record_prior, write_priority
from integration.mappings.loader import load_rules
from integration.settings import Settings
from integration.store import Job, JobStore, PreviewFailure, State

log = get_logger("radlite.worker")


def _flush_logs() -> None:
    """Push out what the log handlers still buffer (structlog's own lines are flushed each)."""
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:  # noqa: BLE001 -- shutting down: never fail on a log handler
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 -- shutting down: never fail on a closed stream
            pass


@dataclass
class JobPlan:
    """A claimed job with its report's plan: what one batch slot runs."""

    job: Job
    tasks: list[str]
    requests: list[Request]
    skipped: dict[str, str]


class Worker:
    def __init__(self, settings: Settings, store: JobStore, router: Router, owner: str | None = None,
                 mappings=None, *, previews_only: bool = False) -> None:
        check_routing(settings.routing)
        self.settings = settings
        self.store = store
        self.router = router
        self.owner = owner or f"worker:{socket.gethostname()}:{os.getpid()}"
        self.stop = threading.Event()
        # `radlite worker --previews-only`: never claims jobs, so a preview never waits for a batch.
        self.previews_only = previews_only
        # The write-back's mappings, for previews (`radlite worker` passes the ones it checked at
        # start; otherwise loaded on the first preview).
        self._mappings = mappings
        # Which written results must reach a clinician now (integration/mappings/critical.py).
        self.critical_rules = load_rules(settings.writeback.mappings_dir)

    @property
    def mappings(self):
        if self._mappings is None:
            self._mappings = load_mappings(self.settings.writeback.mappings_dir)
        return self._mappings

    # -- previews ---------------------------------------------------------------------------

    def run_previews(self, limit: int | None = None) -> int:
        """Answer queued previews, at most ``limit`` (default ``preview.max_pending``, so that a
        stream of previews cannot starve the jobs); return how many were run."""
        limit = self.settings.preview.max_pending if limit is None else limit
        done = 0
        while done < limit and not self.stop.is_set():
            request = self.store.claim_preview(self.owner)
            if request is None:
                break
            self._run_preview(request)
            done += 1
        return done

    def _run_preview(self, request) -> None:
        """Run one claimed preview and store its answer (fenced: dropped when its request stopped
        waiting). Any error is the preview's own answer, never the worker's end; what is stored
        and logged of an unexpected one is its type, never its message (it could quote the report)."""

        bind_correlation_id(request.correlation_id)
        started = time.perf_counter()
        try:
            answer = answer_preview(request.resource, self.store, self.settings, self.router, self.mappings)
        except Exception as exc:  # noqa: BLE001 -- the preview fails, the worker goes on
            answer = PreviewAnswer(error_kind=PreviewFailure.EXCEPTION.value, error=type(exc).__name__)
            log.warning("preview.failed", preview=request.id, error=type(exc).__name__)
        result, kind, error = answer.result, answer.error_kind, answer.error
        seconds = time.perf_counter() - started
        stored = self.store.finish_preview(request.id, self.owner, result=result, error_kind=kind, error=error)
        audit("preview.inferred", preview=request.id, outcome=kind or "done", seconds=round(seconds, 3),
              stored=stored)
        clear_context()

    def plan(self, job: Job) -> JobPlan:
        def prior() -> dict[str, Any] | None:
            earlier = self.store.prior_report(job)
            return earlier.resource if earlier is not None else None

        bind_correlation_id(job.correlation_id)
        rp = plan_report(job.resource, self.settings.routing, prior)
        audit("job.planned", job=job.id, rule=rp.rule, tasks=rp.tasks, skipped=sorted(rp.skipped))
        return JobPlan(job, rp.tasks, rp.requests, rp.skipped)

    def run_once(self) -> int:
        """Answer the queued previews, then claim and process one batch; return how many jobs
        were claimed."""
        self.run_previews()
        if self.stop.is_set() or self.previews_only:
            return 0
        ws = self.settings.worker
        jobs = self.store.claim_for_inference(self.owner, ws.batch_size, ws.lease_seconds)
        if not jobs:
            return 0
        plans = []
        for job in jobs:
            if is_withdrawn(job.resource):
                self._withdraw(job)
                continue
            try:
                plans.append(self.plan(job))
            except Exception as exc:  # noqa: BLE001 -- a bad report fails alone
                self._fail(job, f"cannot prepare report: {type(exc).__name__}: {exc}")
        clear_context()
        if not plans:
            return len(jobs)
        if self.stop.is_set():
            for plan in plans:
                self.store.release(plan.job.id, self.owner, State.INFERRING)
            return len(jobs)
        try:
            self._infer(plans)
        except Exception:  # noqa: BLE001 -- isolate the job that breaks the batch
            log.warning("batch.failed_retrying_singly", jobs=len(plans))
            for plan in plans:
                try:
                    self._infer([plan])
                except Exception as exc:  # noqa: BLE001 -- any error fails this job alone
                    self._fail(plan.job, f"inference failed: {type(exc).__name__}: {exc}")
        return len(jobs)

    def _infer(self, plans: Sequence[JobPlan]) -> None:
        requests = [r for p in plans for r in p.requests]
        for plan in plans:
            bind_correlation_id(plan.job.correlation_id)
            audit("inference.started", job=plan.job.id, report=hash_id(plan.job.report_key), tasks=plan.tasks)
        clear_context()
        started = time.perf_counter()
        outputs = self.router.run(requests)
        elapsed = time.perf_counter() - started
        i = 0
        for plan in plans:
            bind_correlation_id(plan.job.correlation_id)
            mine = outputs[i:i + len(plan.tasks)]
            i += len(plan.tasks)
            results = collect_results(ReportPlan("", plan.tasks, plan.requests, plan.skipped), mine, self.router,
                                      self.settings.decisions.min_confidence)
            for task, out in zip(plan.tasks, mine):
                bundle = results[task]["bundle"]
                audit(
                    "inference.finished", job=plan.job.id, task=task, bundle=bundle["name"],
                    bundle_sha256=bundle["sha256"][:12], mode=out.mode, prompt_tokens=out.prompt_tokens,
                    output_tokens=out.output_tokens, seconds=round(out.seconds, 3),
                )
                monitoring.observe_inference(task, out.mode, out.seconds, out.prompt_tokens, out.output_tokens,
                                          out.result.parsed)
                if not out.result.parsed:
                    audit("inference.parse_failed", job=plan.job.id, task=task)
                record_decision(plan.job.id, task, results[task])
            needs_prior = prior_tasks(self.critical_rules) & set(results)
            if needs_prior:
                earlier = self.store.prior_report(plan.job)
                if earlier is not None:
                    record_prior(results, earlier.results, earlier.id, needs_prior)
            findings = critical_findings(results, self.critical_rules)
            for finding in findings:
                # The rule and its category only: the finding's words stay in the store.
                audit("result.critical", job=plan.job.id, task=finding.task, rule=finding.rule.id,
                      category=finding.rule.category, within_minutes=finding.rule.within_minutes)
                monitoring.critical_finding(finding.rule.id, finding.rule.category)
            followups = followup_recommendations(plan.job.resource)
            if followups:
                audit("result.followups", job=plan.job.id, count=len(followups))
            if self.store.finish_inference(plan.job.id, self.owner, plan.tasks, results, write_priority(findings),
                                           followups):
                audit("job.inferred", job=plan.job.id, tasks=len(plan.tasks), batch_seconds=round(elapsed, 3))
            else:
                audit("job.lease_lost", job=plan.job.id)
        clear_context()

    def _withdraw(self, job: Job) -> None:
        """A withdrawn report (entered-in-error, cancelled) is not read: the write-back withdraws
        what its earlier versions wrote and writes nothing new."""
        bind_correlation_id(job.correlation_id)
        if self.store.withdraw_only(job.id, self.owner):
            audit("job.withdrawn", job=job.id, report=hash_id(job.report_key), status=job.resource.get("status"))
        clear_context()

    def _fail(self, job: Job, reason: str) -> None:
        bind_correlation_id(job.correlation_id)
        # When an earlier version wrote to the chart, its results no longer describe the report:
        # the write-back withdraws them first, then the job is the dead letter it would be.
        if self.store.has_written_version(job):
            done = self.store.withdraw_only(job.id, self.owner, reason)
        else:
            done = self.store.fail(job.id, self.owner, State.INFERRING, reason)
        if done:
            audit("job.dead_lettered", job=job.id, stage="inference", reason=reason.split(":")[0])
            monitoring.dead_lettered("inference")
        clear_context()

    def _idle(self) -> None:
        """Wait ``worker.poll_seconds`` for jobs, answering previews every
        ``preview.worker_poll_seconds`` meanwhile (back to the jobs after one was answered)."""
        deadline = time.monotonic() + self.settings.worker.poll_seconds
        step = self.settings.preview.worker_poll_seconds
        while not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self.stop.wait(min(left, step)):
                return
            if self.run_previews():
                return

    def run_forever(self) -> None:
        """Loop until SIGTERM/SIGINT; the batch in hand is finished (or released) first."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                signal.signal(sig, lambda *_: self.stop.set())
            except ValueError:  # not the main thread (tests)
                pass
        audit("worker.started", owner=hash_id(self.owner))
        while not self.stop.is_set():
            if self.run_once() == 0:
                self._idle()
        audit("worker.stopped", owner=hash_id(self.owner))
        _flush_logs()
