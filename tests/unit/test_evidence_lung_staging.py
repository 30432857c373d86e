"""Findings-based N and M verification (AJCC 8th edition, lung): invented reports, one per rule."""

from __future__ import annotations

import re
import time

import pytest

from integration.inference.evidence import lung_staging
from integration.inference.evidence.lung_staging import Verdict, primary, verify_m, verify_n

# The project's sample report (integration/samples): N2 and M1c.
SAMPLE = (
    "Staging CT of the chest, abdomen and pelvis for newly diagnosed non-small cell lung cancer.\n"
    "A 4.1 cm spiculated mass in the left upper lobe. Enlarged ipsilateral subcarinal and\n"
    "left paratracheal lymph nodes, the largest 1.8 cm in short axis. No contralateral or\n"
    "supraclavicular adenopathy. Two enhancing lesions in the liver, the largest 2.2 cm,\n"
    "compatible with metastases. No adrenal lesion. No lytic or blastic bone lesion.\n"
    "IMPRESSION: Left upper lobe primary with ipsilateral mediastinal and subcarinal nodal\n"
    "disease (N2) and hepatic metastases (M1c, multiple lesions in one organ).\n"
)


# A PET-CT in American style: stations in parentheses, a contralateral 4R node, adrenal and bone.
PET = (
    "PET-CT WHOLE BODY\n"
    "Indication: Suspected left lung cancer, for staging.\n"
    "Findings:\n"
    "Head and neck: No hypermetabolic cervical or supraclavicular lymph nodes.\n"
    "Chest: Intensely avid 5.2 cm left lower lobe mass, SUVmax 21.3. FDG-avid left hilar (SUVmax 8.1), subcarinal "
    "(SUVmax 9.4) and right lower paratracheal (4R, SUVmax 6.0) lymph nodes. Small left pleural effusion without "
    "FDG uptake.\n"
    "Abdomen/pelvis: Focal intense uptake in the right adrenal gland (SUVmax 11.2) corresponding to a 2.4 cm "
    "nodule, consistent with metastasis. Physiological uptake in the bowel and urinary tract. Liver: no focal "
    "abnormal uptake.\n"
    "Musculoskeletal: Hypermetabolic lytic lesion in the L2 vertebral body, consistent with osseous metastasis.\n"
)
# A British restaging CT: a node that was enlarged and no longer is.
RESTAGING = (
    "CT thorax with contrast.\n"
    "History: Right lung squamous cell carcinoma. Restaging after chemotherapy.\n"
    "Comparison: CT 3 months ago.\n"
    "Findings: The right hilar mass has decreased in size, now 2.1 cm (previously 3.5 cm). Previously enlarged "
    "subcarinal lymph node now measures 8 mm in short axis (previously 15 mm). No new lymphadenopathy. No pleural "
    "or pericardial effusion. Limited views of the upper abdomen demonstrate no adrenal nodules. The imaged liver "
    "is unremarkable.\n"
    "Conclusion: Partial response. Subcarinal node no longer enlarged.\n"
)


def _report(findings: str, history: str = "Staging of newly diagnosed non-small cell lung cancer.",
            impression: str = "") -> str:
    text = f"CLINICAL HISTORY: {history}\nTECHNIQUE: CT chest, abdomen and pelvis with IV contrast.\n" \
           f"FINDINGS:\n{findings}\n"
    return text + (f"IMPRESSION:\n{impression}\n" if impression else "")


# Liver and adrenals described normal: the organ-coverage M0 for reports that test N only.
ABDOMEN_CLEAR = "The liver and adrenal glands are unremarkable. No suspicious osseous lesion."
NODES_CLEAR = "No mediastinal or hilar lymphadenopathy."

# -- N: (report, expected value, expected uncertain) ------------------------------------------------

