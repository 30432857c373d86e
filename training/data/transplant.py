"""Extra abnormality_detection train rows for rare labels: a sentence moved between train reports.

Why: abnormality detection is scored per label, and nine of its 13 findings have fewer than 110
positives among the ~1,930 train reports (Support Devices 105, Pneumothorax 13). A small model
sees each rare cue ("PICC line", "sternotomy wires") only a few dozen times, and drawing those
rows more often (more steps, a larger task weight) did not help: it repeats the same few
reports. A transplant shows the cue in a new context:

1. a *donor* sentence: a findings sentence of a train report that the rule labeler, reading the
   sentence alone, calls positive for label L (so its negations and hedges are its own);
2. a *host*: another train report whose value says L is negative and whose impression does not
   name L at all (no mention phrase of L, in any status);
3. the donor sentence takes the place of the host's first findings sentence that names L ("The
   cardiomediastinal silhouette is normal." -> "... is enlarged."; the host's other sentences
   naming L go), or, where none does, is inserted at a random sentence boundary. Then the new
   text is labelled again by the same rules (:func:`combined_value`, the host's NegBio row
   included) -- the row's answer is whatever the rules say about the new text, never assumed. A
   row is kept only when L came out positive.

Why replace rather than add: nearly every report names the anatomy of some findings ("heart and
mediastinum are normal", "no pleural effusion"). An added "mediastinum is widened" beside "the
mediastinum is normal" is a contradiction that the rules resolve as positive (any positive
mention wins) but that teaches the model only that the anatomy word is present -- 0.4.0, built
that way, called Enlarged Cardiomediastinum and Pleural Other almost at random (test F1 0.0 and
0.06). A replaced sentence leaves a coherent report, and with the host's own row in the same
data the two form a minimal pair: the same report, one sentence apart, opposite labels.

Per label L, ``target`` minus L's positives among the train reports' own rows are added (labels
that already have that many get none). A row made for one label can carry others too (a host
with a device, a donor sentence naming two findings): that is counted in the manifest, not
subtracted, so every label gets its full share of rows made for it. Only train reports are used,
as donors and hosts: val and test are never touched, and no test sentence can enter (the donors
are train sentences). Rows carry the host's report id and split and the source
``chexpert_rules+transplant``, so the manifest counts them apart. The clinical story of a transplanted report can be odd (a device in a report whose
impression says "normal chest"); the labels still follow the rules that label every other row.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

from integration.inference.evidence.chexpert import NEGATIVE, NO_FINDING, POSITIVE, RuleLabeler, sentences
from integration.tasks.abnormality_detection import CHEXPERT_LABELS
from training.data.abnormality import TASK, combined_value
from training.data.iu import Report
from training.data.rows import Row, make_row

SOURCE = "chexpert_rules+transplant"
DEFAULT_TARGET = 150
FINDINGS = tuple(label for label in CHEXPERT_LABELS if label != NO_FINDING)


def _value(report: Report, labeler: RuleLabeler) -> dict[str, str]:
    return combined_value(report, labeler.label(report.findings) + labeler.label(report.impression))[0]


def donor_sentences(train: list[Report], labeler: RuleLabeler) -> dict[str, list[tuple[int, str]]]:
    """Per label, (report uid, sentence) for findings sentences the rules call positive on their own."""
    donors: dict[str, list[tuple[int, str]]] = {label: [] for label in FINDINGS}
    for report in train:
        for sentence in sentences(report.findings):
            statuses = labeler.label(sentence).statuses
            for label in FINDINGS:
                if statuses.get(label) == POSITIVE:
                    donors[label].append((report.uid, sentence))
    return donors


def transplant_rows(rand: random.Random, reports: list[Report], labeler: RuleLabeler,
                    values: dict[int, dict[str, str]], target: int = DEFAULT_TARGET) -> list[Row]:
    """Train rows that lift every finding label to ``target`` train positives (see module doc).

    ``values`` are the abnormality values of the reports' own rows (report uid -> value).
    """
    train = [r for r in reports if r.split == "train" and r.findings]
    positives = Counter(label for r in reports if r.split == "train"
                        for label, status in values[r.uid].items() if status == POSITIVE)
    donors = donor_sentences(train, labeler)
    rows: list[Row] = []
    for label in FINDINGS:
        need = target - positives[label]
        hosts = [r for r in train if values[r.uid][label] == NEGATIVE and not labeler.names(label, r.impression)]
        if need <= 0 or not donors[label] or not hosts:
            continue
        made, tries = 0, 0
        while made < need and tries < 4 * need:
            tries += 1
            donor_uid, sentence = rand.choice(donors[label])
            host = rand.choice(hosts)
            if host.uid == donor_uid:
                continue
            parts = sentences(host.findings)
            naming = [i for i, part in enumerate(parts) if labeler.names(label, part)]
            if naming:
                first, *others = naming
                parts[first] = sentence
                parts = [part for i, part in enumerate(parts) if i not in others]
            else:
                parts.insert(rand.randint(0, len(parts)), sentence)
            moved = replace(host, findings=" ".join(parts))
            value = _value(moved, labeler)
            if value[label] != POSITIVE:  # the host's other sentences can still settle it
                continue
            rows.append(make_row(TASK, value, report=moved.text, split=host.split, report_id=host.report_id,
                                 source=SOURCE))
            made += 1
    return rows
