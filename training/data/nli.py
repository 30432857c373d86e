"""Generated radiology_nli data: IU findings as the premise, hypotheses built from it.

Premise: the findings of an IU report. Per report, one hypothesis of each class where possible:

* entailment -- a sentence of the findings copied verbatim, or a template statement agreeing
  with a rule label the findings state outright ("There is no pleural effusion." when the
  labeler reads a negated pleural effusion mention);
* contradiction -- the template statement with the opposite polarity of such a label ("There is
  a pleural effusion."), or a findings sentence asserting a finding (all its mentions positive) with
  its single laterality word flipped (left <-> right) when the flipped side appears nowhere in the
  findings;
* neutral -- a positive sentence from *another report of the same split* whose every labelled
  mention is about an observation the premise never mentions (whole-organ statements count as
  mentions: "the lungs are clear" settles lung opacities, "no acute bony abnormality" fractures),
  or (one in four) a statement about something a chest film report does not record (history,
  age, setting).

Labels come from the rule labeler run on the findings alone; uncertain labels, and negations
qualified by "large"/"significant" ("no large effusion" does not exclude a small one), are not
used. Rows keep the premise report's id and split, and neutral sentences are only drawn from the
same split, so no test report text reaches a train row. Source: ``generated:nli:iu``.
"""

from __future__ import annotations

import random
import re

from integration.inference.evidence.chexpert import NEGATIVE, OTHER, POSITIVE, Labels, implied_labels, sentences
from training.data.iu import Report, report_text
from training.data.rows import Row, make_row

TASK = "radiology_nli"

STATEMENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Pleural Effusion": (("There is a pleural effusion.", "A pleural effusion is present."),
                         ("There is no pleural effusion.", "No pleural effusion is seen.")),
    "Pneumothorax": (("There is a pneumothorax.", "A pneumothorax is present."), ("There is no pneumothorax.", "No pneumothorax is seen.")),
    "Consolidation": (("There is focal consolidation.",), ("There is no focal consolidation.",)),
    "Edema": (("There is pulmonary edema.",), ("There is no pulmonary edema.",)),
    "Cardiomegaly": (("The heart is enlarged.", "There is cardiomegaly."), ("The heart size is normal.", "There is no cardiomegaly.")),
    "Enlarged Cardiomediastinum": (("The cardiomediastinal silhouette is enlarged.",), ("The cardiomediastinal silhouette is normal.",)),
    "Atelectasis": (("There is atelectasis.",), ("There is no atelectasis.",)),
    "Lung Lesion": (("There is a lung nodule or mass.",), ("There is no lung nodule or mass.",)),
    "Pneumonia": (("There is pneumonia.",), ("There is no pneumonia.",)),
    "Fracture": (("There is a fracture.",), ("There is no fracture.",)),
    "Lung Opacity": (("There is an airspace opacity.",), ("There is no airspace opacity.",)),
}
_OFF_TOPIC = (
    "The patient has a history of smoking.", "The patient is older than 70 years.", "The examination was performed in the emergency department.",
    "The patient has a fever.", "The patient was recently intubated.", "The patient has a family history of lung cancer.",
)
_QUALIFIED = re.compile(r"\b(?:large|significant|sizable|substantial|gross|acute|displaced)\b")
_SIDE = re.compile(r"\b(left|right)\b", re.IGNORECASE)
_FLIP = {"left": "right", "right": "left", "Left": "Right", "Right": "Left", "LEFT": "RIGHT", "RIGHT": "LEFT"}


def _clean_labels(lab: Labels) -> dict[str, str]:
    """Labels stated outright: positive, or negative with no qualified negation ("no large X")."""
    out = {}
    for label, status in lab.statuses.items():
        if label not in STATEMENTS or status not in (POSITIVE, NEGATIVE):
            continue
        if status == NEGATIVE and any(_QUALIFIED.search(lab.sentences[m.sentence]) for m in lab.mentions_of(label)):
            continue
        out[label] = status
    return out


def _flip(sentence: str) -> str | None:
    sides = _SIDE.findall(sentence)
    if len(sides) != 1:
        return None
    return _SIDE.sub(lambda m: _FLIP[m.group(1)], sentence)


def neutral_pool(reports: list[Report], findings_labels: dict[int, Labels]) -> dict[str, list[tuple[int, str, frozenset[str]]]]:
    """split -> (uid, sentence, labels it mentions) for single-clause positive finding sentences."""
    pool: dict[str, list[tuple[int, str, frozenset[str]]]] = {}
    for rep in reports:
        lab = findings_labels.get(rep.uid)
        if lab is None:
            continue
        for i, sent in enumerate(sentences(rep.findings)):
            mentions = [m for m in lab.mentions if m.sentence == i]
            if not mentions or "xxxx" in sent.lower() or len(sent) > 120:
                continue
            if all(m.status == POSITIVE and m.label != OTHER for m in mentions):
                pool.setdefault(rep.split, []).append((rep.uid, sent, frozenset(m.label for m in mentions)))
    return pool


def nli_rows(r: random.Random, reports: list[Report], findings_labels: dict[int, Labels]) -> list[Row]:
    pool = neutral_pool(reports, findings_labels)
    rows = []
    for rep in reports:
        if not rep.findings:
            continue
        lab = findings_labels[rep.uid]
        all_sents = sentences(rep.findings)
        sents = [s for s in all_sents if len(s.split()) >= 3]
        # only flip sentences that assert something ("No right effusion" flipped is no contradiction)
        assertive = [s for i, s in enumerate(all_sents)
                     if (ms := [m for m in lab.mentions if m.sentence == i]) and all(m.status == POSITIVE for m in ms)]
        stated = _clean_labels(lab)
        mentioned = {m.label for m in lab.mentions}
        mentioned |= implied_labels(rep.findings)
        premise = report_text(rep.findings, "")
        hyps: list[tuple[str, str]] = []
        # entailment
        if sents and (not stated or r.random() < 0.4):
            hyps.append((r.choice(sents), "entailment"))
        elif stated:
            label = r.choice(sorted(stated))
            hyps.append((r.choice(STATEMENTS[label][0 if stated[label] == POSITIVE else 1]), "entailment"))
        # contradiction
        flips = [f for s in assertive if (f := _flip(s)) and _FLIP[_SIDE.search(s).group(1)].lower() not in rep.findings.lower()]
        if flips and (not stated or r.random() < 0.3):
            hyps.append((r.choice(flips), "contradiction"))
        elif stated:
            label = r.choice(sorted(stated))
            hyps.append((r.choice(STATEMENTS[label][1 if stated[label] == POSITIVE else 0]), "contradiction"))
        # neutral
        same_split = pool.get(rep.split, [])
        neutral = None
        if same_split and r.random() < 0.75:
            for _ in range(50):  # rejection draw: cheaper than filtering the pool per report
                uid, sentence, labels = r.choice(same_split)
                if uid != rep.uid and labels.isdisjoint(mentioned):
                    neutral = sentence
                    break
        if neutral:
            hyps.append((neutral, "neutral"))
        else:
            hyps.append((r.choice(_OFF_TOPIC), "neutral"))
        for hypothesis, label in hyps:
            rows.append(make_row(TASK, label, report=premise, hypothesis=hypothesis, source="generated:nli:iu",
                                 split=rep.split, report_id=rep.report_id))
    return rows
