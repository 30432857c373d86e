"""What the adapter decides to write from a model answer (integration/inference/evidence/decide.py)."""

from __future__ import annotations

import math

import pytest

from integration.inference.evidence.decide import confidence, decide, threshold_for
from integration.tasks import TASKS, TaskInput

STAGING = (
    "Staging CT of the chest, abdomen and pelvis for newly diagnosed non-small cell lung cancer.\n"
    "A 4.1 cm spiculated mass in the left upper lobe. Enlarged ipsilateral subcarinal and\n"
    "left paratracheal lymph nodes, the largest 1.8 cm in short axis. No contralateral or\n"
    "supraclavicular adenopathy. Two enhancing lesions in the liver, the largest 2.2 cm,\n"
    "compatible with metastases. No adrenal lesion. No lytic or blastic bone lesion.\n"
)
STAGING_STATED = STAGING + (
    "IMPRESSION: Left upper lobe primary with ipsilateral mediastinal and subcarinal nodal\n"
    "disease (N2) and hepatic metastases (M1c, multiple lesions in one organ).\n"
)
MAMMO = (
    "EXAMINATION: Bilateral screening mammogram.\nFINDINGS: In the left breast at 2 o'clock there is an irregular "
    "mass with indistinct margins measuring 12 mm.\nIMPRESSION: Suspicious left breast mass. BI-RADS 4B: moderate "
    "suspicion for malignancy.\n"
)
CXR = (
    "FINDINGS: The heart is normal in size. There is a small left pleural effusion. No pneumothorax.\n"
    "IMPRESSION: Small left pleural effusion.\n"
)


def scored(value, probs):
    return {"parsed": True, "value": value, "label_probs": probs, "mode": "score"}


def generated(value, mean_logprob, parsed=True):
    return {"parsed": parsed, "value": value if parsed else None, "mean_logprob": mean_logprob, "mode": "generate"}


# -- stated facts win ---------------------------------------------------------------------------------


def test_stated_rads_wins_over_the_model_and_the_disagreement_is_kept() -> None:
    model = {"system": None, "category": None}
    out = decide("rads_assignment", TaskInput(MAMMO), generated(model, -0.01), 0.8)
    assert out["value"] == {"system": "BI-RADS", "category": "4B"}
    assert out["source"] == "stated" and out["confidence"] == 1.0 and not out["abstained"]
    assert out["model_value"] == model and out["disagreement"] == {"model": model, "stated": out["value"]}
    [ev] = out["evidence"]["assessment"]
    sentence = MAMMO[ev["offset"]:ev["offset"] + ev["length"]]
    assert "BI-RADS 4B" in sentence and ev["text"] == sentence and ev["section"] == "impression"
    assert MAMMO[ev["match"]["offset"]:][:10] == "BI-RADS 4B"


def test_stated_m_category_wins_even_against_a_confident_m0() -> None:
    out = decide("m_staging", TaskInput(STAGING_STATED), scored("M0", {"M0": 0.99, "M1c": 0.01}), 0.5)
    assert out["value"] == "M1c" and out["source"] == "stated"
    assert out["disagreement"]["model"] == "M0"


def test_stated_n_category() -> None:
    out = decide("n_staging", TaskInput(STAGING_STATED), scored("N2", {"N2": 0.6, "N0": 0.4}), 0.5)
    assert out["value"] == "N2" and out["source"] == "stated" and "disagreement" not in out


# -- findings must agree ------------------------------------------------------------------------------


def test_verified_when_model_and_findings_agree() -> None:
    out = decide("m_staging", TaskInput(STAGING), scored("M1c", {"M1c": 0.4, "M0": 0.3, "M1b": 0.3}), 0.9)
    assert out["value"] == "M1c" and out["source"] == "verified" and not out["abstained"]
    texts = " ".join(e["text"] for e in out["evidence"]["category"])
    assert "liver" in texts


def test_abstains_with_both_answers_when_findings_disagree_with_a_confident_model() -> None:
    out = decide("m_staging", TaskInput(STAGING), scored("M0", {"M0": 0.97, "M1c": 0.03}), 0.5)
    assert out["value"] is None and out["abstained"]
    assert out["abstention"]["reason"] == "verifier_disagrees"
    assert out["disagreement"] == {"model": "M0", "verifier": "M1c"} and out["model_value"] == "M0"


