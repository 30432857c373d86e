"""How every long-running process starts: the web app under gunicorn (integration/wsgi.py),
``radlite serve``, ``radlite worker`` and ``radlite scheduler`` all call :func:`service_settings`.

One place, so that the processes cannot drift apart: the site settings loaded and cross-checked,
JSON logging and the audit file, the audit HMAC secret (the same in every process, so hashed ids
match across intake, worker and write-back), and the start-up audit events an auditor compares
across processes and over time (``config.loaded``, ``mappings.loaded``; docs/audit.md). The web
process under gunicorn used to set up the first three on its own and skip the events.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from integration.audit import audit, configure_logging, use_service_secret
from integration.settings import Settings, startup_settings
from integration.writeback.mappings import mappings_digest


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
