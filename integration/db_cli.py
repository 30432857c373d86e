"""``radlite db``: the job store's schema (Alembic migrations, integration/store/migrations).

* ``radlite db upgrade``  bring the database to the newest schema (one transaction; on PostgreSQL
  under an advisory lock, so every host may run it at start). Required before the first start on
  PostgreSQL; on SQLite the services create the tables themselves.
* ``radlite db current``  the database's revision and the code's; exit 1 when they differ.
* ``radlite db check``    the live schema compared with the models; exit 1 on any difference.
"""

from __future__ import annotations

import click


def _store_url(ctx: click.Context) -> str:
    from integration.settings import SettingsError, load_settings

    root = ctx.find_root()
    try:
        return load_settings((root.obj or {}).get("config_file")).store.url
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("db")
def db_group() -> None:
    """The job store's schema: migrations (Alembic)."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.pass_context
def upgrade_cmd(ctx: click.Context, revision: str) -> None:
    """Migrate the database to the newest schema (safe to run concurrently and repeatedly)."""
    from integration.doctor import masked_url
    from integration.store.migrations import MigrationError, upgrade

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
    from integration.store.jobs import make_engine

    return make_engine(_store_url(ctx))


@db_group.command("current")
@click.pass_context
def current_cmd(ctx: click.Context) -> None:
    """Print the database's revision and the code's head; exit 1 when they differ."""
    from integration.store.migrations import HEAD, current_revision

    engine = _connect(ctx)
    try:
        with engine.connect() as conn:
            rev = current_revision(conn)
    finally:
        engine.dispose()
    click.echo(f"database: {rev or '(none)'}; code: {HEAD}")
    if rev != HEAD:
        ctx.exit(1)


@db_group.command("check")
@click.pass_context
def check_cmd(ctx: click.Context) -> None:
    """Compare the live schema with the models; exit 1 on any difference."""
    from integration.store.migrations import check_current, schema_diff

    engine = _connect(ctx)
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
