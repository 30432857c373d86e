"""Helpers for the tests against a real PostgreSQL (tests/integration/test_postgres*.py).

The server is ``RADLITE_TEST_PG_ADMIN_URL`` (default: postgres on 127.0.0.1:5432, trust auth, as on
the project's machines and CI). Each test gets a database of its own, made for it and dropped
after it (``radlite_test_<random>``). When the server cannot be reached the tests skip with the
reason -- except under CI, where PostgreSQL is part of the machine and a missing one is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get("RADLITE_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _admin_engine():
    from sqlalchemy import create_engine

    return create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})


def require_postgres() -> None:
    from sqlalchemy import text

    try:
        engine = _admin_engine()
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 -- any failure means "not reachable"
        msg = (f"PostgreSQL not reachable at {ADMIN_URL.split('@')[-1]} ({type(exc).__name__}); "
               "start it or set RADLITE_TEST_PG_ADMIN_URL")
        if os.environ.get("CI"):
            pytest.fail(msg)  # CI machines run PostgreSQL: missing there is a bug
        pytest.skip(msg)


def database_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture()
def empty_pg_url() -> Iterator[str]:
    """A new, empty database; dropped after the test."""
    from sqlalchemy import text

    require_postgres()
    name = f"radlite_test_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield database_url(name)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture()
def pg_url(empty_pg_url: str) -> str:
    """A new database migrated to the head revision."""
    from integration.store.migrations import upgrade

    upgrade(empty_pg_url)
    return empty_pg_url


# -- processes -----------------------------------------------------------------------------------


class Proc:
    """A ``python -m integration.ops.cli ...`` subprocess whose stderr (JSON log lines) goes to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._fh = open(log, "wb")
        self.popen = subprocess.Popen([sys.executable, "-m", "integration.ops.cli", *args], cwd=ROOT, env=env,
                                      stdout=subprocess.DEVNULL, stderr=self._fh, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def events(self, name: str | None = None) -> list[dict]:
        out = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and (name is None or rec.get("event") == name):
                out.append(rec)
        return out

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-n:]

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)
        self._fh.close()


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05,
             detail: Callable[[], str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}" + (f"\n{detail()}" if detail else ""))


def child_env(site_file: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADLITE__") and k != "RADLITE_CONFIG"}
    env.update({"RADLITE_CONFIG": str(site_file), "RADLITE_AUDIT_SECRET": "postgres-test-audit-secret-0123456789abcdef",
                "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env
