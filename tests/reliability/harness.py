"""Helpers for the crash, outage and load tests: real processes, a fault-injecting HTTP proxy in
front of the FHIR server, a read-only view of the job store, and the exactly-once ledger.

Nothing here prints or logs report content: the tests record counts, timings and sizes only.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.server
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pytest
import requests
import yaml

from integration.samples import diagnostic_report, sample_reports
from tests.fhir_server import SekmetServer, free_port

ROOT = Path(__file__).resolve().parents[2]
AIAST = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue|AIAST"
RESULT_SYSTEM = "urn:radlite:result"
# Identifier systems of the other resources the adapter creates: alerts, Flags, follow-up proposals.
OTHER_SYSTEMS = {"Communication": "urn:radlite:critical-result", "Flag": "urn:radlite:critical-flag",
                 "ServiceRequest": "urn:radlite:followup"}
ADAPTER_DEVICE = "radlite-fhir-adapter"
_REPORT_REF = re.compile(r"DiagnosticReport/([A-Za-z0-9\-.]{1,64})")


# -- waiting ---------------------------------------------------------------------------------


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy (returned) or fail after ``timeout``
    seconds, naming ``what`` -- a deadline, never a fixed sleep that a slow machine could outrun."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


# -- configuration and reports ---------------------------------------------------------------


def site_config(tmp_path: Path, bundle: Path, ehr_base: str, **sections: dict[str, Any]) -> Path:
    """A site file for the tiny model, a SQLite store in ``tmp_path`` and the given EHR; sections
    given as keyword arguments are merged over the defaults below."""
    site: dict[str, Any] = {
        "inference": {"bundles": {"tiny": str(bundle)}, "default_bundle": "tiny", "threads": 1},
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "intake": {"auth": {"mode": "open"}},
        "ehr": {"base_url": ehr_base, "timeout_seconds": 5},
        "worker": {"batch_size": 4, "lease_seconds": 3, "poll_seconds": 0.1},
        "writeback": {"interval_seconds": 0.2, "lease_seconds": 2, "lock_ttl_seconds": 2,
                      "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.5},
        "audit": {"file": None},
        # Every report states its stage (make_reports), so the staging tasks always have something
        # to write; a generated task rides along (unsupported by the report: abstained, never written).
        "routing": {"rules": [], "default_tasks": ["n_staging", "m_staging", "impression_generation"]},
    }
    for section, values in sections.items():
        site.setdefault(section, {}).update(values)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site), encoding="utf-8")
    return path


def store_path(site_file: Path) -> Path:
    url = yaml.safe_load(site_file.read_text(encoding="utf-8"))["store"]["url"]
    return Path(url.split("///", 1)[1])


# Every harness report states its stage, so that each job has something to write whatever the tiny
# random model answers (the adapter writes a stated category, never an unsupported model answer).
STATED_STAGE = "\nADDENDUM: Clinical stage cT2a N1 M0.\n"


@contextlib.contextmanager
def gunicorn_process(site: Path, log_path: Path, *, workers: int = 1,
                     extra_env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen, str]]:
    """gunicorn with the shipped deploy/gunicorn.conf.py serving ``site``, up when /healthz answers;
    yields (process, base URL) and stops it gracefully on exit (SIGTERM to the group, then SIGKILL):
    a graceful stop is when each worker writes what it still holds (e.g. an aggregated audit count)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RADLITE", "PROMETHEUS"))}
    env.update({"RADLITE_CONFIG": str(site), "RADLITE_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers),
                **(extra_env or {})})
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
                             "integration.wsgi:app"], cwd=ROOT, env=env, stdout=log, stderr=log,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            try:
                return requests.get(base + "/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(up, 60, "gunicorn to answer")
        yield proc, base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            log.close()


def make_reports(n: int, tag: str, ehr: SekmetServer | None = None) -> list[dict[str, Any]]:
    """``n`` DiagnosticReports cycling through the shipped samples (every text form), each with
    its own id and a stated stage (STATED_STAGE); ``tag`` keeps ids unique across waves. With
    ``ehr`` the EHR holds each report (and its patient) first, as it does before it pushes: the
    write-back checks the pushed version against it (writeback.verify_report)."""
    samples = [{**s, "text": s["text"] + STATED_STAGE} for s in sample_reports()]
    out = []
    for i in range(n):
        r = diagnostic_report(samples[i % len(samples)])
        r["id"] = f"{tag}-{i}"
        if ehr is not None:
            ehr.put({"resourceType": "Patient", "id": r["subject"]["reference"].split("/")[-1]})
            r["meta"] = {"versionId": ehr.put({k: v for k, v in r.items() if k != "meta"})["meta"]["versionId"]}
        out.append(r)
    return out


# -- processes -------------------------------------------------------------------------------


def rss_bytes(pid: int) -> int | None:
    """Resident set size of ``pid`` (psutil when installed, else /proc); None once it is gone."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is in the dev environment
        psutil = None
    if psutil is not None:
        try:
            return int(psutil.Process(pid).memory_info().rss)
        except psutil.Error:
            return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@dataclass
class Service:
    """One ``radlite <verb>`` process, its output in a log file (hashed ids only, never PHI)."""

    verb: str
    site_file: Path
    log_dir: Path
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    starts: int = 0

    def start(self) -> "Service":
        self.starts += 1
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{self.verb}-{self.starts}.log", "wb")
        env = {**os.environ, "RADLITE_CONFIG": str(self.site_file), **self.env}
        # Our own session: a kill reaches exactly this process, and ^C on pytest does not.
        self.proc = subprocess.Popen([sys.executable, "-m", "integration.ops.cli", self.verb, *self.args],
                                     cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL, the crash no handler can soften, then reap it."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 15) -> None:
        if not self.alive:
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, n: int = 3000) -> str:
        try:
            return (self.log_dir / f"{self.verb}-{self.starts}.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def check_alive(self) -> None:
        if not self.alive:
            raise AssertionError(f"radlite {self.verb} exited with {self.proc.returncode if self.proc else None}:\n"
                                 f"{self.log_tail()}")


def owner_of_worker(pid: int) -> str:
    # integration.inference.worker.Worker's default lease owner.
    return f"worker:{socket.gethostname()}:{pid}"


def owner_prefix_of_scheduler(pid: int) -> str:
    # integration.writeback.scheduler.default_owner() (a random suffix follows).
    return f"scheduler:{socket.gethostname()}:{pid}:"


class RssSampler:
    """Samples the RSS of named processes in a background thread: first and peak value each."""

    def __init__(self, pids: Callable[[], dict[str, int]], interval: float = 0.1) -> None:
        self._pids = pids
        self.interval = interval
        self.first: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        for name, pid in self._pids().items():
            rss = rss_bytes(pid)
            if rss is None:
                continue
            self.first.setdefault(name, rss)
            self.peak[name] = max(self.peak.get(name, 0), rss)
        self.samples += 1

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sample()


@pytest.fixture()
def services() -> Iterator[list[Service]]:
    """A list the test appends its :class:`Service` processes to; all are stopped afterwards."""
    started: list[Service] = []
    yield started
    for s in started:
        s.stop()


# -- the job store, read-only ----------------------------------------------------------------


class JobsView:
    """Read-only queries on the SQLite job store. The test polls often; a read-only connection
    never takes the write lock that the store's own sessions (BEGIN IMMEDIATE) take, so polling
    does not slow the worker and scheduler it watches."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(
                "SELECT id, report_key, state, lease_owner, inference_attempts, write_attempts, error "
                "FROM jobs")]
        finally:
            conn.close()

    def counts(self) -> Counter:
        return Counter(r["state"] for r in self.rows())

    def by_report(self) -> dict[str, dict[str, Any]]:
        """report id -> row (one version per report in these tests)."""
        return {r["report_key"].split("/", 1)[1]: r for r in self.rows()}


