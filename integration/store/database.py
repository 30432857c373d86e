"""The SQLAlchemy engine for a store URL: SQLite (a private WAL file, writes under BEGIN IMMEDIATE)
or PostgreSQL. Its own module so that the job store and the migrations both build engines the same
way without importing each other."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event

from integration.store.integrity import create_private, sqlite_path


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        database = sqlite_path(url)
        if database is not None:
            # The file holds full report texts: created 0600 here, before SQLite would create it
            # 0644; its -wal and -shm get the same mode from SQLite.
            create_private(database)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised by every sqlite test
            # Let SQLAlchemy, not the driver, issue BEGIN, so that it can be BEGIN IMMEDIATE.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):  # pragma: no cover
            # Take the write lock up front: a read that later upgrades can fail with SQLITE_BUSY
            # regardless of busy_timeout, and claims always write.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)
