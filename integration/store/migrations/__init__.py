"""Schema migrations (Alembic) for the job store.

* PostgreSQL (and any database but SQLite): the schema is made and changed only by migrations,
  ``radlite db upgrade``. :class:`~integration.store.JobStore` refuses a database whose schema is
  not at :data:`HEAD`, naming the command to run.
* SQLite (the single-machine default): ``JobStore`` still creates the tables itself
  (``create_all``) for convenience, and stamps a new file with :data:`HEAD`, so that a later
  ``radlite db upgrade`` applies only what is newer; a file stamped at an older revision of these
  scripts is upgraded when the store opens it (the step ``radlite db upgrade`` would take). A file
  made before migrations existed is adopted by ``radlite db upgrade`` when its tables match the
  models.

Every new revision must move :data:`HEAD` (a unit test checks it against the scripts).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import Connection

from integration.store.database import make_engine
from integration.store.models import Base

MIGRATIONS_DIR = Path(__file__).resolve().parent
# The newest revision in versions/ (checked by tests/unit/test_deploy_migrations.py).
HEAD = "0004"
VERSION_TABLE = "alembic_version"
APP_TABLES = frozenset(Base.metadata.tables)
# pg_advisory_xact_lock key: "radlite db upgrade" runs one at a time per database.
_PG_LOCK_KEY = 0x7261646C  # "radl"


class MigrationError(Exception):
    pass


@dataclass
class UpgradeResult:
    before: str | None
    after: str | None
    adopted: bool = False


def alembic_config(url: str | None = None):
    from alembic.config import Config  # noqa: PLC0415 -- alembic (mako, pygments) only to migrate or check the schema

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def script_head() -> str | None:
    """The head revision of the scripts in versions/."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415 -- alembic (mako, pygments) only to migrate or check the schema

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415 -- alembic (mako, pygments) only to migrate or check the schema

    return MigrationContext.configure(conn).get_current_revision()


def schema_diff(conn: Connection) -> list[Any]:
    """Differences between the database and ``models.py`` (alembic's ``compare_metadata``);
    empty when the schema is exactly what the code expects."""
    from alembic.autogenerate import compare_metadata  # noqa: PLC0415 -- alembic (mako, pygments) only to migrate or check the schema
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415 -- alembic (mako, pygments) only to migrate or check the schema

    mc = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(mc, Base.metadata))


def _app_tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) & APP_TABLES


def _engine(url_or_engine: str | Engine) -> tuple[Engine, bool]:
    if isinstance(url_or_engine, Engine):
        return url_or_engine, False
    return make_engine(url_or_engine), True


def upgrade(url_or_engine: str | Engine, revision: str = "head") -> UpgradeResult:
    """Bring the database to ``revision`` in one transaction. On PostgreSQL an advisory lock
    serialises concurrent upgrades (several hosts starting at once); the second finds nothing to
    do. A database whose tables exist without a recorded revision (a SQLite file from
    ``create_all``) is adopted -- stamped at head -- only if its schema equals the models."""
    from alembic import command  # noqa: PLC0415 -- alembic (mako, pygments) only to migrate or check the schema

    engine, own = _engine(url_or_engine)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            before = current_revision(conn)
            adopted = False
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            if before is None and _app_tables(conn):
                diff = schema_diff(conn)
                if diff:
                    raise MigrationError(
                        "the database has RadLite tables but no migration revision, and they differ from "
                        f"this version's schema ({_describe(diff)}); migrate it by hand or start from an empty database")
                command.stamp(cfg, "head")
                adopted = True
            else:
                command.upgrade(cfg, revision)
            after = current_revision(conn)
        return UpgradeResult(before, after, adopted)
    finally:
        if own:
            engine.dispose()


def check_current(conn: Connection) -> str | None:
    """None when the schema is at :data:`HEAD`, else what is wrong and the command that fixes it."""
    rev = current_revision(conn)
    if rev == HEAD:
        return None
    if rev is None:
        if _app_tables(conn):
            return "the database has RadLite tables but no migration revision: run `radlite db upgrade`"
        return "the database has no RadLite tables yet: run `radlite db upgrade`"
    return f"the database schema is at revision {rev}, this version needs {HEAD}: run `radlite db upgrade`"


def _older_known_revision(conn: Connection) -> bool:
    """Whether the database is stamped at a revision of these scripts older than :data:`HEAD`."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415 -- alembic (mako, pygments) only to migrate or check the schema

    if VERSION_TABLE not in set(inspect(conn).get_table_names()):
        return False
    rev = current_revision(conn)
    if rev is None or rev == HEAD:
        return False
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    return rev in known


def create_sqlite_schema(engine: Engine) -> None:
    """SQLite convenience: create missing tables; stamp a brand-new file with :data:`HEAD`; bring
    a file stamped at an older revision to :data:`HEAD`.

    The last is what keeps a single-machine site working after an update without `radlite db
    upgrade`: the code writes columns an old file lacks (``jobs.client``), and every push would
    fail. A revision these scripts do not know (a newer RadLite's) is left alone."""
    with engine.connect() as conn:
        stale = _older_known_revision(conn)
    if stale:
        upgrade(engine)  # one transaction; concurrent openers serialise on BEGIN IMMEDIATE
    with engine.begin() as conn:
        existing = set(inspect(conn).get_table_names())
        Base.metadata.create_all(conn)
        if not (existing & APP_TABLES) and VERSION_TABLE not in existing:
            conn.execute(text(f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL, "
                              f"CONSTRAINT {VERSION_TABLE}_pkc PRIMARY KEY (version_num))"))
            conn.execute(text(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (:v)"), {"v": HEAD})


def _describe(diff: list[Any], limit: int = 5) -> str:
    parts = []
    for d in diff[:limit]:
        if isinstance(d, tuple) and d:
            name = getattr(d[1], "name", None) if len(d) > 1 else None
            parts.append(f"{d[0]} {name}" if name else str(d[0]))
        elif isinstance(d, list) and d and isinstance(d[0], tuple):
            parts.append(" ".join(str(x) for x in d[0][:4]))
        else:
            parts.append(str(d)[:80])
    more = f" and {len(diff) - limit} more" if len(diff) > limit else ""
    return "; ".join(parts) + more