N_CASES = {
    "sample": (SAMPLE, "N2", False),
    "pet parentheses": (PET, "N3", False),
    "restaging": (RESTAGING, "N0", False),
    "n0 explicit": (_report(f"3.2 cm mass in the right upper lobe. {NODES_CLEAR} {ABDOMEN_CLEAR}"), "N0", False),
    "n0 thoracic": (_report("Spiculated RLL mass, 2.8 cm. No thoracic lymphadenopathy. " + ABDOMEN_CLEAR), "N0", False),
    "n0 normal sized": (_report(
        "There is a 2.5 cm mass in the left lower lobe. Mediastinal and hilar lymph nodes are normal in size."),
        "N0", False),
    "n0 not pathologically enlarged": (_report(
        "Left upper lobe mass. The mediastinal and hilar lymph nodes are not pathologically enlarged by size "
        "criteria."), "N0", False),
    "n0 unqualified": (_report("RUL mass measuring 2.1 cm. No lymphadenopathy."), "N0", False),
    "only mediastinal negative": (_report("RUL mass. No mediastinal lymphadenopathy."), None, False),
    "ipsilateral hilar n1": (_report(
        "A 3.0 cm mass in the right lower lobe. Enlarged right hilar lymph node measuring 1.4 cm in short axis. "
        "No mediastinal lymphadenopathy."), "N1", False),
    "station 10R words": (_report(
        "Mass in the right upper lobe. A 12 mm node at station 10R. No mediastinal adenopathy."), "N1", False),
    "interlobar n1 british": (_report(
        "Spiculated tumour in the left lower lobe. FDG-avid left interlobar lymph node (station 11L). "
        "No mediastinal or supraclavicular nodal disease."), "N1", False),
    "unsided hilar n1": (_report(
        "Left upper lobe mass. Hilar lymphadenopathy is present. Mediastinal nodes are subcentimetre."), "N1", False),
    "unsided mediastinal n2": (_report(
        "Right upper lobe carcinoma. Mediastinal lymphadenopathy, the largest node 1.6 cm."), "N2", False),
    "4R for right primary": (_report("RUL mass. Enlarged 4R node, 1.5 cm short axis."), "N2", False),
    "4R for left primary": (_report("LUL mass. Enlarged 4R node, 1.5 cm short axis."), "N3", False),
    "subcarinal station 7": (_report(
        "A 5 cm mass in the right lower lobe. Station 7 lymph node measures 14 mm in short axis. "
        "No hilar adenopathy."), "N2", False),
    "subcarinal for left": (_report(
        "Left lower lobe primary tumour. Necrotic subcarinal lymph node."), "N2", False),
    "AP window left": (_report("LUL spiculated mass. Enlarged AP window lymph node, 1.3 cm."), "N2", False),
    "AP window right": (_report("RUL spiculated mass. Enlarged aortopulmonary window lymph node, 1.3 cm."),
                        "N3", False),
    "para-aortic station 6 left": (_report("Left upper lobe mass. A 1.5 cm para-aortic lymph node."), "N2", False),
    "contralateral hilar n3": (_report(
        "Right upper lobe mass. Enlarged left hilar and right paratracheal lymph nodes."), "N3", False),
    "contralateral word": (_report(
        "Left lower lobe mass. FDG-avid contralateral mediastinal nodes."), "N3", False),
    "bilateral hilar n3": (_report("Right lower lobe mass. Bilateral hilar lymphadenopathy."), "N3", False),
    "hila bilaterally": (_report("Right lower lobe mass. Enlarged hilar nodes bilaterally."), "N3", False),
    "supraclavicular n3": (_report(
        "Left upper lobe mass. Hypermetabolic left supraclavicular node, SUVmax 7.2. "
        "Ipsilateral hilar node is enlarged."), "N3", False),
    "scalene n3": (_report("RUL cancer. Enlarged right scalene lymph node."), "N3", False),
    "low cervical n3": (_report("RUL cancer. A 1.2 cm right low cervical lymph node."), "N3", False),
    "station 1 n3": (_report("RUL cancer. Stations 1R and 4R are FDG avid."), "N3", False),
    "adenopathy in hilum": (_report(
        "Left upper lobe mass. There is adenopathy in the left hilum and subcarinal region."), "N2", False),
    "label colon": (_report("Left upper lobe mass.\nMediastinum: No lymphadenopathy.\nHila: normal."), "N0", False),
    "no change in hilar node": (_report(
        "Right middle lobe mass. No change in the 1.3 cm right hilar lymph node. No mediastinal adenopathy."),
        "N1", False),
    "normal-sized hilar nodes": (_report(
        "Left lower lobe mass. Normal-sized hilar nodes. Subcentimetre mediastinal nodes."), "N0", False),
    "calcified granulomatous": (_report(
        "Right upper lobe mass. Calcified granulomatous nodes in the subcarinal and right hilar regions. "
        "No mediastinal or hilar lymphadenopathy."), "N0", False),
    "subcentimeter node": (_report(
        "LLL mass. An 8 mm left paratracheal node, not enlarged. No hilar adenopathy."), "N0", False),
    "size only small": (_report(
        "RUL mass. The right hilar node measures 7 mm. No lymphadenopathy."), "N0", False),
    "long axis only": (_report(
        "RUL mass. Right paratracheal node 14 mm in long axis and 6 mm in short axis. No hilar adenopathy. "
        "Otherwise no mediastinal lymphadenopathy."), "N0", False),
    "previous size": (_report(
        "RUL mass. The subcarinal node now measures 8 mm (previously 14 mm). No mediastinal or hilar "
        "lymphadenopathy."), "N0", False),
    "hedged node": (_report(
        "Right upper lobe mass. Possible small right paratracheal node, indeterminate. No hilar "
        "lymphadenopathy. No enlarged mediastinal nodes."), "N0", True),
    "borderline only": (_report(
        "Right upper lobe mass. Borderline enlarged subcarinal node, 9 mm."), None, True),
    "reactive": (_report("LUL mass. A 1.1 cm subcarinal node, likely reactive. No hilar adenopathy."), None, True),
    "hedge cannot raise": (_report(
        "RUL mass. Enlarged right supraclavicular node. Possible left hilar node."), "N3", False),
    "hedge could raise": (_report(
        "RUL mass. Enlarged right hilar node. Questionable left paratracheal node."), "N1", True),
    "negation does not cross and": (_report(
        "Left upper lobe mass. No hilar adenopathy and a 2 cm subcarinal node."), "N2", False),
    "negation after comma": (_report(
        "Left upper lobe mass. Enlarged left hilar node, no mediastinal adenopathy."), "N1", False),
    "pet non avid enlarged": (_report(
        "RUL mass. A 1.2 cm right paratracheal node without FDG uptake. No hilar adenopathy."), None, True),
    "pet avid small": (_report(
        "RUL mass. Small FDG-avid right hilar node. No mediastinal lymphadenopathy."), "N1", False),
    "unknown side": (_report(
        "Enlarged right hilar lymph node. No mediastinal adenopathy.", history="Lung cancer staging."), None, False),
    "unknown side supraclavicular": (_report(
        "Enlarged right supraclavicular node.", history="NSCLC staging."), "N3", False),
    "unlocated nodes": (_report("Right upper lobe mass. Enlarged lymph nodes."), None, False),
    "history nodes ignored": (_report(
        "Left upper lobe mass. No mediastinal or hilar lymphadenopathy.",
        history="NSCLC, previously enlarged subcarinal node treated with chemoradiation."), "N0", False),
    "axillary is not n": (_report(
        "RUL mass. Enlarged right axillary lymph node. No mediastinal or hilar lymphadenopathy."), "N0", False),
    "terse american": (
        "EXAM: PET/CT skull base to mid-thigh\nINDICATION: RLL adenocarcinoma, initial staging\n"
        "FINDINGS: RLL mass SUV 14. Hypermetabolic 4L and 10L nodes. 7 node SUV 5.\n"
        "IMPRESSION: RLL primary, contralateral mediastinal and hilar nodal mets.", "N3", False),
    "station in parentheses": (_report("RUL mass. There is a 1.6 cm right lower paratracheal (4R) lymph node."),
                               "N2", False),
    "including a node": (_report(
        "LUL mass. Mediastinal lymph nodes are enlarged, including a 1.4 cm right paratracheal node."), "N3", False),
    "enlarged does not reach the next node": (_report(
        "RUL mass. The right hilar node is enlarged and the subcarinal node is normal."), "N1", False),
    "pet negative": (_report("RUL mass. No FDG-avid mediastinal or hilar lymph nodes."), "N0", False),
    "mediastinum and hila unremarkable": (_report("RUL mass. The mediastinum and hila are unremarkable."),
                                          "N0", False),
    "stations listed": (_report("LLL mass. Lymph node stations 4L and 7 show increased FDG uptake."), "N2", False),
    "conglomerate": (_report(
        "LUL mass. Conglomerate nodal mass in the subcarinal and right paratracheal regions."), "N3", False),
    "suv in parentheses": (_report(
        "LUL mass. Hypermetabolic left hilar (SUVmax 6.1) and right hilar (SUVmax 4.2) lymph nodes."), "N3", False),
    "none enlarged": (_report(
        "RLL mass. Small mediastinal lymph nodes, none enlarged by size criteria. No hilar nodes."), "N0", False),
    "non-enlarged without uptake": (_report(
        "LUL mass. Necrotic left hilar lymph node. Non-enlarged mediastinal nodes without FDG uptake."),
        "N1", False),
    "stable small node": (_report("RUL mass. Stable 9 mm right hilar lymph node."), None, False),
    "nonspecific": (_report("RUL mass. Mildly enlarged right paratracheal node (11 mm) is nonspecific."),
                    None, True),
    "nodal or distant negative": (_report("RUL mass. No evidence of nodal or distant metastases."), "N0", False),
}


