"""`radlite mappings validate`, the shipped mappings' coverage and sources, and the startup check
that stops serve/worker/scheduler on a broken mapping file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from integration.mappings import (
    MappingError,
    coverage_problems,
    load_mappings,
    validate_paths,
)
from integration.ops.cli import cli
from integration.tasks import TASKS, abnormality_detection, m_staging, n_staging, rads_assignment, temporal_comparison

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "mappings"
LINE = re.compile(r"^(?P<file>[^:\s][^:]*):(?P<line>\d+): (?P<rest>.+)$")


def _validate(*args: str):
    return CliRunner().invoke(cli, ["mappings", "validate", *args], obj={}, catch_exceptions=False)


def _line_of(path: Path, needle: str) -> int:
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in {path}")


@pytest.fixture
def maps(tmp_path: Path) -> Path:
    d = tmp_path / "maps"
    shutil.copytree(SHIPPED, d)
    return d


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


# -- the shipped mappings ----------------------------------------------------------------------


def test_shipped_mappings_validate_with_exit_0() -> None:
    res = _validate()  # default: writeback.mappings_dir of the (default) config
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    assert res.stderr.startswith("ok: 11 file(s)")  # nine task mappings, the critical-result rules, the follow-up codes
    assert _validate(str(SHIPPED)).exit_code == 0
    assert _validate(*map(str, sorted(SHIPPED.glob("*.yaml")))).exit_code == 0


def test_every_label_of_every_written_task_has_an_entry() -> None:
    m = load_mappings(SHIPPED)
    assert coverage_problems(m) == []
    written = {t for t, mapping in m.by_task.items() if mapping.writes}
    assert written == set(TASKS) - {"radiology_nli", "radiology_qa"}
    assert set(m.get("abnormality_detection").labels) == set(abnormality_detection.CHEXPERT_LABELS)
    assert set(m.get("temporal_comparison").values) == set(temporal_comparison.CHANGES)
    assert set(m.get("n_staging").values) == set(n_staging.LABELS)
    assert set(m.get("m_staging").values) == set(m_staging.LABELS)
    rads = m.get("rads_assignment")
    for system, categories in rads_assignment.SYSTEMS.items():
        assert set(rads.systems[system].categories) == set(categories), system
    # RadLex for anatomy, next to SNOMED CT.
    sites = m.get("radiology_ner").body_sites
    assert {c.code for c in sites["right upper lobe"].coding} == {"42400003", "RID1303"}
    assert {c.system for c in sites["liver"].coding} == {"http://snomed.info/sct", "http://radlex.org"}


def test_every_shipped_code_cites_its_source() -> None:
    """Each coding line (or the line closing its list) carries a ``# [SOURCE]`` comment, and each
    source tag is explained in the file's header."""
    for path in sorted(SHIPPED.glob("*.yaml")):
        lines = path.read_text().splitlines()
        header = "\n".join(line for line in lines if line.startswith("#"))
        for i, line in enumerate(lines):
            if "system:" not in line or line.lstrip().startswith("#"):
                continue
            block = line if "#" in line else line + (lines[i + 1] if i + 1 < len(lines) else "")
            tags = re.findall(r"\[([A-Z][A-Z0-9-]*)\]", block.split("#", 1)[-1]) if "#" in block else []
            assert tags, f"{path.name}:{i + 1}: coding without a source comment"
            for tag in tags:
                assert f"[{tag}]" in header, f"{path.name}:{i + 1}: source [{tag}] not explained in the header"


# -- broken mappings: file:line messages, exit 1 -------------------------------------------------


