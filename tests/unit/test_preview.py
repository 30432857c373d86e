"""Preview (`POST /fhir/DiagnosticReport/$preview`, `radlite preview FILE`): the whole pipeline on
one report with the tiny model bundle, nothing stored, and the same Bundle the worker's results
turn into. Over HTTP a worker answers the preview (tests/previews.py runs one in a thread)."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from fhir.resources.R4B.bundle import Bundle

from integration.fhir.transaction import RESULT_SYSTEM, plan_transaction
from integration.inference.dry_run import Previewer, preview_report, store_prior
from integration.inference.router import Router
from integration.inference.worker import Worker
from integration.intake.http.app import create_app
from integration.mappings import load_mappings
from integration.ops.cli import cli
from integration.samples import sample_diagnostic_reports
from integration.settings import load_settings
from integration.store import JobStore
from tests.previews import preview_worker

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "preview-test-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"}
STAGING = 8  # sample-ct-staging


def _site(tmp_path: Path, bundle: Path, **routing) -> Path:
    site = {
        "inference": {"bundles": {"tiny": str(bundle)}, "default_bundle": "tiny", "threads": 1},
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "intake": {"auth": {"mode": "token", "token_sha256": [hashlib.sha256(TOKEN.encode()).hexdigest()]}},
        "audit": {"file": None},
        # Scored tasks: the tiny random model always lands on a label, the same one every time.
        "routing": {"rules": [], "default_tasks": ["n_staging", "m_staging"], **routing},
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site))
    return path


@pytest.fixture()
def env(tmp_path, tiny_qwen2):
    site = _site(tmp_path, tiny_qwen2)
    settings = load_settings(site, environ={})
    store = JobStore(settings.store.url)
    app = create_app(settings, store)
    ns = type("Env", (), {})()
    ns.site, ns.settings, ns.store, ns.app, ns.http = site, settings, store, app, app.test_client()
    with preview_worker(settings, store):
        yield ns
    store.close()


def _report(index: int = STAGING) -> dict:
    return copy.deepcopy(sample_diagnostic_reports()[index])


def _observations(bundle: dict) -> dict[str, dict]:
    out = {}
    for e in bundle.get("entry", []):
        r = e["resource"]
        if r["resourceType"] == "Observation":
            [ident] = [i["value"] for i in r["identifier"] if i["system"] == RESULT_SYSTEM]
            out[ident] = r
    return out


def test_http_preview_returns_the_transaction_and_stores_nothing(env) -> None:
    resp = env.http.post("/fhir/DiagnosticReport/$preview", json=_report(), headers=HEADERS)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "application/fhir+json"
    assert resp.headers["X-RadLite-Rule"] == "default"
    assert resp.headers["X-RadLite-Tasks"] == "n_staging,m_staging"
    bundle = resp.get_json()
    Bundle.model_validate(bundle)
    assert bundle["type"] == "transaction"
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    # The staging sample states M1c: the shipped critical-result rule "distant-metastases" adds an alert.
    assert types == ["Device", "Observation", "Observation", "Communication", "Provenance"]
    obs = list(_observations(bundle).values())
    assert {o["code"]["coding"][0]["code"] for o in obs} == {"21906-3", "21907-1"}  # LOINC clinical N / M
    for o in obs:
        assert o["status"] == "preliminary"
        assert o["valueCodeableConcept"]["coding"][0]["system"] == "http://cancerstaging.org"
        assert "derivedFrom" not in o  # R4 derivedFrom may not name the report; no ImagingStudy named
    # Nothing stored (the preview request is gone once answered), and a second preview gives the
    # same Observations.
    assert env.store.jobs() == [] and sum(env.store.counts().values()) == 0
    assert sum(env.store.preview_counts().values()) == 0
    again = env.http.post("/fhir/DiagnosticReport/$preview", json=_report(), headers=HEADERS).get_json()
    assert _observations(again) == _observations(bundle)


def test_http_preview_has_the_intake_checks(env) -> None:
    url = "/fhir/DiagnosticReport/$preview"
    assert env.http.post(url, json=_report(), headers={"Content-Type": "application/fhir+json"}).status_code == 401
    assert env.http.post(url, data=json.dumps(_report()),
                         headers={**HEADERS, "Content-Type": "text/plain"}).status_code == 415
    assert env.http.post(url, data=b'{"resourceType": ', headers=HEADERS).status_code == 400
    assert env.http.post(url, json={"resourceType": "Patient", "id": "p"}, headers=HEADERS).status_code == 400
    bad = _report()
    bad["status"] = "scribbled"
    resp = env.http.post(url, json=bad, headers=HEADERS)
    assert resp.status_code == 422
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert env.http.get(url, headers=HEADERS).status_code == 405
    assert env.store.jobs() == []


def test_preview_is_what_the_worker_results_become(env) -> None:
    """The preview's Observations equal the write-back's bundle built from the worker's results."""
    report = _report()
    preview = env.http.post("/fhir/DiagnosticReport/$preview", json=report, headers=HEADERS).get_json()
    assert env.http.post("/fhir/DiagnosticReport", json=report, headers=HEADERS).status_code == 202
    worker = Worker(env.settings, env.store, Router.from_settings(env.settings.inference), owner="w")
    assert worker.run_once() == 1
    [job] = env.store.jobs()
    written = plan_transaction(job, load_mappings(env.settings.writeback.mappings_dir),
                               base_url=env.settings.ehr.base_url).bundle
    assert _observations(written) == _observations(preview)
    devices = [e["resource"]["identifier"] for e in written["entry"] if e["resource"]["resourceType"] == "Device"]
    assert devices == [e["resource"]["identifier"] for e in preview["entry"]
                       if e["resource"]["resourceType"] == "Device"]


