"""The demo is right or silent: the ten sample reports through the real embedded model, the worker
and the write-back, with every staging and RADS result either the value the report supports or
an abstention -- never a contradiction (sample-ct-staging: cM1c or nothing, never cM0)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from integration.ops.devserver import sekmet_available
from integration.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = ROOT / "training" / "adapters" / "radlite-mini"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sekmet_available(), reason="sekmet-fhir not installed (make fhir-server)")]

# What each sample states itself (written by us: integration/samples/reports.yaml).
EXPECTED = {
    "sample-ct-nodule": {"rads_assignment": {"system": "Lung-RADS", "category": "4A"}},
    "sample-mammo": {"rads_assignment": {"system": "BI-RADS", "category": "4B"}},
    "sample-liver-mri": {"rads_assignment": {"system": "LI-RADS", "category": "LR-5"}},
    "sample-prostate-mri": {"rads_assignment": {"system": "PI-RADS", "category": "4"}},
    "sample-thyroid-us": {"rads_assignment": {"system": "TI-RADS", "category": "TR4"}},
    "sample-ct-staging": {"n_staging": "N2", "m_staging": "M1c"},
}
CHECKED = ("rads_assignment", "n_staging", "m_staging")


def _embedded_bundle(tmp_root: Path) -> Path:
    """models/radlite-mini when it was built from the committed adapter, else a fresh build."""
    from integration.inference.model_bundle import BundleError, load_bundle
    from training.build import adapter_sha256

    want = adapter_sha256(ADAPTER)
    for candidate in (ROOT / "models" / "radlite-mini", ROOT / ".cache" / "test-models" / "radlite-mini"):
        try:
            if load_bundle(candidate, verify_hash=False).manifest.adapter_sha256 == want:
                return candidate
        except BundleError:
            continue
    out = ROOT / ".cache" / "test-models" / "radlite-mini"
    subprocess.run([sys.executable, "-m", "integration.ops.cli", "model", "build", "--out", str(out)], check=True, cwd=ROOT)
    return out


@pytest.fixture(scope="module")
def demo_jobs(tmp_path_factory) -> dict[str, dict]:
    from integration.ops.demo import run_demo

    bundle = _embedded_bundle(tmp_path_factory.mktemp("bundle"))
    settings = load_settings(None)
    settings.inference.bundles = {"radlite-mini": bundle}
    settings.inference.default_bundle = "radlite-mini"
    result = run_demo(settings, tmp_path_factory.mktemp("demo"), echo=lambda _: None)
    return {job["report"]["reference"].split("/")[1] if isinstance(job.get("report"), dict) else str(job["report"]): job
            for job in result.jobs}


def test_every_sample_is_written_back(demo_jobs) -> None:
    assert len(demo_jobs) == 10
    assert {j["state"] for j in demo_jobs.values()} == {"written"}


@pytest.mark.parametrize("sample", sorted(EXPECTED))
def test_staging_and_rads_are_the_stated_value(demo_jobs, sample: str) -> None:
    results = next(j for k, j in demo_jobs.items() if sample in k)["results"]
    for task, want in EXPECTED[sample].items():
        assert task in results, f"{sample}: {task} was not routed"
        got = results[task]
        assert got["value"] == want and got["source"] == "stated", (sample, task, got.get("value"), got.get("source"))
        assert got["evidence"], (sample, task)


def test_no_sample_gets_a_staging_or_rads_answer_it_does_not_support(demo_jobs) -> None:
    for key, job in demo_jobs.items():
        sample = next((s for s in EXPECTED if s in key), None)
        for task in CHECKED:
            res = (job.get("results") or {}).get(task)
            if res is None or res.get("skipped"):
                continue
            want = (EXPECTED.get(sample) or {}).get(task)
            assert res["value"] is None or res["value"] == want, (key, task, res["value"])


def test_written_observations_follow_the_decision(demo_jobs) -> None:
    """What was written for a task is what was decided: no Observation for an abstained result."""
    for key, job in demo_jobs.items():
        written_tasks = {r.get("task") for r in (job.get("written") or {}).get("resources", []) if r.get("task")}
        for task, res in (job.get("results") or {}).items():
            if res.get("abstained"):
                assert task not in written_tasks, (key, task)


def test_the_follow_up_film_writes_the_changes_its_report_states(demo_jobs) -> None:
    results = next(j for k, j in demo_jobs.items() if "sample-cxr-followup" in k)["results"]
    got = results["temporal_comparison"]
    assert got["source"] == "stated" and not got["abstained"]
    assert {(i["finding"], i["change"]) for i in got["value"]} == {
        ("bilateral pleural effusions", "improved"), ("cardiomegaly", "unchanged"), ("interstitial edema", "resolved"),
        ("left basilar opacity", "resolved"), ("right picc line", "new")}
