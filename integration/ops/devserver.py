"""A real FHIR R4 server for the demo and tests: sekmet-fhir 0.1.1 in its own venv (.venv-fhir, `make setup`).

:class:`SekmetServer` writes a settings file into a temp directory, starts ``sekmet serve`` bound
to 127.0.0.1 on a free port with a SQLite file there, waits until ``/fhir/metadata`` answers, and
stops it by PID (SIGTERM, then SIGKILL). ``stop()`` / ``start()`` keep the port and the database,
so a test can take the server away and bring the same one back. With ``smart_clients`` the
server requires auth: SMART Backend Services (its token endpoint is ``<root>/auth/token``) and,
optionally, static bearer tokens.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

ROOT = Path(__file__).resolve().parents[2]
FHIR_VENV = Path(os.environ.get("RADLITE_FHIR_VENV", ROOT / ".venv-fhir"))
SEKMET = FHIR_VENV / "bin" / "sekmet"
MAKE_HINT = "run `make setup` or `make fhir-server` (installs sekmet-fhir==0.1.1 into .venv-fhir)"


def sekmet_available() -> bool:
    return SEKMET.is_file() and os.access(SEKMET, os.X_OK)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SmartClient:
    """A client registered at the server: its public key file and the scopes it may get."""

    client_id: str
    public_key_path: Path
    scopes: str = "system/*.*"


@dataclass
class SekmetServer:
    workdir: Path
    port: int = 0
    smart_clients: list[SmartClient] = field(default_factory=list)
    bearer_tokens: list[str] = field(default_factory=list)
    token_lifetime: int = 3600
    startup_timeout: float = 30.0
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/fhir"

    @property
    def token_url(self) -> str:
        return f"{self.root_url}/auth/token"

    @property
    def db_path(self) -> Path:
        return self.workdir / "sekmet.sqlite"

    @property
    def log_path(self) -> Path:
        return self.workdir / "sekmet.log"

    @property
    def requires_auth(self) -> bool:
        return bool(self.smart_clients or self.bearer_tokens)

    def _settings(self) -> dict[str, Any]:
        types = []
        if self.bearer_tokens:
            types.append("bearer")
        if self.smart_clients:
            types.append("smart")
        return {
            "base_url": self.base_url,
            "host": "127.0.0.1",
            "port": self.port,
            "db_path": str(self.db_path),
            "data_dir": str(self.workdir / "data"),
            "own_private_key_path": str(self.workdir / "keys" / "sekmet_private.pem"),
            "log_inbound": False,
            "simulator": {"enabled": False},
            "validation": {"inbound": "strict"},
            "server_auth": {
                "types": types or ["none"],
                "tokens": list(self.bearer_tokens),
                "smart_clients": [
                    {"client_id": c.client_id, "public_key_path": str(c.public_key_path), "scopes": c.scopes}
                    for c in self.smart_clients
                ],
                "token_lifetime": self.token_lifetime,
                "enforce_scopes": True,
            },
        }

    def start(self) -> "SekmetServer":
        if not sekmet_available():
            raise RuntimeError(f"sekmet-fhir not installed at {SEKMET}; {MAKE_HINT}")
        if self.running:
            return self
        config = self.workdir / "settings.yaml"
        config.write_text(yaml.safe_dump(self._settings(), sort_keys=False), encoding="utf-8")
        log = open(self.log_path, "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEKMET_")}
        self.proc = subprocess.Popen(
            [str(SEKMET), "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sekmet exited with {self.proc.returncode}; log:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.base_url}/metadata", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"sekmet did not answer within {self.startup_timeout}s; log:\n{self.log_tail()}")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the server by its PID (SIGTERM, then SIGKILL); the database stays."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)
        except ProcessLookupError:
            pass

    def restart(self) -> "SekmetServer":
        self.stop()
        return self.start()

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-n:]
        except OSError:
            return ""

    # -- helpers for assertions (no auth: use an admin bearer token when auth is on) -----

    def _headers(self) -> dict[str, str]:
        h = {"Accept": "application/fhir+json"}
        if self.bearer_tokens:
            h["Authorization"] = f"Bearer {self.bearer_tokens[0]}"
        return h

    def search(self, resource_type: str, **params: str) -> list[dict[str, Any]]:
        params.setdefault("_count", "1000")
        r = requests.get(f"{self.base_url}/{resource_type}", params=params, headers=self._headers(), timeout=10)
        r.raise_for_status()
        return [e["resource"] for e in r.json().get("entry") or [] if (e.get("search") or {}).get("mode") == "match"]

    def count(self, resource_type: str, **params: str) -> int:
        return len(self.search(resource_type, **params))

    def put(self, resource: dict[str, Any]) -> dict[str, Any]:
        h = dict(self._headers(), **{"Content-Type": "application/fhir+json"})
        r = requests.put(f"{self.base_url}/{resource['resourceType']}/{resource['id']}", json=resource,
                         headers=h, timeout=10)
        r.raise_for_status()
        return r.json()

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        r = requests.get(f"{self.base_url}/{resource_type}/{resource_id}", headers=self._headers(), timeout=10)
        r.raise_for_status()
        return r.json()

    def history_count(self, resource_type: str) -> int:
        r = requests.get(f"{self.base_url}/{resource_type}/_history", params={"_count": "1"},
                         headers=self._headers(), timeout=10)
        r.raise_for_status()
        return int(r.json().get("total", 0))
