"""Settings layering and errors; routing rules that pick tasks for a report."""

from __future__ import annotations

from pathlib import Path

import pytest

from integration.inference.routing import check_routing, select_tasks
from integration.samples import sample_diagnostic_reports
from integration.settings import Settings, SettingsError, load_settings


def _site(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "site.yaml"
    p.write_text(text)
    return p


def test_defaults_load() -> None:
    s = load_settings(environ={})
    assert s.inference.compute_type == "auto"
    assert s.intake.auth.mode == "token"  # secure by default


def test_site_file_and_env_layering(tmp_path: Path) -> None:
    site = _site(tmp_path, "inference:\n  threads: 2\nworker:\n  batch_size: 9\n")
    s = load_settings(site, environ={"RADLITE__WORKER__BATCH_SIZE": "3"})
    assert s.inference.threads == 2  # site over default
    assert s.worker.batch_size == 3  # env over site
    assert s.inference.max_batch_size == 32  # untouched default


def test_errors_name_file_key_and_expectation(tmp_path: Path) -> None:
    site = _site(tmp_path, "inference:\n  threads: lots\n")
    with pytest.raises(SettingsError) as err:
        load_settings(site, environ={})
    assert f"{site}: inference.threads" in str(err.value)
    with pytest.raises(SettingsError, match="RADLITE__WORKER__BATCH_SIZE: worker.batch_size"):
        load_settings(environ={"RADLITE__WORKER__BATCH_SIZE": "0"})
    with pytest.raises(SettingsError, match="inference.thread: Extra inputs are not permitted"):
        load_settings(_site(tmp_path, "inference:\n  thread: 2\n"), environ={})  # a typo is an error
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "missing.yaml", environ={})


def test_default_routing_picks_tasks_by_report_type() -> None:
    s = load_settings(environ={})
    by_id = {r["id"]: r for r in sample_diagnostic_reports()}
    assert select_tasks(by_id["sample-cxr-normal"], s.routing)[0] == "chest-radiograph"
    assert "abnormality_detection" in select_tasks(by_id["sample-cxr-chf"], s.routing)[1]
    assert select_tasks(by_id["sample-mammo"], s.routing) == ("breast-imaging", ["rads_assignment", "impression_generation"])
    assert select_tasks(by_id["sample-thyroid-us"], s.routing)[0] == "rads-organs"
    rule, tasks = select_tasks(by_id["sample-ct-staging"], s.routing)
    assert {"n_staging", "m_staging"} <= set(tasks)


def test_fhirpath_rule(tmp_path: Path) -> None:
    site = _site(tmp_path, """
routing:
  rules:
    - name: final-ct
      fhirpath: "DiagnosticReport.status = 'final' and DiagnosticReport.category.coding.where(code = 'CT').exists()"
      tasks: [m_staging]
  default_tasks: []
""")
    s = load_settings(site, environ={})
    by_id = {r["id"]: r for r in sample_diagnostic_reports()}
    assert select_tasks(by_id["sample-ct-staging"], s.routing) == ("final-ct", ["m_staging"])
    assert select_tasks(by_id["sample-mammo"], s.routing) == ("default", [])


def test_routing_that_cannot_run_is_refused(tmp_path: Path) -> None:
    s = load_settings(_site(tmp_path, "routing:\n  rules:\n    - {name: x, tasks: [radiology_qa, knitting]}\n"),
                      environ={})
    with pytest.raises(ValueError) as err:
        check_routing(s.routing)
    assert "radiology_qa needs API input" in str(err.value) and "unknown task 'knitting'" in str(err.value)


def test_code_defaults_agree_with_config_default_yaml() -> None:
    """One default per setting: where config/default.yaml sets a key, the model's own default is
    the same, except the product configuration that only the YAML holds (the shipped bundle and
    routing; empty in code)."""
    code = Settings().model_dump(exclude={"sources"})
    shipped = load_settings(None, environ={}).model_dump(exclude={"sources"})

    def differences(a, b, path=()):
        if isinstance(a, dict) and isinstance(b, dict):
            return [d for k in sorted(set(a) | set(b)) for d in differences(a.get(k), b.get(k), path + (k,))]
        return [".".join(path)] if a != b else []

    assert differences(code, shipped) == ["inference.default_bundle", "routing.default_tasks", "routing.rules"]
