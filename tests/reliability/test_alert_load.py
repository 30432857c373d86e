"""Critical results under load: a burst of routine reports with a few that state distant
metastases (M1c, the shipped rule ``distant-metastases``) pushed over HTTP to the real intake
while the worker and the scheduler run. Every alert reaches the EHR exactly once, none goes out
for a routine report, and the alerts jump the write-back queue (the scheduler's early wake and
the priority claim). The time from intake to alert (p50/p95) and, for comparison, from intake to
a routine report's write are recorded for docs/critical-results.md; nothing is asserted on time.

CI: 120 reports (every 12th critical); RADLITE_RELIABILITY_LONG=1: 600.
"""

from __future__ import annotations

import statistics
from concurrent.futures import ThreadPoolExecutor

import requests

from integration.fhir.report import report_text
from integration.fhir.transaction import ALERT_SYSTEM
from integration.store import JobStore
from tests.fhir_server import free_port
from tests.reliability import harness
from tests.reliability.harness import (
    Service,
    fetch_all,
    make_reports,
    services,  # noqa: F401 -- pytest fixtures, taken by name as test parameters
    site_config,
    store_path,
    wait_until,
)

HEADERS = {"Content-Type": "application/fhir+json"}
CRITICAL_STAGE = "\nADDENDUM: Clinical stage cT2a N1 M1c (liver metastases).\n"


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def test_alerts_go_out_once_and_ahead_of_routine_work_under_load(
        tmp_path, tiny_qwen2, fresh_fhir_server, long_mode, figures, services, monkeypatch) -> None:
    n_reports = 600 if long_mode else 120
    server = fresh_fhir_server
    port = free_port()
    site = site_config(
        tmp_path, tiny_qwen2, server.base_url,
        worker={"batch_size": 8, "lease_seconds": 60, "poll_seconds": 0.1},
        # The shipped defaults for the regular tick and the early wake.
        writeback={"interval_seconds": 5, "batch_size": 10, "lease_seconds": 60, "lock_ttl_seconds": 30,
                   "alert_poll_seconds": 1, "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.5},
        routing={"rules": [], "default_tasks": ["n_staging", "m_staging"]},
    )
    routine = make_reports(n_reports, "alert-load", server)
    warm = make_reports(4, "alert-load-warm", server)  # routine too: no alert
    monkeypatch.setattr(harness, "STATED_STAGE", CRITICAL_STAGE)
    critical = make_reports(n_reports // 12, "alert-load-m1", server)
    order = list(routine)
    for i, report in enumerate(critical):
        order.insert((i + 1) * 12 + i, report)  # spread through the burst

    intake = Service("serve", site, tmp_path / "logs", args=("--port", str(port)))
    worker = Service("worker", site, tmp_path / "logs")
    scheduler = Service("scheduler", site, tmp_path / "logs")
    services.extend([intake, worker, scheduler])
    for s in services:
        s.start()
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        intake.check_alive()
        try:
            return requests.get(f"{base}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_until(healthy, 60, "the intake to answer")
    store = JobStore(f"sqlite:///{store_path(site)}")
    # Warm-up: the worker has its model loaded and the scheduler runs before the burst, so the
    # times below are the burst's, not the processes' start.
    for r in warm:
        assert requests.post(f"{base}/fhir/DiagnosticReport", json=r, headers=HEADERS, timeout=30).status_code == 202
    wait_until(lambda: store.counts()["written"] == len(warm), 120, "the warm-up to be written")
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda r: requests.post(f"{base}/fhir/DiagnosticReport", json=r, headers=HEADERS,
                                                      timeout=60).status_code, order))
    assert codes == [202] * len(order)

    def drained() -> bool:
        for s in services:
            s.check_alive()
        return store.counts()["written"] == len(warm) + len(order)

    wait_until(drained, 900 if long_mode else 300, "every report to be written", interval=0.5)

    jobs = {j.report_key.split("/", 1)[1]: j for j in store.jobs(limit=100_000)
            if not j.report_key.split("/", 1)[1].startswith("alert-load-warm")}
    # Every report that states M1c met the rule, and only those: the M1c wave and the routine
    # reports made from the staging sample, whose own text states M1c.
    critical_ids = {r["id"] for r in order if "M1c" in report_text(r)}
    assert {r["id"] for r in critical} <= critical_ids
    alerted = {rid for rid, j in jobs.items() if j.priority > 0}
    assert alerted == critical_ids, (sorted(alerted - critical_ids)[:5], sorted(critical_ids - alerted)[:5])
    rows = {rid: store.job_alerts(jobs[rid].id) for rid in critical_ids}
    assert all(len(r) == 1 and r[0].rule == "distant-metastases" for r in rows.values())

    # The EHR: one alert per critical report, none for the others, no duplicates.
    comms = [c for c in fetch_all(server, "Communication")
             if any(i.get("system") == ALERT_SYSTEM for i in c.get("identifier") or [])]
    per_report: dict[str, int] = {}
    for c in comms:
        report = next(a["reference"].split("/")[1] for a in c["about"] if a["reference"].startswith("DiagnosticReport/"))
        per_report[report] = per_report.get(report, 0) + 1
    assert per_report == dict.fromkeys(critical_ids, 1)
    assert {c["id"] for c in comms} == {r[0].communication.split("/")[1] for r in rows.values()}
    store.close()

    to_alert = [(r[0].sent_at - jobs[rid].created_at).total_seconds() for rid, r in rows.items()]
    to_write = [(j.written_at - j.created_at).total_seconds() for rid, j in jobs.items() if rid not in critical_ids]
    figures(reports=len(order), critical_reports=len(critical_ids), alerts=len(comms),
            alert_p50_s=round(statistics.median(to_alert), 2), alert_p95_s=round(_quantile(to_alert, 0.95), 2),
            alert_max_s=round(max(to_alert), 2),
            routine_written_p50_s=round(statistics.median(to_write), 2),
            routine_written_p95_s=round(_quantile(to_write, 0.95), 2))
    print(f"\nalert load: {len(order)} reports ({len(critical_ids)} critical): intake to alert p50 "
          f"{statistics.median(to_alert):.1f} s, p95 {_quantile(to_alert, 0.95):.1f} s; routine reports written "
          f"p50 {statistics.median(to_write):.1f} s, p95 {_quantile(to_write, 0.95):.1f} s")
