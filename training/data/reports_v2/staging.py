"""v2 n_staging / m_staging rows: full CT / PET-CT staging reports, AJCC 8th edition.

One report gives one n_staging row and one m_staging row (same id and split). Sites:

* **Lung (NSCLC)**, 2/3 of reports. N from node stations and their side relative to the primary
  (IASLC map): ipsilateral hilar/interlobar/lobar (10-12) N1; ipsilateral mediastinal (2, 3p, 4;
  5/6 for a left tumour) or subcarinal (7) N2; contralateral mediastinal/hilar (5/6 for a right
  tumour) or any low cervical/supraclavicular (1) N3; the highest involved station decides. A node
  counts when the report calls it enlarged (>= 1 cm short axis), FDG-avid, necrotic or
  EBUS-positive; subcentimetre non-avid, calcified or EBUS-negative nodes are distractors. M: M1a
  contralateral lung nodule, pleural or pericardial nodules, malignant pleural/pericardial effusion;
  M1b a single extrathoracic metastasis (one lesion, one organ, including one non-regional node);
  M1c several extrathoracic metastases (in one organ or several); the highest applies. M0 traps:
  a second nodule in the same lobe (T3) or another ipsilateral lobe (T4), adrenal adenoma, hepatic
  cyst, cytology-negative effusion, bone island, calcified granuloma in the other lung.
* **Breast**, 1/6. Clinical cN from imaging (cN1 movable level I/II axillary; cN2a matted/fixed;
  cN2b internal mammary alone; cN3a infraclavicular; cN3b internal mammary with axillary; cN3c
  ipsilateral supraclavicular) and M0/M1 (contralateral axillary or supraclavicular nodes are M1).
* **Oesophagus**, 1/6. Clinical cN by the number of suspicious regional nodes (periesophageal
  cervical to celiac): N1 1-2, N2 3-6, N3 >= 7; M0/M1 (liver, lung, bone, adrenal, peritoneum,
  non-regional retroperitoneal nodes).

M targets are drawn so that M0, M1a, M1b, M1c and M1 are each a fifth of the rows (lung M0 is one
lung report in ten, the other sites 40% M0); N0-N3 cycle within each site. TNM is stated in the
impression in ``P_STATE_TNM`` of reports, only N in ``P_STATE_N``, only M in ``P_STATE_M``; the rest
must be derived. ``P_PRIOR_CANCER``: the history names another, earlier cancer with its own (old)
stage -- never the label.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from training.data.reports_v2.anatomy import HEADINGS, NORMAL, TECHNIQUE, body_paragraphs, enrich
from training.data.reports_v2.phrasing import SPLITS, Doc, Writer, bank, banks, british, draw_skeleton, render, size
from training.data.rows import Row, make_row, seeded_split

N_LABELS = ("N0", "N1", "N2", "N3")
LUNG_M_CYCLE = ("M0", "M1a", "M1a", "M1a", "M1b", "M1b", "M1b", "M1c", "M1c", "M1c")
OTHER_M_CYCLE = ("M0", "M0", "M1", "M1", "M1")
P_STATE_TNM = 0.3
P_STATE_N = 0.1
P_STATE_M = 0.1
P_PRIOR_CANCER = 0.08
P_UK = 0.3

# station -> (names, side)
STATIONS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "1R": (("right low cervical", "right supraclavicular"), "R"), "1L": (("left low cervical", "left supraclavicular"), "L"),
    "2R": (("right upper paratracheal",), "R"), "2L": (("left upper paratracheal",), "L"),
    "3p": (("retrotracheal",), None),
    "4R": (("right lower paratracheal", "right paratracheal"), "R"), "4L": (("left lower paratracheal", "left paratracheal"), "L"),
    "5": (("subaortic", "aortopulmonary window"), "L"), "6": (("para-aortic",), "L"),
    "7": (("subcarinal",), None),
    "10R": (("right hilar",), "R"), "10L": (("left hilar",), "L"),
    "11R": (("right interlobar",), "R"), "11L": (("left interlobar",), "L"),
    "12R": (("right lobar",), "R"), "12L": (("left lobar",), "L"),
}


def station_n(station: str, tumour_side: str) -> str:
    number = int("".join(c for c in station if c.isdigit()))
    side = STATIONS[station][1]
    if number == 1:
        return "N3"
    ipsilateral = side is None or side == tumour_side
    if number >= 10:
        return "N1" if ipsilateral else "N3"
    return "N2" if ipsilateral else "N3"


def lung_n(involved: list[str], tumour_side: str) -> str:
    return max((station_n(s, tumour_side) for s in involved), default="N0")


_T_ORDER = ("T1a", "T1b", "T1c", "T2a", "T2b", "T3", "T4")


def lung_t(size_cm: float, same_lobe: bool, other_lobe: bool) -> str:
    """T by size (AJCC 8), raised to T3 by a separate nodule in the same lobe and to T4 by one in
    another ipsilateral lobe."""
    t = ("T1a" if size_cm <= 1 else "T1b" if size_cm <= 2 else "T1c" if size_cm <= 3 else "T2a" if size_cm <= 4 else
         "T2b" if size_cm <= 5 else "T3" if size_cm <= 7 else "T4")
    if other_lobe:
        return "T4"
    if same_lobe:
        return max(t, "T3", key=_T_ORDER.index)
    return t


def lung_stage(t: str, n: str, m: str) -> str:
    if m in ("M1a", "M1b"):
        return "IVA"
    if m == "M1c":
        return "IVB"
    tg = t[:2]
    table = {
        "N0": {"T1a": "IA1", "T1b": "IA2", "T1c": "IA3", "T2a": "IB", "T2b": "IIA", "T3": "IIB", "T4": "IIIA"},
        "N1": {"T1": "IIB", "T2": "IIB", "T3": "IIIA", "T4": "IIIA"},
        "N2": {"T1": "IIIA", "T2": "IIIA", "T3": "IIIB", "T4": "IIIB"},
        "N3": {"T1": "IIIB", "T2": "IIIB", "T3": "IIIC", "T4": "IIIC"},
    }[n]
    return table.get(t, table.get(tg, ""))


# ---------------------------------------------------------------------------------------- banks

EXAM = banks("stg.exam", {
    "ct": ("CT CHEST, ABDOMEN AND PELVIS WITH CONTRAST", "CT thorax, abdomen and pelvis with IV contrast (staging)", "CT CAP WITH CONTRAST",
           "Staging CT of the chest, abdomen and pelvis", "CT CHEST/ABDOMEN/PELVIS W IV CONTRAST", "Contrast-enhanced CT chest, abdomen and pelvis"),
    "pet": ("FDG PET/CT SKULL BASE TO MID-THIGH", "PET-CT whole body (FDG), initial staging", "F-18 FDG PET/CT, INITIAL TREATMENT STRATEGY",
            "FDG PET/CT for staging", "PET/CT (FDG), eyes to thighs", "WHOLE-BODY FDG PET-CT"),
})
TECH_PET = bank("stg.tech_pet", (
    "{mci} mCi of F-18 FDG was administered intravenously; blood glucose {glu} mg/dL. After a {uptake}-minute uptake period, PET images were acquired from the skull base to the mid-thigh with low-dose CT for attenuation correction and localization.",
    "FDG {mbq} MBq IV, fasting glucose {glu} mg/dL, uptake time {uptake} minutes; PET/CT from vertex to mid-thigh. Non-contrast CT for attenuation correction.",
    "Whole-body PET/CT {uptake} minutes after {mci} mCi FDG (glucose {glu}). Reference liver SUVmean {liver}.",
    "Standard oncologic FDG PET/CT protocol; serum glucose {glu} mg/dL; mediastinal blood pool SUVmax {pool}.",
    "PET acquired {uptake} min post injection of {mbq} MBq 18F-FDG with low-dose CT, skull base to thighs.",
))
HIST = banks("stg.hist", {
    "lung": ("Newly diagnosed {side} {lobe} lobe {histology}. Staging.", "Biopsy-proven {histology} of the {side} {lobe} lobe; initial staging.",
             "{age}-year-old {smoker} with a {side} {lobe} lobe mass, {histology} on CT-guided biopsy. Staging.",
             "{Side} {lobe} lobe lung cancer ({histology}), staging before treatment planning.", "Lung mass, {side} {lobe} lobe; bronchoscopic biopsy showed {histology}.",
             "Staging of a {side} {lobe} lobe {histology}.", "{Histology}, {side} {lobe} lobe; pretreatment staging."),
    "breast": ("Newly diagnosed {side} breast {histology}. Staging.", "{Side} breast cancer ({histology}, {receptor}), clinical stage workup.",
               "{age}-year-old woman with biopsy-proven {side} breast {histology}; systemic staging.", "{Side} breast cancer, biopsy-proven; baseline staging.",
               "{Side} breast {histology}; evaluate extent of disease.", "Breast cancer, {side}; staging."),
    "esophagus": ("Newly diagnosed {histology} of the {level} esophagus. Staging.", "Esophageal {histology} ({level} third) on endoscopic biopsy; staging.",
                  "{age}-year-old with dysphagia; {level} esophageal {histology}. Initial staging.", "Distal esophageal/GEJ {histology}; pretreatment staging." ,
                  "Biopsy-proven esophageal {histology}; staging before neoadjuvant therapy.", "Esophageal cancer, {level}; staging."),
})
PRIOR_CANCER = bank("stg.prior_cancer", (
    "Remote history of {other}, {old_stage}, treated {years} years ago.", "Prior {other} ({old_stage}) treated {years} years ago, in remission.",
    "Past history: {other}, staged {old_stage}, curatively treated {years} years ago.", "Previous {other} {years} years ago ({old_stage}).",
    "History of {other} ({old_stage}) {years} years ago, no evidence of recurrence since.",
))
PRIMARY = banks("stg.primary", {
    "lung": ("There is a {size} spiculated mass in the {side} {lobe} lobe{suv}.", "{Side} {lobe} lobe primary tumor measuring {dims}{suv}.",
             "The known {side} {lobe} lobe mass measures {dims}, with spiculated margins{suv}.", "Irregular {size} mass in the {side} {lobe} lobe abutting the pleura without chest wall invasion{suv}.",
             "Lobulated {dims} soft-tissue mass centered in the {side} {lobe} lobe{suv}.", "The primary lesion, a {size} {side} {lobe} lobe mass, is again seen{suv}.",
             "Spiculated {side} {lobe} lobe mass, {dims}{suv}, without invasion of the mediastinum."),
    "breast": ("Known {size} irregular mass in the {side} breast {quad}{suv}.", "The {side} breast primary measures {dims}{suv}.",
               "Irregular enhancing {side} breast mass, {size}, with the biopsy clip{suv}.", "{Side} breast primary tumor ({size}){suv}; no skin or chest wall involvement.",
               "Known {side} breast carcinoma measuring {dims}{suv}.", "Primary: {size} {side} breast mass{suv}."),
    "esophagus": ("Circumferential wall thickening of the {level} esophagus over {length} cm, up to {thick} mm thick{suv}.",
                  "{Level} esophageal mass with {thick} mm wall thickness and a {length} cm craniocaudal extent{suv}.",
                  "The known {level} esophageal tumor causes asymmetric wall thickening ({thick} mm) over {length} cm{suv}.",
                  "Esophageal primary in the {level} third: {length} cm long, {thick} mm thick{suv}.", "Mass-like thickening of the {level} esophagus ({length} cm long, {thick} mm thick){suv}."),
})
SUV = bank("stg.suv", (", SUVmax {v}", " (SUVmax {v})", " with intense FDG uptake (SUVmax {v})", "; SUV max {v}", ", markedly FDG-avid (SUVmax {v})"))
NODE_POS = bank("stg.node_pos", (
    "Enlarged {label} lymph node measuring {sa} cm in short axis.", "FDG-avid {label} lymph node (SUVmax {suv}).", "{Label} lymph node, EBUS-TBNA positive for metastatic carcinoma.",
    "Necrotic {label} node, {sa} cm short axis.", "{Label} node is enlarged ({sa} cm) and FDG-avid.", "Rounded {sa} cm {label} node with loss of the fatty hilum, suspicious for metastasis.",
    "There is a {sa} cm {label} lymph node, consistent with nodal metastasis.", "Metastatic {label} adenopathy ({sa} cm).",
))
NODE_NEG = bank("stg.node_neg", (
    "Subcentimeter {label} lymph node ({mm} mm), not FDG-avid.", "Calcified {label} lymph node, consistent with prior granulomatous disease.",
    "{Label} lymph node sampled at EBUS, negative for malignancy.", "Normal-sized {label} node ({mm} mm) with a fatty hilum.",
    "Small {label} node, {mm} mm, without FDG uptake.", "{Label} node measures {mm} mm short axis, within normal limits.",
    "A {mm} mm {label} node is not enlarged and shows only background activity.",
))
NODE_NONE = bank("stg.node_none", (
    "No mediastinal or hilar lymphadenopathy.", "No enlarged or FDG-avid thoracic lymph nodes.", "Mediastinal and hilar nodes are normal in size and activity.",
    "No suspicious lymph node in the mediastinum, hila or supraclavicular regions.", "There is no thoracic adenopathy.", "No nodal disease in the chest.",
))
M1A = banks("stg.m1a", {
    "contra": ("Separate {s} nodule in the {other} lower lobe, suspicious for metastasis.", "{s} solid nodule in the {other} upper lobe, new, consistent with a contralateral pulmonary metastasis.",
               "Several new nodules in the {other} lung, the largest {s}, compatible with metastases.", "Contralateral {other} lung nodule ({s}), FDG-avid.",
               "A {s} spiculated nodule in the {other} lung is suspicious for a synchronous metastasis."),
    "pleural": ("Multiple nodular pleural deposits along the {same} hemithorax, consistent with pleural metastases.", "Nodular {same} pleural thickening with FDG uptake, in keeping with pleural metastatic disease.",
                "Enhancing pleural nodules in the {same} hemithorax.", "{Same} pleural nodularity and thickening, suspicious for pleural spread.",
                "Pleural-based metastatic nodules along the {same} costal and diaphragmatic pleura."),
    "effusion": ("Moderate {same} pleural effusion; thoracentesis cytology positive for adenocarcinoma.", "{Same} malignant pleural effusion (cytology positive).",
                 "Large {same} effusion with nodular pleural enhancement; pleural fluid cytology confirmed malignancy.", "Malignant {same} pleural effusion.",
                 "{Same} pleural effusion, cytologically malignant."),
    "pericardial": ("Pericardial effusion with nodular pericardial thickening, consistent with malignant involvement.", "Nodular pericardial deposits with FDG uptake.",
                    "Malignant pericardial effusion (cytology positive).", "Pericardial metastatic nodules with a moderate effusion.", "Irregular pericardial thickening and nodularity, malignant."),
})
M1B = banks("stg.m1b", {
    "adrenal": ("Solitary {s} FDG-avid {adrenal} adrenal nodule, biopsy-proven metastasis.", "{s} {adrenal} adrenal mass with washout characteristics not of an adenoma, consistent with a metastasis.",
                "{Adrenal} adrenal metastasis measuring {s}; the contralateral adrenal is normal.", "Single metastasis to the {adrenal} adrenal gland ({s}).",
                "New {s} {adrenal} adrenal nodule, FDG-avid (SUVmax {v}), compatible with an isolated adrenal metastasis."),
    "liver": ("Single {s} hypoenhancing lesion in hepatic segment {seg}, FDG-avid, consistent with a solitary liver metastasis.", "Solitary hepatic metastasis in segment {seg} ({s}).",
              "One {s} liver lesion in segment {seg} with rim enhancement, biopsy-proven metastasis; no other hepatic lesions.",
              "Isolated {s} segment {seg} metastasis.", "A single FDG-avid hepatic lesion ({s}, segment {seg})."),
    "bone": ("Single lytic metastasis in the {vert} vertebral body; no other osseous lesions.", "Solitary FDG-avid lesion in the {rib_side} {rib} rib, consistent with an osseous metastasis.",
             "Isolated destructive lesion of the {vert} vertebral body.", "One osseous metastasis ({vert}); the remainder of the skeleton is clear.",
             "Solitary bone metastasis in the {pelvis_side} iliac bone."),
    "brain": ("Brain MRI performed the same week shows a solitary {s} enhancing metastasis in the {lobe_b} lobe.", "Single {s} ring-enhancing brain lesion ({lobe_b} lobe) on staging MRI.",
              "Solitary cerebral metastasis, {lobe_b} lobe, on the accompanying brain MRI.", "Staging brain MRI: one {s} metastasis in the {lobe_b} lobe.",
              "One enhancing {lobe_b} lobe metastasis on brain MRI."),
    "node": ("Single FDG-avid left para-aortic (retroperitoneal) lymph node, {s}, consistent with a distant nodal metastasis.", "Isolated {s} retroperitoneal node, metastatic.",
             "Solitary enlarged {adrenal} external iliac lymph node ({s}), FDG-avid, a distant nodal metastasis.", "One metastatic portocaval lymph node ({s}), FDG-avid.",
             "A single {s} FDG-avid celiac axis node, a distant nodal metastasis."),
})
M1C = banks("stg.m1c", {
    "liver_multi": ("Multiple hepatic metastases, the largest {s} in segment {seg}.", "Innumerable FDG-avid liver lesions, consistent with metastases.",
                    "At least four hypoenhancing liver lesions compatible with metastases, up to {s}.", "Multifocal hepatic metastatic disease.",
                    "Several liver metastases in both lobes, the largest {s}."),
    "bone_multi": ("Widespread FDG-avid osseous metastases (spine, pelvis and ribs).", "Multiple lytic and sclerotic bone metastases.",
                   "Osseous metastases in the {vert} vertebral body, {pelvis_side} iliac bone and several ribs.", "Diffuse skeletal metastatic disease.",
                   "Multiple FDG-avid bone lesions, consistent with metastases."),
    "brain_multi": ("Brain MRI shows multiple enhancing metastases.", "Numerous brain metastases on the staging MRI.", "Several ring-enhancing cerebral lesions, metastases.",
                    "Staging brain MRI: multiple metastases in both hemispheres.", "Multiple supratentorial and infratentorial metastases."),
    "mixed": ("FDG-avid {adrenal} adrenal metastasis and two hepatic metastases.", "Metastases to the {adrenal} adrenal gland and the {vert} vertebral body.",
              "Hepatic and osseous metastases.", "Adrenal, liver and bone metastases.", "Metastatic disease to the liver and {adrenal} adrenal gland."),
})
TRAPS = banks("stg.trap", {
    "same_lobe": ("Separate {s} nodule in the same lobe as the primary tumor.", "A {s} satellite nodule in the {side} {lobe} lobe, in the same lobe as the mass.",
                  "Additional {s} nodule in the primary tumor's lobe.", "Small {s} nodule adjacent to the primary in the same lobe.",
                  "{s} nodule in the {side} {lobe} lobe separate from the primary, same lobe."),
    "other_lobe": ("Additional {s} nodule in a different ipsilateral lobe.", "{s} nodule in another lobe of the {side} lung.", "Separate {s} tumor nodule in a different {side} lobe.",
                   "A further {s} nodule in the ipsilateral ({side}) lung, different lobe.", "Ipsilateral {s} nodule in a separate {side} lobe."),
    "adenoma": ("{s} {adrenal} adrenal nodule measuring {hu} HU on noncontrast CT, consistent with an adenoma.", "Lipid-rich {adrenal} adrenal adenoma ({s}, {hu} HU), not FDG-avid.",
                "{Adrenal} adrenal nodule with absolute washout of 70%, an adenoma.", "Benign {s} {adrenal} adrenal adenoma.", "Stable {adrenal} adrenal adenoma ({hu} HU)."),
    "liver_cyst": ("Simple {s} hepatic cyst.", "{s} cyst in segment {seg}, fluid attenuation, not FDG-avid.", "Small hepatic cysts, benign.",
                   "A {s} segment {seg} hemangioma with typical peripheral nodular enhancement.", "Benign hepatic cyst ({s})."),
    "effusion_benign": ("Small {same} pleural effusion; thoracentesis cytology negative for malignancy.", "Trace {same} pleural effusion, cytology negative, likely reactive.",
                        "Small {same} effusion; two cytology samples negative for malignant cells.", "{Same} pleural effusion, cytologically benign.",
                        "Small reactive {same} pleural effusion (negative cytology)."),
    "bone_island": ("Sclerotic bone island in the {vert} vertebral body, not FDG-avid.", "Small enostosis in the {pelvis_side} iliac bone, unchanged.",
                    "Benign bone island, {vert}.", "Non-avid sclerotic focus in the {vert} vertebral body, a bone island.", "Enostosis of the {pelvis_side} femoral neck."),
    "granuloma": ("Calcified {s} granuloma in the {other} lung, benign.", "Densely calcified nodule in the {other} lower lobe, a granuloma.",
                  "Benign calcified granuloma, {other} lung.", "Old calcified granulomas in the {other} upper lobe.", "{Other} lung calcified granuloma."),
})
NO_DISTANT = bank("stg.no_distant", (
    "No evidence of distant metastatic disease.", "No suspicious hepatic, adrenal or osseous lesions.", "No distant metastases.",
    "The liver, adrenal glands and skeleton show no evidence of metastasis.", "No FDG-avid lesions outside the chest.", "No distant disease.",
))
IMP = banks("stg.imp", {
    "primary": ("{Primary} as described.", "Known {primary}.", "{Primary}, {size}.", "{Primary}{suv_imp}.", "The {primary} as detailed above."),
    "nodes_pos": ("Nodal metastases: {stations}.", "Metastatic {stations} lymphadenopathy.", "Involved {stations} nodes.", "Nodal disease at {stations}.",
                  "Suspicious {stations} lymph nodes."),
    "nodes_neg": ("No nodal metastases.", "No lymphadenopathy.", "No regional nodal disease.", "No suspicious lymph nodes.", "Nodes negative."),
    "m0": ("No distant metastases identified.", "No evidence of metastatic disease elsewhere.", "No distant spread.", "No metastatic disease identified.",
           "Nothing to suggest distant metastases."),
    "m_pos": ("{Sites}.", "Distant metastatic disease: {sites}.", "Metastases: {sites}.", "{Sites}, consistent with metastatic disease.", "Evidence of metastatic spread ({sites})."),
})
IMP_ESO_NODES = bank("stg.imp_eso_nodes", (
    "{Count} suspicious regional lymph nodes.", "Regional nodal disease ({count} nodes).", "{Count} involved regional nodes.",
    "Nodal metastases in {count} regional nodes.", "Regional lymphadenopathy: {count} suspicious nodes.",
))
STATED = bank("stg.stated", (
    "Clinical stage c{t} {n} {m}{stage}.", "TNM: c{t} {n} {m}{stage}.", "TNM (AJCC 8th): c{t}N{nd}M{md}{stage}.", "Stage {t} {n} {m}{stage}.",
    "Clinical staging: {t}, {n}, {m}{stage}.", "Overall: c{t} c{n} c{m}{stage}.", "AJCC 8 clinical stage {t}{n}{m}{stage}.", "Radiologic stage c{t}N{nd} {m}{stage}.",
))
STATED_N = bank("stg.stated_n", ("Nodal stage {n}.", "Clinical {n}.", "Consistent with {n} disease.", "Nodal status c{n}.", "Nodal category: {n}."))
STATED_M = bank("stg.stated_m", ("Distant metastasis category {m}.", "Clinical {m}.", "Consistent with {m} disease.", "Distant status c{m}.", "M category: {m}."))


@dataclass
class StagingExample:
    site: str
    text: str
    n: str
    m: str
    split: str
    stated_n: str = ""  # the sentence stating N ("" = derive)
    stated_m: str = ""
    prior_cancer: str = ""
    used: list[tuple[str, int]] = field(default_factory=list)
    features: dict = field(default_factory=dict)


_M1A_SITE = {"contra": "contralateral lung nodule", "pleural": "pleural metastases", "effusion": "malignant pleural effusion",
             "pericardial": "malignant pericardial disease"}
_LOBE_B = ("frontal", "parietal", "occipital", "temporal", "cerebellar")


def _fill(r: random.Random, unit: str, side: str) -> dict:
    same, other = ("right", "left") if side == "R" else ("left", "right")
    adrenal = r.choice(("right", "left"))
    return dict(s=size(r.randint(8, 35), unit), v=round(r.uniform(4, 16), 1), seg=r.choice(("II", "IV", "VI", "VII", "VIII")),
                adrenal=adrenal, Adrenal=adrenal.capitalize(), lobe_b=r.choice(_LOBE_B), same=same, Same=same.capitalize(), other=other,
                Other=other.capitalize(), vert=r.choice(("T8", "T11", "L1", "L2", "L3", "L4")), rib=r.choice(("fifth", "sixth", "eighth")),
                rib_side=r.choice(("right", "left")), pelvis_side=r.choice(("right", "left")), hu=r.choice((-12, -5, 3, 6)))


def _station_label(r: random.Random, station: str) -> str:
    name = r.choice(STATIONS[station][0])
    return r.choice((f"{name} (station {station})", f"station {station} ({name})", name, f"{name} (level {station})"))


def _write_nodes(w: Writer, involved: list[str], distractors: list[str]) -> list[str]:
    r = w.r
    lines = []
    for st in involved:
        label = _station_label(r, st)
        lines.append(w.say(NODE_POS, label=label, Label=label[0].upper() + label[1:], sa=round(r.uniform(1.1, 2.8), 1), suv=round(r.uniform(4, 14), 1)))
    for st in distractors:
        label = _station_label(r, st)
        lines.append(w.say(NODE_NEG, label=label, Label=label[0].upper() + label[1:], mm=r.randint(4, 9)))
    r.shuffle(lines)
    return lines


def _t_stated(w: Writer, t: str, n: str, m: str, stage: str) -> str:
    return w.say(STATED, t=t, n=n, m=m, nd=n[1:], md=m[1:], stage=f" (stage {stage})" if stage else "")


OTHER_M1 = banks("stg.m1_other", {
    "lungs": ("Multiple bilateral pulmonary nodules, the largest {s}, consistent with metastases.", "Several new pulmonary metastases in both lungs.",
              "Innumerable bilateral lung nodules, metastatic.", "Bilateral pulmonary metastatic nodules up to {s}.", "Multiple solid lung nodules compatible with hematogenous metastases."),
    "peritoneum": ("Peritoneal nodularity and omental caking, consistent with peritoneal metastases.", "Small volume ascites with peritoneal nodules, peritoneal carcinomatosis.",
                   "Omental and peritoneal deposits, the largest {s}.", "Diffuse peritoneal thickening and nodularity, metastatic.", "Peritoneal implants along the paracolic gutters."),
    "nonregional": ("Enlarged FDG-avid para-aortic lymph nodes below the renal veins, non-regional nodal metastases.", "Retroperitoneal (aortocaval) adenopathy, {s}, non-regional and metastatic.",
                    "Metastatic left para-aortic nodes at the level of the lower pole of the kidney ({s}).", "Non-regional retroperitoneal lymph node metastases.",
                    "Infrarenal para-aortic nodal metastasis ({s})."),
    "contra_nodes": ("Enlarged contralateral axillary lymph node, biopsy-proven metastasis.", "Contralateral supraclavicular nodal metastasis ({s}).",
                     "FDG-avid contralateral axillary nodes, distant nodal disease.", "Metastatic contralateral internal mammary node.", "Contralateral axillary adenopathy ({s}), metastatic."),
    "contra_normal": ("Contralateral axillary lymph nodes are normal with fatty hila.", "No contralateral adenopathy.", "The contralateral axilla is unremarkable.",
                      "Normal contralateral axillary and supraclavicular nodes.", "No abnormal node on the opposite side."),
})
BREAST_N = banks("stg.breast_n", {
    "N0": ("No suspicious axillary, internal mammary or supraclavicular lymph nodes; axillary nodes have preserved fatty hila.", "Ipsilateral axillary nodes are normal in size and morphology.",
           "No regional lymphadenopathy.", "Axillary, internal mammary and supraclavicular stations are negative.", "No abnormal regional nodes."),
    "N1": ("Two mobile ipsilateral level I axillary lymph nodes with cortical thickening to {c} mm, biopsy-proven metastasis.",
           "Single abnormal ipsilateral level II axillary lymph node with loss of the fatty hilum, not matted.", "Ipsilateral level I axillary node, FDG-avid, mobile, {s}.",
           "Few enlarged ipsilateral low axillary nodes (level I), discrete and movable.", "Abnormal ipsilateral level I axillary lymph node (cortex {c} mm), biopsy positive."),
    "N2a": ("Matted ipsilateral level I/II axillary lymph nodes fixed to one another, biopsy-proven metastasis.", "Conglomerate of fixed, matted ipsilateral axillary nodes.",
            "Ipsilateral axillary nodes are matted together and FDG-avid.", "Fixed, matted level II axillary adenopathy.", "Ipsilateral axillary nodal mass of matted nodes."),
    "N2b": ("Enlarged ipsilateral internal mammary lymph node ({s}); axillary nodes are normal.", "FDG-avid ipsilateral internal mammary node without axillary involvement.",
            "Isolated ipsilateral internal mammary adenopathy ({s}); no axillary disease.", "Ipsilateral internal mammary node ({s}), metastatic; axilla negative.",
            "Internal mammary chain node enlarged on the side of the tumor; axillary nodes unremarkable."),
    "N3a": ("Abnormal ipsilateral infraclavicular (level III) lymph node, {s}.", "FDG-avid ipsilateral level III axillary (infraclavicular) node.",
            "Ipsilateral infraclavicular adenopathy ({s}).", "Enlarged node at ipsilateral axillary level III.", "Metastatic ipsilateral infraclavicular lymph node."),
    "N3b": ("Enlarged ipsilateral internal mammary node together with abnormal level I axillary nodes.", "Ipsilateral internal mammary and axillary nodal metastases.",
            "FDG-avid ipsilateral internal mammary node ({s}) and level I/II axillary nodes.", "Axillary and internal mammary adenopathy on the side of the tumor.",
            "Metastatic ipsilateral axillary nodes with an involved internal mammary node."),
    "N3c": ("Abnormal ipsilateral supraclavicular lymph node, FDG-avid.", "Ipsilateral supraclavicular node ({s}), metastatic.",
            "Enlarged supraclavicular lymph node on the side of the tumor.", "Ipsilateral supraclavicular fossa adenopathy, {s}.", "Metastatic ipsilateral supraclavicular node."),
})
ESO = banks("stg.eso", {
    "group": ("{count} {kind} {station} lymph node{plural}{detail}.", "{Count} {station} node{plural}, {kind}{detail}.", "There {be} {count} {kind} {station} node{plural}{detail}.",
              "{Station}: {count} {kind} node{plural}{detail}.", "{Count} {kind} lymph node{plural} in the {station} region{detail}."),
    "neg": ("A {mm} mm {station} node is not enlarged and not FDG-avid.", "Subcentimeter {station} node ({mm} mm) without FDG uptake.",
            "Small {station} lymph node, {mm} mm, of normal morphology.", "Non-avid {mm} mm {station} node.", "{Station} node measures {mm} mm, within normal limits."),
    "none": ("No enlarged or FDG-avid regional lymph nodes.", "No periesophageal, mediastinal or upper abdominal lymphadenopathy.", "No suspicious regional nodes.",
             "Regional lymph nodes are not enlarged.", "No nodal disease identified."),
})
_ESO_STATIONS = ("paraesophageal", "subcarinal", "lower paratracheal", "left gastric", "lesser curvature (perigastric)", "celiac axis", "gastrohepatic ligament")
_COUNT_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}
_QUADS = ("upper outer quadrant", "upper inner quadrant", "lower outer quadrant", "lower inner quadrant", "retroareolar region")

CHEST = ["lungs", "pleura", "heart", "thoracic_vessels", "chest_wall"]
ABDOMEN = ["liver", "gallbladder", "pancreas", "spleen", "adrenals", "kidneys", "bowel", "bladder", "pelvic_organs", "abd_nodes", "abd_vessels",
           "peritoneum", "abd_wall"]
_ALLOWED = {"lungs:emphysema", "lungs:atelectasis", "heart:coronary", "thoracic_vessels:atherosclerosis", "gallbladder:stones", "gallbladder:removed",
            "kidneys:cyst", "kidneys:stone", "bowel:diverticulosis", "abd_vessels:atherosclerosis", "abd_wall:hernia", "bones:degenerative",
            "pelvic_organs:fibroid", "pelvic_organs:prostate"}
_EXTRA_HEADINGS = {"brain": ("Brain", "Brain (MRI)", "Neuro"), "distant": ("Distant disease", "Metastatic survey", "Other"),
                   "contra_nodes": ("Contralateral nodes", "Other nodes")}


def _body(w: Writer, organs: list[str], overrides: dict[str, list[str]], unit: str,
          allowed: set[str] = _ALLOWED) -> list[tuple[str | None, list[str]]]:
    """Organ paragraphs; an organ in ``overrides`` says exactly that (an empty list drops it); a
    terse report leaves out some normal organs."""
    r = w.r
    drop = {"terse": 0.45, "normal": 0.15, "verbose": 0.0}[w.verbosity]
    out: list[tuple[str | None, list[str]]] = []
    for organ in organs:
        if organ in overrides:
            if overrides[organ]:
                heading = r.choice(_EXTRA_HEADINGS.get(organ) or HEADINGS[organ])
                out.append((heading, overrides[organ]))
        elif organ in NORMAL and r.random() >= drop:
            out.extend(body_paragraphs(w, [organ], unit=unit, p_incidental=0.15, allowed=allowed))
    return out


def _m1_text(w: Writer, organ: str, f: dict, several: bool) -> str:
    """A distant metastasis in ``organ`` (one lesion unless ``several``)."""
    if organ in ("lungs", "peritoneum", "nonregional", "contra_nodes"):
        return w.say(OTHER_M1[organ], **f)
    if several:
        return w.say(M1C[{"liver": "liver_multi", "bones": "bone_multi", "brain": "brain_multi"}[organ]], **f)
    return w.say(M1B[{"liver": "liver", "bones": "bone", "brain": "brain", "adrenals": "adrenal", "abd_nodes": "node"}[organ]], **f)


def _trap_organ(key: str) -> str:
    return {"same_lobe": "lungs", "other_lobe": "lungs", "granuloma": "lungs", "effusion_benign": "pleura", "adenoma": "adrenals",
            "liver_cyst": "liver", "bone_island": "bones"}[key]


def lung_report(seed: int, i: int, n_target: str, m_target: str, split: str, state: str) -> StagingExample:
    r = random.Random(f"radlite-v2:{seed}:staging:lung:{i}")
    w = Writer(r, split, r.choices(("terse", "normal", "verbose"), weights=(2, 4, 4))[0])
    unit = r.choice(("mm", "cm"))
    side = r.choice(("R", "L"))
    side_word = "right" if side == "R" else "left"
    lobe = r.choice(("upper", "lower") if side == "L" else ("upper", "middle", "lower"))
    stations = list(STATIONS)
    for _ in range(1000):
        involved = r.sample(stations, r.choice((0, 1, 1, 2, 2, 3)))
        if lung_n(involved, side) == n_target:
            break
    else:
        raise RuntimeError(n_target)
    distractors = r.sample([s for s in stations if s not in involved], r.choice((0, 1, 1, 2)))
    f = _fill(r, unit, side)
    pet = r.random() < 0.5
    over: dict[str, list[str]] = {}
    m_sites: list[str] = []

    def put(organ: str, text: str) -> None:
        over.setdefault(organ, []).append(text)

    if m_target == "M1a":
        for key in r.sample(list(M1A), r.choice((1, 1, 2))):
            put({"contra": "lungs", "pleural": "pleura", "effusion": "pleura", "pericardial": "heart"}[key], w.say(M1A[key], **f))
            m_sites.append(_M1A_SITE[key])
    elif m_target in ("M1b", "M1c"):
        how = "one" if m_target == "M1b" else r.choice(("two_organs", "multi", "mixed"))
        if how in ("one", "two_organs"):  # M1c: single lesions in two organs
            for organ in r.sample(["adrenals", "liver", "bones", "brain", "abd_nodes"], 1 if how == "one" else 2):
                put(organ, _m1_text(w, organ, f, False))
                m_sites.append({"adrenals": "adrenal metastasis", "liver": "hepatic metastasis", "bones": "osseous metastasis",
                                "brain": "brain metastasis", "abd_nodes": "distant nodal metastasis"}[organ])
        elif how == "multi":
            organ = r.choice(("liver", "bones", "brain"))
            put(organ, _m1_text(w, organ, f, True))
            m_sites.append({"liver": "multiple hepatic metastases", "bones": "multiple osseous metastases", "brain": "multiple brain metastases"}[organ])
        else:
            put("distant", w.say(M1C["mixed"], **f))
            for organ in ("liver", "adrenals", "bones"):
                over.setdefault(organ, [])
            m_sites.append("metastases in several organs")
        if r.random() < 0.25:  # an M1a finding as well: the highest category applies
            key = r.choice(list(M1A))
            put({"contra": "lungs", "pleural": "pleura", "effusion": "pleura", "pericardial": "heart"}[key], w.say(M1A[key], **f))
            m_sites.append(_M1A_SITE[key])
    traps: list[str] = []
    if r.random() < 0.55:
        pool = ["same_lobe", "other_lobe", "adenoma", "liver_cyst", "bone_island", "granuloma", "effusion_benign"]
        for key in r.sample(pool, r.choice((1, 1, 2))):
            organ = _trap_organ(key)
            if organ in over and (not over[organ] or organ in ("pleura", "adrenals", "liver", "bones")):
                continue  # never beside a metastasis in the same organ (an adenoma next to an adrenal metastasis would be ambiguous)
            traps.append(key)
            put(organ, w.say(TRAPS[key], side=side_word, lobe=lobe, **f))
    same_lobe, other_lobe = "same_lobe" in traps, "other_lobe" in traps
    histology = r.choice(("adenocarcinoma", "squamous cell carcinoma", "non-small cell lung cancer", "NSCLC (adenocarcinoma)"))
    mm = r.randint(12, 75)
    hs = dict(side=side_word, Side=side_word.capitalize(), lobe=lobe, histology=histology, Histology=histology[0].upper() + histology[1:],
              age=r.randint(48, 84), smoker=r.choice(("current smoker", "former smoker", "never-smoker")))
    history = [w.say(HIST["lung"], **hs)]
    prior_cancer = ""
    if r.random() < P_PRIOR_CANCER:
        prior_cancer = w.say(PRIOR_CANCER, other=r.choice(("prostate cancer", "colon cancer", "breast cancer", "bladder cancer")),
                             old_stage=r.choice(("pT2 N0 M0", "pT1c N0", "T2N0M0", "pT3 N1 M0")), years=r.randint(5, 15))
        history.append(prior_cancer)
    suv = " " + w.frag(SUV, v=round(r.uniform(6, 22), 1)) if pet else ""
    primary = [w.say(PRIMARY["lung"], size=size(mm, unit), dims=f"{size(mm, unit)} x {size(round(mm * r.uniform(0.6, 0.95)), unit)}",
                     suv=suv, **hs)]
    nodes = _write_nodes(w, involved, distractors) or [w.say(NODE_NONE)]
    if not involved and distractors and r.random() < 0.5:
        nodes.append(w.say(NODE_NONE))
    findings: list[tuple[str | None, list[str]]] = [("Primary tumor", primary)]
    body = _body(w, CHEST + ABDOMEN + ["bones", "brain", "distant"], over, unit)
    findings += body[:3] + [(r.choice(("Lymph nodes", "Mediastinum and hila", "Thoracic lymph nodes")), nodes)] + body[3:]
    if m_target == "M0" and not traps and r.random() < 0.5:
        findings.append((None, [w.say(NO_DISTANT)]))
    t = lung_t(mm / 10, same_lobe, other_lobe)
    impression = [w.say(IMP["primary"], primary=f"{side_word} {lobe} lobe primary", Primary=f"{side_word.capitalize()} {lobe} lobe primary",
                        size=size(mm, unit), suv_imp=" with intense FDG avidity" if pet else "")]
    if involved:
        impression.append(w.say(IMP["nodes_pos"], stations=", ".join(STATIONS[s][0][0] for s in sorted(involved))))
    else:
        impression.append(w.say(IMP["nodes_neg"]))
    if m_sites:
        sites = ", ".join(dict.fromkeys(m_sites))
        impression.append(w.say(IMP["m_pos"], sites=sites, Sites=sites[0].upper() + sites[1:]))
    else:
        impression.append(w.say(IMP["m0"]))
    ex = StagingExample("lung", "", n_target, m_target, split, prior_cancer=prior_cancer,
                        features=dict(side=side, involved=involved, distractors=distractors, m_sites=m_sites, traps=traps, t=t, size_mm=mm))
    _state(w, ex, impression, state, t, lung_stage(t, n_target, m_target))
    technique = [w.say(TECH_PET, **_pet_slots(r))] if pet else [w.say(TECHNIQUE["ct_contrast"], region="chest, abdomen and pelvis", ml=r.choice((80, 100, 120)))]
    return _finish(w, ex, "pet" if pet else "ct", history, technique, findings, impression)


def _pet_slots(r: random.Random) -> dict:
    return dict(mci=round(r.uniform(8, 14), 1), mbq=r.randint(250, 400), glu=r.randint(80, 140), uptake=r.choice((55, 60, 65, 70)),
                liver=round(r.uniform(1.8, 2.8), 1), pool=round(r.uniform(1.4, 2.2), 1))


def _state(w: Writer, ex: StagingExample, impression: list[str], state: str, t: str, stage: str, n_text: str = "") -> None:
    n_text = n_text or ex.n
    if state == "tnm":
        text = w.say(STATED, t=t, n=n_text, m=ex.m, nd=n_text[1:], md=ex.m[1:], stage=f" (stage {stage})" if stage else "")
        ex.stated_n = ex.stated_m = text
    elif state == "n":
        text = ex.stated_n = w.say(STATED_N, n=n_text)
    elif state == "m":
        text = ex.stated_m = w.say(STATED_M, m=ex.m)
    else:
        return
    impression.append(text)


def _finish(w: Writer, ex: StagingExample, exam_kind: str, history: list[str], technique: list[str],
            findings: list[tuple[str | None, list[str]]], impression: list[str]) -> StagingExample:
    r = w.r
    comparison = [w.say("comparison.none")] if r.random() < 0.5 else [
        w.say("comparison.prior", prior=r.choice(("CT chest", "diagnostic CT", "outside CT")), ago=r.choice(("3 weeks earlier", "one month earlier", "two weeks ago")))]
    findings = [(h, s) for h, s in findings if s]
    signoff = enrich(w, history, technique, findings, impression, ct=True)
    doc = Doc(exam=w.say(EXAM[exam_kind]), history=history, technique=technique, comparison=comparison if r.random() < 0.8 else [],
              findings=findings, impression=impression, signoff=signoff)
    sk = draw_skeleton(r, w.split)
    spelling = "uk" if r.random() < P_UK else "us"
    ex.text = render(doc, sk, r, spelling=spelling)
    if spelling == "uk":  # the recorded fragments as they read in the text
        ex.stated_n, ex.stated_m, ex.prior_cancer = british(ex.stated_n), british(ex.stated_m), british(ex.prior_cancer)
    ex.used = list(w.used)
    ex.features["skeleton"] = sk.id
    return ex


def breast_report(seed: int, i: int, n_target: str, m_target: str, split: str, state: str) -> StagingExample:
    r = random.Random(f"radlite-v2:{seed}:staging:breast:{i}")
    w = Writer(r, split, r.choices(("terse", "normal", "verbose"), weights=(2, 4, 4))[0])
    unit = r.choice(("mm", "cm"))
    side = r.choice(("R", "L"))
    side_word = "right" if side == "R" else "left"
    f = _fill(r, unit, side)
    sub = {"N0": "N0", "N1": "N1", "N2": r.choice(("N2a", "N2b")), "N3": r.choice(("N3a", "N3b", "N3c"))}[n_target]
    nodes = [w.say(BREAST_N[sub], c=r.randint(4, 7), **f)]
    over: dict[str, list[str]] = {}
    m_organs: list[str] = []
    if m_target == "M1":
        for organ in r.sample(["liver", "bones", "brain", "lungs", "contra_nodes", "adrenals"], r.choice((1, 1, 2))):
            over.setdefault(organ, []).append(_m1_text(w, organ, f, several=organ != "adrenals" and r.random() < 0.5))
            m_organs.append(organ)
    traps = []
    if r.random() < 0.5:
        key = r.choice(("liver_cyst", "bone_island", "granuloma", "contra_normal"))
        organ = "contra_nodes" if key == "contra_normal" else _trap_organ(key)
        if organ not in over:
            traps.append(key)
            over[organ] = [w.say(OTHER_M1["contra_normal"]) if key == "contra_normal" else w.say(TRAPS[key], side=side_word, lobe="upper", **f)]
    pet = r.random() < 0.5
    mm = r.randint(9, 70)
    histology = r.choice(("invasive ductal carcinoma", "invasive lobular carcinoma", "invasive carcinoma of no special type"))
    hs = dict(side=side_word, Side=side_word.capitalize(), histology=histology, receptor=r.choice(("ER+/HER2-", "triple negative", "HER2-positive")),
              age=r.randint(30, 84), quad=r.choice(_QUADS))
    history = [w.say(HIST["breast"], **hs)]
    suv = " " + w.frag(SUV, v=round(r.uniform(3, 15), 1)) if pet else ""
    primary = [w.say(PRIMARY["breast"], size=size(mm, unit), dims=f"{size(mm, unit)} x {size(round(mm * r.uniform(0.6, 0.9)), unit)}", suv=suv, **hs)]
    findings: list[tuple[str | None, list[str]]] = [("Breast", primary), (f"Lymph nodes ({side_word} side unless stated)", nodes)]
    findings += _body(w, ["contra_nodes"] + CHEST + ABDOMEN + ["bones", "brain"], over, unit, allowed=_ALLOWED - {"pelvic_organs:prostate"})
    if m_target == "M0" and r.random() < 0.4:
        findings.append((None, [w.say(NO_DISTANT)]))
    t = "T1" if mm <= 20 else "T2" if mm <= 50 else "T3"
    impression = [w.say(IMP["primary"], primary=f"{side_word} breast primary", Primary=f"{side_word.capitalize()} breast primary", size=size(mm, unit),
                        suv_imp=" with FDG avidity" if pet else "")]
    impression.append(w.say(IMP["nodes_neg"]) if n_target == "N0" else w.say(IMP["nodes_pos"], stations={
        "N1": "ipsilateral level I/II axillary", "N2a": "matted ipsilateral axillary", "N2b": "ipsilateral internal mammary", "N3a": "ipsilateral infraclavicular",
        "N3b": "ipsilateral internal mammary and axillary", "N3c": "ipsilateral supraclavicular"}[sub]))
    impression.append(w.say(IMP["m_pos"], sites="distant metastases as described", Sites="Distant metastases as described") if m_organs else w.say(IMP["m0"]))
    ex = StagingExample("breast", "", n_target, m_target, split, features=dict(side=side, n_sub=sub, m_organs=m_organs, traps=traps, t=t, size_mm=mm))
    _state(w, ex, impression, state, t, "", n_text=sub if r.random() < 0.5 else n_target)
    technique = [w.say(TECH_PET, **_pet_slots(r))] if pet else [w.say(TECHNIQUE["ct_contrast"], region="chest, abdomen and pelvis", ml=r.choice((80, 100)))]
    return _finish(w, ex, "pet" if pet else "ct", history, technique, findings, impression)


def eso_n(count: int) -> str:
    return "N0" if count == 0 else "N1" if count <= 2 else "N2" if count <= 6 else "N3"


def esophagus_report(seed: int, i: int, n_target: str, m_target: str, split: str, state: str) -> StagingExample:
    r = random.Random(f"radlite-v2:{seed}:staging:esophagus:{i}")
    w = Writer(r, split, r.choices(("terse", "normal", "verbose"), weights=(2, 4, 4))[0])
    unit = r.choice(("mm", "cm"))
    f = _fill(r, unit, "R")
    total = {"N0": 0, "N1": r.choice((1, 2)), "N2": r.randint(3, 6), "N3": r.randint(7, 10)}[n_target]
    groups: list[int] = []
    left = total
    while left > 0:
        g = min(left, r.randint(1, 4))
        groups.append(g)
        left -= g
    while len(groups) > len(_ESO_STATIONS):
        groups[-2] += groups.pop()
    stations = r.sample(_ESO_STATIONS, len(groups))
    nodes = []
    for count, st in zip(groups, stations):
        cw = _COUNT_WORDS[count] if count > 1 or r.random() < 0.5 else "a single"
        kind = r.choice(("enlarged", "FDG-avid", "round, necrotic", "suspicious"))
        detail = r.choice(("", f", up to {size(r.randint(10, 22), unit)} in short axis", f" (SUVmax up to {round(r.uniform(3, 11), 1)})"))
        nodes.append(w.say(ESO["group"], count=cw, Count=cw.capitalize(), kind=kind, station=st, Station=st[0].upper() + st[1:], plural="s" if count > 1 else "",
                           be="are" if count > 1 else "is", detail=detail))
    distractors = [s for s in _ESO_STATIONS if s not in stations]
    for st in r.sample(distractors, min(len(distractors), r.choice((0, 1, 1)))):
        nodes.append(w.say(ESO["neg"], station=st, Station=st[0].upper() + st[1:], mm=r.randint(4, 9)))
    if not total:
        nodes.append(w.say(ESO["none"]))
    r.shuffle(nodes)
    over: dict[str, list[str]] = {}
    m_organs: list[str] = []
    if m_target == "M1":
        for organ in r.sample(["liver", "adrenals", "nonregional", "peritoneum", "lungs", "bones"], r.choice((1, 1, 2))):
            key = {"nonregional": "abd_nodes"}.get(organ, organ)
            over.setdefault(key, []).append(_m1_text(w, organ, f, several=organ in ("liver", "bones") and r.random() < 0.5))
            m_organs.append(organ)
    pet = r.random() < 0.5
    level = r.choice(("mid", "distal", "lower", "upper"))
    histology = r.choice(("adenocarcinoma", "squamous cell carcinoma"))
    hs = dict(level=level, Level=level.capitalize(), histology=histology, age=r.randint(45, 85))
    history = [w.say(HIST["esophagus"], **hs)]
    suv = " " + w.frag(SUV, v=round(r.uniform(5, 20), 1)) if pet else ""
    thick = r.randint(10, 25)
    primary = [w.say(PRIMARY["esophagus"], length=r.randint(3, 9), thick=thick, suv=suv, **hs)]
    findings: list[tuple[str | None, list[str]]] = [("Esophagus", primary), ("Lymph nodes", nodes)]
    findings += _body(w, CHEST + [o for o in ABDOMEN if o != "abd_nodes" or o in over] + ["bones"], over, unit)
    t = "T3" if thick >= 15 else "T2"
    impression = [w.say(IMP["primary"], primary=f"{level} esophageal primary", Primary=f"{level.capitalize()} esophageal primary", size=f"{thick} mm thick",
                        suv_imp=" with FDG avidity" if pet else "")]
    cw = _COUNT_WORDS[total] if total else ""
    if total >= 7 and r.random() < 0.5:
        cw = "at least seven"
    impression.append(w.say(IMP["nodes_neg"]) if not total else w.say(IMP_ESO_NODES, count=cw, Count=cw[:1].upper() + cw[1:]))
    impression.append(w.say(IMP["m_pos"], sites="distant metastases as described", Sites="Distant metastases as described") if m_organs else w.say(IMP["m0"]))
    ex = StagingExample("esophagus", "", n_target, m_target, split, features=dict(node_count=total, groups=groups, m_organs=m_organs, t=t))
    _state(w, ex, impression, state, t, "")
    technique = [w.say(TECH_PET, **_pet_slots(r))] if pet else [w.say(TECHNIQUE["ct_contrast"], region="chest, abdomen and pelvis", ml=r.choice((80, 100)))]
    return _finish(w, ex, "pet" if pet else "ct", history, technique, findings, impression)


# --------------------------------------------------------------------------------------- rows

def _state_kind(r: random.Random) -> str:
    x = r.random()
    return "tnm" if x < P_STATE_TNM else "n" if x < P_STATE_TNM + P_STATE_N else "m" if x < P_STATE_TNM + P_STATE_N + P_STATE_M else ""


def staging_examples(seed: int, n_reports: int) -> list[StagingExample]:
    n_lung = round(n_reports * 2 / 3)
    n_breast = (n_reports - n_lung) // 2
    n_eso = n_reports - n_lung - n_breast
    out = []
    pick = random.Random(f"radlite-v2:{seed}:staging:state")
    for i in range(n_lung):
        out.append(lung_report(seed, i, N_LABELS[i % 4], LUNG_M_CYCLE[(i // 4) % len(LUNG_M_CYCLE)],
                               seeded_split(f"v2:staging:lung:{i}", seed), _state_kind(pick)))
    for i in range(n_breast):
        out.append(breast_report(seed, i, N_LABELS[i % 4], OTHER_M_CYCLE[(i // 4) % len(OTHER_M_CYCLE)],
                                 seeded_split(f"v2:staging:breast:{i}", seed), _state_kind(pick)))
    for i in range(n_eso):
        out.append(esophagus_report(seed, i, N_LABELS[i % 4], OTHER_M_CYCLE[(i // 4) % len(OTHER_M_CYCLE)],
                                    seeded_split(f"v2:staging:esophagus:{i}", seed), _state_kind(pick)))
    return out


def staging_rows_v2(seed: int, *, n_reports: int) -> list[Row]:
    rows = []
    for i, ex in enumerate(staging_examples(seed, n_reports)):
        rid = f"gen:v2:staging:{ex.site}:{i:05d}"
        for task, value, stated in (("n_staging", ex.n, ex.stated_n), ("m_staging", ex.m, ex.stated_m)):
            source = f"generated:v2:staging:{ex.site}" + (":stated" if stated else "")
            rows.append(make_row(task, value, report=ex.text, source=source, split=ex.split, report_id=rid))
    return rows


assert set(SPLITS) == {"train", "val", "test"}
