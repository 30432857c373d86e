"""``radlite demo``: the product's main job end to end on one machine.

It starts a real FHIR server (sekmet-fhir, loopback only) standing in for the EHR, starts the
adapter's HTTP intake, pushes the sample DiagnosticReports shipped in the repository over HTTP
(as an EHR would), runs the inference worker on the embedded default model until the queue is
empty, runs the write-back until every job is written, and prints what the server now holds,
with links. Every step is the production code path; nothing is simulated.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import requests
from werkzeug.serving import make_server

from integration import compose
from integration.inference.model_bundle import BundleError, load_bundle
from integration.ops.devserver import MAKE_HINT, SekmetServer, free_port, sekmet_available
from integration.samples import sample_diagnostic_reports
from integration.settings import Settings
from integration.store import State
from integration.writeback.runner import write_due


class DemoError(Exception):
    pass


@dataclass
class DemoResult:
    server: str
    jobs: list[dict[str, Any]]
    seconds: float


def _start_intake(app, port: int):
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


def _push_patients(fhir: SekmetServer, reports: list[dict[str, Any]]) -> None:
    """The EHR already knows its patients and reports; create them so references resolve."""
    seen = set()
    for report in reports:
        pid = report["subject"]["reference"].split("/", 1)[1]
        if pid not in seen:
            seen.add(pid)
            fhir.put({"resourceType": "Patient", "id": pid, "active": True})
        stored = {k: v for k, v in report.items() if k != "meta"}
        fhir.put(stored)


def run_demo(
    settings: Settings,
    workdir: Path,
    *,
    echo: Callable[[str], None] = print,
    keep_server: bool = False,
) -> DemoResult:
    if not sekmet_available():
        raise DemoError(f"the demo FHIR server is not installed: {MAKE_HINT}")
    for path in settings.inference.bundles.values():
        try:
            load_bundle(path, verify_hash=False)
        except BundleError as exc:
            raise DemoError(f"{exc}\nBuild the embedded default with `make model` (radlite model build).") from None
    started = time.time()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)

    fhir = SekmetServer(workdir / "fhir").start()
    echo(f"FHIR server (EHR stand-in): {fhir.base_url}")
    try:
        settings = settings.model_copy(deep=True)
        settings.store.url = f"sqlite:///{workdir / 'jobs.sqlite'}"
        settings.intake.auth.mode = "open"  # loopback-only demo; production requires tokens
        settings.ehr.base_url = fhir.base_url
        settings.ehr.auth.mode = "none"
        store = compose.open_store(settings)
        worker = compose.worker(settings, store, owner="demo-worker")

        port = free_port()
        intake = _start_intake(compose.web_app(settings, store), port)
        base = f"http://127.0.0.1:{port}"
        echo(f"adapter intake: {base}/fhir")

        reports = sample_diagnostic_reports()
        _push_patients(fhir, reports)
        job_ids = []
        for report in reports:
            r = requests.post(f"{base}/fhir/DiagnosticReport", json=report,
                              headers={"Content-Type": "application/fhir+json"}, timeout=30)
            if r.status_code not in (200, 202):
                raise DemoError(f"intake answered {r.status_code} for sample {report['id']}: {r.text[:300]}")
            job_ids.append(r.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
        echo(f"pushed {len(reports)} sample DiagnosticReports -> {len(set(job_ids))} jobs")

        t0 = time.time()
        while worker.run_once():
            done = sum(store.get(j).state != State.RECEIVED.value for j in job_ids)
            echo(f"  inference: {done}/{len(job_ids)} reports ({time.time() - t0:.0f} s)")

        client = compose.fhir_client(settings)
        mappings = compose.site_mappings(settings)
        for _ in range(20):
            write_due(store, client, mappings, "demo-scheduler", settings.writeback)
            if all(store.get(j).state in (State.WRITTEN.value, State.FAILED.value) for j in job_ids):
                break
            time.sleep(0.5)

        jobs = [requests.get(f"{base}/jobs/{j}", timeout=30).json() for j in job_ids]
        intake.shutdown()
        return DemoResult(server=fhir.base_url, jobs=jobs, seconds=time.time() - started)
    finally:
        if not keep_server:
            fhir.stop()


def _decision(res: dict[str, Any]) -> str:
    """One result as a line: the value and where it came from, or why nothing is written."""
    if res.get("skipped"):
        return f"(skipped: {res.get('error')})"
    if res.get("abstained"):
        why = (res.get("abstention") or {}).get("reason")
        text = f"abstained ({why}); model said {_short(res.get('model_value'), 60)}"
    elif not res.get("parsed") and res.get("source") is None:
        text = f"(unparsed: {res.get('error')})"
    else:
        conf = res.get("confidence")
        text = f"{_short(res.get('value'), 80)}  [{res.get('source')}" + (f", {conf:.2f}]" if conf is not None else "]")
        if res.get("abstained_items"):
            text += f"  ({len(res['abstained_items'])} item(s) not written)"
    return text


def _short(value: Any, n: int) -> str:
    text = " ".join(str(value).split())
    return text[:n] + ("…" if len(text) > n else "")


def describe(result: DemoResult) -> str:
    """A readable summary: per report, the tasks' answers and the resources written."""
    lines = []
    for job in result.jobs:
        report = (job.get("report") or {}).get("reference") or job.get("report")
        lines.append(f"\n{report} (version {job.get('version')}): {job.get('state')}")
        for task, res in (job.get("results") or {}).items():
            lines.append(f"  {task:<22} {_decision(res)}")
        for alert in job.get("critical") or []:
            lines.append(f"  ALERT {alert['category']}: {alert['item']} (rule {alert['rule']}; act within "
                         f"{alert['within_minutes']} min; to the {alert['recipient'].replace('_', ' ')})")
        for rec in job.get("followups") or []:
            lines.append(f"  FOLLOW-UP proposal: {_followup(rec)}")
        written = job.get("written") or {}
        for entry in written.get("resources", []):
            what = entry.get("task") or entry.get("role")
            if entry.get("type") == "Communication":
                what = f"critical-result alert, {what}"
            elif entry.get("type") == "ServiceRequest":
                what = "follow-up proposal"
            lines.append(f"    -> {result.server}/{entry.get('type')}/{entry.get('id')}  ({what})")
        if job.get("error"):
            lines.append(f"  error: {job['error']}")
    written = sum(j.get("state") == "written" for j in result.jobs)
    followups = sum(len(j.get("followups") or []) for j in result.jobs if j.get("state") == "written")
    alerts = sum(len(j.get("critical") or []) for j in result.jobs if j.get("state") == "written")
    lines.append(f"\n{written}/{len(result.jobs)} reports written back in {result.seconds:.0f} s"
                 f" ({alerts} critical-result alert(s), {followups} follow-up proposal(s))")
    return "\n".join(lines)


def _followup(rec: dict) -> str:
    """"ct, chest, in 3 mo (conditional)": what the proposal asks for, in a few words."""
    parts = [rec.get("procedure") or "follow-up imaging"]
    if rec.get("body_site"):
        parts.append(rec["body_site"])
    timing = rec.get("timing")
    if isinstance(timing, dict):
        span = f"{timing['low']}" if timing["low"] == timing["high"] else f"{timing['low']}-{timing['high']}"
        parts.append(f"in {span} {timing['unit']}")
    return ", ".join(parts) + (" (conditional)" if rec.get("conditional") else "")
