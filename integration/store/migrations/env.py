"""Alembic environment for the job store.

Run through ``radlite db upgrade`` (which passes a connection, holds a PostgreSQL advisory lock so
that several hosts may run it at once, and adopts a SQLite file made by ``create_all``), or with
the plain ``alembic`` command and ``alembic.ini`` at the repository root; the database URL is then
``-x url=...``, else ``sqlalchemy.url``, else ``store.url`` from the RadLite settings.
"""

from __future__ import annotations

from alembic import context

from integration.settings import load_settings
from integration.store.database import make_engine
from integration.store.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    x = context.get_x_argument(as_dictionary=True).get("url")
    if x:
        return x
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url

    return load_settings().store.url


def _configure(**kw) -> None:
    context.configure(target_metadata=target_metadata, compare_type=True, **kw)


def run_offline() -> None:
    url = _url()
    _configure(url=url, literal_binds=True, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    conn = config.attributes.get("connection")
    if conn is not None:
        _configure(connection=conn, render_as_batch=conn.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        return

    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
