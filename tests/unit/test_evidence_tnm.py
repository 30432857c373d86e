"""TNM N and M categories a report states itself: integration.inference.evidence.tnm."""

from __future__ import annotations

import itertools
import time

import pytest

from integration.inference.evidence import Fact
from integration.inference.evidence.text import Span
from integration.inference.evidence.tnm import M_ORDER, N_ORDER, answer_m, answer_n, stated_m, stated_n

# ------------------------------------------------------------------------------------------ helpers


def values(facts: list[Fact]) -> list[str]:
    return [f.value for f in facts]


def check_spans(text: str, facts: list[Fact]) -> None:
    """Every fact points at characters that state it, inside its sentence."""
    for f in facts:
        assert isinstance(f.span, Span) and isinstance(f.sentence, Span)
        assert f.sentence.covers(f.span), (f, text)
        said = f.span.of(text)
        assert said, f
        if f.kind == "category":
            # the category characters themselves: "N2" in "cN2b", "M1" in "M1c(1)"
            assert f.value[:2] in said, (f.value, said)
        elif f.kind == "stage":
            assert said.lower().startswith("stage"), said
        else:
            assert f.kind == "negation", f
            assert any(w in said.lower() for w in ("no", "negative", "without", "free", "absen", "not")), said


def report(impression: str, findings: str = "The lungs are otherwise clear.",
           history: str = "Staging of lung cancer.", comparison: str = "None.") -> str:
    return (f"CLINICAL HISTORY: {history}\n"
            f"COMPARISON: {comparison}\n"
            f"TECHNIQUE: CT of the chest, abdomen and pelvis with IV contrast. Axial T1 and T2 images.\n"
            f"FINDINGS:\n{findings}\n"
            f"IMPRESSION:\n{impression}\n")


# --------------------------------------------------------- combined strings: prefixes x separators

N_TOKENS = {"N0": "N0", "N1": "N1", "N2": "N2", "N3": "N3", "N1a": "N1", "N2b": "N2", "N3c": "N3",
            "N1mi": "N1", "N0(i+)": "N0", "N1(sn)": "N1"}
M_TOKENS = {"M0": "M0", "M1": "M1", "M1a": "M1a", "M1b": "M1b", "M1c": "M1c", "M1d": "M1", "M1c(1)": "M1c",
            "M0(i+)": "M0"}
T_TOKENS = ["T1", "T2a", "T3", "T4", "Tis", "T1mi", "T1b", "Tx", "T0", "T2b"]
PREFIX_STYLES = ["", "c", "p", "yp", "yc", "r"]
SEPARATORS = ["", " ", ", ", "/", " - ", "  "]


def _combined_cases():
    cases = []
    n_items, m_items = list(N_TOKENS.items()), list(M_TOKENS.items())
    for i, (prefix, sep) in enumerate(itertools.product(PREFIX_STYLES, SEPARATORS)):
        for j in range(6):
            n_tok, n_val = n_items[(i + j) % len(n_items)]
            m_tok, m_val = m_items[(i * 3 + j) % len(m_items)]
            t_tok = T_TOKENS[(i + 2 * j) % len(T_TOKENS)]
            every = j % 2 == 0  # "cT2 cN1 cM0" vs "cT2N1M0"
            p_n = prefix if every else ""
            cases.append((f"{prefix}{t_tok}{sep}{p_n}{n_tok}{sep}{p_n}{m_tok}", n_val, m_val))
    return cases


COMBINED = _combined_cases()


@pytest.mark.parametrize("tnm,n,m", COMBINED, ids=[c[0] for c in COMBINED])
def test_combined_string_alone(tnm, n, m):
    assert values(stated_n(tnm)) == [n]
    assert values(stated_m(tnm)) == [m]
    check_spans(tnm, stated_n(tnm) + stated_m(tnm))
    assert all(f.kind == "category" and f.extra["tnm"] == tnm for f in stated_n(tnm) + stated_m(tnm))


POSITIONS = [
    "Stage: {tnm}.",
    "Clinical stage {tnm}.",
    "1. Right upper lobe mass, {tnm}.",
    "Findings are consistent with {tnm} disease.",
    "TNM: {tnm}",
    "Overall, {tnm} (AJCC 8th edition).",
    "Large hilar mass. Staging {tnm}. Recommend tumor board review.",
]


