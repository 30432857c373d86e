"""A tenth task, added the way docs/architecture.md says and no other way: a ``Task`` in the
registry (``integration.tasks.TASKS``), a mapping file of its write kind, a routing rule in the site
config. Then it goes through the whole product: settings and mapping checks, routing, the worker
scoring its labels with the engine on a model bundle that serves it, the decision, and the
write-back's transaction with an Observation coded as its mapping says.

No code of the adapter is touched: if a list of tasks hides somewhere (a frozen set computed at
import, a name in a table), this test fails there.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from integration import compose
from integration.fhir.transaction import RESULT_SYSTEM, plan_transaction
from integration.mappings import MappingError, coverage_problems, load_mappings
from integration.samples import sample_diagnostic_reports
from integration.settings import check_settings, load_settings
from integration.store import State
from integration.tasks import TASKS
from integration.tasks.base import ParseError, Task
from integration.tasks.scoring import accuracy_metric

ROOT = Path(__file__).resolve().parents[2]
SIDES = ("left", "right", "bilateral", "none")


def parse_side(text: str) -> str:
    word = text.strip().lower().split()[:1]
    if not word or word[0] not in SIDES:
        raise ParseError("no side in answer")
    return word[0]


# Step 1: integration/tasks/laterality.py would hold exactly this.
LATERALITY = Task(
    name="laterality",
    description="Which side the report's main finding is on.",
    instruction="Side of the main finding: left, right, bilateral or none.",
    max_new_tokens=4,
    parser=parse_side,
    render=str,
    metric=accuracy_metric,
    labels=SIDES,
    mode="score",
    write_kind="category",
    # A test of the path, not of the tiny random model's confidence: every answer is written.
    min_confidence=0.0,
)

# Step 3: mappings/laterality.yaml (SNOMED CT laterality qualifiers).
MAPPING = {
    "task": "laterality",
    "kind": "category",
    "code": {"text": "Laterality of the main finding",
             "coding": [{"system": "http://snomed.info/sct", "code": "272741003", "display": "Laterality"}]},
    "values": {
        "left": {"text": "Left", "coding": [{"system": "http://snomed.info/sct", "code": "7771000", "display": "Left"}]},
        "right": {"text": "Right", "coding": [{"system": "http://snomed.info/sct", "code": "24028007", "display": "Right"}]},
        "bilateral": {"text": "Bilateral",
                      "coding": [{"system": "http://snomed.info/sct", "code": "51440002", "display": "Right and left"}]},
        "none": {"text": "No laterality"},
    },
}


@pytest.fixture()
def with_laterality(monkeypatch):
    # Step 2: the registry entry (integration/tasks/__init__.py lists the module).
    monkeypatch.setitem(TASKS, "laterality", LATERALITY)
    return LATERALITY


@pytest.fixture()
def site(tmp_path: Path, tiny_qwen2: Path, with_laterality) -> Path:
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    (mappings / "laterality.yaml").write_text(yaml.safe_dump(MAPPING, sort_keys=False))
    # A model bundle that serves the task: the tiny test model, its manifest listing the new task.
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_qwen2, bundle)
    manifest = json.loads((bundle / "radlite.json").read_text())
    manifest["tasks"].append("laterality")
    (bundle / "radlite.json").write_text(json.dumps(manifest))
    config = {
        "inference": {"bundles": {"tiny": str(bundle)}, "default_bundle": "tiny", "threads": 1},
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "audit": {"file": None},
        "writeback": {"mappings_dir": str(mappings)},
        "routing": {"rules": [{"name": "sided", "text_contains": ["chest"], "tasks": ["laterality"]}],
                    "default_tasks": ["laterality"]},
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_new_task_is_routed_scored_decided_and_written(site: Path) -> None:
    settings = load_settings(site, environ={})
    store = compose.open_store(settings)
    worker = compose.worker(settings, store, owner="test")
    report = sample_diagnostic_reports()[0]
    job, _ = store.submit(report, source="push", correlation_id="c")
    assert worker.run_once() == 1

    job = store.get(job.id)
    assert job.state == State.INFERRED.value
    assert job.tasks == ["laterality"]
    result = job.results["laterality"]
    assert result["parsed"] and result["value"] in SIDES and result["mode"] == "score"
    assert set(result["label_probs"]) == set(SIDES)
    assert result["source"] == "model" and not result.get("abstained")  # decided on its confidence

    transaction = plan_transaction(job, load_mappings(settings.writeback.mappings_dir),
                                   base_url=settings.ehr.base_url)
    observations = [e["resource"] for e in transaction.bundle["entry"]
                    if e["resource"]["resourceType"] == "Observation"]
    [obs] = observations
    assert obs["code"]["coding"][0]["code"] == "272741003"
    assert obs["valueCodeableConcept"]["text"] == MAPPING["values"][result["value"]]["text"]
    assert any(i["system"] == RESULT_SYSTEM for i in obs["identifier"])


def test_its_threshold_is_a_fact_of_the_task(site: Path, monkeypatch) -> None:
    """Without a bundle or site threshold the task's own min_confidence decides: above any
    confidence, the answer is abstained on and nothing is written."""
    monkeypatch.setitem(TASKS, "laterality", Task(**{**LATERALITY.__dict__, "min_confidence": 1.01}))
    settings = load_settings(site, environ={})
    store = compose.open_store(settings)
    job, _ = store.submit(sample_diagnostic_reports()[0], source="push", correlation_id="c")
    assert compose.worker(settings, store, owner="test").run_once() == 1
    result = store.get(job.id).results["laterality"]
    assert result["abstained"] and result["abstention"]["reason"] == "low_confidence"
    transaction = plan_transaction(store.get(job.id), load_mappings(settings.writeback.mappings_dir),
                                   base_url=settings.ehr.base_url)
    assert not [e for e in transaction.bundle.get("entry", []) if e["resource"]["resourceType"] == "Observation"]


def test_its_mapping_is_checked_against_its_labels(site: Path, tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    assert coverage_problems(load_mappings(mappings)) == []
    broken = {**MAPPING, "values": {k: v for k, v in MAPPING["values"].items() if k != "bilateral"}
              | {"both": MAPPING["values"]["bilateral"]}}
    (mappings / "laterality.yaml").write_text(yaml.safe_dump(broken, sort_keys=False))
    problems = coverage_problems(load_mappings(mappings))
    assert any("not mapped: bilateral" in p for p in problems), problems
    assert any("values.both: not a label of laterality" in p for p in problems), problems
    (mappings / "laterality.yaml").unlink()
    with pytest.raises(MappingError, match="no mapping file for task laterality"):
        load_mappings(mappings)


def test_settings_refuse_it_when_it_is_not_registered(site: Path, monkeypatch) -> None:
    assert check_settings(load_settings(site, environ={})) == []
    monkeypatch.delitem(TASKS, "laterality")
    problems = check_settings(load_settings(site, environ={}))
    assert any("unknown task 'laterality'" in p for p in problems), problems
