#!/usr/bin/env python3
"""HTTP intake benchmark: latency (p50/p95/p99) and requests/s of ``POST /fhir/DiagnosticReport``
on loopback, at 1, 10 and 50 concurrent clients (closed loop), and 50 clients paced at 300
reports/s between them (an EHR's rate rather than the server's limit).

It runs the production web server the way deploy/ does -- ``gunicorn -c deploy/gunicorn.conf.py
integration.wsgi:app`` with ``RADLITE_CONFIG`` pointing at a site file (token auth, a SQLite store
and the hash-chained audit file in a temporary directory, ``PROMETHEUS_MULTIPROC_DIR`` set as the
systemd unit sets it) -- and pushes unique valid DiagnosticReports (built from the shipped samples:
realistic sizes, a distinct id per request, ``meta.versionId`` 1) with POST, as an EHR would.

Load generator: ``wrk`` (C, one thread, one keep-alive connection per client) with
bench/intake_wrk.lua when it is on PATH (``apt-get install wrk``), else a lean Python client in
its own process; the output says which ran. Each level sends exactly ``--requests`` reports, each
once, and stops early after ``--max-seconds``. Afterwards the store must hold exactly one job per
2xx answer (and the audit chain must verify). The server's CPU time per request is reported too:
unlike latency, other load on the machine hardly changes it.

    .venv/bin/python bench/intake.py                         # the table on stdout
    .venv/bin/python bench/intake.py --out bench/RESULTS.md  # also write the "Intake" section there
    .venv/bin/python bench/intake.py --clients 50 --paced "" --workers 2 --threads 8   # other settings
    .venv/bin/python bench/intake.py --app-root /tmp/old     # the code of another checkout (before/after)

Exit status 1 when a check failed (errors, a store count that differs from the 2xx answers, a
broken audit chain); timings are reported, never judged here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.client
import importlib.metadata as md
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.results import write_section as write  # noqa: E402 -- needs the sys.path line above

LUA = Path(__file__).resolve().with_name("intake_wrk.lua")
PATH = "/fhir/DiagnosticReport"
TOKEN = "bench-intake-token"
SECTION = "## Intake"


# -- reports -----------------------------------------------------------------------------------


def build_reports(prefix: str, n: int) -> list[bytes]:
    """``n`` distinct valid DiagnosticReports (compact JSON), cycling through the shipped samples."""
    from integration.samples import diagnostic_report, sample_reports  # noqa: PLC0415 -- the load-generator child imports this file: stdlib only

    samples = sample_reports()
    out = []
    for i in range(n):
        sample = samples[i % len(samples)]
        report = diagnostic_report(sample)
        rid = f"{prefix}-{i}"
        report["id"] = rid
        report["identifier"][0]["value"] = f"ACC-{rid}"
        report["subject"]["reference"] = f"Patient/{prefix}-p{i % 97}"
        out.append(json.dumps(report, separators=(",", ":")).encode("utf-8"))
    return out


# -- the server ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen
    base: str
    port: int
    db: Path
    audit: Path
    log: Path
    workers: int
    threads: int
    worker_class: str

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                return self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                return self.proc.wait()
        return self.proc.returncode


def _gunicorn_conf(root: Path) -> dict[str, Any]:
    """What deploy/gunicorn.conf.py sets, read the way gunicorn reads it."""
    path = root / "deploy" / "gunicorn.conf.py"
    ns: dict[str, Any] = {"__file__": str(path)}
    exec(compile(path.read_text(), str(path), "exec"), ns)
    return ns


def _no_client_quotas(app_root: Path) -> dict[str, int]:
    """Quotas off: the benchmark is one client sending as fast as the server answers, which the
    per-client rate and queue quotas exist to stop. Only where ``app_root``'s code has them (an
    older checkout refuses the unknown keys)."""
    settings = (app_root / "integration" / "settings.py").read_text(encoding="utf-8")
    if "requests_per_minute_per_client" not in settings:
        return {}
    return {"requests_per_minute_per_client": 0, "max_queued_jobs_per_client": 0}


def start_server(workdir: Path, *, workers: int | None = None, threads: int | None = None,
                 timeout: float = 120.0, app_root: Path = ROOT) -> Server:
    """gunicorn with ``app_root``'s deploy/gunicorn.conf.py and integration.wsgi:app (``app_root``
    other than this checkout, e.g. a ``git worktree`` of an older commit, measures that code)."""
    import yaml  # noqa: PLC0415 -- the load-generator child imports this file: stdlib only

    port = free_port()
    db = workdir / "jobs.sqlite"
    audit = workdir / "audit.jsonl"
    site = workdir / "site.yaml"
    site.write_text(yaml.safe_dump({
        "store": {"url": f"sqlite:///{db}"},
        "intake": {"auth": {"mode": "token", "token_sha256": [hashlib.sha256(TOKEN.encode()).hexdigest()]},
                   **_no_client_quotas(app_root)},
        "audit": {"file": str(audit)},
    }))
    metrics_dir = workdir / "metrics"
    metrics_dir.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADLITE") and k not in (
        "WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR")}
    env.update({"RADLITE_CONFIG": str(site), "RADLITE_AUDIT_SECRET": "bench-intake-audit-secret-0123456789abcdef",
                "RADLITE_BIND": f"127.0.0.1:{port}", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                "RADLITE_WEB_LOGLEVEL": "warning", "PYTHONPATH": str(app_root)})
    if workers is not None:
        env["WEB_CONCURRENCY"] = str(workers)
    if threads is not None:
        env["RADLITE_WEB_THREADS"] = str(threads)
    # The effective settings, as the server will compute them from the same environment.
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        conf = _gunicorn_conf(app_root)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    log = workdir / "gunicorn.log"
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or None
    cmd = [gunicorn] if gunicorn else [sys.executable, "-m", "gunicorn"]
    cmd += ["-c", str(app_root / "deploy" / "gunicorn.conf.py"), "integration.wsgi:app"]
    # The app's JSON log (one line per audit event) goes to this file, as journald would take it.
    logf = open(log, "wb")
    proc = subprocess.Popen(cmd, cwd=app_root, env=env, stdout=logf, stderr=logf, start_new_session=True)
    logf.close()
    server = Server(proc, f"http://127.0.0.1:{port}", port, db, audit, log, int(conf["workers"]),
                    int(conf.get("threads", 1)), str(conf.get("worker_class", "sync")))
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited at start:\n" + log.read_text(errors="replace")[-3000:])
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("gunicorn did not answer /healthz in time:\n" + log.read_text(errors="replace")[-3000:])
        time.sleep(0.2)
    return server


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) of every live process in process group ``pgid`` (the gunicorn
    master and its workers): a measure that the other load on the machine does not inflate."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:  # fields[0] is the state; pgrp is field 5 of stat
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def children_cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# -- load generators -----------------------------------------------------------------------------


@dataclass
class Run:
    clients: int
    requests: int  # reports meant to be sent
    loadgen: str
    rate: float = 0.0  # paced: the total rate asked for (requests/s); 0: closed loop
    behind_ms: float = 0.0  # paced: how far the sends fell behind their schedule at most
    sent: int = 0
    answered: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    transport_errors: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    timed_out: bool = False
    server_cpu_ms: float = 0.0  # server CPU time per answered request
    client_cpu_ms: float = 0.0  # load generator CPU time per answered request
    stored: int | None = None
    check: str = ""

    @property
    def ok_2xx(self) -> int:
        return sum(n for code, n in self.statuses.items() if 200 <= code < 300)

    @property
    def errors(self) -> int:
        """Answers other than 202 (a 200 would mean a duplicate: every report is new), transport
        errors and requests that never got an answer."""
        return (sum(n for code, n in self.statuses.items() if code != 202) + self.transport_errors
                + (self.requests - self.answered))

    @property
    def rps(self) -> float:
        return self.answered / self.seconds if self.seconds > 0 else 0.0


def run_wrk(base: str, bodies: Path, clients: int, n: int, max_seconds: float, rate: float = 0.0) -> Run:
    run = Run(clients, n, "wrk", rate=rate)
    cmd = ["wrk", "-t1", f"-c{clients}", f"-d{max(1, int(max_seconds + 0.999))}s", "--timeout", "30s",
           "-s", str(LUA), base + PATH, "--", str(bodies), TOKEN, PATH, str(rate)]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    result = None
    done_at = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("RADLITE_DONE") and proc.poll() is None:
            done_at = time.monotonic()
            proc.send_signal(signal.SIGINT)  # ends wrk's -d sleep; done() then prints the result
        elif line.startswith("RADLITE_RESULT "):
            result = json.loads(line.split(" ", 1)[1])
    proc.wait()
    if result is None:
        raise RuntimeError("wrk gave no result: " + (proc.stderr.read() if proc.stderr else "")[-2000:])
    run.sent, run.answered = result["sent"], result["answered"]
    run.statuses = {int(k): v for k, v in result["statuses"].items()}
    e = result["errors"]
    run.transport_errors = e["connect"] + e["read"] + e["write"]
    run.timed_out = not result["finished"]
    run.behind_ms = result.get("behind_ms", 0.0)
    if result["t_first"] > 0 and result["t_last"] > result["t_first"]:
        run.seconds = result["t_last"] - result["t_first"]
    else:  # a wrk built without LuaJIT's ffi: the wall clock around it
        run.seconds = (done_at or time.monotonic()) - started
    lat = result["latency_us"]
    run.p50_ms, run.p95_ms, run.p99_ms, run.max_ms = (lat[k] / 1000 for k in ("p50", "p95", "p99", "max"))
    return run


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = max(0, min(len(sorted_values) - 1, int(round(q / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def python_client(host: str, port: int, bodies_path: str, clients: int, max_seconds: float,
                  rate: float = 0.0) -> dict[str, Any]:
    """The fallback load generator (run in its own process): ``clients`` threads, one keep-alive
    connection each, taking the next unsent body until none are left (with ``rate``, body k is
    not sent before k/rate s after the first)."""
    bodies = [line for line in Path(bodies_path).read_bytes().split(b"\n") if line]
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json",
               "Authorization": f"Bearer {TOKEN}"}
    lock = threading.Lock()
    state = {"next": 0}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = [0]
    t0 = time.perf_counter()
    deadline = t0 + max_seconds
    last = [t0]
    behind = [0.0]

    def client() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        while time.perf_counter() < deadline:
            with lock:
                i = state["next"]
                if i >= len(bodies):
                    break
                state["next"] = i + 1
            if rate > 0:
                wait = t0 + i / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                else:
                    with lock:
                        behind[0] = max(behind[0], -wait * 1000)
            start = time.perf_counter()
            try:
                conn.request("POST", PATH, body=bodies[i], headers=headers)
                resp = conn.getresponse()
                resp.read()
                code = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
                with lock:
                    errors[0] += 1
                continue
            end = time.perf_counter()
            with lock:
                latencies.append(end - start)
                statuses[code] = statuses.get(code, 0) + 1
                last[0] = max(last[0], end)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat = sorted(latencies)
    return {"sent": state["next"], "answered": len(lat), "statuses": statuses, "errors": errors[0],
            "seconds": last[0] - t0, "finished": state["next"] >= len(bodies), "behind_ms": behind[0],
            "p50": _percentile(lat, 50), "p95": _percentile(lat, 95), "p99": _percentile(lat, 99),
            "max": lat[-1] if lat else 0.0}


def run_python(port: int, bodies: Path, clients: int, n: int, max_seconds: float, rate: float = 0.0) -> Run:
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import intake; "
            "print(json.dumps(intake.python_client('127.0.0.1', int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), "
            "float(sys.argv[5]), float(sys.argv[6]))))")
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).resolve().parent), str(port), str(bodies),
                          str(clients), str(max_seconds), str(rate)], capture_output=True, text=True,
                         timeout=max_seconds + 120)
    if out.returncode != 0:
        raise RuntimeError("python load generator failed: " + out.stderr[-2000:])
    r = json.loads(out.stdout.strip().splitlines()[-1])
    run = Run(clients, n, "python", rate=rate, behind_ms=r["behind_ms"])
    run.sent, run.answered = r["sent"], r["answered"]
    run.statuses = {int(k): v for k, v in r["statuses"].items()}
    run.transport_errors = r["errors"]
    run.seconds = r["seconds"]
    run.timed_out = not r["finished"]
    run.p50_ms, run.p95_ms, run.p99_ms, run.max_ms = (r[k] * 1000 for k in ("p50", "p95", "p99", "max"))
    return run


# -- checks ------------------------------------------------------------------------------------


def stored_jobs(db: Path, prefix: str) -> tuple[int, int]:
    """(jobs, distinct report keys) whose report id starts with ``prefix-``."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT report_key) FROM jobs WHERE report_key LIKE ?",
            (f"DiagnosticReport/{prefix}-%",),
        ).fetchone()
    finally:
        conn.close()
    return int(row[0]), int(row[1])


