"""Generated n_staging / m_staging data: synthetic staging reports, AJCC 8th edition rules.

Two sites, each report written from sampled nodal and distant findings; the N and M categories
are computed from those findings by the rules below (one report gives one n_staging row and one
m_staging row, same report_id and split).

Lung (NSCLC, AJCC 8 with the IASLC nodal map), stations 1, 2R/L, 4R/L, 5, 6, 7, 10-12R/L:

* a node counts as involved when the report calls it metastatic, EBUS/biopsy-positive, FDG-avid or
  enlarged (>= 1 cm short axis); subcentimetre non-avid, calcified or biopsy-negative nodes are
  distractors and do not count;
* N1 ipsilateral hilar/interlobar/lobar (10-12); N2 ipsilateral mediastinal (2, 4) or subcarinal
  (7) -- stations 5 and 6 are left-sided, so N2 for a left tumour and N3 for a right one; N3
  contralateral mediastinal or hilar, or any scalene/supraclavicular (station 1) node; N = the
  highest involved;
* M1a: separate tumour nodule in the contralateral lung, pleural or pericardial nodules, malignant
  pleural/pericardial effusion; M1b: a single extrathoracic metastasis in one organ (including a
  single non-regional node); M1c: several extrathoracic metastases in one or more organs; the
  highest applies. Traps that stay M0: a separate nodule in the same lobe (T3) or another
  ipsilateral lobe (T4), adrenal adenoma, hepatic cyst, cytology-negative effusion, bone island;
  a supraclavicular node is N3, not M1.

Breast (clinical cN from imaging, AJCC 8):

* cN1 movable ipsilateral level I/II axillary nodes; cN2a matted/fixed level I/II axillary;
  cN2b ipsilateral internal mammary without axillary; cN3a ipsilateral infraclavicular (level
  III); cN3b internal mammary with axillary; cN3c ipsilateral supraclavicular; the answer is the
  main group (N1/N2/N3);
* M1 for distant metastases (bone, liver, lung, brain) and for contralateral axillary nodes
  (AJCC treats them as distant); M0 otherwise (benign liver/bone/renal lesions are traps). Breast
  M is "M1" without subcategory -- the label the lung rows never use.

About one report in eight states the clinical stage in the impression; the rest must be derived.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from training.data.rows import Row, make_row, seeded_split

N_LABELS = ("N0", "N1", "N2", "N3")
LUNG_M = ("M0", "M1a", "M1b", "M1c")
BREAST_M = ("M0", "M1")

# --- lung nodes -----------------------------------------------------------------------------------

# station -> (name, side: "R"/"L"/None for midline or either)
STATIONS = {
    "1R": ("right low cervical/supraclavicular", "R"), "1L": ("left low cervical/supraclavicular", "L"),
    "2R": ("right upper paratracheal", "R"), "2L": ("left upper paratracheal", "L"),
    "4R": ("right lower paratracheal", "R"), "4L": ("left lower paratracheal", "L"),
    "5": ("subaortic (aortopulmonary window)", "L"), "6": ("para-aortic", "L"),
    "7": ("subcarinal", None),
    "10R": ("right hilar", "R"), "10L": ("left hilar", "L"),
    "11R": ("right interlobar", "R"), "11L": ("left interlobar", "L"),
    "12R": ("right lobar", "R"), "12L": ("left lobar", "L"),
}


def lung_station_n(station: str, tumour_side: str) -> str:
    """The N category one involved station gives for a tumour on tumour_side ("R"/"L")."""
    number = int("".join(c for c in station if c.isdigit()))
    side = STATIONS[station][1]
    if number == 1:
        return "N3"
    ipsilateral = side is None or side == tumour_side
    if number >= 10:
        return "N1" if ipsilateral else "N3"
    return "N2" if ipsilateral else "N3"


def lung_n(involved: list[str], tumour_side: str) -> str:
    return max((lung_station_n(s, tumour_side) for s in involved), default="N0")


# distant findings: (text, kind) where kind is "m1a", "extra" (one extrathoracic lesion), "multi" (several), "trap"
_M1A = (
    "Separate {s} cm spiculated nodule in the {other} lower lobe, suspicious for metastasis.",
    "Multiple nodular pleural metastases along the {same} hemithorax.",
    "Moderate {same} pleural effusion; thoracentesis cytology positive for adenocarcinoma.",
    "Pericardial effusion with nodular pericardial thickening, consistent with malignant involvement.",
)
_M1B = (
    "Solitary {s} cm FDG-avid {adrenal} adrenal nodule, biopsy-proven metastasis.",
    "Single lytic metastasis in the L{v} vertebral body; no other osseous lesions.",
    "Solitary {s} cm enhancing brain metastasis in the {lobe_b} lobe on MRI.",
    "Single FDG-avid {s} cm hepatic metastasis in segment {seg}; no other liver lesions.",
    "Single FDG-avid left para-aortic (retroperitoneal) lymph node, {s} cm, consistent with a distant nodal metastasis.",
)
_M1C = (
    "Multiple hepatic metastases, the largest {s} cm.",
    "Metastases to the {adrenal} adrenal gland and the T{v} vertebral body.",
    "Multiple enhancing brain metastases.",
    "Widespread FDG-avid osseous metastases (spine, pelvis and ribs).",
    "FDG-avid {adrenal} adrenal metastasis and two hepatic metastases.",
)
_LUNG_TRAPS = (
    "Separate {s} cm nodule in the same lobe as the primary tumor.",
    "Additional {s} cm nodule in a different ipsilateral lobe.",
    "{s} cm {adrenal} adrenal nodule measuring -8 HU on noncontrast CT, consistent with an adenoma.",
    "Simple {s} cm hepatic cyst.",
    "Small {same} pleural effusion; thoracentesis cytology negative for malignancy.",
    "Sclerotic bone island in the T{v} vertebral body, not FDG-avid.",
)


@dataclass(frozen=True)
class StagingReport:
    site: str
    text: str
    n: str
    m: str
    stated: bool


def _fill(r: random.Random, template: str, side: str) -> str:
    same, other = ("right", "left") if side == "R" else ("left", "right")
    return template.format(
        s=round(r.uniform(0.8, 3.5), 1), v=r.randint(1, 5), seg=r.choice(("II", "IV", "VI", "VII", "VIII")),
        adrenal=r.choice(("right", "left")), lobe_b=r.choice(("frontal", "parietal", "occipital")),
        same=same, other=other,
    )


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _node_text(r: random.Random, station: str, involved: bool) -> str:
    name = STATIONS[station][0]
    label = r.choice((f"{name} (station {station})", f"station {station}", f"{name}"))
    if involved:
        return r.choice((
            f"Enlarged {label} lymph node measuring {round(r.uniform(1.1, 2.8), 1)} cm in short axis.",
            f"FDG-avid {label} lymph node (SUVmax {round(r.uniform(4, 14), 1)}).",
            f"{_cap(label)} lymph node, EBUS-TBNA positive for metastatic carcinoma.",
        ))
    return r.choice((
        f"Subcentimeter {label} lymph node ({round(r.uniform(0.4, 0.9), 1)} cm), not FDG-avid.",
        f"Calcified {label} lymph node, consistent with prior granulomatous disease.",
        f"{_cap(label)} lymph node sampled at EBUS, negative for malignancy.",
    ))


def _lung_report(r: random.Random, n_target: str, m_target: str, state: bool) -> StagingReport:
    side = r.choice(("R", "L"))
    lobe = r.choice(("upper", "lower") if side == "L" else ("upper", "middle", "lower"))
    side_word = "right" if side == "R" else "left"
    stations = list(STATIONS)
    for _ in range(500):
        involved = r.sample(stations, r.choice((0, 1, 1, 2, 2, 3)))
        if lung_n(involved, side) == n_target:
            break
    else:
        raise RuntimeError(f"could not sample {n_target}")
    distractors = r.sample([s for s in stations if s not in involved], r.choice((0, 1, 1, 2)))
    node_lines = [_node_text(r, s, True) for s in involved] + [_node_text(r, s, False) for s in distractors]
    r.shuffle(node_lines)
    if not node_lines:
        node_lines = [r.choice(("No hilar or mediastinal lymphadenopathy.", "No enlarged or FDG-avid thoracic lymph nodes."))]
    distant: list[str] = []
    if m_target == "M1a":
        distant = [_fill(r, t, side) for t in r.sample(_M1A, r.choice((1, 1, 2)))]
    elif m_target == "M1b":
        distant = [_fill(r, r.choice(_M1B), side)] + ([_fill(r, r.choice(_M1A), side)] if r.random() < 0.25 else [])
    elif m_target == "M1c":
        distant = [_fill(r, t, side) for t in r.sample(_M1C, r.choice((1, 1, 2)))]
        distant += [_fill(r, r.choice(_M1A), side)] if r.random() < 0.2 else []
    if r.random() < 0.5:
        traps = [t for t in _LUNG_TRAPS if m_target == "M0" or "pleural effusion" not in t]
        distant.append(_fill(r, r.choice(traps), side))
    r.shuffle(distant)
    if not distant:
        distant = [r.choice(("No evidence of distant metastatic disease.", "Adrenal glands and liver are unremarkable. No suspicious osseous lesions."))]
    size = round(r.uniform(1.2, 6.5), 1)
    histology = r.choice(("adenocarcinoma", "squamous cell carcinoma", "non-small cell lung cancer"))
    text = "\n".join((
        f"EXAM: {r.choice(('CT CHEST, ABDOMEN AND PELVIS WITH CONTRAST', 'FDG PET/CT SKULL BASE TO MID-THIGH'))}",
        f"HISTORY: Newly diagnosed {side_word} {lobe} lobe {histology}. Staging.",
        f"FINDINGS: Primary: {size} cm spiculated mass in the {side_word} {lobe} lobe.",
        "Lymph nodes: " + " ".join(node_lines),
        "Other: " + " ".join(distant),
        "IMPRESSION: " + (f"{side_word.capitalize()} {lobe} lobe primary as described. Clinical stage c{n_target} {m_target}."
                          if state else f"{side_word.capitalize()} {lobe} lobe primary with findings as described."),
    ))
    return StagingReport("lung", text, n_target, m_target, state)


# --- breast ---------------------------------------------------------------------------------------

_BREAST_N = {
    "N0": ("No suspicious axillary, internal mammary or supraclavicular lymph nodes; axillary nodes have preserved fatty hila.",),
    "N1": ("Two mobile ipsilateral level I axillary lymph nodes with cortical thickening to {c} mm, biopsy-proven metastasis.",
           "Single abnormal ipsilateral level II axillary lymph node with loss of the fatty hilum, not matted.",),
    "N2": ("Matted ipsilateral level I/II axillary lymph nodes fixed to one another, biopsy-proven metastasis.",
           "Enlarged ipsilateral internal mammary lymph node ({s} cm); axillary nodes normal.",),
    "N3": ("Abnormal ipsilateral infraclavicular (level III) lymph node, {s} cm.",
           "Enlarged ipsilateral internal mammary node together with abnormal level I axillary nodes.",
           "Abnormal ipsilateral supraclavicular lymph node, FDG-avid.",),
}
_BREAST_M1 = ("Multiple sclerotic osseous metastases in the thoracic spine and pelvis.", "Two hepatic metastases, the largest {s} cm.",
              "Multiple bilateral pulmonary metastases.", "Enlarged contralateral axillary lymph node, biopsy-proven metastasis.",
              "Solitary {s} cm brain metastasis.")
_BREAST_TRAPS = ("{s} cm hepatic hemangioma.", "Sclerotic bone island in the left iliac bone, unchanged.", "Simple {s} cm left renal cyst.",
                 "Contralateral axillary lymph nodes are normal with fatty hila.")


def _breast_report(r: random.Random, n_target: str, m_target: str, state: bool) -> StagingReport:
    side = r.choice(("right", "left"))
    nodes = r.choice(_BREAST_N[n_target]).format(c=r.randint(4, 7), s=round(r.uniform(0.9, 2.4), 1))
    distant = [_fill(r, r.choice(_BREAST_M1), "R")] if m_target == "M1" else []
    if r.random() < 0.5:
        distant.append(_fill(r, r.choice(_BREAST_TRAPS), "R"))
    r.shuffle(distant)
    if not distant:
        distant = ["No evidence of distant metastatic disease."]
    size = round(r.uniform(1.0, 6.0), 1)
    sub = {"N2": "a" if "Matted" in nodes else "b", "N3": "a" if "infraclavicular" in nodes else "b" if "together" in nodes else "c"}.get(n_target, "")
    text = "\n".join((
        f"EXAM: {r.choice(('FDG PET/CT FOR STAGING', 'CT CHEST, ABDOMEN AND PELVIS WITH CONTRAST', 'BREAST MRI AND STAGING CT'))}",
        f"HISTORY: Newly diagnosed {side} breast invasive ductal carcinoma. Staging.",
        f"FINDINGS: Primary: {size} cm irregular enhancing mass in the {side} breast.",
        f"Lymph nodes ({side} side unless stated): " + nodes,
        "Distant: " + " ".join(distant),
        "IMPRESSION: " + (f"Clinical stage c{n_target}{sub} {m_target}." if state else "Findings as described."),
    ))
    return StagingReport("breast", text, n_target, m_target, state)


def staging_reports(r: random.Random, n_lung: int, n_breast: int, p_state: float = 0.12) -> list[StagingReport]:
    out = []
    for i in range(n_lung):
        out.append(_lung_report(r, N_LABELS[i % 4], LUNG_M[(i // 4) % 4], r.random() < p_state))
    for i in range(n_breast):
        out.append(_breast_report(r, N_LABELS[i % 4], BREAST_M[(i // 4) % 2], r.random() < p_state))
    return out


def staging_rows(seed: int, r: random.Random, *, n_lung: int, n_breast: int) -> list[Row]:
    rows = []
    for i, rep in enumerate(staging_reports(r, n_lung, n_breast)):
        rid = f"gen:staging:{rep.site}:{i:05d}"
        split = seeded_split(rep.text, seed)  # identical texts share a split
        source = f"generated:staging:{rep.site}" + (":stated" if rep.stated else "")
        rows.append(make_row("n_staging", rep.n, report=rep.text, source=source, split=split, report_id=rid))
        rows.append(make_row("m_staging", rep.m, report=rep.text, source=source, split=split, report_id=rid))
    return rows