def test_n_from_nodes_relative_to_the_primary() -> None:
    out = decide("n_staging", TaskInput(STAGING), scored("N2", {"N2": 0.7, "N1": 0.3}), 0.5)
    assert out["value"] == "N2" and out["source"] == "verified"
    wrong = decide("n_staging", TaskInput(STAGING), scored("N1", {"N1": 0.9, "N2": 0.1}), 0.5)
    assert wrong["abstained"] and wrong["abstention"]["reason"] == "verifier_disagrees"


def test_staging_without_evidence_is_not_written_however_confident() -> None:
    text = "CT head without contrast. No acute intracranial abnormality."
    out = decide("m_staging", TaskInput(text), scored("M0", {"M0": 0.99, "M1": 0.01}), 0.5)
    assert out["abstained"] and out["value"] is None and out["model_value"] == "M0"


# -- confidence -------------------------------------------------------------------------------------


def test_confidence_of_each_decoding() -> None:
    assert confidence(scored("M0", {"M0": 0.7, "M1": 0.3})) == 0.7
    assert confidence(generated("x", math.log(0.5))) == pytest.approx(0.5, abs=1e-4)
    slots = {"parsed": True, "value": {"Edema": "positive", "Fracture": "negative"},
             "slot_probs": {"Edema": {"positive": 0.6, "negative": 0.4}, "Fracture": {"negative": 0.9}}}
    assert confidence(slots) == 0.6


def test_threshold_precedence_site_then_bundle_then_default() -> None:
    assert threshold_for("rads_assignment", {"rads_assignment": 0.3}, {"rads_assignment": 0.95}) == 0.95
    assert threshold_for("rads_assignment", {"rads_assignment": 0.3}, {}) == 0.3
    assert threshold_for("rads_assignment", None, None) == TASKS["rads_assignment"].min_confidence


def test_assessment_wording_decides_rads_over_the_model() -> None:
    """The issue's example: "highly suggestive of malignancy" in a mammogram is BI-RADS 5."""
    text = "Mammogram: irregular spiculated mass in the left breast upper outer quadrant, highly suggestive of malignancy."
    none = {"system": None, "category": None}
    out = decide("rads_assignment", TaskInput(text), generated(none, -0.01), 0.8)
    assert out["value"] == {"system": "BI-RADS", "category": "5"} and out["source"] == "derived"
    assert out["disagreement"]["model"] == none
    assert "highly suggestive of malignancy" in out["evidence"]["assessment"][0]["text"]


def test_model_only_rads_below_threshold_abstains_and_above_needs_the_organ() -> None:
    text = "Bilateral screening mammogram. There is an irregular mass in the left breast upper outer quadrant."
    value = {"system": "BI-RADS", "category": "4"}
    low = decide("rads_assignment", TaskInput(text), generated(value, math.log(0.5)), 0.8)
    assert low["abstained"] and low["abstention"]["reason"] == "low_confidence" and low["model_value"] == value
    high = decide("rads_assignment", TaskInput(text), generated(value, math.log(0.95)), 0.8)
    assert high["value"] == value and high["source"] == "model" and high["evidence"]["assessment"]
    elsewhere = decide("rads_assignment", TaskInput("CT head. No acute abnormality."), generated(value, -0.01), 0.8)
    assert elsewhere["abstained"] and elsewhere["abstention"]["reason"] == "no_evidence"


def test_no_rads_for_a_rads_examination_or_another_system_is_not_written() -> None:
    text = "Bilateral screening mammogram. There is an irregular mass in the left breast upper outer quadrant."
    none = decide("rads_assignment", TaskInput(text), generated({"system": None, "category": None}, -0.01), 0.8)
    assert none["abstained"] and none["abstention"]["reason"] == "rads_exam"
    other = decide("rads_assignment", TaskInput(text), generated({"system": "LI-RADS", "category": "LR-3"}, -0.01), 0.8)
    assert other["abstained"] and other["abstention"]["reason"] == "system_mismatch"