@pytest.mark.parametrize("template", POSITIONS)
@pytest.mark.parametrize("tnm,n,m", COMBINED[::9], ids=[c[0] for c in COMBINED[::9]])
def test_combined_string_inside_a_report(template, tnm, n, m):
    text = report(template.format(tnm=tnm))
    got_n, got_m = stated_n(text), stated_m(text)
    assert values(got_n) == [n]
    assert values(got_m) == [m]
    assert {f.section for f in got_n + got_m} == {"impression"}
    check_spans(text, got_n + got_m)
    assert answer_n(text).value == n and answer_m(text).value == m


BRIEF_COMBINED = [
    ("cT2aN2M1c", "N2", "M1c"), ("T2N1M0", "N1", "M0"), ("pT1b pN0 cM0", "N0", "M0"), ("ypT0N0", "N0", None),
    ("T2 N1 M0", "N1", "M0"), ("T4 N3 M1b", "N3", "M1b"), ("TNM: T3, N2, M0", "N2", "M0"),
    ("(T2a, N1, M0)", "N1", "M0"), ("cN2 cM0", "N2", "M0"), ("N0M0", "N0", "M0"), ("T2NxM0", None, "M0"),
    ("TxN2MX", "N2", None), ("TisN0M0", "N0", "M0"), ("T2-N1-M0", "N1", "M0"), ("ypT1 ypN1mi cM0", "N1", "M0"),
    ("pT2 pN0(i+) cM0(i+)", "N0", "M0"), ("pT3 pN1a M1c(1)", "N1", "M1c"), ("cT4 cN3 cM1d", "N3", "M1"),
]


@pytest.mark.parametrize("text,n,m", BRIEF_COMBINED)
def test_brief_combined_strings(text, n, m):
    assert values(stated_n(text)) == ([n] if n else [])
    assert values(stated_m(text)) == ([m] if m else [])
    check_spans(text, stated_n(text) + stated_m(text))


def test_combined_span_is_the_component_with_its_prefix():
    text = "Impression: pT1b pN0 cM0."
    (n,), (m,) = stated_n(text), stated_m(text)
    assert n.span.of(text) == "pN0" and m.span.of(text) == "cM0"
    text = "cT2aN2M1c"
    assert stated_n(text)[0].span == Span(4, 6) and stated_m(text)[0].span == Span(6, 9)


def test_combined_upper_case_prefixes_and_lower_case_letters_are_not_read():
    # "CT2N0M0" could be a garbled "CT" (computed tomography); AJCC writes lower-case prefixes.
    for text in ("CT2N0M0", "t2n1m0", "PT2 PN0", "Pn0 R0 L0 V0"):
        assert stated_n(text) == [] and stated_m(text) == [], text


# ----------------------------------------------------------------------- standalone with context

STANDALONE_N = [
    ("N2 disease", "N2"), ("N3 nodal disease", "N3"), ("cN1", "N1"), ("clinical N2", "N2"),
    ("nodal stage N2", "N2"), ("pN0", "N0"), ("ypN0", "N0"), ("ycN1", "N1"), ("rN2", "N2"),
    ("N2b", "N2"), ("N1mi", "N1"), ("N3c", "N3"), ("pN0(i+)", "N0"), ("N1 lymph node metastases", "N1"),
    ("N2 nodal involvement", "N2"), ("N stage: N2", "N2"), ("N-stage N1", "N1"), ("N category N3", "N3"),
    ("Nodal status: N1", "N1"), ("staged as N2", "N2"), ("upstaged to N3", "N3"), ("clinically N0", "N0"),
    ("pathologic N1", "N1"), ("radiologic N2 disease", "N2"), ("nodal disease (N2)", "N2"), ("stage N3", "N3"),
    ("at least N2 disease", "N2"), ("bulky N2 disease", "N2"), ("TNM N1", "N1"), ("N1 status", "N1"),
    ("Upstaged from N1 to N2", "N2"), ("Downstaged to N0", "N0"), ("Restaged as N1", "N1"),
    ("consistent with N3 disease", "N3"), ("N2 disease, unchanged", "N2"),
]
STANDALONE_M = [
    ("M1a disease", "M1a"), ("M1c", "M1c"), ("stage M1b", "M1b"), ("M1 disease", "M1"), ("cM0", "M0"),
    ("pM1", "M1"), ("cM1a", "M1a"), ("M1b (solitary adrenal metastasis)", "M1b"), ("M category M1c", "M1c"),
    ("M stage: M1a", "M1a"), ("M-stage M0", "M0"), ("clinical M0", "M0"), ("staged as M1", "M1"),
    ("distant disease (M1c)", "M1c"), ("metastatic disease (M1b)", "M1b"), ("M1d", "M1"), ("pM1d", "M1"),
    ("M1c(1)", "M1c"), ("cM0(i+)", "M0"), ("upstaged to M1c", "M1c"), ("Findings compatible with M1b disease", "M1b"),
    ("M0 status", "M0"), ("M1 stage", "M1"), ("metastatic M1a disease", "M1a"),
]


