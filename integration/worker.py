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
preview is the code path of ``radlite preview`` (:func:`integration.preview.preview_report`) on
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
from typing import Any, Callable, Sequence

from integration import metrics
from integration.audit import audit, bind_correlation_id, clear_context, get_logger, hash_id
from integration.evidence.decide import decide, threshold_for
from integration.fhir.lifecycle import is_withdrawn
from integration.fhir.report import report_text
from integration.inference import Bundle, BundleError, Output, Request, Router
from integration.settings import RouteRule, Settings
from integration.store import Job, JobStore, PreviewFailure, State, StoreError
from integration.tasks import API_ONLY_TASKS, TASKS, TaskInput

log = get_logger("radlite.worker")


def _codes(concepts: Any) -> set[str]:
    out: set[str] = set()
    for concept in concepts if isinstance(concepts, list) else [concepts]:
        for coding in (concept or {}).get("coding") or []:
            if coding.get("code"):
                out.add(str(coding["code"]))
    return out


def _texts(resource: dict[str, Any]) -> str:
    parts = [(resource.get("code") or {}).get("text") or ""]
    for concept in [resource.get("code") or {}, *(resource.get("category") or [])]:
        parts.extend(c.get("display") or "" for c in concept.get("coding") or [])
    return " ".join(parts).lower()


def rule_matches(rule: RouteRule, resource: dict[str, Any]) -> bool:
    code_codes = _codes(resource.get("code"))
    category_codes = _codes(resource.get("category") or [])
    if rule.loinc and not code_codes & set(rule.loinc):
        return False
    if rule.category and not category_codes & set(rule.category):
        return False
    if rule.modality and not (code_codes | category_codes) & set(rule.modality):
        return False
    if rule.text_contains:
        text = _texts(resource)
        if not any(t.lower() in text for t in rule.text_contains):
            return False
    if rule.fhirpath:
        from fhirpathpy import evaluate  # noqa: PLC0415 -- fhirpathpy (antlr4, ~75 ms) only for FHIRPath route rules

        result = evaluate(resource, rule.fhirpath)
        if not (result and all(bool(v) for v in result)):
            return False
    return True


def select_tasks(resource: dict[str, Any], settings: Settings) -> tuple[str, list[str]]:
    """(name of the matching rule or "default", tasks to run); the first matching rule wins."""
    for rule in settings.routing.rules:
        if rule_matches(rule, resource):
            return rule.name, list(rule.tasks)
    return "default", list(settings.routing.default_tasks)


def check_routing(settings: Settings) -> None:
    """Refuse at startup the routing the worker could never run."""
    problems = []
    for rule in settings.routing.rules:
        for task in rule.tasks:
            if task not in TASKS:
                problems.append(f"routing rule {rule.name!r}: unknown task {task!r}")
            elif task in API_ONLY_TASKS:
                problems.append(f"routing rule {rule.name!r}: {task} needs API input and cannot be routed")
    for task in settings.routing.default_tasks:
        if task not in TASKS or task in API_ONLY_TASKS:
            problems.append(f"routing.default_tasks: {task!r} cannot run on a pushed report")
    if problems:
        raise ValueError("; ".join(problems))


def result_record(out: Output, bundle: Bundle) -> dict[str, Any]:
    """What the store keeps of one model answer (before the decision): the answer, how it was
    decoded, by which bundle, the probabilities behind it and what it cost."""
    record = {
        "parsed": out.result.parsed,
        "value": out.result.value,
        "error": out.result.error,
        "raw": out.result.raw,
        "mode": out.mode,
        "bundle": {
            "name": bundle.name,
            "version": bundle.manifest.version,
            "sha256": bundle.model_sha256,
            "base_model": bundle.manifest.base_model,
            "calibration_sha256": bundle.manifest.calibration_sha256(),
        },
        "prompt_tokens": out.prompt_tokens,
        "output_tokens": out.output_tokens,
        "seconds": round(out.seconds, 4),
    }
    if out.label_probs:
        record["label_probs"] = out.label_probs
    if out.slot_probs:
        record["slot_probs"] = out.slot_probs
    if out.mean_logprob is not None:
        record["mean_logprob"] = round(out.mean_logprob, 4)
    return record


def decided_record(out: Output, request: Request, router: Router, site_thresholds: dict[str, float]) -> dict[str, Any]:
    """The result record with the adapter's decision on it (integration/evidence/decide.py): the
    stated answer where the report gives one, evidence, confidence, or an abstention."""
    bundle = router.engine_for(out.result.task).bundle
    threshold = threshold_for(out.result.task, bundle.manifest.thresholds, site_thresholds)
    return decide(out.result.task, request.input, result_record(out, bundle), threshold)


# -- one report: the steps the worker and the preview share ---------------------------------------


@dataclass
class ReportPlan:
    """What runs for one report: the matching rule, the tasks with their requests (in order), and
    the tasks skipped with the reason."""

    rule: str
    tasks: list[str]
    requests: list[Request]
    skipped: dict[str, str]


def plan_report(resource: dict[str, Any], settings: Settings,
                prior_resource: Callable[[], dict[str, Any] | None] | None = None) -> ReportPlan:
    """Select the tasks for a report and build their requests. ``prior_resource`` returns the
    patient's earlier report (for a task that compares with it), or None when there is none."""
    rule, tasks = select_tasks(resource, settings)
    text = report_text(resource)
    requests, skipped = [], {}
    for task in tasks:
        x = TaskInput(report=text)
        if TASKS[task].needs_prior:
            prior = prior_resource() if prior_resource is not None else None
            if prior is None:
                skipped[task] = "no earlier report for this patient"
                continue
            x = TaskInput(report=text, prior_report=report_text(prior))
        requests.append(Request(task, x))
    return ReportPlan(rule, [r.task for r in requests], requests, skipped)


