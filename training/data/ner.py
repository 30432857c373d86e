"""radiology_ner rows (document level) from the IU MeSH indexing plus rule-labeler negations.

The IU reports carry NLM MeSH indexing terms such as ``Opacity/lung/base/left/patchy`` or
``Aorta/tortuous``: a heading, then modifiers. Each term becomes RadGraph-style entities:

* an observation heading -> ``OBS-DP`` with the heading in report wording ("Pulmonary
  Atelectasis" -> atelectasis, "Cicatrix" -> scarring, "Calcinosis" -> calcification, "X, Y" ->
  "y x"); an anatomy heading ("Aorta", "Lung", "Thoracic Vertebrae"...) -> ``ANAT-DP``;
* anatomy modifiers -> ``ANAT-DP`` each; laterality/position words (left, right, bilateral,
  anterior, posterior) are prefixed to the first anatomy modifier below the organ
  ("lung/base/left" -> "lung" + "left base"), or stand alone when there is none;
* finding modifiers of an anatomy heading ("Lung/hypoinflation", "Aorta/tortuous") -> ``OBS-DP``;
* severity and shape descriptors (mild, small, patchy, multiple...) are dropped;
* ``normal`` contributes nothing; ``Technical Quality of Image Unsatisfactory`` is skipped;
  reports indexed ``No Indexing`` are left out.

Then ``OBS-DA`` (negated) and ``OBS-U`` (uncertain) observations come from the rule labeler's
mentions (:mod:`integration.inference.evidence.chexpert`) for a fixed set of observation phrases
("no pneumothorax" -> OBS-DA: pneumothorax). A text already present as OBS-DP is not repeated as
U/DA, and U beats DA. An empty entity list is answered "none".

Honest limits: the entities are MeSH vocabulary, not character spans, so the texts often differ
from the report's words; present observations missing from the MeSH indexing are missing here;
negations only cover the CheXpert-style phrases. Source tag: ``iu_xray:mesh+chexpert_rules``.
"""

from __future__ import annotations

from integration.inference.evidence.chexpert import NEGATIVE, UNCERTAIN, Labels
from integration.tasks.radiology_ner import make_value
from training.data.iu import Report
from training.data.rows import Row, make_row

TASK = "radiology_ner"

ANATOMY_HEADINGS = {
    "abdomen", "adipose tissue", "aorta", "aorta, thoracic", "blood vessels", "bone and bones",
    "cardiac shadow", "cervical vertebrae", "costophrenic angle", "diaphragm", "heart", "heart atria",
    "heart ventricles", "humerus", "lumbar vertebrae", "lung", "lymph nodes", "mediastinum", "pleura",
    "pulmonary artery", "ribs", "shoulder", "spine", "sulcus", "thoracic vertebrae", "thorax", "trachea",
    "trachea, carina",
}
ANATOMY_MODIFIERS = ANATOMY_HEADINGS | {
    "base", "lower lobe", "upper lobe", "middle lobe", "hilum", "apex", "lingula", "retrocardiac",
    "paratracheal", "clavicle", "breast", "pulmonary alveoli", "coronary vessels", "azygos lobe",
    "sternum", "aortic valve", "neck", "bronchi", "mitral valve", "cardiophrenic angle",
    "supracardiac", "pleural sinus", "esophagus",
}
ORGANS = {"lung", "thorax", "abdomen", "heart", "mediastinum", "spine"}
SIDES = ("bilateral", "left", "right", "anterior", "posterior")
FINDING_MODIFIERS = {
    "hypoinflation", "hyperdistention", "degenerative", "tortuous", "prominent", "enlarged", "elevated",
    "flattened", "blunted", "obscured", "abnormal", "bronchovascular",
}
SKIP_HEADINGS = {"technical quality of image unsatisfactory", "no indexing", "normal"}

