"""``radlite scheduler``: the one write-back scheduler.

An APScheduler 3.x ``BlockingScheduler`` runs :meth:`WritebackScheduler.tick` on an interval
(``coalesce=True, max_instances=1``: a slow tick is never run twice at once, and missed runs
collapse into one). Two more jobs serve critical results: the early wake
(:meth:`~WritebackScheduler.urgent_tick`, every ``alert_poll_seconds``: jobs with an alert are
written as soon as they are inferred) and the acknowledgement watch
(:meth:`~WritebackScheduler.check_alerts`, every ``alert_check_seconds``). All of them run under
one lock in this process (``_in_tick``), so the scheduler stays the one writer. Each tick first takes or renews the store lock ``"scheduler"`` (TTL longer
than the interval) and does nothing when another scheduler holds it, so any number may be started
and exactly one writes; when the holder dies its lock runs out and another takes over. The lock is
renewed before each job of a batch, so a long batch keeps it. SIGTERM/SIGINT shut the scheduler
down after the running tick and release the lock.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import threading
import uuid
from typing import Any

from integration.audit import audit, get_logger
from integration.intake.pull import poll_once
from integration.mappings import Mappings
from integration.settings import PullSettings, WritebackSettings
from integration.store import JobStore
from integration.writeback.alerts import AlertCounts, watch_alerts
from integration.writeback.client import FhirClient
from integration.writeback.runner import Counts, write_due

LOCK_NAME = "scheduler"
log = get_logger("radlite.scheduler")


def default_owner() -> str:
    return f"scheduler:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class WritebackScheduler:
    def __init__(self, store: JobStore, client: FhirClient, mappings: Mappings, settings: WritebackSettings,
                 owner: str | None = None, pull_settings: PullSettings | None = None,
                 max_report_chars: int | None = None) -> None:
        self.store, self.client, self.mappings = store, client, mappings
        # Pull mode (issue: EHRs that cannot push) runs under the same single-scheduler lock.
        self.pull_settings = pull_settings if pull_settings is not None and pull_settings.enabled else None
        self.max_report_chars = max_report_chars  # pulled reports are held to the intake's limit
        self.settings = settings
        self.owner = owner or default_owner()
        # The TTL bounds how long a scheduler that died holding the lock blocks its successor.
        ttl = settings.lock_ttl_seconds
        self.lock_ttl = float(ttl) if ttl else max(3 * settings.interval_seconds, 30.0)
        self.holding = False
        self._scheduler = None
        self._stopped = threading.Event()
        self._in_tick = threading.Lock()

    def _renew(self) -> bool:
        ok = self.store.acquire_lock(LOCK_NAME, self.owner, self.lock_ttl)
        if ok != self.holding:
            audit("scheduler.lock_acquired" if ok else "scheduler.lock_lost", owner=self.owner)
        self.holding = ok
        return ok

    def tick(self, min_priority: int = 0) -> Counts | None:
        """One run: None when another scheduler holds the lock, else the write-back counts.
        ``min_priority`` 1 is the early wake: only jobs with a critical-result alert to send."""
        with self._in_tick:
            if self._stopped.is_set() or not self._renew():
                return None
            counts = write_due(self.store, self.client, self.mappings, self.owner, self.settings,
                               keep_going=lambda: not self._stopped.is_set() and self._renew(),
                               min_priority=min_priority)
        if counts.claimed:
            log.info("scheduler.tick", urgent_only=min_priority > 0, **counts.as_dict())
        return counts

    def urgent_tick(self) -> Counts | None:
        """The early wake: jobs whose results meet a critical-result rule, as soon as they are
        inferred (every ``alert_poll_seconds``), not on the next regular tick."""
        return self.tick(min_priority=1)

    def check_alerts(self, now: dt.datetime | None = None) -> AlertCounts | None:
        """Read the open alerts back from the EHR: acknowledged, escalated, unanswered."""
        with self._in_tick:
            if self._stopped.is_set() or not self._renew():
                return None
            counts = watch_alerts(self.store, self.client, self.settings, now=now,
                                  keep_going=lambda: not self._stopped.is_set() and self._renew())
        if counts.checked:
            log.info("scheduler.alerts_checked", **counts.as_dict())
        return counts

    def poll(self):
        """One pull-mode poll, only while holding the scheduler lock."""
        with self._in_tick:
            if self._stopped.is_set() or not self._renew():
                return None
            try:
                return poll_once(self.store, self.client, self.pull_settings, max_report_chars=self.max_report_chars)
            except Exception as exc:  # noqa: BLE001 -- an EHR outage must not stop the scheduler
                log.warning("pull.failed", error=type(exc).__name__)
                return None

    def release(self) -> None:
        if self.holding:
            self.store.release_lock(LOCK_NAME, self.owner)
            self.holding = False
            audit("scheduler.lock_released", owner=self.owner)

    def stop(self, *_: Any) -> None:
        """Signal handler: finish the running tick, stop scheduling, release the lock."""
        self._stopped.set()
        if self._scheduler is not None and self._scheduler.running:
            # wait=False: the handler runs on the main thread, which the blocking loop needs back.
            self._scheduler.shutdown(wait=False)

    def run(self, *, install_signals: bool = True) -> None:
        from apscheduler.schedulers.blocking import BlockingScheduler  # noqa: PLC0415 -- apscheduler only when the scheduler runs

        sched = BlockingScheduler(timezone=dt.timezone.utc)
        sched.add_job(
            self.tick, "interval", seconds=self.settings.interval_seconds, id="writeback",
            coalesce=True, max_instances=1, misfire_grace_time=None,
            next_run_time=dt.datetime.now(dt.timezone.utc),
        )
        if self.settings.alert_poll_seconds > 0:
            sched.add_job(
                self.urgent_tick, "interval", seconds=self.settings.alert_poll_seconds, id="alerts-now",
                coalesce=True, max_instances=1, misfire_grace_time=None,
            )
        if self.settings.alert_check_seconds > 0:
            sched.add_job(
                self.check_alerts, "interval", seconds=self.settings.alert_check_seconds, id="alerts-check",
                coalesce=True, max_instances=1, misfire_grace_time=None,
            )
        if self.pull_settings is not None:
            sched.add_job(
                self.poll, "interval", seconds=self.pull_settings.interval_seconds, id="pull",
                coalesce=True, max_instances=1, misfire_grace_time=None,
                next_run_time=dt.datetime.now(dt.timezone.utc),
            )
        self._scheduler = sched
        if install_signals:
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        audit("scheduler.started", owner=self.owner, interval=self.settings.interval_seconds)
        try:
            sched.start()
        finally:
            self._stopped.set()
            if sched.running:
                sched.shutdown(wait=False)
            # Let a tick still running in the executor finish its job before the lock goes.
            if self._in_tick.acquire(timeout=self.settings.lease_seconds):
                self._in_tick.release()
            self.release()
            audit("scheduler.stopped", owner=self.owner)
