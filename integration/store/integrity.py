"""Keeping the SQLite store's file sound and private: corruption, integrity checks, backups, modes.

SQLite keeps working on a file with damaged pages until a query happens to read one: the rest
of the database answers, so nothing looks wrong until some jobs fail. Hence:

* :func:`integrity_problems` runs ``PRAGMA integrity_check`` (``radlite db check``) or the faster
  ``PRAGMA quick_check`` (every service at start, ``radlite doctor``), which reads every page;
* :func:`is_corruption` recognises the driver errors that mean a damaged file, so the intake
  answers 503 (:class:`StoreCorrupt`) instead of accepting reports into it;
* :func:`backup_sqlite` copies the store with SQLite's online backup API, which reads one
  consistent snapshot of the database *and* its write-ahead log. Copying the file alone (``cp``)
  loses every commit still in ``-wal``, and a copy taken during a write can be torn;
* the database file is created, and kept, readable by its owner only (:func:`create_private`,
  :func:`restrict_modes`): it holds full report texts. SQLite gives the ``-wal`` and ``-shm``
  files the mode of the database file, so they follow.

PostgreSQL needs none of this here: its own tools check and copy it (``amcheck``/``pg_amcheck``,
``pg_dump``; docs/deploy.md, "Backups and integrity").
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

# SQLite's primary result codes for a damaged file: SQLITE_CORRUPT ("database disk image is
# malformed") and SQLITE_NOTADB ("file is not a database", e.g. a damaged header).
_CORRUPT_CODES = frozenset({11, 26})
_CORRUPT_MESSAGES = ("database disk image is malformed", "file is not a database", "malformed database schema")
PRIVATE_MODE = 0o600
SIDECARS = ("-wal", "-shm")
RESTORE_HINT = ("stop the services, run `radlite db check` for the full list, and restore the newest good "
                "backup (docs/deploy.md, 'Backups and integrity')")


class StoreCorrupt(Exception):
    """The store's database file is damaged. Not a :class:`StoreError` on purpose: callers that
    map a StoreError to a client error (422) must not blame the sender for a broken disk."""


class BackupError(Exception):
    """A backup could not be made, or the copy did not verify; nothing was left at the destination."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int
    jobs: int


# -- which file a URL names --------------------------------------------------------------------


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL; None for other databases, ``:memory:`` and
    ``file:`` URIs (whose options this module would not honour)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1] if "///" in url else ""
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


# -- file modes --------------------------------------------------------------------------------


def create_private(path: Path) -> None:
    """Create an empty database file with mode 0600 before SQLite creates it with 0644 (an empty
    file is a valid, empty database). Does nothing when the file exists; when it cannot be made
    (a read-only directory), SQLite's own open reports that, as before."""
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE))


def restrict_modes(path: Path) -> list[Path]:
    """Take group and other access away from the database file and its -wal/-shm, for files this
    process owns (a file made before 0600 was the rule, or copied in). Returns the files changed;
    files of another owner are left alone (``radlite doctor`` reports them)."""
    changed = []
    for p in (path, *(path.with_name(path.name + s) for s in SIDECARS)):
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & 0o077:
            with contextlib.suppress(OSError):
                os.chmod(p, stat.S_IMODE(st.st_mode) & 0o700)
                changed.append(p)
    return changed


def open_modes(path: Path) -> dict[Path, int]:
    """The database file and sidecars that group or others may access, with their modes."""
    out = {}
    for p in (path, *(path.with_name(path.name + s) for s in SIDECARS)):
        with contextlib.suppress(FileNotFoundError):
            mode = stat.S_IMODE(p.stat().st_mode)
            if mode & 0o077:
                out[p] = mode
    return out


# -- corruption --------------------------------------------------------------------------------


def is_corruption(exc: BaseException) -> bool:
    """Whether ``exc`` (a sqlite3 error, or SQLAlchemy's wrapper of one) means a damaged file."""
    orig = getattr(exc, "orig", None) or exc
    if not isinstance(orig, sqlite3.DatabaseError):
        return False
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _CORRUPT_CODES  # extended codes (SQLITE_CORRUPT_INDEX ...) share the low byte
    return any(m in str(orig) for m in _CORRUPT_MESSAGES)


