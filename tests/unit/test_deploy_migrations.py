"""Alembic migrations on SQLite (PostgreSQL: tests/integration/test_postgres_migrations.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from integration.ops.cli import cli
from integration.store import JobStore
from integration.store.database import make_engine
from integration.store.migrations import (
    HEAD,
    MigrationError,
    check_current,
    current_revision,
    schema_diff,
    script_head,
    upgrade,
)
from integration.store.models import Base

ROOT = Path(__file__).resolve().parents[2]


def _url(tmp_path: Path, name: str = "db.sqlite") -> str:
    return f"sqlite:///{tmp_path / name}"


def _state(url: str):
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return current_revision(conn), schema_diff(conn), check_current(conn)
    finally:
        engine.dispose()


def test_head_constant_is_the_newest_script() -> None:
    assert script_head() == HEAD


def test_migrations_make_exactly_the_models_schema(tmp_path) -> None:
    url = _url(tmp_path)
    result = upgrade(url)
    assert (result.before, result.after, result.adopted) == (None, HEAD, False)
    assert _state(url) == (HEAD, [], None)
    assert upgrade(url).before == HEAD


def test_store_creates_and_stamps_a_new_sqlite_file(tmp_path) -> None:
    url = _url(tmp_path)
    JobStore(url).close()
    assert _state(url) == (HEAD, [], None)
    # A later `radlite db upgrade` finds nothing to do (no "table exists" error).
    assert upgrade(url).before == HEAD
    JobStore(url).close()  # and the store opens it again


def test_upgrade_adopts_a_file_made_by_create_all_before_migrations(tmp_path) -> None:
    url = _url(tmp_path)
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    result = upgrade(url)
    assert result.adopted and result.after == HEAD
    assert _state(url) == (HEAD, [], None)


def test_upgrade_refuses_to_adopt_tables_that_differ(tmp_path) -> None:
    url = _url(tmp_path)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE jobs (id VARCHAR(32) PRIMARY KEY, something TEXT)"))
    engine.dispose()
    with pytest.raises(MigrationError, match="differ from this version's schema"):
        upgrade(url)


def test_store_on_an_sqlite_file_with_an_unknown_revision_still_opens(tmp_path) -> None:
    """SQLite stays convenient: the store does not refuse; check_current says what to run."""
    url = _url(tmp_path)
    JobStore(url).close()
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    engine.dispose()
    JobStore(url).close()
    assert "radlite db upgrade" in _state(url)[2]


def test_cli_db_upgrade_current_check(tmp_path) -> None:
    url = _url(tmp_path)
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({"store": {"url": url}, "audit": {"file": None}}))
    runner = CliRunner()
    r = runner.invoke(cli, ["--config", str(site), "db", "current"], obj={})
    assert r.exit_code == 1 and "database: (none)" in r.output
    r = runner.invoke(cli, ["--config", str(site), "db", "upgrade"], obj={})
    assert r.exit_code == 0, r.output
    assert f"upgraded (empty) -> {HEAD}" in r.output
    r = runner.invoke(cli, ["--config", str(site), "db", "upgrade"], obj={})
    assert f"already at revision {HEAD}" in r.output
    r = runner.invoke(cli, ["--config", str(site), "db", "current"], obj={})
    assert r.exit_code == 0 and f"database: {HEAD}; code: {HEAD}" in r.output
    r = runner.invoke(cli, ["--config", str(site), "db", "check"], obj={})
    assert r.exit_code == 0 and "equal to the models" in r.output
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_jobs_subject_ref"))
    engine.dispose()
    r = runner.invoke(cli, ["--config", str(site), "db", "check"], obj={})
    assert r.exit_code == 1 and "ix_jobs_subject_ref" in r.output


def test_cli_db_upgrade_names_the_database_without_its_password(tmp_path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({"store": {"url": "postgresql+psycopg://u:s3cret@127.0.0.1:1/db"},
                                    "audit": {"file": None}}))
    r = CliRunner().invoke(cli, ["--config", str(site), "db", "upgrade"], obj={})
    assert r.exit_code == 1
    assert "s3cret" not in r.output and "postgresql+psycopg://u:***@127.0.0.1:1/db" in r.output


def test_alembic_ini_points_at_the_migrations() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config(str(ROOT / "alembic.ini"))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD


def test_migration_scripts_ship_with_the_package() -> None:
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = data["tool"]["setuptools"]["package-data"]["integration"]
    assert "store/migrations/versions/*.py" in patterns and "store/migrations/script.py.mako" in patterns


def test_a_sqlite_file_at_0001_is_upgraded_when_the_store_opens_it(tmp_path) -> None:
    """Issue 20 added jobs.client (0002): a single-machine site updated without `radlite db upgrade`
    must not fail every push on the missing column. Its jobs stay, with no client."""
    from integration.samples import sample_diagnostic_reports

    url = _url(tmp_path)
    upgrade(url, "0001")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO jobs (id, report_key, report_version, resource, source, correlation_id, state, "
            "inference_attempts, write_attempts, next_attempt_at, created_at, updated_at) VALUES "
            "('old-job', 'DiagnosticReport/old', '1', '{}', 'push', 'c', 'received', 0, 0, "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
    engine.dispose()
    assert _state(url)[0] == "0001"
    store = JobStore(url)
    try:
        assert _state(url) == (HEAD, [], None)
        assert store.get("old-job").client is None and store.queued("ris") == 0
        job, created = store.submit(sample_diagnostic_reports()[0], client="ris", max_queued=5)
        assert created and store.get(job.id).client == "ris" and store.queued("ris") == 1
    finally:
        store.close()


def test_a_sqlite_file_at_0002_gets_the_previews_table_when_the_store_opens_it(tmp_path) -> None:
    """Issue 20, item 5 added ``previews`` (0003): $preview requests wait there for a worker. A file
    at 0002 is brought to head when a service opens it; its jobs stay; the downgrade drops only
    the new table."""
    from alembic import command
    from sqlalchemy import inspect

    from integration.samples import sample_diagnostic_reports
    from integration.store.migrations import alembic_config

    url = _url(tmp_path)
    upgrade(url, "0002")
    engine = make_engine(url)
    with engine.connect() as conn:
        assert "previews" not in inspect(conn).get_table_names()
    engine.dispose()
    store = JobStore(url)
    try:
        job, _ = store.submit(sample_diagnostic_reports()[0], client="ris")
        assert _state(url) == (HEAD, [], None)
        p = store.submit_preview(sample_diagnostic_reports()[1], timeout_seconds=30, max_pending=8)
        assert store.claim_preview("w").id == p.id
    finally:
        store.close()
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0002")
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            assert "previews" not in tables and "jobs" in tables and current_revision(conn) == "0002"
            assert conn.execute(text("SELECT client FROM jobs WHERE id = :id"), {"id": job.id}).scalar() == "ris"
    finally:
        engine.dispose()
    assert upgrade(url).after == HEAD