def test_unparsed_answer_abstains() -> None:
    out = decide("rads_assignment", TaskInput("CT head. Normal."), generated(None, -0.1, parsed=False), 0.0)
    assert out["abstained"] and out["abstention"]["reason"] == "unparsed"


# -- evidence for findings ----------------------------------------------------------------------------


def _abn(value, p=0.9):
    return {"parsed": True, "value": value,
            "slot_probs": {k: {v: p, "negative" if v != "negative" else "positive": 1 - p} for k, v in value.items()}}


def test_abnormality_labels_need_a_sentence_that_names_them() -> None:
    value = {"Pleural Effusion": "positive", "Pneumothorax": "positive", "Edema": "positive", "Fracture": "negative"}
    out = decide("abnormality_detection", TaskInput(CXR), _abn(value), 0.5)
    assert out["value"] == {"Pleural Effusion": "positive", "Fracture": "negative"}
    reasons = {i["item"]: i["reason"] for i in out["abstained_items"]}
    assert reasons == {"label:Pneumothorax": "report_negates", "label:Edema": "no_evidence"}
    evidence = out["evidence"]["label:Pleural Effusion"]
    assert evidence and all("pleural effusion" in ev["text"].lower() for ev in evidence)


def test_abnormality_label_below_threshold_is_dropped() -> None:
    out = decide("abnormality_detection", TaskInput(CXR), _abn({"Pleural Effusion": "positive"}, p=0.3), 0.5)
    assert out["value"] == {} and out["abstained_items"][0]["reason"] == "low_confidence"


def test_ner_entity_absent_from_report_or_negated_is_dropped() -> None:
    value = [{"text": "pleural effusion", "label": "OBS-DP"}, {"text": "pneumothorax", "label": "OBS-DP"},
             {"text": "consolidation", "label": "OBS-DP"}]
    out = decide("radiology_ner", TaskInput(CXR), generated(value, -0.05), 0.5)
    assert out["value"] == [{"text": "pleural effusion", "label": "OBS-DP"}]
    assert {i["reason"] for i in out["abstained_items"]} == {"report_negates", "not_in_report"}
    [ev] = out["evidence"]["entity:OBS-DP:pleural effusion"]
    assert CXR[ev["match"]["offset"]:ev["match"]["offset"] + ev["match"]["length"]].lower() == "pleural effusion"


MAMMO_US = MAMMO + "Ultrasound-guided biopsy is recommended. Comparison: prior study of 2025.\n"


def test_ner_entities_that_name_no_finding_are_dropped() -> None:
    """Modalities, procedures, the exam and comparisons are not findings, alone or together, with
    articles, laterality, body regions and the answer's own anatomy around them."""
    value = [{"text": "Ultrasound", "label": "OBS-DP"}, {"text": "biopsy", "label": "OBS-DP"},
             {"text": "Ultrasound-guided biopsy", "label": "OBS-U"}, {"text": "screening mammogram", "label": "OBS-DP"},
             {"text": "prior study", "label": "OBS-DP"}, {"text": "left breast", "label": "ANAT-DP"},
             {"text": "irregular mass", "label": "OBS-DP"}, {"text": "Comparison", "label": "OBS-DA"}]
    out = decide("radiology_ner", TaskInput(MAMMO_US), generated(value, -0.05), 0.5)
    assert out["value"] == [{"text": "left breast", "label": "ANAT-DP"}, {"text": "irregular mass", "label": "OBS-DP"},
                            {"text": "Comparison", "label": "OBS-DA"}]  # OBS-DA is never written anyway
    dropped = {i["item"]: i["reason"] for i in out["abstained_items"]}
    assert dropped == {"entity:OBS-DP:Ultrasound": "not_a_finding", "entity:OBS-DP:biopsy": "not_a_finding",
                       "entity:OBS-U:Ultrasound-guided biopsy": "not_a_finding",
                       "entity:OBS-DP:screening mammogram": "not_a_finding",
                       "entity:OBS-DP:prior study": "not_a_finding"}
    assert list(out["evidence"]) == ["entity:OBS-DP:irregular mass"]


