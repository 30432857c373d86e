"""``GET /jobs/<id>``: a job's state and results, and ``GET /jobs``: the latest jobs, those with a
critical result first -- for the EHR side (authenticated like intake)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Blueprint, jsonify, request

from integration.intake.http.context import job_url, runtime
from integration.intake.http.errors import ApiError
from integration.mappings.critical import critical_findings
from integration.store import Job, State, alerts as alert_rows

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def _ts(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _report(job: Job) -> dict[str, Any]:
    key = job.report_key
    if key.startswith("DiagnosticReport/"):
        return {"reference": key}
    if key.startswith("identifier:"):
        system, _, value = key[len("identifier:"):].partition("|")
        ident = {"value": value}
        if system:
            ident["system"] = system
        return {"type": "DiagnosticReport", "identifier": ident}
    return {"display": key}  # pragma: no cover - the store only makes the two forms above


def _results(results: dict[str, Any] | None) -> dict[str, Any] | None:
    if results is None:
        return None
    out = {}
    for task, record in results.items():
        if not isinstance(record, dict):
            out[task] = record
            continue
        shown = dict(record)
        # The model's raw text is shown only when it could not be parsed (to see why).
        if shown.get("parsed") and "raw" in shown:
            del shown["raw"]
        out[task] = shown
    return out


def _link(job_id: str | None) -> dict[str, str] | None:
    return {"id": job_id, "url": job_url(job_id)} if job_id else None


def job_json(job: Job) -> dict[str, Any]:
    version = job.report_version
    return {
        "id": job.id,
        "url": job_url(job.id),
        "state": job.state,
        "report": _report(job),
        "version": version,
        "source": job.source,
        "correlation_id": job.correlation_id,
        "created_at": _ts(job.created_at),
        "updated_at": _ts(job.updated_at),
        "written_at": _ts(job.written_at),
        "attempts": {"inference": job.inference_attempts, "write": job.write_attempts},
        "tasks": job.tasks,
        "results": _results(job.results),
        # Written results that meet a critical-result rule, most urgent first.
        "critical": [f.as_dict() for f in critical_findings(job.results, runtime().critical_rules)],
        # The alerts sent for them and what became of each (acknowledged, escalated, ...).
        "alerts": [alert_rows.as_dict(a) for a in runtime().store.job_alerts(job.id)] if job.id else [],
        # Follow-up recommendations the report makes (ServiceRequest proposals when written).
        "followups": job.followups,
        "written": job.written,
        "error": job.error,
        "error_detail": job.error_detail,
        "supersedes": _link(job.supersedes),
        "superseded_by": _link(job.superseded_by),
    }


@bp.get("/<path:job_id>")
def get_job(job_id: str):
    job = runtime().store.get(job_id) if JOB_ID.match(job_id) else None
    if job is None:
        raise ApiError.simple(404, "no such job")
    return jsonify(job_json(job))


# How many jobs one ``GET /jobs`` lists at most.
LIST_LIMIT = 500


@bp.get("")
def list_jobs():
    """The latest jobs (``?state=`` one state, ``?limit=`` how many, 100 by default): the most
    urgent critical result first, then the newest. A summary each; ``GET /jobs/<id>`` has the rest."""
    state_arg = request.args.get("state")
    try:
        state = State(state_arg) if state_arg else None
    except ValueError:
        raise ApiError.simple(400, f"state must be one of {', '.join(s.value for s in State)}") from None
    limit_arg = request.args.get("limit", "100")
    if not limit_arg.isdigit() or not 1 <= int(limit_arg) <= LIST_LIMIT:
        raise ApiError.simple(400, f"limit must be a whole number from 1 to {LIST_LIMIT}")
    store = runtime().store
    rules = runtime().critical_rules
    out = []
    for job in store.jobs_by_urgency(state, int(limit_arg)):
        out.append({
            "id": job.id, "url": job_url(job.id), "state": job.state, "report": _report(job),
            "version": job.report_version, "created_at": _ts(job.created_at), "written_at": _ts(job.written_at),
            "critical": [{"rule": f.rule.id, "category": f.rule.category, "item": f.item}
                         for f in critical_findings(job.results, rules)],
            "followups": len(job.followups or []),
            "error": job.error,
        })
    return jsonify({"jobs": out, "count": len(out)})