def test_temporal_comparison_uses_the_stored_prior_report(env, tiny_qwen2, tmp_path) -> None:
    settings = load_settings(_site(tmp_path, tiny_qwen2, default_tasks=["temporal_comparison", "m_staging"]),
                             environ={})
    previewer = Previewer.from_settings(settings)
    followup = _report(9)  # sample-cxr-followup
    alone = previewer.preview(followup)
    assert alone.plan.tasks == ["m_staging"] and "temporal_comparison" in alone.plan.skipped
    earlier = _report(1)
    earlier["subject"] = copy.deepcopy(followup["subject"])  # the same patient
    env.store.submit(earlier)
    withprior = previewer.preview(followup, prior_resource=store_prior(env.store, followup))
    assert withprior.plan.tasks == ["temporal_comparison", "m_staging"] and not withprior.plan.skipped
    assert "temporal_comparison" in withprior.results


def test_nothing_to_write_gives_an_empty_transaction(env, tiny_qwen2) -> None:
    settings = env.settings.model_copy(update={"routing": env.settings.routing.model_copy(update={"default_tasks": []})})
    p = preview_report(_report(), settings, Router.from_settings(settings.inference),
                       load_mappings(settings.writeback.mappings_dir))
    assert p.bundle == {"resourceType": "Bundle", "type": "transaction"}
    Bundle.model_validate(p.bundle)
    assert p.summary() == {"rule": "default", "tasks": [], "entries": {}}


def test_cli_preview_prints_the_bundle(env, tmp_path) -> None:
    report_file = tmp_path / "report.json"
    report_file.write_text(json.dumps(_report()))
    res = CliRunner().invoke(
        cli,
        ["--config", str(env.site), "preview", str(report_file)], obj={}, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    bundle = json.loads(res.stdout)
    Bundle.model_validate(bundle)
    http = env.http.post("/fhir/DiagnosticReport/$preview", json=_report(), headers=HEADERS).get_json()
    assert _observations(bundle) == _observations(http)
    summary = json.loads(res.stderr.split("preview: ", 1)[1])
    assert summary["rule"] == "default" and summary["entries"]["finding"] == 2

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**_report(), "status": "scribbled"}))
    res = CliRunner().invoke(cli,
                             ["--config", str(env.site), "preview", str(bad)], obj={})
    assert res.exit_code != 0 and "the intake would answer 422" in res.output
    dup = tmp_path / "dup.json"
    dup.write_text('{"resourceType": "DiagnosticReport", "status": "final", "status": "final"}')
    res = CliRunner().invoke(cli,
                             ["--config", str(env.site), "preview", str(dup)], obj={})
    assert res.exit_code != 0 and "duplicate key" in res.output