@pytest.mark.parametrize("name", sorted(N_CASES))
def test_verify_n(name):
    text, expected, uncertain = N_CASES[name]
    v = verify_n(text)
    assert v.applicable
    assert (v.value, v.uncertain) == (expected, uncertain), v.reason
    _check_evidence(text, v)


# -- M -------------------------------------------------------------------------------------------

M_CASES = {
    "sample": (SAMPLE, "M1c", False),
    "pet adrenal and bone": (PET, "M1c", False),
    "restaging": (RESTAGING, "M0", False),
    "m0 organs": (_report(f"Right upper lobe mass. {NODES_CLEAR} {ABDOMEN_CLEAR}"), "M0", False),
    "m0 explicit": (_report("Left lower lobe mass. No evidence of distant metastatic disease."), "M0", False),
    "m0 extrathoracic": (_report("LUL mass.", impression="No extrathoracic metastases."), "M0", False),
    "m0 label style": (_report("RUL mass.\nLiver: Normal.\nAdrenals: Normal.\nBones: No suspicious lesion."),
                       "M0", False),
    "m0 benign organs": (_report(
        "RUL mass. A 1.5 cm simple hepatic cyst. A 1.2 cm left adrenal adenoma (8 HU). Bone island in T7."),
        "M0", False),
    "m0 abdomen": (_report("RUL mass. No evidence of metastatic disease in the abdomen or pelvis."), "M0", False),
    "only liver clear": (_report("RUL mass. The liver is unremarkable."), None, False),
    "solitary adrenal m1b": (_report(
        "Right upper lobe mass. A 2.8 cm left adrenal mass, compatible with a metastasis. The liver is normal."),
        "M1b", False),
    "an adrenal metastasis": (_report("LUL mass.", impression="Left upper lobe primary with an adrenal metastasis."),
                              "M1b", False),
    "solitary liver m1b": (_report(
        "LLL mass. A solitary 1.9 cm liver lesion in segment 7 in keeping with metastasis. Adrenals normal."),
        "M1b", False),
    "liver repeated in impression": (_report(
        "LLL mass. A solitary 1.9 cm lesion in segment 7 of the liver, in keeping with a metastasis.",
        impression="Solitary hepatic metastasis."), "M1b", False),
    "brain single": (_report("RUL mass. A single enhancing cerebral metastasis in the right frontal lobe."),
                     "M1b", False),
    "liver plural m1c": (_report("RUL mass. Liver metastases. Adrenals unremarkable."), "M1c", False),
    "multiple osseous": (_report("LUL mass. Multiple osseous metastases in the spine and pelvis."), "M1c", False),
    "two organs": (_report(
        "RUL mass. A metastasis in the right adrenal gland. A lytic lesion in the T9 vertebral body consistent "
        "with a metastasis."), "M1c", False),
    "rib and vertebra": (_report(
        "RUL mass. Lytic rib metastasis. Separate sclerotic vertebral body metastasis."), "M1c", False),
    "bilateral adrenal": (_report("RUL mass. Bilateral adrenal metastases."), "M1c", False),
    "left and right adrenal": (_report(
        "RUL mass. A left adrenal metastasis. A right adrenal metastasis."), "M1c", False),
    "distant node single": (_report(
        "RUL mass. A 2.4 cm enlarged left axillary lymph node. No other abnormality. " + ABDOMEN_CLEAR),
        "M1b", False),
    "retroperitoneal nodes": (_report(
        "RUL mass. Enlarged retroperitoneal lymph nodes consistent with metastatic disease."), "M1c", False),
    "pleural nodules m1a": (_report(
        "Left lower lobe mass. Nodular pleural thickening on the left. Small left pleural effusion. "
        + ABDOMEN_CLEAR), "M1a", False),
    "malignant effusion": (_report(
        "Right lower lobe mass. Large right pleural effusion, cytology proven malignant. " + ABDOMEN_CLEAR),
        "M1a", False),
    "pericardial nodules": (_report("RUL mass. Pericardial nodules. " + ABDOMEN_CLEAR), "M1a", False),
    "contralateral lung mets": (_report(
        "Right upper lobe mass. Two nodules in the left lower lobe compatible with metastases. " + ABDOMEN_CLEAR),
        "M1a", False),
    "separate tumour nodule contralateral": (_report(
        "Left upper lobe tumour. Separate tumour nodule in the contralateral lobe. " + ABDOMEN_CLEAR), "M1a", False),
    "bilateral pulmonary mets": (_report(
        "RUL mass. Multiple bilateral pulmonary metastases. " + ABDOMEN_CLEAR), "M1a", False),
    "ipsilateral lung met is T": (_report(
        "Right upper lobe mass. A nodule in the right lower lobe compatible with a metastasis. " + ABDOMEN_CLEAR),
        "M0", False),
    "m1a and m1b": (_report(
        "RUL mass. Pleural metastases on the right. A solitary liver metastasis."), "M1b", False),
    "plain effusion": (_report(f"RUL mass. Small right pleural effusion. {ABDOMEN_CLEAR}"), "M0", True),
    "hedged adrenal": (_report(
        "RUL mass. Indeterminate 1.4 cm left adrenal nodule; metastasis cannot be excluded. Liver normal."),
        None, True),
    "adenoma or metastasis": (_report(
        "RUL mass. Right adrenal nodule, adenoma or metastasis. The liver is unremarkable."), None, True),
    "hedged beside single": (_report(
        "RUL mass. A solitary liver metastasis. Possible left adrenal metastasis."), "M1b", True),
    "tstc": (_report(
        "RUL mass. Hypodensity in the liver too small to characterise. No adrenal lesion."), None, True),
    "hepatic cyst and adenoma": (_report(
        "LUL mass. Hepatic cyst. Adrenal adenoma. No lytic or sclerotic bone lesion."), "M0", False),
    "liver lesion not characterised": (_report("RUL mass. Two liver lesions. No adrenal lesion."), None, False),
    "count not stated": (_report("RUL mass. Osseous metastatic disease."), "M1", True),
    "resolved": (_report(
        "RUL mass. Liver metastases are no longer seen. The adrenal glands are normal."), "M0", False),
    "no change in mets": (_report("RUL mass. No change in the hepatic metastases."), "M1c", False),
    "history mets ignored": (_report(
        "RUL mass. The liver and adrenals are unremarkable.",
        history="Lung cancer. Liver metastases treated with radiofrequency ablation in 2021."), "M0", False),
    "pet verbose british": (
        "CLINICAL DETAILS: Biopsy-proven squamous cell carcinoma of the right lung. Staging.\n"
        "FINDINGS: Intensely FDG-avid right upper lobe tumour (SUVmax 18). Multiple FDG-avid skeletal "
        "deposits, the largest in the left iliac bone. No abnormal uptake in the liver or adrenals.\n"
        "CONCLUSION: Right upper lobe primary with widespread skeletal metastases.", "M1c", False),
    "metastatic word in diagnosis": (_report(
        "RUL mass. The liver and adrenals are unremarkable.",
        history="Assess for metastatic lung cancer."), "M0", False),
    "suspicious for": (_report("RUL mass. Lytic lesion in the right iliac bone, suspicious for metastasis."),
                       "M1b", False),
    "tstc likely cysts": (_report(
        "RUL mass. Small hypodensities in the liver, too small to characterize, likely cysts. No adrenal nodule."),
        "M0", False),
    "adenoma by washout": (_report(
        "RUL mass. 1.1 cm left adrenal nodule with washout characteristics of adenoma. Liver normal."), "M0", False),
    "widespread": (_report("RUL mass. Widespread metastatic disease."), "M1c", False),
    "metastatic adjective": (_report("RUL mass. Metastatic left adrenal nodule."), "M1b", False),
    "label with lesions": (_report("RUL mass.\nLiver: two hypodense lesions compatible with metastases."),
                           "M1c", False),
    "after the word": (_report("RUL mass. Metastases to the liver and bones."), "M1c", False),
    "negation does not cross and": (_report("RUL mass with right adrenal metastasis and no liver lesion."),
                                    "M1b", False),
    "negated after comma": (_report("RUL mass. Adrenal metastasis, no hepatic metastases."), "M1b", False),
    "nodal or distant": (_report("RUL mass. No evidence of nodal or distant metastases."), "M0", False),
    "negative only in the chest": (_report("RUL mass. No evidence of metastatic disease in the chest."),
                                   None, False),
    "organ list unremarkable": (_report(
        "RUL mass. The adrenal glands, liver, pancreas and spleen appear unremarkable."), "M0", False),
    "pleural nodularity with effusion": (_report(
        "RUL mass. Moderate right pleural effusion with enhancing pleural nodularity."), "M1a", False),
    "hedged contralateral nodules": (_report(
        "RUL mass. Contralateral pulmonary nodules, indeterminate. Liver and adrenals normal."), "M0", True),
    "adrenal metastasis beside adenoma": (_report("RUL mass. Right adrenal metastasis. Left adrenal adenoma."),
                                          "M1b", False),
    "brain lobe is not lung": (_report(
        "LUL mass. Two enhancing lesions in the left frontal lobe compatible with metastases."), "M1c", False),
}


