"""Alembic migrations on a real PostgreSQL: the migrated schema equals the models, `radlite db
upgrade` is safe to run from several processes at once, and the store refuses a database that is
not at the head revision."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import inspect, text

from integration.store import JobStore, StoreError
from integration.store.database import make_engine
from integration.store.migrations import HEAD, alembic_config, check_current, current_revision, schema_diff, upgrade
from tests.integration.postgres import ROOT, child_env, empty_pg_url, pg_url  # noqa: F401 -- pytest fixtures, taken by name as test parameters

pytestmark = pytest.mark.slow


def _site(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"store": {"url": url}, "audit": {"file": None}}), encoding="utf-8")
    return path


def test_migrated_schema_equals_the_models(empty_pg_url) -> None:
    result = upgrade(empty_pg_url)
    assert (result.before, result.after, result.adopted) == (None, HEAD, False)
    engine = make_engine(empty_pg_url)
    try:
        with engine.connect() as conn:
            assert current_revision(conn) == HEAD
            assert schema_diff(conn) == []
            assert check_current(conn) is None
            assert {"jobs", "cursors", "locks", "previews", "alembic_version"} <= set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert upgrade(empty_pg_url).before == HEAD  # again: nothing to do


def test_downgrade_and_upgrade_round_trip(pg_url) -> None:
    from alembic import command

    engine = make_engine(pg_url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        with engine.connect() as conn:
            assert not {"jobs", "cursors", "locks", "previews"} & set(inspect(conn).get_table_names())
        upgrade(engine)
        with engine.connect() as conn:
            assert schema_diff(conn) == []
    finally:
        engine.dispose()


def test_store_refuses_a_database_not_at_head(empty_pg_url) -> None:
    with pytest.raises(StoreError, match="radlite db upgrade"):
        JobStore(empty_pg_url)
    upgrade(empty_pg_url)
    JobStore(empty_pg_url).close()
    engine = make_engine(empty_pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match=f"revision ffff, this version needs {HEAD}"):
        JobStore(empty_pg_url)


def test_radlite_db_upgrade_from_two_processes_at_once(empty_pg_url, tmp_path) -> None:
    env = child_env(_site(tmp_path, empty_pg_url))
    cmd = [sys.executable, "-m", "integration.ops.cli", "db", "upgrade"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    said = sorted(o[0].strip().split(": ", 1)[1] for o in outs)
    assert said == [f"already at revision {HEAD}", f"upgraded (empty) -> {HEAD}"], said
    for verb in ("current", "check"):
        done = subprocess.run([sys.executable, "-m", "integration.ops.cli", "db", verb], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (verb, done.stdout, done.stderr)


def test_doctor_database_check_on_postgresql(empty_pg_url, tmp_path) -> None:
    from integration.ops.doctor import FAIL, OK, check_database
    from integration.settings import load_settings

    settings = load_settings(_site(tmp_path, empty_pg_url), environ={})
    [finding] = check_database(settings)
    assert finding.status == FAIL and "no RadLite tables yet" in finding.detail and "radlite db upgrade" in finding.fix
    upgrade(empty_pg_url)
    [finding] = check_database(settings)
    assert finding.status == OK and "schema at head and matching the models" in finding.detail


def test_previews_on_postgresql(empty_pg_url) -> None:
    """The statements only PostgreSQL runs: the advisory lock that keeps max_pending exact across
    concurrent web processes, SKIP LOCKED claims, the row lock of take_preview."""
    import threading

    from integration.samples import sample_diagnostic_reports
    from integration.store import PreviewsFull

    upgrade(empty_pg_url)
    stores = [JobStore(empty_pg_url) for _ in range(2)]
    try:
        report = sample_diagnostic_reports()[8]
        outcomes: list[str] = []

        def submit(store: JobStore) -> None:
            try:
                store.submit_preview(report, timeout_seconds=30, max_pending=3)
                outcomes.append("queued")
            except PreviewsFull:
                outcomes.append("full")

        threads = [threading.Thread(target=submit, args=(stores[i % 2],)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(outcomes) == ["full"] * 7 + ["queued"] * 3
        a, b = stores[0].claim_preview("w1"), stores[1].claim_preview("w2")
        assert a.id != b.id
        assert stores[1].finish_preview(a.id, "w2", result={"x": 1}) is False
        assert stores[0].finish_preview(a.id, "w1", result={"x": 1}) is True
        assert stores[1].take_preview(a.id).result == {"x": 1} and stores[0].take_preview(a.id) is None
        assert stores[0].take_preview(b.id, cancel=True).state == "running"
        assert stores[1].finish_preview(b.id, "w2", result={"x": 2}) is False
        assert stores[0].preview_counts()["queued"] == 1 and sum(stores[0].counts().values()) == 0
    finally:
        for s in stores:
            s.close()