def test_ner_one_status_per_finding() -> None:
    """The same finding labelled present and uncertain: present only when a sentence states it
    without hedging or negation (the evidence is that sentence), else uncertain."""
    text = ("FINDINGS: Small left pleural effusion. Patchy opacity at the left base may represent atelectasis.\n"
            "IMPRESSION: Left effusion. Possible atelectasis.\n")
    value = [{"text": "pleural effusion", "label": "OBS-U"}, {"text": "Pleural  Effusion", "label": "OBS-DP"},
             {"text": "atelectasis", "label": "OBS-DP"}, {"text": "Atelectasis", "label": "OBS-U"},
             {"text": "atelectasis", "label": "OBS-U"}]
    out = decide("radiology_ner", TaskInput(text), generated(value, -0.05), 0.5)
    assert out["value"] == [{"text": "Pleural  Effusion", "label": "OBS-DP"}, {"text": "Atelectasis", "label": "OBS-U"}]
    dropped = [(i["item"], i["reason"]) for i in out["abstained_items"]]
    assert dropped == [("entity:OBS-U:pleural effusion", "conflicting_status"),
                       ("entity:OBS-DP:atelectasis", "conflicting_status"),
                       ("entity:OBS-U:atelectasis", "duplicate")]
    [ev] = out["evidence"]["entity:OBS-DP:Pleural  Effusion"]
    assert ev["text"] == "Small left pleural effusion."
    assert "may represent atelectasis" in out["evidence"]["entity:OBS-U:Atelectasis"][0]["text"]
    assert set(out["evidence"]) == {"entity:OBS-DP:Pleural  Effusion", "entity:OBS-U:Atelectasis"}


def test_ner_present_and_uncertain_with_only_hedged_or_negated_mentions_is_uncertain() -> None:
    text = "FINDINGS: Possible consolidation at the left base. No consolidation on the right.\n"
    value = [{"text": "consolidation", "label": "OBS-DP"}, {"text": "consolidation", "label": "OBS-U"}]
    out = decide("radiology_ner", TaskInput(text), generated(value, -0.05), 0.5)
    assert out["value"] == [{"text": "consolidation", "label": "OBS-U"}]
    [item] = out["abstained_items"]
    assert item["item"] == "entity:OBS-DP:consolidation" and item["reason"] == "conflicting_status"
    assert "Possible consolidation" in out["evidence"]["entity:OBS-U:consolidation"][0]["text"]


def test_impression_calling_an_abnormal_report_normal_is_not_written() -> None:
    thyroid = ("Thyroid ultrasound. Right lobe nodule measuring 1.6 cm: solid composition, hypoechoic.\n"
               "IMPRESSION: Right thyroid nodule, ACR TI-RADS TR4. Fine needle aspiration recommended.\n")
    out = decide("impression_generation", TaskInput(thyroid), generated("1. No acute disease.", -0.01), 0.5)
    assert out["abstained"] and out["abstention"]["reason"] == "contradicts_report"


def test_impression_naming_another_category_is_not_written() -> None:
    out = decide("impression_generation", TaskInput(MAMMO), generated("Left breast mass, BI-RADS 5.", -0.01), 0.5)
    assert out["abstained"] and out["abstention"]["reason"] == "contradicts_stated"


def test_impression_supported_by_the_report_is_written_with_its_sentences() -> None:
    out = decide("impression_generation", TaskInput(CXR), generated("Small left pleural effusion.", -0.01), 0.5)
    assert out["value"] == "Small left pleural effusion." and not out["abstained"]
    assert out["evidence"]["text"][0]["text"].lower().startswith("small left pleural effusion") or \
        "pleural effusion" in out["evidence"]["text"][0]["text"].lower()


def test_impression_with_an_unsupported_sentence_is_not_written() -> None:
    out = decide("impression_generation", TaskInput(CXR), generated("Right lower lobe pneumonia with abscess.", -0.01), 0.5)
    assert out["abstained"] and out["abstention"]["reason"] == "unsupported_statement"


def test_api_only_tasks_are_never_abstained() -> None:
    out = decide("radiology_nli", TaskInput(CXR, hypothesis="x"), scored("neutral", {"neutral": 0.2}), 0.9)
    assert out["value"] == "neutral" and not out["abstained"] and out["confidence"] == 0.2


