"""The audit HMAC secret: where it comes from, and which values may not protect real identifiers.

Identifiers in logs and the audit file are keyed hashes (:func:`integration.audit.hash_id`). The
key is only worth something while nobody else has it: with a key that is public (the development
key in this source code), a placeholder copied from an example file, or one short enough to
guess, anyone can hash every likely id (``DiagnosticReport/1`` ... ``/999999``, MRN patterns) and
read the "pseudonymised" logs back. So the services (web, worker, scheduler) refuse to start with
such a key (:func:`integration.audit.use_service_secret`), and ``radlite doctor`` fails on it.

The rules (:func:`key_problem`), on the secret's bytes:

* set and not empty (unset means the public development key);
* not the development key itself, and not a placeholder (starting with ``change-me``/``changeme``);
* at least :data:`MIN_SECRET_BYTES` (32) bytes: ``openssl rand -hex 32`` gives 64; 32 hex digits
  are 128 bits, beyond any search;
* at least :data:`MIN_DISTINCT_BYTES` (8) different characters, so ``aaaa...`` or ``0000...``
  padded to length does not pass.

Local development and the test suite have no secret to protect: ``audit.allow_development_key:
true`` (env ``RADLITE__AUDIT__ALLOW_DEVELOPMENT_KEY=true``) lets the services start anyway, with a
warning in the log and an ``audit.weak_key`` record in the audit trail.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

# The public key used when no secret is configured (tests, `radlite demo`, local development).
DEVELOPMENT_SECRET = b"radlite-development-secret-do-not-use"
MIN_SECRET_BYTES = 32
MIN_DISTINCT_BYTES = 8
# How the example files mark "put your own value here" (deploy/systemd/radlite.env.example).
PLACEHOLDER_PREFIXES = (b"change-me", b"changeme", b"change_me")
GENERATE = "openssl rand -hex 32"


class AuditKeyError(Exception):
    """The audit secret cannot protect real identifiers, or cannot be read; the message is one
    line naming the problem and the fix (never the secret)."""


def load_secret(env_name: str = "RADLITE_AUDIT_SECRET", file: Path | None = None,
                environ: Mapping[str, str] | None = None) -> bytes | None:
    """The configured secret: the file's content (stripped) when a file is set, else the
    environment variable's value; None when neither holds one. A missing file raises OSError."""
    if file is not None:
        return Path(file).read_bytes().strip()
    value = (os.environ if environ is None else environ).get(env_name)
    return value.encode("utf-8") if value else None


def key_problem(secret: bytes | None) -> str | None:
    """Why ``secret`` must not hash real identifiers (a phrase to follow "the audit secret ..."),
    or None when it is fit for production."""
    if not secret:
        return "is not set, so the public development key would be used"
    if secret == DEVELOPMENT_SECRET:
        return "is the public development key"
    if secret.lower().startswith(PLACEHOLDER_PREFIXES):
        return "is the placeholder from the example file"
    if len(secret) < MIN_SECRET_BYTES:
        return f"is {len(secret)} bytes long; at least {MIN_SECRET_BYTES} are needed"
    if len(set(secret)) < MIN_DISTINCT_BYTES:
        return f"has fewer than {MIN_DISTINCT_BYTES} different characters"
    return None


def secret_source(audit_settings: Any) -> str:
    """Where the secret is read from, as a reader of the message would look for it."""
    if audit_settings.secret_file is not None:
        return f"audit.secret_file {audit_settings.secret_file}"
    return f"environment variable {audit_settings.secret_env}"


def fix_hint(audit_settings: Any) -> str:
    """The one fix that always works for this configuration."""
    if audit_settings.secret_file is not None:
        path = audit_settings.secret_file
        return f"`{GENERATE} > {path}; chmod 600 {path}`, readable by the service user, the same key for every process"
    return f"{audit_settings.secret_env}=$({GENERATE}) in the environment of every process, the same value everywhere"


def read_configured_secret(audit_settings: Any, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The secret the settings point at; AuditKeyError when the secret file cannot be read."""
    try:
        return load_secret(audit_settings.secret_env, audit_settings.secret_file, environ)
    except OSError as exc:
        raise AuditKeyError(f"refusing to start: {secret_source(audit_settings)} cannot be read "
                            f"({type(exc).__name__}); fix: {fix_hint(audit_settings)}") from None
