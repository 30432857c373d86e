"""Hardening the deployment (issue 20), item 3: a ``transaction`` Bundle is all or nothing.

As reported: the gunicorn worker was killed while it served a 10,000-entry transaction; the client
saw a connection reset, and 2,165 jobs stayed queued -- the intake recorded the entries one
transaction each. FHIR says a transaction succeeds whole or changes nothing. The intake now
records a transaction's reports in one database transaction (``JobStore.submit_many``), committed
once.

Reproduced here on a real gunicorn (one worker process, the SQLite store): a transaction of a few
thousand small reports is posted, and the worker is SIGKILLed while the store shows the request in
its database transaction -- the intake holds the store's writer lock (``<database>.lock``, taken
around the transaction: integration/store/jobs.py ``_writing``) -- once as soon as the transaction
begins and once deep in it, after the uncommitted inserts have spilled into the WAL. Afterwards
the store holds none of the Bundle's jobs or all of them, never some; the database is intact; and
the sender's retry of the whole Bundle, to the worker gunicorn starts in its place, records every
report exactly once.
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from integration.samples import sample_diagnostic_reports
from integration.store import JobStore
from tests.fhir_server import free_port
from tests.integration.postgres import empty_pg_url, pg_url  # noqa: F401 -- pytest fixtures, taken by name as test parameters
from tests.reliability.harness import wait_until

ROOT = Path(__file__).resolve().parents[2]
FHIR_JSON = "application/fhir+json"
# Entries per transaction: about 1 KB each, so the Bundle is ~5 MB and its database transaction
# takes a second or more on a 2-core machine -- long enough to be caught inside.
ENTRIES = 5000
# "Deep in the transaction": this much of uncommitted inserts has reached the WAL.
DEEP_WAL_BYTES = 1_000_000



def _site(tmp_path: Path) -> Path:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        # Open mode: no client, so no queue quota check takes the writer lock before the
        # transaction does -- the lock then means exactly "the transaction is open".
        "intake": {"auth": {"mode": "open"}, "max_body_bytes": 20_000_000, "max_bundle_entries": ENTRIES},
        "ehr": {"base_url": "http://127.0.0.1:9/fhir"},
        "audit": {"file": None, "allow_development_key": True},
    }), encoding="utf-8")
    return site


def _transaction(tag: str, n: int) -> bytes:
    """A transaction Bundle of ``n`` distinct small reports (the shortest shipped sample)."""
    sample = min(sample_diagnostic_reports(), key=lambda r: len(json.dumps(r)))
    entries = []
    for i in range(n):
        report = copy.deepcopy(sample)
        report["id"] = f"{tag}-{i}"
        entries.append({"resource": report, "request": {"method": "PUT", "url": f"DiagnosticReport/{tag}-{i}"}})
    return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}).encode()


class Gunicorn:
    """deploy/gunicorn.conf.py with one worker process, in its own session."""

    def __init__(self, tmp_path: Path) -> None:
        pytest.importorskip("gunicorn")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / "gunicorn.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RADLITE", "PROMETHEUS"))}
        env.update({"RADLITE_CONFIG": str(_site(tmp_path)), "RADLITE_BIND": f"127.0.0.1:{self.port}",
                    "WEB_CONCURRENCY": "1", "RADLITE_WEB_THREADS": "2"})
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
                 "integration.wsgi:app"], cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)

    def worker(self, timeout: float = 60) -> int:
        """The pid of the (one) worker, once it answers."""
        def ready() -> int | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(self.base + "/healthz", timeout=2).status_code != 200:
                    return None
            except requests.RequestException:
                return None
            import psutil

            children = psutil.Process(self.proc.pid).children()
            return children[0].pid if len(children) == 1 else None

        return wait_until(ready, timeout, "the gunicorn worker to answer")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


@pytest.fixture
def gunicorn(tmp_path):
    pytest.importorskip("psutil")
    server = Gunicorn(tmp_path)
    yield server
    server.stop()


def _writer_lock_held(lock_file: Path) -> bool:
    """Whether some process holds the store's writer lock (probed without waiting; taken and given
    back at once when free, which delays a writer by microseconds at most)."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _jobs_of(db: Path, tag: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute("SELECT count(*) FROM jobs WHERE report_key LIKE ?", (f"DiagnosticReport/{tag}-%",)).fetchone()[0]
    finally:
        conn.close()


