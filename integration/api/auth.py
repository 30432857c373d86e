"""Inbound authentication: ``Authorization: Bearer <token>`` whose SHA-256 is configured.

Only digests are configured (``intake.auth.token_sha256`` and/or one per line in
``intake.auth.token_sha256_file``, re-read when the file changes so tokens rotate without a
restart). The presented token's digest is compared with every configured digest by
:func:`hmac.compare_digest`. ``mode: open`` turns authentication off for local development.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
from pathlib import Path

from integration.audit import get_logger
from integration.settings import IntakeAuth, SettingsError

log = get_logger("radlite.auth")

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
# RFC 6750 b64token
_BEARER = re.compile(r"^Bearer +([A-Za-z0-9\-._~+/]+=*) *$", re.IGNORECASE)
REALM = "radlite"


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _digests(values, where: str) -> frozenset[str]:
    out = set()
    for n, raw in enumerate(values, 1):
        value = str(raw).strip().lower()
        if not value or value.startswith("#"):
            continue
        if not _DIGEST.match(value):
            raise SettingsError(f"{where}: entry {n} is not a sha256 hex digest (64 hex characters)")
        out.add(value)
    return frozenset(out)


class TokenAuth:
    def __init__(self, settings: IntakeAuth) -> None:
        self.mode = settings.mode
        self._static = _digests(settings.token_sha256, "intake.auth.token_sha256")
        self._file: Path | None = settings.token_sha256_file
        self._file_digests: frozenset[str] = frozenset()
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
            if self._file_digests:
                log.warning("auth.token_file_missing")
            self._file_digests, self._file_mtime = frozenset(), None  # fail closed
            return
        if mtime == self._file_mtime:
            return
        digests = _digests(self._file.read_text(encoding="utf-8").splitlines(), str(self._file))
        self._file_digests, self._file_mtime = digests, mtime

    def digests(self) -> frozenset[str]:
        if self._file is not None:
            with self._lock:
                try:
                    self._reload()
                except SettingsError:
                    log.warning("auth.token_file_invalid")  # keep the last good list
        return self._static | self._file_digests

    def check(self, header: str | None) -> str | None:
        """None when the request may pass, else why not: "missing", "malformed" or "invalid"."""
        if self.open:
            return None
        if not header:
            return "missing"
        m = _BEARER.match(header)
        if not m:
            return "malformed"
        presented = token_sha256(m.group(1))
        ok = False
        for digest in self.digests():
            ok |= hmac.compare_digest(digest, presented)
        return None if ok else "invalid"

    @staticmethod
    def challenge(reason: str) -> str:
        if reason == "missing":
            return f'Bearer realm="{REALM}"'
        error = "invalid_request" if reason == "malformed" else "invalid_token"
        return f'Bearer realm="{REALM}", error="{error}"'
