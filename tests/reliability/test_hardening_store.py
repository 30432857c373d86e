"""Issue 20, item 7: a damaged or copied SQLite store is never silent, and its files are private.

Reproduces what was found: random bytes in three mid-file pages went unnoticed (``radlite db
check`` ok, doctor passed, the services started, intake answered 202 while some jobs answered
500); a plain copy of the database without its ``-wal`` lost committed jobs; the database and its
WAL were world-readable. Each test makes the fault on a real SQLite file, then checks the answer:
``db check`` and doctor fail, the services refuse to start, the intake answers 503, ``db backup``
is complete and consistent under a live writer, and every file is 0600.
"""

from __future__ import annotations

import copy
import json
import os
import random
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from integration.audit.chain import AuditFile
from integration.intake.http.app import create_app
from integration.ops.cli import cli
from integration.ops.doctor import FAIL, check_database
from integration.samples import sample_diagnostic_reports
from integration.settings import load_settings
from integration.store import JobStore, StoreCorrupt

ROOT = Path(__file__).resolve().parents[2]
FHIR_JSON = "application/fhir+json"


# -- helpers ---------------------------------------------------------------------------------


def _report(i: int) -> dict:
    report = copy.deepcopy(sample_diagnostic_reports()[i % 4])
    report["id"] = f"hardening-{i}"
    report.pop("meta", None)
    return report


def _site(tmp_path: Path, db: Path) -> Path:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "store": {"url": f"sqlite:///{db}"},
        "intake": {"auth": {"mode": "open"}},
        "ehr": {"base_url": "http://127.0.0.1:9/fhir"},
        "audit": {"file": None},
    }), encoding="utf-8")
    return site


def _filled_store(db: Path, n: int) -> JobStore:
    store = JobStore(f"sqlite:///{db}")
    for i in range(n):
        store.submit(_report(i))
    return store


def _page_size(db: Path) -> int:
    with open(db, "rb") as f:
        header = f.read(100)
    size = int.from_bytes(header[16:18], "big")
    return 65536 if size == 1 else size


def _scribble(db: Path, pages: list[int], seed: int = 20) -> None:
    """Random bytes over the start of each page (1-based page numbers): a b-tree page's header and
    cell pointers, or an overflow page's next-page pointer -- what a bad disk sector does."""
    rng = random.Random(seed)
    size = _page_size(db)
    with open(db, "r+b") as f:
        for page in pages:
            f.seek((page - 1) * size)
            f.write(rng.randbytes(64))
        f.flush()
        os.fsync(f.fileno())


def _mid_file_pages(db: Path) -> list[int]:
    count = db.stat().st_size // _page_size(db)
    middle = count // 2
    return [middle - 4, middle, middle + 4]


def _damaged_store(tmp_path: Path, n: int = 200) -> Path:
    """A store with ``n`` jobs, closed (its WAL checkpointed into the file), then three mid-file
    pages overwritten with random bytes."""
    db = tmp_path / "jobs.sqlite"
    _filled_store(db, n).close()
    assert not Path(f"{db}-wal").exists()  # everything is in the main file now
    _scribble(db, _mid_file_pages(db))
    return db


