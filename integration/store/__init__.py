"""Durable job store: SQLite (WAL) by default, PostgreSQL by URL."""

from integration.store.integrity import StoreCorrupt
from integration.store.jobs import JobStore, StoreError, report_identity
from integration.store.models import Job, State

__all__ = ["Job", "JobStore", "State", "StoreCorrupt", "StoreError", "report_identity"]
