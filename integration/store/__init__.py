"""Durable job store: SQLite (WAL) by default, PostgreSQL by URL."""

from integration.store.integrity import StoreCorrupt
from integration.store.jobs import JobStore, PreviewsFull, QuotaExceeded, StoreError, report_identity
from integration.store.models import Job, PreviewFailure, PreviewRequest, PreviewState, State

__all__ = ["Job", "JobStore", "PreviewFailure", "PreviewRequest", "PreviewState", "PreviewsFull", "QuotaExceeded", "State", "StoreCorrupt",
           "StoreError", "report_identity"]
