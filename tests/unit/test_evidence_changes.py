"""integration.inference.evidence.changes: the changes a report states against its prior, and its own answer.

Each phrasing is its own case, placed in three report styles (radiograph, CT with headers, a bare
body), so a failure names the text that broke. Expected findings are in ``clean_phrase`` form.
"""

from __future__ import annotations

import pytest

from integration.inference.evidence.changes import answer, same_finding, stated_changes
from integration.tasks.temporal_comparison import CHANGES, is_valid_finding, make_value, parse_temporal, render_temporal

N, W, I, R, U = "new", "worsened", "improved", "resolved", "unchanged"  # noqa: E741 -- I: "improved", one of five

# sentence -> the (finding, change) items it states, in order.
STATED: list[tuple[str, list[tuple[str, str]]]] = [
    # the brief's phrasings
    ("The heart remains enlarged, unchanged.", [("cardiomegaly", U)]),
    ("Interstitial edema has resolved.", [("interstitial edema", R)]),
    ("The bilateral pleural effusions have decreased and are now trace.", [("bilateral pleural effusions", I)]),
    ("The left basilar opacity has cleared.", [("left basilar opacity", R)]),
    ("A new right PICC line terminates in the SVC.", [("right picc line", N)]),
    ("Interval increase in size of the right lower lobe nodule, now 14 mm (previously 9 mm).",
     [("right lower lobe nodule", W)]),
    ("Stable 4 mm left upper lobe nodule.", [("left upper lobe nodule", U)]),
    ("No change in the small hiatal hernia.", [("hiatal hernia", U)]),
    ("Redemonstrated mild cardiomegaly.", [("cardiomegaly", U)]),
    ("Previously seen right pneumothorax is no longer visualized.", [("right pneumothorax", R)]),
    ("Worsening bibasilar consolidation.", [("bibasilar consolidation", W)]),
    ("Decreased size of the mediastinal lymph nodes.", [("mediastinal lymph nodes", I)]),
    ("Resolved interstitial edema, improving trace effusions, stable cardiomegaly.",
     [("interstitial edema", R), ("effusions", I), ("cardiomegaly", U)]),
    ("Cardiomegaly with new small bilateral pleural effusions.", [("bilateral pleural effusions", N)]),
    ("The effusion has resolved but the consolidation has worsened.", [("effusion", R), ("consolidation", W)]),
    # new
    ("There is a new 6 mm nodule in the lingula.", [("nodule in the lingula", N)]),
    ("A 6 mm nodule in the right middle lobe is new (series 3, image 88).", [("nodule in the right middle lobe", N)]),
    ("Since the prior exam, there is interval development of a right pleural effusion.", [("right pleural effusion", N)]),
    ("Interval appearance of ascites.", [("ascites", N)]),
    ("Development of a moderate left pleural effusion.", [("left pleural effusion", N)]),
    ("Interval placement of a left chest tube.", [("left chest tube", N)]),
    ("Newly seen left lower lobe opacity.", [("left lower lobe opacity", N)]),
    ("New onset left effusion.", [("left effusion", N)]),
    ("New mild interstitial pulmonary edema.", [("interstitial pulmonary edema", N)]),
    ("New right lower lobe consolidation, likely pneumonia.", [("right lower lobe consolidation", N)]),
    ("New left pleural effusion and right basilar atelectasis.",
     [("left pleural effusion", N), ("right basilar atelectasis", N)]),
    ("Interval development of a small right apical pneumothorax following chest tube removal.",
     [("right apical pneumothorax", N)]),
    ("A left pleural effusion has developed.", [("left pleural effusion", N)]),
    # worsened
    ("Compared to prior, the left pleural effusion has increased.", [("left pleural effusion", W)]),
    ("The left pneumothorax has enlarged.", [("left pneumothorax", W)]),
    ("The right upper lobe nodule has grown.", [("right upper lobe nodule", W)]),
    ("Increased cardiomegaly.", [("cardiomegaly", W)]),
    ("Increased pulmonary vascular congestion.", [("pulmonary vascular congestion", W)]),
    ("Slight interval increase in the right pleural effusion.", [("right pleural effusion", W)]),
    ("There has been interval worsening of the pulmonary edema.", [("pulmonary edema", W)]),
    ("Slightly increased right lower lobe opacity compared to the prior study.", [("right lower lobe opacity", W)]),
    ("Mildly increased left pleural effusion with adjacent atelectasis.", [("left pleural effusion", W)]),
    ("Increasing right upper lobe mass, now 5.2 cm.", [("right upper lobe mass", W)]),
    ("Enlarging right paratracheal lymph node, now 1.6 cm in short axis.", [("right paratracheal lymph node", W)]),
    ("Growing left lower lobe nodule.", [("left lower lobe nodule", W)]),
    ("Progression of the osseous metastatic disease.", [("osseous metastatic disease", W)]),
    ("Small left effusion is slightly larger.", [("left effusion", W)]),
    ("The right lower lobe nodule has increased from 9 mm to 14 mm.", [("right lower lobe nodule", W)]),
    ("Worse right basilar opacity.", [("right basilar opacity", W)]),
    ("Left lower lobe consolidation, increased.", [("left lower lobe consolidation", W)]),
    ("Since the prior exam from 12/2025, the pancreatic cyst has enlarged, now measuring 2.4 cm.",
     [("pancreatic cyst", W)]),
    ("Compared to the CT of 01/15/2026, the dominant right hepatic lesion has increased in size, "
     "now 3.1 x 2.8 cm (previously 2.2 x 2.0 cm).", [("dominant right hepatic lesion", W)]),
    ("Interval progression of the left upper lobe mass.", [("left upper lobe mass", W)]),
    # improved
    ("The right pneumothorax has decreased in size.", [("right pneumothorax", I)]),
    ("The right upper lobe nodule is smaller.", [("right upper lobe nodule", I)]),
    ("Decreased left basilar atelectasis.", [("left basilar atelectasis", I)]),
    ("Improving right lower lobe consolidation.", [("right lower lobe consolidation", I)]),
    ("Interval decrease in the right pleural effusion.", [("right pleural effusion", I)]),
    ("Hepatic metastases have decreased in size and number.", [("hepatic metastases", I)]),
    ("Partial resolution of the right upper lobe consolidation.", [("right upper lobe consolidation", I)]),
    ("The left effusion is nearly resolved.", [("left effusion", I)]),
    ("Resolving right lower lobe pneumonia.", [("right lower lobe pneumonia", I)]),
    ("Clearing of the left basilar opacity.", [("left basilar opacity", I)]),
    ("Mild pulmonary edema, slightly improved.", [("pulmonary edema", I)]),
    ("Slightly improved mild pulmonary edema.", [("pulmonary edema", I)]),
    ("Right effusion slightly decreased since the prior exam.", [("right effusion", I)]),
    ("Left pleural effusion, which has decreased.", [("left pleural effusion", I)]),
    ("Gradual improvement of right lower lobe consolidation.", [("right lower lobe consolidation", I)]),
    ("Persistent but improved right lower lobe opacity.", [("right lower lobe opacity", I)]),
    ("Regression of the retroperitoneal lymphadenopathy.", [("retroperitoneal lymphadenopathy", I)]),
    # resolved
    ("Previously seen left pleural effusion has resolved.", [("left pleural effusion", R)]),
    ("The previously noted left pleural effusion is no longer present.", [("left pleural effusion", R)]),
    ("No longer seen is the right pneumothorax.", [("right pneumothorax", R)]),
    ("Interval resolution of the previously seen right middle lobe opacity.", [("right middle lobe opacity", R)]),
    ("The nasogastric tube has been removed.", [("nasogastric tube", R)]),
    ("Interval removal of the right chest tube.", [("right chest tube", R)]),
    ("There has been interval removal of the left chest tube without pneumothorax.", [("left chest tube", R)]),
    ("The right lower lobe consolidation has completely resolved.", [("right lower lobe consolidation", R)]),
    ("Resolution of the left apical pneumothorax.", [("left apical pneumothorax", R)]),
    # unchanged
    ("The endotracheal tube is unchanged in position.", [("endotracheal tube", U)]),
    ("Tip of the right PICC line unchanged in position at the cavoatrial junction.", [("right picc line", U)]),
    ("The ET tube is in stable position.", [("endotracheal tube", U)]),
    ("Stable position of the ET tube.", [("endotracheal tube", U)]),
    ("The 8 mm right middle lobe nodule (series 4, image 87) is unchanged from 12/2025.",
     [("right middle lobe nodule", U)]),
    ("Unchanged mild cardiomegaly.", [("cardiomegaly", U)]),
    ("Unchanged the heart is mildly enlarged.", [("cardiomegaly", U)]),
    ("Mild cardiomegaly is unchanged.", [("cardiomegaly", U)]),
    ("The cardiac silhouette is enlarged but stable.", [("cardiomegaly", U)]),
    ("The cardiac silhouette is enlarged and unchanged.", [("cardiomegaly", U)]),
    ("The heart size remains mildly enlarged.", [("cardiomegaly", U)]),
    ("Again seen is a small hiatal hernia.", [("hiatal hernia", U)]),
    ("A small hiatal hernia is again noted.", [("hiatal hernia", U)]),
    ("There remains a small left pleural effusion.", [("left pleural effusion", U)]),
    ("Persistent left lower lobe opacity.", [("left lower lobe opacity", U)]),
    ("The left lower lobe opacity persists.", [("left lower lobe opacity", U)]),
    ("The left hemidiaphragm remains elevated.", [("elevated left hemidiaphragm", U)]),
    ("The costophrenic angles remain blunted.", [("blunted costophrenic angles", U)]),
    ("Stable enhancing lesion in the left frontal lobe.", [("enhancing lesion in the left frontal lobe", U)]),
    ("Stable T2 hyperintense lesion in the right hepatic lobe, likely a hemangioma.",
     [("t2 hyperintense lesion in the right hepatic lobe", U)]),
    ("No significant change in size of the left adrenal adenoma, measuring 1.8 cm.", [("left adrenal adenoma", U)]),
    ("The nodule measures 4 mm, unchanged.", [("nodule", U)]),
    ("Small hiatal hernia unchanged in size.", [("hiatal hernia", U)]),
    ("The nodule is similar in size to the prior.", [("nodule", U)]),
    ("Similar appearance of the left pleural effusion.", [("left pleural effusion", U)]),
    ("The nodule is not significantly changed.", [("nodule", U)]),
    ("The nodule has not changed.", [("nodule", U)]),
    ("Unchanged 2.1 cm right adrenal adenoma.", [("right adrenal adenoma", U)]),
    ("The liver lesion in segment 7 is stable since 12/2025.", [("liver lesion in segment 7", U)]),
    ("Stable small bowel dilatation.", [("small bowel dilatation", U)]),
    ("Left PICC line remains in place.", [("left picc line", U)]),
    ("The right-sided chest tube is again seen, unchanged in position.", [("right-sided chest tube", U)]),
    ("Redemonstration of a 2 cm simple cyst in the left kidney.", [("simple cyst in the left kidney", U)]),
    ("The larger of the two nodules is unchanged.", [("nodules", U)]),
    ("Lines/tubes: unchanged.", [("lines/tubes", U)]),
    ("Pleura: The right pleural effusion has resolved.", [("right pleural effusion", R)]),
    # two findings, two changes, one sentence
    ("The effusion has decreased, and the nodule is stable.", [("effusion", I), ("nodule", U)]),
    ("The right effusion has decreased while the left effusion has increased.",
     [("right effusion", I), ("left effusion", W)]),
    ("Decreased right pleural effusion with new left pleural effusion.",
     [("right pleural effusion", I), ("left pleural effusion", N)]),
    ("Small bilateral pleural effusions, left greater than right, are unchanged, and new left lower lobe opacity.",
     [("bilateral pleural effusions", U), ("left lower lobe opacity", N)]),
    ("No pneumothorax, stable cardiomegaly.", [("cardiomegaly", U)]),
    ("Stable cardiomegaly, no new effusion.", [("cardiomegaly", U)]),
    ("Stable moderate hiatal hernia, large bowel loops unremarkable.", [("hiatal hernia", U)]),
    ("Worsening pulmonary edema; resolved right pneumothorax.", [("pulmonary edema", W), ("right pneumothorax", R)]),
    # more report styles
    ("The previously stable nodule has increased in size.", [("nodule", W)]),
    ("Since 12/2025, the nodule has grown.", [("nodule", W)]),
    ("Increased left effusion compared to prior.", [("left effusion", W)]),
    ("The nodule shows no interval change.", [("nodule", U)]),
    ("There is no significant interval change in the size of the nodule.", [("nodule", U)]),
    ("Smaller left effusion.", [("left effusion", I)]),
    ("The right lung is hyperexpanded, unchanged.", [("hyperexpanded right lung", U)]),
    ("Unchanged position of the feeding tube.", [("feeding tube", U)]),
    ("Scattered calcified granulomas are again noted.", [("scattered calcified granulomas", U)]),
    ("Right hilar and mediastinal lymphadenopathy has progressed.", [("right hilar and mediastinal lymphadenopathy", W)]),
    ("The left ventricle is enlarged, similar to prior.", [("enlarged left ventricle", U)]),
    ("1. Stable nodule.", [("nodule", U)]),
    ("2. The effusion has resolved.", [("effusion", R)]),
    ("- New left effusion.", [("left effusion", N)]),
    # wording from real radiograph reports (IU X-ray)
    ("In the interval, a patchy infiltrate has developed in the right lower lobe.", [("patchy infiltrate", N)]),
    ("In the interval, consolidation and atelectasis have developed in the right lower lobe.",
     [("consolidation", N), ("atelectasis", N)]),
    ("Heart size is enlarged, stable.", [("cardiomegaly", U)]),
    ("The cardiac silhouette remains markedly enlarged.", [("cardiomegaly", U)]),
    ("Lung volumes remain low.", [("low lung volumes", U)]),
    ("Left effusion with adjacent atelectasis has decreased.", [("left effusion", I)]),
    ("Stable appearance of large hiatal hernia containing stomach and large bowel.", [("hiatal hernia", U)]),
    ("Interval improvement in aeration of left lung with interval reduction in size of left pleural effusion.",
     [("aeration of left lung", I), ("left pleural effusion", I)]),
    ("Right PICC is unchanged with tip at the caval atrial junction.", [("right picc", U)]),
    ("Endotracheal tube and NG tube have been removed.", [("endotracheal tube", R), ("nasogastric tube", R)]),
    ("Newly apparent left effusion.", [("left effusion", N)]),
]