def _job_ids(db: Path) -> list[str]:
    """The report ids in a store file opened on its own (no WAL beside it): [] without a jobs table."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT report_key FROM jobs").fetchall()
    except sqlite3.OperationalError:  # "no such table": the schema itself is still in the WAL
        rows = []
    finally:
        conn.close()
    return sorted(key.split("/", 1)[1] for (key,) in rows)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- a damaged file is found -------------------------------------------------------------------


def test_db_check_finds_random_bytes_in_mid_file_pages(tmp_path) -> None:
    db = tmp_path / "jobs.sqlite"
    _filled_store(db, 200).close()
    site = _site(tmp_path, db)
    runner = CliRunner()
    ok = runner.invoke(cli, ["--config", str(site), "db", "check"], obj={})
    assert ok.exit_code == 0, ok.output
    assert "integrity: " in ok.output and ": ok (PRAGMA integrity_check)" in ok.output

    _scribble(db, _mid_file_pages(db))
    bad = runner.invoke(cli, ["--config", str(site), "db", "check"], obj={})
    assert bad.exit_code == 1, bad.output
    assert f"integrity: {db} is damaged" in bad.output
    problems = [line for line in bad.output.splitlines() if line.startswith("  ")]
    assert 1 <= len(problems) <= 10  # the first problems, not thousands of lines
    assert "restore the newest good backup" in bad.output


def test_doctor_fails_on_a_damaged_store(tmp_path) -> None:
    db = _damaged_store(tmp_path)
    [finding] = check_database(load_settings(_site(tmp_path, db), environ={}))
    assert finding.status == FAIL, finding
    assert "damaged (PRAGMA quick_check)" in finding.detail and "radlite db check" in finding.fix


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def test_services_refuse_to_start_on_a_damaged_store(tmp_path) -> None:
    db = _damaged_store(tmp_path)
    env = {**os.environ, "RADLITE_CONFIG": str(_site(tmp_path, db)), "OMP_NUM_THREADS": "1"}
    port = str(_free_port())
    # Started together (each is mostly interpreter start-up); `serve` would run forever if it started.
    procs = {
        "worker": _start(["-m", "integration.ops.cli", "worker", "--once"], env),
        "scheduler": _start(["-m", "integration.ops.cli", "scheduler", "--once"], env),
        "serve": _start(["-m", "integration.ops.cli", "serve", "--port", port], env),
        "wsgi": _start(["-c", "import integration.wsgi"], env),
    }
    results = {}
    try:
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=90)
            results[name] = (proc.returncode, err)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for name, (code, err) in results.items():
        assert code != 0, (name, err[-2000:])
        assert f"the job store {db} is damaged: PRAGMA quick_check" in err, (name, err[-2000:])
    for name in ("worker", "scheduler", "serve"):  # the command line: one line (after the JSON log), no traceback
        code, err = results[name]
        assert err.strip().splitlines()[-1].startswith("Error: the job store") and "Traceback" not in err, (name, err)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the intake never accepts a report into a damaged store ------------------------------------


def _jobs_roots(db: Path) -> list[int]:
    """Root pages of the jobs table and its indexes: every push reads or writes each of them."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [page for (page,) in conn.execute("SELECT rootpage FROM sqlite_master WHERE tbl_name = 'jobs'")]
    finally:
        conn.close()


def test_intake_answers_503_not_202_when_the_store_is_damaged_under_it(tmp_path) -> None:
    db = tmp_path / "jobs.sqlite"
    store = _filled_store(db, 60)
    settings = load_settings(_site(tmp_path, db), environ={})
    client = create_app(settings, store).test_client()
    headers = {"Content-Type": FHIR_JSON}
    first = client.post("/fhir/DiagnosticReport", json=_report(1000), headers=headers)
    assert first.status_code == 202, first.get_data(as_text=True)
    job_url = first.headers["Location"].split("://", 1)[1].split("/", 1)[1]

    # The disk goes bad under the running app: connections closed (the WAL checkpointed into the
    # file), the pages every push goes through overwritten; the app's next connection reads them.
    store.engine.dispose()
    _scribble(db, _jobs_roots(db))

    for i in range(1001, 1004):  # every push after the damage, not only the unlucky ones
        resp = client.post("/fhir/DiagnosticReport", json=_report(i), headers=headers)
        assert resp.status_code == 503, (resp.status_code, resp.get_data(as_text=True))
        body = resp.get_json()
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["code"] == "no-store" and "send the request again" in body["issue"][0]["diagnostics"]
        assert "Location" not in resp.headers
    bundle = {"resourceType": "Bundle", "type": "batch",
              "entry": [{"resource": _report(2000), "request": {"method": "POST", "url": "DiagnosticReport"}}]}
    assert client.post("/fhir", json=bundle, headers=headers).status_code == 503
    # A read that meets a damaged page is a 503 with an OperationOutcome too, never a bare 500.
    read = client.get("/" + job_url)
    assert read.status_code in (200, 503), read.get_data(as_text=True)
    assert store.damaged is not None
    # And it says so to the load balancer: not ready, so pushes go to a healthy replica.
    assert client.get("/readyz").status_code == 503
    with pytest.raises(StoreCorrupt):
        store.submit(_report(3000))
    store.close()


# -- backups -----------------------------------------------------------------------------------


def test_plain_copy_misses_the_wal_and_db_backup_does_not(tmp_path) -> None:
    db = tmp_path / "jobs.sqlite"
    store = _filled_store(db, 40)  # open: the commits are in jobs.sqlite-wal, not yet in the file
    committed = sorted(f"hardening-{i}" for i in range(40))
    plain = tmp_path / "plain-copy.sqlite"
    plain.write_bytes(db.read_bytes())
    assert _job_ids(plain) != committed  # what `cp` gives: committed jobs missing

    backup = tmp_path / "backup.sqlite"
    r = CliRunner().invoke(cli, ["--config", str(_site(tmp_path, db)), "db", "backup", str(backup)], obj={})
    assert r.exit_code == 0, r.output
    assert "40 jobs, integrity ok, mode 0600" in r.output
    assert _job_ids(backup) == committed
    assert _mode(backup) == 0o600
    conn = sqlite3.connect(backup)
    try:  # one self-contained file: no WAL mode, nothing needed beside it
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        conn.close()
    # An existing backup is not overwritten by accident.
    again = CliRunner().invoke(cli, ["--config", str(_site(tmp_path, db)), "db", "backup", str(backup)], obj={})
    assert again.exit_code == 1 and "--force" in again.output
    store.close()


