"""The audit secret rules (integration/audit/secret.py) and the doctor's verdict on them.

Issue 20, item 6: without RADLITE_AUDIT_SECRET every service hashed identifiers with the public
development key, and the placeholder of the example env file was taken as a real secret."""

from __future__ import annotations

import io

import pytest

import integration.audit as audit
from integration.audit import use_service_secret
from integration.audit.secret import (
    DEVELOPMENT_SECRET,
    MIN_SECRET_BYTES,
    AuditKeyError,
    key_problem,
)
from integration.ops.doctor import FAIL, OK, WARN, check_audit
from integration.settings import AuditSettings, Settings

GOOD = "5f0c1e9a7b3d2f8e4a6c0b1d9e7f3a2c5b8d0e1f4a7c9b2d6e3f0a1c8b5d7e9f"  # openssl rand -hex 32
PLACEHOLDER = "change-me-openssl-rand-hex-32"  # deploy/systemd/radlite.env.example


@pytest.fixture(autouse=True)
def _restore_secret(monkeypatch):
    monkeypatch.setattr(audit, "_SECRET", None)  # whatever a test installs is undone after it


@pytest.mark.parametrize("secret, problem", [
    (None, "is not set"),
    (b"", "is not set"),
    (DEVELOPMENT_SECRET, "public development key"),
    (PLACEHOLDER.encode(), "placeholder"),
    (b"CHANGEME-please-0123456789abcdef-0123456789", "placeholder"),
    (b"s", "1 bytes long; at least 32"),
    (b"x" * (MIN_SECRET_BYTES - 1), f"{MIN_SECRET_BYTES - 1} bytes long"),
    (b"ab" * 32, "fewer than 8 different characters"),
])
def test_keys_that_cannot_protect_identifiers(secret, problem) -> None:
    assert problem in key_problem(secret)


@pytest.mark.parametrize("secret", [GOOD.encode(), b"Zq3/9vR+u1Kx0pWm7sYt4bHn2cLe8aGf",  # openssl rand -base64 24
                                    b"correct horse battery staple, radiology!"])
def test_keys_fit_for_production(secret) -> None:
    assert key_problem(secret) is None


def _audit_settings(**values) -> AuditSettings:
    return AuditSettings(file=None, **values)


def test_services_refuse_a_weak_key_in_one_line_naming_the_fix() -> None:
    for environ in ({}, {"RADLITE_AUDIT_SECRET": PLACEHOLDER}, {"RADLITE_AUDIT_SECRET": "hunter2"},
                    {"RADLITE_AUDIT_SECRET": DEVELOPMENT_SECRET.decode()}):
        with pytest.raises(AuditKeyError) as err:
            use_service_secret(_audit_settings(), environ)
        message = str(err.value)
        assert "\n" not in message and message.startswith("refusing to start: the audit HMAC secret")
        assert "RADLITE_AUDIT_SECRET=$(openssl rand -hex 32)" in message
        assert "hunter2" not in message  # never the secret itself
    assert audit._SECRET is None  # nothing was installed


def test_a_secret_file_is_judged_the_same_way(tmp_path) -> None:
    key = tmp_path / "audit-secret"
    key.write_text(PLACEHOLDER + "\n")
    with pytest.raises(AuditKeyError, match=f"audit.secret_file {key}.*placeholder.*openssl rand -hex 32 > {key}"):
        use_service_secret(_audit_settings(secret_file=key), {})
    with pytest.raises(AuditKeyError, match="cannot be read"):
        use_service_secret(_audit_settings(secret_file=tmp_path / "missing"), {})
    key.write_text(GOOD + "\n")
    assert use_service_secret(_audit_settings(secret_file=key), {}) == GOOD.encode()


def test_a_good_key_is_installed_for_hashing() -> None:
    use_service_secret(_audit_settings(), {"RADLITE_AUDIT_SECRET": GOOD})
    assert audit._SECRET == GOOD.encode()
    dev = audit.hash_id("DiagnosticReport/1")
    audit.set_secret(None)
    assert audit.hash_id("DiagnosticReport/1") != dev


def test_development_mode_starts_with_the_development_key() -> None:
    # A stream of the test's own (not capsys's, which is closed after the test: every later test
    # that logs would write into it), and the default configuration back afterwards.
    logs = io.StringIO()
    audit.configure_logging("INFO", logs)
    try:
        assert use_service_secret(_audit_settings(allow_development_key=True), {}) is None
        assert audit._SECRET is None  # hash_id falls back to the development key, as before
    finally:
        audit.configure_logging("INFO")
    err = logs.getvalue()
    assert '"event": "audit.weak_key"' in err and "never in production" in err


# -- doctor ------------------------------------------------------------------------------------


def _doctor(environ, **values):
    return check_audit(Settings(audit=_audit_settings(**values)), environ)


def test_doctor_fails_on_the_development_key_and_the_placeholder() -> None:
    for environ in ({}, {"RADLITE_AUDIT_SECRET": PLACEHOLDER}, {"RADLITE_AUDIT_SECRET": "short"}):
        [finding] = _doctor(environ)
        assert finding.status == FAIL, (environ, finding)
        assert "refuse to start" in finding.detail and "openssl rand -hex 32" in finding.fix
    [finding] = _doctor({"RADLITE_AUDIT_SECRET": GOOD})
    assert finding.status == OK


def test_doctor_warns_in_development_mode() -> None:
    [finding] = _doctor({}, allow_development_key=True)
    assert finding.status == WARN and "allow_development_key" in finding.detail
    assert "remove audit.allow_development_key" in finding.fix