# Sentences that state no change: negations, hedges, findings without a change word, normal or
# anatomy-only statements, look-alikes of change words.
NOTHING = [
    "No new consolidation.",
    "There is no new focal opacity.",
    "No new or enlarging pulmonary nodules.",
    "No evidence of new consolidation.",
    "Cardiomegaly without new effusion.",
    "No pneumothorax or new effusion.",
    "No suspicious new lesions.",
    "No new lytic or blastic osseous lesions.",
    "The effusion has not increased.",
    "No pneumothorax.",
    "No significant change.",
    "No interval change.",
    "Without significant interval change.",
    "No acute change.",
    "Otherwise unchanged.",
    "Essentially unchanged examination.",
    "No interval change in the appearance of the chest.",
    "Unchanged appearance of the lungs.",
    "Stable appearance of the abdomen and pelvis.",
    # hedged
    "The nodule is possibly slightly larger.",
    "The effusion may be minimally increased.",
    "Questionable new opacity in the left lower lobe.",
    "Possible new small left effusion.",
    "The effusion might have decreased.",
    "The opacity is likely improved.",
    "Consolidation is not definitely changed.",
    "Probable new left basilar atelectasis.",
    "New left lower lobe opacity versus atelectasis?",
    # no change word
    "Right PICC line in place.",
    "A right IJ catheter terminates in the SVC.",
    "Cardiomegaly.",
    "Small bilateral pleural effusions.",
    "Enlarged mediastinal lymph nodes.",
    "Mild cardiomegaly and small left effusion.",
    # normal / anatomy only / not a finding
    "The lungs remain clear.",
    "The lungs are clear, unchanged.",
    "Heart size is stable.",
    "Heart size is normal, unchanged.",
    "Stable cardiomediastinal silhouette.",
    "Cardiomediastinal silhouette is stable in size and contour.",
    "It has decreased.",
    "This exam serves as a new baseline.",
    # look-alikes: properties, comparisons within this study, patient status, RADS
    "Increased T2 signal in the periventricular white matter.",
    "Increased FDG uptake in the right hilar node.",
    "Decreased attenuation of the liver.",
    "The right effusion is larger than the left.",
    "The larger nodule measures 9 mm.",
    "Clinically stable.",
    "The patient is hemodynamically stable.",
    "BI-RADS 2: benign, stable.",
    # contrary words in one phrase
    "The effusion is unchanged to slightly decreased.",
    # planned, not stated
    "Recommend follow-up CT to document resolution of the consolidation.",
    "Follow-up in 3 months to confirm stability of the nodule.",
    "On the prior study, there was a new right effusion.",
    "The prior study showed a new effusion.",
    "Resolution of the effusion should be confirmed on follow-up.",
    "If the nodule is stable, no further follow-up is needed.",
    # "better seen", within-study comparatives, static sizes
    "The nodule is better seen on the lateral view.",
    "The lesion is better characterized on MRI.",
    "A smaller nodule is also seen in the right lower lobe.",
    "Decreased lung volumes.",
    "Reduced lung volumes.",
    "There remains no evidence of pneumothorax.",
    "Heart size and mediastinal contours are stable.",
    "Osseous structures are unchanged.",
    "The exam is otherwise unchanged.",
    "Unchanged from prior.",
    "The patient remains intubated.",
    # wording from real radiograph reports (IU X-ray)
    "However, it has decreased considerably since the previous examination.",
    "Bone density is decreased.",
    "Stable appearing chest.",
    "Stable, nonenlarged cardiomediastinal silhouette.",
    "Increased retrosternal airspace.",
    "Exaggerated kyphosis with increased AP dimension of the thorax.",
    "Bibasilar airspace disease, left worse than right.",
    "Given differences in patient rotation, heart size and mediastinal contours are grossly unchanged.",
    "Considering differences in technical factors, stable cardiomediastinal silhouette with normal heart size.",
    "Paramediastinal silhouette is stable and within normal limits.",
    "There has been apparent interval increase in the opacity.",
    "Stable chest radiograph.",
    "Mediastinal and hilar contours are stable.",
    "Both lungs remain clear and expanded.",
]