@pytest.mark.parametrize("phrase,n", STANDALONE_N)
@pytest.mark.parametrize("frame", ["{p}", "{p}.", "IMPRESSION: {p}.", "FINDINGS: Right hilar mass. {p}."])
def test_standalone_n(phrase, n, frame):
    text = frame.format(p=phrase)
    got = stated_n(text)
    assert values(got) == [n], text
    assert stated_m(text) == []
    check_spans(text, got)
    assert got[0].kind == "category"


@pytest.mark.parametrize("phrase,m", STANDALONE_M)
@pytest.mark.parametrize("frame", ["{p}", "{p}.", "IMPRESSION: {p}.", "FINDINGS: Pleural nodules. {p}."])
def test_standalone_m(phrase, m, frame):
    text = frame.format(p=phrase)
    got = stated_m(text)
    assert values(got) == [m], text
    assert stated_n(text) == []
    check_spans(text, got)


@pytest.mark.parametrize("text", ["N2", "N1", "M1", "M0", "the N2", "Patient is N1", "see M1", "(N2)", "N0 ."])
def test_bare_category_without_staging_words_is_not_read(text):
    assert stated_n(text) == [] and stated_m(text) == []


# ------------------------------------------------------------------------------------- look-alikes

LOOKALIKES = [
    "T1-weighted images show a hyperintense lesion.", "T2 hyperintense lesion in the liver.",
    "Increased T2 signal in the marrow.", "Compression fracture of the T1 vertebral body.", "T12 compression fracture.",
    "Intraluminal N2 gas.", "N2O was administered.", "Nitrogen washout.", "Occlusion of the M1 segment of the middle cerebral artery.",
    "Thrombus in an M2 branch.", "The M1 and M2 segments are patent.", "M1-M2 junction occlusion.", "Left M1 occlusion.",
    "MCA M1 is patent.", "M1 thrombectomy was performed.", "N-acetylcysteine was given.", "Disc bulge at C5-T1.",
    "T2* gradient echo shows blooming.", "T1 FLAIR images.", "Stage 2 pressure ulcer over the sacrum.", "M0 (mode) 12.",
    "T1 post-contrast images.", "T2 FLAIR hyperintensity.", "T1/T2 mismatch.", "T4-T5 disc space.", "C7-T1 level.",
    "Mild T1-T2 disc desiccation.", "M0 map acquired for ASL calibration.", "T1 and M0 maps.", "CN2 is normal.",
    "13N-ammonia PET.", "N-13 ammonia perfusion.", "N3 bias field correction was applied.", "Primary motor cortex (M1).",
    "Caries in tooth M1.", "GOLD stage III COPD.", "CKD stage 3.", "Scadding stage II sarcoidosis.", "Tanner stage 4.",
    "Stage IV decubitus ulcer.", "At this stage I would recommend follow-up.", "Pn0 R0 L0 V0.", "NO2 exposure.",
    "T1 hypointense, T2 hyperintense lesion.", "Axial T1, T2, and STIR sequences.", "The M3 branches are patent.",
    "L5-S1 disc herniation.", "T2W and T1W images.", "T1rho mapping.", "Focal T2 hyperintensity at T10.",
    "Stage 3 chronic kidney disease.", "End-stage renal disease.", "Ficat stage III avascular necrosis.",
    "FIGO stage IB cervical cancer.", "Bosniak 2F cyst.", "LI-RADS LR-5 observation.", "Lung-RADS 4B nodule.",
    "Proximal M1 stenosis.", "M1/M2 bifurcation.", "Short segment of N2 gas in the bowel wall.",
    # staging words next to a vessel: the context rule alone would read these
    "Clinical: M1 occlusion.", "Clinical: left M1 occlusion.", "Stage: M1 segment thrombus.", "Proximal M1 disease.",
    "Distal M1 disease.", "Right M1 disease.", "Clinically M1 vasospasm.", "Stage: M1 velocities are elevated.",
    "Clinical: M1 stent in place.", "Category: M1 plaque.",
]


