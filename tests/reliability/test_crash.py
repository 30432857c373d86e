"""kill -9 the inference worker mid-batch and the write-back scheduler mid-write, again and again,
restarting each; at the end every accepted report is on the FHIR server exactly once.

Real processes (`radlite worker`, `radlite scheduler`), the real FHIR server (sekmet) behind a
small proxy that lets the test hold one transaction so the scheduler can be killed while it waits
for the answer -- half the time after the server committed it (the replay must create nothing),
half the time before (the replay must create everything). Nothing is asserted on timing; every
wait has a deadline.
"""

from __future__ import annotations

import time
from collections import Counter

from integration.intake.http.app import create_app
from integration.settings import load_settings
from integration.store import JobStore, State
from tests.reliability import harness
from tests.reliability.harness import (
    FhirProxy,
    JobsView,
    Service,
    make_reports,
    owner_of_worker,
    owner_prefix_of_scheduler,
    services,  # noqa: F401 -- pytest fixtures, taken by name as test parameters
    site_config,
    store_path,
    tally,
    wait_until,
)

BATCH = 6
# Generated tasks (256 tokens with the tiny model) keep a batch busy for about a second, a wide
# window to kill the worker in; the scored tasks always give something to write.
TASKS = ["n_staging", "m_staging", "impression_generation", "abnormality_detection"]
HEADERS = {"Content-Type": "application/fhir+json"}
CRITICAL_STAGE = "\nADDENDUM: Clinical stage cT2a N1 M1c (liver metastases).\n"