def _radiograph(s: str) -> str:
    return (f"EXAMINATION: Chest radiograph, PA and lateral.\nINDICATION: Shortness of breath.\n"
            f"COMPARISON: Chest radiograph from 12/2025.\nFINDINGS: {s} No acute osseous abnormality.\n"
            f"IMPRESSION: See findings.\n")


def _ct(s: str) -> str:
    return (f"EXAM: CT chest without contrast.\nCLINICAL HISTORY: Follow-up.\nCOMPARISON: CT chest 01/15/2026.\n"
            f"FINDINGS:\nThe thyroid is unremarkable.\n{s}\nThe visualized upper abdomen is unremarkable.\n")


STYLES = {"radiograph": _radiograph, "ct": _ct, "body": lambda s: s}


def _items(report: str) -> list[tuple[str, str]]:
    return [(f.value["finding"], f.value["change"]) for f in stated_changes(report)]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize(("sentence", "expected"), STATED, ids=[s for s, _ in STATED])
def test_stated(sentence: str, expected: list[tuple[str, str]], style: str) -> None:
    assert _items(STYLES[style](sentence)) == expected


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("sentence", NOTHING)
def test_nothing_stated(sentence: str, style: str) -> None:
    report = STYLES[style](sentence)
    assert _items(report) == []
    assert answer(report) is None


