"""/healthz, /readyz and /metrics; the metrics recorded by worker, write-back and intake."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY
from sqlalchemy import text

from integration import monitoring
from integration.inference.router import Router
from integration.inference.worker import Worker
from integration.intake.http.app import create_app
from integration.intake.http.health import Check, ehr_reachable, readiness
from integration.samples import sample_diagnostic_reports
from integration.settings import load_settings
from integration.store import JobStore, State
from tests.unit.stub_http import StubServer, closed_port_url

ROOT = Path(__file__).resolve().parents[2]
FHIR = "application/fhir+json"


def _settings(tmp_path: Path, bundle: Path | str, fhir_base: str, **sections):
    site = {
        "inference": {"bundles": {"tiny": str(bundle)}, "default_bundle": "tiny", "threads": 1},
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "ehr": {"base_url": fhir_base},
        "routing": {"rules": [], "default_tasks": ["n_staging", "m_staging"]},
        "audit": {"file": None},
    }
    for name, values in sections.items():
        site.setdefault(name, {}).update(values)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site), encoding="utf-8")
    return load_settings(path, environ={})


def _sample(value: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(value, labels) or 0.0


@pytest.fixture()
def fhir():
    with StubServer() as server:
        yield server


ADMIN = "health-admin-token"
ADMIN_AUTH = {"mode": "token", "token_sha256": [hashlib.sha256(ADMIN.encode()).hexdigest()]}
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}


def test_healthz_and_readyz_ready(tmp_path, tiny_qwen2, fhir) -> None:
    settings = _settings(tmp_path, tiny_qwen2, fhir.base)
    store = JobStore(settings.store.url)
    client = create_app(settings, store).test_client()  # token auth, no tokens: probes need none
    assert client.get("/healthz").status_code == 200
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json() == {"status": "ready"}
    # The web process's readiness is its store: the EHR is not asked (its health is on /metrics).
    assert fhir.requests == []
    # Everything else still needs the token.
    assert client.get("/jobs/" + "0" * 32).status_code == 401


def test_readyz_names_what_failed_to_an_admin(tmp_path) -> None:
    settings = _settings(tmp_path, tmp_path / "no-such-bundle", closed_port_url(), intake={"auth": ADMIN_AUTH})
    store = JobStore(settings.store.url)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    client = create_app(settings, store).test_client()
    resp = client.get("/readyz")
    assert resp.status_code == 503 and resp.get_json() == {"status": "not ready"}
    resp = client.get("/readyz", headers=AS_ADMIN)
    assert resp.status_code == 503
    (check,) = resp.get_json()["checks"]
    assert check["name"] == "store" and not check["ok"] and "radlite db upgrade" in check["detail"]


def test_readyz_ignores_what_the_web_process_does_not_need(tmp_path, tiny_qwen2) -> None:
    """A half-built model bundle (the workers' business) and an EHR answering 500 (the write-back
    retries; the intake queues meanwhile) leave the web process ready; a broken store does not."""
    import shutil

    half = tmp_path / "half"
    shutil.copytree(tiny_qwen2, half)
    (half / "model" / "model.bin").unlink()
    with StubServer({("GET", "/fhir/metadata"): (500, {})}) as fhir:
        settings = _settings(tmp_path, half, fhir.base, intake={"auth": ADMIN_AUTH})
        store = JobStore(settings.store.url)
        client = create_app(settings, store).test_client()
        assert client.get("/readyz").status_code == 200
        with store.engine.begin() as conn:
            conn.execute(text("DROP TABLE jobs"))
        resp = client.get("/readyz", headers=AS_ADMIN)
        assert fhir.requests == []
    assert resp.status_code == 503
    assert [c["detail"].split(":")[0] for c in resp.get_json()["checks"]] == ["store"]
    assert resp.get_json()["checks"][0]["detail"].startswith("store: OperationalError")


def test_ehr_metadata_behind_auth_counts_as_up(tmp_path, tiny_qwen2) -> None:
    with StubServer({("GET", "/fhir/metadata"): (401, {})}) as fhir:
        settings = _settings(tmp_path, tiny_qwen2, fhir.base)
        assert ehr_reachable(settings)
        body = create_app(settings, JobStore(settings.store.url)).test_client().get("/metrics").get_data(as_text=True)
    assert "radlite_ehr_up 1.0" in body
    with StubServer({("GET", "/fhir/metadata"): (500, {})}) as fhir:
        assert not ehr_reachable(_settings(tmp_path, tiny_qwen2, fhir.base))


def test_cached_probe_runs_at_most_every_interval() -> None:
    now = [100.0]
    calls: list[float] = []

    def probe() -> bool:
        calls.append(now[0])
        if len(calls) == 3:
            raise RuntimeError("EHR gone")
        return True

    collector = monitoring.CachedProbeCollector("ehr", "help", probe, interval=30, clock=lambda: now[0])

    def scrape() -> dict[str, float]:
        return {m.name: m.samples[0].value for m in collector.collect()}

    assert scrape() == {"radlite_ehr_up": 1, "radlite_ehr_probe_age_seconds": 0}
    now[0] += 29
    assert scrape() == {"radlite_ehr_up": 1, "radlite_ehr_probe_age_seconds": 29}
    now[0] += 1
    assert scrape()["radlite_ehr_up"] == 1 and len(calls) == 2
    now[0] += 30
    assert scrape() == {"radlite_ehr_up": 0, "radlite_ehr_probe_age_seconds": 0}  # a probe that raises: down
    assert calls == [100.0, 130.0, 160.0]


def test_readiness_bounds_each_check() -> None:
    started = time.monotonic()
    out = readiness({"slow": lambda: time.sleep(2) or Check("slow", True, "late"),
                     "boom": lambda: 1 / 0,
                     "fine": lambda: Check("fine", True, "fine: ok")}, timeout=0.3)
    assert time.monotonic() - started < 1.5
    by = {c.name: c for c in out}
    assert not by["slow"].ok and "no answer within 0.3 s" in by["slow"].detail
    assert not by["boom"].ok and "ZeroDivisionError" in by["boom"].detail
    assert by["fine"].ok


def test_metrics_endpoint_queue_gauges_and_intake_latency(tmp_path, tiny_qwen2) -> None:
    settings = _settings(tmp_path, tiny_qwen2, closed_port_url(), intake={"auth": {"mode": "open"}})
    store = JobStore(settings.store.url)
    client = create_app(settings, store).test_client()
    before = _sample("radlite_intake_request_seconds_count", endpoint="fhir.post_report", code="202")
    for report in sample_diagnostic_reports()[:3]:
        assert client.post("/fhir/DiagnosticReport", json=report, headers={"Content-Type": FHIR}).status_code == 202
    assert client.post("/fhir/DiagnosticReport", data="{", headers={"Content-Type": FHIR}).status_code == 400
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.content_type.startswith("text/plain")
    body = resp.get_data(as_text=True)
    assert 'radlite_jobs{state="received"} 3.0' in body
    assert 'radlite_jobs{state="failed"} 0.0' in body and "radlite_dead_letters 0.0" in body
    assert "radlite_store_up 1.0" in body
    assert _sample("radlite_intake_request_seconds_count", endpoint="fhir.post_report", code="202") == before + 3
    assert _sample("radlite_intake_request_seconds_count", endpoint="fhir.post_report", code="400") >= 1
    # Probes and scrapes are not intake.
    assert 'endpoint="metrics.metrics_view"' not in body and 'endpoint="health.healthz"' not in body


def test_metrics_when_the_store_is_down() -> None:
    def broken():
        raise RuntimeError("database gone")

    body = monitoring.render(broken).decode()
    assert "radlite_store_up 0.0" in body and "radlite_jobs{" not in body


def test_worker_records_inference_time_tokens_and_dead_letters(tmp_path, tiny_qwen2) -> None:
    settings = _settings(tmp_path, tiny_qwen2, closed_port_url())
    store = JobStore(settings.store.url)
    for report in sample_diagnostic_reports()[:2]:
        store.submit(copy.deepcopy(report))
    n_before = _sample("radlite_inference_seconds_count", task="n_staging", mode="score")
    tok_before = _sample("radlite_inference_tokens_total", task="m_staging", kind="prompt")
    worker = Worker(settings, store, Router.from_settings(settings.inference), owner="w-metrics")
    assert worker.run_once() == 2
    assert _sample("radlite_inference_seconds_count", task="n_staging", mode="score") == n_before + 2
    assert _sample("radlite_inference_tokens_total", task="m_staging", kind="prompt") > tok_before

    dl_before = _sample("radlite_dead_lettered_total", stage="inference")
    bad = copy.deepcopy(sample_diagnostic_reports()[3])
    bad["id"] = "bad-one"
    store.submit(bad)
    job = store.claim_for_inference("w-metrics", 10, 60)[0]
    worker._fail(job, "cannot prepare report: test")
    assert _sample("radlite_dead_lettered_total", stage="inference") == dl_before + 1


def test_store_counts_jobs_given_up_after_max_attempts(tmp_path) -> None:
    store = JobStore(f"sqlite:///{tmp_path / 'j.sqlite'}", max_inference_attempts=1)
    store.submit(copy.deepcopy(sample_diagnostic_reports()[0]))
    before = _sample("radlite_dead_lettered_total", stage="inference")
    assert len(store.claim_for_inference("a", 5, 0.0)) == 1
    time.sleep(0.01)
    assert store.claim_for_inference("b", 5, 60) == []  # lease lost once: given up
    assert store.jobs(State.FAILED)
    assert _sample("radlite_dead_lettered_total", stage="inference") == before + 1


def test_writeback_round_counts_outcomes(tmp_path, monkeypatch) -> None:
    from integration.writeback.runner import Counts, write_due

    before = {o: _sample("radlite_writeback_total", outcome=o) for o in monitoring.WRITEBACK_OUTCOMES}
    dl_before = _sample("radlite_dead_lettered_total", stage="writeback")
    monitoring.writeback_counts(Counts(claimed=6, written=3, retried=1, dead_lettered=2))
    assert _sample("radlite_writeback_total", outcome="written") == before["written"] + 3
    assert _sample("radlite_writeback_total", outcome="retried") == before["retried"] + 1
    assert _sample("radlite_writeback_total", outcome="dead_lettered") == before["dead_lettered"] + 2
    assert _sample("radlite_dead_lettered_total", stage="writeback") == dl_before + 2

    seen = []
    monkeypatch.setattr(monitoring, "writeback_counts", seen.append)
    store = JobStore(f"sqlite:///{tmp_path / 'w.sqlite'}")
    write_due(store, object(), object(), "s", type("S", (), {"batch_size": 5, "lease_seconds": 5})())
    assert len(seen) == 1 and seen[0].claimed == 0


def test_probes_are_not_audited(tmp_path, tiny_qwen2) -> None:
    from integration.audit import configure_audit_file

    settings = _settings(tmp_path, tiny_qwen2, closed_port_url(), intake={"auth": {"mode": "open"}})
    client = create_app(settings, JobStore(settings.store.url)).test_client()
    audit_file = tmp_path / "audit.jsonl"
    configure_audit_file(audit_file)
    try:
        client.get("/healthz")
        client.get("/metrics")
        client.post("/fhir/DiagnosticReport", json=sample_diagnostic_reports()[0], headers={"Content-Type": FHIR})
    finally:
        configure_audit_file(None)
    routes = [json.loads(line).get("route") for line in audit_file.read_text().splitlines()
              if json.loads(line)["event"] == "request.received"]
    assert routes == ["/fhir/DiagnosticReport"]


@pytest.mark.parametrize("value,expected", [
    ("9101", ("0.0.0.0", 9101)), ("127.0.0.1:9102", ("127.0.0.1", 9102)), ("[::1]:9103", ("::1", 9103)),
    ("", None), (None, None), ("0", None),
])
def test_parse_listen(value, expected) -> None:
    assert monitoring.parse_listen(value) == expected


@pytest.mark.parametrize("value", ["x", "1:2:x", "70000"])
def test_parse_listen_rejects(value) -> None:
    with pytest.raises(ValueError):
        monitoring.parse_listen(value)


def test_multiprocess_mode_sums_processes(tmp_path) -> None:
    """Under gunicorn every worker process writes its counters to PROMETHEUS_MULTIPROC_DIR; the
    /metrics of any of them reports the sum."""
    mp = tmp_path / "mp"
    mp.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(mp), "PATH": "/usr/bin:/bin"}
    bump = ("from integration import monitoring; "
            "monitoring.INTAKE_SECONDS.labels('fhir.post_report', '202').observe(0.01); "
            "monitoring.writeback_counts(type('C', (), {'written': 2})())")
    for _ in range(2):
        subprocess.run([sys.executable, "-c", bump], cwd=ROOT, env=env, check=True, timeout=60)
    out = subprocess.run([sys.executable, "-c", "from integration import monitoring; print(monitoring.render().decode())"],
                         cwd=ROOT, env=env, check=True, timeout=60, capture_output=True, text=True).stdout
    assert 'radlite_writeback_total{outcome="written"} 4.0' in out
    assert 'radlite_intake_request_seconds_count{code="202",endpoint="fhir.post_report"} 2.0' in out
