"""Structured, PHI-free logging and a tamper-evident audit trail.

One structlog configuration for the whole process: JSON lines with a UTC timestamp, level,
event name and the correlation id bound in ``contextvars`` (set at intake from X-Request-ID,
stored with the job, re-bound by the worker and the write-back), so one id traces a report from
receipt to the EHR. Standard-library logs go through the same processors.

Identifiers are never logged raw: :func:`hash_id` gives a keyed HMAC-SHA256 with the site secret,
so an auditor holding the secret can match a record and nobody else can. Which secrets the
services accept: :mod:`integration.audit.secret`. Report text and model
output are never logged at all; :func:`guard_phi` is the last line of defence (it redacts fields
named like free text and hashes identifier fields that arrive unhashed).

:func:`audit` events also go to the hash-chained audit file (``audit.file``, see
:mod:`integration.audit.chain` and docs/audit.md) when one is configured.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import sys
from pathlib import Path
from typing import Any, Mapping

import structlog

from integration.audit.chain import AuditFile
from integration.audit.secret import (
    DEVELOPMENT_SECRET as _DEV_SECRET,
    AuditKeyError,
    fix_hint,
    key_problem,
    load_secret,
    read_configured_secret,
    secret_source,
)

__all__ = [
    "AuditFile", "AuditKeyError", "audit", "bind_correlation_id", "clear_context", "configure_audit_file",
    "configure_logging", "get_logger", "guard_phi", "hash_id", "load_secret", "set_secret", "use_service_secret",
]

_SECRET: bytes | None = None
_SINK: AuditFile | None = None

# Field names that only ever hold free text (report text, model output, names, narrative,
# server diagnostics): their values never reach a log line.
FORBIDDEN_KEYS = frozenset({
    "text", "raw", "name", "value", "report_text", "conclusion", "div", "data", "narrative",
    "presented_form", "impression", "findings", "prompt", "output", "completion", "diagnostics",
    "family", "given", "mrn", "display", "body", "content", "note", "hypothesis", "question",
    "prior_report", "operation_outcome",
})
# Field names that hold identifiers: they must be keyed hashes (``h:`` + 16 hex).
HASHED_KEYS = frozenset({"report", "patient", "subject", "identifier", "superseded_job", "encounter"})
_HASHED = re.compile(r"^h:[0-9a-f]{16}$")
REDACTED = "[redacted]"


def set_secret(secret: bytes | str | None) -> None:
    global _SECRET
    _SECRET = secret.encode("utf-8") if isinstance(secret, str) else secret


def hash_id(value: str | None) -> str | None:
    """Keyed hash of an identifier for logs: ``h:<first 16 hex of HMAC-SHA256>``."""
    if value is None:
        return None
    key = _SECRET or _DEV_SECRET
    return "h:" + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def _is_hashed(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_hashed(v) for v in value)
    return isinstance(value, str) and bool(_HASHED.match(value))


def _guard(mapping: dict[str, Any], hits: list[str], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        k = str(key).lower()
        if k in FORBIDDEN_KEYS:
            out[key] = REDACTED
            hits.append(prefix + str(key))
        elif k in HASHED_KEYS and not _is_hashed(value):
            out[key] = [hash_id(str(v)) for v in value] if isinstance(value, (list, tuple)) else hash_id(str(value))
            hits.append(prefix + str(key))
        elif isinstance(value, dict):
            out[key] = _guard(value, hits, f"{prefix}{key}.")
        else:
            out[key] = value
    return out


_TOP_LEVEL_KEEP = frozenset({"event", "level", "timestamp", "logger", "logger_name"})


def guard_phi(_logger: Any = None, _method: str | None = None, event_dict: dict[str, Any] | None = None) -> dict[str, Any]:
    """structlog processor (and plain function): redact free-text fields, hash raw identifiers.

    A field it had to touch is named in ``phi_guard`` so the emitting code can be fixed."""
    event_dict = event_dict if event_dict is not None else {}
    hits: list[str] = []
    keep = {k: event_dict[k] for k in _TOP_LEVEL_KEEP if k in event_dict}
    guarded = _guard({k: v for k, v in event_dict.items() if k not in _TOP_LEVEL_KEEP}, hits)
    out = {**keep, **guarded}
    if hits:
        out["phi_guard"] = sorted(set(hits) | set(event_dict.get("phi_guard") or []))
    return out


# Libraries whose INFO/DEBUG lines carry URLs (and so report ids): kept at WARNING.
_NOISY = ("werkzeug", "urllib3", "requests", "httpx", "httpcore")


def configure_logging(level: str = "INFO", stream=None, *, audit_file: str | Path | None = None,
                      max_bytes: int = 0) -> None:
    """Configure structlog and the standard library once for this process; with ``audit_file``
    audit events are also appended to that hash-chained file (rotated past ``max_bytes``)."""
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, guard_phi, structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, guard_phi,
                        structlog.processors.JSONRenderer()],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder()],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
    configure_audit_file(audit_file, max_bytes)


def configure_audit_file(path: str | Path | None, max_bytes: int = 0) -> AuditFile | None:
    """Set (or, with None, unset) the hash-chained audit file of this process."""
    global _SINK
    _SINK = AuditFile(Path(path), max_bytes=max_bytes) if path is not None else None
    return _SINK


def get_logger(name: str = "radlite") -> Any:
    return structlog.get_logger(name)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def audit(event: str, *, chained: bool = True, **fields: Any) -> None:
    """Emit one audit event. Callers pass hashed ids, codes and counts only, never text.

    The event goes to the JSON log (with ``audit_seq``/``audit_hash`` of its audit-file record,
    an external anchor for the chain) and, when configured and ``chained``, to the audit file.
    ``chained=False`` is for events anyone can cause in any number (a request without a valid
    token): the log line stays, and the audit file gets a count of them instead
    (:class:`integration.audit.aggregate.AuditAggregate`), so nobody can grow the chain, which
    is never pruned, without bound."""
    extra: dict[str, Any] = {}
    sink = _SINK if chained else None
    if sink is not None:
        context = structlog.contextvars.get_contextvars()
        guarded = guard_phi(None, None, {"event": event, **context, **fields})
        record = {"ts": _now(), **guarded}
        try:
            written = sink.append(record)
            extra = {"audit_seq": written["seq"], "audit_hash": written["hash"]}
        except OSError as exc:
            # Never silently: the log line says the file is missing this event.
            extra = {"audit_file_error": type(exc).__name__}
    get_logger("radlite.audit").info(event, audit=True, **fields, **extra)


def bind_correlation_id(correlation_id: str | None) -> None:
    if correlation_id:
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
    else:
        structlog.contextvars.unbind_contextvars("correlation_id")


def clear_context() -> None:
    structlog.contextvars.clear_contextvars()


def use_service_secret(audit_settings: Any, environ: Mapping[str, str] | None = None) -> bytes | None:
    """Load the audit secret of a long-running service and install it for :func:`hash_id`.

    Raises :class:`AuditKeyError` (one line: what is wrong, and the fix) when the secret cannot
    protect real identifiers, unless ``audit.allow_development_key`` is set: then the service
    starts, and says in its log and audit trail that its hashes are not protected."""
    secret = read_configured_secret(audit_settings, environ)
    problem = key_problem(secret)
    if problem is not None:
        where = secret_source(audit_settings)
        if not audit_settings.allow_development_key:
            raise AuditKeyError(
                f"refusing to start: the audit HMAC secret ({where}) {problem}, and anyone could reverse the "
                f"hashed identifiers in the logs; fix: {fix_hint(audit_settings)}; for local development "
                "only: audit.allow_development_key: true")
        get_logger("radlite.audit").warning(
            "audit.weak_key", detail=f"the audit HMAC secret ({where}) {problem}; accepted because "
                                     "audit.allow_development_key is true: never in production")
        audit("audit.weak_key", allowed_by="audit.allow_development_key")
    set_secret(secret)
    return secret
