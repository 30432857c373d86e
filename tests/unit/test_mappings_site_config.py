"""Site configuration: the annotated example loads, default.yaml lists every setting, and the
cross-field checks run at startup name the file, the key and what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from integration.inference.routing import select_tasks
from integration.samples import sample_diagnostic_reports
from integration.settings import (
    DEFAULT_CONFIG,
    Settings,
    SettingsError,
    check_settings,
    load_settings,
    startup_settings,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "example-site.yaml"
SECRETS = {"RADLITE__STORE__URL": "postgresql+psycopg://radlite:from-the-vault@db.radiology.example.org/radlite",
           "RADLITE_AUDIT_SECRET": "not-used-by-load-settings"}


def test_example_site_loads_with_secrets_from_env() -> None:
    s = startup_settings(EXAMPLE, environ=SECRETS)
    assert check_settings(s) == []
    assert s.store.url == SECRETS["RADLITE__STORE__URL"]  # env over site file
    assert s.sources[-1] == "RADLITE__STORE__URL"
    assert s.ehr.auth.mode == "smart" and s.ehr.auth.private_key_file == Path("/etc/radlite/smart-key.pem")
    assert s.intake.auth.token_sha256_file == Path("/etc/radlite/intake-token-digests.txt")
    assert s.inference.routes == {"impression_generation": "radlite-base"}
    assert set(s.inference.bundles) == {"radlite-mini", "radlite-base"}
    assert s.pull.enabled and s.pull.search["status"] == "final"
    # No secret in the file itself.
    text = EXAMPLE.read_text()
    assert "from-the-vault" not in text and "BEGIN" not in text
    # Its rules route the sample reports by LOINC code and by FHIRPath.
    by_id = {r["id"]: r for r in sample_diagnostic_reports()}
    assert select_tasks(by_id["sample-cxr-chf"], s.routing)[0] == "chest-radiograph"
    assert select_tasks(by_id["sample-mammo"], s.routing)[0] == "screening-mammography"
    assert select_tasks(by_id["sample-ct-staging"], s.routing) == ("oncologic-staging",
                                                           ["n_staging", "m_staging", "impression_generation"])
    assert select_tasks(by_id["sample-thyroid-us"], s.routing) == ("default", ["impression_generation"])


def test_default_yaml_lists_every_setting() -> None:
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())

    def walk(model, node, path=""):
        for name, field in model.model_fields.items():
            if name == "sources":
                continue
            assert isinstance(node, dict) and name in node, f"config/default.yaml lacks {path}{name}"
            ann = field.annotation
            if isinstance(ann, type) and hasattr(ann, "model_fields"):
                walk(ann, node[name], f"{path}{name}.")

    walk(Settings, data)
    assert load_settings(environ={}).writeback.mappings_dir == ROOT / "mappings"


def _site(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "site.yaml"
    p.write_text(text)
    return p


def test_cross_field_problems_name_file_key_and_expectation(tmp_path: Path) -> None:
    site = _site(tmp_path, """
inference:
  routes: {impression_generation: radlite-large}
routing:
  rules:
    - {name: chest, loinc: ["36643-5"], tasks: [abnormality_detection, knitting]}
    - {name: qa, tasks: [radiology_qa]}
    - {name: bad-path, fhirpath: "DiagnosticReport.nosuchfunction()", tasks: [m_staging]}
ehr:
  auth: {mode: smart, client_id: radlite}
""")
    s = load_settings(site, environ={"RADLITE__INFERENCE__DEFAULT_BUNDLE": "other"})  # each value alone is fine
    problems = check_settings(s)
    expect = [
        "RADLITE__INFERENCE__DEFAULT_BUNDLE: inference.default_bundle: 'other' is not a configured bundle "
        "(expected one of inference.bundles: ['radlite-mini'])",
        f"{site}: inference.routes.impression_generation: routed to 'radlite-large', which is not a configured bundle",
        f"{site}: routing.rules.0.tasks: rule 'chest': unknown task 'knitting' (expected one of",
        f"{site}: routing.rules.1.tasks: rule 'qa': radiology_qa needs API input",
        f"{site}: routing.rules.2.fhirpath: rule 'bad-path': not a valid FHIRPath expression",
        f"{site}: ehr.auth.token_url: required with ehr.auth.mode smart",
        f"{site}: ehr.auth.private_key_file: required with ehr.auth.mode smart",
    ]
    for e in expect:
        assert any(p.startswith(e) for p in problems), (e, problems)
    assert len(problems) == len(expect), problems
    with pytest.raises(SettingsError) as err:
        startup_settings(site, environ={})
    assert str(err.value).startswith("invalid settings:\n  ") and "knitting" in str(err.value)


def test_services_check_settings_at_startup(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from integration.ops.cli import cli

    site = _site(tmp_path, "inference:\n  routes: {m_staging: nope}\naudit: {file: null}\n")
    res = CliRunner().invoke(cli, ["--config", str(site), "worker", "--once"], obj={})
    assert res.exit_code != 0
    assert f"{site}: inference.routes.m_staging: routed to 'nope'" in res.output