def check_store(run: Run, db: Path, prefix: str) -> None:
    time.sleep(0.3)  # requests abandoned at a time limit may still be finishing
    jobs, distinct = stored_jobs(db, prefix)
    run.stored = jobs
    abandoned = run.sent - run.answered
    problems = []
    if distinct != jobs:
        problems.append(f"{jobs - distinct} report(s) stored twice")
    if abandoned == 0 and jobs != run.ok_2xx:
        problems.append(f"store holds {jobs} jobs for {run.ok_2xx} 2xx answers")
    if abandoned and not run.ok_2xx <= jobs <= run.ok_2xx + abandoned:
        problems.append(f"store holds {jobs} jobs for {run.ok_2xx} 2xx answers and {abandoned} unanswered")
    run.check = "; ".join(problems) if problems else (
        f"ok: {jobs} jobs = {run.ok_2xx} 2xx" if not abandoned else
        f"ok: {jobs} jobs for {run.ok_2xx} 2xx + {abandoned} unanswered at the time limit")


def verify_audit(path: Path) -> str:
    from integration.audit.chain import verify  # noqa: PLC0415 -- the load-generator child imports this file: stdlib only

    result = verify([path])
    if result.ok:
        return f"ok: {result.records} records"
    return "BROKEN: " + "; ".join(str(p) for p in result.problems[:3])


