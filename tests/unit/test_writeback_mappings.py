"""Mapping files: the shipped ones load and cover every label; broken ones fail with file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from integration.mappings import (
    MappingError,
    coverage_problems,
    load_file,
    load_mappings,
    loinc_valid,
    sctid_valid,
)
from integration.tasks import TASKS

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "mappings"


def test_shipped_mappings_load_and_cover_every_label() -> None:
    m = load_mappings(SHIPPED)
    assert set(m.by_task) == set(TASKS)
    assert coverage_problems(m) == []
    assert not m.get("radiology_nli").writes and not m.get("radiology_qa").writes


def test_shipped_codes_pass_check_digits() -> None:
    m = load_mappings(SHIPPED)
    seen = 0
    for mapping in m.by_task.values():
        for _, coding in mapping.codings():
            seen += 1
            if coding.system == "http://snomed.info/sct":
                assert sctid_valid(coding.code), coding
            if coding.system == "http://loinc.org":
                assert loinc_valid(coding.code), coding
    assert seen > 30


def test_check_digits() -> None:
    assert sctid_valid("60046008") and not sctid_valid("60046009") and not sctid_valid("0123")
    assert loinc_valid("19005-8") and not loinc_valid("19005-7") and not loinc_valid("19005")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_bad_snomed_code_names_file_line_and_key(tmp_path: Path) -> None:
    p = _write(tmp_path, "n.yaml", """task: n_staging
kind: category
code:
  text: N
  coding:
    - {system: "http://snomed.info/sct", code: "60046009"}
values: {}
""")
    mapping, problems = load_file(p)
    assert mapping is None
    [msg] = problems
    assert msg.startswith(f"{p}:6: code.coding.0:") and "check digit" in msg


def test_unknown_system_needs_declaration(tmp_path: Path) -> None:
    text = """task: m_staging
kind: category
code: {text: M, coding: [{system: "http://example.org/site-codes", code: "M-X"}]}
values: {}
"""
    p = _write(tmp_path, "m.yaml", text)
    _, problems = load_file(p)
    assert len(problems) == 1 and ":3: code.coding.0.system: unknown code system" in problems[0]
    p.write_text(text + "local_systems: ['http://example.org/site-codes']\n")
    mapping, problems = load_file(p)
    assert problems == [] and mapping.code.coding[0].code == "M-X"


def test_duplicate_keys_rejected(tmp_path: Path) -> None:
    p = _write(tmp_path, "n.yaml", """task: n_staging
kind: category
code: {text: N}
values:
  N0: {text: cN0}
  N0: {text: cN0 again}
""")
    _, problems = load_file(p)
    assert len(problems) == 1 and f"{p}:6:" in problems[0] and "duplicate key 'N0'" in problems[0]


def test_schema_errors(tmp_path: Path) -> None:
    p = _write(tmp_path, "a.yaml", """task: abnormality_detection
kind: label_status
values:
  positive: {txt: Present}
labels: {}
""")
    _, problems = load_file(p)
    assert any(":4: values.positive.text: Field required" in x for x in problems), problems
    assert any("values.positive.txt: Extra inputs are not permitted" in x for x in problems), problems
    p = _write(tmp_path, "b.yaml", "task: n_staging\nkind: text\ncode: {text: x}\n")
    _, problems = load_file(p)
    assert problems == [f"{p}:2: kind: task n_staging needs kind 'category'"]
    p = _write(tmp_path, "c.yaml", "task: nonsense\nkind: none\n")
    _, problems = load_file(p)
    assert problems == [f"{p}:1: task: unknown task 'nonsense'"]
    p = _write(tmp_path, "d.yaml", "task: [unclosed\n")
    _, problems = load_file(p)
    assert problems[0].startswith(f"{p}:")


def test_directory_errors(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="not found"):
        load_mappings(tmp_path / "nope")
    d = tmp_path / "maps"
    shutil.copytree(SHIPPED, d)
    (d / "radiology_qa.yaml").unlink()
    with pytest.raises(MappingError) as info:
        load_mappings(d)
    assert any("no mapping file for task radiology_qa" in p for p in info.value.problems)
    shutil.copy(d / "n_staging.yaml", d / "n_staging_copy.yaml")
    with pytest.raises(MappingError) as info:
        load_mappings(d, require_all=False)
    assert any("n_staging is already mapped" in p for p in info.value.problems)


def test_coverage_reports_missing_labels(tmp_path: Path) -> None:
    d = tmp_path / "maps"
    shutil.copytree(SHIPPED, d)
    text = (d / "abnormality_detection.yaml").read_text()
    (d / "abnormality_detection.yaml").write_text(text.replace("  Support Devices:\n    text: Support devices  # text only\n", ""))
    problems = coverage_problems(load_mappings(d))
    assert len(problems) == 1 and "labels: not mapped: Support Devices" in problems[0]
