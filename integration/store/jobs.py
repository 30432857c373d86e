"""The durable job store and its state machine.

Every change of state is one short transaction (a FHIR transaction Bundle's reports: one
transaction for all of them, :meth:`JobStore.submit_many`), and every claim is a lease: a worker or
scheduler that dies simply lets its lease run out and the job is taken again. Updates after a
claim are fenced on (state, lease_owner), so a process that lost its lease cannot overwrite the
work of the one that took over.

SQLite (default, WAL) serialises writers with ``BEGIN IMMEDIATE``; PostgreSQL claims with
``FOR UPDATE SKIP LOCKED`` so several workers never wait on each other's rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import threading
import uuid
from typing import Any, Callable, Iterable, Iterator, Sequence

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import sessionmaker

from integration.fhir.lifecycle import PRIOR_STATUSES, patient_key
from integration.fhir.report import report_identifier
from integration.store import alerts as alert_rows, migrations
from integration.store.database import make_engine
from integration.store.integrity import (
    StoreCorrupt,
    is_corruption,
    require_sound,
    restrict_modes,
    sqlite_path,
)
from integration.store.models import Alert, AlertState, Cursor, Job, Lock, PreviewRequest, PreviewState, State, utcnow

ACTIVE = (State.RECEIVED.value, State.INFERRING.value, State.INFERRED.value)

# The intake's statements, built once (SQLAlchemy caches their compiled form).
_JOBS = Job.__table__
# Every version of one report, newest first (usually none, rarely more than a few): one query
# answers both "is this version known?" and "which version does it supersede?".
_VERSIONS = (
    select(_JOBS.c.id, _JOBS.c.report_version, _JOBS.c.state, _JOBS.c.supersedes)
    .where(_JOBS.c.report_key == bindparam("key"))
    .order_by(_JOBS.c.created_at.desc())
)
_RESOURCE = select(_JOBS.c.resource).where(_JOBS.c.id == bindparam("id"))
_INSERT = insert(_JOBS)
# A client's unfinished jobs (index ix_jobs_client_state): its queue quota.
_QUEUED_OF_CLIENT = (
    select(func.count()).select_from(_JOBS)
    .where(_JOBS.c.client == bindparam("client"), _JOBS.c.state.in_(ACTIVE))
)


# How many of a patient's latest reports the prior lookup reads to find a final one.
PRIOR_CANDIDATES = 20


class StoreError(Exception):
    pass


def _queue_withdrawal(job: Job, reason: str) -> None:
    """The in-session form of :meth:`JobStore.withdraw_only` for a version that failed."""
    job.state, job.tasks, job.results = State.INFERRED.value, [], {}
    job.lease_owner, job.lease_expires, job.next_attempt_at = None, None, utcnow()
    job.error, job.error_detail = reason, {"stage": "inference", "withdraw_only": True}


def report_identity(resource: dict[str, Any]) -> tuple[str, str]:
    """(report_key, report_version) of a DiagnosticReport: the idempotency key.

    The version is ``meta.versionId`` when the sender gives one; otherwise a hash of the resource
    without ``meta`` (servers rewrite meta.lastUpdated on every read), so a byte-identical re-push
    is recognised and any change of content is a new version.
    """
    rid = resource.get("id")
    if isinstance(rid, str) and rid:
        key = f"DiagnosticReport/{rid}"
    else:
        picked = report_identifier(resource)
        if picked is None:
            raise StoreError("report has neither id nor identifier")
        ident = picked[1]
        key = f"identifier:{ident.get('system', '')}|{ident['value']}"
    version = (resource.get("meta") or {}).get("versionId")
    if not (isinstance(version, str) and version):
        body = {k: v for k, v in resource.items() if k != "meta"}
        canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        version = "sha256:" + hashlib.sha256(canon.encode("utf-8")).hexdigest()
    return key, version


def _is_newer(resource: dict[str, Any], version: str, prev_version: str,
              prev_resource: Callable[[], dict[str, Any] | None]) -> bool:
    """Whether an incoming version should supersede the previous one (its version, and a loader
    of its resource, needed only when the versions are not both numbers): by numeric versionId,
    then meta.lastUpdated, else arrival order (the new one wins)."""
    if version.isdigit() and prev_version.isdigit():
        return int(version) > int(prev_version)
    new_lu = (resource.get("meta") or {}).get("lastUpdated")
    old_lu = ((prev_resource() or {}).get("meta") or {}).get("lastUpdated")
    if isinstance(new_lu, str) and isinstance(old_lu, str):
        try:
            return dt.datetime.fromisoformat(new_lu) >= dt.datetime.fromisoformat(old_lu)
        except ValueError:
            pass
    return True


# Attempts of a transaction Bundle that lost a race to a concurrent push (PostgreSQL).
_TRANSACTION_ATTEMPTS = 3
# PostgreSQL: deadlock_detected, serialization_failure.
_RETRYABLE_SQLSTATES = ("40P01", "40001")
# Ids per IN (...) when a transaction's duplicates are read back (well under any bind limit).
_IN_CHUNK = 500


class PreviewsFull(Exception):
    """``limit`` previews are already queued or running; nothing was recorded."""

    def __init__(self, pending: int, limit: int) -> None:
        super().__init__(f"{pending} previews are queued or running; the limit is {limit}")
        self.pending, self.limit = pending, limit


# Previews: answered (the waiting request reads and deletes them) ...
PREVIEW_FINISHED = (PreviewState.DONE.value, PreviewState.FAILED.value)
# ... and, left behind by a web process that died while waiting, deleted this long after they
# expired. The grace keeps an answer stored just before the deadline for the request's last look.
PREVIEW_GRACE = dt.timedelta(seconds=10)
# pg_advisory_xact_lock key: previews are counted and queued one at a time (max_pending is exact).
_PG_PREVIEW_LOCK_KEY = 0x72647076  # "rdpv"
_PREVIEWS = PreviewRequest.__table__


class QuotaExceeded(Exception):
    """Recording would leave ``client`` with more than ``limit`` unfinished jobs; nothing was recorded."""

    def __init__(self, client: str, queued: int, limit: int) -> None:
        super().__init__(f"client {client!r} would have {queued} unfinished jobs; the limit is {limit}")
        self.client, self.queued, self.limit = client, queued, limit


def _new_job(resource: dict[str, Any], source: str, correlation_id: str, client: str | None,
             now: dt.datetime) -> Job:
    """A job in state received for ``resource`` (StoreError when it has no id or identifier)."""
    key, version = report_identity(resource)
    return Job(
        id=uuid.uuid4().hex,
        report_key=key,
        report_version=version,
        resource=resource,
        subject_ref=patient_key(resource),
        source=source,
        correlation_id=correlation_id,
        client=client,
        state=State.RECEIVED.value,
        inference_attempts=0,
        write_attempts=0,
        created_at=now,
        updated_at=now,
        next_attempt_at=now,
    )


def _new_jobs(resources: Sequence[dict[str, Any]], source: str, correlation_id: str,
              client: str | None) -> list[Job]:
    """Jobs for a transaction's reports, their ``created_at`` strictly increasing: the versions of
    one report are told apart by arrival order (newest first), within a Bundle as between pushes."""
    jobs: list[Job] = []
    now = utcnow()
    for resource in resources:
        jobs.append(_new_job(resource, source, correlation_id, client, now))
        now = max(utcnow(), now + _TICK)
    return jobs


_TICK = dt.timedelta(microseconds=1)  # the resolution of a stored datetime


def _row(job: Job) -> dict[str, Any]:
    # Only the columns with a value: a JSON column given None would store JSON null.
    return {c.key: getattr(job, c.key) for c in _JOBS.columns if getattr(job, c.key) is not None}


def _record(conn: Connection, job: Job, row: dict[str, Any]) -> str | None:
    """Record ``job`` (its ``row``) on ``conn``, inside the caller's transaction. None when it was
    inserted; else the id of the job that already holds this report version (nothing changed).

    A new version supersedes the report's current one when it is newer (:func:`_is_newer`); an
    older version arriving late is recorded, superseded from the start, never processed."""
    versions = conn.execute(_VERSIONS, {"key": job.report_key}).all()
    known = next((v.id for v in versions if v.report_version == job.report_version), None)
    if known is not None:
        return known
    prev = next((v for v in versions if v.state != State.SUPERSEDED.value), None)
    if prev is not None:
        if _is_newer(job.resource, job.report_version, prev.report_version,
                     lambda: conn.execute(_RESOURCE, {"id": prev.id}).scalar()):
            values: dict[str, Any] = {"superseded_by": job.id}
            if prev.state in ACTIVE:
                # Not written yet: it never will be. What it would have amended (an earlier
                # written version) is now the new job's to amend.
                values.update(state=State.SUPERSEDED.value, lease_owner=None)
                job.supersedes = prev.supersedes
            else:
                job.supersedes = prev.id
            conn.execute(update(_JOBS).where(_JOBS.c.id == prev.id).values(**values))
        else:
            # An older version arriving late: recorded, never processed.
            job.state = State.SUPERSEDED.value
            job.superseded_by = prev.id
        row.update({k: getattr(job, k) for k in ("state", "supersedes", "superseded_by")
                    if getattr(job, k) is not None})
    conn.execute(_INSERT, row)
    return None


def _duplicate(found: Job | None) -> tuple[Job, bool]:
    if found is None:  # pragma: no cover - the unique constraint guarantees a row
        raise StoreError("the report version vanished while it was being recorded")
    return found, False


def _record_all(conn: Connection, jobs: list[Job], rows: list[dict[str, Any]]) -> list[str | None]:
    """:func:`_record` for each job, in report-key order; the results in the jobs' order.

    Key order is a lock order: two transactions holding reports in common then wait for each other
    at their first common report instead of deadlocking on PostgreSQL's unique index. It changes
    nothing else -- recording a report reads and writes only that report's rows, and the sort is
    stable, so one report's versions are still recorded in the Bundle's order."""
    existing: list[str | None] = [None] * len(jobs)
    for i in sorted(range(len(jobs)), key=lambda i: jobs[i].report_key):
        existing[i] = _record(conn, jobs[i], rows[i])
    return existing


def _lost_a_race(exc: DBAPIError) -> bool:
    """A unique-key conflict with a concurrent insert, a deadlock or a serialisation failure: the
    transaction was rolled back and may simply be run again."""
    if isinstance(exc, IntegrityError):
        return True
    return getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


def _check_quota(conn: Connection, client: str, limit: int) -> None:
    """Raise QuotaExceeded (the caller's transaction then rolls back) when ``client`` has more than
    ``limit`` unfinished jobs, the ones just inserted included. Counting after the insert lets a
    new version that supersedes the client's unwritten one (no net change) and a late older
    version (superseded at once) through at the limit."""
    queued = conn.execute(_QUEUED_OF_CLIENT, {"client": client}).scalar_one()
    if queued > limit:
        raise QuotaExceeded(client, queued, limit)


class JobStore:
    def __init__(self, url: str, *, max_inference_attempts: int = 3, create: bool = True,
                 check_integrity: bool = False) -> None:
        """Open (on SQLite: create) the store at ``url``.

        ``check_integrity`` is for the services' start: a SQLite file that ``PRAGMA quick_check``
        finds damaged raises :class:`StoreCorrupt` instead of being served (a damaged file keeps
        answering until a query reads a bad page, and would accept reports it may lose)."""
        self.url = url
        database = sqlite_path(url)
        if database is not None:
            # A file from before 0600 was the rule (or copied in with a wider mode) is narrowed.
            restrict_modes(database)
            if check_integrity:
                require_sound(database)
        self.engine = make_engine(url)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        # Set on the first corruption error the intake meets. A damaged file keeps accepting the
        # writes that miss its bad pages; from then on this process accepts none (StoreCorrupt).
        self.damaged: str | None = None
        self.max_inference_attempts = max_inference_attempts
        self._skip_locked = self.engine.dialect.name == "postgresql"
        # SQLite has one writer at a time. The intake's writers queue for it on a thread lock (this
        # process) and an flock on "<database>.lock" (the other gunicorn workers), each woken as
        # soon as the holder is done, instead of in SQLite's busy handler, which sleeps 1, 2, 5,
        # 10 ... ms between retries and gave the intake its long tail under concurrent pushes.
        # Only a queue: SQLite's own locking still guarantees correctness without it.
        self._write_lock: threading.Lock | None = None
        self._lock_file: str | None = None
        self._lock_fd: int | None = None
        self._lock_pid = 0
        if self.engine.dialect.name == "sqlite":
            self._write_lock = threading.Lock()
            database = self.engine.url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                self._lock_file = database + ".lock"
        if create:
            # SQLite: create the tables (and stamp a new file); elsewhere only migrations make the
            # schema (`radlite db upgrade`), and a database not at their head is refused here.

            if self.engine.dialect.name == "sqlite":
                migrations.create_sqlite_schema(self.engine)
            else:
                with self.engine.connect() as conn:
                    problem = migrations.check_current(conn)
                if problem is not None:
                    self.engine.dispose()
                    raise StoreError(problem)

    def close(self) -> None:
        self.engine.dispose()
        if self._lock_fd is not None and self._lock_pid == os.getpid():
            os.close(self._lock_fd)
        self._lock_fd = None

    def _writer_fd(self) -> int | None:
        """This process's descriptor of the writers' lock file; None when there is none."""
        if self._lock_file is None:
            return None
        if self._lock_fd is None or self._lock_pid != os.getpid():
            # After a fork the inherited descriptor shares its lock with the parent: open our own.
            if self._lock_fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._lock_fd)
                self._lock_fd = None
            try:
                self._lock_fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
            except OSError:
                self._lock_file = None  # e.g. a read-only directory: SQLite's busy handler alone
                return None
            self._lock_pid = os.getpid()
        return self._lock_fd

    @contextlib.contextmanager
    def _writing(self):
        """Hold the intake's place in the queue for SQLite's write lock (a no-op on PostgreSQL)."""
        if self._write_lock is None:
            yield
            return
        with self._write_lock:
            fd = self._writer_fd()
            if fd is None:
                yield
                return
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    # -- intake -----------------------------------------------------------------------------

    def submit(
        self, resource: dict[str, Any], *, source: str = "push", correlation_id: str | None = None,
        client: str | None = None, max_queued: int = 0,
    ) -> tuple[Job, bool]:
        """Record a report version; return (job, created). Pushing the same version again
        returns the existing job and changes nothing.

        One write transaction with SQLAlchemy Core statements (the intake's hot path: the ORM's
        unit of work cost more than everything else a push does): look the version up, mark the
        report's previous version superseded when this one is newer, insert. On SQLite the
        process's writers also queue on a lock (see :meth:`_writing`) instead of polling SQLite's
        busy handler.

        With ``client`` and ``max_queued`` > 0, a new job that would leave the client more than
        ``max_queued`` unfinished jobs is not recorded: :class:`QuotaExceeded` (one indexed count
        in the same transaction, so concurrent pushes cannot overshoot the quota together)."""
        if self.damaged is not None:
            raise StoreCorrupt(self.damaged)
        job = _new_job(resource, source, correlation_id or uuid.uuid4().hex, client, utcnow())
        # Built before the write lock is taken, like everything that does not need the database.
        row = _row(job)
        try:
            with self._store_errors(), self._writing(), self.engine.begin() as conn:
                existing = _record(conn, job, row)
                if existing is None and client is not None and max_queued > 0:
                    _check_quota(conn, client, max_queued)
        except IntegrityError:
            # A concurrent push of the same version won the insert.
            return _duplicate(self.find(job.report_key, job.report_version))
        if existing is None:
            return job, True
        return _duplicate(self.get(existing))

    def submit_many(
        self, resources: Sequence[dict[str, Any]], *, source: str = "transaction",
        correlation_id: str | None = None, client: str | None = None, max_queued: int = 0,
    ) -> list[tuple[Job, bool]]:
        """Record every report of a FHIR ``transaction`` Bundle in one database transaction:
        all of them or, on any error (or a process killed before the commit), none.

        Each report is recorded as :meth:`submit` records it, on the same connection, so a later
        entry sees the earlier ones: two versions of one report in one Bundle supersede each other
        as two pushes in that order would, and a repeated version is a duplicate of the job made a
        few entries before (:func:`_record_all` says why reports go in key order, their versions
        in the given order). Returns (job, created) per resource, in the given order; a
        duplicate's job is read after the commit. ``max_queued`` is checked once, after the last
        insert: a Bundle that would take the client over its quota records nothing
        (:class:`QuotaExceeded`). Raises :class:`StoreError` (nothing recorded) when a report has
        neither id nor identifier."""
        if self.damaged is not None:
            raise StoreCorrupt(self.damaged)
        if not resources:
            return []
        cid = correlation_id or uuid.uuid4().hex
        for attempt in range(1, _TRANSACTION_ATTEMPTS + 1):
            # Fresh jobs per attempt: recording one decides its state and supersede links.
            jobs = _new_jobs(resources, source, cid, client)
            rows = [_row(job) for job in jobs]  # before the write lock, as in submit
            try:
                with self._store_errors(), self._writing(), self.engine.begin() as conn:
                    existing = _record_all(conn, jobs, rows)
                    if client is not None and max_queued > 0 and None in existing:
                        _check_quota(conn, client, max_queued)
            except DBAPIError as exc:
                # Lost a race to a concurrent writer (PostgreSQL: SQLite's writers are serialised):
                # everything was rolled back; once more, and a version the other one recorded is
                # now a duplicate.
                if attempt < _TRANSACTION_ATTEMPTS and _lost_a_race(exc):
                    continue
                raise
            # Committed: from here on nothing may run the transaction again.
            return self._with_duplicates(jobs, existing)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _with_duplicates(self, jobs: list[Job], existing: list[str | None]) -> list[tuple[Job, bool]]:
        """(job, created) per entry: the new job, or the one that already held its version."""
        wanted = sorted({job_id for job_id in existing if job_id})
        found: dict[str, Job] = {}
        with self.Session() as s:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start:start + _IN_CHUNK]
                found.update((j.id, j) for j in s.scalars(select(Job).where(Job.id.in_(chunk))))
        return [(job, True) if job_id is None else (found[job_id], False) for job, job_id in zip(jobs, existing)]

    @contextlib.contextmanager
    def _store_errors(self) -> Iterator[None]:
        """Mark the store damaged on a corruption error (the sender must keep the report and
        retry: 503, not a 202 for a report the store may lose); other errors pass unchanged."""
        try:
            yield
        except IntegrityError:
            raise
        except DBAPIError as exc:
            if is_corruption(exc):
                self.damaged = f"the job store is damaged: {exc.orig}"
                raise StoreCorrupt(self.damaged) from exc
            raise

    def queued(self, client: str) -> int:
        """How many unfinished jobs (received, inferring, inferred) ``client`` has."""
        with self._writing(), self.engine.begin() as conn:
            return conn.execute(_QUEUED_OF_CLIENT, {"client": client}).scalar_one()

    def find(self, key: str, version: str) -> Job | None:
        with self.Session() as s:
            return s.scalars(select(Job).where(Job.report_key == key, Job.report_version == version)).first()

    def get(self, job_id: str) -> Job | None:
        with self.Session() as s:
            return s.get(Job, job_id)

    # -- inference --------------------------------------------------------------------------

    def _due(self, s, condition, limit: int, *, urgent_first: bool = False) -> list[Job]:
        """Oldest jobs matching ``condition`` (the highest priority first when ``urgent_first``),
        row-locked (SKIP LOCKED) on PostgreSQL."""
        order = (Job.priority.desc(), Job.created_at) if urgent_first else (Job.created_at,)
        q = select(Job).where(condition).order_by(*order).limit(limit)
        if self._skip_locked:
            q = q.with_for_update(skip_locked=True)
        return list(s.scalars(q).all())

    @staticmethod
    def _lease(job: Job, state: State, owner: str, now: dt.datetime, lease_seconds: float) -> None:
        job.state = state.value
        job.lease_owner = owner
        job.lease_expires = now + dt.timedelta(seconds=lease_seconds)

    def claim_for_inference(self, owner: str, limit: int, lease_seconds: float) -> list[Job]:
        now = utcnow()
        due = or_(
            Job.state == State.RECEIVED.value,
            and_(Job.state == State.INFERRING.value, Job.lease_expires < now),
        )
        with self.Session.begin() as s:
            claimed, gave_up = [], 0
            for job in self._due(s, due, limit):
                if job.superseded_by:
                    # A newer version arrived (this one was requeued from the dead letters, or
                    # left running): an old version's answers must never reach the chart.
                    job.state, job.lease_owner = State.SUPERSEDED.value, None
                    continue
                if job.inference_attempts >= self.max_inference_attempts:
                    # Taken and lost this many times: the job itself likely kills workers.
                    reason = f"inference did not finish after {job.inference_attempts} attempts"
                    if self._has_written_version(s, job):
                        _queue_withdrawal(job, reason)
                    else:
                        job.state = State.FAILED.value
                        job.error = reason
                        job.lease_owner = None
                    gave_up += 1
                    continue
                self._lease(job, State.INFERRING, owner, now, lease_seconds)
                job.inference_attempts += 1
                claimed.append(job)
        if gave_up:
            from integration import monitoring  # noqa: PLC0415 -- prometheus_client: only on a dead letter

            monitoring.dead_lettered("inference", gave_up)
        return claimed

    def withdraw_only(self, job_id: str, owner: str, reason: str | None = None) -> bool:
        """Send a claimed job to the write-back with nothing to write, so that the write-back
        withdraws every AI result of the report's earlier versions. ``reason`` None: the report
        itself is withdrawn (entered-in-error, cancelled); otherwise this version failed at
        inference -- the job is dead-lettered with ``reason`` once the withdrawal is written."""
        values: dict[str, Any] = dict(state=State.INFERRED.value, tasks=[], results={}, lease_owner=None,
                                      lease_expires=None, next_attempt_at=utcnow())
        if reason is not None:
            values.update(error=reason, error_detail={"stage": "inference", "withdraw_only": True})
        return self._fenced(job_id, owner, State.INFERRING, **values)

    def has_written_version(self, job: Job) -> bool:
        """Has another version of ``job``'s report results in the chart (or had them)?"""
        with self.Session() as s:
            return self._has_written_version(s, job)

    @staticmethod
    def _has_written_version(s, job: Job) -> bool:
        return s.scalars(
            select(Job.id).where(Job.report_key == job.report_key, Job.id != job.id, Job.written.is_not(None)).limit(1)
        ).first() is not None

    def written_versions(self, job: Job) -> list[Job]:
        """Every other version of ``job``'s report that wrote to the chart, oldest first: the
        write-back withdraws all their results, whatever happened to the versions in between
        (failed, dead-lettered, superseded before writing)."""
        with self.Session() as s:
            return list(s.scalars(
                select(Job)
                .where(Job.report_key == job.report_key, Job.id != job.id, Job.written.is_not(None))
                .order_by(Job.created_at)
            ).all())

    def finish_inference(self, job_id: str, owner: str, tasks: list[str], results: dict[str, Any],
                         priority: int = 0, followups: list[dict[str, Any]] | None = None) -> bool:
        """Store results; False when the lease was lost (the results are then discarded).
        ``priority`` > 0 (a critical-result rule met) lets the scheduler's early wake write it;
        ``followups``: the report's follow-up recommendations."""
        return self._fenced(
            job_id, owner, State.INFERRING,
            state=State.INFERRED.value, tasks=tasks, results=results, priority=priority, followups=followups,
            lease_owner=None, lease_expires=None, next_attempt_at=utcnow(),
        )

    # -- write-back -------------------------------------------------------------------------

    def claim_for_writeback(self, owner: str, limit: int, lease_seconds: float, *, min_priority: int = 0) -> list[Job]:
        """Due jobs, the most urgent first (critical-result alerts before everything else), then
        the oldest; ``min_priority`` > 0 takes only jobs with an alert to send."""
        now = utcnow()
        due = or_(
            and_(Job.state == State.INFERRED.value, Job.next_attempt_at <= now),
            and_(Job.state == State.WRITING.value, Job.lease_expires < now),
        )
        if min_priority > 0:
            due = and_(due, Job.priority >= min_priority)
        with self.Session.begin() as s:
            claimed = []
            for job in self._due(s, due, limit, urgent_first=True):
                if job.superseded_by:
                    # A newer version exists (this write was being retried when it arrived): the
                    # newer version's write-back owns the chart now.
                    job.state, job.lease_owner = State.SUPERSEDED.value, None
                    continue
                # Withdraw only after every other version's write has settled.
                writing = s.scalars(select(Job.id).where(
                    Job.report_key == job.report_key, Job.id != job.id, Job.state == State.WRITING.value,
                ).limit(1)).first()
                if writing is not None:
                    continue
                self._lease(job, State.WRITING, owner, now, lease_seconds)
                job.write_attempts += 1
                claimed.append(job)
            return claimed

    def finish_writeback(self, job_id: str, owner: str, written: dict[str, Any],
                         alerts: Sequence[alert_rows.SentAlert] = ()) -> bool:
        """Record what was written; in the same transaction the job's critical-result ``alerts``
        become open (watched) and the report's other versions' open alerts withdrawn."""
        now = utcnow()
        return self._fenced(
            job_id, owner, State.WRITING,
            then=lambda s, job: alert_rows.record_sent(s, job_id, job.report_key, alerts, now),
            state=State.WRITTEN.value, written=written, written_at=now,
            lease_owner=None, lease_expires=None, error=None, error_detail=None,
        )

    def finish_withdrawal(self, job_id: str, owner: str, written: dict[str, Any]) -> bool:
        """A version that failed at inference has withdrawn the earlier versions' results: now it
        is the dead letter it was (its reason kept; ``requeue`` sends it back to inference)."""
        now = utcnow()
        return self._fenced(
            job_id, owner, State.WRITING,
            then=lambda s, job: alert_rows.record_sent(s, job_id, job.report_key, (), now),
            state=State.FAILED.value, written=written, written_at=now, lease_owner=None, lease_expires=None,
        )

    def retry_writeback(self, job_id: str, owner: str, delay_seconds: float, reason: str) -> bool:
        return self._fenced(
            job_id, owner, State.WRITING,
            state=State.INFERRED.value, error=reason, lease_owner=None, lease_expires=None,
            next_attempt_at=utcnow() + dt.timedelta(seconds=delay_seconds),
        )

    # -- failure, release, requeue ----------------------------------------------------------

    def fail(self, job_id: str, owner: str, stage: State, reason: str, detail: dict[str, Any] | None = None) -> bool:
        """Dead-letter a claimed job with the reason (and e.g. the server's OperationOutcome)."""
        return self._fenced(
            job_id, owner, stage,
            state=State.FAILED.value, error=reason, error_detail=detail, lease_owner=None, lease_expires=None,
        )

    def release(self, job_id: str, owner: str, stage: State) -> bool:
        """Give a claimed job back untouched (graceful shutdown), without counting the attempt."""
        back = State.RECEIVED if stage == State.INFERRING else State.INFERRED
        values: dict[str, Any] = dict(state=back.value, lease_owner=None, lease_expires=None)
        if stage == State.INFERRING:
            values["inference_attempts"] = Job.inference_attempts - 1
        else:
            values["write_attempts"] = Job.write_attempts - 1
        return self._fenced(job_id, owner, stage, **values)

    def requeue(self, job_ids: Iterable[str] | None = None) -> int:
        """Send dead letters back: to write-back if they have results, else to inference."""
        with self.Session.begin() as s:
            q = select(Job).where(Job.state == State.FAILED.value)
            if job_ids is not None:
                q = q.where(Job.id.in_(list(job_ids)))
            n = 0
            for job in s.scalars(q).all():
                job.state = State.INFERRED.value if job.results else State.RECEIVED.value
                job.inference_attempts = 0
                job.write_attempts = 0
                job.next_attempt_at = utcnow()
                job.error = None
                job.error_detail = None
                n += 1
            return n

    def _fenced(self, job_id: str, owner: str, stage: State, *,
                then: Callable[[Any, Job], None] | None = None, **values: Any) -> bool:
        """Update a claimed job only while ``owner`` still holds it in ``stage``; ``then(session,
        job)`` runs in the same transaction when it does."""
        values.setdefault("updated_at", utcnow())
        with self.Session.begin() as s:
            res = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == stage.value, Job.lease_owner == owner)
                .values(**values)
            )
            if res.rowcount == 1 and then is not None:
                then(s, s.get(Job, job_id))
            return res.rowcount == 1

    # -- critical-result alerts (integration/writeback/alerts.py) ---------------------------

    def open_alerts(self, limit: int = 100, due_by: dt.datetime | None = None) -> list[Alert]:
        """Open alerts, the one to read first first; ``due_by``: only those whose read is due."""
        with self.Session() as s:
            return alert_rows.open_alerts(s, limit, due_by)

    def alert_checked(self, alert_id: str, now: dt.datetime | None = None) -> None:
        """An open alert was read back and stays open: schedule its next read."""
        with self.Session.begin() as s:
            alert_rows.checked(s, alert_id, now or utcnow())

    def close_alert(self, alert_id: str, state: AlertState, closed_by: str | None) -> bool:
        """Close an open alert (acknowledged, unanswered); False when it was no longer open."""
        with self.Session.begin() as s:
            return alert_rows.close(s, alert_id, state, closed_by, utcnow())

    def escalate_alert(self, old: Alert, new_id: str, recipient_key: str, recipient: str | None,
                       communication: str, rest: list[str], now: dt.datetime | None = None) -> bool:
        """``old`` escalated, the next step's alert open (sent ``now``), in one transaction."""
        with self.Session.begin() as s:
            return alert_rows.escalate(s, old, new_id, recipient_key, recipient, communication, rest, now or utcnow())

    def alert_chain(self, chain: str) -> list[str]:
        """The Communications of every step of an alert chain."""
        with self.Session() as s:
            return alert_rows.chain_communications(s, chain)

    def report_alert_communications(self, job: Job) -> list[str]:
        """Every alert Communication sent for the other versions of ``job``'s report."""
        with self.Session() as s:
            return alert_rows.report_communications(s, job.report_key, job.id)

    def job_alerts(self, job_id: str) -> list[Alert]:
        with self.Session() as s:
            return alert_rows.of_job(s, job_id)

    def open_alert_ages(self) -> list[tuple[str, float, bool]]:
        with self.Session() as s:
            return alert_rows.open_ages(s)

    # -- queries ----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        with self.Session() as s:
            rows = s.execute(select(Job.state, func.count()).group_by(Job.state)).all()
        out = {state.value: 0 for state in State}
        out.update({state: n for state, n in rows})
        return out

    def prior_report(self, job: Job) -> Job | None:
        """The report to compare ``job`` with: the current version of the same patient's most recent
        other report received before it, and only a final one (final, amended, corrected).

        "Current" matters twice: a report moved to another patient by a later version is no longer
        this patient's (its old version still names them), and a withdrawn or preliminary report
        is no basis for "unchanged since".
        """
        if not job.subject_ref:
            return None
        with self.Session() as s:
            candidates = s.scalars(
                select(Job)
                .where(
                    Job.subject_ref == job.subject_ref,
                    Job.report_key != job.report_key,
                    Job.created_at < job.created_at,
                    Job.superseded_by.is_(None),
                    Job.state != State.SUPERSEDED.value,
                )
                .order_by(Job.created_at.desc())
                .limit(PRIOR_CANDIDATES)
            ).all()
        return next((c for c in candidates if (c.resource or {}).get("status") in PRIOR_STATUSES), None)

    def jobs(self, state: State | None = None, limit: int = 100) -> list[Job]:
        with self.Session() as s:
            q = select(Job).order_by(Job.created_at.desc()).limit(limit)
            if state is not None:
                q = q.where(Job.state == state.value)
            return list(s.scalars(q).all())

    def jobs_by_urgency(self, state: State | None = None, limit: int = 100) -> list[Job]:
        """The latest jobs, those whose results meet the most urgent critical-result rule first."""
        with self.Session() as s:
            q = select(Job).order_by(Job.priority.desc(), Job.created_at.desc()).limit(limit)
            if state is not None:
                q = q.where(Job.state == state.value)
            return list(s.scalars(q).all())

    # -- previews ($preview: queued by the web process, run by a worker) ---------------------

    @staticmethod
    def _drop_expired_previews(s, now: dt.datetime) -> None:
        s.execute(delete(PreviewRequest).where(PreviewRequest.expires_at < now - PREVIEW_GRACE))

    def submit_preview(self, resource: dict[str, Any], *, timeout_seconds: float, max_pending: int,
                       correlation_id: str | None = None, client: str | None = None) -> PreviewRequest:
        """Queue ``resource`` for a worker to preview, to be answered within ``timeout_seconds``
        (then it expires: no worker takes it any more). :class:`PreviewsFull`, and nothing
        recorded, when ``max_pending`` unexpired previews are queued, running or answered but not
        yet read. One transaction, which also deletes what expired long ago (PHI is not kept);
        on PostgreSQL an advisory lock makes the count exact across web processes and hosts (on
        SQLite the write lock does)."""
        if self.damaged is not None:
            raise StoreCorrupt(self.damaged)
        now = utcnow()
        row = PreviewRequest(
            id=uuid.uuid4().hex, resource=resource, correlation_id=correlation_id or uuid.uuid4().hex,
            client=client, state=PreviewState.QUEUED.value, created_at=now,
            expires_at=now + dt.timedelta(seconds=timeout_seconds),
        )
        full: PreviewsFull | None = None
        with self._store_errors(), self._writing(), self.Session.begin() as s:
            if self.engine.dialect.name == "postgresql":
                s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_PREVIEW_LOCK_KEY})
            self._drop_expired_previews(s, now)
            pending = s.execute(
                select(func.count()).select_from(_PREVIEWS).where(_PREVIEWS.c.expires_at > now)
            ).scalar_one()
            if pending >= max_pending:
                full = PreviewsFull(pending, max_pending)  # the cleanup above is still committed
            else:
                s.add(row)
        if full is not None:
            raise full
        return row

    def preview_state(self, preview_id: str) -> str | None:
        """The state of a preview (what its waiting request polls: one column); None when gone."""
        with self._writing(), self.engine.begin() as conn:
            return conn.execute(select(_PREVIEWS.c.state).where(_PREVIEWS.c.id == preview_id)).scalar()

    def take_preview(self, preview_id: str, *, cancel: bool = False) -> PreviewRequest | None:
        """The preview, deleted in the same transaction when it is answered (done or failed) --
        or, with ``cancel`` (its request stops waiting), whatever its state: a worker still
        running it then finds it gone and its answer is dropped (:meth:`finish_preview`).
        None when it is gone already."""
        with self._writing(), self.Session.begin() as s:
            row = s.get(PreviewRequest, preview_id, with_for_update=True)  # PostgreSQL: vs. finish_preview
            if row is not None and (cancel or row.state in PREVIEW_FINISHED):
                s.delete(row)
            return row

    def claim_preview(self, owner: str) -> PreviewRequest | None:
        """The oldest queued preview that has not expired, now running for ``owner``; None when
        there is none. Deletes the previews that expired long ago first (their request gave up,
        or its web process died). A preview is taken once: a worker that dies running it does not
        hand it to the next one (its request gets 503 when it stops waiting, and may try again) --
        a report that kills workers must not kill them all."""
        now = utcnow()
        with self.Session.begin() as s:
            self._drop_expired_previews(s, now)
            q = (select(PreviewRequest)
                 .where(PreviewRequest.state == PreviewState.QUEUED.value, PreviewRequest.expires_at > now)
                 .order_by(PreviewRequest.created_at).limit(1))
            if self._skip_locked:
                q = q.with_for_update(skip_locked=True)
            row = s.scalars(q).first()
            if row is None:
                return None
            row.state, row.lease_owner, row.started_at = PreviewState.RUNNING.value, owner, now
            return row

    def finish_preview(self, preview_id: str, owner: str, *, result: dict[str, Any] | None = None,
                       error_kind: str | None = None, error: str | None = None) -> bool:
        """Store a preview's answer: ``result``, or ``error_kind`` and ``error``. Fenced: False (and
        nothing stored) when it is no longer running for ``owner`` (its request stopped waiting)."""
        state = PreviewState.DONE if error_kind is None else PreviewState.FAILED
        with self.Session.begin() as s:
            res = s.execute(
                update(PreviewRequest)
                .where(PreviewRequest.id == preview_id, PreviewRequest.state == PreviewState.RUNNING.value,
                       PreviewRequest.lease_owner == owner)
                .values(state=state.value, result=result, error_kind=error_kind, error=error, lease_owner=None,
                        finished_at=utcnow())
            )
            return res.rowcount == 1

    def preview_counts(self) -> dict[str, int]:
        """Previews in the store by state (nothing of their content)."""
        with self.Session() as s:
            rows = s.execute(select(PreviewRequest.state, func.count()).group_by(PreviewRequest.state)).all()
        out = {state.value: 0 for state in PreviewState}
        out.update({state: n for state, n in rows})
        return out

    # -- cursors and locks ------------------------------------------------------------------

    def get_cursor(self, name: str) -> str | None:
        with self.Session() as s:
            row = s.get(Cursor, name)
            return row.value if row else None

    def set_cursor(self, name: str, value: str) -> None:
        with self.Session.begin() as s:
            row = s.get(Cursor, name)
            if row is None:
                s.add(Cursor(name=name, value=value))
            else:
                row.value = value

    def acquire_lock(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Take or renew lock ``name`` for ``owner``; False while someone else holds it."""
        now = utcnow()
        expires = now + dt.timedelta(seconds=ttl_seconds)
        try:
            with self.Session.begin() as s:
                res = s.execute(
                    update(Lock)
                    .where(Lock.name == name, or_(Lock.owner == owner, Lock.expires_at < now))
                    .values(owner=owner, expires_at=expires)
                )
                if res.rowcount == 1:
                    return True
                if s.get(Lock, name) is not None:
                    return False
                s.add(Lock(name=name, owner=owner, expires_at=expires))
            return True
        except IntegrityError:
            return False

    def release_lock(self, name: str, owner: str) -> None:
        with self.Session.begin() as s:
            s.execute(update(Lock).where(Lock.name == name, Lock.owner == owner).values(expires_at=utcnow()))

