"""FHIR intake: DiagnosticReports pushed one by one, in Bundles, or by subscriptions.

* ``POST /fhir/DiagnosticReport``       one report → 202 + Location (200 for a duplicate push)
* ``PUT  /fhir/DiagnosticReport/<id>``  the same, as R4 rest-hook subscriptions send it; the id in
  the URL must be the body's id
* ``POST /fhir``                        a Bundle (batch, transaction, collection, history, searchset)
  or a subscription notification (R4B ``subscription-notification``; R4 backport ``history``
  whose first entry is a Parameters/SubscriptionStatus). An empty body is a classic R4 rest-hook
  ping without payload: 200, nothing queued.

The checks run in order: auth (401), rate (429), Content-Type (415), body size (413), JSON (400),
entries per Bundle (413 too-costly), the client's queue quota for a Bundle (429), resource type and
ids (400), report text size (413: longer than the model can read, checked before any attachment is
decoded), FHIR validation (422), and the queue quota again as the job is recorded (429). Nothing is
stored unless it passed them all. Quotas: :mod:`integration.intake.http.quotas`.

A ``transaction`` Bundle is all or nothing (FHIR's rule): its reports are recorded in one database
transaction (:meth:`JobStore.submit_many`), so an invalid entry, a quota, an error or a process
killed mid-request leaves nothing queued. A ``batch`` is entry by entry, each entry on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, request
from pydantic import ValidationError

from integration.audit import audit, hash_id
from integration.fhir.issues import Issue, has_errors
from integration.fhir.outcome import fhir_response, operation_outcome, outcome_response
from integration.fhir.report import check_report, is_fhir_id, oversize_issues, pydantic_issue
from integration.intake.http.body import check_content_type, json_resource, parse_json, read_body
from integration.intake.http.context import (
    client,
    correlation_id,
    ehr_base_url,
    job_url,
    max_queued_jobs,
    max_report_chars,
    runtime,
)
from integration.intake.http.errors import ApiError, response_mimetype
from integration.intake.http.quotas import check_bundle_entries, queue_full
from integration.store import Job, QuotaExceeded, StoreError

bp = Blueprint("fhir", __name__, url_prefix="/fhir")

BUNDLE_TYPES = ("batch", "transaction", "collection", "history", "searchset", "subscription-notification")
STATUS_RESOURCES = ("SubscriptionStatus", "Parameters")
REPORT = "DiagnosticReport"


# -- one report ------------------------------------------------------------------------------


def _no_identity(root: str = "DiagnosticReport") -> ApiError:
    return ApiError.simple(422, "the report needs an id or an identifier with a value",
                           f"{root}.id", f"{root}.identifier", code="required")


def _audit_job(job: Job, created: bool, source: str) -> None:
    version = job.report_version if not job.report_version.startswith("sha256:") else "content-hash"
    audit("job.queued" if created else "job.duplicate", job=job.id, report=hash_id(job.report_key),
          version=version, source=source, state=job.state, client=client())


def _submit(resource: dict[str, Any], source: str) -> tuple[Job, bool]:
    store = runtime().store
    try:
        job, created = store.submit(resource, source=source, correlation_id=correlation_id(),
                                    client=client(), max_queued=max_queued_jobs())
    except StoreError:
        raise _no_identity() from None
    except QuotaExceeded as exc:
        raise queue_full(exc.limit) from None
    _audit_job(job, created, source)
    return job, created


def _accepted(job: Job, created: bool, warnings: list[Issue]):
    url = job_url(job.id)
    note = Issue.info("informational", f"{'queued' if created else 'already received'} as job {job.id}; status at {url}")
    return outcome_response([note, *warnings], 202 if created else 200, {"Location": url}, response_mimetype())


def _one_report(resource: dict[str, Any], source: str):
    if resource.get("resourceType") != REPORT:
        raise ApiError.simple(400, "this endpoint takes a DiagnosticReport", "resourceType", code="invalid")
    too_long = oversize_issues(resource, max_report_chars())
    if too_long:
        raise ApiError(413, too_long)
    issues = check_report(resource, ehr_base_url=ehr_base_url())
    if has_errors(issues):
        raise ApiError(422, issues)
    job, created = _submit(resource, source)
    return _accepted(job, created, [i for i in issues if not i.is_error])


@bp.post("/DiagnosticReport")
def post_report():
    return _one_report(json_resource(), "push")


@bp.put("/DiagnosticReport/<path:rid>")
def put_report(rid: str):
    if not is_fhir_id(rid):
        raise ApiError.simple(400, "the id in the URL is not a valid FHIR id", "DiagnosticReport.id", code="value")
    resource = json_resource()
    if resource.get("resourceType") != REPORT:
        raise ApiError.simple(400, "this endpoint takes a DiagnosticReport", "resourceType", code="invalid")
    if resource.get("id") != rid:
        raise ApiError.simple(400, "the resource id must equal the id in the URL", "DiagnosticReport.id", code="invalid")
    return _one_report(resource, "rest-hook")


# -- bundles -----------------------------------------------------------------------------------


@dataclass
class _Entry:
    index: int
    kind: str  # report | bad | ignored | status | empty
    resource: dict[str, Any] | None = None
    issues: list[Issue] = field(default_factory=list)
    status: int = 422  # of a bad entry: 413 when its report text is too long, 429 over the queue quota, else 422


def _bundle_shell_issues(bundle: dict[str, Any]) -> list[Issue]:
    """Validate the Bundle without its entries' resources (those are judged one by one)."""
    from fhir.resources.R4B.bundle import Bundle  # noqa: PLC0415 -- fhir.resources models (~0.15 s) load on first validation

    entries = bundle.get("entry")
    shell = dict(bundle)
    if isinstance(entries, list):
        shell["entry"] = [{k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e
                          for e in entries]
    issues: list[Issue] = []
    try:
        Bundle.model_validate(shell)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            issues.append(pydantic_issue(err, "Bundle"))
    btype = bundle.get("type")
    if isinstance(btype, str) and btype not in BUNDLE_TYPES:
        issues.append(Issue.error("not-supported", "Bundle.type must be one of " + ", ".join(BUNDLE_TYPES), "Bundle.type"))
    if "entry" in bundle and not isinstance(entries, list) and not issues:
        issues.append(Issue.error("structure", "Bundle.entry must be an array", "Bundle.entry"))
    return issues


def _resource_type(entry: Any) -> str | None:
    if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
        rt = entry["resource"].get("resourceType")
        return rt if isinstance(rt, str) else None
    return None


def _classify(i: int, raw: Any, btype: str, status_index: int | None) -> _Entry:
    where = f"Bundle.entry[{i}]"
    if i == status_index:
        return _Entry(i, "status")
    if not isinstance(raw, dict):
        return _Entry(i, "bad", issues=[Issue.error("structure", "a Bundle entry must be an object", where)])
    resource = raw.get("resource")
    if resource is None:
        return _Entry(i, "empty", issues=[Issue.info(
            "informational", "entry without a resource (id-only notification?); nothing queued", where)])
    if not isinstance(resource, dict):
        return _Entry(i, "bad", issues=[Issue.error("structure", "entry.resource must be an object", f"{where}.resource")])
    rtype = resource.get("resourceType")
    if rtype != REPORT:
        return _Entry(i, "ignored", issues=[Issue.info(
            "not-supported", "only DiagnosticReport entries are processed; this entry was ignored",
            f"{where}.resource.resourceType")])
    req = raw.get("request")
    if btype in ("batch", "transaction") and isinstance(req, dict):
        method = str(req.get("method", "")).upper()
        if method not in ("POST", "PUT"):
            return _Entry(i, "bad", resource, [Issue.error(
                "not-supported", "only POST and PUT of a DiagnosticReport are supported", f"{where}.request.method")])
        url = req.get("url")
        if method == "PUT" and isinstance(url, str):
            target = url.split("?", 1)[0].rstrip("/").split("/")
            conditional = "?" in url and target[-1] == REPORT
            # A PUT names what it writes: [base/]DiagnosticReport/<the body's id> (or a conditional
            # DiagnosticReport?...). Another type, a ".." step or another id means the sender meant
            # something other than what the body holds.
            if not conditional and (len(target) < 2 or target[-2] != REPORT or target[-1] != resource.get("id")
                                    or any(step in (".", "..") for step in target)):
                return _Entry(i, "bad", resource, [Issue.error(
                    "invalid", "request.url must be DiagnosticReport/<the resource id>", f"{where}.request.url")])
    too_long = oversize_issues(resource, max_report_chars())
    if too_long:
        return _Entry(i, "bad", resource, too_long, status=413)
    issues = check_report(resource, ehr_base_url=ehr_base_url())
    return _Entry(i, "bad" if has_errors(issues) else "report", resource, issues)


def _entry_outcome(entry: _Entry) -> dict[str, Any]:
    # Issues about the resource are rooted at DiagnosticReport; about the entry, at Bundle.entry[i].
    return operation_outcome(entry.issues)


def _notification_status_index(bundle: dict[str, Any], entries: list[Any]) -> tuple[bool, int | None]:
    btype = bundle.get("type")
    first = _resource_type(entries[0]) if entries else None
    if btype == "subscription-notification":
        return True, 0 if first in STATUS_RESOURCES else None
    if btype == "history" and first in STATUS_RESOURCES:
        return True, 0  # R4 Subscriptions Backport: Parameters (or SubscriptionStatus) first
    return False, None


def _ping():
    # R4 rest-hook without payload: a ping that something changed. Nothing to queue.
    audit("notification.empty")
    return outcome_response(
        Issue.info("informational", "notification without payload received; nothing queued"), 200,
        mimetype=response_mimetype())


@bp.post("")
@bp.post("/")
def post_bundle():
    data = read_body()
    if not data.strip() and not request.headers.get("Content-Type", "").strip():
        return _ping()
    check_content_type()
    if not data.strip():
        return _ping()
    bundle = parse_json(data)
    if not isinstance(bundle, dict):
        raise ApiError.simple(400, "the body must be a JSON object (a Bundle)")
    if bundle.get("resourceType") != "Bundle":
        raise ApiError.simple(400, "POST /fhir takes a Bundle; post single reports to /fhir/DiagnosticReport",
                              "resourceType", code="invalid")
    _check_quotas(bundle.get("entry"))
    shell_issues = _bundle_shell_issues(bundle)
    if has_errors(shell_issues):
        raise ApiError(422, shell_issues)
    btype: str = bundle["type"]
    raw_entries: list[Any] = bundle.get("entry") or []
    notification, status_index = _notification_status_index(bundle, raw_entries)
    entries = [_classify(i, e, btype, status_index) for i, e in enumerate(raw_entries)]
    reports = [e for e in entries if e.kind in ("report", "bad")]

    if notification and not reports:
        # Heartbeat, handshake, or an id-only notification.
        notes = [Issue.info("informational", "subscription notification received; no DiagnosticReport in it, nothing queued")]
        notes += [i for e in entries for i in e.issues]
        audit("notification.received", bundle_type=btype, entries=len(raw_entries), reports=0)
        return outcome_response(notes, 200, mimetype=response_mimetype())

    bad = [e for e in entries if e.kind == "bad"]
    if btype == "transaction" and bad:
        issues = [i.rebased("DiagnosticReport", f"Bundle.entry[{e.index}].resource") for e in bad for i in e.issues]
        issues.insert(0, Issue.error("processing", f"transaction rejected: {len(bad)} of {len(reports)} entries invalid; nothing queued"))
        # 413 when size is all that is wrong (the sender must shorten or split), else 422.
        raise ApiError(413 if all(e.status == 413 for e in bad) else 422, issues)

    source = "rest-hook" if notification else btype
    if notification:
        audit("notification.received", bundle_type=btype, entries=len(raw_entries), reports=len(reports))
    if btype == "transaction":
        answers = _record_transaction(entries, source)
    else:
        answers = [_record_entry(e, source) for e in entries]
    body = {
        "resourceType": "Bundle",
        "type": "transaction-response" if btype == "transaction" else "batch-response",
        "entry": [answer for answer, _ in answers],
    }
    any_created = any(created for _, created in answers)
    return fhir_response(body, 202 if any_created else 200, mimetype=response_mimetype())


def _check_quotas(raw_entries: Any) -> None:
    """The cheap refusals, before any entry is read: too many entries (413), or a client whose
    queue is already full sending reports (429; a heartbeat or handshake is still answered)."""
    if not isinstance(raw_entries, list):
        return  # not a Bundle with entries: the validation answers
    check_bundle_entries(len(raw_entries), runtime().settings.intake.max_bundle_entries)
    who, limit = client(), max_queued_jobs()
    if who is None or not limit or not any(_resource_type(e) == REPORT for e in raw_entries):
        return
    if runtime().store.queued(who) >= limit:
        raise queue_full(limit)


_Answer = tuple[dict[str, Any], bool]  # (the response entry, whether a job was created)


def _record_entry(e: _Entry, source: str) -> _Answer:
    """The batch-response entry for one entry of a batch or notification: reports are recorded
    one by one, each on its own (a refused one -- invalid, over the quota -- stops no other)."""
    if e.kind == "report":
        assert e.resource is not None
        try:
            job, created = _submit(e.resource, source)
        except ApiError as exc:
            e.issues, e.status = exc.issues, exc.status
            return _bad_entry(e), False
        return _report_answer(e, job, created), created
    if e.kind == "bad":
        return _bad_entry(e), False
    if e.kind == "status":
        return {"response": {"status": "200 OK"}}, False
    return {"response": {"status": "200 OK", "outcome": _entry_outcome(e)}}, False


def _record_transaction(entries: list[_Entry], source: str) -> list[_Answer]:
    """Every report of a (valid) transaction recorded in one database transaction, or none
    (JobStore.submit_many); the audit events follow the commit, so they never name a job that a
    rollback took back."""
    reports = [(e, e.resource) for e in entries if e.kind == "report" and e.resource is not None]
    try:
        recorded = runtime().store.submit_many([resource for _, resource in reports],
                                               source=source, correlation_id=correlation_id(),
                                               client=client(), max_queued=max_queued_jobs())
    except StoreError:
        raise _no_identity("Bundle.entry.resource") from None
    except QuotaExceeded as exc:
        raise queue_full(exc.limit) from None
    by_index: dict[int, _Answer] = {}
    for (e, _), (job, created) in zip(reports, recorded):
        _audit_job(job, created, source)
        by_index[e.index] = (_report_answer(e, job, created), created)
    return [by_index[e.index] if e.index in by_index else _record_entry(e, source) for e in entries]


def _report_answer(e: _Entry, job: Job, created: bool) -> dict[str, Any]:
    response: dict[str, Any] = {"status": "202 Accepted" if created else "200 OK", "location": job_url(job.id)}
    warnings = [i for i in e.issues if not i.is_error]
    if warnings:
        response["outcome"] = _entry_outcome(_Entry(e.index, e.kind, issues=warnings))
    return {"response": response}


_ENTRY_STATUS = {413: "413 Content Too Large", 422: "422 Unprocessable Entity", 429: "429 Too Many Requests"}


def _bad_entry(e: _Entry) -> dict[str, Any]:
    first = next((i for i in e.issues if i.is_error), None)
    audit("request.rejected", status=e.status, entry=e.index, code=first.code if first else None,
          expression=first.expression[0] if first and first.expression else None, issues=len(e.issues))
    return {"response": {"status": _ENTRY_STATUS[e.status], "outcome": _entry_outcome(e)}}
