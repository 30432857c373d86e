"""The write-back step: claim due jobs, post one transaction each, record the outcome.

* success -> ``finish_writeback`` with what the server returned (``written``);
* retryable failure -> ``retry_writeback`` after exponential backoff with full jitter, capped at
  ``backoff_max_seconds`` (a larger Retry-After from the server wins); after ``max_attempts``
  attempts the job is dead-lettered;
* permanent failure -> dead letter with the server's OperationOutcome in ``error_detail``.

A crash after the server committed but before the store recorded it is harmless: the job's lease
runs out, it is claimed again and re-posted, and every create in the Bundle is conditional, so the
server answers with the existing resources and creates nothing.

Audit events carry hashed ids, codes, statuses and counts only -- never report or model text.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

from integration import monitoring
from integration.audit import audit, bind_correlation_id, clear_context, get_logger, hash_id
from integration.fhir.lifecycle import is_withdrawn, mismatch
from integration.fhir.report import report_identifier
from integration.fhir.transaction import (
    AMEND_NOTE,
    FAILED_VERSION_NOTE,
    WITHDRAWN_NOTE,
    BuildError,
    TransactionPlan,
    earlier_results,
    parse_location,
    plan_transaction,
    summarize,
)
from integration.mappings import Mappings
from integration.mappings.critical import critical_findings
from integration.settings import WritebackSettings
from integration.store import Job, JobStore, SentAlert, State
from integration.store.models import utcnow
from integration.writeback.client import FhirClient, WritebackError

log = get_logger("radlite.writeback")

# A server's Retry-After is honoured up to a day. A broken header (a gateway's "Retry-After:
# 9999999999") would otherwise park the job for centuries -- never written, never dead-lettered --
# or overflow the date the store keeps.
RETRY_AFTER_MAX_SECONDS = 86400.0


@dataclass
class Counts:
    claimed: int = 0
    written: int = 0
    retried: int = 0
    dead_lettered: int = 0
    lease_lost: int = 0
    released: int = 0
    delays: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None = None,
                  rng: random.Random | None = None) -> float:
    """Full jitter: uniform(0, min(cap, base * 2**(attempt-1))); a larger Retry-After wins (up to
    RETRY_AFTER_MAX_SECONDS)."""
    rng = rng or random
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = rng.uniform(0, ceiling)
    if retry_after is not None:
        retry_after = min(retry_after, RETRY_AFTER_MAX_SECONDS)
        if retry_after > delay:
            delay = retry_after
    return delay


def _amend_targets(store: JobStore, client: FhirClient, job) -> list[tuple[dict[str, Any], str | None]]:
    """Current versions (and ETags) of what every other version of the report wrote -- its
    Observations, alerts (escalations included), Flags and follow-up proposals: all of them, not
    only the version this one supersedes, so a version that failed or was skipped in between
    never leaves an older version's results standing."""
    targets: list[tuple[str, str]] = []
    for earlier in store.written_versions(job):
        targets += earlier_results(earlier.written)
    for ref in store.report_alert_communications(job):
        kind, rid, _ = parse_location(ref)
        if kind and rid:
            targets.append((kind, rid))
    out, seen = [], set()
    for kind, rid in targets:
        if (kind, rid) in seen:
            continue
        seen.add((kind, rid))
        try:
            out.append(client.read(kind, rid))
        except WritebackError as exc:
            if exc.status in (404, 410):
                continue  # deleted on the server meanwhile: nothing to withdraw
            raise
    return out


class ReportMismatch(Exception):
    """The EHR does not hold the pushed report version as pushed: nothing may be written."""


def _held_report(client: FhirClient, job, mode: str) -> dict[str, Any]:
    """The report as the EHR holds it: the pushed version (``mode`` "version") or the current one."""
    resource = job.resource or {}
    rid = resource.get("id")
    version = job.report_version
    try:
        if isinstance(rid, str) and rid:
            if mode == "version" and not version.startswith("sha256:"):
                return client.get_json(f"DiagnosticReport/{rid}/_history/{version}", what="read report version")
            return client.read("DiagnosticReport", rid)[0]
        ident = report_identifier(resource)[1]  # a job's report has one: the store keyed it by it
        token = f"{ident['system']}|{ident['value']}" if ident.get("system") else str(ident["value"])
        found = client.search("DiagnosticReport", {"identifier": token})
    except WritebackError as exc:
        if exc.status in (404, 410):
            raise ReportMismatch("the EHR does not hold this report version") from None
        raise
    if len(found) != 1:
        raise ReportMismatch(f"the EHR holds {len(found)} reports with this identifier, not one")
    return found[0]


