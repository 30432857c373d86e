"""Filter audit-file records: by report, job, correlation id, time range and event type."""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from integration.audit.chain import records


def report_hash(value: str, hasher) -> str:
    """The hashed report key for what an auditor has in hand: a hash (``h:...``) as it is, a
    report key (``DiagnosticReport/<id>``, ``identifier:<system>|<value>``), a bare FHIR id, or
    ``<system>|<value>`` of an identifier."""
    if value.startswith("h:"):
        return value
    if value.startswith(("DiagnosticReport/", "identifier:")):
        return hasher(value)
    if "|" in value:
        return hasher(f"identifier:{value}")
    return hasher(f"DiagnosticReport/{value}")


def parse_time(value: str, end: bool = False) -> dt.datetime:
    """ISO 8601 date or date-time; naive means UTC. A bare date as ``end`` is the end of that day."""
    text = value.strip().replace("Z", "+00:00")
    when = dt.datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    if end and len(value.strip()) == 10:
        when += dt.timedelta(days=1) - dt.timedelta(microseconds=1)
    return when


@dataclass
class Filter:
    reports: set[str] = field(default_factory=set)  # hashed report keys
    jobs: set[str] = field(default_factory=set)  # raw job ids and/or their hashes
    correlation_ids: set[str] = field(default_factory=set)
    events: list[str] = field(default_factory=list)  # names or fnmatch patterns
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def _when_ok(self, rec: dict[str, Any]) -> bool:
        if self.since is None and self.until is None:
            return True
        try:
            ts = parse_time(str(rec.get("ts")))
        except ValueError:
            return False
        return (self.since is None or ts >= self.since) and (self.until is None or ts <= self.until)

    def _event_ok(self, rec: dict[str, Any]) -> bool:
        name = str(rec.get("event"))
        return not self.events or any(fnmatch.fnmatchcase(name, pattern) for pattern in self.events)


def query(paths: Iterable[str | Path], flt: Filter, hasher=None) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    """Records matching every given filter. A report filter also takes the records of the jobs
    that report's records name (the worker's events carry the job only); a job filter matches the
    raw job id and its keyed hash (``hasher``), since write-back events carry the hash."""
    paths = list(paths)
    jobs = set(flt.jobs)
    if hasher is not None:
        jobs |= {hasher(j) for j in flt.jobs if not j.startswith("h:")}
    if flt.reports:
        report_jobs: set[str] = set()
        for _, _, rec in records(paths):
            if rec.get("report") in flt.reports and rec.get("job"):
                report_jobs.add(str(rec["job"]))
        if hasher is not None:
            report_jobs |= {hasher(j) for j in report_jobs if not j.startswith("h:")}
    for path, n, rec in records(paths):
        if flt.reports and not (rec.get("report") in flt.reports or str(rec.get("job")) in report_jobs):
            continue
        if jobs and str(rec.get("job")) not in jobs:
            continue
        if flt.correlation_ids and rec.get("correlation_id") not in flt.correlation_ids:
            continue
        if not flt._event_ok(rec) or not flt._when_ok(rec):
            continue
        yield path, n, rec


_FIRST = ("seq", "ts", "event", "correlation_id", "job", "report")
_HIDDEN = ("prev", "hash", "audit")


def table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table: seq, time, event, correlation id, job, report, then the other fields."""
    head = ["seq", "ts", "event", "correlation_id", "job", "report", "fields"]
    body = []
    for rec in rows:
        rest = " ".join(f"{k}={_short(v)}" for k, v in rec.items() if k not in _FIRST and k not in _HIDDEN)
        body.append([_short(rec.get(k)) if rec.get(k) is not None else "-" for k in _FIRST] + [rest])
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(head)]
    widths[-1] = 0
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in body]
    return "\n".join(lines)


def _short(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
