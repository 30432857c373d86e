"""Structured, PHI-free logging and audit events.

One structlog configuration for the whole process: JSON lines with a UTC timestamp, level,
event name and the correlation id bound in ``contextvars`` (set at intake from X-Request-ID,
stored with the job, re-bound by the worker and the write-back), so one id traces a report from
receipt to the EHR. Standard-library logs go through the same processors.

Identifiers are never logged raw: :func:`hash_id` gives a keyed HMAC-SHA256 with the site secret,
so an auditor holding the secret can match a record and nobody else can. Report text and model
output are never logged at all.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import sys
from pathlib import Path
from typing import Any

import structlog

_SECRET: bytes | None = None
_DEV_SECRET = b"radlite-development-secret-do-not-use"


def set_secret(secret: bytes | str | None) -> None:
    global _SECRET
    _SECRET = secret.encode("utf-8") if isinstance(secret, str) else secret


def load_secret(env_name: str = "RADLITE_AUDIT_SECRET", file: Path | None = None) -> bytes | None:
    if file is not None:
        return Path(file).read_bytes().strip()
    value = os.environ.get(env_name)
    return value.encode("utf-8") if value else None


def hash_id(value: str | None) -> str | None:
    """Keyed hash of an identifier for logs: ``h:<first 16 hex of HMAC-SHA256>``."""
    if value is None:
        return None
    key = _SECRET or _DEV_SECRET
    return "h:" + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def configure_logging(level: str = "INFO", stream=None) -> None:
    """Configure structlog and the standard library once for this process."""
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=structlog.processors.JSONRenderer(),
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder()],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Werkzeug's access log prints request paths, which may carry ids; keep it quiet.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def get_logger(name: str = "radlite") -> Any:
    return structlog.get_logger(name)


def audit(event: str, **fields: Any) -> None:
    """Emit one audit event. Callers pass hashed ids and codes only, never text."""
    get_logger("radlite.audit").info(event, audit=True, **fields)


def bind_correlation_id(correlation_id: str) -> None:
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id)


def clear_context() -> None:
    structlog.contextvars.clear_contextvars()