def test_findings_answer_when_the_model_is_unsure_and_disagrees() -> None:
    out = decide("m_staging", TaskInput(STAGING), scored("M0", {"M0": 0.4, "M1c": 0.3, "M1b": 0.3}), 0.5)
    assert out["value"] == "M1c" and out["source"] == "findings" and not out["abstained"]
    assert out["disagreement"] == {"model": "M0", "verifier": "M1c"} and out["model_value"] == "M0"
    assert out["evidence"]["category"] and out["confidence"] == 0.9


def test_hedged_findings_never_overrule_the_model() -> None:
    text = STAGING.replace("compatible with metastases", "indeterminate, possibly cysts").replace(
        "No adrenal lesion.", "A 1.5 cm adrenal nodule, possibly a metastasis.")
    out = decide("m_staging", TaskInput(text), scored("M1b", {"M1b": 0.3, "M0": 0.3, "M1c": 0.4}), 0.5)
    assert out["source"] != "findings"


def test_a_generic_m1_is_written_as_m1_not_the_models_subcategory() -> None:
    text = ("CT chest, abdomen and pelvis for staging of clear cell renal cell carcinoma of the left kidney.\n"
            "FINDINGS: Multiple bilateral pulmonary nodules up to 1.4 cm, consistent with metastases.\n"
            "IMPRESSION: Left renal mass with pulmonary metastases.\n")
    out = decide("m_staging", TaskInput(text), scored("M1a", {"M1a": 0.6, "M0": 0.4}), 0.5)
    assert out["value"] == "M1" and out["source"] == "verified" and out["model_value"] == "M1a"


def test_no_rads_for_a_report_no_rads_system_covers_needs_no_threshold() -> None:
    none = {"system": None, "category": None}
    out = decide("rads_assignment", TaskInput("CT head without contrast. No acute intracranial abnormality."),
                 generated(none, math.log(0.5)), 0.95)
    assert out["value"] == none and out["source"] == "verified" and not out["abstained"]


# -- temporal comparison: the changes the report states ------------------------------------------------

FOLLOWUP = (
    "COMPARISON: Chest radiograph from 2026-03-05.\n"
    "FINDINGS: The heart remains enlarged, unchanged. Interstitial edema has resolved.\n"
    "The bilateral pleural effusions have decreased and are now trace.\n"
    "IMPRESSION: Resolved interstitial edema, improving trace effusions, stable cardiomegaly.\n"
)
PRIOR = "FINDINGS: Enlarged heart. Interstitial edema. Small bilateral pleural effusions."


def test_stated_changes_win_over_the_model_with_evidence() -> None:
    model = [{"finding": "cardiomegaly", "change": "improved"}, {"finding": "bilateral pleural effusions", "change": "resolved"},
             {"finding": "atelectasis", "change": "new"}]
    out = decide("temporal_comparison", TaskInput(FOLLOWUP, prior_report=PRIOR), generated(model, -0.01), 0.5)
    assert out["source"] == "stated" and not out["abstained"] and out["confidence"] == 1.0
    assert out["value"] == [{"finding": "bilateral pleural effusions", "change": "improved"},
                            {"finding": "cardiomegaly", "change": "unchanged"},
                            {"finding": "interstitial edema", "change": "resolved"}]
    assert out["disagreement"]["model"] == model
    assert [d["item"] for d in out["abstained_items"]] == ["change:atelectasis:new"]
    for spans in out["evidence"].values():
        assert spans and all(FOLLOWUP[s["offset"]:s["offset"] + s["length"]] == s["text"] for s in spans)
    assert "unchanged" in out["evidence"]["change:cardiomegaly:unchanged"][0]["text"]


def test_without_stated_changes_the_model_answer_needs_confidence_and_a_sentence() -> None:
    report = "FINDINGS: Small right pleural effusion. No pneumothorax."
    model = [{"finding": "right pleural effusion", "change": "new"}]
    out = decide("temporal_comparison", TaskInput(report, prior_report="FINDINGS: Clear lungs."), generated(model, -0.01), 0.5)
    assert out["source"] == "model" and out["value"] == model
    low = decide("temporal_comparison", TaskInput(report, prior_report="x"), generated(model, -3.0), 0.5)
    assert low["abstained"] and low["abstention"]["reason"] == "low_confidence"
