"""FHIR client for the write-back: transactions, reads, searches; auth; failure classification.

Failures are :class:`WritebackError` with ``retryable`` set:

* retryable -- network errors, timeouts, 408, 429 and 5xx (``retry_after`` from the server's
  Retry-After header, seconds or HTTP-date);
* permanent -- every other 4xx, carrying the server's OperationOutcome when it sent one.

Auth is one of: none; a static bearer token read from an environment variable or a file (never
from the config); or SMART Backend Services (client_credentials with a private_key_jwt assertion
signed RS384/ES384). Tokens are cached until shortly before they expire; a 401 from the FHIR
server is retried once with a fresh token.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import os
import stat
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Mapping

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from integration import monitoring

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FHIR_JSON = "application/fhir+json"
# Assertions live 4 minutes (SMART: exp no more than 5 minutes in the future).
ASSERTION_LIFETIME = 240
# A cached access token is refreshed this many seconds before it expires.
TOKEN_MARGIN = 60


class AuthConfigError(Exception):
    """Outbound auth is misconfigured (missing secret, unsafe key file). Raised at startup."""


class WritebackError(Exception):
    def __init__(
        self,
        reason: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
        outcome: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        self.outcome = outcome

    def issue_codes(self) -> list[str]:
        """The OperationOutcome's issue codes (safe to log: codes, never diagnostics)."""
        issues = (self.outcome or {}).get("issue") or []
        return [str(i.get("code")) for i in issues if isinstance(i, dict) and i.get("code")]


