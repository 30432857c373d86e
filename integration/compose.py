"""The composition root: the one place where the adapter's parts are built from the settings and
wired together. Every process starts here -- the web app under gunicorn (integration/wsgi.py),
``radlite serve``, ``radlite worker``, ``radlite scheduler``, the demo and ``radlite preview`` --
so they cannot drift apart (docs/architecture.md).

:func:`service_settings` does what every long-running process needs before anything else: the
site settings loaded and cross-checked, JSON logging and the audit file, the audit HMAC secret
(the same in every process, so hashed ids match across intake, worker and write-back), and the
start-up audit events an auditor compares across processes and over time (``config.loaded``,
``mappings.loaded``; docs/audit.md).

The builders below raise :class:`StartupError`, one line that says what is wrong (a broken
mapping file, a store that is damaged or unreachable, a routing rule no worker could run); the
CLI prints it and exits, gunicorn stops at import with it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask
from sqlalchemy.exc import OperationalError

from integration.audit import audit, configure_logging, use_service_secret
from integration.fhir.report import report_char_limit
from integration.intake.http import preview as preview_api
from integration.intake.http.app import create_app
from integration.mappings import MappingError, Mappings, load_mappings, mappings_digest
from integration.settings import Settings, SettingsError, masked_url, startup_settings
from integration.store import JobStore, StoreCorrupt, StoreError
from integration.writeback.client import AuthConfigError, FhirClient
from integration.writeback.scheduler import WritebackScheduler

if TYPE_CHECKING:  # the inference stack is imported where it is built (see router())
    from integration.inference.dry_run import Previewer
    from integration.inference.router import Router
    from integration.inference.worker import Worker


class StartupError(Exception):
    """A part cannot be built from the settings; the message is one line with the fix."""


def service_settings(site_file: str | Path | None = None) -> Settings:
    """The settings of a long-running process, with logging, the audit secret and the start-up
    audit events done. Raises SettingsError (a bad setting, listed) or AuditKeyError (a secret that
    cannot protect identifiers: unset, public, a placeholder, too short; unless
    ``audit.allow_development_key``); the caller turns either into its own one-line refusal."""
    settings = startup_settings(site_file)
    configure_logging(settings.audit.log_level, audit_file=settings.audit.file, max_bytes=settings.audit.max_bytes)
    use_service_secret(settings.audit)
    audit_loaded(settings)
    return settings


def audit_loaded(settings: Settings) -> None:
    """Record which configuration and mappings this process runs with, as hashes (the files hold
    no PHI, but may hold paths)."""
    canon = settings.model_dump_json(exclude={"sources"})
    audit("config.loaded", sha256=hashlib.sha256(canon.encode("utf-8")).hexdigest(),
          sources=len(settings.sources))
    digest, files = mappings_digest(settings.writeback.mappings_dir)
    audit("mappings.loaded", sha256=digest, files=files)


def site_mappings(settings: Settings) -> Mappings:
    """The mapping files, checked: a broken one stops the process with file:line messages."""
    try:
        return load_mappings(settings.writeback.mappings_dir)
    except MappingError as exc:
        raise StartupError(str(exc)) from None


def open_store(settings: Settings) -> JobStore:
    """The job store. A database whose schema is not current, a SQLite file that ``PRAGMA
    quick_check`` finds damaged, or a database that is down stops the process: a service must not
    accept or process reports on a store that may lose them."""
    try:
        return JobStore(settings.store.url, max_inference_attempts=settings.store.max_inference_attempts,
                        check_integrity=True)
    except (StoreError, StoreCorrupt) as exc:
        raise StartupError(str(exc)) from None
    except OperationalError as exc:
        # One line naming the database (password masked), not a traceback that could carry the
        # SQL and its parameters.
        first = str(exc.orig or exc).strip().splitlines()
        raise StartupError(f"database {masked_url(settings.store.url)} unreachable: "
                           f"{first[0] if first else type(exc).__name__}") from None


def router(settings: Settings, bundle: str | None = None) -> Router:
    """The task router over the configured bundles (or one ``bundle`` for every task); bundles
    load on first use."""
    from integration.inference.router import Router  # noqa: PLC0415 -- ctranslate2: never loaded by the web process (gunicorn), which builds only the app

    return Router.from_settings(settings.inference, bundle)


def worker(settings: Settings, store: JobStore, *, owner: str | None = None, previews_only: bool = False,
           task_router: Router | None = None) -> Worker:
    """The inference worker, with the mappings its previews build Bundles with."""
    from integration.inference.worker import Worker  # noqa: PLC0415 -- ctranslate2: never loaded by the web process (gunicorn), which builds only the app

    try:
        return Worker(settings, store, task_router or router(settings), owner=owner,
                      mappings=site_mappings(settings), previews_only=previews_only)
    except ValueError as exc:  # routing a worker could never run
        raise StartupError(str(exc)) from None


def previewer(settings: Settings) -> Previewer:
    """Previews in this process (``radlite preview FILE``, ``serve --inline-previews``)."""
    from integration.inference.dry_run import Previewer  # noqa: PLC0415 -- ctranslate2: never loaded by the web process (gunicorn), which builds only the app

    return Previewer.from_settings(settings, site_mappings(settings))


def web_app(settings: Settings, store: JobStore | None = None, *, inline_previews: bool = False) -> Flask:
    """The intake app. ``inline_previews`` (development only) runs ``$preview`` in this process;
    otherwise the app queues previews for ``radlite worker`` and never loads a model."""
    try:
        app = create_app(settings, store if store is not None else open_store(settings))
    except (MappingError, SettingsError) as exc:
        raise StartupError(str(exc)) from None
    if inline_previews:
        preview_api.init_app(app, previewer(settings))
    return app


def fhir_client(settings: Settings) -> FhirClient:
    """The client of the EHR's FHIR server (auth as configured)."""
    try:
        return FhirClient.from_settings(settings.ehr)
    except AuthConfigError as exc:
        raise StartupError(str(exc)) from None


def scheduler(settings: Settings, store: JobStore | None = None) -> WritebackScheduler:
    """The write-back scheduler (and pull mode's poller, when ``pull`` is configured)."""
    mappings = site_mappings(settings)
    client = fhir_client(settings)
    return WritebackScheduler(store if store is not None else open_store(settings), client, mappings,
                              settings.writeback, pull_settings=settings.pull,
                              max_report_chars=report_char_limit(settings.inference.max_input_tokens,
                                                                 settings.intake.max_report_chars))
