"""Durable job store: SQLite (WAL) by default, PostgreSQL by URL."""

from integration.store.alerts import SentAlert
from integration.store.integrity import StoreCorrupt
from integration.store.jobs import JobStore, PreviewsFull, QuotaExceeded, StoreError, report_identity
from integration.store.models import Alert, AlertState, Job, PreviewFailure, PreviewRequest, PreviewState, State

__all__ = ["Alert", "AlertState", "Job", "JobStore", "PreviewFailure", "PreviewRequest", "PreviewState", "PreviewsFull", "QuotaExceeded", "SentAlert", "State", "StoreCorrupt",
           "StoreError", "report_identity"]