@pytest.mark.parametrize("text", LOOKALIKES)
def test_lookalikes_state_nothing(text):
    assert stated_n(text) == [], text
    assert stated_m(text) == [], text


@pytest.mark.parametrize("text", LOOKALIKES[::3])
def test_lookalikes_in_a_lung_cancer_report(text):
    doc = report("Right upper lobe lung cancer. See findings.", findings=text, history="NSCLC staging.")
    assert stated_n(doc) == [] and stated_m(doc) == []
    assert answer_n(doc) is None and answer_m(doc) is None


# ----------------------------------------------------------------------------------- stage groups

LUNG_STAGES = [
    ("0", "M0"), ("IA1", "M0"), ("IA2", "M0"), ("IA3", "M0"), ("IA", "M0"), ("IB", "M0"), ("I", "M0"),
    ("II", "M0"), ("IIA", "M0"), ("IIB", "M0"), ("III", "M0"), ("IIIA", "M0"), ("IIIB", "M0"), ("IIIC", "M0"),
    ("IV", "M1"), ("IVA", "M1"), ("IVB", "M1c"), ("4", "M1"), ("4A", "M1"), ("4B", "M1c"), ("3A", "M0"),
    ("1B", "M0"), ("IIIa", "M0"), ("IVb", "M1c"),
]
LUNG_NAMES = ["NSCLC", "non-small cell lung cancer", "lung adenocarcinoma", "small cell lung cancer", "SCLC",
              "squamous cell carcinoma of the lung", "bronchogenic carcinoma", "RUL adenocarcinoma"]
STAGE_FRAMES = ["Stage {g} {lung}.", "{lung}, stage {g}.", "Findings consistent with {lung}, AJCC stage {g}."]


@pytest.mark.parametrize("group,m", LUNG_STAGES)
@pytest.mark.parametrize("frame", STAGE_FRAMES)
def test_lung_stage_group_gives_m(group, m, frame):
    lung = LUNG_NAMES[(len(group) + len(frame)) % len(LUNG_NAMES)]
    text = "IMPRESSION: " + frame.format(g=group, lung=lung)
    got = stated_m(text)
    assert values(got) == [m], text
    assert got[0].kind == "stage" and got[0].extra["stage"] == group
    check_spans(text, got)
    assert stated_n(text) == []  # stage groups do not determine N


@pytest.mark.parametrize("lung", LUNG_NAMES)
def test_stage_iva_is_m1_and_ivb_is_m1c_for_every_lung_name(lung):
    assert values(stated_m(f"Stage IVA {lung}.")) == ["M1"]
    assert values(stated_m(f"Stage IVB {lung}.")) == ["M1c"]


def test_stage_with_explicit_category_returns_both_and_the_category_answers():
    text = "IMPRESSION: Lung adenocarcinoma, stage IVB (M1c)."
    got = stated_m(text)
    assert sorted((f.kind, f.value) for f in got) == [("category", "M1c"), ("stage", "M1c")]
    assert answer_m(text).kind == "category"
    text = "IMPRESSION: NSCLC, stage IVA (M1a, malignant pleural effusion)."
    assert answer_m(text).value == "M1a"
    assert "M1" in values(stated_m(text))


