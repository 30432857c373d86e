"""FHIR client: Retry-After, failure classification, bearer and SMART auth (no server)."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import os
from pathlib import Path
from types import SimpleNamespace

import jwt
import pytest
import requests

from integration.writeback.client import (
    ASSERTION_TYPE,
    AuthConfigError,
    BearerAuth,
    FhirClient,
    SmartBackendAuth,
    WritebackError,
    auth_from_settings,
    check_secret_file,
    parse_retry_after,
)
from tests.fhir_server import make_key


class FakeResponse:
    def __init__(self, status: int, body=None, headers=None) -> None:
        self.status_code = status
        self._body = body
        self.headers = requests.structures.CaseInsensitiveDict(headers or {})

    def json(self):
        if self._body is None:
            raise ValueError("no body")
        return self._body


class FakeSession:
    """Answers requests from a script: a list of FakeResponse or exceptions, consumed in order."""

    def __init__(self, script=None, token_script=None) -> None:
        self.script = list(script or [])
        self.token_script = list(token_script or [])
        self.calls: list[dict] = []
        self.token_calls: list[dict] = []

    def request(self, method, url, **kw):
        self.calls.append({"method": method, "url": url, **kw})
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def post(self, url, data=None, **kw):
        self.token_calls.append({"url": url, "data": data, **kw})
        item = self.token_script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def close(self):
        pass


OO = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid", "diagnostics": "bad"}]}
TX_OK = {"resourceType": "Bundle", "type": "transaction-response", "entry": [{"response": {"status": "201 Created"}}]}
BUNDLE = {"resourceType": "Bundle", "type": "transaction", "entry": [{"request": {"method": "POST", "url": "Device"}}]}


# -- Retry-After ------------------------------------------------------------------------------


def test_retry_after_seconds_and_date() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    now = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    date = email.utils.format_datetime(now + dt.timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(90)
    past = email.utils.format_datetime(now - dt.timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0
    for bad in (None, "", "soon", "-5", "1.5"):
        assert parse_retry_after(bad) is None


# -- classification ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses(status) -> None:
    session = FakeSession([FakeResponse(status, OO, {"Retry-After": "7"})])
    client = FhirClient("http://ehr/fhir", session=session)
    with pytest.raises(WritebackError) as info:
        client.post_transaction(BUNDLE)
    assert info.value.retryable and info.value.status == status
    assert info.value.retry_after == 7.0


@pytest.mark.parametrize("status", [400, 403, 404, 409, 412, 422])
def test_permanent_statuses_carry_outcome(status) -> None:
    session = FakeSession([FakeResponse(status, OO)])
    with pytest.raises(WritebackError) as info:
        FhirClient("http://ehr/fhir", session=session).post_transaction(BUNDLE)
    err = info.value
    assert not err.retryable and err.status == status and err.outcome == OO
    assert err.issue_codes() == ["invalid"]


@pytest.mark.parametrize("exc", [requests.ConnectionError("refused"), requests.Timeout("slow"),
                                 requests.exceptions.ChunkedEncodingError("cut")])
def test_network_errors_are_retryable(exc) -> None:
    with pytest.raises(WritebackError) as info:
        FhirClient("http://ehr/fhir", session=FakeSession([exc])).post_transaction(BUNDLE)
    assert info.value.retryable and info.value.status is None


def test_transaction_posts_fhir_json_and_checks_response() -> None:
    session = FakeSession([FakeResponse(200, TX_OK)])
    client = FhirClient("http://ehr/fhir/", session=session)
    assert client.post_transaction(BUNDLE) == TX_OK
    call = session.calls[0]
    assert call["method"] == "POST" and call["url"] == "http://ehr/fhir"
    assert call["headers"]["Content-Type"] == "application/fhir+json"
    # A 200 that is not a transaction-response (a proxy page): unknown outcome, retry.
    session = FakeSession([FakeResponse(200, {"resourceType": "OperationOutcome"})])
    with pytest.raises(WritebackError) as info:
        FhirClient("http://ehr/fhir", session=session).post_transaction(BUNDLE)
    assert info.value.retryable


def test_search_follows_next_links() -> None:
    page1 = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": {"resourceType": "Observation", "id": "1"}, "search": {"mode": "match"}},
        {"resource": {"resourceType": "OperationOutcome"}, "search": {"mode": "outcome"}}],
        "link": [{"relation": "next", "url": "http://ehr/fhir/Observation?page=2"}]}
    page2 = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": {"resourceType": "Observation", "id": "2"}}]}
    session = FakeSession([FakeResponse(200, page1), FakeResponse(200, page2)])
    out = FhirClient("http://ehr/fhir", session=session).search("Observation", {"code": "x"}, follow=True)
    assert [r["id"] for r in out] == ["1", "2"]
    assert session.calls[1]["url"] == "http://ehr/fhir/Observation?page=2"


# -- secrets on disk --------------------------------------------------------------------------


def test_key_permission_check(tmp_path: Path) -> None:
    key, _ = make_key(tmp_path / "k.pem")
    check_secret_file(key, "key")  # 0600 is fine
    os.chmod(key, 0o640)
    with pytest.raises(AuthConfigError, match="group or others.*chmod 600"):
        check_secret_file(key, "SMART private key file")
    os.chmod(key, 0o604)
    with pytest.raises(AuthConfigError):
        check_secret_file(key, "key")
    with pytest.raises(AuthConfigError, match="not found"):
        check_secret_file(tmp_path / "missing.pem", "key")


def test_smart_refuses_readable_key(tmp_path: Path) -> None:
    key, _ = make_key(tmp_path / "k.pem")
    os.chmod(key, 0o644)
    with pytest.raises(AuthConfigError):
        SmartBackendAuth(client_id="c", token_url="http://as/token", private_key_file=key, key_id="k1",
                         scope="system/*.write")


def test_smart_key_must_match_algorithm(tmp_path: Path) -> None:
    key, _ = make_key(tmp_path / "k.pem", "RS384")
    with pytest.raises(AuthConfigError, match="ES384"):
        SmartBackendAuth(client_id="c", token_url="http://as/token", private_key_file=key, key_id=None,
                         algorithm="ES384", scope="s")


# -- bearer -----------------------------------------------------------------------------------


def test_bearer_from_env_and_file(tmp_path: Path) -> None:
    auth = BearerAuth(token_env="EHR_TOKEN", environ={"EHR_TOKEN": "t0k"})
    assert auth.header() == {"Authorization": "Bearer t0k"}
    with pytest.raises(AuthConfigError, match="EHR_TOKEN"):
        BearerAuth(token_env="EHR_TOKEN", environ={})
    f = tmp_path / "token"
    f.write_text("file-token\n")
    os.chmod(f, 0o600)
    auth = BearerAuth(token_file=f)
    assert auth.header() == {"Authorization": "Bearer file-token"}
    f.write_text("rotated\n")
    assert auth.header(force_refresh=True) == {"Authorization": "Bearer rotated"}
    os.chmod(f, 0o644)
    with pytest.raises(AuthConfigError):
        BearerAuth(token_file=f)
    with pytest.raises(AuthConfigError, match="exactly one"):
        BearerAuth()


def test_auth_from_settings_modes(tmp_path: Path) -> None:
    from integration.settings import EhrAuth

    assert auth_from_settings(EhrAuth()).header() == {}
    with pytest.raises(AuthConfigError, match="client_id"):
        auth_from_settings(EhrAuth(mode="smart"))
    key, _ = make_key(tmp_path / "k.pem")
    auth = auth_from_settings(EhrAuth(mode="smart", client_id="c", token_url="http://as/token",
                                      private_key_file=key, key_id="k1"))
    assert isinstance(auth, SmartBackendAuth)


# -- SMART Backend Services ----------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_smart_assertion_claims(tmp_path: Path, alg: str) -> None:
    key, pub = make_key(tmp_path / "k.pem", alg)
    now = 1_800_000_000
    auth = SmartBackendAuth(client_id="radlite", token_url="https://as.example/token", private_key_file=key,
                            key_id="key-1", algorithm=alg, scope="system/Observation.write", clock=lambda: now)
    a1, a2 = auth.assertion(), auth.assertion()
    from cryptography.hazmat.primitives import serialization

    public = serialization.load_pem_public_key(pub.read_bytes())
    header = jwt.get_unverified_header(a1)
    assert header["alg"] == alg and header["kid"] == "key-1"
    claims = jwt.decode(a1, public, algorithms=[alg], audience="https://as.example/token",
                        options={"verify_exp": False, "verify_iat": False})
    assert claims["iss"] == claims["sub"] == "radlite"
    assert claims["aud"] == "https://as.example/token"
    assert 0 < claims["exp"] - now <= 300
    assert claims["jti"] != jwt.decode(a2, public, algorithms=[alg], audience="https://as.example/token",
                                       options={"verify_exp": False, "verify_iat": False})["jti"]


def _token(value: str, expires_in: int = 300) -> FakeResponse:
    return FakeResponse(200, {"access_token": value, "token_type": "bearer", "expires_in": expires_in})


def test_smart_token_cached_refreshed_and_401_retried(tmp_path: Path) -> None:
    key, _ = make_key(tmp_path / "k.pem")
    clock = SimpleNamespace(t=1_000_000.0)
    session = FakeSession(
        script=[FakeResponse(200, TX_OK), FakeResponse(200, TX_OK), FakeResponse(401, OO), FakeResponse(200, TX_OK),
                FakeResponse(200, TX_OK)],
        token_script=[_token("a"), _token("b"), _token("c")],
    )
    auth = SmartBackendAuth(client_id="radlite", token_url="http://as/token", private_key_file=key, key_id="k",
                            scope="system/*.write", session=session, clock=lambda: clock.t)
    client = FhirClient("http://ehr/fhir", auth, session=session)
    client.post_transaction(BUNDLE)
    client.post_transaction(BUNDLE)  # reuses token "a"
    assert auth.tokens_fetched == 1
    form = session.token_calls[0]["data"]
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == ASSERTION_TYPE
    assert form["scope"] == "system/*.write"
    client.post_transaction(BUNDLE)  # 401 with "a" -> fresh token "b" -> ok
    assert [c["headers"]["Authorization"] for c in session.calls] == [
        "Bearer a", "Bearer a", "Bearer a", "Bearer b"]
    clock.t += 300 - 30  # within the refresh margin of expiry
    client.post_transaction(BUNDLE)
    assert session.calls[-1]["headers"]["Authorization"] == "Bearer c"
    assert auth.tokens_fetched == 3


def test_second_401_is_permanent(tmp_path: Path) -> None:
    key, _ = make_key(tmp_path / "k.pem")
    session = FakeSession(script=[FakeResponse(401, OO), FakeResponse(401, OO)],
                          token_script=[_token("a"), _token("b")])
    auth = SmartBackendAuth(client_id="c", token_url="http://as/token", private_key_file=key, key_id=None,
                            scope="s", session=session)
    with pytest.raises(WritebackError) as info:
        FhirClient("http://ehr/fhir", auth, session=session).post_transaction(BUNDLE)
    assert info.value.status == 401 and not info.value.retryable
    assert len(session.calls) == 2


def test_token_endpoint_failures(tmp_path: Path) -> None:
    key, _ = make_key(tmp_path / "k.pem")
    session = FakeSession(token_script=[
        requests.ConnectionError("down"),
        FakeResponse(503, None, {"Retry-After": "3"}),
        FakeResponse(401, {"error": "invalid_client", "error_description": "who are you"}),
    ])
    auth = SmartBackendAuth(client_id="c", token_url="http://as/token", private_key_file=key, key_id=None,
                            scope="s", session=session)
    client = FhirClient("http://ehr/fhir", auth, session=session)
    for retryable, status in ((True, None), (True, 503), (False, 401)):
        with pytest.raises(WritebackError) as info:
            client.post_transaction(BUNDLE)
        assert info.value.retryable is retryable and info.value.status == status
    assert info.value.outcome["issue"][0]["details"]["text"] == "invalid_client"
    assert "who are you" not in json.dumps(info.value.outcome)


def test_a_gateway_html_page_with_200_is_a_transient_failure() -> None:
    import requests as _requests

    from integration.writeback.client import WritebackError, json_of

    resp = _requests.Response()
    resp.status_code, resp._content = 200, b"<html><body>Scheduled maintenance</body></html>"
    with pytest.raises(WritebackError) as err:
        json_of(resp, "read report version")
    assert err.value.retryable and "not JSON" in err.value.reason
