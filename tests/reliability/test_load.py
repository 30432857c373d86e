"""A bounded burst of concurrent pushes over loopback HTTP to the real intake (`radlite serve`)
while the worker and the scheduler run: the intake accepts every report once (concurrent
re-pushes of the same report make no second job), the memory of every process stays under a
stated ceiling, the queue drains, and everything is written exactly once.

CI: 200 reports from 20 threads; RADLITE_RELIABILITY_LONG=1: 2000 from 50.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import requests

from integration.store import JobStore, State
from tests.fhir_server import free_port
from tests.reliability.harness import (
    JobsView,
    RssSampler,
    Service,
    make_reports,
    mib,
    rss_bytes,
    services,  # noqa: F401 -- pytest fixtures, taken by name as test parameters
    site_config,
    store_path,
    tally,
    wait_until,
)

HEADERS = {"Content-Type": "application/fhir+json"}
MiB = 2**20
# Generous ceilings, stated here and in docs/reliability.md. Measured on a 2-core machine with the
# tiny test model: intake ~125 MiB, worker ~340 MiB (Python, CTranslate2, tokenizers), scheduler
# ~110 MiB. A real model adds its weights to the worker, not to the others.
PEAK_CEILING = {"intake": 400 * MiB, "worker": 1024 * MiB, "scheduler": 400 * MiB}
# What the burst may add to what each process held after the warm-up: a leak per request (or a
# queue held in memory) would show here long before it shows in the absolute ceiling.
GROWTH_CEILING = {"intake": 100 * MiB, "worker": 150 * MiB, "scheduler": 100 * MiB}


def test_burst_of_concurrent_pushes_bounded_memory_drains_exactly_once(
        tmp_path, tiny_qwen2, fresh_fhir_server, long_mode, figures, services) -> None:
    n_reports, n_threads = (2000, 50) if long_mode else (200, 20)
    server = fresh_fhir_server
    port = free_port()
    site = site_config(
        tmp_path, tiny_qwen2, server.base_url,
        worker={"batch_size": 8, "lease_seconds": 60, "poll_seconds": 0.1},
        writeback={"interval_seconds": 0.2, "batch_size": 25, "lease_seconds": 60, "lock_ttl_seconds": 10,
                   "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.5},
        # Scored tasks only: this test is about the intake and the queue, not generation speed.
        routing={"rules": [], "default_tasks": ["n_staging", "m_staging"]},
    )
    view = JobsView(store_path(site))
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

    def all_written(n: int) -> bool:
        for s in services:
            s.check_alive()
        return view.counts()["written"] == n

    # Warm-up: every process has loaded what it needs (the worker its model), so the growth we
    # measure over the burst is the burst's.
    warm = make_reports(8, "load-warm", server)
    for r in warm:
        assert requests.post(f"{base}/fhir/DiagnosticReport", json=r, headers=HEADERS, timeout=30).status_code == 202
    wait_until(lambda: all_written(len(warm)), 120, "the warm-up to be written")

    reports = make_reports(n_reports, "load", server)
    # Every tenth report is pushed twice, back to back, so two threads race on the same report.
    order = []
    for i, r in enumerate(reports):
        order.append(r)
        if i % 10 == 0:
            order.append(r)
    local = threading.local()
    backlog_peak = 0

    def push(report: dict) -> tuple[str, int, float]:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        t0 = time.perf_counter()
        resp = session.post(f"{base}/fhir/DiagnosticReport", json=report, headers=HEADERS, timeout=60)
        return report["id"], resp.status_code, time.perf_counter() - t0

    pids = {"intake": intake.pid, "worker": worker.pid, "scheduler": scheduler.pid}
    baseline = {k: rss_bytes(pid) or 0 for k, pid in pids.items()}
    with RssSampler(lambda: pids, interval=0.1) as rss:
        started = time.perf_counter()
        with ThreadPoolExecutor(n_threads) as pool:
            futures = [pool.submit(push, r) for r in order]
            while not all(f.done() for f in futures):
                backlog_peak = max(backlog_peak, view.counts()["received"])
                time.sleep(0.1)
            results = [f.result() for f in futures]
        burst_s = time.perf_counter() - started
        wait_until(lambda: all_written(len(warm) + n_reports), 600 if long_mode else 240,
                   "the queue to drain", interval=0.25)
        drain_s = time.perf_counter() - started

    # The intake: each report accepted once (202), every repeat answered 200 with the same job.
    statuses: dict[str, list[int]] = defaultdict(list)
    for rid, status, _ in results:
        statuses[rid].append(status)
    assert Counter(s for ss in statuses.values() for s in ss) == {202: n_reports, 200: len(order) - n_reports}
    assert all(sorted(ss) == ([200, 202] if len(ss) == 2 else [202]) for ss in statuses.values())

    # The store: one job per report, all written, nothing dead-lettered.
    store = JobStore(f"sqlite:///{store_path(site)}")
    counts = store.counts()
    assert counts[State.WRITTEN.value] == len(warm) + n_reports and counts[State.FAILED.value] == 0, counts
    assert sum(counts.values()) == len(warm) + n_reports

    # The server: exactly once.
    ids = [r["id"] for r in warm + reports]
    t = tally(server, store, ids)
    store.close()
    assert t.missing_reports == [] and t.mismatched_reports == [], (t.missing_reports[:5], t.mismatched_reports[:5])
    assert t.unexpected_reports == []
    assert (t.duplicate_provenances, t.duplicate_identifiers) == (0, 0)
    assert t.provenances == len(ids) and t.devices == 1

    # Memory: under the ceilings, absolute and over the burst.
    peak = dict(rss.peak)
    growth = {k: peak[k] - baseline[k] for k in pids}
    for name in pids:
        assert peak[name] <= PEAK_CEILING[name], f"{name} peak RSS {mib(peak[name])} MiB > {mib(PEAK_CEILING[name])} MiB"
        assert growth[name] <= GROWTH_CEILING[name], \
            f"{name} RSS grew {mib(growth[name])} MiB over the burst > {mib(GROWTH_CEILING[name])} MiB"

    latencies = sorted(lat for _, _, lat in results)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    figures(burst_reports=n_reports, burst_requests=len(order), threads=n_threads,
            requests_per_s=round(len(order) / burst_s, 1), push_p50_ms=round(1000 * statistics.median(latencies)),
            push_p95_ms=round(1000 * p95), burst_s=round(burst_s, 1), drain_s=round(drain_s, 1),
            backlog_peak=backlog_peak, duplicates=t.duplicates, missing=len(t.missing_reports),
            rss_samples=rss.samples,
            **{f"peak_rss_{k}_mib": mib(v) for k, v in peak.items()},
            **{f"rss_growth_{k}_mib": mib(v) for k, v in growth.items()},
            **{f"ceiling_rss_{k}_mib": mib(v) for k, v in PEAK_CEILING.items()})
    print(f"\nload: {len(order)} pushes ({n_reports} reports) from {n_threads} threads in {burst_s:.1f}s "
          f"= {len(order) / burst_s:.0f}/s (p50 {1000 * statistics.median(latencies):.0f} ms, "
          f"p95 {1000 * p95:.0f} ms); backlog peak {backlog_peak}; drained in {drain_s:.1f}s; "
          + ", ".join(f"{k} RSS peak {mib(peak[k])} MiB (+{mib(growth[k])})" for k in pids)
          + f"; {t.duplicates} duplicates, {len(t.missing_reports)} missing")
