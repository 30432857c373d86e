"""Hardening the deployment (issue 20), item 5: ``$preview`` ran the model inside the web process.

As reported: one call took 3.6 s and took that gunicorn worker from 117 to 869 MiB, kept, while
deploy/gunicorn.conf.py says a request never runs a model. Now (integration/intake/http/preview.py,
docs/api.md "$preview") the web process queues the report in the store's ``previews`` table and
waits; ``radlite worker`` answers it before its next batch of jobs. With real processes --
gunicorn (deploy/gunicorn.conf.py, one worker process) and ``radlite worker`` on the tiny model:

* a preview is answered 200 with the transaction Bundle, and the gunicorn worker's RSS does not
  grow by a model (nor does it map the CTranslate2 library at all);
* more previews than ``preview.max_pending`` at once: 429 throttled + Retry-After, at once;
* no worker running: 503 transient + Retry-After after ``preview.timeout_seconds``;
* afterwards no preview row is left in the store (the report is PHI).
"""

from __future__ import annotations

import sqlite3
import statistics
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests
from fhir.resources.R4B.bundle import Bundle

from tests.reliability.harness import (  # noqa: F401 -- services: a pytest fixture, taken by name as a test parameter
    Service,
    gunicorn_process,
    make_reports,
    rss_bytes,
    services,
    site_config,
    store_path,
    wait_until,
)

FHIR = {"Content-Type": "application/fhir+json"}
PREVIEW = "/fhir/DiagnosticReport/$preview"
MIB = 1024 * 1024
TIMEOUT = 4  # preview.timeout_seconds here: long enough for the warm tiny model on a busy machine


def _count(db: Path, what: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {what}").fetchone()[0])
    finally:
        conn.close()


def _previews_left(db: Path) -> int:
    return _count(db, "previews")


def _maps_ctranslate2(pid: int) -> bool:
    return "ctranslate2" in Path(f"/proc/{pid}/maps").read_text()


@pytest.fixture
def gunicorn(tmp_path, tiny_qwen2):
    """gunicorn with deploy/gunicorn.conf.py (one worker process, 4 threads) on a SQLite store, the
    tiny model for the `radlite worker` the test starts; yields (base URL, site file, its worker's pid)."""
    pytest.importorskip("gunicorn")
    site = site_config(tmp_path, tiny_qwen2, "http://127.0.0.1:9/fhir",
                       routing={"rules": [], "default_tasks": ["n_staging", "m_staging"]},
                       preview={"timeout_seconds": TIMEOUT, "max_pending": 2, "max_waiting_per_process": 2},
                       worker={"poll_seconds": 1.0})
    with gunicorn_process(site, tmp_path / "gunicorn.log",
                          extra_env={"RADLITE__AUDIT__ALLOW_DEVELOPMENT_KEY": "true"}) as (proc, base):
        [worker] = wait_until(lambda: psutil.Process(proc.pid).children(), 10, "the gunicorn worker")
        yield base, site, worker.pid


def test_preview_runs_in_the_worker_bounded_and_leaves_nothing(gunicorn, tmp_path, services, figures) -> None:
    base, site, web_pid = gunicorn
    db = store_path(site)
    reports = make_reports(6, "pv")
    http = requests.Session()
    # Warm the web worker the way the intake's own traffic does (a push), then take its RSS.
    assert http.post(base + "/fhir/DiagnosticReport", json=reports[0], headers=FHIR, timeout=30).status_code == 202
    rss_before = rss_bytes(web_pid)

    worker = Service("worker", site, tmp_path / "logs")
    services.append(worker.start())
    # The worker loads the model on its first job: wait until it has inferred the pushed report.
    wait_until(lambda: worker.check_alive() or _count(db, "jobs WHERE state = 'inferred'") == 1, 120,
               "the worker to infer the first job")

    latencies = []
    for report in reports[1:5]:
        started = time.perf_counter()
        resp = http.post(base + PREVIEW, json=report, headers=FHIR, timeout=60)
        latencies.append(time.perf_counter() - started)
        assert resp.status_code == 200, resp.text[:1000]
        assert resp.headers["Content-Type"].startswith("application/fhir+json")
        assert resp.headers["X-RadLite-Tasks"] == "n_staging,m_staging"
        bundle = resp.json()
        Bundle.model_validate(bundle)
        kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
        assert kinds.count("Observation") == 2 and "Provenance" in kinds
    rss_after = rss_bytes(web_pid)
    growth = (rss_after - rss_before) / MIB
    # The model lives in the worker (the tiny one is small, radlite-mini ~750 MiB); the web worker
    # never maps the inference runtime at all.
    assert growth < 60, f"web worker RSS grew {growth:.0f} MiB"
    assert not _maps_ctranslate2(web_pid)
    assert _maps_ctranslate2(worker.pid)
    assert _previews_left(db) == 0
    # The preview was no job: the one pushed report is still the only one.
    assert _count(db, "jobs") == 1
    worker_rss = rss_bytes(worker.pid)

    # No worker: the waiting requests get 503 after the timeout; over max_pending (2), 429 at once.
    worker.stop()
    waiting: list[requests.Response] = []
    threads = [threading.Thread(target=lambda r=r: waiting.append(
        requests.post(base + PREVIEW, json=r, headers=FHIR, timeout=60))) for r in reports[4:6]]
    for t in threads:
        t.start()
    wait_until(lambda: _previews_left(db) == 2, 10, "two previews queued")
    started = time.perf_counter()
    over = http.post(base + PREVIEW, json=reports[1], headers=FHIR, timeout=60)
    refused_in = time.perf_counter() - started
    assert over.status_code == 429 and over.headers["Retry-After"] == "5", over.text[:500]
    assert over.json()["issue"][0]["code"] == "throttled" and refused_in < 2
    for t in threads:
        t.join(60)
    assert [r.status_code for r in waiting] == [503, 503], [r.text[:300] for r in waiting]
    for r in waiting:
        assert r.headers["Retry-After"] == "30" and r.json()["issue"][0]["code"] == "transient"
    assert _previews_left(db) == 0
    # Pushes were served all along.
    assert http.post(base + "/fhir/DiagnosticReport", json=reports[5], headers=FHIR, timeout=30).status_code == 202

    figures(preview_seconds_first_warm=round(latencies[0], 3),
            preview_seconds_median=round(statistics.median(latencies), 3),
            web_rss_mib_before=round(rss_before / MIB), web_rss_mib_after=round(rss_after / MIB),
            worker_rss_mib=round(worker_rss / MIB),
            refused_429_in_seconds=round(refused_in, 3), timeout_seconds=TIMEOUT)