@pytest.mark.parametrize(("sentence", "expected"), STATED, ids=[s for s, _ in STATED])
def test_fact_shape_and_span(sentence: str, expected: list[tuple[str, str]]) -> None:
    report = _ct(sentence)
    facts = stated_changes(report)
    assert len(facts) == len(expected)
    for fact in facts:
        assert fact.kind == "change" and fact.section == "findings"
        assert fact.value["change"] in CHANGES and is_valid_finding(fact.value["finding"])
        assert fact.sentence.covers(fact.span)
        span = fact.span.of(report)
        assert span == span.strip() and span in sentence
        # the span names the finding: one of its words, or what "cardiomegaly" was read from
        words = fact.value["finding"].split() + (["heart", "cardiac"] if fact.value["finding"] == "cardiomegaly"
                                                 else [])
        assert any(w in span.lower() for w in words), (span, fact.value)


SPANS = [  # sentence, the change word, a word of the finding: both inside the fact's span
    ("The heart remains enlarged, unchanged.", "remains", "heart"),
    ("Interstitial edema has resolved.", "resolved", "edema"),
    ("The bilateral pleural effusions have decreased and are now trace.", "decreased", "effusions"),
    ("The left basilar opacity has cleared.", "cleared", "opacity"),
    ("A new right PICC line terminates in the SVC.", "new", "PICC"),
    ("Interval increase in size of the right lower lobe nodule, now 14 mm (previously 9 mm).", "increase", "nodule"),
    ("Stable 4 mm left upper lobe nodule.", "Stable", "nodule"),
    ("No change in the small hiatal hernia.", "No change", "hernia"),
    ("Previously seen right pneumothorax is no longer visualized.", "no longer visualized", "pneumothorax"),
    ("Cardiomegaly with new small bilateral pleural effusions.", "new", "effusions"),
    ("The effusion has resolved but the consolidation has worsened.", "resolved", "effusion"),
]