@pytest.mark.parametrize("name", sorted(M_CASES))
def test_verify_m(name):
    text, expected, uncertain = M_CASES[name]
    v = verify_m(text)
    assert v.applicable
    assert (v.value, v.uncertain) == (expected, uncertain), v.reason
    _check_evidence(text, v)


# -- primary and applicability --------------------------------------------------------------------

@pytest.mark.parametrize("text, side", [
    (SAMPLE, "left"),
    ("FINDINGS: A 3 cm spiculated RUL mass.", "right"),
    ("FINDINGS: Mass in the lingula.", "left"),
    ("FINDINGS: Right middle lobe carcinoma.", "right"),
    ("FINDINGS: Tumour arising in the apical segment of the left upper lobe.", "left"),
    ("FINDINGS: No mass in the left lower lobe. Clear lungs.", None),
    ("HISTORY: Known right lung primary.\nFINDINGS: Post-treatment change.", "right"),
    ("FINDINGS: Right upper lobe mass. Left lower lobe mass.", None),  # two sides: no side
    ("FINDINGS: Separate tumour nodule in the left lower lobe.", None),
])
def test_primary_side(text, side):
    got, fact = primary(text)
    assert got == side
    if side is not None:
        assert fact is not None and fact.value == side and fact.sentence.covers(fact.span)


