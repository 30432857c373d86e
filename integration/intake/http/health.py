"""Probes, no authentication needed:

* ``GET /healthz`` -- liveness: the process answers. Nothing else is checked, so a database or EHR
  outage never gets a healthy process restarted.
* ``GET /readyz`` -- readiness of *this web process*: its job store answers a trivial query and its
  schema is current. That is all the intake needs to accept and durably queue a report, so that is
  all it checks. In particular it never calls the EHR: the intake keeps queueing through an EHR
  outage (the write-back retries later), and a readiness probe that followed the EHR would have a
  load balancer pull every healthy intake at once. Nor does it load model bundles, which the web
  process does not need to queue work (``radlite doctor`` and the workers check those).

  The answer is ``{"status": "ready"}`` (200) or ``{"status": "not ready"}`` (503) and nothing
  else: a probe is reachable by anyone who can reach the port, and which database or EHR the
  adapter uses is no business of theirs. A caller whose bearer token has the ``admin`` scope also
  gets ``checks`` (each check's name, outcome and detail, e.g. the store's kind). A missing, invalid
  or lesser token gets the plain answer, never 401: a probe must not fail over authentication.

The EHR's health is reported on ``/metrics`` instead (``radlite_ehr_up``, :func:`ehr_reachable`,
probed at most every :data:`EHR_PROBE_INTERVAL` seconds) and by ``radlite doctor``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from typing import Any, Callable

import requests
from flask import Blueprint, jsonify, request
from sqlalchemy import select

from integration.intake.http.auth import allows
from integration.intake.http.context import runtime
from integration.store import Job
from integration.store.migrations import check_current

bp = Blueprint("health", __name__)

# Seconds a readiness check may take before it counts as failed.
CHECK_TIMEOUT = 5.0
# The EHR probe behind radlite_ehr_up: its request timeout, and how often at most it runs (per web
# process), however often /metrics is scraped.
FHIR_TIMEOUT = 3.0
EHR_PROBE_INTERVAL = 30.0
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="readyz")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def check_store(store) -> Check:
    """The store answers a trivial query and its schema is at head (a web process on an old schema
    would fail every insert)."""
    damaged = getattr(store, "damaged", None)
    if damaged:
        # The intake met a corruption error: it answers 503 to every push, so it is not ready
        # (a load balancer should send the EHR's pushes to a healthy replica).
        return Check("store", False, "store: the database file is damaged (radlite db check)")
    with store.engine.connect() as conn:
        conn.execute(select(Job.id).limit(1)).first()
        problem = check_current(conn)
    if problem:
        return Check("store", False, f"store: {problem}")
    return Check("store", True, f"store: {store.engine.dialect.name} reachable, schema current")


def ehr_reachable(settings) -> bool:
    """Whether the EHR's FHIR server answers ``GET [base]/metadata`` (401/403 count: the server is
    there and wants a token even for its CapabilityStatement). For ``radlite_ehr_up``."""
    url = settings.ehr.base_url.rstrip("/") + "/metadata"
    timeout = min(FHIR_TIMEOUT, settings.ehr.timeout_seconds)
    try:
        resp = requests.get(url, timeout=timeout, headers={"Accept": "application/fhir+json"})
    except requests.RequestException:
        return False
    return resp.status_code == 200 or resp.status_code in (401, 403)


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


def _admin_asks() -> bool:
    """Whether the caller presented a bearer token with the admin scope. Only a request that sends
    a token is considered (even with ``intake.auth.mode: open``), so a plain probe never gets
    details."""
    header = request.headers.get("Authorization")
    if not header:
        return False
    reason, scopes = runtime().auth.authenticate(header)
    return reason is None and allows(scopes, "admin")


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    store = runtime().store
    results = readiness({"store": lambda: check_store(store)})
    ready = all(c.ok for c in results)
    body: dict[str, Any] = {"status": "ready" if ready else "not ready"}
    if _admin_asks():
        body["checks"] = [asdict(c) for c in results]
    return jsonify(body), 200 if ready else 503
