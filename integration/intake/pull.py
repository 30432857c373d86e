"""Pull mode, for EHRs that cannot push: poll the EHR's FHIR server for new or updated reports.

Each poll searches ``DiagnosticReport?_lastUpdated=ge<cursor>&_sort=_lastUpdated`` (plus the
site's filters), follows the paging links, and feeds every report to the same idempotent intake
as a push. The cursor is stored after each page, so a crash repeats at most one page -- and a
repeated report is recognised by its version and queues nothing. ``ge`` (not ``gt``) because
several reports can share a timestamp; the overlap is absorbed by the same idempotency.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from integration.audit import audit, bind_correlation_id, clear_context, hash_id
from integration.fhir.report import check_report, oversize_issues
from integration.store import JobStore

CURSOR = "pull:DiagnosticReport"


@dataclass
class PullCounts:
    pages: int = 0
    seen: int = 0
    queued: int = 0
    duplicates: int = 0
    rejected: int = 0


def _last_updated(resource: dict[str, Any]) -> str | None:
    value = (resource.get("meta") or {}).get("lastUpdated")
    return value if isinstance(value, str) else None


def _instant(value: str):
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return dt.datetime.min.replace(tzinfo=dt.timezone.utc)


def poll_once(store: JobStore, client: Any, settings: Any, *, max_pages: int = 100,
              max_report_chars: int | None = None) -> PullCounts:
    """One poll. ``client`` is a FhirClient; ``settings`` the ``pull`` section; ``max_report_chars``
    the intake's limit on report text (integration.fhir.report.report_char_limit): a pulled report
    over it is rejected like a pushed one (answered 413 there), before its text is decoded, so it
    never reaches a worker that would tokenise it whole."""
    counts = PullCounts()
    cursor = store.get_cursor(CURSOR)
    params: dict[str, str] = {**settings.search, "_sort": "_lastUpdated", "_count": str(settings.page_size)}
    if cursor:
        params["_lastUpdated"] = f"ge{cursor}"
    resp = client.request("GET", "DiagnosticReport", what="poll DiagnosticReport", params=params)
    for _ in range(max_pages):
        bundle = resp.json()
        newest = cursor
        for entry in bundle.get("entry") or []:
            resource = entry.get("resource") or {}
            if (entry.get("search") or {}).get("mode", "match") != "match":
                continue
            if resource.get("resourceType") != "DiagnosticReport":
                continue
            counts.seen += 1
            # The reports come from the EHR the results go to: its own absolute Patient URLs are fine.
            issues = oversize_issues(resource, max_report_chars) if max_report_chars else []
            issues = issues or check_report(resource, ehr_base_url=client.base_url)
            errors = [i for i in issues if i.severity in ("error", "fatal")]
            if errors:
                counts.rejected += 1
                audit("pull.rejected", report=hash_id(f"DiagnosticReport/{resource.get('id')}"), issues=[i.code for i in errors])
            else:
                job, created = store.submit(resource, source="pull")
                counts.queued += created
                counts.duplicates += not created
                if created:
                    bind_correlation_id(job.correlation_id)
                    audit("job.queued", job=job.id, report=hash_id(job.report_key), source="pull")
                    clear_context()
            stamp = _last_updated(resource)
            if stamp and (newest is None or _instant(stamp) > _instant(newest)):
                newest = stamp
        counts.pages += 1
        if newest and newest != cursor:
            store.set_cursor(CURSOR, newest)
            cursor = newest
        nxt = next((link.get("url") for link in bundle.get("link") or [] if link.get("relation") == "next"), None)
        if not nxt:
            break
        resp = client.request("GET", nxt, what="poll DiagnosticReport (next page)")
    audit("pull.polled", pages=counts.pages, seen=counts.seen, queued=counts.queued,
          duplicates=counts.duplicates, rejected=counts.rejected)
    return counts
