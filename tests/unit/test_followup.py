"""Follow-up recommendations read from report text (integration/inference/evidence/followup.py)
and their codes (mappings/followup/codes.yaml): issue 23."""

from __future__ import annotations

from pathlib import Path

import pytest

from integration.inference.evidence.followup import BODY_SITES, PROCEDURES, recommendations, timing
from integration.mappings import terminology
from integration.mappings.followup import BODY_SITE_KEYS, FOLLOWUP_PATH, PROCEDURE_KEYS, load_followup_file

ROOT = Path(__file__).resolve().parents[2]


def one(text: str):
    found = recommendations(text)
    assert len(found) == 1, (text, found)
    return found[0]


@pytest.mark.parametrize("sentence, procedure, site", [
    ("CT of the chest is recommended for further evaluation.", "ct", "chest"),
    ("Recommend follow-up chest CT in 3 months.", "ct", "chest"),
    ("Recommend noncontrast chest CT in 12 months per Fleischner guidelines.", "ct", "chest"),
    ("MRI of the liver is recommended for further characterisation.", "mri", "liver"),
    ("Tissue sampling is recommended.", "biopsy", None),
    ("Ultrasound-guided FNA is recommended.", "biopsy", None),
    ("Recommend thyroid ultrasound in 1 year.", "ultrasound", "thyroid"),
    ("Short-interval follow-up mammogram of the left breast in 6 months is suggested.", "mammography", "breast"),
    ("PET/CT may be helpful for staging.", "pet", None),
    ("Consider dedicated rib views for further evaluation.", "radiography", None),
    ("Bone scan would be helpful to evaluate for osseous metastases.", "nuclear_medicine", None),
    ("Follow-up to resolution is recommended.", None, None),
    ("Recommend repeat imaging after treatment to document resolution.", None, None),
    ("A renal ultrasound could be obtained.", "ultrasound", "kidney"),
    ("Prostate MRI is advised.", "mri", "prostate"),
    ("Contrast-enhanced CT of the abdomen and pelvis is recommended.", "ct", "abdomen"),
])
def test_recommendations_are_read_with_procedure_and_site(sentence, procedure, site) -> None:
    rec = one(f"FINDINGS: A finding is seen.\nIMPRESSION: 1. Finding. 2. {sentence}")
    assert (rec.procedure, rec.body_site) == (procedure, site)
    assert rec.text.endswith(sentence)


@pytest.mark.parametrize("text", [
    "No focal airspace consolidation to suggest pneumonia.",
    "Findings suggestive of emphysema.",
    "There is suggestion of a deep sulcus sign.",
    "Differential considerations include atelectasis and pneumonia.",
    "Clinical correlation is recommended.",
    "Recommend clinical correlation.",
    "Comparison with prior films would be helpful.",
    "Correlation with prior radiographs would be helpful to locate the nodule.",
    "If outside images are available comparison is recommended.",
    "No follow-up imaging is needed.",
    "Further imaging is not recommended.",
    "These findings and recommendations were discussed with Dr. Smith.",
    "The endotracheal tube is low; recommend retraction by 2 cm.",
    "CT of the chest shows a 6 mm nodule.",
    "Follow-up of the known nodule shows it is stable.",
])
def test_what_is_not_a_follow_up_recommendation(text) -> None:
    assert recommendations(f"IMPRESSION: {text}") == []


def test_history_and_comparison_sections_are_not_read() -> None:
    text = ("CLINICAL HISTORY: Follow-up CT recommended by the prior report.\n"
            "COMPARISON: CT chest, follow-up was recommended.\n"
            "FINDINGS: The lungs are clear.\nIMPRESSION: No acute disease.")
    assert recommendations(text) == []


