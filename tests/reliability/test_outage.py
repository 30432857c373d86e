"""The EHR's FHIR server goes away in every way we know -- stopped (connection refused), down
behind a gateway (502), in maintenance (503 with Retry-After, as seconds and as an HTTP-date),
hanging past the client timeout before and after committing, answering 200 with an HTML page --
and comes back; then every report is written exactly once. Only the reports the server rejects
for good (a 422 and a 400 on two specific reports) are dead-lettered, each after a single try.

Real processes (`radlite worker`, `radlite scheduler`), the real FHIR server (sekmet), and a
small proxy in front of it (tests/reliability/harness.py) that injects the faults.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from integration.intake.http.app import create_app
from integration.settings import load_settings
from integration.store import JobStore, State
from tests.reliability.harness import (
    FhirProxy,
    JobsView,
    Service,
    make_reports,
    services,  # noqa: F401 -- pytest fixtures, taken by name as test parameters
    site_config,
    store_path,
    tally,
    wait_until,
)

HEADERS = {"Content-Type": "application/fhir+json"}
RETRY_AFTER = 2  # seconds; above backoff_max_seconds below, so only an honoured header explains the gap
RETRY_AFTER_DATE = 3  # seconds ahead, sent as an HTTP-date (whole seconds: allow one less)


@dataclass
class Phase:
    name: str
    begin: Callable[[], None]
    end: Callable[[], None]
    error: str  # what the job's error says while it waits for its retry


def test_ehr_outages_then_everything_written_once_and_only_permanent_errors_dead_lettered(
        tmp_path, tiny_qwen2, fresh_fhir_server, long_mode, figures, services) -> None:
    per_phase = 8 if long_mode else 3
    hold_s = 20.0 if long_mode else 2.0  # at least this long in each fault, and until retried twice
    server = fresh_fhir_server
    proxy = FhirProxy(server.root_url).open()
    site = site_config(
        tmp_path, tiny_qwen2, proxy.base_url,
        ehr={"base_url": proxy.base_url, "timeout_seconds": 1},
        # Retry fast (the backoff shape has its own unit tests) and never give up during the
        # outage: only permanent errors may dead-letter here.
        writeback={"interval_seconds": 0.2, "lease_seconds": 5, "lock_ttl_seconds": 5,
                   "backoff_base_seconds": 0.05, "backoff_max_seconds": 1.0, "max_attempts": 1000},
        routing={"rules": [], "default_tasks": ["n_staging", "m_staging"]},
    )
    settings = load_settings(site, environ={})
    store = JobStore(settings.store.url)
    intake = create_app(settings, store).test_client()
    view = JobsView(store_path(site))
    worker = Service("worker", site, tmp_path / "logs")
    scheduler = Service("scheduler", site, tmp_path / "logs")
    services.extend([worker, scheduler])
    pushed: list[str] = []

    def push(reports: list[dict]) -> list[str]:
        for report in reports:
            resp = intake.post("/fhir/DiagnosticReport", json=report, headers=HEADERS)
            assert resp.status_code == 202, resp.status_code
            pushed.append(report["id"])
        return [r["id"] for r in reports]

    def drained() -> bool:
        worker.check_alive()
        scheduler.check_alive()
        c = view.counts()
        return c["written"] + c["failed"] == len(pushed)

    # Warm-up, with two reports the server rejects for good.
    push(make_reports(3, "outage-warm", server))
    bad = {rid: status for rid, status in zip(push(make_reports(2, "outage-bad", server)), (422, 400))}
    proxy.reject.update(bad)
    worker.start()
    scheduler.start()
    wait_until(drained, 120, "the warm-up reports to be written")

    phases = [
        Phase("stopped (connection refused)", lambda: (server.stop(), proxy.close()),
              lambda: (server.start(), proxy.open()), "ConnectionError"),
        Phase("down behind a gateway (502)", server.stop, server.start, "HTTP 502"),
        Phase(f"503, Retry-After: {RETRY_AFTER}", lambda: proxy.set_mode("unavailable", str(RETRY_AFTER)),
              lambda: proxy.set_mode("forward"), "HTTP 503"),
        Phase("503, Retry-After: HTTP-date", lambda: proxy.set_mode("unavailable", f"date+{RETRY_AFTER_DATE}"),
              lambda: proxy.set_mode("forward"), "HTTP 503"),
        Phase("hangs past the client timeout", lambda: proxy.set_mode("hang"),
              lambda: proxy.set_mode("forward"), "timeout"),
        Phase("commits, then hangs past the client timeout", lambda: proxy.set_mode("slow_commit"),
              lambda: proxy.set_mode("forward"), "timeout"),
        Phase("answers 200 with an HTML page", lambda: proxy.set_mode("html200"),
              lambda: proxy.set_mode("forward"), "not JSON"),
    ]
    outage_seconds = 0.0
    phase_reports: dict[str, list[str]] = {}
    try:
        for n, phase in enumerate(phases):
            reports = make_reports(per_phase, f"outage-p{n}", server)  # on the EHR before its outage
            began = time.monotonic()
            phase.begin()
            ids = push(reports)
            phase_reports[phase.name] = ids
            retried: set[str] = set()

            # Polled within this iteration only; the defaults bind this phase's values all the same.
            def waiting_for_retry(ids=ids, phase=phase, retried=retried, began=began) -> bool:
                worker.check_alive()
                scheduler.check_alive()
                rows = view.by_report()
                for rid in ids:
                    r = rows[rid]
                    assert r["state"] not in ("written", "failed"), (phase.name, r["state"], r["error"])
                    # Failed twice and waiting for the next try, for the reason this phase gives.
                    if r["state"] == "inferred" and r["write_attempts"] >= 2:
                        assert phase.error in (r["error"] or ""), (phase.name, r["error"])
                        retried.add(rid)
                return retried >= set(ids) and time.monotonic() - began >= hold_s

            wait_until(waiting_for_retry, 120, f"every report to be retried during: {phase.name}")
            phase.end()
            outage_seconds += time.monotonic() - began
            wait_until(drained, 120, f"the reports of {phase.name!r} to be written after it")
    finally:
        proxy.set_mode("forward")
        proxy.close()

    # Retry-After was honoured: no retry came sooner than the server asked.
    def gaps(ids: list[str]) -> list[float]:
        out = []
        for rid in ids:
            times = [e.t for e in proxy.attempts(rid, "503")]
            out.extend(b - a for a, b in zip(times, times[1:]))
        return out

    gaps_s = gaps(phase_reports[phases[2].name])
    gaps_date = gaps(phase_reports[phases[3].name])
    assert gaps_s and min(gaps_s) >= RETRY_AFTER - 0.05, gaps_s
    assert gaps_date and min(gaps_date) >= RETRY_AFTER_DATE - 1 - 0.05, gaps_date

    # The store: good reports written, the two rejected ones dead-lettered after one try each,
    # with the server's status and OperationOutcome; nothing else failed.
    counts = store.counts()
    good_ids = [rid for rid in pushed if rid not in bad]
    assert counts[State.WRITTEN.value] == len(good_ids), counts
    assert counts[State.FAILED.value] == len(bad), counts
    jobs = {j.report_key.split("/", 1)[1]: j for j in store.jobs(limit=100_000)}
    for rid, status in bad.items():
        job = jobs[rid]
        assert job.state == State.FAILED.value
        assert job.write_attempts == 1
        assert job.error_detail["status"] == status and job.error_detail["retryable"] is False
        assert [i["code"] for i in job.error_detail["operation_outcome"]["issue"]] == ["processing"]
        assert len(proxy.transactions(report=rid)) == 1  # never retried
    # The Bundles that committed before the client timed out were found again, not re-created.
    for rid in phase_reports[phases[5].name]:
        c = jobs[rid].written["counts"]
        assert c["created"] == 0 and c["existing"] == len(jobs[rid].written["resources"]), c

    # The server: exactly once.
    t = tally(server, store, good_ids)
    assert t.missing_reports == [] and t.mismatched_reports == [], (t.missing_reports, t.mismatched_reports)
    assert t.unexpected_reports == []  # nothing at all for the rejected reports
    assert (t.duplicate_provenances, t.duplicate_identifiers) == (0, 0)
    assert t.provenances == len(good_ids) and t.devices == 1
    assert t.observation_versions == t.observations
    retries = sum(j.write_attempts - 1 for rid, j in jobs.items() if rid not in bad)
    store.close()

    figures(fault_kinds=len(phases), outage_seconds=round(outage_seconds, 1), reports=len(pushed),
            written=counts["written"], retries=retries, dead_letters=counts["failed"],
            dead_letters_permanent=len(bad), duplicates=t.duplicates, missing=len(t.missing_reports),
            min_gap_after_retry_after_s=round(min(gaps_s), 2),
            min_gap_after_retry_after_date_s=round(min(gaps_date), 2))
    print(f"\noutage: {len(phases)} kinds of fault, {outage_seconds:.1f}s down in all, {len(pushed)} reports, "
          f"{retries} retries, {counts['failed']} dead letters (permanent 4xx), {t.duplicates} duplicates; "
          f"Retry-After {RETRY_AFTER}s -> min gap {min(gaps_s):.2f}s, HTTP-date -> {min(gaps_date):.2f}s")