# -- the benchmark ---------------------------------------------------------------------------------


@dataclass
class Result:
    runs: list[Run]
    server: dict[str, Any]
    machine: dict[str, Any]
    audit: str
    body_bytes: dict[str, int]

    @property
    def ok(self) -> bool:
        return (all(r.errors == 0 and r.check.startswith("ok") for r in self.runs)
                and self.audit.startswith("ok"))


def pick_loadgen(name: str) -> str:
    if name == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if name == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk), or use --loadgen python")
    return name


def machine_info(loadgen: str) -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in ("gunicorn", "flask", "werkzeug", "sqlalchemy", "pydantic", "fhir.resources", "structlog",
                "prometheus-client"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    wrk = ""
    if loadgen == "wrk":
        p = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
        m = re.search(r"wrk\s+(\S+)", p.stdout + p.stderr)
        wrk = m.group(1) if m else "?"
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu or platform.processor(), "cores": os.cpu_count(), "os": platform.platform(),
        "python": platform.python_version(), "sqlite": sqlite3.sqlite_version, "versions": versions,
        "wrk": wrk, "load_before": os.getloadavg(),
    }


def run_benchmark(levels: list[int], n: int, *, paced: list[tuple[int, float]] = (), max_seconds: float = 60.0,
                  loadgen: str = "auto", workers: int | None = None, threads: int | None = None,
                  warmup: int = 200, workdir: Path | None = None, app_root: Path = ROOT, echo=print) -> Result:
    """Closed loop at each of ``levels`` clients, then each ``(clients, rate)`` of ``paced``;
    ``n`` reports per level."""
    loadgen = pick_loadgen(loadgen)
    machine = machine_info(loadgen)
    tag = f"bench{int(time.time())}"
    with tempfile.TemporaryDirectory(prefix="radlite-bench-", dir=workdir) as tmp:
        tmpdir = Path(tmp)
        server = start_server(tmpdir, workers=workers, threads=threads, app_root=app_root)
        try:
            echo(f"server: gunicorn {server.worker_class}, {server.workers} workers x {server.threads} threads "
                 f"at {server.base} ({app_root}); load generator: {loadgen}")
            runs = []
            sizes: list[int] = []
            if warmup:
                # Every worker process imports the FHIR models and opens its connections on its
                # first requests: warm them all, as a long-running server is.
                bodies = tmpdir / "warm.jsonl"
                bodies.write_bytes(b"\n".join(build_reports(f"{tag}-warm", warmup)) + b"\n")
                gen = run_wrk if loadgen == "wrk" else None
                warm = (gen(server.base, bodies, min(10, warmup), warmup, max_seconds) if gen else
                        run_python(server.port, bodies, min(10, warmup), warmup, max_seconds))
                check_store(warm, server.db, f"{tag}-warm")
                if warm.errors or not warm.check.startswith("ok"):
                    raise RuntimeError(f"warm-up failed: statuses {warm.statuses}, {warm.check}; "
                                       + server.log.read_text(errors="replace")[-2000:])
            for clients, rate in [(c, 0.0) for c in levels] + list(paced):
                prefix = f"{tag}-c{clients}" + (f"r{rate:g}" if rate else "")
                reports = build_reports(prefix, n)
                sizes += [len(b) for b in reports]
                bodies = tmpdir / f"{prefix}.jsonl"
                bodies.write_bytes(b"\n".join(reports) + b"\n")
                cpu0, child0 = group_cpu_seconds(server.proc.pid), children_cpu_seconds()
                if loadgen == "wrk":
                    run = run_wrk(server.base, bodies, clients, n, max_seconds, rate)
                else:
                    run = run_python(server.port, bodies, clients, n, max_seconds, rate)
                if run.answered:
                    run.server_cpu_ms = (group_cpu_seconds(server.proc.pid) - cpu0) / run.answered * 1000
                    run.client_cpu_ms = (children_cpu_seconds() - child0) / run.answered * 1000
                check_store(run, server.db, prefix)
                echo(f"  {label(run):>16}: {run.answered}/{n} answered in {run.seconds:.2f} s, "
                     f"{run.rps:.0f} req/s, p50 {run.p50_ms:.1f} p95 {run.p95_ms:.1f} p99 {run.p99_ms:.1f} ms, "
                     f"server CPU {run.server_cpu_ms:.2f} ms/req, load generator CPU {run.client_cpu_ms:.2f} ms/req, "
                     + (f"sends behind schedule by {run.behind_ms:.0f} ms at most, " if run.rate else "")
                     + f"statuses {run.statuses}, errors {run.errors}; store {run.check}")
                runs.append(run)
        finally:
            rc = server.stop()
        audit = verify_audit(server.audit)
        if rc != 0:
            audit += f" (gunicorn exit status {rc})"
    machine["load_after"] = os.getloadavg()
    info = {"command": "gunicorn -c deploy/gunicorn.conf.py integration.wsgi:app", "worker_class": server.worker_class,
            "workers": server.workers, "threads": server.threads}
    body = {"min": min(sizes), "mean": sum(sizes) // len(sizes), "max": max(sizes)} if sizes else {}
    return Result(runs, info, machine, audit, body)


def label(run: Run) -> str:
    return f"{run.clients} (paced {run.rate:g}/s)" if run.rate else str(run.clients)


def markdown(result: Result) -> str:
    m, s = result.machine, result.server
    lines = [
        "| clients | requests | errors | req/s | p50 ms | p95 ms | p99 ms | server CPU ms/req |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result.runs:
        lines.append(f"| {label(r)} | {r.answered} | {r.errors} | {r.rps:.0f} | {r.p50_ms:.1f} | "
                     f"{r.p95_ms:.1f} | {r.p99_ms:.1f} | {r.server_cpu_ms:.2f} |")
    vers = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    loadgen = (f"wrk {m['wrk']} (1 thread, one keep-alive connection per client, bench/intake_wrk.lua)"
               if result.runs and result.runs[0].loadgen == "wrk"
               else "Python http.client threads in a separate process (wrk not installed)")
    lb, la = m["load_before"], m.get("load_after", (0, 0, 0))
    lines += [
        "",
        f"- server: `{s['command']}`, {s['worker_class']}, {s['workers']} worker processes x {s['threads']} threads; "
        "token auth, SQLite store (WAL) and audit file in a temp dir, PROMETHEUS_MULTIPROC_DIR set",
        f"- load generator: {loadgen}",
        f"- reports: POST /fhir/DiagnosticReport, distinct ids built from integration/samples "
        f"(body {result.body_bytes.get('min', 0)}-{result.body_bytes.get('max', 0)} bytes, mean "
        f"{result.body_bytes.get('mean', 0)}); errors = any answer but 202, transport errors, unanswered",
        "- closed loop (a plain number of clients): each client sends its next report as soon as the answer to the "
        "previous one is in, so req/s is the server's capacity and, by Little's law, mean latency = clients / "
        "(req/s): at 50 clients p95 < 50 ms would take well over 1000 req/s. Paced: the clients send one report "
        "every 1/rate s between them, open loop while a client is free (the EHR's rate, not the server's limit)"
        + "".join(f"; {label(r)}: sends at most {r.behind_ms:.0f} ms behind schedule" for r in result.runs if r.rate)
        + (" (more than a few ms: the server did not keep up, and latency understates the wait)"
           if any(r.rate for r in result.runs) else ""),
        "- checks: " + "; ".join(f"{label(r)} clients: {r.check}" for r in result.runs) + f"; audit chain {result.audit}",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['os']}; load average before {lb[0]:.2f} / after {la[0]:.2f}",
        f"- versions: Python {m['python']}, SQLite {m['sqlite']}, {vers}",
        f"- date: {m['date']}; command: `{m.get('command', '.venv/bin/python bench/intake.py')}`",
    ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, body: str) -> None:
    """Put ``body`` under the ``## Intake`` heading of ``path`` (bench/results.py: that section is
    replaced when it exists and appended otherwise; the other sections are left as they are)."""
    write(path, SECTION, "HTTP intake latency and throughput (bench/intake.py).", body)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default="1,10,50", help="concurrency levels, comma separated (default 1,10,50)")
    ap.add_argument("--paced", default="50@300",
                    help="paced levels CLIENTS@RATE (total requests/s), comma separated; '' for none (default 50@300)")
    ap.add_argument("--requests", type=int, default=3000, help="reports sent per level (default 3000)")
    ap.add_argument("--max-seconds", type=float, default=60.0, help="time limit per level (default 60)")
    ap.add_argument("--warmup", type=int, default=200, help="reports sent before measuring (default 200)")
    ap.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    ap.add_argument("--workers", type=int, help="WEB_CONCURRENCY (default: deploy/gunicorn.conf.py's)")
    ap.add_argument("--threads", type=int, help="RADLITE_WEB_THREADS (default: deploy/gunicorn.conf.py's)")
    ap.add_argument("--out", type=Path, help="also write the table to this markdown file's Intake section")
    ap.add_argument("--app-root", type=Path, default=ROOT,
                    help="serve the code of this checkout (e.g. a git worktree of an older commit: before/after)")
    args = ap.parse_args(argv)
    levels = [int(c) for c in args.clients.split(",") if c.strip()]
    paced = []
    for item in (p.strip() for p in args.paced.split(",")):
        if item:
            clients, _, rate = item.partition("@")
            paced.append((int(clients), float(rate)))
    result = run_benchmark(levels, args.requests, paced=paced, max_seconds=args.max_seconds, loadgen=args.loadgen,
                           workers=args.workers, threads=args.threads, warmup=args.warmup,
                           app_root=args.app_root.resolve(), echo=lambda s: print(s, file=sys.stderr, flush=True))
    result.machine["command"] = " ".join(["bench/intake.py", *(argv if argv is not None else sys.argv[1:])])
    table = markdown(result)
    print(table)
    if args.out:
        write_section(args.out, table)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