@pytest.mark.parametrize("text", [
    "Stage IVA oropharyngeal cancer.", "Stage IVB head and neck cancer.", "Stage IV breast cancer with lung metastases.",
    "Stage IVB melanoma.", "Stage IV colorectal cancer.", "Stage IIIA lymphoma.", "Stage IVC NSCLC.", "Lung cancer stage IIC.",
    "Stage IV.", "Stage IVB disease.", "Extensive stage small cell lung cancer.", "Limited-stage SCLC.",
    "Stage IV pressure ulcer in a patient with lung cancer.", "GOLD stage IV COPD and lung cancer.",
    "Lung cancer; CKD stage 3.", "NSCLC. Scadding stage II sarcoidosis.", "NSCLC, possibly stage IVA.",
    "If the nodule is malignant, this would be stage IVA NSCLC.", "Not stage IV NSCLC.",
    "Previously stage IIIA NSCLC.", "Known stage IV NSCLC.",
])
def test_stage_groups_that_are_not_read(text):
    assert stated_m(text) == [], text


def test_stage_group_uses_a_lung_primary_named_elsewhere_in_the_report():
    text = report("Stage IVB disease.", history="Non-small cell lung cancer, staging.")
    (fact,) = stated_m(text)
    assert fact.value == "M1c" and fact.kind == "stage" and fact.section == "impression"
    assert "IVB" in fact.note


def test_stage_group_is_not_read_when_another_primary_is_named():
    text = report("Stage IVB disease.", history="Lung cancer and a history of breast cancer.")
    assert stated_m(text) == []
    # ... unless the stage sentence names the lung primary itself
    text = report("Stage IVB lung cancer.", history="Lung cancer and a history of breast cancer.")
    assert values(stated_m(text)) == ["M1c"]


def test_stage_group_in_a_lung_report_with_a_pressure_ulcer():
    text = report("Stage 2 pressure ulcer over the sacrum.", history="NSCLC staging.")
    assert stated_m(text) == []


# -------------------------------------------------------------------------------------- negations

NEGATION_M0 = [
    "No distant metastases.", "No evidence of distant metastatic disease.", "No metastatic disease.",
    "No evidence of metastasis.", "Negative for distant metastases.", "There is no evidence of distant metastatic disease.",
    "No definite evidence of distant metastatic disease.", "No findings suspicious for metastatic disease.",
    "No CT evidence of metastatic disease.", "Without distant metastases.", "Free of distant metastatic disease.",
    "No evidence of recurrent or metastatic disease.", "No signs of distant metastases.", "Distant metastases: none.",
    "Distant metastases are absent.", "Metastatic disease is not seen.", "Metastatic disease is not identified.",
    "No distant metastatic disease is identified.", "No evidence of metastatic disease in the chest, abdomen, or pelvis.",
    "No distant metastases identified in the visualized abdomen.", "No sites of distant metastatic disease.",
    "No M1 disease.", "No findings to suggest metastatic disease.", "No PET evidence of distant metastatic disease.",
]
NEGATION_N0 = [
    "No regional nodal metastases.", "No nodal metastasis.", "Node-negative.", "No lymph node metastases.",
    "No regional lymph node metastasis.", "No evidence of nodal metastatic disease.", "No metastatic lymphadenopathy.",
    "Clinically node-negative.", "No nodal metastases.", "Lymph node metastases: none.", "No metastatic lymph nodes.",
]


@pytest.mark.parametrize("phrase", NEGATION_M0)
@pytest.mark.parametrize("where", ["impression", "findings", "body"])
def test_negation_m0(phrase, where):
    text = phrase if where == "body" else report(phrase) if where == "impression" else report("See above.", findings=phrase)
    got = stated_m(text)
    assert values(got) == ["M0"], text
    assert got[0].kind == "negation" and got[0].section == where
    check_spans(text, got)
    assert stated_n(text) == []  # a distant statement says nothing of the nodes


@pytest.mark.parametrize("phrase", NEGATION_N0)
@pytest.mark.parametrize("where", ["impression", "findings", "body"])
def test_negation_n0(phrase, where):
    text = phrase if where == "body" else report(phrase) if where == "impression" else report("See above.", findings=phrase)
    got = stated_n(text)
    assert values(got) == ["N0"], text
    assert got[0].kind == "negation" and got[0].section == where
    check_spans(text, got)
    assert stated_m(text) == []


