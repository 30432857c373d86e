"""Hardening the deployment (issue 20), item 1: slow clients.

As reported: eight unauthenticated sockets that each send one header line a second held every
gunicorn thread of the shipped web service; a health check and an authenticated POST timed out, and
the sockets stayed open past 30 s. A gunicorn thread reads a request itself, so no gunicorn setting
fixes that. The shipped deployment now puts nginx in front (deploy/nginx/: radlite-proxy.conf with
the deadlines and limits, included by the systemd and the Compose site files), which reads each
request on its event loop and hands gunicorn only whole requests.

These tests start the real nginx with the shipped radlite-proxy.conf in front of the real gunicorn
with the shipped deploy/gunicorn.conf.py, and attack it: the control first (the same attack on
gunicorn alone still takes it down, so the attack is real), then the proxy (it does not), then what
the proxy answers itself (a FHIR OperationOutcome, never nginx's HTML page).

nginx comes from the system, or from Debian's package unpacked under .cache/ by `make test`
(`make nginx`); without either these tests skip and say so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests
import yaml

from integration.samples import sample_diagnostic_reports
from tests.fhir_server import free_port
from tests.reliability.harness import ROOT, gunicorn_process, wait_until

pytestmark = pytest.mark.slow

FHIR_JSON = "application/fhir+json"
TOKEN = "slow-client-test-token"
PROXY_CONF = ROOT / "deploy" / "nginx" / "radlite-proxy.conf"
# deploy/nginx/radlite-proxy.conf: client_header_timeout 10s, client_max_body_size 6m.
HEADER_TIMEOUT = 10.0
PROXY_BODY_LIMIT = 6 * 1024 * 1024


def find_nginx() -> str | None:
    for candidate in (os.environ.get("RADLITE_NGINX"), shutil.which("nginx"), "/usr/sbin/nginx",
                      str(ROOT / ".cache" / "nginx" / "usr" / "sbin" / "nginx")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


NGINX = find_nginx()
needs_nginx = pytest.mark.skipif(
    NGINX is None, reason="nginx not found: `make nginx` unpacks Debian's package under .cache/ "
                          "(or apt-get install nginx, or set RADLITE_NGINX)")


# -- the processes ---------------------------------------------------------------------------


def _site(tmp_path: Path) -> Path:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "intake": {"auth": {"mode": "token", "token_sha256": [hashlib.sha256(TOKEN.encode()).hexdigest()]}},
        "ehr": {"base_url": "http://127.0.0.1:9/fhir"},
        "audit": {"file": None, "allow_development_key": True},
    }))
    return site


@contextlib.contextmanager
def small_gunicorn(tmp_path: Path) -> Iterator[str]:
    """The shipped gunicorn config with one process of two threads: the attack needs few sockets."""
    with gunicorn_process(_site(tmp_path), tmp_path / "gunicorn.log", workers=1,
                          extra_env={"RADLITE_WEB_THREADS": "2"}) as (_, base):
        yield base


@contextlib.contextmanager
def nginx_process(tmp_path: Path, upstream: str) -> Iterator[str]:
    """nginx with the shipped radlite-proxy.conf in a server block, proxying to ``upstream``
    (host:port); yields its base URL. Temporary files, pid and logs stay in ``tmp_path``."""
    assert NGINX is not None
    work = tmp_path / "nginx"
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = work / "nginx.conf"
    conf.write_text(f"""
{'user root;' if os.geteuid() == 0 else ''}
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    limit_conn_zone $binary_remote_addr zone=radlite_conn:1m;
    upstream radlite_intake {{ server {upstream}; keepalive 4; }}
    server {{
        listen 127.0.0.1:{port};
        include {PROXY_CONF};
    }}
}}
""")
    proc = subprocess.Popen([NGINX, "-p", str(work), "-c", str(conf), "-e", str(work / "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        def up() -> bool:
            assert proc.poll() is None, proc.stderr.read().decode(errors="replace")[-2000:]
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
            return False

        wait_until(up, 20, "nginx to listen")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the attack ------------------------------------------------------------------------------


class SlowClients:
    """``n`` sockets, each sending a request a little at a time and never finishing it: a header
    line a second (``mode="header"``) or, after a whole header, one byte of a 100 KB body a second
    (``mode="body"``). Records when the server closes each one."""

    def __init__(self, base: str, n: int, mode: str = "header", interval: float = 1.0) -> None:
        host, port = base.rsplit("/", 1)[-1].split(":")
        self.address = (host, int(port))
        self.n, self.mode, self.interval = n, mode, interval
        self.sockets: list[socket.socket] = []
        self.closed_after: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)

    def __enter__(self) -> "SlowClients":
        self.started = time.monotonic()
        for _ in range(self.n):
            s = socket.create_connection(self.address, timeout=5)
            head = b"POST /fhir/DiagnosticReport HTTP/1.1\r\nHost: intake\r\n"
            if self.mode == "body":
                head += b"Content-Type: application/fhir+json\r\nContent-Length: 100000\r\n\r\n"
            s.sendall(head)
            self.sockets.append(s)
        self._thread.start()
        return self

    def _trickle(self) -> None:
        line = 0
        while not self._stop.wait(self.interval):
            line += 1
            for i, s in enumerate(self.sockets):
                if i in self.closed_after:
                    continue
                try:
                    readable, _, _ = select.select([s], [], [], 0)
                    if readable and not s.recv(4096, socket.MSG_PEEK):
                        raise ConnectionResetError("closed by the server")
                    s.sendall(b"{" if self.mode == "body" else b"X-Slow-%d: y\r\n" % line)
                except OSError:
                    self.closed_after[i] = time.monotonic() - self.started

    @property
    def open_count(self) -> int:
        return self.n - len(self.closed_after)

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for s in self.sockets:
            s.close()


def _post_report(base: str, tag: str, timeout: float) -> requests.Response:
    report = dict(sample_diagnostic_reports()[0])
    report["id"] = f"slow-{tag}"
    report.pop("meta", None)
    return requests.post(base + "/fhir/DiagnosticReport", data=json.dumps(report), timeout=timeout,
                         headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": FHIR_JSON})


def _answers(base: str, timeout: float) -> bool:
    try:
        return requests.get(base + "/healthz", timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


# -- the tests -------------------------------------------------------------------------------


def test_control_slow_headers_still_take_gunicorn_alone_down(tmp_path, figures) -> None:
    """Without the proxy the attack works (as reported): two slow sockets hold both threads."""
    pytest.importorskip("gunicorn")
    with small_gunicorn(tmp_path) as base:
        with SlowClients(base, n=2) as slow:
            time.sleep(1.5)
            assert not _answers(base, timeout=3), "gunicorn answered with every thread held: the control failed"
            assert slow.open_count == 2
        # Once the attackers go, it answers again.
        wait_until(lambda: _answers(base, timeout=2), 15, "gunicorn to answer after the attack")
    figures(slow_sockets=2, gunicorn_threads=2, health_check_answered=False)


@needs_nginx
def test_behind_the_shipped_proxy_slow_clients_hold_nothing_and_are_cut_off(tmp_path, figures) -> None:
    pytest.importorskip("gunicorn")
    n_headers, n_bodies = 64, 8
    with small_gunicorn(tmp_path) as upstream, nginx_process(tmp_path, upstream.rsplit("/", 1)[-1]) as base:
        with SlowClients(base, n=n_headers) as headers, SlowClients(base, n=n_bodies, mode="body") as bodies:
            time.sleep(2.5)  # every slow socket has sent a couple of lines: gunicorn alone would be down
            health, posts = [], []
            for round_ in range(3):
                t0 = time.monotonic()
                assert _answers(base, timeout=5), "health check through the proxy failed under attack"
                health.append(time.monotonic() - t0)
                t0 = time.monotonic()
                resp = _post_report(base, f"{round_}", timeout=10)
                posts.append(time.monotonic() - t0)
                assert resp.status_code in (200, 201, 202), (resp.status_code, resp.text[:300])
                # The job's Location points back through the proxy (Host passed on with its port).
                assert resp.headers["Location"].startswith(base + "/jobs/"), resp.headers.get("Location")
            assert headers.open_count == n_headers and bodies.open_count == n_bodies, "attack sockets closed early"
            # Slow headers are cut off at client_header_timeout however steadily they trickle;
            # the slow bodies keep trickling into nginx's buffers, never reaching gunicorn.
            wait_until(lambda: headers.open_count == 0, HEADER_TIMEOUT + 8, "nginx to close the slow-header sockets")
            closed = sorted(headers.closed_after.values())
            assert closed[0] >= HEADER_TIMEOUT - 1.5, closed[:3]
            assert _answers(base, timeout=5)
    assert max(health) < 2.0 and max(posts) < 5.0, (health, posts)
    figures(slow_header_sockets=n_headers, slow_body_sockets=n_bodies, gunicorn_threads=2,
            health_check_max_s=round(max(health), 3), authenticated_post_max_s=round(max(posts), 3),
            slow_headers_closed_after_s=[round(closed[0], 1), round(closed[-1], 1)])


@needs_nginx
def test_what_the_proxy_answers_itself_is_an_operation_outcome(tmp_path) -> None:
    pytest.importorskip("gunicorn")

    def outcome(resp: requests.Response, status: int, code: str) -> None:
        assert resp.status_code == status, (resp.status_code, resp.text[:300])
        assert resp.headers["Content-Type"].startswith(FHIR_JSON), resp.headers
        body = resp.json()
        assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == code, body
        assert "nginx" not in resp.text.lower()

    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": FHIR_JSON}
    with small_gunicorn(tmp_path) as upstream, nginx_process(tmp_path, upstream.rsplit("/", 1)[-1]) as base:
        # Over the app's limit (5 MB) but under the proxy's: the app answers with its own outcome.
        app_413 = requests.post(base + "/fhir/DiagnosticReport", data=b" " * 5_200_000, headers=headers, timeout=30)
        outcome(app_413, 413, "too-long")
        assert "proxy" not in app_413.text
        # Over the proxy's backstop: nginx answers, in FHIR.
        proxy_413 = requests.post(base + "/fhir/DiagnosticReport", data=b" " * (PROXY_BODY_LIMIT + 1024),
                                  headers=headers, timeout=30)
        outcome(proxy_413, 413, "too-long")
        assert "proxy" in proxy_413.text
        outcome(requests.get(base + "/healthz", headers={"X-Big": "a" * 10_000}, timeout=10), 400, "invalid")
    # No intake behind the proxy: 502 with Retry-After, in FHIR.
    with nginx_process(tmp_path / "down", f"127.0.0.1:{free_port()}") as base:
        down = _post_report(base, "down", timeout=10)
        outcome(down, 502, "transient")
        assert down.headers.get("Retry-After") == "30"


@needs_nginx
@pytest.mark.parametrize("site", ["radlite-site.conf", "compose.conf"])
def test_the_shipped_site_files_pass_nginx_t(tmp_path, site) -> None:
    """The two site files as shipped, with only their machine-specific paths and names pointed at
    this test's (certificate, include path, upstream host), pass `nginx -t`."""
    text = (ROOT / "deploy" / "nginx" / site).read_text()
    text = text.replace("/opt/radlite/deploy/nginx/radlite-proxy.conf", str(PROXY_CONF))
    text = text.replace("/etc/nginx/radlite-proxy.conf", str(PROXY_CONF))
    text = text.replace("server web:8000;", "server 127.0.0.1:8000;")
    text = text.replace("listen [::]:443 ssl;", "")
    if "ssl_certificate" in text:
        cert, key = tmp_path / "server.crt", tmp_path / "server.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=radlite.test",
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
        text = text.replace("/etc/radlite/tls/server.crt", str(cert)).replace("/etc/radlite/tls/server.key", str(key))
    directives = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "/etc/radlite" not in directives and "/opt/radlite" not in directives
    (tmp_path / "site.conf").write_text(text)
    conf = tmp_path / "nginx.conf"
    temp = "".join(f"    {kind}_temp_path {tmp_path}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf.write_text(f"pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{\n    access_log off;\n{temp}    include {tmp_path}/site.conf;\n}}\n")
    result = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
