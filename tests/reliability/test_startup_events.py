"""Every service process records the configuration and mappings it runs with (issue 21): the web
app under gunicorn (deploy/gunicorn.conf.py, two worker processes), `radlite worker --once` and
`radlite scheduler --once`, each a real process on the same site file, write `config.loaded` and
`mappings.loaded` to the one audit file, with the same hashes -- so an auditor can tell that they
ran with the same settings, and that the chain records it from each of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from integration.audit.chain import verify
from tests.reliability.harness import ROOT, gunicorn_process


@pytest.mark.slow
def test_gunicorn_worker_and_scheduler_each_record_the_same_config_and_mappings(tmp_path, tiny_qwen2) -> None:
    pytest.importorskip("gunicorn")
    audit_file = tmp_path / "audit.jsonl"
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "inference": {"bundles": {"tiny": str(tiny_qwen2)}, "default_bundle": "tiny", "threads": 1},
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "ehr": {"base_url": "http://127.0.0.1:9/fhir"},
        "audit": {"file": str(audit_file), "allow_development_key": True},
    }))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADLITE")}
    env["RADLITE_CONFIG"] = str(site)
    with gunicorn_process(site, tmp_path / "gunicorn.log", workers=2):
        pass
    for service in ("worker", "scheduler"):
        done = subprocess.run([sys.executable, "-m", "integration.ops.cli", service, "--once"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]

    records = [json.loads(line) for line in audit_file.read_text().splitlines()]
    for event in ("config.loaded", "mappings.loaded"):
        seen = [r for r in records if r["event"] == event]
        # Two gunicorn workers (each creates the app), the worker, the scheduler.
        assert len(seen) == 4, (event, len(seen))
        assert len({r["sha256"] for r in seen}) == 1, event
    assert verify([audit_file]).ok
