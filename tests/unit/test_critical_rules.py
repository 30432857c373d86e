"""Critical-result rules (issue 23, first part): the shipped rule file, its validation against each
task's vocabulary, which written results meet a rule (never an abstained one), and the job API
showing them most urgent first."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from integration.intake.http.app import create_app
from integration.mappings import validate_paths
from integration.mappings.critical import RULES_PATH, critical_findings, load_rules_file
from integration.mappings.loader import load_rules
from integration.samples import sample_diagnostic_reports
from integration.settings import load_settings
from integration.store import JobStore

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = load_rules(ROOT / "mappings")
TOKEN = "critical-test-token"


def _record(value, **extra):
    return {"parsed": True, "value": value, "abstained": False, "source": "model", "evidence": {}, **extra}


def test_the_shipped_rules_load_and_validate_with_their_sources() -> None:
    assert {r.id for r in SHIPPED} >= {"pneumothorax", "birads-highly-suspicious", "lirads-hcc", "distant-metastases"}
    assert all(r.source for r in SHIPPED)
    validation = validate_paths([ROOT / "mappings"])
    assert validation.ok, validation.problems
    assert ROOT / "mappings" / RULES_PATH in validation.files


@pytest.mark.parametrize("rule, message", [
    ({"when": {"task": "x_ray_magic", "label": "A", "status": ["positive"]}}, "unknown task 'x_ray_magic'"),
    ({"when": {"task": "abnormality_detection", "label": "Pneumothrax", "status": ["positive"]}},
     "'Pneumothrax' is not a label of abnormality_detection"),
    ({"when": {"task": "abnormality_detection", "label": "Pneumothorax", "status": ["present"]}},
     "'present' is not one of positive, negative, uncertain"),
    ({"when": {"task": "rads_assignment", "system": "BI-RADS", "category": ["4D"]}}, "'4D' is not one of"),
    ({"when": {"task": "rads_assignment", "system": "BIRADS", "category": ["5"]}}, "'BIRADS' is not a RADS system"),
    ({"when": {"task": "m_staging", "value": []}}, "no value triggers the rule"),
    ({"when": {"task": "m_staging", "value": ["M1"], "label": "Edema"}}, "when.label: not a condition of a category task"),
    ({"when": {"task": "radiology_qa", "value": ["x"]}}, "writes 'none' answers, which no rule can test"),
    ({"recipient": "team"}, "recipient 'team' needs a team name"),
    ({"within_minutes": 0}, "within_minutes"),
    ({"category": "panic"}, "category"),
])
def test_a_rule_that_does_not_fit_its_task_is_refused_with_file_and_line(tmp_path, rule, message) -> None:
    base = {"id": "r1", "category": "critical", "recipient": "ordering_provider", "within_minutes": 60,
            "source": "test", "when": {"task": "abnormality_detection", "label": "Pneumothorax", "status": ["positive"]}}
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"rules": [{**base, **rule}]}, sort_keys=False))
    rules, problems = load_rules_file(path)
    assert rules == ()
    assert any(message in p for p in problems), problems
    assert all(p.startswith(f"{path}:") for p in problems), problems


def test_duplicate_rule_ids_are_refused(tmp_path) -> None:
    rule = {"id": "same", "category": "critical", "recipient": "ordering_provider", "within_minutes": 60,
            "source": "test", "when": {"task": "m_staging", "value": ["M1"]}}
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"rules": [rule, rule]}))
    assert any("duplicate rule id 'same'" in p for p in load_rules_file(path)[1])


def test_written_results_meet_rules_and_abstained_ones_never_do() -> None:
    evidence = [{"offset": 10, "length": 20}]
    labels = {"Pneumothorax": "positive", "Edema": "negative"}
    results = {
        "abnormality_detection": _record(labels, evidence={"label:Pneumothorax": evidence}),
        "rads_assignment": _record({"system": "BI-RADS", "category": "5"}),
        "m_staging": _record("M1c"),
        "temporal_comparison": _record([{"finding": "pleural effusion", "change": "worsened"},
                                        {"finding": "atelectasis", "change": "improved"}]),
    }
    found = critical_findings(results, SHIPPED)
    assert [(f.rule.id, f.item) for f in found] == [
        ("pneumothorax", "Pneumothorax"),
        ("birads-highly-suspicious", "BI-RADS 5"),
        ("distant-metastases", "M1c"),
        ("worsening-since-prior", "pleural effusion: worsened"),
    ]
    assert found[0].evidence == evidence and found[0].rule.category == "critical"

    # Abstained, skipped, unparsed or a status that does not trigger: nothing.
    quiet = {
        "abnormality_detection": _record({"Pneumothorax": "uncertain"}),
        "rads_assignment": {**_record(None), "abstained": True, "model_value": {"system": "BI-RADS", "category": "5"}},
        "m_staging": {"parsed": False, "value": "M1", "error": "x"},
        "temporal_comparison": {"parsed": False, "value": None, "skipped": True},
    }
    assert critical_findings(quiet, SHIPPED) == []
    assert critical_findings(None, SHIPPED) == []


def test_the_job_api_shows_critical_findings_most_urgent_first(tmp_path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "intake": {"auth": {"mode": "token", "token_sha256": [hashlib.sha256(TOKEN.encode()).hexdigest()]}},
        "audit": {"file": None},
    }))
    settings = load_settings(site, environ={})
    store = JobStore(settings.store.url)
    job, _ = store.submit(sample_diagnostic_reports()[0], correlation_id="c")
    [claimed] = store.claim_for_inference("w", 1, 60)
    results = {"m_staging": _record("M1a"), "abnormality_detection": _record({"Pneumothorax": "positive"})}
    assert store.finish_inference(claimed.id, "w", list(results), results)
    http = create_app(settings, store).test_client()
    body = http.get(f"/jobs/{job.id}", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert [(c["rule"], c["category"], c["recipient"]) for c in body["critical"]] == [
        ("pneumothorax", "critical", "ordering_provider"),
        ("distant-metastases", "incidental_actionable", "ordering_provider"),
    ]


def test_the_worker_audits_and_counts_each_finding_without_phi(tmp_path, tiny_qwen2) -> None:
    import json
    import shutil

    from integration import compose, monitoring
    from integration.audit import configure_logging

    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    # A rule that any N answer meets (the tiny random model always lands on a label).
    (mappings / RULES_PATH).write_text(yaml.safe_dump({"rules": [{
        "id": "any-n", "category": "urgent", "recipient": "team", "team": "tumour-board", "within_minutes": 30,
        "source": "test", "when": {"task": "n_staging", "value": ["N0", "N1", "N2", "N3"]}}]}))
    audit_file = tmp_path / "audit.jsonl"
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "inference": {"bundles": {"tiny": str(tiny_qwen2)}, "default_bundle": "tiny", "threads": 1},
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "writeback": {"mappings_dir": str(mappings)},
        "routing": {"rules": [], "default_tasks": ["n_staging"]},
    }))
    settings = load_settings(site, environ={})
    configure_logging("WARNING", audit_file=audit_file)
    try:
        store = compose.open_store(settings)
        before = monitoring.CRITICAL_FINDINGS.labels("any-n", "urgent")._value.get()
        report = sample_diagnostic_reports()[8]  # sample-ct-staging: its nodes are stated or in its findings
        job, _ = store.submit(report, correlation_id="c")
        assert compose.worker(settings, store, owner="w").run_once() == 1
    finally:
        configure_logging("WARNING")
    events = [json.loads(line) for line in audit_file.read_text().splitlines()]
    [event] = [e for e in events if e["event"] == "result.critical"]
    assert event["rule"] == "any-n" and event["category"] == "urgent" and event["task"] == "n_staging"
    assert event["job"] == job.id and "value" not in event and "item" not in event
    assert monitoring.CRITICAL_FINDINGS.labels("any-n", "urgent")._value.get() == before + 1


def _decided_pneumothorax(report: str) -> dict:
    from integration.inference.evidence.decide import decide
    from integration.tasks import TaskInput
    from integration.tasks.abnormality_detection import CHEXPERT_LABELS

    value = dict.fromkeys(CHEXPERT_LABELS, "negative") | {"Pneumothorax": "positive"}
    record = {"parsed": True, "value": value, "error": None, "raw": "", "mode": "score",
              "slot_probs": {label: {"positive": 0.99 if label == "Pneumothorax" else 0.01,
                                     "negative": 0.01 if label == "Pneumothorax" else 0.99, "uncertain": 0.0}
                             for label in CHEXPERT_LABELS}}
    return decide("abnormality_detection", TaskInput(report=report), record, 0.5)


@pytest.mark.parametrize("report, alerts", [
    ("FINDINGS: New large right pneumothorax with mediastinal shift.\nIMPRESSION: Large right pneumothorax.", True),
    ("FINDINGS: There is a small left apical pneumothorax.\nIMPRESSION: Small left pneumothorax.", True),
    ("FINDINGS: A right chest tube is in place. The small right apical pneumothorax has decreased in size.\n"
     "IMPRESSION: Decreased small right pneumothorax with chest tube in place.", False),
    ("FINDINGS: Unchanged small right pneumothorax.\nIMPRESSION: Stable small right pneumothorax.", False),
])
def test_a_pneumothorax_the_report_calls_improving_or_stable_raises_no_critical_alert(report, alerts) -> None:
    record = _decided_pneumothorax(report)
    assert record["value"].get("Pneumothorax") == "positive", record  # written either way
    found = [f.rule.id for f in critical_findings({"abnormality_detection": record}, SHIPPED)]
    assert found == (["pneumothorax"] if alerts else []), record.get("stated_changes")


def test_unless_stated_takes_change_words_only(tmp_path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"rules": [{
        "id": "r", "category": "critical", "recipient": "ordering_provider", "within_minutes": 60, "source": "t",
        "when": {"task": "abnormality_detection", "label": "Pneumothorax", "status": ["positive"],
                 "unless_stated": ["smaller"]}}]}))
    assert any("'smaller' is not a change" in p for p in load_rules_file(path)[1])


def test_a_rule_can_compare_with_the_prior_report() -> None:
    from integration.mappings.critical import (
        Condition,
        Rule,
        condition_problems,
        critical_findings,
        prior_tasks,
        record_prior,
    )

    rule = Rule(id="new-m1", category="urgent", recipient="ordering_provider", within_minutes=480, source="test",
                when=Condition(task="m_staging", value=("M1", "M1a", "M1b", "M1c"), prior=("M0",)))
    assert condition_problems(rule) == [] and prior_tasks((rule,)) == {"m_staging"}

    def now_m1c() -> dict:
        return {"m_staging": {"value": "M1c", "parsed": True, "evidence": {}}}

    # No prior report, or one with nothing written for the task: not met.
    assert critical_findings(now_m1c(), (rule,)) == []
    results = now_m1c()
    record_prior(results, {"m_staging": {"value": "M0", "parsed": True, "abstained": True}}, "p0", {"m_staging"})
    assert "prior_value" not in results["m_staging"] and critical_findings(results, (rule,)) == []
    # The prior said M1 already: not new.
    results = now_m1c()
    record_prior(results, {"m_staging": {"value": "M1", "parsed": True}}, "p1", {"m_staging"})
    assert critical_findings(results, (rule,)) == []
    # The prior said M0: met, and the result says which prior job it compared with.
    results = now_m1c()
    record_prior(results, {"m_staging": {"value": "M0", "parsed": True}}, "p2", {"m_staging"})
    [finding] = critical_findings(results, (rule,))
    assert finding.rule.id == "new-m1" and results["m_staging"]["prior_job"] == "p2"

    # RADS: the prior's category of the same system.
    rads = Rule(id="lr5-new", category="urgent", recipient="ordering_provider", within_minutes=480, source="test",
                when=Condition(task="rads_assignment", system="LI-RADS", category=("LR-5",), prior=("LR-3", "LR-4")))
    assert condition_problems(rads) == []
    results = {"rads_assignment": {"value": {"system": "LI-RADS", "category": "LR-5"}, "parsed": True}}
    record_prior(results, {"rads_assignment": {"value": {"system": "LI-RADS", "category": "LR-4"}, "parsed": True}},
                 "p3", {"rads_assignment"})
    assert [f.rule.id for f in critical_findings(results, (rads,))] == ["lr5-new"]

    # Not for label_status rules, and only known values.
    bad = Rule(id="x", category="urgent", recipient="ordering_provider", within_minutes=5, source="t",
               when=Condition(task="abnormality_detection", label="Pneumothorax", status=("positive",), prior=("M0",)))
    assert any(loc == ("when", "prior") for loc, _ in condition_problems(bad))
    wrong = Rule(id="y", category="urgent", recipient="ordering_provider", within_minutes=5, source="t",
                 when=Condition(task="m_staging", value=("M1",), prior=("M9",)))
    assert any("'M9'" in problem for _, problem in condition_problems(wrong))


def test_the_worker_compares_with_the_patients_prior_report(tmp_path, tiny_qwen2) -> None:
    import shutil

    from integration import compose
    from integration.samples import diagnostic_report, sample_reports

    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    (mappings / RULES_PATH).write_text(yaml.safe_dump({"rules": [{
        "id": "new-distant-metastases", "category": "urgent", "recipient": "ordering_provider", "within_minutes": 480,
        "source": "test", "when": {"task": "m_staging", "value": ["M1", "M1a", "M1b", "M1c"], "prior": ["M0"]}}]}))
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "inference": {"bundles": {"tiny": str(tiny_qwen2)}, "default_bundle": "tiny", "threads": 1},
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "writeback": {"mappings_dir": str(mappings)},
        "routing": {"rules": [], "default_tasks": ["m_staging"]},
    }))
    settings = load_settings(site, environ={})
    store = compose.open_store(settings)
    staging = sample_reports()[8]  # sample-ct-staging: states M1c
    before = diagnostic_report({**staging, "text": "FINDINGS: Right upper lobe mass.\nIMPRESSION: Clinical stage "
                                                   "cT2a N1 M0. No distant metastases."})
    before["id"] = "staging-before"
    now = diagnostic_report(staging)
    first, _ = store.submit(before, correlation_id="c1")
    assert compose.worker(settings, store, owner="w").run_once() == 1
    second, _ = store.submit(now, correlation_id="c2")
    assert compose.worker(settings, store, owner="w").run_once() == 1
    first, second = store.get(first.id), store.get(second.id)
    assert first.results["m_staging"]["value"] == "M0" and first.priority == 0
    assert second.results["m_staging"]["value"] == "M1c"
    assert (second.results["m_staging"]["prior_value"], second.results["m_staging"]["prior_job"]) == ("M0", first.id)
    assert second.priority == 2  # urgent: the early wake writes it
    store.close()


def test_the_job_list_puts_critical_results_first_and_needs_admin(tmp_path) -> None:
    admin, reader = "list-admin-token", "list-reader-token"
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "intake": {"auth": {"mode": "token", "tokens": [
            {"sha256": hashlib.sha256(admin.encode()).hexdigest(), "scopes": ["admin"]},
            {"sha256": hashlib.sha256(reader.encode()).hexdigest(), "scopes": ["jobs:read"]}]}},
        "audit": {"file": None},
    }))
    settings = load_settings(site, environ={})
    store = JobStore(settings.store.url)
    reports = sample_diagnostic_reports()
    ids = []
    for report, results, priority in ((reports[0], {"m_staging": _record("M0")}, 0),
                                      (reports[1], {"m_staging": _record("M1a")}, 1),
                                      (reports[2], {"abnormality_detection": _record({"Pneumothorax": "positive"})}, 3)):
        job, _ = store.submit(report, correlation_id="c")
        [claimed] = store.claim_for_inference("w", 1, 60)
        assert store.finish_inference(claimed.id, "w", list(results), results, priority)
        ids.append(job.id)
    http = create_app(settings, store).test_client()
    assert http.get("/jobs", headers={"Authorization": f"Bearer {reader}"}).status_code == 403
    body = http.get("/jobs", headers={"Authorization": f"Bearer {admin}"}).get_json()
    assert [j["id"] for j in body["jobs"]] == [ids[2], ids[1], ids[0]] and body["count"] == 3
    assert body["jobs"][0]["critical"] == [{"rule": "pneumothorax", "category": "critical", "item": "Pneumothorax"}]
    assert http.get("/jobs?state=written", headers={"Authorization": f"Bearer {admin}"}).get_json()["count"] == 0
    assert http.get("/jobs?limit=0", headers={"Authorization": f"Bearer {admin}"}).status_code == 400
    assert http.get("/jobs?state=nope", headers={"Authorization": f"Bearer {admin}"}).status_code == 400
    store.close()
