"""Durable job store: SQLite (WAL) by default, PostgreSQL by URL."""

from integration.store.integrity import StoreCorrupt
from integration.store.jobs import JobStore, QuotaExceeded, StoreError, report_identity
from integration.store.models import Job, State

__all__ = ["Job", "JobStore", "QuotaExceeded", "State", "StoreCorrupt", "StoreError", "report_identity"]
