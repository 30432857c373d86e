"""WSGI entry point for production servers: ``gunicorn -c deploy/gunicorn.conf.py integration.wsgi:app``.

Settings load exactly as for ``radlite serve`` (``RADLITE_CONFIG`` site file + ``RADLITE__...``
environment; the startup cross-checks; JSON logging, the audit file and the audit HMAC secret set
up the same way in every process, so hashed ids match across web, worker and scheduler). A setting,
mapping or schema problem stops the server at import with the message, as ``radlite serve`` does.
"""

from __future__ import annotations

from flask import Flask


def service_settings(site_file: str | None = None):
    """The settings of a long-running process, with logging and the audit secret set up (the
    counterpart of ``integration.cli._service_settings``, without click)."""
    from integration.audit import configure_logging, load_secret, set_secret
    from integration.settings import startup_settings

    settings = startup_settings(site_file)
    configure_logging(settings.audit.log_level, audit_file=settings.audit.file, max_bytes=settings.audit.max_bytes)
    set_secret(load_secret(settings.audit.secret_env, settings.audit.secret_file))
    return settings


def create() -> Flask:
    from integration.app import create_app

    return create_app(service_settings())


app = create()