NOT_LUNG = {
    "breast": "HISTORY: Breast cancer staging.\nFINDINGS: Enlarged left axillary and right hilar nodes. "
              "Two liver metastases.",
    "colon": "INDICATION: Colorectal carcinoma.\nFINDINGS: Multiple pulmonary nodules consistent with metastases. "
             "Enlarged mediastinal lymph nodes.",
    "head and neck": "HISTORY: Head and neck squamous cell carcinoma, staging.\nFINDINGS: Enlarged right "
                     "supraclavicular node. A 6 mm right upper lobe nodule.",
    "no cancer": "FINDINGS: Lungs clear. No lymphadenopathy. Simple hepatic cyst.\nIMPRESSION: No acute findings.",
    "lung mets from colon": "HISTORY: Sigmoid cancer.\nFINDINGS: Spiculated right upper lobe mass, staging "
                            "requested. Enlarged right hilar lymph node.",
}


@pytest.mark.parametrize("name", sorted(NOT_LUNG))
def test_n_not_applicable_without_lung_cancer(name):
    v = verify_n(NOT_LUNG[name])
    assert v == Verdict(None, (), False, v.reason) and v.reason


@pytest.mark.parametrize("name, value", [
    ("breast", "M1"), ("colon", "M1"), ("head and neck", None), ("no cancer", None), ("lung mets from colon", None),
])
def test_m_for_other_cancers(name, value):
    v = verify_m(NOT_LUNG[name])
    assert v.value == value
    assert v.applicable is (value is not None)
    _check_evidence(NOT_LUNG[name], v)