# -- Retry-After and classification ----------------------------------------------------------


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    now = now or dt.datetime.now(dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def is_retryable_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


def _outcome_of(resp: requests.Response) -> dict[str, Any] | None:
    try:
        body = resp.json()
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        return body
    return None


def error_from_response(resp: requests.Response, what: str) -> WritebackError:
    status = resp.status_code
    outcome = _outcome_of(resp)
    if is_retryable_status(status):
        return WritebackError(
            f"{what}: HTTP {status}", retryable=True, status=status,
            retry_after=parse_retry_after(resp.headers.get("Retry-After")), outcome=outcome,
        )
    return WritebackError(f"{what}: HTTP {status}", retryable=False, status=status, outcome=outcome)


# -- secrets on disk ---------------------------------------------------------------------------


def check_secret_file(path: Path, what: str) -> None:
    """Refuse a secret file that is missing or readable by group or others."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise AuthConfigError(f"{what} {path} not found") from None
    if not stat.S_ISREG(st.st_mode):
        raise AuthConfigError(f"{what} {path} is not a regular file")
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuthConfigError(
            f"{what} {path} is accessible by group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"run: chmod 600 {path}"
        )


# -- auth ------------------------------------------------------------------------------------


def json_of(resp: requests.Response, what: str) -> dict[str, Any]:
    """The JSON object a 2xx answer carries; a gateway's HTML page with status 200 is a transient
    failure (retried), not a crash."""
    try:
        body = resp.json()
    except ValueError:
        raise WritebackError(f"{what}: response is not JSON", retryable=True, status=resp.status_code) from None
    if not isinstance(body, dict):
        raise WritebackError(f"{what}: response is not a JSON object", retryable=True, status=resp.status_code)
    return body


class NoAuth:
    def header(self, force_refresh: bool = False) -> dict[str, str]:
        return {}

    def can_refresh(self) -> bool:
        return False


class BearerAuth:
    """A static token from an environment variable or a file (re-read on refresh: rotation)."""

    def __init__(self, token_env: str | None = None, token_file: Path | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        if bool(token_env) == bool(token_file):
            raise AuthConfigError("ehr.auth bearer: set exactly one of token_env or token_file")
        self.token_env, self.token_file = token_env, token_file
        self.environ = os.environ if environ is None else environ
        if token_file is not None:
            check_secret_file(Path(token_file), "bearer token file")
        self._token = self._load()

    def _load(self) -> str:
        if self.token_env:
            token = (self.environ.get(self.token_env) or "").strip()
            if not token:
                raise AuthConfigError(f"ehr.auth bearer: environment variable {self.token_env} is empty or unset")
            return token
        token = Path(self.token_file).read_text(encoding="utf-8").strip()  # type: ignore[arg-type]
        if not token:
            raise AuthConfigError(f"ehr.auth bearer: token file {self.token_file} is empty")
        return token

    def header(self, force_refresh: bool = False) -> dict[str, str]:
        if force_refresh:
            self._token = self._load()
        return {"Authorization": f"Bearer {self._token}"}

    def can_refresh(self) -> bool:
        return self.token_file is not None


class SmartBackendAuth:
    """SMART Backend Services: client_credentials grant authenticated by a signed JWT assertion."""

    def __init__(
        self,
        *,
        client_id: str,
        token_url: str,
        private_key_file: Path,
        key_id: str | None,
        algorithm: str = "RS384",
        scope: str,
        session: requests.Session | None = None,
        timeout: float = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if algorithm not in ("RS384", "ES384"):
            raise AuthConfigError(f"ehr.auth.algorithm must be RS384 or ES384, got {algorithm!r}")
        check_secret_file(Path(private_key_file), "SMART private key file")

        try:
            key = serialization.load_pem_private_key(Path(private_key_file).read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise AuthConfigError(f"SMART private key file {private_key_file} is not an unencrypted PEM private key: {exc}") from None
        if algorithm == "RS384" and not isinstance(key, rsa.RSAPrivateKey):
            raise AuthConfigError("ehr.auth.algorithm RS384 needs an RSA private key")
        if algorithm == "ES384" and not (isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1"):
            raise AuthConfigError("ehr.auth.algorithm ES384 needs a P-384 EC private key")
        self.client_id, self.token_url, self.key_id = client_id, token_url, key_id
        self.algorithm, self.scope, self.timeout = algorithm, scope, timeout
        self._key = key
        self._session = session or requests.Session()
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.tokens_fetched = 0  # for tests and metrics

    def assertion(self) -> str:
        now = int(self._clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.token_url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": uuid.uuid4().hex,
        }
        headers = {"typ": "JWT"}
        if self.key_id:
            headers["kid"] = self.key_id
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers=headers)

    def _fetch(self) -> None:
        data = {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(),
        }
        try:
            resp = self._session.post(self.token_url, data=data, timeout=self.timeout,
                                      headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise WritebackError(f"token endpoint unreachable: {type(exc).__name__}", retryable=True) from None
        if resp.status_code != 200:
            err = error_from_response(resp, "token endpoint")
            try:
                oauth = resp.json()
            except ValueError:
                oauth = {}
            if err.outcome is None and isinstance(oauth, dict) and oauth.get("error"):
                # An OAuth error is not an OperationOutcome; keep its code (never its description).
                err.outcome = {"resourceType": "OperationOutcome", "issue": [
                    {"severity": "error", "code": "security", "details": {"text": str(oauth["error"])}}]}
            raise err
        body = resp.json()
        token = body.get("access_token")
        if not token:
            raise WritebackError("token endpoint: no access_token in response", retryable=False, status=200)
        expires_in = float(body.get("expires_in") or 300)
        self._token = token
        self._expires_at = self._clock() + expires_in
        self.tokens_fetched += 1

    def header(self, force_refresh: bool = False) -> dict[str, str]:
        with self._lock:
            if force_refresh or self._token is None or self._clock() >= self._expires_at - TOKEN_MARGIN:
                self._fetch()
            return {"Authorization": f"Bearer {self._token}"}

    def can_refresh(self) -> bool:
        return True


def auth_from_settings(auth, *, session: requests.Session | None = None, timeout: float = 30,
                       environ: Mapping[str, str] | None = None):
    """Build the auth for ``settings.ehr.auth`` (integration.settings.EhrAuth)."""
    if auth.mode == "none":
        return NoAuth()
    if auth.mode == "bearer":
        return BearerAuth(auth.token_env, auth.token_file, environ=environ)
    missing = [k for k in ("client_id", "token_url", "private_key_file") if not getattr(auth, k)]
    if missing:
        raise AuthConfigError(f"ehr.auth smart: missing {', '.join('ehr.auth.' + k for k in missing)}")
    return SmartBackendAuth(
        client_id=auth.client_id, token_url=auth.token_url, private_key_file=Path(auth.private_key_file),
        key_id=auth.key_id, algorithm=auth.algorithm, scope=auth.scope, session=session, timeout=timeout,
    )


# -- the client ------------------------------------------------------------------------------


class FhirClient:
    def __init__(self, base_url: str, auth=None, *, timeout: float = 30,
                 session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth or NoAuth()
        self.timeout = timeout
        self.session = session or requests.Session()

    @classmethod
    def from_settings(cls, ehr) -> "FhirClient":
        session = requests.Session()
        auth = auth_from_settings(ehr.auth, session=session, timeout=ehr.timeout_seconds)
        return cls(ehr.base_url, auth, timeout=ehr.timeout_seconds, session=session)

    def close(self) -> None:
        self.session.close()

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url if not path else f"{self.base_url}/{path.lstrip('/')}"

    def request(self, method: str, path: str, *, what: str, json_body: Any = None,
                params: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
        """One request with auth; a 401 is retried once with a fresh token. Raises WritebackError
        for every failure; returns only 2xx (and 304) responses."""
        url = self._url(path)
        base_headers = {"Accept": FHIR_JSON}
        if json_body is not None:
            base_headers["Content-Type"] = FHIR_JSON
        base_headers.update(headers or {})
        refreshed = False
        while True:
            h = dict(base_headers)
            h.update(self.auth.header(force_refresh=refreshed))
            try:
                resp = self.session.request(method, url, json=json_body, params=params, headers=h,
                                            timeout=self.timeout)
            except requests.Timeout:
                monitoring.EHR_CLIENT.record(answered=False)
                raise WritebackError(f"{what}: timeout", retryable=True) from None
            except requests.RequestException as exc:
                monitoring.EHR_CLIENT.record(answered=False)
                raise WritebackError(f"{what}: {type(exc).__name__}", retryable=True) from None
            monitoring.EHR_CLIENT.record(answered=resp.status_code < 500 and resp.status_code != 429)
            if resp.status_code == 401 and not refreshed and self.auth.can_refresh():
                refreshed = True
                continue
            if resp.status_code >= 400:
                raise error_from_response(resp, what)
            return resp

    def post_transaction(self, bundle: dict[str, Any]) -> dict[str, Any]:
        resp = self.request("POST", "", what="transaction", json_body=bundle)
        try:
            body = resp.json()
        except ValueError:
            raise WritebackError("transaction: response is not JSON", retryable=True, status=resp.status_code) from None
        if not (isinstance(body, dict) and body.get("resourceType") == "Bundle"
                and body.get("type") == "transaction-response"):
            # A proxy answering 200 with something else: the commit state is unknown; retrying is
            # safe because every create is conditional.
            raise WritebackError("transaction: response is not a transaction-response Bundle",
                                 retryable=True, status=resp.status_code)
        entries = body.get("entry") or []
        if len(entries) != len(bundle.get("entry") or []):
            raise WritebackError("transaction: response entry count differs from the request",
                                 retryable=True, status=resp.status_code)
        return body

    def read(self, resource_type: str, resource_id: str) -> tuple[dict[str, Any], str | None]:
        """(resource, ETag) of the current version."""
        what = f"read {resource_type}"
        resp = self.request("GET", f"{resource_type}/{resource_id}", what=what)
        return json_of(resp, what), resp.headers.get("ETag")

    def get_json(self, path: str, *, what: str) -> dict[str, Any]:
        """A GET whose answer must be a JSON object (e.g. ``DiagnosticReport/1/_history/2``)."""
        return json_of(self.request("GET", path, what=what), what)

    def search(self, resource_type: str, params: Mapping[str, Any] | list[tuple[str, str]] | None = None,
               *, follow: bool = False, max_pages: int = 100) -> list[dict[str, Any]]:
        """Matching resources (search mode 'match'); ``follow`` walks the 'next' links."""
        resp = self.request("GET", resource_type, what=f"search {resource_type}", params=params)
        out: list[dict[str, Any]] = []
        for _ in range(max_pages):
            bundle = resp.json()
            for e in bundle.get("entry") or []:
                if (e.get("search") or {}).get("mode", "match") == "match" and e.get("resource"):
                    out.append(e["resource"])
            nxt = next((link.get("url") for link in bundle.get("link") or [] if link.get("relation") == "next"), None)
            if not (follow and nxt):
                break
            resp = self.request("GET", nxt, what=f"search {resource_type}")
        return out
