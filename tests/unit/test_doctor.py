"""`radlite doctor`: each check passing, each failing with its fix, the exit status, --json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import text

from integration.ops.cli import cli
from integration.ops.doctor import FAIL, OK, SKIP, WARN, render, run_checks
from integration.store import JobStore
from integration.store.database import make_engine
from integration.store.migrations import HEAD
from tests.fhir_server import make_key
from tests.unit.stub_http import StubServer, closed_port_url

ROOT = Path(__file__).resolve().parents[2]
ENV = {"RADLITE_AUDIT_SECRET": "doctor-test-audit-secret-0123456789abcdef"}


def _site(tmp_path: Path, bundle: Path | str, fhir_base: str, **sections) -> Path:
    site = {
        "inference": {"bundles": {"tiny": str(bundle)}, "default_bundle": "tiny"},
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "ehr": {"base_url": fhir_base, "timeout_seconds": 5},
        "routing": {"rules": [], "default_tasks": ["n_staging", "m_staging"]},
        "audit": {"file": str(tmp_path / "audit.jsonl")},
    }
    for name, values in sections.items():
        if isinstance(values, dict):
            site.setdefault(name, {}).update(values)
        else:
            site[name] = values
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site), encoding="utf-8")
    return path


def _by(findings) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in findings:
        out.setdefault(f.check, []).append(f)
    return out


def _status(findings, check: str) -> set[str]:
    return {f.status for f in _by(findings)[check]}


@pytest.fixture()
def fhir():
    with StubServer() as server:
        server.routes[("GET", "/fhir/Observation")] = (200, {"resourceType": "Bundle", "type": "searchset", "total": 0})
        yield server


def test_everything_passes(tmp_path, tiny_qwen2, fhir) -> None:
    site = _site(tmp_path, tiny_qwen2, fhir.base)
    JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite'}").close()
    findings = run_checks(str(site), ENV)
    by = _by(findings)
    assert list(by) == ["config", "mappings", "bundles", "database", "audit", "fhir", "auth"]
    assert _status(findings, "bundles") == {OK, SKIP}  # radlite-mini (from default.yaml) is unused
    assert all(f.status in (OK, SKIP) for f in findings), render(findings)
    report = render(findings)
    assert "all checks passed." in report and "[ ok ] database" in report and "stub FHIR, FHIR 4.0.1" in report


def test_cli_exit_status_and_json(tmp_path, tiny_qwen2, fhir, monkeypatch) -> None:
    monkeypatch.setenv("RADLITE_AUDIT_SECRET", ENV["RADLITE_AUDIT_SECRET"])
    site = _site(tmp_path, tiny_qwen2, fhir.base)
    runner = CliRunner()
    ok = runner.invoke(cli, ["--config", str(site), "doctor"], obj={})
    assert ok.exit_code == 0, ok.output
    assert "radlite doctor" in ok.output and "all checks passed" in ok.output
    bad = _site(tmp_path, tmp_path / "nope", fhir.base)
    r = runner.invoke(cli, ["--config", str(bad), "doctor", "--json"], obj={})
    assert r.exit_code == 1
    found = json.loads(r.output)
    failed = [f for f in found if f["status"] == FAIL]
    assert [f["check"] for f in failed] == ["bundles"] and "radlite model build" in failed[0]["fix"]


def test_broken_settings_fail_and_the_rest_is_skipped(tmp_path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({"worker": {"batch_sise": 4}}))
    findings = run_checks(str(site), ENV)
    assert findings[0].check == "config" and findings[0].status == FAIL
    assert "worker.batch_sise" in findings[0].detail and "config/default.yaml" in findings[0].fix
    assert {f.status for f in findings[1:]} == {SKIP}
    assert "[FAIL] config" in render(findings) and "fix: " in render(findings)


def test_settings_that_do_not_fit_together(tmp_path, tiny_qwen2, fhir) -> None:
    site = _site(tmp_path, tiny_qwen2, fhir.base, routing={"default_tasks": ["radiology_qa"]})
    findings = run_checks(str(site), ENV)
    assert findings[0].status == FAIL and "radiology_qa" in findings[0].detail
    assert _status(findings, "mappings") == {OK}  # the other checks still run


def test_broken_mappings(tmp_path, tiny_qwen2, fhir) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    victim = sorted(mappings.glob("*.yaml"))[0]
    victim.write_text(victim.read_text() + "\n  : : not yaml [\n")
    site = _site(tmp_path, tiny_qwen2, fhir.base, writeback={"mappings_dir": str(mappings)})
    f = _by(run_checks(str(site), ENV))["mappings"][0]
    assert f.status == FAIL and victim.name in f.detail and "radlite mappings validate" in f.fix


def test_bundle_problems(tmp_path, tiny_qwen2, fhir) -> None:
    changed = tmp_path / "changed"
    shutil.copytree(tiny_qwen2, changed)
    with open(changed / "model" / "model.bin", "ab") as fh:
        fh.write(b"x")
    site = _site(tmp_path, changed, fhir.base)
    f = [x for x in _by(run_checks(str(site), ENV))["bundles"] if x.status == FAIL][0]
    assert "does not match the manifest" in f.detail and "rebuild" in f.fix

    narrow = tmp_path / "narrow"
    shutil.copytree(tiny_qwen2, narrow)
    manifest = json.loads((narrow / "radlite.json").read_text())
    manifest["tasks"] = ["n_staging"]
    (narrow / "radlite.json").write_text(json.dumps(manifest))
    site = _site(tmp_path, narrow, fhir.base)
    fails = [x for x in _by(run_checks(str(site), ENV))["bundles"] if x.status == FAIL]
    assert len(fails) == 1 and "m_staging" in fails[0].detail and "inference.routes.m_staging" in fails[0].fix


def test_database_checks(tmp_path, tiny_qwen2, fhir) -> None:
    site = _site(tmp_path, tiny_qwen2, fhir.base)
    f = _by(run_checks(str(site), ENV))["database"][0]
    assert f.status == OK and "not created yet" in f.detail
    assert not (tmp_path / "jobs.sqlite").exists()  # the doctor writes nothing

    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    JobStore(url).close()
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    f = _by(run_checks(str(site), ENV))["database"][0]
    assert f.status == FAIL and "radlite db upgrade" in f.fix
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE alembic_version SET version_num = '{HEAD}'"))
        conn.execute(text("DROP INDEX ix_jobs_state_due"))
    engine.dispose()
    f = _by(run_checks(str(site), ENV))["database"][0]
    assert f.status == FAIL and "ix_jobs_state_due" in f.detail

    pg = _site(tmp_path, tiny_qwen2, fhir.base, store={"url": "postgresql+psycopg://u:pw@127.0.0.1:1/x"})
    f = _by(run_checks(str(pg), ENV))["database"][0]
    assert f.status == FAIL and "cannot connect" in f.detail and "pw" not in f.detail.replace("psycopg", "")
    assert "PGPASSWORD" in f.fix


def test_audit_secret(tmp_path, tiny_qwen2, fhir) -> None:
    site = _site(tmp_path, tiny_qwen2, fhir.base)
    f = _by(run_checks(str(site), {}))["audit"][0]
    assert f.status == FAIL and "RADLITE_AUDIT_SECRET" in f.fix and "openssl rand -hex 32" in f.fix
    site = _site(tmp_path, tiny_qwen2, fhir.base, audit={"secret_file": str(tmp_path / "missing")})
    f = _by(run_checks(str(site), {}))["audit"][0]
    assert f.status == FAIL and "openssl rand" in f.fix


def test_fhir_server_problems(tmp_path, tiny_qwen2) -> None:
    findings = run_checks(str(_site(tmp_path, tiny_qwen2, closed_port_url())), ENV)
    assert _by(findings)["fhir"][0].status == FAIL and "unreachable" in _by(findings)["fhir"][0].detail
    assert _by(findings)["auth"][0].status == SKIP
    with StubServer({("GET", "/fhir/metadata"): (404, {})}) as s:
        f = _by(run_checks(str(_site(tmp_path, tiny_qwen2, s.base)), ENV))["fhir"][0]
    assert f.status == FAIL and "FHIR base" in f.fix
    dstu3 = {"resourceType": "CapabilityStatement", "fhirVersion": "3.0.2", "rest": [{"interaction": [{"code": "read"}]}]}
    with StubServer({("GET", "/fhir/metadata"): (200, dstu3)}) as s:
        fs = _by(run_checks(str(_site(tmp_path, tiny_qwen2, s.base)), ENV))["fhir"]
    assert [f.status for f in fs] == [WARN, WARN, OK]
    assert "3.0.2" in fs[0].detail and "transaction" in fs[1].detail and "checked against the EHR" in fs[2].detail


def test_report_check_needs_vread_or_a_warning(tmp_path, tiny_qwen2) -> None:
    no_vread = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "rest": [{
        "interaction": [{"code": "transaction"}],
        "resource": [{"type": "DiagnosticReport", "interaction": [{"code": "read"}]}]}]}
    with StubServer({("GET", "/fhir/metadata"): (200, no_vread)}) as s:
        fs = _by(run_checks(str(_site(tmp_path, tiny_qwen2, s.base)), ENV))["fhir"]
        assert [f.status for f in fs] == [WARN] and "vread" in fs[0].detail and "current" in fs[0].fix
        current = _site(tmp_path, tiny_qwen2, s.base, writeback={"verify_report": "current"})
        assert [f.status for f in _by(run_checks(str(current), ENV))["fhir"]] == [OK, OK]
        off = _site(tmp_path, tiny_qwen2, s.base, writeback={"verify_report": "off"})
        fs = _by(run_checks(str(off), ENV))["fhir"]
        assert [f.status for f in fs] == [WARN] and "any chart" in fs[0].detail


def test_bearer_auth(tmp_path, tiny_qwen2, fhir) -> None:
    site = _site(tmp_path, tiny_qwen2, fhir.base, ehr={"auth": {"mode": "bearer", "token_env": "EHR_TOKEN"}})
    f = _by(run_checks(str(site), ENV))["auth"][0]
    assert f.status == FAIL and "EHR_TOKEN" in f.detail
    findings = run_checks(str(site), {**ENV, "EHR_TOKEN": "t0ken"})
    assert _by(findings)["auth"][0].status == OK
    assert fhir.requests[-1][2].get("Authorization") == "Bearer t0ken"
    fhir.routes[("GET", "/fhir/Observation")] = (403, {"resourceType": "OperationOutcome", "issue": []})
    f = _by(run_checks(str(site), {**ENV, "EHR_TOKEN": "t0ken"}))["auth"][0]
    assert f.status == FAIL and "scopes" in f.fix


def test_smart_token_fetch(tmp_path, tiny_qwen2, fhir, monkeypatch) -> None:
    key, _pub = make_key(tmp_path / "keys" / "client.pem")
    token_url = fhir.base.replace("/fhir", "/token")
    site = _site(tmp_path, tiny_qwen2, fhir.base, ehr={"auth": {
        "mode": "smart", "client_id": "radlite", "token_url": token_url, "private_key_file": str(key), "key_id": "k1"}})
    fhir.routes[("POST", "/token")] = (400, {"error": "invalid_client"})
    f = _by(run_checks(str(site), ENV))["auth"][0]
    assert f.status == FAIL and "invalid_client" in f.detail and "JWKS" in f.fix
    fhir.routes[("POST", "/token")] = (200, {"access_token": "abc", "token_type": "bearer", "expires_in": 300})
    fs = _by(run_checks(str(site), ENV))["auth"]
    assert [f.status for f in fs] == [OK, OK], fs
    assert "SMART token fetched" in fs[0].detail
    posted = [r for r in fhir.requests if r[0] == "POST"][-1][3].decode()
    assert "client_assertion_type" in posted and "grant_type=client_credentials" in posted
