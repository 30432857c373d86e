"""Probes, no authentication:

* ``GET /healthz`` -- liveness: the process answers. Nothing else is checked, so a database or EHR
  outage never gets a healthy process restarted.
* ``GET /readyz`` -- readiness: the job store answers and its schema is current, every model
  bundle in use (the default and the routes' targets) has a manifest that loads (no weights are
  read), and the EHR's FHIR server answers
  ``GET [base]/metadata``. 200 when all pass, else 503; the body is an OperationOutcome with one
  issue per check (``information`` when it passed, ``error`` when not), whose diagnostics say what
  failed without secrets or patient data. Checks run in parallel, each bounded by a timeout.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Callable

from flask import Blueprint, jsonify

from integration.api.context import runtime
from integration.api.errors import response_mimetype
from integration.fhir.issues import Issue
from integration.fhir.outcome import outcome_response

bp = Blueprint("health", __name__)

# Seconds per readiness check; the FHIR metadata request gets a bit less than that.
CHECK_TIMEOUT = 5.0
FHIR_TIMEOUT = 3.0
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def check_store(store) -> Check:
    from sqlalchemy import select

    from integration.store import Job
    from integration.store.migrations import check_current

    with store.engine.connect() as conn:
        conn.execute(select(Job.id).limit(1)).first()
        problem = check_current(conn)
    if problem:
        return Check("store", False, f"store: {problem}")
    return Check("store", True, f"store: {store.engine.dialect.name} reachable, schema current")


def used_bundles(settings) -> dict:
    """The bundles inference can use: the default one and every route's target (name -> path).
    A bundle that is configured but used by nothing is not needed to be ready (default.yaml
    always configures radlite-mini, and a site's bundles are merged with it)."""
    inf = settings.inference
    names = [inf.default_bundle or next(iter(inf.bundles)), *inf.routes.values()]
    return {name: inf.bundles[name] for name in dict.fromkeys(names) if name in inf.bundles}


def check_bundles(settings) -> Check:
    from integration.inference import BundleError, load_bundle

    problems, names = [], []
    for name, path in used_bundles(settings).items():
        try:
            bundle = load_bundle(path, verify_hash=False)
        except BundleError as exc:
            first = str(exc).splitlines()
            problems.append(f"{name}: {' '.join(line.strip() for line in first)[:300]}")
            continue
        names.append(f"{name} {bundle.manifest.version}")
    if problems:
        return Check("bundles", False, "model bundles: " + "; ".join(problems))
    return Check("bundles", True, "model bundles: " + ", ".join(names))


def check_fhir(settings) -> Check:
    import requests

    url = settings.ehr.base_url.rstrip("/") + "/metadata"
    timeout = min(FHIR_TIMEOUT, settings.ehr.timeout_seconds)
    try:
        resp = requests.get(url, timeout=timeout, headers={"Accept": "application/fhir+json"})
    except requests.RequestException as exc:
        return Check("fhir", False, f"FHIR server {settings.ehr.base_url}: unreachable ({type(exc).__name__})")
    if resp.status_code in (401, 403):
        # Reachable; this server wants a token even for its CapabilityStatement.
        return Check("fhir", True, f"FHIR server {settings.ehr.base_url}: reachable (metadata answered {resp.status_code})")
    if resp.status_code != 200:
        return Check("fhir", False, f"FHIR server {settings.ehr.base_url}: GET metadata answered {resp.status_code}")
    return Check("fhir", True, f"FHIR server {settings.ehr.base_url}: reachable")


def readiness(checks: dict[str, Callable[[], Check]], timeout: float = CHECK_TIMEOUT) -> list[Check]:
    """Run the checks in parallel; one that raises or outlives ``timeout`` has failed."""
    futures = {name: _pool.submit(fn) for name, fn in checks.items()}
    deadline = time.monotonic() + timeout
    out = []
    for name, fut in futures.items():
        try:
            out.append(fut.result(timeout=max(0.0, deadline - time.monotonic())))
        except FutureTimeout:
            out.append(Check(name, False, f"{name}: no answer within {timeout:g} s"))
        except Exception as exc:  # noqa: BLE001 -- a failing check is a failed check, not a 500
            out.append(Check(name, False, f"{name}: {_short(exc)}"))
    return out


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    rt = runtime()
    results = readiness({
        "store": lambda: check_store(rt.store),
        "bundles": lambda: check_bundles(rt.settings),
        "fhir": lambda: check_fhir(rt.settings),
    })
    issues = [Issue.info("informational", c.detail) if c.ok else Issue.error("transient", c.detail) for c in results]
    ready = all(c.ok for c in results)
    return outcome_response(issues, 200 if ready else 503, mimetype=response_mimetype())