@pytest.mark.parametrize(("sentence", "word", "finding_word"), SPANS)
def test_span_points_at_change_and_finding(sentence: str, word: str, finding_word: str) -> None:
    report = _radiograph(sentence)
    spans = [f.span.of(report) for f in stated_changes(report)]
    assert any(word in s and finding_word in s for s in spans), spans


def test_span_excludes_other_items_and_cardiomegaly_without_change_word() -> None:
    report = "Cardiomegaly with new small bilateral pleural effusions."
    (fact,) = stated_changes(report)
    assert fact.span.of(report) == "new small bilateral pleural effusions"
    report = "The effusion has resolved but the consolidation has worsened."
    assert [f.span.of(report) for f in stated_changes(report)] == ["effusion has resolved", "consolidation has worsened"]


# -- sections --------------------------------------------------------------------------------------

BRIEF_REPORT = """EXAMINATION: Chest radiograph, PA and lateral.
INDICATION: Follow-up of heart failure after diuresis.
COMPARISON: Chest radiograph from 2026-03-05.
FINDINGS: The heart remains enlarged, unchanged. Interstitial edema has resolved.
The bilateral pleural effusions have decreased and are now trace. The left basilar
opacity has cleared. A new right PICC line terminates in the superior vena cava.
IMPRESSION: Resolved interstitial edema, improving trace effusions, stable cardiomegaly.
"""