def collect_results(plan: ReportPlan, outputs: Sequence[Output], router: Router,
                    site_thresholds: dict[str, float] | None = None) -> dict[str, Any]:
    """The job's ``results`` (what the store keeps and the write-back reads) from the outputs of
    ``plan.requests``, in the same order, each decided against the report (stated facts,
    evidence, confidence thresholds: ``site_thresholds`` overrides the bundle's)."""
    if len(outputs) != len(plan.tasks):
        raise ValueError(f"{len(outputs)} outputs for {len(plan.tasks)} tasks")
    results: dict[str, Any] = {
        task: decided_record(out, request, router, site_thresholds or {})
        for task, out, request in zip(plan.tasks, outputs, plan.requests)
    }
    for task, why in plan.skipped.items():
        results[task] = {"parsed": False, "value": None, "error": f"skipped: {why}", "skipped": True}
    return results


def infer_report(resource: dict[str, Any], settings: Settings, router: Router,
                 prior_resource: Callable[[], dict[str, Any] | None] | None = None) -> tuple[ReportPlan, dict[str, Any]]:
    """Plan and run one report's tasks: (plan, results). The worker does the same in batches of
    reports; :mod:`integration.preview` uses this."""
    plan = plan_report(resource, settings, prior_resource)
    outputs = router.run(plan.requests) if plan.requests else []
    return plan, collect_results(plan, outputs, router, settings.decisions.min_confidence)


def record_decision(job_id: str, task: str, record: dict[str, Any]) -> None:
    """Audit and count what was decided for one result: its source, and every abstention with its
    reason code (never the report's words or the answer itself)."""
    if record.get("abstained"):
        reason = (record.get("abstention") or {}).get("reason", "unknown")
        audit("result.abstained", job=job_id, task=task, reason=reason,
              confidence=record.get("confidence"), threshold=record.get("threshold"))
        metrics.abstained(task, reason)
    else:
        audit("result.decided", job=job_id, task=task, source=record.get("source"),
              confidence=record.get("confidence"), evidence=sum(len(v) for v in (record.get("evidence") or {}).values()),
              disagreement=bool(record.get("disagreement")))
        metrics.decided(task, str(record.get("source")))
    for item in record.get("abstained_items") or []:
        audit("result.item_abstained", job=job_id, task=task, reason=item.get("reason"))
        metrics.abstained(task, str(item.get("reason")))


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
class Plan:
    job: Job
    tasks: list[str]
    requests: list[Request]
    skipped: dict[str, str]


class Worker:
    def __init__(self, settings: Settings, store: JobStore, router: Router, owner: str | None = None,
                 mappings=None, *, previews_only: bool = False) -> None:
        check_routing(settings)
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

    @property
    def mappings(self):
        if self._mappings is None:
            from integration.writeback.mappings import load_mappings  # noqa: PLC0415 -- requests/jwt/cryptography only for previews

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
        from integration.preview import preview_report, store_prior  # noqa: PLC0415 -- import cycle: integration.preview imports this module
        from integration.writeback.bundle import BuildError  # noqa: PLC0415 -- requests/jwt/cryptography only for previews

        bind_correlation_id(request.correlation_id)
        started = time.perf_counter()
        result, kind, error = None, None, None
        try:
            preview = preview_report(request.resource, self.settings, self.router, self.mappings,
                                     prior_resource=store_prior(self.store, request.resource))
            result = {"bundle": preview.bundle, "summary": preview.summary()}
        except BundleError as exc:
            kind, error = PreviewFailure.UNAVAILABLE.value, str(exc)  # our own message: which bundle, why
        except BuildError as exc:
            kind, error = PreviewFailure.BUILD.value, str(exc)
        except StoreError:
            kind, error = PreviewFailure.INVALID.value, "the report needs an id or an identifier with a value"
        except Exception as exc:  # noqa: BLE001 -- the preview fails, the worker goes on
            kind, error = PreviewFailure.EXCEPTION.value, type(exc).__name__
            log.warning("preview.failed", preview=request.id, error=type(exc).__name__)
        seconds = time.perf_counter() - started
        stored = self.store.finish_preview(request.id, self.owner, result=result, error_kind=kind, error=error)
        audit("preview.inferred", preview=request.id, outcome=kind or "done", seconds=round(seconds, 3),
              stored=stored)
        clear_context()

    def plan(self, job: Job) -> Plan:
        def prior() -> dict[str, Any] | None:
            earlier = self.store.prior_report(job)
            return earlier.resource if earlier is not None else None

        bind_correlation_id(job.correlation_id)
        rp = plan_report(job.resource, self.settings, prior)
        audit("job.planned", job=job.id, rule=rp.rule, tasks=rp.tasks, skipped=sorted(rp.skipped))
        return Plan(job, rp.tasks, rp.requests, rp.skipped)

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

    def _infer(self, plans: Sequence[Plan]) -> None:
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
                metrics.observe_inference(task, out.mode, out.seconds, out.prompt_tokens, out.output_tokens,
                                          out.result.parsed)
                if not out.result.parsed:
                    audit("inference.parse_failed", job=plan.job.id, task=task)
                record_decision(plan.job.id, task, results[task])
            if self.store.finish_inference(plan.job.id, self.owner, plan.tasks, results):
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
            metrics.dead_lettered("inference")
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