_WORDING = {
    "pulmonary atelectasis": "atelectasis",
    "calcinosis": "calcification",
    "cicatrix": "scarring",
    "fractures, bone": "fracture",
    "catheters, indwelling": "catheter",
    "tube, inserted": "tube",
    "pulmonary edema": "edema",
    "pulmonary emphysema": "emphysema",
    "diaphragmatic eventration": "eventration",
    "trachea, carina": "carina",
    "pulmonary alveoli": "alveoli",
}

# Rule-labeler mention text -> observation entity, for OBS-DA / OBS-U.
RULE_OBSERVATIONS = {
    "pneumothorax": "pneumothorax", "pneumothoraces": "pneumothorax", "effusion": "pleural effusion",
    "pleural fluid": "pleural effusion", "consolidat": "consolidation", "edema": "edema",
    "pneumonia": "pneumonia", "atelecta": "atelectasis", "fracture": "fracture", "nodule": "nodule",
    "mass": "mass", "opaci": "opacity", "infiltrate": "infiltrate", "airspace disease": "airspace disease",
    "air space disease": "airspace disease", "cardiomegaly": "cardiomegaly", "emphysema": "emphysema",
}


def wording(term: str) -> str:
    term = " ".join(term.lower().split())
    if term in _WORDING:
        return _WORDING[term]
    if ", " in term:  # MeSH inversion: "hernia, hiatal" -> "hiatal hernia"
        head, _, tail = term.partition(", ")
        return f"{tail} {head}"
    return term


def mesh_entities(term: str) -> list[tuple[str, str]]:
    """Entities for one MeSH term, as (text, label) pairs."""
    parts = [" ".join(p.lower().split()) for p in term.split("/") if p.strip()]
    if not parts or parts[0] in SKIP_HEADINGS:
        return []
    heading, modifiers = parts[0], parts[1:]
    out: list[tuple[str, str]] = []
    anatomy: list[str] = []
    if heading in ANATOMY_HEADINGS:
        anatomy.append(wording(heading))
    elif heading == "markings":
        kind = next((m for m in modifiers if m in ("bronchovascular", "interstitial")), "")
        out.append((f"{kind} markings".strip(), "OBS-DP"))
    else:
        out.append((wording(heading), "OBS-DP"))
    sides = [m for m in modifiers if m in SIDES]
    for m in modifiers:
        if m in ANATOMY_MODIFIERS:
            anatomy.append(wording(m))
        elif m in FINDING_MODIFIERS and heading in ANATOMY_HEADINGS:
            out.append((m, "OBS-DP"))
    if sides:
        prefix = " ".join(sides)
        sub = [i for i, a in enumerate(anatomy) if a not in ORGANS]
        if anatomy:
            i = sub[0] if sub else len(anatomy) - 1
            anatomy[i] = f"{prefix} {anatomy[i]}"
        else:
            anatomy.append(prefix)
    out.extend((a, "ANAT-DP") for a in anatomy)
    return out


def ner_value(report: Report, labels: Labels) -> list[dict[str, str]]:
    entities = [e for term in report.mesh for e in mesh_entities(term)]
    present = {text for text, label in entities if label == "OBS-DP"}
    uncertain, absent = set(), set()
    for m in labels.mentions:
        text = RULE_OBSERVATIONS.get(m.text)
        if text is None or text in present:
            continue
        if m.status == UNCERTAIN:
            uncertain.add(text)
        elif m.status == NEGATIVE:
            absent.add(text)
    entities += [(t, "OBS-U") for t in uncertain]
    entities += [(t, "OBS-DA") for t in absent - uncertain]
    return make_value(entities)


def ner_rows(reports: list[Report], labels: dict[int, Labels]) -> list[Row]:
    rows = []
    for r in reports:
        if not r.mesh or any(m.lower() == "no indexing" for m in r.mesh):
            continue
        rows.append(
            make_row(
                TASK, ner_value(r, labels[r.uid]), report=r.text, split=r.split,
                report_id=r.report_id, source="iu_xray:mesh+chexpert_rules",
            )
        )
    return rows