def test_kill9_worker_and_scheduler_repeatedly_then_exactly_once(
        tmp_path, tiny_qwen2, fresh_fhir_server, long_mode, figures, services, monkeypatch) -> None:
    cycles = 10 if long_mode else 3
    server = fresh_fhir_server
    proxy = FhirProxy(server.root_url).open()
    site = site_config(tmp_path, tiny_qwen2, proxy.base_url,
                       worker={"batch_size": BATCH, "lease_seconds": 3, "poll_seconds": 0.1},
                       routing={"rules": [], "default_tasks": TASKS},
                       # Never give up on a job because its worker was killed: this test kills
                       # on purpose (the poison-job limit has its own test).
                       store={"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}", "max_inference_attempts": 10})
    settings = load_settings(site, environ={})
    store = JobStore(settings.store.url, max_inference_attempts=10)
    intake = create_app(settings, store).test_client()
    view = JobsView(store_path(site))
    pushed: list[str] = []
    started = time.monotonic()

    waves = [0]

    def push_wave(n: int) -> None:
        # Every other wave states distant metastases: its reports meet a critical-result rule, so
        # their alerts (written by the early wake) go through the same kills.
        with monkeypatch.context() as m:
            if waves[0] % 2:
                m.setattr(harness, "STATED_STAGE", CRITICAL_STAGE)
            reports = make_reports(n, f"crash-w{len(pushed)}", server)
        waves[0] += 1
        for report in reports:
            resp = intake.post("/fhir/DiagnosticReport", json=report, headers=HEADERS)
            assert resp.status_code == 202, resp.status_code
            pushed.append(report["id"])

    def done_inferring() -> int:
        return sum(1 for r in view.rows() if r["state"] in ("inferred", "writing", "written"))

    worker = Service("worker", site, tmp_path / "logs")
    scheduler = Service("scheduler", site, tmp_path / "logs")
    services.extend([worker, scheduler])
    push_wave(2 * BATCH)
    push_wave(BATCH)  # the first wave with alerts
    worker.start()
    scheduler.start()

    killed_in_batch: list[str] = []  # job ids a worker held when it was killed
    killed_writes: dict[str, list[str]] = {}  # report id -> "after-commit" / "before-commit" per kill
    worker_kills = scheduler_kills = missed = 0
    try:
        while worker_kills < cycles or scheduler_kills < cycles:
            if worker_kills < cycles:
                # Enough queued that the worker is inside a batch when we look.
                if view.counts()["received"] < 2 * BATCH:
                    push_wave(2 * BATCH)
                # Wait for a finished batch first: the model is loaded, so the kill lands during
                # generation rather than while the process is still starting.
                baseline = done_inferring()
                wait_until(lambda baseline=baseline: (worker.check_alive(), done_inferring() > baseline)[1], 120,
                           "the worker to finish a batch")
                owner = owner_of_worker(worker.pid)
                wait_until(lambda owner=owner: any(r["state"] == "inferring" and r["lease_owner"] == owner
                                                   for r in view.rows()), 120, "the worker to claim a batch", interval=0.01)
                worker.kill9()
                # Read after the process is reaped: what it held can no longer change.
                held = [r["id"] for r in view.rows() if r["state"] == "inferring" and r["lease_owner"] == owner]
                if held:
                    killed_in_batch.extend(held)
                    worker_kills += 1
                else:
                    missed += 1  # the batch finished between the look and the kill: not mid-batch
                    assert missed < 10, "could not catch the worker inside a batch"
                worker.start()

            if scheduler_kills < cycles:
                when = "after-commit" if scheduler_kills % 2 == 0 else "before-commit"
                proxy.arm_hold(when)
                wait_until(lambda: (scheduler.check_alive(), proxy.held.is_set())[1], 120,
                           "the scheduler to post a transaction")
                rid = proxy.held_report
                assert rid is not None
                pid = scheduler.pid
                scheduler.kill9()
                proxy.release()
                row = view.by_report()[rid]
                # Mid-write: the job is still claimed by the dead scheduler...
                assert row["state"] == "writing" and row["lease_owner"].startswith(owner_prefix_of_scheduler(pid))
                # ...and the server holds its Bundle exactly when this kill, or an earlier one on
                # the same job (this may be its replay), came after the commit.
                whens = killed_writes.setdefault(rid, [])
                whens.append(when)
                committed = server.count("Provenance", entity=f"DiagnosticReport/{rid}")
                assert committed == (1 if "after-commit" in whens else 0), (whens, committed)
                scheduler_kills += 1
                scheduler.start()

        def drained() -> bool:
            worker.check_alive()
            scheduler.check_alive()
            c = view.counts()
            return c["written"] + c["failed"] == len(pushed)

        wait_until(drained, 240, "every job to be written", interval=0.2)
    finally:
        proxy.release()
        proxy.close()
    seconds = time.monotonic() - started

    # The store: every job written, none dead-lettered, none still claimed.
    counts = store.counts()
    assert counts[State.WRITTEN.value] == len(pushed), counts
    assert counts[State.FAILED.value] == 0, counts
    jobs = {j.id: j for j in store.jobs(limit=100_000)}
    # A job ran once more for every kill that caught it in a batch (a job can be caught twice: the
    # restarted worker may take newer jobs before the dead one's leases run out); no other job
    # ran twice.
    kills_per_job = Counter(killed_in_batch)
    assert {i: jobs[i].inference_attempts for i in kills_per_job} == {i: 1 + n for i, n in kills_per_job.items()}
    assert {j.inference_attempts for i, j in jobs.items() if i not in kills_per_job} == {1}
    by_report = {j.report_key.split("/", 1)[1]: j for j in jobs.values()}
    for rid, whens in killed_writes.items():
        job = by_report[rid]
        assert job.write_attempts >= 1 + len(whens), rid
        c = job.written["counts"]
        if "after-commit" in whens:
            # The replay found everything the killed scheduler had committed, and created nothing.
            assert c["created"] == 0 and c["existing"] == len(job.written["resources"]), c
        else:
            # Nothing had reached the server: the replay created the findings and the Provenance.
            assert c["created"] >= 2, c

    # The server: exactly once, counted there.
    t = tally(server, store, pushed)
    assert t.missing_reports == [], t.missing_reports
    assert t.mismatched_reports == [], t.mismatched_reports
    assert t.unexpected_reports == []
    assert (t.duplicate_provenances, t.duplicate_identifiers) == (0, 0)
    assert t.provenances == len(pushed)
    assert t.devices == 1
    assert t.observation_versions == t.observations  # no Observation was ever rewritten
    # Every alert the store recorded is on the server once (the waves that state M1c meet a rule).
    alerting = sum(1 for j in jobs.values() if j.priority > 0)
    assert alerting >= BATCH and t.alerts == sum(len(store.job_alerts(j.id)) for j in jobs.values()) >= alerting
    store.close()

    figures(worker_kills_mid_batch=worker_kills, scheduler_kills_mid_write=scheduler_kills,
            scheduler_kills_after_commit=sum(w.count("after-commit") for w in killed_writes.values()),
            jobs_rerun_after_kill=len(kills_per_job), reports=len(pushed), written=counts["written"],
            dead_letters=counts["failed"], observations=t.observations, provenances=t.provenances,
            alerts=t.alerts, followups=t.followups,
            duplicates=t.duplicates, missing=len(t.missing_reports), seconds=round(seconds, 1))
    print(f"\ncrash: {worker_kills} worker kills (mid-batch), {scheduler_kills} scheduler kills (mid-write), "
          f"{len(pushed)} reports, {t.observations} Observations, {t.duplicates} duplicates, "
          f"{len(t.missing_reports)} missing, {seconds:.1f}s")