# -- a fault-injecting proxy in front of the FHIR server -------------------------------------


@dataclass
class ProxyEvent:
    t: float  # time.monotonic() when the request arrived
    method: str
    transaction: bool
    report: str | None  # the report a transaction writes for (ids only, from the references)
    outcome: str  # "forwarded:<status>", "503", "refused-upstream", "hung", "rejected:<status>", ...


def _outcome_body(code: str, text: str) -> bytes:
    return json.dumps({"resourceType": "OperationOutcome",
                       "issue": [{"severity": "error", "code": code, "diagnostics": text}]}).encode()


class FhirProxy:
    """A small threading HTTP proxy in front of the FHIR server whose behaviour a test switches.

    ``mode``:
      * ``forward``      -- pass everything through;
      * ``unavailable``  -- answer 503 with ``Retry-After: <retry_after>`` (when set; ``"date+N"``
                            sends the HTTP-date N seconds ahead);
      * ``hang``         -- read the request, never forward or answer it (the client times out);
      * ``slow_commit``  -- forward (the server commits), then never answer: the dangerous case,
                            committed on the server but a timeout for the client;
      * ``html200``      -- answer 200 with an HTML page, as a captive portal or a misrouted
                            load balancer does.
    ``close()`` / ``open()`` take the listener away and back on the same port (connection refused
    in between). ``reject[report_id] = status`` answers that status with an OperationOutcome to
    every transaction for that report (a permanent error on one report). ``arm_hold(when)`` holds
    the next transaction ``"after-commit"`` (forwarded, response withheld) or ``"before-commit"``
    (never forwarded) until :meth:`release`, so a test can kill the scheduler while it waits.
    """

    def __init__(self, upstream_root: str, *, hang_max: float = 120.0) -> None:
        self.upstream = upstream_root.rstrip("/")
        self.port = free_port()
        self.hang_max = hang_max
        self.mode = "forward"
        self.retry_after: str | None = None
        self.reject: dict[str, int] = {}
        self.events: list[ProxyEvent] = []
        self.held = threading.Event()
        self.held_report: str | None = None
        self._hold: str | None = None
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    # -- control ------------------------------------------------------------------------------

    def open(self) -> "FhirProxy":
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            # HTTP/1.0: one request per connection, so closing the listener refuses the very next
            # request (no keep-alive connection lingers past an outage).
            protocol_version = "HTTP/1.0"

            def log_message(self, *_: Any) -> None:  # request lines name report ids: keep quiet
                pass

            def do_GET(self) -> None:
                proxy._handle(self)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop listening: from now on connecting is refused."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def set_mode(self, mode: str, retry_after: str | None = None) -> None:
        assert mode in ("forward", "unavailable", "hang", "slow_commit", "html200"), mode
        with self._lock:
            self.mode, self.retry_after = mode, retry_after
        self.release()  # let requests held by the previous mode go (their clients gave up)

    def arm_hold(self, when: str) -> None:
        assert when in ("after-commit", "before-commit")
        with self._lock:
            self.held.clear()
            self.held_report = None
            self._hold = when

    def release(self) -> None:
        with self._lock:
            old, self._release = self._release, threading.Event()
        old.set()

    def transactions(self, report: str | None = None, outcome_prefix: str = "") -> list[ProxyEvent]:
        with self._lock:
            return [e for e in self.events if e.transaction and (report is None or e.report == report)
                    and e.outcome.startswith(outcome_prefix)]

    def attempts(self, report: str, outcome_prefix: str = "") -> list[ProxyEvent]:
        """Every request of a write attempt for ``report``: the report check's read, the transaction."""
        with self._lock:
            return [e for e in self.events if e.report == report and e.outcome.startswith(outcome_prefix)
                    and (e.transaction or e.method == "GET")]

    # -- one request ----------------------------------------------------------------------------

    def _handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        arrived = time.monotonic()
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        path = h.path.split("?", 1)[0].rstrip("/")
        transaction = h.command == "POST" and path == "/fhir"
        m = _REPORT_REF.search(body.decode("utf-8", "replace")) if transaction else None
        if m is None and h.command == "GET" and "/DiagnosticReport/" in path:
            m = _REPORT_REF.search(path)  # the write-back's check of the report version, first try
        report = m.group(1) if m else None
        with self._lock:
            mode, retry_after, release = self.mode, self.retry_after, self._release
            hold = None
            if transaction and self._hold and mode == "forward":
                hold, self._hold = self._hold, None  # one-shot
        event = ProxyEvent(arrived, h.command, transaction, report, "")

        def log(outcome: str) -> None:
            event.outcome = outcome
            with self._lock:
                self.events.append(event)

        if mode == "unavailable":
            if retry_after is not None and retry_after.startswith("date+"):
                # The HTTP-date form, N seconds from now (computed per answer: a date is absolute).
                retry_after = email.utils.formatdate(time.time() + float(retry_after[5:]), usegmt=True)
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            log("503")
            return self._reply(h, 503, _outcome_body("transient", "maintenance"), headers)
        if mode == "hang":
            log("hung")
            release.wait(self.hang_max)
            return  # closed without an answer
        if mode == "html200":
            log("html200")
            return self._reply(h, 200, b"<html><body>Scheduled maintenance</body></html>",
                               {"Content-Type": "text/html"})
        if transaction and report in self.reject:
            status = self.reject[report]
            log(f"rejected:{status}")
            return self._reply(h, status, _outcome_body("processing", "rejected by the test proxy"))
        if hold == "before-commit":
            self._hold_here(report, release)
            log("dropped-before-commit")
            return
        try:
            up = requests.request(h.command, self.upstream + h.path, data=body or None, timeout=60,
                                  headers={k: v for k, v in h.headers.items()
                                           if k.lower() in ("content-type", "accept", "authorization",
                                                            "if-match", "if-none-exist", "prefer")})
        except requests.RequestException:
            log("refused-upstream")
            return self._reply(h, 502, _outcome_body("transient", "upstream unreachable"))
        if mode == "slow_commit" and transaction:
            log(f"committed-then-hung:{up.status_code}")
            release.wait(self.hang_max)
            return
        if hold == "after-commit":
            log(f"held-after-commit:{up.status_code}")
            self._hold_here(report, release)
            return  # the scheduler was killed meanwhile: nobody to answer
        log(f"forwarded:{up.status_code}")
        headers = {k: v for k, v in up.headers.items()
                   if k.lower() in ("content-type", "etag", "location", "last-modified", "retry-after")}
        self._reply(h, up.status_code, up.content, headers)

    def _hold_here(self, report: str | None, release: threading.Event) -> None:
        self.held_report = report
        self.held.set()
        release.wait(self.hang_max)

    @staticmethod
    def _reply(h: http.server.BaseHTTPRequestHandler, status: int, body: bytes,
               headers: dict[str, str] | None = None) -> None:
        headers = {"Content-Type": "application/fhir+json", **(headers or {})}
        try:
            h.send_response(status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up or was killed
            pass


# -- exactly once, counted on the FHIR server ------------------------------------------------


def fetch_all(server: SekmetServer, resource_type: str, **params: str) -> list[dict[str, Any]]:
    """Every match of a search, following the server's 'next' links."""
    params.setdefault("_count", "500")
    url: str | None = f"{server.base_url}/{resource_type}"
    out: list[dict[str, Any]] = []
    first = True
    while url:
        r = requests.get(url, params=params if first else None, headers=server._headers(), timeout=30)
        r.raise_for_status()
        bundle = r.json()
        out.extend(e["resource"] for e in bundle.get("entry") or [] if (e.get("search") or {}).get("mode") == "match")
        url = next((link["url"] for link in bundle.get("link") or [] if link.get("relation") == "next"), None)
        first = False
    return out


def _report_of(reference: str | None) -> str | None:
    m = _REPORT_REF.search(reference or "")
    return m.group(1) if m else None


@dataclass
class Tally:
    """What the FHIR server holds, checked against what the job store says was written."""

    reports: int = 0  # reports expected written
    observations: int = 0
    provenances: int = 0
    devices: int = 0
    duplicate_provenances: int = 0  # extra Provenances for a report beyond one
    duplicate_identifiers: int = 0  # Observations (alerts, Flags, proposals) sharing an identifier
    alerts: int = 0  # critical-result Communications
    followups: int = 0  # ServiceRequest proposals
    missing_reports: list[str] = field(default_factory=list)  # no Provenance on the server
    mismatched_reports: list[str] = field(default_factory=list)  # server Observations != store's written
    unexpected_reports: list[str] = field(default_factory=list)  # resources for a report not expected
    observation_versions: int = 0  # _history entries: > observations means something was rewritten

    @property
    def duplicates(self) -> int:
        return self.duplicate_provenances + self.duplicate_identifiers


def tally(server: SekmetServer, store, expected: Iterable[str]) -> Tally:
    """Count the adapter's resources on ``server`` per report: each ``expected`` report id must have
    exactly one Provenance and exactly the Observations its job's ``written`` lists; no two
    Observations may share an identifier; no other report may have anything."""
    expected = set(expected)
    obs = fetch_all(server, "Observation", _security=AIAST)
    prov = fetch_all(server, "Provenance", _security=AIAST)
    # The model's Devices; the adapter's own (author of follow-up proposals and escalations) aside.
    devices = [d for d in fetch_all(server, "Device", _security=AIAST)
               if (d.get("deviceName") or [{}])[0].get("name") != ADAPTER_DEVICE]
    t = Tally(reports=len(expected), observations=len(obs), provenances=len(prov), devices=len(devices),
              observation_versions=server.history_count("Observation"))
    prov_per = Counter(_report_of(p["entity"][0]["what"]["reference"]) for p in prov)
    # An Observation's report is the entity of the Provenance that targets it (R4 does not let
    # Observation.derivedFrom name a DiagnosticReport). One with no Provenance counts under None:
    # an unexpected report.
    obs_ids = {o["id"] for o in obs}
    obs_per: dict[str | None, set[str]] = {}
    for p in prov:
        report = _report_of(p["entity"][0]["what"]["reference"])
        for target in p.get("target") or []:
            kind, _, oid = target.get("reference", "").partition("/")
            if kind == "Observation" and oid in obs_ids:
                obs_per.setdefault(report, set()).add(oid)
    orphans = obs_ids - set().union(*obs_per.values())
    if orphans:
        obs_per[None] = orphans
    idents = Counter(i["value"] for o in obs for i in o.get("identifier") or [] if i.get("system") == RESULT_SYSTEM)
    for rtype, system in OTHER_SYSTEMS.items():
        made = fetch_all(server, rtype, _security=AIAST)
        idents.update(f"{rtype}|{i['value']}" for r in made for i in r.get("identifier") or [] if i.get("system") == system)
        if rtype == "Communication":
            t.alerts = len(made)
        elif rtype == "ServiceRequest":
            t.followups = len(made)
    t.duplicate_identifiers = sum(n - 1 for n in idents.values() if n > 1)
    t.duplicate_provenances = sum(n - 1 for n in prov_per.values() if n > 1)
    jobs = {j.report_key.split("/", 1)[1]: j for j in store.jobs(limit=1_000_000)}
    for rid in sorted(expected):
        if prov_per.get(rid, 0) == 0:
            t.missing_reports.append(rid)
        job = jobs.get(rid)
        written = {r["id"] for r in ((job.written if job else None) or {}).get("resources", [])
                   if r["type"] == "Observation"}
        if not written or obs_per.get(rid, set()) != written:
            t.mismatched_reports.append(rid)
    seen = set(prov_per) | set(obs_per)
    t.unexpected_reports = sorted(str(r) for r in seen - expected)
    return t


def mib(n: int | None) -> float:
    return round((n or 0) / 2**20, 1)