def test_brief_report() -> None:
    assert answer(BRIEF_REPORT) == make_value([
        ("cardiomegaly", U), ("interstitial edema", R), ("bilateral pleural effusions", I),
        ("left basilar opacity", R), ("right picc line", N)])
    sections = {(f.value["finding"], f.section) for f in stated_changes(BRIEF_REPORT)}
    assert ("effusions", "impression") in sections and ("cardiomegaly", "impression") in sections
    assert all(s in ("findings", "impression") for _, s in sections)


def test_brief_report_value_renders_and_parses() -> None:
    value = answer(BRIEF_REPORT)
    assert parse_temporal(render_temporal(value)) == value


@pytest.mark.parametrize("report", [
    "COMPARISON: Chest radiograph from 2026-03-05.",
    "COMPARISON: CT chest 1/2/2026, which showed a new right pleural effusion and increased adenopathy.",
    "Comparison: Prior study, stable nodule.\n",
    "INDICATION: Follow-up of stable left upper lobe nodule.\nFINDINGS: The lungs are clear.",
    "CLINICAL HISTORY: New cough. Worsening dyspnea.\nFINDINGS: No acute cardiopulmonary process.",
    "TECHNIQUE: Protocol unchanged from the prior examination.\nFINDINGS: No pneumothorax.",
    "FINDINGS: No pneumothorax.\nRECOMMENDATION: Follow-up to document resolution of the effusion.",
    "HISTORY: Resolved pneumonia.\nCOMPARISON: 12/2025.\nIMPRESSION: No acute findings.",
])
def test_only_current_sections(report: str) -> None:
    assert stated_changes(report) == ()
    assert answer(report) is None


def test_comparison_then_body_line() -> None:
    report = "Comparison: 12/2025, which showed a new effusion.\nThe effusion has resolved."
    assert [f.section for f in stated_changes(report)] == ["body"]
    assert answer(report) == [{"finding": "effusion", "change": R}]