def test_m_hedged_for_other_cancers():
    v = verify_m("HISTORY: Prostate cancer.\nFINDINGS: Sclerotic focus in L3, possibly a metastasis.")
    assert (v.value, v.applicable, v.uncertain) == (None, False, True)


def test_m_explicit_negative_for_other_cancers():
    text = "HISTORY: Melanoma.\nFINDINGS: No evidence of distant metastases."
    v = verify_m(text)
    assert (v.value, v.applicable) == ("M0", True)
    _check_evidence(text, v)


def test_m_for_other_cancer_ignores_regional_nodes():
    # axillary nodes are regional for breast cancer: no M1 from them
    v = verify_m("HISTORY: Breast carcinoma.\nFINDINGS: Enlarged left axillary lymph nodes. Liver normal.")
    assert (v.value, v.applicable) == (None, False)


@pytest.mark.parametrize("text", [
    "HISTORY: NSCLC.\nFINDINGS: Enlarged subcarinal node.",
    "HISTORY: ? lung cancer.\nFINDINGS: Enlarged subcarinal node.",
    "HISTORY: Bronchogenic carcinoma.\nFINDINGS: Enlarged subcarinal node.",
    "HISTORY: Small cell lung cancer.\nFINDINGS: Enlarged subcarinal node.",
    "HISTORY: Pulmonary adenocarcinoma.\nFINDINGS: Enlarged subcarinal node.",
    "HISTORY: Staging.\nFINDINGS: Spiculated right upper lobe mass. Enlarged subcarinal node.",
    "Staging CT. Primary tumour in the left lower lobe. Enlarged subcarinal node.",
])
def test_applicable_for_lung_cancer(text):
    v = verify_n(text)
    assert v.applicable and v.value == "N2"