@pytest.mark.parametrize("text", ["No nodal or distant metastases.", "No evidence of nodal or distant metastatic disease.",
                                  "No distant or nodal metastases.", "No lymph node or distant metastases."])
def test_negation_of_nodal_and_distant_gives_both(text):
    assert values(stated_n(text)) == ["N0"] and values(stated_m(text)) == ["M0"]
    assert stated_n(text)[0].span == stated_m(text)[0].span


NOT_NEGATION = [
    "No liver metastases.", "No bone metastases.", "No osseous metastatic disease.", "No hepatic metastases.",
    "No brain metastases.", "No intracranial metastatic disease.", "No adrenal metastasis.", "No metastases to the liver.",
    "No metastases identified in the liver.", "Metastatic disease is not seen in the liver.", "Hepatic metastases are not seen.",
    "No new metastatic disease.", "No other metastatic disease.", "No additional sites of metastatic disease.",
    "No distant metastases other than the known adrenal nodule.", "No evidence of metastatic disease elsewhere.",
    "Otherwise no distant metastases.", "Otherwise, there are no distant metastases.",
    "Apart from the adrenal nodule, no metastatic disease.", "No change in the known metastatic disease.",
    "No lymphadenopathy.", "No mediastinal or hilar lymphadenopathy.", "No enlarged lymph nodes.",
    "No metastatic mediastinal lymphadenopathy.", "No nodal metastases in the mediastinum.", "Axillary node-negative.",
    "No N3 disease.", "No evidence of N2 disease.", "N2 disease is not present.", "Not M1a.", "No M1a disease.",
    "Metastases are present.", "Cannot exclude metastatic disease.",
]


@pytest.mark.parametrize("text", NOT_NEGATION)
def test_statements_that_are_not_n0_or_m0(text):
    assert stated_n(text) == [], text
    assert stated_m(text) == [], text


# --------------------------------------------------------------------------- hedges, priors, ifs

HEDGED = [
    "Possible M1a disease.", "Cannot exclude N2 disease.", "Suspicious for metastatic disease.", "Probable N3 disease.",
    "Likely N2 disease.", "Suspected M1b disease.", "N2 versus N3 disease.", "N2 or N3 disease.", "N2/N3 disease.",
    "M1a versus M1b.", "Questionable cM1a.", "Findings may represent N2 disease.", "Concerning for M1c disease.",
    "Differential includes stage IVA NSCLC.", "Cannot exclude distant metastases.", "Possibly no distant metastases.",
    "Equivocal for N1 disease.", "cT2 cN2 cM1a cannot be excluded.",
]
PRIOR = [
    "Previously staged N1.", "On the prior exam the patient was M0.", "N1 on the prior exam.", "M0 at diagnosis.",
    "At diagnosis, T2N1M0.", "Initially staged as cT2aN2M0.", "Known N2 disease.", "History of N3 disease.",
    "Originally stage IIIA NSCLC.", "On the prior exam there were no distant metastases.", "In 2019 the patient was pN1.",
    "Previous staging: T2 N1 M0.", "Outside staging N2 disease.", "Pretreatment staging cT3 cN2 cM0.",
]
CONDITIONAL = [
    "If biopsy confirms N2 disease, this would be stage IIIA.", "Recommend EBUS to confirm N2 disease.",
    "This would upstage to N3.", "Recommend PET to evaluate for M1 disease.", "Consider N3 disease.",
    "If there are no distant metastases, surgery may be possible.", "Whether this represents M1a disease is uncertain.",
]


@pytest.mark.parametrize("text", HEDGED + PRIOR + CONDITIONAL)
def test_hedged_prior_and_conditional_statements_are_not_facts(text):
    assert stated_n(text) == [], text
    assert stated_m(text) == [], text


