"""The production web server for real: gunicorn with deploy/gunicorn.conf.py and integration.wsgi:app,
two worker processes sharing their Prometheus counters, probes, an authenticated push, SIGTERM."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from integration.samples import sample_diagnostic_reports
from tests.unit.stub_http import StubServer

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "gunicorn-test-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_gunicorn_serves_probes_intake_and_shared_metrics(tmp_path, tiny_qwen2) -> None:
    pytest.importorskip("gunicorn")
    port = _free_port()
    with StubServer() as fhir:
        site = tmp_path / "site.yaml"
        site.write_text(yaml.safe_dump({
            "inference": {"bundles": {"tiny": str(tiny_qwen2)}, "default_bundle": "tiny"},
            "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
            "intake": {"auth": {"mode": "token", "token_sha256": [hashlib.sha256(TOKEN.encode()).hexdigest()]}},
            "ehr": {"base_url": fhir.base},
            "audit": {"file": str(tmp_path / "audit.jsonl")},
        }))
        mp = tmp_path / "metrics"
        mp.mkdir()
        (mp / "counter_stale.db").write_bytes(b"")  # a previous run's file: wiped at start
        env = {k: v for k, v in os.environ.items() if not k.startswith("RADLITE")}
        env.update({"RADLITE_CONFIG": str(site), "RADLITE_AUDIT_SECRET": "gunicorn-test-audit-secret-0123456789abcdef", "RADLITE_BIND": f"127.0.0.1:{port}",
                    "WEB_CONCURRENCY": "2", "PROMETHEUS_MULTIPROC_DIR": str(mp)})
        log = open(tmp_path / "gunicorn.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
                                 "integration.wsgi:app"], cwd=ROOT, env=env, stdout=log, stderr=log,
                                start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if requests.get(base + "/healthz", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()[-3000:]
                time.sleep(0.2)
            assert not (mp / "counter_stale.db").exists()
            ready = requests.get(base + "/readyz", timeout=10)
            assert ready.status_code == 200, ready.text
            assert ready.json() == {"status": "ready"}  # details only for an admin token

            headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"}
            for report in sample_diagnostic_reports()[:4]:
                r = requests.post(base + "/fhir/DiagnosticReport", json=report, headers=headers, timeout=10)
                assert r.status_code == 202, r.text
            assert requests.post(base + "/fhir/DiagnosticReport", json={}, timeout=10).status_code == 401

            # Scrape a few times: whichever worker answers, the counts are the sum over both.
            for _ in range(4):
                body = requests.get(base + "/metrics", timeout=10).text
                assert 'radlite_jobs{state="received"} 4.0' in body
                assert 'radlite_intake_request_seconds_count{code="202",endpoint="fhir.post_report"} 4.0' in body
            assert "request.received" in (tmp_path / "audit.jsonl").read_text()
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                rc = proc.wait(timeout=40)
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                log.close()
        assert rc == 0, (tmp_path / "gunicorn.log").read_text()[-3000:]
        # Access logs stay off (request paths would carry report ids).
        assert "POST /fhir/DiagnosticReport HTTP" not in (tmp_path / "gunicorn.log").read_text()