def check_report(client: FhirClient, job, mode: str) -> None:
    """Raise :class:`ReportMismatch` unless the EHR holds the job's report version with the pushed
    subject and status (``mode``: settings.writeback.verify_report)."""
    if mode == "off":
        return
    held = _held_report(client, job, mode)
    problem = mismatch(job.resource or {}, held)
    held_version = (held.get("meta") or {}).get("versionId")
    if problem is None and not job.report_version.startswith("sha256:") and held_version \
            and str(held_version) != job.report_version:
        problem = f"the EHR holds version {held_version} of this report, not version {job.report_version}"
    if problem is not None:
        raise ReportMismatch(problem)


def _amend_note(job) -> str:
    if is_withdrawn(job.resource):
        return WITHDRAWN_NOTE
    if job.results == {} and job.error:
        return FAILED_VERSION_NOTE
    return AMEND_NOTE


def alert_recipients(client: FhirClient, job: Job, mappings: Mappings,
                     settings: WritebackSettings) -> dict[str, dict[str, str]]:
    """Who the job's critical-result alerts go to, by rule recipient: the report's first
    ``resultsInterpreter``, the ``requester`` of the ServiceRequest it is ``basedOn`` (read from the
    EHR, only when a rule needs it), and the configured teams. An EHR that cannot say leaves the
    recipient out; the alert is still written (docs/critical-results.md)."""
    needed = {f.rule.recipient_key for f in critical_findings(job.results, mappings.critical)}
    return resolve_recipients(client, job, needed, settings)


def resolve_recipients(client: FhirClient, job: Job, needed: set[str],
                       settings: WritebackSettings) -> dict[str, dict[str, str]]:
    """The references of the recipient keys in ``needed`` for ``job``'s report (see
    :func:`alert_recipients`); escalations resolve their next recipient the same way."""
    if not needed:
        return {}
    report = job.resource or {}
    out: dict[str, dict[str, str]] = {f"team:{name}": {"reference": ref} for name, ref in settings.alert_teams.items()}
    interpreters = report.get("resultsInterpreter")
    if isinstance(interpreters, list) and interpreters and isinstance(interpreters[0], dict) \
            and isinstance(interpreters[0].get("reference"), str):
        out["results_interpreter"] = {"reference": interpreters[0]["reference"]}
    if "ordering_provider" in needed:
        for based_on in report.get("basedOn") or []:
            ref = based_on.get("reference") if isinstance(based_on, dict) else None
            kind, rid, _ = parse_location(ref) if isinstance(ref, str) else (None, None, None)
            if kind != "ServiceRequest" or rid is None:
                continue
            try:
                order = client.read("ServiceRequest", rid)[0]
            except WritebackError as exc:
                if exc.status in (404, 410):
                    continue  # the order is gone: no ordering provider to name
                raise
            requester = (order.get("requester") or {}).get("reference")
            if isinstance(requester, str):
                out["ordering_provider"] = {"reference": requester}
                break
    for key in sorted(needed - set(out)):
        audit("critical.no_recipient", job=hash_id(job.id), recipient=key)
    return out


def write_job(store: JobStore, client: FhirClient, mappings: Mappings, owner: str, settings: WritebackSettings, job: Job,
              counts: Counts, rng: random.Random | None = None) -> None:
    bind_correlation_id(job.correlation_id)
    job_h, report_h = hash_id(job.id), hash_id(job.report_key)
    # A withdrawal for a version that failed at inference ends as that dead letter again.
    withdrawal_of_failed = job.results == {} and bool((job.error_detail or {}).get("withdraw_only"))
    audit("writeback.attempted", job=job_h, report=report_h, attempt=job.write_attempts,
          amends=bool(job.supersedes))
    try:
        check_report(client, job, settings.verify_report)
        amend = _amend_targets(store, client, job)
        plan = plan_transaction(job, mappings, amend=amend, base_url=client.base_url, amend_note=_amend_note(job),
                                audit_event=settings.audit_event,
                                recipients=alert_recipients(client, job, mappings, settings))
        if plan.parse_failures:
            audit("writeback.parse_failures_skipped", job=job_h, failures=plan.parse_failures)
        if plan.empty:
            response = None
        else:
            response = client.post_transaction(plan.bundle)
        written = summarize(plan, response, server=client.base_url)
    except ReportMismatch as exc:
        # Not retried: the EHR's answer will not change by waiting, and writing would put results
        # into a chart the report does not (or no longer) belong to.
        reason = f"report check failed: {exc}"
        store.fail(job.id, owner, State.WRITING, reason, {"kind": "report-check"})
        counts.dead_lettered += 1
        audit("writeback.report_mismatch", job=job_h, report=report_h)
        audit("writeback.dead_lettered", job=job_h, status=None, issue_codes=["report-check"], attempt=job.write_attempts)
        return
    except WritebackError as exc:
        _failed(store, owner, settings, job, exc, counts, rng)
        return
    except BuildError as exc:
        # A result that does not fit its task: retrying will not help.
        reason = f"cannot build the transaction: {exc}"
        store.fail(job.id, owner, State.WRITING, reason, {"kind": "build"})
        counts.dead_lettered += 1
        audit("writeback.dead_lettered", job=job_h, status=None, issue_codes=["build"], attempt=job.write_attempts)
        return
    if withdrawal_of_failed:
        finished = store.finish_withdrawal(job.id, owner, written)
    else:
        finished = store.finish_writeback(job.id, owner, written, sent_alerts(plan, written))
    if not finished:
        counts.lease_lost += 1
        audit("writeback.lease_lost", job=job_h)
        return
    counts.written += 1
    c = written["counts"]
    audit("writeback.succeeded", job=job_h, report=report_h, status=200 if response is not None else None,
          created=c["created"], existing=c["existing"], amended=c["amended"], resources=len(written["resources"]),
          roles=plan.counts())
    alerts = sum(p.role == "alert" for p in plan.entries)
    if alerts:
        # Intake to alert on the EHR: what the ACR practice parameter's "timely" is measured by.
        seconds = (utcnow() - job.created_at).total_seconds()
        for _ in range(alerts):
            monitoring.alert_written(seconds)
        audit("critical.alerts_written", job=job_h, alerts=alerts, seconds_since_intake=round(seconds, 1))
    if c["amended"] or plan.already_amended:
        audit("amendment.written", job=job_h, superseded_job=hash_id(job.supersedes),
              amended=c["amended"] + len(plan.already_amended))


