"""PostgreSQL mode for real: several `radlite worker` PROCESSES on one database.

* a burst of jobs is inferred exactly once by 2 and by 4 workers (FOR UPDATE SKIP LOCKED claims):
  every job once (``inference_attempts == 1``, one ``inference.started`` per job across all the
  workers' logs), the work spread over the workers;
* a worker killed with SIGKILL while holding a batch: its leases run out and the others complete
  its jobs;
* SIGTERM, idle and mid-batch: the worker exits 0 and leaves no job ``inferring`` under its name;
* two `radlite scheduler` processes on one database against a real FHIR server: one holds the
  lock and writes, each job is written once; SIGTERM hands the lock to the other.

The model is the tiny random bundle; tasks are the scored n_staging/m_staging (fast, always a
label). Skips when PostgreSQL is not reachable (fails under CI, which has it).
"""

from __future__ import annotations

import copy
import signal
import socket
import time
from pathlib import Path

import pytest
import yaml

from integration.samples import sample_diagnostic_reports
from integration.store import JobStore, State
from integration.writeback.scheduler import LOCK_NAME
from tests.fhir_server import result
from tests.integration.conftest import inferred_job
from tests.integration.postgres import Proc, child_env, empty_pg_url, pg_url, wait_for  # noqa: F401 -- pytest fixtures, taken by name as test parameters

pytestmark = pytest.mark.slow

TASKS = ["n_staging", "m_staging"]


def _site(tmp_path: Path, url: str, bundle: Path, **sections) -> Path:
    site = {
        "inference": {"bundles": {"tiny": str(bundle)}, "default_bundle": "tiny", "threads": 1},
        "store": {"url": url},
        "routing": {"rules": [], "default_tasks": TASKS},
        "worker": {"batch_size": 4, "lease_seconds": 60, "poll_seconds": 0.2},
        "ehr": {"base_url": "http://127.0.0.1:9/fhir", "timeout_seconds": 5},
        "audit": {"file": None},
    }
    for name, values in sections.items():
        site.setdefault(name, {}).update(values)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site), encoding="utf-8")
    return path


def _burst(store: JobStore, n: int) -> list[str]:
    samples = sample_diagnostic_reports()
    ids = []
    for k in range(n):
        report = copy.deepcopy(samples[k % len(samples)])
        report["id"] = f"{report['id']}-{k}"
        report.pop("meta", None)
        job, created = store.submit(report)
        assert created
        ids.append(job.id)
    return ids


def _start_workers(n: int, site: Path, tmp_path: Path, first: int = 0, **env) -> list[Proc]:
    workers = [Proc(["worker"], child_env(site, **env), tmp_path / f"worker-{i}.log") for i in range(first, first + n)]
    for w in workers:
        wait_for(lambda w=w: bool(w.events("worker.started")) or w.popen.poll() is not None, 90,
                 "a worker to start", detail=w.tail)
        assert w.popen.poll() is None, w.tail()
    return workers


def _freeze_while_holding(store: JobStore, worker: Proc, timeout: float = 60) -> list[str]:
    """SIGSTOP ``worker`` at a moment it holds a claimed batch; return the ids it holds."""
    held: list[str] = []
    deadline = time.monotonic() + timeout
    while not held and time.monotonic() < deadline:
        worker.signal(signal.SIGSTOP)
        held = _held_by(store, worker)
        if not held:
            worker.signal(signal.SIGCONT)
            time.sleep(0.01)
    assert held, "the worker never held a batch: " + worker.tail()
    return held


def _stop(workers: list[Proc], timeout: float = 60) -> None:
    for w in workers:
        w.signal(signal.SIGTERM)
    for w in workers:
        assert w.wait(timeout) == 0, w.tail()
        assert w.events("worker.stopped"), w.tail()


def _owner(proc: Proc) -> str:
    return f"worker:{socket.gethostname()}:{proc.pid}"


def _held_by(store: JobStore, proc: Proc) -> list[str]:
    return [j.id for j in store.jobs(State.INFERRING, limit=1000) if j.lease_owner == _owner(proc)]


def _assert_inferred_once(store: JobStore, ids: list[str]) -> None:
    for job_id in ids:
        job = store.get(job_id)
        assert job.state == State.INFERRED.value, (job_id, job.state, job.error)
        assert job.inference_attempts == 1, (job_id, job.inference_attempts)
        assert job.lease_owner is None
        assert set(job.tasks) == set(TASKS)
        for task in TASKS:
            # Each result was answered and decided once (written or abstained, with the reason).
            result = job.results[task]
            assert result["parsed"] and result["model_value"] is not None, result
            assert result["abstained"] == (result["value"] is None), result


@pytest.mark.parametrize("n_workers", [2, 4])
def test_burst_inferred_exactly_once_by_worker_processes(n_workers, pg_url, tiny_qwen2, tmp_path) -> None:
    store = JobStore(pg_url)
    site = _site(tmp_path, pg_url, tiny_qwen2, worker={"batch_size": 2})
    workers = _start_workers(n_workers, site, tmp_path)
    try:
        ids = _burst(store, 40)
        wait_for(lambda: store.counts()["inferred"] == 40, 120, "40 jobs inferred",
                 detail=lambda: f"{store.counts()}\n" + "\n".join(w.tail(1500) for w in workers))
        _stop(workers)
        _assert_inferred_once(store, ids)
        started = [len(w.events("inference.started")) for w in workers]
        inferred = [len(w.events("job.inferred")) for w in workers]
        assert sum(started) == 40 and sum(inferred) == 40, (started, inferred)
        assert not any(w.events("job.lease_lost") for w in workers)
        assert sum(1 for n in inferred if n > 0) >= 2, inferred  # the burst was shared
    finally:
        for w in workers:
            w.kill()
        store.close()


