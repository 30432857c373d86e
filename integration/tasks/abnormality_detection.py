"""Abnormality detection: the 14 CheXpert observations, each positive, negative or uncertain.

Value: a dict over all of :data:`CHEXPERT_LABELS` (canonical order) -> "positive" | "negative" |
"uncertain". Observations a report does not mention are "negative".

Answer text lists only what is not negative, labels in canonical order:

* ``positive: Cardiomegaly, Pleural Effusion; uncertain: Atelectasis``
* ``positive: No Finding`` -- a normal study
* ``positive: none; uncertain: Edema`` -- nothing certain, something possible
* ``positive: none`` -- nothing at all

The "positive:" section is always written; "uncertain:" only when it has labels. The parser
also reads a "negative:" section (ignored, negative is the default), any case, newlines or ";"
between sections, "," / ";" / "and" between labels, and a few unambiguous short forms:
"Effusion" is Pleural Effusion (no other CheXpert label is an effusion), "Opacity" is Lung
Opacity, "Nodule"/"Mass" are Lung Lesion, "Normal" is No Finding. Unknown names are skipped; it
is a parse error when no section header appears, or when the sections name only unknown things.
When a label is listed twice, positive beats uncertain beats negative.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from integration.tasks.base import ParseError, Task
from integration.tasks.metrics import multilabel_metrics

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
_ITEM_SPLIT = re.compile(r"[,;\n]|(?<!\S)(?:and|&)(?!\S)", re.IGNORECASE)


def _name(item: str) -> str:
    return " ".join(item.lower().replace("-", " ").replace("_", " ").split()).strip(
        " .:*\"'`!?()[]"
    )


def parse_abnormalities(text: str) -> dict[str, str]:
    headers = list(_HEADER.finditer(text))
    if not headers:
        raise ParseError("no 'positive:' / 'uncertain:' section in answer")
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
                if _PRIORITY[status] > _PRIORITY[value[label]]:
                    value[label] = status
    if unknown and not named:
        raise ParseError("no CheXpert label in answer")
    return value


def render_abnormalities(value: dict[str, str]) -> str:
    if set(value) != set(CHEXPERT_LABELS) or not set(value.values()) <= set(STATUSES):
        raise ValueError("value must give a status for each of the 14 CheXpert labels")
    positive = [label for label in CHEXPERT_LABELS if value[label] == "positive"]
    uncertain = [label for label in CHEXPERT_LABELS if value[label] == "uncertain"]
    text = "positive: " + (", ".join(positive) or "none")
    return text + ("; uncertain: " + ", ".join(uncertain) if uncertain else "")


def abnormality_metric(predicted: Sequence[Any], gold: Sequence[Any]) -> dict[str, float]:
    return multilabel_metrics(predicted, gold, labels=CHEXPERT_LABELS, min_support=MIN_SUPPORT)


TASK = Task(
    name="abnormality_detection",
    description="Label the 14 CheXpert observations of a chest X-ray report.",
    instruction="CheXpert labels as 'positive: ...; uncertain: ...'.",
    max_new_tokens=256,
    parser=parse_abnormalities,
    render=render_abnormalities,
    metric=abnormality_metric,
    primary_metric="macro_f1",
)
