"""Issue 20, item 6, with the real processes: the web app (gunicorn's ``integration.wsgi:app``),
``radlite worker`` and ``radlite scheduler`` refuse to start with the public development key, the
example file's placeholder or a short key -- one line naming the fix, exit status non-zero,
nothing created -- and start in the explicit development mode, or with a real key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from integration.audit.secret import DEVELOPMENT_SECRET

ROOT = Path(__file__).resolve().parents[2]
GOOD = "5f0c1e9a7b3d2f8e4a6c0b1d9e7f3a2c5b8d0e1f4a7c9b2d6e3f0a1c8b5d7e9f"
PLACEHOLDER = "change-me-openssl-rand-hex-32"  # deploy/systemd/radlite.env.example


def _case(tmp_path: Path, name: str, secret: str | None, **env: str) -> tuple[Path, dict[str, str]]:
    """A directory with its own site file, store and audit file, and an environment without the
    test suite's development flag (the services' production default)."""
    where = tmp_path / name
    where.mkdir()
    site = where / "site.yaml"
    site.write_text(yaml.safe_dump({
        "store": {"url": f"sqlite:///{where / 'jobs.sqlite'}"},
        "ehr": {"base_url": "http://127.0.0.1:9/fhir"},
        "audit": {"file": str(where / "audit.jsonl")},
    }), encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith("RADLITE")}
    base.update({"RADLITE_CONFIG": str(site), "OMP_NUM_THREADS": "1", **env})
    if secret is not None:
        base["RADLITE_AUDIT_SECRET"] = secret
    return where, base


def _run_all(cases: dict[str, tuple[list[str], dict[str, str]]]) -> dict[str, subprocess.CompletedProcess]:
    """Start every case at once (each is mostly interpreter start-up), then collect them."""
    procs = {name: subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, text=True, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name, (args, env) in cases.items()}
    done = {}
    try:
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=120)
            done[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return done


def test_services_refuse_the_development_key_and_the_placeholder(tmp_path) -> None:
    pytest.importorskip("gunicorn")
    gunicorn = ["-m", "gunicorn", "--check-config", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
                "integration.wsgi:app"]  # loads the app exactly as the web service does
    secret_file = tmp_path / "audit-secret"
    secret_file.write_text(PLACEHOLDER + "\n")
    plan = {
        "worker, no secret": (["-m", "integration.ops.cli", "worker", "--once"], None, "is not set"),
        "scheduler, placeholder": (["-m", "integration.ops.cli", "scheduler", "--once"], PLACEHOLDER, "placeholder"),
        "serve, development key": (["-m", "integration.ops.cli", "serve", "--port", "1"], DEVELOPMENT_SECRET.decode(),
                                   "public development key"),
        "web (gunicorn), short key": (gunicorn, "s3cret", "6 bytes long; at least 32"),
        "web (gunicorn), placeholder": (gunicorn, PLACEHOLDER, "placeholder"),
    }
    cases, dirs = {}, {}
    for i, (name, (args, secret, _)) in enumerate(plan.items()):
        dirs[name], env = _case(tmp_path, f"case{i}", secret)
        cases[name] = (args, env)
    # A placeholder in the secret file (audit.secret_file wins over the variable).
    where, env = _case(tmp_path, "file", GOOD, RADLITE__AUDIT__SECRET_FILE=str(secret_file))
    cases["worker, placeholder in the secret file"] = (["-m", "integration.ops.cli", "worker", "--once"], env)
    dirs["worker, placeholder in the secret file"] = where

    results = _run_all(cases)
    for name, r in results.items():
        expected = plan[name][2] if name in plan else "placeholder"
        assert r.returncode != 0, (name, r.stdout, r.stderr[-2000:])
        refusal = [line for line in r.stderr.splitlines() if "refusing to start: the audit HMAC secret" in line]
        assert len(refusal) == 1, (name, r.stderr[-3000:])
        assert expected in refusal[0] and "openssl rand -hex 32" in refusal[0], (name, refusal[0])
        assert "s3cret" not in r.stderr  # never the secret itself
        # Refused before anything was opened: no store, no audit record under a weak key.
        assert not (dirs[name] / "jobs.sqlite").exists() and not (dirs[name] / "audit.jsonl").exists(), name
        if "gunicorn" not in name:  # the command line: the error is the only line, no traceback
            assert r.stderr.strip().startswith("Error: refusing to start") and "Traceback" not in r.stderr, r.stderr
            assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert str(secret_file) in results["worker, placeholder in the secret file"].stderr


def test_development_mode_and_a_real_key_start(tmp_path) -> None:
    dev_dir, dev_env = _case(tmp_path, "dev", None, RADLITE__AUDIT__ALLOW_DEVELOPMENT_KEY="true")
    real_dir, real_env = _case(tmp_path, "real", GOOD)
    results = _run_all({"dev": (["-m", "integration.ops.cli", "scheduler", "--once"], dev_env),
                        "real": (["-m", "integration.ops.cli", "scheduler", "--once"], real_env)})
    for name, r in results.items():
        assert r.returncode == 0, (name, r.stderr[-3000:])
        assert r.stdout.strip().startswith("{"), r.stdout  # the tick's counts
    # Development mode says so, in the log and in the audit trail; a real key does not.
    assert '"event": "audit.weak_key"' in results["dev"].stderr
    events = [json.loads(line)["event"] for line in (dev_dir / "audit.jsonl").read_text().splitlines()]
    assert events[0] == "audit.weak_key"
    assert "audit.weak_key" not in results["real"].stderr
    assert "audit.weak_key" not in (real_dir / "audit.jsonl").read_text()