# -- answer: merging and conflicts ------------------------------------------------------------------

@pytest.mark.parametrize(("report", "expected"), [
    # same finding, same change: one item under the more specific phrase
    ("FINDINGS: Small bilateral pleural effusions have decreased.\nIMPRESSION: Improving effusions.",
     [("bilateral pleural effusions", I)]),
    ("FINDINGS: The heart is enlarged but stable.\nIMPRESSION: Stable cardiomegaly.", [("cardiomegaly", U)]),
    ("FINDINGS: A new 6 mm nodule in the lingula.\nIMPRESSION: New lingular nodule.",
     [("lingular nodule", N), ("nodule in the lingula", N)]),
    # conflict: the impression wins
    ("FINDINGS: The left effusion is unchanged.\nIMPRESSION: Slightly decreased left pleural effusion.",
     [("left pleural effusion", I)]),
    ("FINDINGS: Stable right lower lobe nodule.\nIMPRESSION:\n1. Interval growth of the right lower lobe nodule.",
     [("right lower lobe nodule", W)]),
    # conflict the impression does not settle: dropped, the rest kept
    ("FINDINGS: The left effusion has increased. The left pleural effusion has decreased. Stable cardiomegaly.",
     [("cardiomegaly", U)]),
    ("FINDINGS: Stable nodule.\nIMPRESSION: Nodule has increased. Nodule is smaller.", None),
    # different findings with the same head are not merged
    ("FINDINGS: New right pleural effusion. Resolved left pleural effusion.",
     [("left pleural effusion", R), ("right pleural effusion", N)]),
    ("IMPRESSION: New pericardial effusion; stable pleural effusion.",
     [("pericardial effusion", N), ("pleural effusion", U)]),
    ("No pneumothorax. Lungs are clear.", None),
])
def test_answer(report: str, expected: list[tuple[str, str]] | None) -> None:
    assert answer(report) == (None if expected is None else make_value(expected))


# -- same_finding ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("a", "b"), [
    ("bilateral pleural effusions", "pleural effusion"),
    ("pleural effusion", "effusions"),
    ("bilateral pleural effusions", "effusions"),
    ("cardiomegaly", "heart enlarged"),
    ("cardiomegaly", "enlarged heart"),
    ("cardiomegaly", "cardiac silhouette enlarged"),
    ("cardiomegaly", "enlarged cardiac silhouette"),
    ("picc line", "right picc line"),
    ("nodule", "right lower lobe nodule"),
    ("right lower lobe nodule", "nodule in the right lower lobe"),
    ("interstitial edema", "pulmonary edema"),
    ("edema", "interstitial edema"),
    ("lymph nodes", "mediastinal lymph nodes"),
    ("hepatic metastases", "metastasis"),
    ("Right Pneumothorax", "pneumothorax"),
    ("left lower lobe opacities", "left lower lobe opacity"),
    ("small left pleural effusion", "left pleural effusion"),
])
def test_same_finding(a: str, b: str) -> None:
    assert same_finding(a, b) and same_finding(b, a)


@pytest.mark.parametrize(("a", "b"), [
    ("pleural effusion", "pericardial effusion"),
    ("right lower lobe nodule", "left upper lobe nodule"),
    ("right lower lobe nodule", "right upper lobe nodule"),
    ("left pleural effusion", "right pleural effusion"),
    ("bilateral pleural effusions", "left pleural effusion"),
    ("left basilar opacity", "left basilar atelectasis"),
    ("cardiomegaly", "pleural effusion"),
    ("chest tube", "picc line"),
    ("nasogastric tube", "endotracheal tube"),
    ("nodule", "mass"),
    ("", "nodule"),
    ("the", "a"),
])
def test_not_same_finding(a: str, b: str) -> None:
    assert not same_finding(a, b) and not same_finding(b, a)


# -- a full report --------------------------------------------------------------------------------------