@pytest.mark.parametrize("text,n", [
    ("Previously N1, now N2 disease.", ["N2"]),
    ("Upstaged from N1 to N2.", ["N2"]),
    ("Upstaged from cN1 to cN2.", ["N2"]),
    ("Nodal disease progressed from pN1 to cN3.", ["N3"]),
    ("Compared with the prior exam, N2 disease is unchanged.", ["N2"]),
    ("Compared to the prior CT of 1/2/2024, there is new N3 disease.", ["N3"]),
    ("Known NSCLC with bulky N3 disease.", ["N3"]),
    ("Previously N1; current staging N2 disease.", ["N2"]),
    ("Interval development of N3 disease.", ["N3"]),
    ("Interval resolution of N2 nodal disease.", []),
    ("N2 disease has resolved.", []),
])
def test_prior_and_current_in_one_sentence(text, n):
    assert values(stated_n(text)) == n


# ------------------------------------------------------------------------------------------ sections

@pytest.mark.parametrize("header,read", [
    ("CLINICAL HISTORY", False), ("History", False), ("Indication", False), ("Reason for exam", False),
    ("COMPARISON", False), ("Prior studies", False), ("TECHNIQUE", False),
    ("FINDINGS", True), ("IMPRESSION", True), ("Conclusion", True), ("Assessment", True), ("Recommendation", True),
])
@pytest.mark.parametrize("statement,n,m", [("cT2 cN2 cM1b", "N2", "M1b"), ("No nodal or distant metastases.", "N0", "M0")])
def test_sections(header, read, statement, n, m):
    text = f"{header}: {statement}\n"
    assert values(stated_n(text)) == ([n] if read else [])
    assert values(stated_m(text)) == ([m] if read else [])


def test_history_stage_is_not_this_exams_statement_but_names_the_primary():
    text = ("CLINICAL HISTORY: Stage IIIA NSCLC, previously T2N2M0.\n"
            "FINDINGS: New adrenal nodule. New pleural nodules.\n"
            "IMPRESSION: Interval progression, now cT2 cN2 cM1a. Stage IVA.")
    assert values(stated_n(text)) == ["N2"]
    assert sorted(values(stated_m(text))) == ["M1", "M1a"]
    assert answer_m(text).value == "M1a" and answer_m(text).kind == "category"
    assert all(f.section == "impression" for f in stated_m(text))


# ------------------------------------------------------------------------------------ answer rules

def test_impression_wins_over_findings():
    text = report("cN1 disease.", findings="Enlarged subcarinal node, N2 disease.")
    assert values(stated_n(text)) == ["N2", "N1"]
    assert answer_n(text).value == "N1" and answer_n(text).section == "impression"


def test_findings_answer_when_the_impression_is_silent():
    text = report("Right upper lobe mass.", findings="Contralateral hilar node: N3 disease. No distant metastases.")
    assert answer_n(text).value == "N3" and answer_n(text).section == "findings"
    assert answer_m(text).value == "M0" and answer_m(text).kind == "negation"


def test_impression_negation_beats_findings_category():
    # The section rule comes first: the impression's own statement is the report's answer.
    text = report("No distant metastases.", findings="Adrenal nodule, M1b.")
    assert answer_m(text).value == "M0" and answer_m(text).kind == "negation"


def test_category_beats_stage_beats_negation_within_a_section():
    text = "IMPRESSION: NSCLC, stage IVA. No distant metastases outside the chest. M1a disease."
    kinds = {f.kind for f in stated_m(text)}
    assert kinds == {"category", "stage", "negation"}
    assert answer_m(text).value == "M1a" and answer_m(text).kind == "category"
    text = "IMPRESSION: NSCLC, stage IVB. No distant metastatic disease."
    assert answer_m(text).value == "M1c" and answer_m(text).kind == "stage"
    text = "IMPRESSION: No distant metastatic disease."
    assert answer_m(text).kind == "negation"


def test_disagreeing_statements_take_the_most_advanced_and_say_so():
    text = "IMPRESSION: N1 disease on the right. Elsewhere N2 disease."
    a = answer_n(text)
    assert a.value == "N2"
    assert "N1" in a.note and "N2" in a.note
    text = "IMPRESSION: cM1 disease. Adrenal metastasis, M1b."
    assert answer_m(text).value == "M1b"  # M1 is the parent of M1b: less specific
    text = "IMPRESSION: M1c disease. M1a disease."
    assert answer_m(text).value == "M1c" and answer_m(text).span.of(text) == "M1c"