BROKEN = {
    "duplicate key": (
        "n_staging.yaml", "  N3: {text: cN3", "  N2: {text: again}\n  N3: {text: cN3",
        "N2: {text: again}", "duplicate key 'N2'"),
    "unknown system URI": (
        "m_staging.yaml", 'M0: {text: cM0, coding: [{system: "http://cancerstaging.org"',
        'M0: {text: cM0, coding: [{system: "http://example.org/staging"', "M0: {text: cM0",
        "values.M0.coding.0.system: unknown code system 'http://example.org/staging'"),
    "system spelled as an OID": (
        "abnormality_detection.yaml", '{system: "http://snomed.info/sct", code: "8186001"',
        '{system: "urn:oid:2.16.840.1.113883.6.96", code: "8186001"', 'code: "8186001"',
        "labels.Cardiomegaly.coding.0.system: 'urn:oid:2.16.840.1.113883.6.96' is not the FHIR URI of this code "
        "system; use 'http://snomed.info/sct'"),
    "SNOMED CT check digit": (
        "abnormality_detection.yaml", 'code: "60046008"', 'code: "60046009"', 'code: "60046009"',
        "labels.Pleural Effusion.coding.0: Value error, '60046009' is not a valid SNOMED CT identifier (check digit)"),
    "LOINC check digit": (
        "n_staging.yaml", 'code: "21906-3"', 'code: "21906-4"', 'code: "21906-4"',
        "code.coding.0: Value error, '21906-4' is not a valid LOINC code (check digit)"),
    "RadLex id": (
        "radiology_ner.yaml", "code: RID1385,", "code: rid1385,", "code: rid1385,", "'rid1385' is not a RadLex id"),
    "missing label": (
        "abnormality_detection.yaml", "  Support Devices:\n    text: Support devices  # text only\n", "",
        "labels:", "labels: not mapped: Support Devices"),
    "misspelt label": (
        "abnormality_detection.yaml", "  Pleural Other:", "  Pleural other:", "Pleural other:",
        "labels.Pleural other: not a label of abnormality_detection"),
    "valid code, wrong concept": (
        "abnormality_detection.yaml", 'code: "60046008", display: "Pleural effusion (disorder)"',
        'code: "36118008", display: "Pleural effusion (disorder)"', 'code: "36118008", display: "Pleural effusion',
        "labels.Pleural Effusion.coding.0.display: display 'Pleural effusion (disorder)' is not how SNOMED CT names "
        "36118008: 'Pneumothorax (disorder)'"),
    "RadLex display of another structure": (
        "radiology_ner.yaml", "code: RID1385, display: heart}", "code: RID1385, display: liver}",
        "code: RID1385, display: liver}", "display 'liver' is not how RadLex names RID1385: 'heart'"),
    "missing category": (
        "rads_assignment.yaml", ' "4X": {text: Lung-RADS 4X}', "", "    categories: {\"0\": {text: Lung-RADS 0}",
        "systems.Lung-RADS.categories: not mapped: 4X"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_mapping_fails_with_file_line_message(kind: str, maps: Path) -> None:
    name, old, new, at, message = BROKEN[kind]
    path = maps / name
    _edit(path, old, new)
    if kind == "missing category":
        _edit(path, '{text: Lung-RADS 4B},}', '{text: Lung-RADS 4B}}')
    res = _validate(str(maps))
    assert res.exit_code == 1, res.output
    lines = res.stdout.splitlines()
    assert lines and all(LINE.match(line) for line in lines), lines
    hits = [LINE.match(line) for line in lines if message in line]
    assert len(hits) == 1, (message, lines)
    assert Path(hits[0]["file"]) == path
    assert int(hits[0]["line"]) == _line_of(path, at), lines
    assert "problem(s)" in res.stderr
    # A single file is checked the same way.
    assert _validate(str(path)).exit_code == 1


def test_several_problems_are_all_listed(maps: Path) -> None:
    _edit(maps / "n_staging.yaml", 'code: "21906-3"', 'code: "21906-4"')
    _edit(maps / "m_staging.yaml", "  M1c:", "  M1d:")
    (maps / "radiology_qa.yaml").unlink()
    res = _validate(str(maps))
    assert res.exit_code == 1
    out = res.stdout
    assert "n_staging.yaml:" in out and "check digit" in out
    assert "m_staging.yaml:" in out and "values: not mapped: M1c" in out and "values.M1d: not a label" in out
    assert f"{maps}: no mapping file for task radiology_qa" in out


def test_missing_path_and_site_local_system(maps: Path, tmp_path: Path) -> None:
    res = _validate(str(tmp_path / "nope"))
    assert res.exit_code == 1 and "no such file or directory" in res.stdout
    # A site-local system is accepted once declared (see docs/mapping-guide.md).
    path = maps / "abnormality_detection.yaml"
    _edit(path, "  Support Devices:\n    text: Support devices  # text only\n",
          "  Support Devices:\n    text: Support devices\n"
          "    coding: [{system: \"https://radiology.example.org/fhir/CodeSystem/findings\", code: SD-01}]\n")
    assert _validate(str(maps)).exit_code == 1
    _edit(path, "task: abnormality_detection\n",
          "task: abnormality_detection\nlocal_systems: [\"https://radiology.example.org/fhir/CodeSystem/findings\"]\n")
    res = _validate(str(maps))
    assert res.exit_code == 0, res.output


# -- startup -------------------------------------------------------------------------------------


def test_app_factory_rejects_broken_mappings(maps: Path, tmp_path: Path) -> None:
    from integration.intake.http.app import create_app
    from integration.settings import Settings
    from integration.store import JobStore

    _edit(maps / "n_staging.yaml", 'code: "21906-3"', 'code: "21906-4"')
    settings = Settings.model_validate({"writeback": {"mappings_dir": str(maps)}, "audit": {"file": None},
                                        "intake": {"auth": {"mode": "open"}}})
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    try:
        with pytest.raises(MappingError) as info:
            create_app(settings, store)
    finally:
        store.close()
    [problem] = info.value.problems
    assert problem.startswith(f"{maps / 'n_staging.yaml'}:{_line_of(maps / 'n_staging.yaml', '21906-4')}: ")


def test_services_refuse_to_start_with_a_broken_mapping(maps: Path, tmp_path: Path) -> None:
    _edit(maps / "m_staging.yaml", "  M1a: {text: cM1a", "  M1: {text: again}\n  M1a: {text: cM1a")
    expected = f"{maps / 'm_staging.yaml'}:{_line_of(maps / 'm_staging.yaml', 'M1: {text: again}')}: duplicate key 'M1'"
    env = {**os.environ, "RADLITE__WRITEBACK__MAPPINGS_DIR": str(maps), "RADLITE__AUDIT__FILE": "null",
           "RADLITE__STORE__URL": f"sqlite:///{tmp_path / 'jobs.sqlite'}", "RADLITE__INTAKE__AUTH__MODE": "open"}
    env.pop("RADLITE_CONFIG", None)
    for verb in (["serve", "--port", "1"], ["worker", "--once"], ["scheduler", "--once"]):
        proc = subprocess.run([sys.executable, "-m", "integration.ops.cli", *verb], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0, (verb, proc.stdout, proc.stderr)
        assert expected in proc.stderr, (verb, proc.stderr[-2000:])


def test_validate_paths_api(maps: Path) -> None:
    ok = validate_paths([SHIPPED])
    assert ok.ok and len(ok.files) == 11 and ok.codings() > 90  # with critical/rules.yaml and followup/codes.yaml
    _edit(maps / "n_staging.yaml", "  N0: {text: cN0", "  N0: {text: cN0}\n  N9: {text: cN9")
    bad = validate_paths([maps])
    assert not bad.ok and any("values.N9: not a label of n_staging" in p for p in bad.problems), bad.problems


# -- displays: the pinned terminology table --------------------------------------------------------


def test_every_shipped_code_is_pinned_with_its_display() -> None:
    from integration.mappings import terminology

    m = load_mappings(SHIPPED)
    for task, mapping in m.by_task.items():
        for loc, coding in mapping.codings():
            term = terminology.lookup(coding.system, coding.code)
            assert term is not None, (task, loc, coding.code)
            if coding.display is not None:
                assert terminology.display_matches(term, coding.display), (task, loc, coding.display)


def test_the_table_is_consistent() -> None:
    """Codes pass their check digits, and no display is accepted for two codes of one system (it
    would let exactly the wrong-code mistake through)."""
    from integration.mappings import LOINC, SNOMED, loinc_valid, sctid_valid, terminology

    assert len(terminology.BY_CODE) == len(terminology.TERMS)
    owner: dict[tuple[str, str], str] = {}
    for term in terminology.TERMS:
        if term.system == SNOMED:
            assert sctid_valid(term.code), term.code
        if term.system == LOINC:
            assert loinc_valid(term.code), term.code
        for display in term.accepted():
            key = (term.system, " ".join(display.split()).casefold())
            assert owner.setdefault(key, term.code) == term.code, (display, owner[key], term.code)


def test_display_check_ignores_case_and_accepts_synonyms(maps: Path) -> None:
    path = maps / "abnormality_detection.yaml"
    _edit(path, 'code: "36118008", display: "Pneumothorax (disorder)"', 'code: "36118008", display: "PNEUMOTHORAX"')
    _edit(path, 'code: "19242006", display: "Pulmonary edema (disorder)"', 'code: "19242006", display: "Pulmonary  oedema"')
    res = _validate(str(maps))
    assert res.exit_code == 0, res.output


def test_a_code_the_table_does_not_know_is_a_warning(maps: Path) -> None:
    # 22298006 is a valid SNOMED CT id (myocardial infarction), just not one the project ships.
    _edit(maps / "abnormality_detection.yaml", "  Lung Opacity:\n    text: Lung opacity  # text only",
          '  Lung Opacity:\n    text: Lung opacity\n    coding: [{system: "http://snomed.info/sct", code: "22298006", '
          'display: "Myocardial infarction"}]  # [SCT]')
    res = _validate(str(maps))
    assert res.exit_code == 0, res.output
    (line,) = res.stdout.splitlines()
    assert LINE.match(line) and "labels.Lung Opacity.coding.0.code: warning: SNOMED CT 22298006 is not in the pinned" in line
    assert "1 warning(s)" in res.stderr
    # A site-local system is not the table's business: no warning.
    _edit(maps / "abnormality_detection.yaml", 'system: "http://snomed.info/sct", code: "22298006"',
          'system: "urn:oid:1.2.3.4", code: "22298006"')
    _edit(maps / "abnormality_detection.yaml", "task: abnormality_detection", "task: abnormality_detection\nlocal_systems: [\"urn:oid:1.2.3.4\"]")
    res = _validate(str(maps))
    assert res.exit_code == 0 and res.stdout == "", res.output