def _integrity(db: Path) -> str:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def _post(base: str, body: bytes, result: dict[str, Any]) -> None:
    try:
        result["response"] = requests.post(base + "/fhir", data=body, headers={"Content-Type": FHIR_JSON}, timeout=120)
    except requests.RequestException as exc:
        result["error"] = type(exc).__name__


@pytest.mark.slow
@pytest.mark.parametrize("when", ["as-the-transaction-begins", "deep-in-the-transaction"])
def test_a_worker_killed_mid_transaction_leaves_all_or_nothing(tmp_path, gunicorn, when, figures) -> None:
    db, lock_file, wal = tmp_path / "jobs.sqlite", tmp_path / "jobs.sqlite.lock", tmp_path / "jobs.sqlite-wal"
    pid = gunicorn.worker()
    body = _transaction("tx", ENTRIES)

    result: dict[str, Any] = {}
    sender = threading.Thread(target=_post, args=(gunicorn.base, body, result), daemon=True)
    started = time.monotonic()
    sender.start()
    # The request is in its database transaction while the worker holds the writer lock.
    wait_until(lambda: _writer_lock_held(lock_file) or "response" in result, 60,
               "the intake to open its database transaction", interval=0.001)
    assert "response" not in result, "answered before the transaction was seen: make ENTRIES larger"
    began, wal_at_begin = time.monotonic(), _size(wal)
    if when == "deep-in-the-transaction":
        wait_until(lambda: _size(wal) >= wal_at_begin + DEEP_WAL_BYTES or not _writer_lock_held(lock_file), 60,
                   "uncommitted inserts in the WAL", interval=0.001)
        assert _writer_lock_held(lock_file), "the transaction committed before it was deep: make ENTRIES larger"
    os.kill(pid, signal.SIGKILL)
    killed, wal_at_kill = time.monotonic(), _size(wal)
    sender.join(60)

    # The sender heard nothing: the worker died with the request (a connection reset).
    assert "response" not in result and result.get("error"), result
    stored = _jobs_of(db, "tx")
    assert stored in (0, ENTRIES), f"{stored} of {ENTRIES} jobs of a killed transaction stayed queued"
    assert _integrity(db) == "ok"

    # The sender sends the whole Bundle again, to the worker gunicorn started in place of the dead one:
    # every report is recorded exactly once (duplicates of a transaction that did commit are 200s).
    assert gunicorn.worker() != pid
    again = requests.post(gunicorn.base + "/fhir", data=body, headers={"Content-Type": FHIR_JSON}, timeout=120)
    assert again.status_code == (202 if stored == 0 else 200), again.text[:500]
    statuses = {e["response"]["status"] for e in again.json()["entry"]}
    assert statuses == {"202 Accepted" if stored == 0 else "200 OK"}
    assert _jobs_of(db, "tx") == ENTRIES
    figures(entries=ENTRIES, bundle_bytes=len(body), killed=when, jobs_after_kill=stored,
            seconds_to_transaction=round(began - started, 2), seconds_in_transaction_at_kill=round(killed - began, 3),
            wal_bytes_at_kill=wal_at_kill)


def test_concurrent_transactions_on_postgresql_record_each_version_once(pg_url) -> None:
    """PostgreSQL does not serialise writers: two transactions with the same report version both
    find it new, and the second insert fails on the unique key after the first commits. That
    transaction is rolled back whole and recorded again, the version now a duplicate: every
    transaction is answered, and every version is one job."""
    shared = json.loads(_transaction("shared", 20))["entry"]
    senders = 4
    barrier = threading.Barrier(senders)
    answers: dict[int, list[tuple[str, bool]]] = {}
    errors: list[str] = []

    def send(n: int) -> None:
        store = JobStore(pg_url)
        try:
            own = json.loads(_transaction(f"own{n}", 5))["entry"]
            resources = [e["resource"] for e in (shared[n * 3:] + own + shared[:n * 3])]
            barrier.wait(30)
            answers[n] = [(job.report_key, created) for job, created in store.submit_many(resources)]
        except Exception as exc:  # noqa: BLE001 -- reported below
            errors.append(repr(exc))
        finally:
            store.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(answers) == senders, errors
    store = JobStore(pg_url)
    try:
        jobs = store.jobs(limit=1000)
    finally:
        store.close()
    assert len(jobs) == len({j.report_key for j in jobs}) == 20 + senders * 5
    # Each shared report was created by exactly one of the transactions.
    created = [key for rows in answers.values() for key, new in rows if new and "/shared-" in key]
    assert sorted(created) == sorted(f"DiagnosticReport/shared-{i}" for i in range(20))
