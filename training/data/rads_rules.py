"""Published RADS decision rules, as small pure functions the RADS generator calls.

Each function takes the features a report describes and returns the category the rule gives, in
the label form of ``integration/tasks/rads_assignment.py`` ``SYSTEMS``. Only the parts of each
system the generator writes reports for are encoded; sources are named per function.
"""

from __future__ import annotations

from typing import Iterable, Sequence

# --- ACR TI-RADS (Tessler et al., JACR 2017) ----------------------------------------------------

TI_COMPOSITION = {"cystic": 0, "spongiform": 0, "mixed cystic and solid": 1, "solid": 2}
TI_ECHOGENICITY = {"anechoic": 0, "hyperechoic": 1, "isoechoic": 1, "hypoechoic": 2, "very hypoechoic": 3}
TI_SHAPE = {"wider-than-tall": 0, "taller-than-wide": 3}
TI_MARGIN = {"smooth": 0, "ill-defined": 0, "lobulated": 2, "irregular": 2, "extrathyroidal extension": 3}
TI_FOCI = {
    "none": 0, "large comet-tail artifacts": 0, "macrocalcifications": 1,
    "peripheral (rim) calcifications": 2, "punctate echogenic foci": 3,
}


def tirads_points(composition: str, echogenicity: str, shape: str, margin: str, foci: Iterable[str]) -> int:
    """Sum of ACR TI-RADS points. A spongiform nodule scores 0 and takes no further points."""
    if composition == "spongiform":
        return 0
    return (
        TI_COMPOSITION[composition] + TI_ECHOGENICITY[echogenicity] + TI_SHAPE[shape]
        + TI_MARGIN[margin] + sum(TI_FOCI[f] for f in set(foci))
    )


def tirads_level(points: int) -> str:
    """TR1 0 (and 1) points, TR2 2, TR3 3, TR4 4-6, TR5 >= 7."""
    if points <= 1:
        return "TR1"
    if points == 2:
        return "TR2"
    if points == 3:
        return "TR3"
    return "TR4" if points <= 6 else "TR5"


# --- LI-RADS CT/MRI v2018 diagnostic table (untreated observation, high-risk patient) ----------

def lirads_major(aphe: bool, size_mm: float, washout: bool, capsule: bool, growth: bool) -> str:
    """LR-3/4/5 from nonrim APHE, size and the additional major features."""
    extra = int(washout) + int(capsule) + int(growth)
    if not aphe:
        if size_mm < 20:
            return "LR-3" if extra <= 1 else "LR-4"
        return "LR-3" if extra == 0 else "LR-4"
    if size_mm < 10:
        return "LR-3" if extra == 0 else "LR-4"
    if size_mm < 20:
        if extra == 0:
            return "LR-3"
        if extra == 1 and capsule:
            return "LR-4"  # 10-19 mm, nonrim APHE, capsule alone
        return "LR-5"  # washout or threshold growth alone, or two or more
    return "LR-4" if extra == 0 else "LR-5"


# --- ACR Lung-RADS v2022 ----------------------------------------------------------------------

LUNG_RADS_ORDER = ("1", "2", "3", "4A", "4B", "4X")


def lung_rads_nodule(kind: str, mean_mm: float, solid_mm: float = 0.0, status: str = "baseline",
                     suspicious: bool = False) -> str:
    """One nodule. kind: solid / part-solid / ground-glass; status: baseline / new / growing / stable.

    Solid: baseline <6 -> 2, 6-<8 -> 3, 8-<15 -> 4A, >=15 -> 4B; new <4 -> 2, 4-<6 -> 3,
    6-<8 -> 4A, >=8 -> 4B; growing <8 -> 4A, >=8 -> 4B. Part-solid (total mean diameter, solid
    component): baseline total <6 -> 2, solid <6 -> 3, solid 6-<8 -> 4A, solid >=8 -> 4B; new
    total <6 -> 3, else solid <4 -> 4A, >=4 -> 4B (growing part-solid is read as "new or growing
    solid component"). Ground glass: baseline/new <30 -> 2, >=30 -> 3; stable or slowly growing
    at follow-up -> 2 at any size. Stable small (<6 mm) solid nodule -> 2.
    A category 3 or 4 nodule with additional suspicious features is 4X.
    """
    if status == "stable" and kind != "ground-glass":
        if kind == "solid" and mean_mm < 6:
            return "2"
        raise ValueError("only small solid and ground-glass nodules are encoded as stable")
    if kind == "solid":
        if status == "baseline":
            cat = "2" if mean_mm < 6 else "3" if mean_mm < 8 else "4A" if mean_mm < 15 else "4B"
        elif status == "new":
            cat = "2" if mean_mm < 4 else "3" if mean_mm < 6 else "4A" if mean_mm < 8 else "4B"
        else:
            cat = "4A" if mean_mm < 8 else "4B"
    elif kind == "part-solid":
        if status == "baseline":
            cat = "2" if mean_mm < 6 else "3" if solid_mm < 6 else "4A" if solid_mm < 8 else "4B"
        else:
            cat = "3" if mean_mm < 6 else "4A" if solid_mm < 4 else "4B"
    elif kind == "ground-glass":
        cat = "2" if mean_mm < 30 or status == "stable" else "3"
    else:
        raise ValueError(kind)
    if suspicious and cat in ("3", "4A", "4B"):
        return "4X"
    return cat


def lung_rads_exam(nodule_categories: Sequence[str], incomplete: bool = False) -> str:
    """The exam category: 0 if incomplete, else the highest nodule category (1 with no nodule)."""
    if incomplete:
        return "0"
    if not nodule_categories:
        return "1"
    return max(nodule_categories, key=LUNG_RADS_ORDER.index)