def test_lung_mass_without_staging_context_is_not_applicable():
    v = verify_n("FINDINGS: 2 cm right upper lobe mass. Enlarged subcarinal node.")
    assert not v.applicable and v.value is None


def test_negated_lung_primary_is_not_applicable():
    v = verify_n("HISTORY: Weight loss.\nFINDINGS: No lung primary identified. Enlarged subcarinal node.")
    assert not v.applicable


# -- evidence --------------------------------------------------------------------------------------

def _check_evidence(text: str, v: Verdict) -> None:
    """Each fact: a finding whose span lies inside its sentence, in a section about this exam."""
    if v.value is not None and v.value != "M1":
        assert v.evidence, v.reason
    for fact in v.evidence:
        assert fact.kind == "finding"
        assert fact.sentence.covers(fact.span)
        assert fact.span.of(text) and fact.span.of(text) in fact.sentence.of(text)
        assert fact.section not in ("history", "comparison") or fact.note.endswith("lung primary")
        assert re.fullmatch(r"[\w -]{3,60}", fact.note), fact.note
    _reason_has_no_report_text(text, v.reason)


def _reason_has_no_report_text(text: str, reason: str) -> None:
    """No run of four report words appears in the reason (it is logged)."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    reason_text = " ".join(re.findall(r"[a-z0-9]+", reason.lower()))
    for i in range(len(words) - 3):
        assert " ".join(words[i:i + 4]) not in reason_text, (reason, words[i:i + 4])


def test_sample_evidence_points_at_the_findings():
    n, m = verify_n(SAMPLE), verify_m(SAMPLE)
    assert (n.value, m.value) == ("N2", "M1c")
    notes = {f.note for f in n.evidence}
    assert "ipsilateral subcarinal node" in notes and "ipsilateral paratracheal node" in notes
    assert all(f.value == "N2" for f in n.evidence if not f.note.endswith("primary"))
    assert any("liver" in f.span.of(SAMPLE) for f in m.evidence)
    assert all(f.value == "M1c" for f in m.evidence)
    for fact in n.evidence + m.evidence:
        assert fact.sentence.covers(fact.span)


def test_note_names_the_station_side():
    text = _report("Left upper lobe mass. Enlarged right hilar lymph node.")
    v = verify_n(text)
    assert v.value == "N3"
    assert v.evidence[0].note == "contralateral hilar node"
    assert v.evidence[-1].note == "left lung primary"  # the side the node was judged against


# -- hostile input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("chunk", [
    "right upper lobe mass and enlarged right hilar and subcarinal lymph nodes, ",
    "no mediastinal or hilar lymphadenopathy and liver metastases and ",
    "a" * 50 + " 1.5 x 1.2 x " + "1" * 30 + " ",
    "station 4R, 4L, 7, 10R and 11L " * 3,
    "metastatic metastases deposits " * 5,
    "( " * 20,
])
def test_hostile_input_is_fast(chunk):
    text = "HISTORY: NSCLC staging.\nFINDINGS: " + chunk * (200_000 // len(chunk))
    lung_staging.primary.cache_clear()
    started = time.perf_counter()
    verify_n(text)
    verify_m(text)
    # Guards against super-linear backtracking, not a speed goal (see test_evidence_rads.py).
    assert time.perf_counter() - started < 60


def test_one_distant_node_named_twice_or_glossed_is_one_metastasis() -> None:
    """A node glossed in brackets and restated in the impression is one lesion: M1b, not M1c."""
    text = ("CT chest, abdomen and pelvis for staging of non-small cell lung cancer.\n"
            "FINDINGS: A 3.5 cm spiculated mass in the left upper lobe. No thoracic adenopathy.\n"
            "NODES: Single FDG-avid left para-aortic (retroperitoneal) lymph node, 3.2 cm, consistent with a "
            "distant nodal metastasis. The liver and adrenal glands are unremarkable.\n"
            "IMPRESSION: Left upper lobe primary. Distant nodal metastasis, consistent with metastatic disease.\n")
    assert verify_m(text).value == "M1b"
    two = text.replace("IMPRESSION:", "A second FDG-avid left axillary lymph node, consistent with a distant nodal "
                                      "metastasis.\nIMPRESSION:")
    assert verify_m(two).value == "M1c"
