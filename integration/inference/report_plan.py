"""One report through inference, the steps the worker (in batches) and the preview (one at a time)
share: plan the report's tasks and their requests (:func:`plan_report`), then turn the model's
outputs into the job's results (:func:`collect_results`), each decided against the report --
stated facts, verifiers, evidence, confidence thresholds (integration/inference/evidence/decide.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from integration import monitoring
from integration.audit import audit
from integration.fhir.report import report_text
from integration.inference.engine import Output, Request
from integration.inference.evidence.decide import decide, threshold_for
from integration.inference.model_bundle import ModelBundle
from integration.inference.router import Router
from integration.inference.routing import select_tasks
from integration.settings import RoutingSettings
from integration.tasks import TASKS, TaskInput


def result_record(out: Output, bundle: ModelBundle) -> dict[str, Any]:
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
    """The result record with the adapter's decision on it (integration/inference/evidence/decide.py): the
    stated answer where the report gives one, evidence, confidence, or an abstention."""
    bundle = router.engine_for(out.result.task).bundle
    threshold = threshold_for(out.result.task, bundle.manifest.thresholds, site_thresholds)
    return decide(out.result.task, request.input, result_record(out, bundle), threshold)


@dataclass
class ReportPlan:
    """What runs for one report: the matching rule, the tasks with their requests (in order), and
    the tasks skipped with the reason."""

    rule: str
    tasks: list[str]
    requests: list[Request]
    skipped: dict[str, str]


def plan_report(resource: dict[str, Any], routing: RoutingSettings,
                prior_resource: Callable[[], dict[str, Any] | None] | None = None) -> ReportPlan:
    """Select the tasks for a report and build their requests. ``prior_resource`` returns the
    patient's earlier report (for a task that compares with it), or None when there is none."""
    rule, tasks = select_tasks(resource, routing)
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


def infer_report(resource: dict[str, Any], routing: RoutingSettings, router: Router,
                 site_thresholds: dict[str, float] | None = None,
                 prior_resource: Callable[[], dict[str, Any] | None] | None = None) -> tuple[ReportPlan, dict[str, Any]]:
    """Plan and run one report's tasks: (plan, results). The worker does the same in batches of
    reports; :mod:`integration.inference.dry_run` uses this."""
    plan = plan_report(resource, routing, prior_resource)
    outputs = router.run(plan.requests) if plan.requests else []
    return plan, collect_results(plan, outputs, router, site_thresholds)


def record_decision(job_id: str, task: str, record: dict[str, Any]) -> None:
    """Audit and count what was decided for one result: its source, and every abstention with its
    reason code (never the report's words or the answer itself)."""
    if record.get("abstained"):
        reason = (record.get("abstention") or {}).get("reason", "unknown")
        audit("result.abstained", job=job_id, task=task, reason=reason,
              confidence=record.get("confidence"), threshold=record.get("threshold"))
        monitoring.abstained(task, reason)
    else:
        audit("result.decided", job=job_id, task=task, source=record.get("source"),
              confidence=record.get("confidence"), evidence=sum(len(v) for v in (record.get("evidence") or {}).values()),
              disagreement=bool(record.get("disagreement")))
        monitoring.decided(task, str(record.get("source")))
    for item in record.get("abstained_items") or []:
        audit("result.item_abstained", job=job_id, task=task, reason=item.get("reason"))
        monitoring.abstained(task, str(item.get("reason")))