@pytest.mark.parametrize("sentence, expected", [
    ("Recommend follow-up chest CT in 3 months.", {"low": 3, "high": 3, "unit": "mo"}),
    ("Follow-up in 3 to 4 months.", {"low": 3, "high": 4, "unit": "mo"}),
    ("Repeat radiograph in 4-6 weeks.", {"low": 4, "high": 6, "unit": "wk"}),
    ("Follow-up ultrasound in one year.", {"low": 1, "high": 1, "unit": "a"}),
    ("A 6-month follow-up CT is recommended.", {"low": 6, "high": 6, "unit": "mo"}),
    ("Annual screening mammography is recommended.", {"low": 1, "high": 1, "unit": "a"}),
    ("Recommend follow-up within 10 days.", {"low": 10, "high": 10, "unit": "d"}),
    ("Recommend follow-up imaging.", None),
    ("A 3 cm mass; follow-up recommended.", None),  # "3 cm" is no timing
])
def test_timing(sentence, expected) -> None:
    assert timing(sentence) == expected


def test_conditional_and_evidence_span() -> None:
    text = "FINDINGS: Rib fracture suspected.\nIMPRESSION: If clinically indicated, consider dedicated rib views."
    rec = one(text)
    assert rec.conditional
    assert text[rec.offset:rec.offset + rec.length] == rec.text
    assert not one("IMPRESSION: Recommend chest CT.").conditional


def test_an_earlier_study_is_not_the_recommended_one() -> None:
    rec = one("IMPRESSION: Recommend comparison with prior films or follow-up chest radiographs to confirm stability.")
    assert rec.procedure == "radiography" and rec.procedure_text == "radiographs"


def test_the_extractor_reads_exactly_the_keys_the_codes_file_covers() -> None:
    assert {k for k, _ in PROCEDURES} | {"follow_up"} == set(PROCEDURE_KEYS)
    assert {k for k, _ in BODY_SITES} == set(BODY_SITE_KEYS)


def test_the_shipped_codes_load_and_their_displays_are_the_pinned_ones() -> None:
    codes, problems = load_followup_file(ROOT / "mappings" / FOLLOWUP_PATH)
    assert problems == [] and codes is not None
    concepts = [*codes.categories.values(), *codes.procedures.values(), *codes.body_sites.values()]
    for concept in concepts:
        for coding in concept.coding:
            assert terminology.lookup(coding.system, coding.code) is not None, coding
            assert terminology.display_problem(coding.system, coding.code, coding.display) is None, coding


def test_a_codes_file_that_misses_or_invents_a_key_is_refused(tmp_path) -> None:
    source = (ROOT / "mappings" / FOLLOWUP_PATH).read_text(encoding="utf-8")
    broken = source.replace("  fluoroscopy:", "  fluoro:")
    path = tmp_path / "codes.yaml"
    path.write_text(broken, encoding="utf-8")
    codes, problems = load_followup_file(path)
    assert codes is None
    assert any("procedures.fluoro" in p and "not a key the extractor reads" in p for p in problems)
    assert any("procedures.fluoroscopy" in p and "missing" in p for p in problems)


def test_a_proposal_needs_a_patient_and_an_unknown_key_is_follow_up_imaging() -> None:
    import copy
    from types import SimpleNamespace

    from integration.fhir.conformance import check_bundle
    from integration.fhir.transaction import plan_transaction
    from integration.mappings import load_mappings
    from integration.samples import sample_diagnostic_reports

    mappings = load_mappings(ROOT / "mappings")
    report = copy.deepcopy(sample_diagnostic_reports()[3])
    rec = {"procedure": "retired-key", "body_site": "chest", "timing": {"low": 3, "high": 3, "unit": "mo"},
           "conditional": False, "evidence": [{"offset": 0, "length": 10, "text": "Recommend CT."}]}
    job = SimpleNamespace(resource=report, report_key=f"DiagnosticReport/{report['id']}", report_version="1",
                          results={}, followups=[rec], supersedes=None, id="j", correlation_id="c")
    plan = plan_transaction(job, mappings)
    [sr] = [e["resource"] for e in plan.bundle["entry"] if e["resource"]["resourceType"] == "ServiceRequest"]
    assert sr["code"] == {"text": "Follow-up imaging"} and check_bundle(plan.bundle) == []
    report.pop("subject")
    assert plan_transaction(job, mappings).bundle["entry"] == []