def mean_diameter(long_mm: float, short_mm: float) -> float:
    return round((long_mm + short_mm) / 2, 1)


# --- PI-RADS v2.1 -----------------------------------------------------------------------------

def pirads(zone: str, dwi: int, t2w: int, dce_positive: bool) -> str:
    """Peripheral zone: DWI score, upgraded 3 -> 4 by positive DCE. Transition zone: T2W score,
    2 -> 3 when DWI >= 4, 3 -> 4 when DWI = 5."""
    if zone == "peripheral":
        return "4" if dwi == 3 and dce_positive else str(dwi)
    if zone == "transition":
        if t2w == 2 and dwi >= 4:
            return "3"
        if t2w == 3 and dwi == 5:
            return "4"
        return str(t2w)
    raise ValueError(zone)


# --- O-RADS US v2022 (the lexicon categories the generator writes) ------------------------------

def orads(lesion: str, size_cm: float, *, postmenopausal: bool = False, color_score: int = 1,
          papillary: int = 0, irregular: bool = False) -> str:
    """lesion: follicle, simple cyst, hemorrhagic cyst, dermoid cyst, endometrioma, multilocular cyst,
    unilocular cyst with solid component, solid, incomplete, ascites with peritoneal nodules."""
    if lesion == "incomplete":
        return "0"
    if lesion == "ascites with peritoneal nodules":
        return "5"
    if lesion == "follicle":
        return "1"
    if lesion == "simple cyst":
        if size_cm <= 3 and not postmenopausal:
            return "1"
        return "2" if size_cm < 10 else "3"
    if lesion in ("hemorrhagic cyst", "dermoid cyst", "endometrioma"):
        return "2" if size_cm < 10 else "3"
    if lesion == "multilocular cyst":
        if irregular or color_score == 4:
            return "4"
        return "3" if size_cm < 10 else "4"
    if lesion == "unilocular cyst with solid component":
        return "5" if papillary >= 4 else "4"
    if lesion == "solid":
        if irregular:
            return "5"
        return {1: "3", 2: "4", 3: "4", 4: "5"}[color_score]
    raise ValueError(lesion)


# --- CAD-RADS 2.0 (2022) ----------------------------------------------------------------------

CAD_TERRITORY = {"LM": "LM", "LAD": "LAD", "D1": "LAD", "LCx": "LCx", "OM1": "LCx", "RCA": "RCA", "PDA": "RCA"}


def cad_rads(stenosis: dict[str, int], nondiagnostic: bool = False) -> str:
    """stenosis: segment -> maximal diameter stenosis %. 0: none; 1: 1-24; 2: 25-49; 3: 50-69;
    4A: 70-99 in one or two vessels; 4B: left main >= 50% or three-vessel >= 70%; 5: occlusion."""
    if nondiagnostic:
        return "N"
    worst = max(stenosis.values(), default=0)
    if worst >= 100:
        return "5"
    severe = {CAD_TERRITORY[v] for v, p in stenosis.items() if p >= 70}
    if stenosis.get("LM", 0) >= 50 or {"LAD", "LCx", "RCA"} <= severe:
        return "4B"
    if worst >= 70:
        return "4A"
    return "0" if worst == 0 else "1" if worst < 25 else "2" if worst < 50 else "3"


# --- Category by defining feature: NI-RADS, VI-RADS, C-RADS, BI-RADS ----------------------------

# NI-RADS (ACR white paper 2018), primary site.
NI_RADS_PRIMARY = {
    "expected post-treatment change": "1",
    "superficial mucosal enhancement": "2a",
    "deep ill-defined soft tissue": "2b",
    "discrete nodule or mass": "3",
    "definite recurrence": "4",
}

# VI-RADS (Panebianco et al., Eur Urol 2018), by T2-weighted appearance of the muscularis propria.
VI_RADS_T2 = {
    "<1 cm stalked, muscle intact": "1",
    ">=1 cm stalked or thickened inner layer, muscle intact": "2",
    "no stalk or inner layer, no clear muscle disruption": "3",
    "muscle interrupted": "4",
    "extends into perivesical fat": "5",
}


def c_rads_colon(polyps_mm: Sequence[float], mass: bool = False, inadequate: bool = False) -> str:
    """C0 inadequate; C4 likely malignant mass; C3 a polyp >= 10 mm or >= 3 polyps of 6-9 mm;
    C2 one or two 6-9 mm polyps; C1 no polyp >= 6 mm."""
    if inadequate:
        return "C0"
    if mass:
        return "C4"
    medium = [p for p in polyps_mm if 6 <= p < 10]
    if any(p >= 10 for p in polyps_mm) or len(medium) >= 3:
        return "C3"
    return "C2" if medium else "C1"


# C-RADS extracolonic: E0 limited, E1 normal or variant, E2 clinically unimportant, E3 likely
# unimportant but incompletely characterised, E4 potentially important.
C_RADS_EXTRACOLONIC = {"limited": "E0", "normal": "E1", "unimportant": "E2", "indeterminate": "E3", "important": "E4"}

# BI-RADS (ACR Atlas 5th ed.) assessment categories by their defining wording.
BI_RADS_WORDING = {
    "0": "Incomplete - need additional imaging evaluation",
    "1": "Negative",
    "2": "Benign",
    "3": "Probably benign",
    "4": "Suspicious",
    "4A": "Suspicious - low suspicion for malignancy",
    "4B": "Suspicious - moderate suspicion for malignancy",
    "4C": "Suspicious - high suspicion for malignancy",
    "5": "Highly suggestive of malignancy",
    "6": "Known biopsy-proven malignancy",
}