FULL_REPORT = """EXAMINATION: CT chest with intravenous contrast.
CLINICAL HISTORY: 67-year-old man with right lower lobe adenocarcinoma on chemotherapy. New cough. Follow-up of a stable left upper lobe nodule.
COMPARISON: CT chest from 12/2025, which showed a new right pleural effusion and increased mediastinal adenopathy.
TECHNIQUE: Axial images from the thoracic inlet through the upper abdomen after 80 mL of intravenous contrast; coronal and sagittal reformats; protocol unchanged from the prior examination.

FINDINGS:
Lines and devices: A right internal jugular port catheter terminates in the superior vena cava.
Lungs and airways: The primary right lower lobe mass has decreased in size, now 2.8 x 2.1 cm (previously 3.9 x 3.0 cm), series 3, image 112. A 6 mm nodule in the right middle lobe is new (series 3, image 88). Stable 4 mm left upper lobe nodule. No new pulmonary nodules. Patchy ground-glass opacity in the left lower lobe may be minimally increased, possibly infectious. Minimal dependent bibasilar atelectasis is slightly improved. Mild centrilobular emphysema. The central airways are patent.
Pleura: The right pleural effusion has resolved. No pneumothorax. No pleural thickening.
Mediastinum and hila: Decreased size of the subcarinal lymph node, now 9 mm in short axis (previously 14 mm). No new hilar or mediastinal adenopathy. Heart size is stable. No pericardial effusion. The thoracic aorta is normal in caliber. Coronary artery calcifications.
Upper abdomen: Again seen is a 1.2 cm hypodense lesion in the right hepatic lobe, unchanged. The adrenal glands are unremarkable. Small hiatal hernia.
Bones and soft tissues: Redemonstrated sclerotic lesion in the T7 vertebral body, not significantly changed. No new osseous lesions. No suspicious soft tissue abnormality. The thyroid gland is unremarkable.

IMPRESSION:
1. Decreased size of the right lower lobe primary mass and subcarinal lymph node, consistent with treatment response.
2. Resolved right pleural effusion.
3. New 6 mm right middle lobe nodule, indeterminate; attention on follow-up.
4. Stable left upper lobe nodule and hepatic lesion.
5. No new sites of disease.

RECOMMENDATION: Follow-up CT chest in 3 months to assess the new right middle lobe nodule and to document continued response; resolution of any effusion should be confirmed.
"""


def test_full_report() -> None:
    assert 350 <= len(FULL_REPORT.split()) <= 450
    assert answer(FULL_REPORT) == make_value([
        ("primary right lower lobe mass", I),
        ("right middle lobe nodule", N),
        ("left upper lobe nodule", U),
        ("dependent bibasilar atelectasis", I),
        ("right pleural effusion", R),
        ("subcarinal lymph node", I),
        ("hypodense lesion in the right hepatic lobe", U),
        ("sclerotic lesion in the t7 vertebral body", U),
    ])
    facts = stated_changes(FULL_REPORT)
    assert {f.section for f in facts} == {"findings", "impression"}
    for fact in facts:  # every span lies in its sentence, in a current section
        assert fact.sentence.covers(fact.span)
    # nothing from the history, comparison, technique or recommendation
    rec = FULL_REPORT.index("RECOMMENDATION")
    assert all(FULL_REPORT.index("FINDINGS:") < f.span.start < rec for f in facts)


def test_full_report_hedged_sentence_gives_nothing() -> None:
    assert not any("ground-glass" in f.span.of(FULL_REPORT) for f in stated_changes(FULL_REPORT))


# -- robustness ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", " ", "\n\n", ".", "Stable.", "New", "unchanged unchanged unchanged",
                                  "IMPRESSION:", "(((", "no " * 500, "stable, " * 300, "x" * 5000])
def test_odd_input_does_not_crash(text: str) -> None:
    facts = stated_changes(text)
    assert all(is_valid_finding(f.value["finding"]) for f in facts)
    result = answer(text)
    assert result is None or result == make_value((i["finding"], i["change"]) for i in result)


# Speed is measured in bench/pipeline.py (the "decision share" column), never in a timed unit test.


def test_a_report_where_every_sentence_states_a_change() -> None:
    report = "FINDINGS:\n" + "\n".join(s for s, _ in STATED)  # ~900 words, ~140 items
    assert len(stated_changes(report)) > 100


def test_pure_and_deterministic() -> None:
    first = stated_changes(FULL_REPORT)
    stated_changes.cache_clear()
    assert stated_changes(FULL_REPORT) == first
    assert answer(FULL_REPORT) == answer(FULL_REPORT)
