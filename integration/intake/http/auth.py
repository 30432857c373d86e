"""Inbound authentication: ``Authorization: Bearer <token>`` whose SHA-256 is configured.

Only digests are configured (``intake.auth.token_sha256`` and/or one per line in
``intake.auth.token_sha256_file``, re-read when the file changes so tokens rotate without a
restart). The presented token's digest is compared with every configured digest by
:func:`hmac.compare_digest`. ``mode: open`` turns authentication off for local development.

Scopes: a token may be limited to what its client needs -- ``intake`` (push reports),
``jobs:read`` (``GET /jobs/<id>``), ``preview`` (``$preview``); ``admin`` implies them all.
Digests in ``token_sha256`` and file lines without scopes keep full access (as before scopes
existed); ``intake.auth.tokens`` entries and file lines ``<digest> <scope>...`` grant only the
scopes named. A valid token without the scope an endpoint needs gets 403, an invalid one 401.

Each valid token belongs to a client (:class:`Caller`): the ``name`` of its ``intake.auth.tokens``
entry, else ``token:`` and the first 12 hex digits of its digest. Quotas are counted per client
(:mod:`integration.intake.http.quotas`), and jobs record it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from integration.audit import get_logger
from integration.settings import IntakeAuth, SettingsError

log = get_logger("radlite.auth")

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
# RFC 6750 b64token
_BEARER = re.compile(r"^Bearer +([A-Za-z0-9\-._~+/]+=*) *$", re.IGNORECASE)
REALM = "radlite"
SCOPES = ("intake", "jobs:read", "preview", "admin")
FULL_ACCESS = frozenset(SCOPES)
Grants = dict[str, frozenset[str]]  # digest -> scopes


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _grants(values, where: str, *, allow_scopes: bool) -> Grants:
    """``<digest>`` (full access) or, where allowed, ``<digest> <scope> ...`` per entry."""
    out: Grants = {}
    for n, raw in enumerate(values, 1):
        line = str(raw).strip()
        if not line or line.startswith("#"):
            continue
        digest, *scopes = line.split() if allow_scopes else [line]
        digest = digest.lower()
        if not _DIGEST.match(digest):
            raise SettingsError(f"{where}: entry {n} is not a sha256 hex digest (64 hex characters)")
        unknown = [sc for sc in scopes if sc not in SCOPES]
        if unknown:
            raise SettingsError(f"{where}: entry {n}: unknown scope {unknown[0]!r} (expected some of {', '.join(SCOPES)})")
        out[digest] = out.get(digest, frozenset()) | (frozenset(scopes) if scopes else FULL_ACCESS)
    return out


def _merge(*grants: Grants) -> Grants:
    out: Grants = {}
    for g in grants:
        for digest, scopes in g.items():
            out[digest] = out.get(digest, frozenset()) | scopes
    return out


@dataclass(frozen=True)
class Caller:
    """Who made an authenticated request. ``client`` is None in open mode: no token, no client,
    and so no per-client quota."""

    client: str | None
    scopes: frozenset[str]


def client_of(digest: str, names: dict[str, str]) -> str:
    """The client a token digest belongs to: its configured name, else ``token:<12 hex>`` -- a
    prefix of a hash of a secret, which says nothing about the token and is stable across restarts."""
    return names.get(digest) or f"token:{digest[:12]}"


def allows(scopes: frozenset[str], required: str) -> bool:
    """Whether a token holding ``scopes`` may use an endpoint that needs ``required``."""
    return required in scopes or "admin" in scopes


class TokenAuth:
    def __init__(self, settings: IntakeAuth) -> None:
        self.mode = settings.mode
        scoped: Grants = {}
        for n, token in enumerate(settings.tokens):
            scoped = _merge(scoped, _grants([" ".join([token.sha256, *token.scopes])],
                                            f"intake.auth.tokens[{n}].sha256", allow_scopes=True))
        self._static = _merge(_grants(settings.token_sha256, "intake.auth.token_sha256", allow_scopes=False), scoped)
        self._names = {t.sha256.lower(): t.name for t in settings.tokens if t.name}
        self._file: Path | None = settings.token_sha256_file
        self._file_grants: Grants = {}
        self._file_mtime: float | None = None
        self._lock = threading.Lock()
        if self._file is not None:
            if not self._file.is_file():
                raise SettingsError(f"intake.auth.token_sha256_file: {self._file} not found")
            self._reload()

    @property
    def open(self) -> bool:
        return self.mode == "open"

    def _reload(self) -> None:
        assert self._file is not None
        try:
            mtime = os.stat(self._file).st_mtime_ns
        except OSError:
            if self._file_grants:
                log.warning("auth.token_file_missing")
            self._file_grants, self._file_mtime = {}, None  # fail closed
            return
        if mtime == self._file_mtime:
            return
        grants = _grants(self._file.read_text(encoding="utf-8").splitlines(), str(self._file), allow_scopes=True)
        self._file_grants, self._file_mtime = grants, mtime

    def grants(self) -> Grants:
        """Every accepted digest with its scopes (the token file re-read when it changed)."""
        if self._file is not None:
            with self._lock:
                try:
                    self._reload()
                except SettingsError:
                    log.warning("auth.token_file_invalid")  # keep the last good list
        return _merge(self._static, self._file_grants)

    def digests(self) -> frozenset[str]:
        return frozenset(self.grants())

    def identify(self, header: str | None) -> tuple[str | None, Caller | None]:
        """(None, the caller) when the token is valid, else (why not, None): why is "missing",
        "malformed" or "invalid"."""
        if self.open:
            return None, Caller(None, FULL_ACCESS)
        if not header:
            return "missing", None
        m = _BEARER.match(header)
        if not m:
            return "malformed", None
        presented = token_sha256(m.group(1))
        found: Caller | None = None
        # Every digest is compared (no early exit), so timing does not tell how many matched.
        for digest, scopes in self.grants().items():
            if hmac.compare_digest(digest, presented):
                found = Caller(client_of(digest, self._names), scopes)
        return (None, found) if found is not None else ("invalid", None)

    def authenticate(self, header: str | None) -> tuple[str | None, frozenset[str]]:
        """(None, the token's scopes) when the token is valid, else (why not, no scopes): why is
        "missing", "malformed" or "invalid"."""
        reason, caller = self.identify(header)
        return reason, caller.scopes if caller is not None else frozenset()

    def check(self, header: str | None) -> str | None:
        """None when the request may pass, else why not: "missing", "malformed" or "invalid"."""
        return self.authenticate(header)[0]

    @staticmethod
    def challenge(reason: str, scope: str | None = None) -> str:
        """The WWW-Authenticate value (RFC 6750 section 3) for a refusal."""
        if reason == "missing":
            return f'Bearer realm="{REALM}"'
        if reason == "insufficient_scope":
            return f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}"'
        error = "invalid_request" if reason == "malformed" else "invalid_token"
        return f'Bearer realm="{REALM}", error="{error}"'