def _connect_existing(path: Path) -> sqlite3.Connection:
    # mode=rw: never create a file that is not there (a check must not invent an empty store).
    return sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=30, isolation_level=None)


def _check(conn: sqlite3.Connection, quick: bool, limit: int) -> list[str]:
    pragma = "quick_check" if quick else "integrity_check"
    rows = conn.execute(f"PRAGMA {pragma}({int(limit)})").fetchall()
    # A report may carry a "*** in database main ***" heading line: not a problem of its own.
    lines = [line for (row,) in rows for line in str(row).splitlines() if not line.startswith("*** in database")]
    return [] if lines == ["ok"] else lines[:limit]


def integrity_problems(path: Path, *, quick: bool = False, limit: int = 10) -> list[str]:
    """The first ``limit`` problems SQLite finds in the database file (``PRAGMA integrity_check``,
    or ``quick_check`` with ``quick``: the same page-level checks without comparing indexes to
    their tables, several times faster); [] when it is sound or does not exist yet.

    Runs outside any transaction, so it never holds the write lock: the services keep writing
    while ``radlite db check`` reads. Errors other than corruption (permissions, a missing
    directory) are raised."""
    if not path.exists() or path.stat().st_size == 0:
        return []
    try:
        conn = _connect_existing(path)
        try:
            return _check(conn, quick, limit)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if is_corruption(exc):
            return [str(exc)]  # so damaged that SQLite could not even run the check
        raise


def corrupt_message(path: Path, problems: list[str], check: str) -> str:
    """One line for an operator: which file, what the check said first, what to do."""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"the job store {path} is damaged: PRAGMA {check}: {problems[0]}{more}; {RESTORE_HINT}"


def require_sound(path: Path) -> None:
    """Raise :class:`StoreCorrupt` when ``PRAGMA quick_check`` finds the file damaged."""
    problems = integrity_problems(path, quick=True)
    if problems:
        raise StoreCorrupt(corrupt_message(path, problems, "quick_check"))


# -- backup ------------------------------------------------------------------------------------


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _copy_snapshot(source: Path, partial: Path) -> int:
    """Copy one consistent snapshot of ``source`` (with its WAL) into ``partial``, make the copy
    a self-contained file, verify it; returns its number of jobs."""
    with contextlib.closing(_connect_existing(source)) as src, \
            contextlib.closing(sqlite3.connect(partial, isolation_level=None)) as dst:
        # pages=-1 (the default): the whole database in one step, inside one read transaction,
        # so writers that commit meanwhile (WAL: they are not blocked) are either all in or all out.
        src.backup(dst)
        # The copy inherits WAL mode; a backup should be one file that opens anywhere by itself.
        dst.execute("PRAGMA journal_mode=DELETE")
        problems = _check(dst, quick=False, limit=10)
        if problems:
            raise BackupError(f"the copy of {source} fails PRAGMA integrity_check ({problems[0]}): the store "
                              f"itself is damaged and was not backed up; {RESTORE_HINT}")
        return int(dst.execute("SELECT count(*) FROM jobs").fetchone()[0])


def backup_sqlite(source: Path, dest: Path, *, replace: bool = False) -> BackupResult:
    """Copy the SQLite store ``source`` to ``dest`` while the services keep running.

    The copy is made under a temporary name beside ``dest`` (mode 0600 from the start), checked
    with ``PRAGMA integrity_check``, fsynced, and only then renamed to ``dest``: ``dest`` is
    either a complete, verified backup or absent (or, with ``replace``, the previous one)."""
    if not source.is_file():
        raise BackupError(f"{source}: no such database file")
    if dest.exists() and not replace:
        raise BackupError(f"{dest} exists; give --force to replace it")
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent}: no such directory")
    partial = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    try:
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE))
        try:
            jobs = _copy_snapshot(source, partial)
        except sqlite3.DatabaseError as exc:
            if is_corruption(exc):
                raise BackupError(f"{source} is damaged and was not backed up ({exc}); {RESTORE_HINT}") from None
            raise BackupError(f"{source}: {type(exc).__name__}: {exc}") from None
        fd = os.open(partial, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(partial, dest)
        _fsync_dir(dest.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return BackupResult(dest, dest.stat().st_size, jobs)
