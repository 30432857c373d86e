"""abnormality_detection rows from IU reports: rule labels combined with the NegBio gold standard.

Input: the report's findings and impression. Value: the 14 CheXpert labels, each positive /
negative / uncertain, from :mod:`integration.inference.evidence.chexpert` on that text, then combined with
NegBio's MeSH-derived gold (``openi_gld_std14.csv``, 1 = positive, 0 = not positive):

* NegBio 1 on a label both cover (map below) makes a rule *negative or unmentioned* label
  positive; a rule *uncertain* label stays uncertain (MeSH indexing does not mark hedging; the
  report text does); NegBio 0 never overrides a rule label (0 means "not indexed as present",
  which includes uncertain and unmentioned).
* NegBio 1 on Emphysema, Fibrosis or Hernia (no CheXpert label) is an abnormality that stops
  "No Finding", like CheXpert's own no_finding phrase list.
* "No Finding" is then recomputed with CheXpert's rule: positive iff no label other than
  Support Devices (and no other abnormality) is positive or uncertain.

Source tag: ``chexpert_rules+negbio`` when NegBio changed a label, else ``chexpert_rules``.
"""

from __future__ import annotations

from integration.inference.evidence.chexpert import (
    NEGATIVE,
    NO_FINDING,
    OTHER,
    POSITIVE,
    SUPPORT_DEVICES,
    UNCERTAIN,
    Labels,
)
from integration.tasks.abnormality_detection import CHEXPERT_LABELS
from training.data.iu import Report
from training.data.rows import Row, make_row

TASK = "abnormality_detection"

NEGBIO_TO_CHEXPERT = {
    "Atelectasis": "Atelectasis",
    "Cardiomegaly": "Cardiomegaly",
    "Effusion": "Pleural Effusion",
    "Infiltration": "Lung Opacity",
    "Mass": "Lung Lesion",
    "Nodule": "Lung Lesion",
    "Pneumonia": "Pneumonia",
    "Pneumothorax": "Pneumothorax",
    "Consolidation": "Consolidation",
    "Edema": "Edema",
    "Pleural_Thickening": "Pleural Other",
}
NEGBIO_OTHER = ("Emphysema", "Fibrosis", "Hernia")


def combined_value(report: Report, labels: Labels) -> tuple[dict[str, str], bool]:
    """(abnormality value, whether NegBio changed anything)."""
    value = labels.value()
    changed = False
    for column, label in NEGBIO_TO_CHEXPERT.items():
        if report.negbio.get(column) == 1 and value[label] == NEGATIVE:
            value[label] = POSITIVE
            changed = True
    other = labels.status(OTHER) in (POSITIVE, UNCERTAIN) or any(report.negbio.get(c) == 1 for c in NEGBIO_OTHER)
    finding = other or any(
        value[label] in (POSITIVE, UNCERTAIN) for label in CHEXPERT_LABELS if label not in (NO_FINDING, SUPPORT_DEVICES)
    )
    no_finding = NEGATIVE if finding else POSITIVE
    changed |= no_finding != value[NO_FINDING]
    value[NO_FINDING] = no_finding
    return value, changed


def abnormality_rows(reports: list[Report], labels: dict[int, Labels]) -> list[Row]:
    rows = []
    for r in reports:
        value, changed = combined_value(r, labels[r.uid])
        rows.append(
            make_row(
                TASK, value, report=r.text, split=r.split, report_id=r.report_id,
                source="chexpert_rules+negbio" if changed else "chexpert_rules",
            )
        )
    return rows
