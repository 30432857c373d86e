"""Generated radiology_qa data: questions an IU report answers, answers from the rule labels.

Report: the IU findings and impression. Up to three questions per report, drawn from:

* presence -- "Is there a pleural effusion?" for an observation the rule labeler finds mentioned
  (positive mentions preferred): "Yes." / "Yes, small bilateral." (severity and side words taken
  from the mention's clause), "No.", or "Possibly." for an uncertain mention;
* side -- "Which side is the pleural effusion on?" -> "Left." / "Right." / "Both sides." when
  the positive mention's clause names exactly one side;
* heart size -- "Is the heart size normal?" -> "Yes." / "No, the heart is enlarged.";
* impression -- "What is the impression?" -> the impression text, verbatim;
* not mentioned -- one report in ten also gets a presence question about an observation it never
  mentions, answered "Not mentioned." (not when a whole-organ statement such as "the lungs are
  clear" settles it; see ``chexpert_rules.implied_labels``).

A label NegBio marks positive while the rules read it negative is not asked about (the two
sources disagree). Rows keep the report's id and split. Source: ``generated:qa:iu``.
"""

from __future__ import annotations

import random
import re

from integration.inference.evidence.chexpert import NEGATIVE, POSITIVE, UNCERTAIN, Labels, Mention, implied_labels
from training.data.abnormality import NEGBIO_TO_CHEXPERT
from training.data.iu import Report
from training.data.rows import Row, make_row

TASK = "radiology_qa"

QUESTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    # label -> (noun phrase for side questions, presence questions)
    "Pleural Effusion": ("pleural effusion", ("Is there a pleural effusion?", "Is a pleural effusion present?", "Does the report describe a pleural effusion?")),
    "Pneumothorax": ("pneumothorax", ("Is there a pneumothorax?", "Is a pneumothorax present?")),
    "Consolidation": ("consolidation", ("Is there any focal consolidation?", "Is there consolidation?")),
    "Edema": ("edema", ("Is there pulmonary edema?", "Does the patient have pulmonary edema?")),
    "Cardiomegaly": ("cardiomegaly", ("Is there cardiomegaly?", "Is the heart enlarged?")),
    "Atelectasis": ("atelectasis", ("Is there atelectasis?", "Is any atelectasis described?")),
    "Lung Lesion": ("nodule", ("Is there a lung nodule or mass?", "Are any pulmonary nodules or masses reported?")),
    "Pneumonia": ("pneumonia", ("Is there pneumonia?", "Is there evidence of pneumonia?")),
    "Fracture": ("fracture", ("Is there a fracture?", "Is any fracture reported?")),
    "Lung Opacity": ("opacity", ("Is there an airspace opacity?", "Are there any lung opacities?")),
    "Support Devices": ("device", ("Is there a support device such as a line, tube or pacemaker?", "Are any lines, tubes or devices present?")),
}
_SEVERITY = {"trace": "trace", "tiny": "tiny", "small": "small", "minimal": "minimal", "mild": "mild", "mildly": "mild",
             "moderate": "moderate", "moderately": "moderate", "large": "large", "severe": "severe", "marked": "marked",
             "markedly": "marked", "extensive": "extensive", "borderline": "borderline"}
_SIDES = {"left": "left", "right": "right", "bilateral": "bilateral", "bilaterally": "bilateral", "bibasilar": "bilateral", "both": "bilateral"}
_WORD = re.compile(r"[a-z]+")


def descriptors(lab: Labels, mention: Mention) -> tuple[str | None, str | None]:
    """(severity, side) words in the mention's clause: four words before it, three after."""
    sentence = lab.sentences[mention.sentence]
    before = _WORD.findall(re.split(r"[,;:]|\band\b|\bwith\b", sentence[: mention.start])[-1])[-4:]
    after = _WORD.findall(re.split(r"[,;:]|\band\b|\bwith\b", sentence[mention.end:])[0])[:3]
    words = before + after
    severity = next((_SEVERITY[w] for w in words if w in _SEVERITY), None)
    sides = {_SIDES[w] for w in words if w in _SIDES}
    side = "bilateral" if "bilateral" in sides or sides == {"left", "right"} else (sides.pop() if len(sides) == 1 else None)
    return severity, side


def _disputed(report: Report, label: str, status: str | None) -> bool:
    return status in (None, NEGATIVE) and any(report.negbio.get(c) == 1 for c, lab in NEGBIO_TO_CHEXPERT.items() if lab == label)


_SIDED = ("Pleural Effusion", "Pneumothorax", "Consolidation", "Atelectasis", "Lung Lesion", "Pneumonia", "Fracture", "Lung Opacity")


def qa_pairs(r: random.Random, report: Report, lab: Labels, *, impression_ok: bool) -> list[tuple[str, str]]:
    """Up to three (question, answer) pairs: positives first, then the impression, an uncertain
    and one negative question, so "No." does not swamp the answers."""
    negatives: list[tuple[str, str]] = []
    uncertain: list[tuple[str, str]] = []
    positives: list[tuple[str, str]] = []
    for label, (noun, questions) in QUESTIONS.items():
        status = lab.status(label)
        if status is None or _disputed(report, label, status):
            continue
        question = r.choice(questions)
        if status == POSITIVE:
            mention = next(m for m in lab.mentions_of(label) if m.status == POSITIVE)
            severity, side = descriptors(lab, mention)
            detail = " ".join(w for w in (severity, side) if w)
            positives.append((question, f"Yes, {detail}." if detail else "Yes."))
            if side and label in _SIDED:
                positives.append((f"Which side is the {noun} on?", {"left": "Left.", "right": "Right.", "bilateral": "Both sides."}[side]))
        elif status == UNCERTAIN:
            uncertain.append((question, "Possibly."))
        else:
            negatives.append((question, "No."))
    heart = lab.status("Cardiomegaly")
    if heart == NEGATIVE:
        negatives.append(("Is the heart size normal?", "Yes."))
    elif heart == POSITIVE and not _disputed(report, "Cardiomegaly", heart):
        positives.append(("Is the heart size normal?", "No, the heart is enlarged."))
    impression = []
    if impression_ok and r.random() < 0.7:
        impression = [(r.choice(("What is the impression?", "Summarize the impression.", "What does the impression say?")), report.impression)]
    for group in (positives, uncertain, negatives):
        r.shuffle(group)
    chosen = (positives[:2] + impression + uncertain[:1] + negatives[:1])[:3]
    if r.random() < 0.1:
        settled = implied_labels(report.text)
        unmentioned = [lab_ for lab_ in QUESTIONS
                       if lab.status(lab_) is None and lab_ not in settled and not _disputed(report, lab_, None)]
        if unmentioned:
            chosen.append((r.choice(QUESTIONS[r.choice(unmentioned)][1]), "Not mentioned."))
    return chosen


def qa_rows(r: random.Random, reports: list[Report], labels: dict[int, Labels], impression_ok: set[int]) -> list[Row]:
    rows = []
    for rep in reports:
        for question, answer in qa_pairs(r, rep, labels[rep.uid], impression_ok=rep.uid in impression_ok):
            rows.append(make_row(TASK, answer, report=rep.text, question=question, source="generated:qa:iu",
                                 split=rep.split, report_id=rep.report_id))
    return rows
