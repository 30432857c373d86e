"""``radlite db``: the job store's schema (Alembic, integration/store/migrations), integrity, backups.

* ``radlite db upgrade``  bring the database to the newest schema (one transaction; on PostgreSQL
  under an advisory lock, so every host may run it at start). Required before the first start on
  PostgreSQL; on SQLite the services create the tables themselves.
* ``radlite db current``  the database's revision and the code's; exit 1 when they differ.
* ``radlite db check``    SQLite: ``PRAGMA integrity_check`` (every page and index); then the live
  schema compared with the models; exit 1 on any problem. PostgreSQL: connection and schema only
  (its page-level check is ``pg_amcheck``; docs/deploy.md, "Backups and integrity").
* ``radlite db backup DEST``  SQLite: a consistent copy made while the services run (SQLite's online
  backup API: the database with its write-ahead log), verified, mode 0600. PostgreSQL: how to use
  ``pg_dump`` instead.
"""

from __future__ import annotations

from pathlib import Path

import click

from integration.settings import SettingsError, load_settings, masked_url

# How many problems of a damaged file `db check` lists (SQLite stops counting there too).
SHOWN_PROBLEMS = 10
PG_INTEGRITY = ("integrity: PostgreSQL pages are not checked here (connection and schema only); use pg_amcheck "
                "(the amcheck extension) and a regular pg_dump restore test: docs/deploy.md, 'Backups and integrity'")
PG_BACKUP = ("store.url is PostgreSQL: back it up with its own tools, e.g. `umask 077; pg_dump --format=custom "
             "--file radlite-$(date +%F).dump 'postgresql://radlite@db-host/radlite'` (restore test: pg_restore "
             "into a scratch database); docs/deploy.md, 'Backups and integrity'")


def _store_url(ctx: click.Context) -> str:
    root = ctx.find_root()
    try:
        return load_settings((root.obj or {}).get("config_file")).store.url
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("db")
def db_group() -> None:
    """The job store: schema migrations (Alembic), integrity check, backup."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.pass_context
def upgrade_cmd(ctx: click.Context, revision: str) -> None:
    """Migrate the database to the newest schema (safe to run concurrently and repeatedly)."""
    from integration.store.migrations import MigrationError, upgrade  # noqa: PLC0415 -- sqlalchemy: off CLI start-up

    url = _store_url(ctx)
    try:
        result = upgrade(url, revision)
    except MigrationError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 -- connection errors: say where, not the password
        raise click.ClickException(f"{masked_url(url)}: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}") from None
    if result.adopted:
        click.echo(f"{masked_url(url)}: existing tables match the schema; recorded as revision {result.after}")
    elif result.before == result.after:
        click.echo(f"{masked_url(url)}: already at revision {result.after}")
    else:
        click.echo(f"{masked_url(url)}: upgraded {result.before or '(empty)'} -> {result.after}")


def _connect(ctx: click.Context):
    from integration.store.database import make_engine  # noqa: PLC0415 -- sqlalchemy: off CLI start-up

    return make_engine(_store_url(ctx))


@db_group.command("current")
@click.pass_context
def current_cmd(ctx: click.Context) -> None:
    """Print the database's revision and the code's head; exit 1 when they differ."""
    from integration.store.migrations import HEAD, current_revision  # noqa: PLC0415 -- sqlalchemy: off CLI start-up

    engine = _connect(ctx)
    try:
        with engine.connect() as conn:
            rev = current_revision(conn)
    finally:
        engine.dispose()
    click.echo(f"database: {rev or '(none)'}; code: {HEAD}")
    if rev != HEAD:
        ctx.exit(1)


def _report_integrity(url: str) -> bool:
    """Print what ``PRAGMA integrity_check`` finds in the SQLite store; False when it is damaged."""
    from integration.store.integrity import RESTORE_HINT, integrity_problems, sqlite_path  # noqa: PLC0415 -- sqlalchemy: off CLI start-up

    path = sqlite_path(url)
    if path is None:
        if url.startswith("postgresql"):
            click.echo(PG_INTEGRITY)
        return True
    if not path.exists():
        return True  # nothing to check yet; the schema check below says what to run
    problems = integrity_problems(path, limit=SHOWN_PROBLEMS)
    if not problems:
        click.echo(f"integrity: {path}: ok (PRAGMA integrity_check)")
        return True
    click.echo(f"integrity: {path} is damaged; PRAGMA integrity_check found (first {SHOWN_PROBLEMS} at most):")
    for problem in problems:
        click.echo(f"  {problem}")
    click.echo(f"fix: {RESTORE_HINT}")
    return False


@db_group.command("check")
@click.pass_context
def check_cmd(ctx: click.Context) -> None:
    """Check the store's integrity (SQLite), then compare the live schema with the models; exit 1
    on any problem."""
    from integration.store.database import make_engine  # noqa: PLC0415 -- sqlalchemy: off CLI start-up
    from integration.store.migrations import check_current, schema_diff  # noqa: PLC0415 -- sqlalchemy: off CLI start-up

    url = _store_url(ctx)
    if not _report_integrity(url):
        ctx.exit(1)  # a damaged file's schema is moot, and reading it may fail anyway
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            problem = check_current(conn)
            diff = schema_diff(conn)
    finally:
        engine.dispose()
    if problem:
        click.echo(problem)
    for d in diff:
        click.echo(f"differs: {d}")
    if problem or diff:
        ctx.exit(1)
    click.echo("schema at head and equal to the models")


@db_group.command("backup")
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace DEST when it exists.")
@click.pass_context
def backup_cmd(ctx: click.Context, dest: Path, force: bool) -> None:
    """Copy the SQLite store to DEST while the services run, verified, readable by its owner only.

    Uses SQLite's online backup API: one consistent snapshot of the database and its write-ahead
    log (a plain `cp` of the file misses what is still in the -wal file). Run it as the service
    user. Exit 1, leaving nothing at DEST, when the copy fails PRAGMA integrity_check."""
    from integration.store.integrity import BackupError, backup_sqlite, sqlite_path  # noqa: PLC0415 -- sqlalchemy: off CLI start-up

    url = _store_url(ctx)
    source = sqlite_path(url)
    if source is None:
        raise click.ClickException(PG_BACKUP if url.startswith("postgresql") else
                                   "store.url names no SQLite file to back up")
    try:
        result = backup_sqlite(source, dest, replace=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{source} -> {result.path}: {result.bytes} bytes, {result.jobs} jobs, integrity ok, mode 0600")
