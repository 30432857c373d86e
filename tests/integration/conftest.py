"""Fixtures for tests against a real FHIR server (sekmet-fhir, see tests/fhir_server.py)."""

from __future__ import annotations

import copy
import dataclasses
import os
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

from integration.inference.evidence.followup import followup_recommendations
from integration.mappings import load_mappings
from integration.mappings.critical import critical_findings, write_priority
from integration.samples import sample_diagnostic_reports
from integration.store import JobStore, State
from tests.fhir_server import MAKE_HINT, SekmetServer, full_results, sekmet_available

ROOT = Path(__file__).resolve().parents[2]


def _require_sekmet() -> None:
    if not sekmet_available():
        msg = f"sekmet-fhir is not installed in .venv-fhir: {MAKE_HINT}"
        if os.environ.get("CI"):
            pytest.fail(msg)  # CI runs `make test`, which installs it: missing there is a bug
        pytest.skip(msg)


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory) -> SekmetServer:
    """One open (no-auth) server for the session; tests use their own report ids."""
    _require_sekmet()
    server = SekmetServer(tmp_path_factory.mktemp("sekmet-shared")).start()
    yield server
    server.stop()


@pytest.fixture()
def fresh_fhir_server(tmp_path) -> SekmetServer:
    """A server of its own, for tests that stop and restart it."""
    _require_sekmet()
    server = SekmetServer(tmp_path / "sekmet").start()
    yield server
    server.stop()


@pytest.fixture()
def sekmet_factory(tmp_path) -> Callable[..., SekmetServer]:
    """Start a server with custom auth settings: ``sekmet_factory(smart_clients=[...], ...)``."""
    _require_sekmet()
    started: list[SekmetServer] = []

    def make(**kw: Any) -> SekmetServer:
        server = SekmetServer(tmp_path / f"sekmet-{len(started)}", **kw).start()
        started.append(server)
        return server

    yield make
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def mappings():
    # The shipped mappings without the critical-result rules and follow-up codes: these tests count
    # the results' resources; the alerts and ServiceRequests those add are tested on their own
    # (test_critical_alerts_server.py).
    return dataclasses.replace(load_mappings(ROOT / "mappings"), critical=(), followup=None)


@pytest.fixture(scope="session")
def mappings_with_alerts():
    return load_mappings(ROOT / "mappings")


@pytest.fixture()
def store(tmp_path) -> JobStore:
    s = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    yield s
    s.close()


@pytest.fixture()
def seeded_report(fhir_server) -> Callable[..., dict]:
    """Put a sample report (with a unique id) and its patient on a server, as the EHR would have
    them; returns the server's DiagnosticReport (with its meta.versionId)."""

    def make(index: int = 1, server: SekmetServer | None = None, **changes: Any) -> dict:
        server = server or fhir_server
        report = copy.deepcopy(sample_diagnostic_reports()[index])
        report["id"] = f"{report['id']}-{uuid.uuid4().hex[:8]}"
        report.pop("meta", None)
        report.update(changes)
        pid = report["subject"]["reference"].split("/", 1)[1]
        server.put({"resourceType": "Patient", "id": pid, "name": [{"family": "Testpatient"}]})
        return server.put(report)

    return make


def inferred_job(store: JobStore, report: dict, results: dict | None = None):
    """Submit a report, claim it for inference and finish with hand-made results (the worker's
    format); returns the job, now due for write-back."""
    job, _ = store.submit(copy.deepcopy(report))
    claimed = store.claim_for_inference("test-worker", 100, 60)
    assert job.id in [c.id for c in claimed]
    results = results if results is not None else full_results()
    for c in claimed:
        if c.id != job.id:
            store.release(c.id, "test-worker", State.INFERRING)
    # The priority the worker gives it (the shipped critical-result rules it meets).
    priority = write_priority(critical_findings(results, load_mappings(ROOT / "mappings").critical))
    assert store.finish_inference(job.id, "test-worker", list(results), results, priority,
                                  followup_recommendations(report))
    return store.get(job.id)