def test_backup_while_a_writer_is_active_is_complete_and_consistent(tmp_path) -> None:
    from integration.store.integrity import backup_sqlite, integrity_problems

    db = tmp_path / "jobs.sqlite"
    store = _filled_store(db, 50)
    written = 50
    stop = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        nonlocal written
        try:
            while not stop.is_set():
                store.submit(_report(written))
                written += 1
        except BaseException as exc:  # noqa: BLE001 -- reported by the test below
            failures.append(exc)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        results = []
        for n in range(3):  # several copies, each while reports keep arriving
            before = written
            results.append((before, backup_sqlite(db, tmp_path / f"backup-{n}.sqlite")))
    finally:
        stop.set()
        thread.join(30)
    assert not failures, failures
    for before, result in results:
        ids = _job_ids(result.path)
        # Complete: every job committed before the copy began is in it. Consistent: a snapshot
        # of one moment, so the reports (pushed in order) are exactly the first k, no gap.
        assert len(ids) == result.jobs >= before
        assert sorted(ids) == sorted(f"hardening-{i}" for i in range(len(ids)))
        assert integrity_problems(result.path) == []
        assert _mode(result.path) == 0o600
    assert written > results[-1][0]  # the writer really ran during the copies
    assert not list(tmp_path.glob(".*.partial"))
    store.close()


def test_backup_refuses_a_damaged_store_and_leaves_nothing(tmp_path) -> None:
    db = _damaged_store(tmp_path)
    dest = tmp_path / "backup.sqlite"
    r = CliRunner().invoke(cli, ["--config", str(_site(tmp_path, db)), "db", "backup", str(dest)], obj={})
    assert r.exit_code == 1, r.output
    assert "damaged" in r.output and "not backed up" in r.output
    assert not dest.exists() and not list(tmp_path.glob(".*.partial"))


def test_postgresql_check_and_backup_say_what_to_use(tmp_path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({"store": {"url": "postgresql+psycopg://u:pw@127.0.0.1:1/x"},
                                    "audit": {"file": None}}))
    r = CliRunner().invoke(cli, ["--config", str(site), "db", "backup", str(tmp_path / "b.dump")], obj={})
    assert r.exit_code == 1 and "pg_dump" in r.output and "pw" not in r.output.replace("pg_", "")
    r = CliRunner().invoke(cli, ["--config", str(site), "db", "check"], obj={})
    assert r.exit_code != 0 and "pg_amcheck" in r.output  # then the connection fails: port 1


# -- file modes --------------------------------------------------------------------------------


@pytest.fixture()
def usual_umask():
    """The umask most services run with (022): without the fix the files came out 0644."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_store_files_are_created_owner_only(tmp_path, usual_umask) -> None:
    db = tmp_path / "jobs.sqlite"
    store = _filled_store(db, 3)  # open: -wal and -shm exist
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        assert path.exists() and _mode(path) == 0o600, (path, oct(_mode(path)))
    store.close()

    upgraded = tmp_path / "upgraded.sqlite"  # `radlite db upgrade` creates the file too
    site = tmp_path / "up.yaml"
    site.write_text(yaml.safe_dump({"store": {"url": f"sqlite:///{upgraded}"}, "audit": {"file": None}}))
    r = CliRunner().invoke(cli, ["--config", str(site), "db", "upgrade"], obj={})
    assert r.exit_code == 0, r.output
    assert _mode(upgraded) == 0o600


def test_an_existing_world_readable_store_is_narrowed_at_start(tmp_path, usual_umask) -> None:
    db = tmp_path / "jobs.sqlite"
    _filled_store(db, 2).close()
    os.chmod(db, 0o644)  # made by an older version
    store = JobStore(f"sqlite:///{db}")
    store.submit(_report(99))
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        assert _mode(path) == 0o600, (path, oct(_mode(path)))
    store.close()


def test_audit_files_are_created_owner_only(tmp_path, usual_umask) -> None:
    chain = AuditFile(tmp_path / "audit" / "audit.jsonl")
    chain.append({"ts": "2026-03-02T09:00:00Z", "event": "test.mode"})
    names = {p.name: _mode(p) for p in (tmp_path / "audit").iterdir()}
    assert names == {"audit.jsonl": 0o600, "audit.jsonl.anchor": 0o600, "audit.jsonl.lock": 0o600}
    assert json.loads((tmp_path / "audit" / "audit.jsonl").read_text())["event"] == "test.mode"