def test_killed_worker_leases_expire_and_others_complete_its_jobs(pg_url, tiny_qwen2, tmp_path) -> None:
    store = JobStore(pg_url)
    site = _site(tmp_path, pg_url, tiny_qwen2, worker={"batch_size": 3, "lease_seconds": 3, "poll_seconds": 0.2})
    # The victim starts alone, so that it holds a claimed batch most of the time and can be caught
    # holding one; the survivors start only after it is frozen.
    [victim] = _start_workers(1, site, tmp_path)
    workers, survivors = [victim], []
    try:
        ids = _burst(store, 24)
        # Freeze the victim at a moment it holds a claimed batch, then kill it outright.
        held = _freeze_while_holding(store, victim)
        victim.signal(signal.SIGKILL)
        victim.wait(10)
        survivors = _start_workers(2, site, tmp_path, first=1)
        workers.extend(survivors)

        wait_for(lambda: store.counts()["inferred"] == 24, 120, "every job inferred after the kill",
                 detail=lambda: f"{store.counts()}\n" + "\n".join(w.tail(1500) for w in survivors))
        _stop(survivors)
        for job_id in ids:
            job = store.get(job_id)
            assert job.state == State.INFERRED.value and job.lease_owner is None, (job.state, job.error)
        for job_id in held:
            assert store.get(job_id).inference_attempts == 2  # taken again after the lease ran out
        assert store.counts()["failed"] == 0
    finally:
        for w in workers:
            w.kill()
        store.close()


def test_sigterm_idle_and_mid_batch_exits_zero_and_leaves_nothing_inferring(pg_url, tiny_qwen2, tmp_path) -> None:
    store = JobStore(pg_url)
    site = _site(tmp_path, pg_url, tiny_qwen2, worker={"batch_size": 8, "poll_seconds": 0.2})
    idle, busy = _start_workers(2, site, tmp_path)
    try:
        # Idle: nothing to do, SIGTERM ends the wait at once.
        idle.signal(signal.SIGTERM)
        assert idle.wait(15) == 0, idle.tail()
        assert idle.events("worker.stopped")

        # Busy: SIGTERM while the worker holds a claimed batch.
        ids = _burst(store, 40)
        held = _freeze_while_holding(store, busy)
        busy.signal(signal.SIGTERM)
        busy.signal(signal.SIGCONT)
        assert busy.wait(60) == 0, busy.tail()
        assert busy.events("worker.stopped"), busy.tail()  # logs flushed before exit

        counts = store.counts()
        assert counts["inferring"] == 0 and counts["failed"] == 0, counts
        for job_id in ids:
            job = store.get(job_id)
            assert job.lease_owner is None
            # Finished (once) or handed back untouched (attempt not counted).
            assert (job.state, job.inference_attempts) in {(State.INFERRED.value, 1), (State.RECEIVED.value, 0)}
        for job_id in held:
            assert store.get(job_id).state in (State.INFERRED.value, State.RECEIVED.value)
        assert counts["received"] > 0  # it stopped claiming: the rest wait for the next worker
    finally:
        for w in (idle, busy):
            w.kill()
        store.close()


def test_scheduler_lock_holds_across_two_scheduler_processes(pg_url, fhir_server, seeded_report, tiny_qwen2,
                                                            tmp_path) -> None:
    store = JobStore(pg_url)
    site = _site(tmp_path, pg_url, tiny_qwen2,
                 ehr={"base_url": fhir_server.base_url, "timeout_seconds": 5},
                 writeback={"interval_seconds": 0.3, "lease_seconds": 30, "backoff_base_seconds": 0.05,
                            "backoff_max_seconds": 0.2})
    procs = [Proc(["scheduler"], child_env(site), tmp_path / f"scheduler-{i}.log") for i in range(2)]
    try:
        reports = [seeded_report(i) for i in (6, 7, 8)]
        jobs = [inferred_job(store, r, {"n_staging": result("N1")}) for r in reports]
        wait_for(lambda: all(store.get(j.id).state == State.WRITTEN.value for j in jobs), 60, "jobs written",
                 detail=lambda: "\n".join(p.tail(1500) for p in procs))
        holders = [p for p in procs if p.events("scheduler.lock_acquired")]
        assert len(holders) == 1, [p.tail(1500) for p in procs]
        holder = holders[0]
        other = procs[1 - procs.index(holder)]
        for r in reports:
            assert fhir_server.count("Provenance", entity=f"DiagnosticReport/{r['id']}") == 1
        for j in jobs:
            assert store.get(j.id).write_attempts == 1

        holder.signal(signal.SIGTERM)
        assert holder.wait(20) == 0, holder.tail()
        assert holder.events("scheduler.lock_released")
        late_report = seeded_report(9)
        late = inferred_job(store, late_report, {"n_staging": result("N2")})
        wait_for(lambda: store.get(late.id).state == State.WRITTEN.value, 60, "the other scheduler to take over",
                 detail=other.tail)
        assert other.events("scheduler.lock_acquired")
        assert fhir_server.count("Provenance", entity=f"DiagnosticReport/{late_report['id']}") == 1
        other.signal(signal.SIGTERM)
        assert other.wait(20) == 0, other.tail()
        assert store.acquire_lock(LOCK_NAME, "test", 5)  # released: anyone may take it now
    finally:
        for p in procs:
            p.kill()
        store.close()