def test_agreeing_statements_answer_the_first_without_a_note():
    text = "IMPRESSION: cT2 cN2 cM0. N2 disease."
    a = answer_n(text)
    assert a.value == "N2" and a.note == "" and a.span.of(text) == "cN2"


@pytest.mark.parametrize("text", ["", "   ", "IMPRESSION: Normal chest CT.", "CLINICAL HISTORY: T2N1M0 NSCLC."])
def test_no_answer(text):
    assert answer_n(text) is None and answer_m(text) is None


@pytest.mark.parametrize("n", N_ORDER)
@pytest.mark.parametrize("m", M_ORDER)
def test_answer_for_every_label(n, m):
    text = report(f"Stage cT2 c{n} c{m}.")
    assert answer_n(text).value == n and answer_m(text).value == m


# --------------------------------------------------------------------------------- a whole report

FULL = """EXAMINATION: CT chest, abdomen and pelvis with contrast.
CLINICAL HISTORY: Right upper lobe adenocarcinoma, previously staged cT2aN1M0. Restaging.
COMPARISON: CT chest 03/01/2024, which showed N1 disease.
TECHNIQUE: Axial images with sagittal and coronal reformats. T1-weighted MRI of the spine is not included.
FINDINGS:
Lungs: 3.4 cm right upper lobe mass, previously 2.9 cm.
Lymph nodes: Enlarged right paratracheal and subcarinal nodes, N2 disease. No supraclavicular lymphadenopathy.
Pleura: Small right pleural effusion, possibly malignant.
Abdomen: Two new enhancing liver lesions. No osseous metastatic disease. T12 vertebral body hemangioma.
IMPRESSION:
1. Progression of right upper lobe adenocarcinoma, now cT2a cN2 cM1c (stage IVB).
2. Possible M1a pleural disease.
3. No bone metastases.
"""


def test_full_report():
    n, m = stated_n(FULL), stated_m(FULL)
    assert [(f.value, f.section, f.kind) for f in n] == [("N2", "findings", "category"), ("N2", "impression", "category")]
    assert [(f.value, f.kind) for f in m] == [("M1c", "category"), ("M1c", "stage")]
    check_spans(FULL, n + m)
    assert answer_n(FULL).span.of(FULL) == "cN2" and answer_m(FULL).span.of(FULL) == "cM1c"
    assert answer_n(FULL).sentence.of(FULL).startswith("1. Progression")


def test_facts_carry_offsets_into_the_original_text():
    prefix = "x" * 50 + "\n\n"
    text = prefix + "IMPRESSION: T2 N1 M0."
    (n,) = stated_n(text)
    assert n.span.start > len(prefix) and n.span.of(text) == "N1"
    assert n.sentence.of(text) == "T2 N1 M0."


# --------------------------------------------------------------------------------- hostile inputs

HOSTILE = [
    "cT2aN2M1c " * 20000, "cT2aN2M1c. " * 19000, "N2 disease. " * 17000, "T1 " * 70000, "N" * 200000,
    "no no no no evidence of " * 9000, "stage " * 35000, "metastatic " * 19000, "No distant metastases. " * 9000,
    "(" * 200000, "T1N" * 70000, "Lung cancer stage IVB. " * 9000, "IMPRESSION: N2 disease\n" * 9000,
    "previously " * 19000 + "N2 disease", "N2 " + " " * 199990 + "disease", "no " * 66000 + "distant metastases",
]


@pytest.mark.parametrize("junk", HOSTILE, ids=[h[:12].strip() or "blank" for h in HOSTILE])
def test_hostile_input_finishes_quickly(junk):
    text = junk[:200_000]
    assert len(text) >= 190_000
    t0 = time.perf_counter()
    n, m = stated_n(text), stated_m(text)
    answer_n(text), answer_m(text)
    # Four passes over 200 KB take about 1-4 s on a loaded 2-core machine; a quadratic scan takes minutes.
    assert time.perf_counter() - t0 < 12.0
    assert all(f.sentence.covers(f.span) for f in n + m)
