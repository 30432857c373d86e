"""Tables. The database holds PHI (the reports as received); logs never do."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator):
    """Stored as naive UTC (SQLite compares datetimes as text), returned as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=dt.timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class State(str, enum.Enum):
    """A job's life: received → inferring → inferred → writing → written.

    ``failed`` is the dead letter (with the reason); ``superseded`` is a version replaced by a
    newer one before it was written, so it is never written at all.
    """

    RECEIVED = "received"
    INFERRING = "inferring"
    INFERRED = "inferred"
    WRITING = "writing"
    WRITTEN = "written"
    FAILED = "failed"
    SUPERSEDED = "superseded"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # The idempotency key: one job per report version, however often it is pushed.
        UniqueConstraint("report_key", "report_version", name="uq_job_report_version"),
        Index("ix_jobs_state_due", "state", "next_attempt_at"),
        Index("ix_jobs_report_key", "report_key"),
        # The intake's per-client quota counts a client's unfinished jobs on every push.
        Index("ix_jobs_client_state", "client", "state"),
        # The scheduler's early wake looks, every second, for jobs with an alert to send.
        Index("ix_jobs_state_priority", "state", "priority"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # "DiagnosticReport/<id>" or "identifier:<system>|<value>": how the EHR knows the report.
    report_key: Mapped[str] = mapped_column(String(512))
    # meta.versionId, or "sha256:<hash of the resource>" when the sender gives no version.
    report_version: Mapped[str] = mapped_column(String(128))
    resource: Mapped[dict[str, Any]] = mapped_column(JSON)
    # DiagnosticReport.subject.reference: finds a patient's earlier report for temporal comparison.
    subject_ref: Mapped[str | None] = mapped_column(String(512), nullable=True, index=True)
    source: Mapped[str] = mapped_column(String(32), default="push")
    correlation_id: Mapped[str] = mapped_column(String(64))
    # Who pushed it: the intake token's client name (integration.intake.http.auth.Caller.client); None for
    # pull mode, open (development) mode and jobs recorded before quotas existed.
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)

    state: Mapped[str] = mapped_column(String(16), default=State.RECEIVED.value)
    tasks: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    results: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # How soon the write-back takes it: 0, or the most urgent critical-result rule its results
    # meet (ALERT_PRIORITY); jobs with an alert are written as soon as inference ends.
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Follow-up recommendations the report makes (integration/inference/evidence/followup.py),
    # written as ServiceRequest proposals; None for jobs inferred before they were read.
    followups: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)

    # Lease: a claimed job belongs to lease_owner until lease_expires; after that anyone may take it.
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_expires: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    inference_attempts: Mapped[int] = mapped_column(Integer, default=0)
    write_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # The job for the previous version of the same report, whose written results this one amends.
    supersedes: Mapped[str | None] = mapped_column(String(32), nullable=True)
    superseded_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # What the write-back produced on the server: resource references, for `GET /jobs/<id>`.
    written: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    written_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Cursor(Base):
    """Named positions, e.g. the pull poller's ``_lastUpdated`` high-water mark."""

    __tablename__ = "cursors"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(512))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Lock(Base):
    """A lease-based lock row (e.g. "the one scheduler"), renewed by its holder while alive."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class PreviewState(str, enum.Enum):
    """A preview request's life (``$preview``): queued → running → done | failed, then deleted.

    The web process that queued it deletes it as soon as it has read the answer, or when it stops
    waiting (``preview.timeout_seconds``); whatever is left past ``expires_at`` (a web process
    that died while waiting) is deleted by the next claim or the next preview queued."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class PreviewFailure(str, enum.Enum):
    """Why a preview failed (``previews.error_kind``), as its waiting request answers it."""

    UNAVAILABLE = "unavailable"  # a model bundle cannot be loaded or serve a task: 503
    BUILD = "build"  # a result does not fit its task's mapping: 500
    INVALID = "invalid"  # no id or identifier (the web process checks first): 422
    EXCEPTION = "exception"  # anything else, by type only: 500


class PreviewRequest(Base):
    """One ``$preview`` waiting for a worker: the report in, the transaction Bundle out. Never a
    job (nothing here is written back or counted with the jobs), and short-lived: PHI, kept only
    while its request waits."""

    __tablename__ = "previews"
    __table_args__ = (
        # Claims: the oldest queued one.
        Index("ix_previews_state_created", "state", "created_at"),
        # Cleanup: the expired ones.
        Index("ix_previews_expires", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    resource: Mapped[dict[str, Any]] = mapped_column(JSON)
    correlation_id: Mapped[str] = mapped_column(String(64))
    # The requesting token's client (None in open mode), for the audit trail.
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default=PreviewState.QUEUED.value)
    # done: {"bundle": ..., "summary": ...}; failed: error_kind (a PreviewFailure) and error.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The worker running it; its answer is stored only while it still holds the claim (fenced).
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When the request stops waiting: not claimed after it, deleted after it.
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AlertState(str, enum.Enum):
    """A critical-result alert's life: open → acknowledged | escalated | unanswered | withdrawn.

    ``escalated``: not acknowledged in time, and the next recipient was alerted (a new open row);
    ``unanswered``: not acknowledged in time and nobody left to escalate to; ``withdrawn``: the
    report was amended or withdrawn, and the alert with it."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    UNANSWERED = "unanswered"
    WITHDRAWN = "withdrawn"


class Alert(Base):
    """One critical-result Communication on the EHR, watched until acknowledged (issue 23)."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_state_check", "state", "check_at"),
        Index("ix_alerts_report_key", "report_key"),
    )

    # The Communication's identifier value (urn:radlite:critical-result): one row per alert sent.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(32), index=True)
    report_key: Mapped[str] = mapped_column(String(512))
    rule: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    # 0 for the first recipient, n for the n-th escalation; chain = the first alert's id.
    step: Mapped[int] = mapped_column(Integer, default=0)
    chain: Mapped[str] = mapped_column(String(64))
    # Recipient keys still to escalate to, in order (the rule's escalate_to when it was sent).
    escalate_to: Mapped[list[Any]] = mapped_column(JSON)
    recipient_key: Mapped[str] = mapped_column(String(80))
    recipient: Mapped[str | None] = mapped_column(String(256), nullable=True)
    communication: Mapped[str] = mapped_column(String(128))  # "Communication/<id>" on the EHR
    within_minutes: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # When the watcher next reads it back from the EHR: often for a short limit, hourly at most for
    # one of days (integration/store/alerts.py, check_interval), and at the limit itself.
    check_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16), default=AlertState.OPEN.value)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # How it was closed: "received" / "reply" (acknowledged), the withdrawing job, ...
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