def sent_alerts(plan: TransactionPlan, written: dict[str, Any]) -> list[SentAlert]:
    """The plan's alerts with the ids the server gave their Communications (the store watches
    them from now on)."""
    ids = {r.get("identifier"): r.get("id") for r in written.get("resources") or []
           if r.get("role") == "alert" and r.get("id")}
    return [SentAlert(a.identifier, a.rule, a.category, a.recipient_key, a.recipient,
                      f"Communication/{ids[a.identifier]}", a.within_minutes, a.escalate_to)
            for a in plan.alerts if a.identifier in ids]


def _failed(store: JobStore, owner: str, settings, job, exc: WritebackError, counts: Counts,
            rng: random.Random | None) -> None:
    job_h = hash_id(job.id)
    if exc.retryable and job.write_attempts < settings.max_attempts:
        delay = backoff_delay(job.write_attempts, settings.backoff_base_seconds, settings.backoff_max_seconds,
                              exc.retry_after, rng)
        if store.retry_writeback(job.id, owner, delay, exc.reason):
            counts.retried += 1
            counts.delays.append(delay)
            audit("writeback.retried", job=job_h, status=exc.status, delay=round(delay, 3),
                  attempt=job.write_attempts, retry_after=exc.retry_after)
        else:
            counts.lease_lost += 1
            audit("writeback.lease_lost", job=job_h)
        return
    reason = exc.reason if not exc.retryable else f"{exc.reason} (gave up after {job.write_attempts} attempts)"
    detail: dict[str, Any] = {"status": exc.status, "retryable": exc.retryable}
    if exc.outcome is not None:
        detail["operation_outcome"] = exc.outcome
    if store.fail(job.id, owner, State.WRITING, reason, detail):
        counts.dead_lettered += 1
        audit("writeback.dead_lettered", job=job_h, status=exc.status, issue_codes=exc.issue_codes(),
              attempt=job.write_attempts)
    else:
        counts.lease_lost += 1
        audit("writeback.lease_lost", job=job_h)


def write_due(store: JobStore, client: FhirClient, mappings: Mappings, owner: str, settings: WritebackSettings, *,
              keep_going: Callable[[], bool] | None = None, rng: random.Random | None = None,
              min_priority: int = 0) -> Counts:
    """Claim up to ``settings.batch_size`` due jobs, the most urgent first, and write each.
    ``keep_going`` is asked before each job (the scheduler renews its lock there); when it says
    no, the rest are released. ``min_priority`` 1: only jobs with a critical-result alert."""
    counts = Counts()
    jobs = store.claim_for_writeback(owner, settings.batch_size, settings.lease_seconds, min_priority=min_priority)
    counts.claimed = len(jobs)
    for i, job in enumerate(jobs):
        if keep_going is not None and not keep_going():
            for rest in jobs[i:]:
                if store.release(rest.id, owner, State.WRITING):
                    counts.released += 1
            break
        try:
            write_job(store, client, mappings, owner, settings, job, counts, rng)
        except Exception as exc:  # noqa: BLE001 -- one bad job must not stop the batch
            log.error("writeback.unexpected_error", job=hash_id(job.id), error=type(exc).__name__)
            err = WritebackError(f"unexpected {type(exc).__name__}", retryable=True)
            _failed(store, owner, settings, job, err, counts, rng)
        finally:
            clear_context()
    monitoring.writeback_counts(counts)
    return counts
