"""Abnormality detection: the 14 CheXpert observations, each positive, negative or uncertain.

Value: a dict over all of :data:`CHEXPERT_LABELS` (canonical order) -> "positive" | "negative" |
"uncertain". Observations a report does not mention are "negative".

Answer text (prompt format 3) is a checklist: one line per observation, every observation, in
:data:`CHECKLIST_ORDER` -- the 13 findings in canonical order, then "No Finding" last::

    Enlarged Cardiomediastinum: negative
    Cardiomegaly: positive
    ...
    Support Devices: negative
    No Finding: negative

Why a checklist and not a list of what is present (format 2, "positive: Cardiomegaly;
uncertain: Atelectasis"): a small model decoding a sparse list makes one many-way choice for its
first label, where the two empty answers ("none", "No Finding": half the training rows) win and
every finding is lost. The checklist asks one three-way question per observation, conditioned on
its name, and "No Finding" comes after the findings it summarises. It costs ~97 answer tokens.

The parser reads both formats. Checklist: "Label: status" lines (labels missing from the
list are negative). Sections (format 2): "positive:" / "uncertain:" / "negative:" headers, any
case, newlines or ";" between sections, "," / ";" / "and" between labels. Both accept a few
unambiguous short forms: "Effusion" is Pleural Effusion (no other CheXpert label is an
effusion), "Opacity" is Lung Opacity, "Nodule"/"Mass" are Lung Lesion, "Normal" is No Finding.
Unknown names are skipped; it is a parse error when neither format appears, or when the sections
name only unknown things. When a label is given twice, positive beats uncertain beats negative.
"""
from __future__ import annotations

import re
from typing import Any, Sequence

from integration.tasks.base import ParseError, Slots, Task
from integration.tasks.scoring import multilabel_metrics

CHEXPERT_LABELS = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)
STATUSES = ("positive", "negative", "uncertain")
# "No Finding" summarises the other 13 (CheXpert: positive iff none of them but Support Devices is
# positive or uncertain), so the model states it after them.
CHECKLIST_ORDER = CHEXPERT_LABELS[1:] + CHEXPERT_LABELS[:1]
# Labels with fewer gold positives than this are left out of macro-F1 (their F1 is noise).
MIN_SUPPORT = 10

_ALIASES = {label.lower(): label for label in CHEXPERT_LABELS} | {
    "no findings": "No Finding",
    "normal": "No Finding",
    "enlarged cardiomediastinal silhouette": "Enlarged Cardiomediastinum",
    "widened mediastinum": "Enlarged Cardiomediastinum",
    "opacity": "Lung Opacity",
    "opacities": "Lung Opacity",
    "lung opacities": "Lung Opacity",
    "lesion": "Lung Lesion",
    "lung lesions": "Lung Lesion",
    "nodule": "Lung Lesion",
    "lung nodule": "Lung Lesion",
    "mass": "Lung Lesion",
    "lung mass": "Lung Lesion",
    "pulmonary edema": "Edema",
    "consolidations": "Consolidation",
    "effusion": "Pleural Effusion",
    "effusions": "Pleural Effusion",
    "pleural effusions": "Pleural Effusion",
    "pleural other": "Pleural Other",
    "other pleural": "Pleural Other",
    "fractures": "Fracture",
    "support device": "Support Devices",
    "devices": "Support Devices",
}
_NONE = {"", "none", "nothing", "n/a", "na"}
_PRIORITY = {"negative": 0, "uncertain": 1, "positive": 2}

_HEADER = re.compile(
    r"(?<![a-z])(positive|uncertain|negative)(?:\s{1,3}(?:findings?|labels?))?\s{0,3}:",
    re.IGNORECASE,
)
_CHECK_LINE = re.compile(
    r"^[ \t*-]*([A-Za-z][A-Za-z /_-]{1,60}?)[ \t]*:[ \t]*(positive|negative|uncertain)\b",
    re.IGNORECASE | re.MULTILINE,
)
_ITEM_SPLIT = re.compile(r"[,;\n]|(?<!\S)(?:and|&)(?!\S)", re.IGNORECASE)


def _name(item: str) -> str:
    return " ".join(item.lower().replace("-", " ").replace("_", " ").split()).strip(
        " .:*\"'`!?()[]"
    )


def _set(value: dict[str, str], label: str, status: str) -> None:
    if _PRIORITY[status] > _PRIORITY[value[label]]:
        value[label] = status


def _parse_checklist(text: str) -> dict[str, str] | None:
    value = dict.fromkeys(CHEXPERT_LABELS, "negative")
    found = False
    for match in _CHECK_LINE.finditer(text):
        label = _ALIASES.get(_name(match.group(1)))
        if label is not None:
            found = True
            _set(value, label, match.group(2).lower())
    return value if found else None


def parse_abnormalities(text: str) -> dict[str, str]:
    checklist = _parse_checklist(text)
    if checklist is not None:
        return checklist
    headers = list(_HEADER.finditer(text))
    if not headers:
        raise ParseError("no 'Label: status' lines and no 'positive:' / 'uncertain:' section in answer")
    value = dict.fromkeys(CHEXPERT_LABELS, "negative")
    named = unknown = 0
    for i, header in enumerate(headers):
        status = header.group(1).lower()
        end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
        for item in _ITEM_SPLIT.split(text[header.end() : end]):
            name = _name(item)
            if name in _NONE or status == "negative":
                continue
            label = _ALIASES.get(name)
            if label is None:
                unknown += 1
            else:
                named += 1
                _set(value, label, status)
    if unknown and not named:
        raise ParseError("no CheXpert label in answer")
    return value


def resolve_checklist(choices: dict[str, str]) -> dict[str, str]:
    """Scored checklist -> value. Scoring judges "No Finding" after 13 lines forced to "negative",
    so where it chose a finding the model never saw that line; CheXpert's own rule -- a finding
    other than Support Devices, positive or uncertain, means not "No Finding" -- settles it.
    (The training labels obey the same rule, see training/data/abnormality.py.)"""
    value = {label: choices[label] for label in CHEXPERT_LABELS}
    if any(value[label] != "negative" for label in CHEXPERT_LABELS if label not in ("No Finding", "Support Devices")):
        value["No Finding"] = "negative"
    return value


CHECKLIST = Slots(names=CHECKLIST_ORDER, options=STATUSES, default="negative", resolve=resolve_checklist)


def render_abnormalities(value: dict[str, str]) -> str:
    if set(value) != set(CHEXPERT_LABELS) or not set(value.values()) <= set(STATUSES):
        raise ValueError("value must give a status for each of the 14 CheXpert labels")
    return CHECKLIST.text(value)


def abnormality_metric(predicted: Sequence[Any], gold: Sequence[Any]) -> dict[str, float]:
    return multilabel_metrics(predicted, gold, labels=CHEXPERT_LABELS, min_support=MIN_SUPPORT)


TASK = Task(
    name="abnormality_detection",
    description="Label the 14 CheXpert observations of a chest X-ray report.",
    instruction="Each CheXpert label: positive, negative or uncertain.",
    # The checklist is ~97 tokens; the cap stops a looping model soon after.
    max_new_tokens=128,
    parser=parse_abnormalities,
    render=render_abnormalities,
    metric=abnormality_metric,
    slots=CHECKLIST,
    # Chosen on the val split (docs/model.md): as accurate as decoding the checklist, ~4x faster.
    mode="score",
    primary_metric="macro_f1",
    write_kind="label_status",
    vocabulary={"labels": CHEXPERT_LABELS, "statuses": STATUSES},
)
