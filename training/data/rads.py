"""Generated rads_assignment data: short synthetic reports whose category follows from the text.

Every example is written from sampled ACR-lexicon features; the category is then *computed* from
those features by the published rule (``training/data/rads_rules.py``), never chosen first and
pasted in. Targets are drawn evenly per category and features re-sampled until the rule gives the
target, so the rule -- not the sampler -- decides every label.

Per system (the category sets are ``SYSTEMS`` in integration/tasks/rads_assignment.py):

* TI-RADS: thyroid nodule composition, echogenicity, shape, margin, echogenic foci -> ACR points
  -> TR level (spongiform scores 0 and takes no more points).
* LI-RADS: high-risk liver; nonrim APHE, size, nonperipheral washout, enhancing capsule, threshold
  growth (>= 50% in <= 6 months, written as two sizes) -> LR-3/4/5 by the v2018 table; LR-1 (simple
  cyst, typical hemangioma), LR-2 (probable hemangioma/cyst), LR-M (targetoid), LR-TIV (tumour
  in vein), LR-NC (degraded phase) by their definitions.
* PI-RADS v2.1: zone, lesion size, DWI/ADC pattern, T2W pattern, DCE -> DWI score (PZ, DCE
  upgrade 3 -> 4) or T2W score with the DWI modifiers (TZ); 4 vs 5 by size 1.5 cm / EPE.
* Lung-RADS v2022: screening CT nodules (solid, part-solid, ground glass), long x short axis in mm
  (the rule uses the mean diameter), baseline / new / growing, spiculation or adenopathy (4X);
  1 for no nodule or benign calcification, 0 for incomplete or infectious-looking findings.
* BI-RADS: 0 (recall for additional imaging), 1 (negative), 2 (benign findings), 3 (probably
  benign with 6-month follow-up), 5 (spiculated mass with fine linear branching calcifications),
  6 (known biopsy-proven cancer) from the findings; 4/4A/4B/4C only with the assessment wording
  ("Suspicious - moderate suspicion for malignancy") or a stated category, because the Atlas
  leaves the subcategory to the radiologist.
* O-RADS US v2022: menopausal status, lesion type, size (10 cm threshold), colour score,
  papillary projections, irregular inner wall or outer contour, ascites with peritoneal nodules.
* CAD-RADS 2.0: maximal stenosis per segment (percent or grading word) -> 0-5, 4B for left main
  >= 50% or three-vessel >= 70% disease, N for a nondiagnostic study.
* NI-RADS (primary site): expected change 1, superficial mucosal enhancement 2a, deep ill-defined
  tissue 2b, discrete new/enlarging nodule 3, definite/biopsy-proven recurrence 4; neck nodes benign.
* VI-RADS: T2 appearance of the muscularis propria and the lesion (size 1 cm, stalk, inner layer,
  interruption, perivesical fat).
* C-RADS: CT colonography colonic section (C0-C4 from polyp sizes/counts, mass, inadequate prep) or
  an extracolonic-only section (E0-E4: the most important finding; a lesser E1/E2 finding may be
  listed beside it).

About a quarter of the reports also state the category (as the number, or for TI-RADS sometimes
only the point total); the rest must be derived. Traps: a history line about another organ system
(thyroid report, "history of breast cancer"), sometimes naming that system's earlier category.
"No applicable RADS" examples: real IU chest X-ray reports (passed in by the builder, they keep
their IU split) and synthetic non-RADS exams (head CT, knee MRI, a diagnostic chest CT nodule with
Fleischner follow-up, a thyroid ultrasound without a nodule, a Bosniak renal cyst...).

Split: a synthetic report's split is a seeded hash of its *text*, so two identical synthetic reports
always share a split (the builder then drops exact duplicates).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from integration.tasks.rads_assignment import SYSTEMS
from training.data import rads_rules as rules
from training.data.rows import Row, make_row, seeded_split

TASK = "rads_assignment"


@dataclass(frozen=True)
class Example:
    text: str
    system: str | None
    category: str | None
    stated: bool = False


@dataclass(frozen=True)
class Draft:
    """What a system writer returns: an exam line, findings, impression and the computed category."""

    exam: str
    findings: str
    impression: str
    category: str
    history: str = ""
    stated_text: str = ""  # how the category would be stated, when the writer wants a custom form


def _side(r: random.Random) -> str:
    return r.choice(("right", "left"))


def _cm(r: random.Random, lo: float, hi: float) -> float:
    return round(r.uniform(lo, hi), 1)


def _retry(r: random.Random, target: str, sample: Callable[[random.Random], Draft], tries: int = 5000) -> Draft:
    for _ in range(tries):
        d = sample(r)
        if d.category == target:
            return d
    raise RuntimeError(f"could not sample category {target}")


# --- TI-RADS -------------------------------------------------------------------------------------

_TR_NAMES = {"TR1": "benign", "TR2": "not suspicious", "TR3": "mildly suspicious", "TR4": "moderately suspicious", "TR5": "highly suspicious"}


def _thyroid(r: random.Random, target: str) -> Draft:
    def sample(r: random.Random) -> Draft:
        if target == "TR1":
            comp = r.choice(("cystic", "spongiform"))
            echo = "anechoic" if comp == "cystic" else r.choice(("isoechoic", "hyperechoic"))
            shape, margin = "wider-than-tall", "smooth"
            foci = [r.choice(("none", "large comet-tail artifacts"))]
        else:
            comp = r.choice(("mixed cystic and solid", "solid", "solid"))
            echo = r.choice(("isoechoic", "hyperechoic", "hypoechoic", "hypoechoic", "very hypoechoic"))
            shape = "taller-than-wide" if r.random() < 0.2 else "wider-than-tall"
            margin = r.choice(("smooth", "smooth", "ill-defined", "lobulated", "irregular", "extrathyroidal extension"))
            foci = r.sample(["macrocalcifications", "peripheral (rim) calcifications", "punctate echogenic foci"], r.choice((0, 0, 1, 1, 2)))
            foci = foci or ["none"]
        points = rules.tirads_points(comp, echo, shape, margin, foci)
        level = rules.tirads_level(points)
        lobe, pole = _side(r), r.choice(("upper", "mid", "lower"))
        size = _cm(r, 0.6, 3.8)
        dims = f"{size} x {round(size * r.uniform(0.6, 0.9), 1)} x {round(size * r.uniform(0.5, 0.8), 1)} cm"
        foci_text = "no echogenic foci" if foci == ["none"] else " and ".join(foci)
        comp_text = {"cystic": "cystic (almost completely cystic)", "solid": r.choice(("solid", "solid or almost completely solid"))}.get(comp, comp)
        if r.random() < 0.5:
            findings = (
                f"{lobe.capitalize()} lobe, {pole} pole: nodule measuring {dims}. Composition: {comp_text}. "
                f"Echogenicity: {echo}. Shape: {shape}. Margin: {margin}. Echogenic foci: {foci_text}."
            )
        else:
            findings = (
                f"There is a {size} cm {comp_text} {echo} nodule in the {pole} pole of the {lobe} lobe. "
                f"It is {shape.replace('-', ' ')} with {margin} margins"
                + (" (extrathyroidal extension)" if margin == "extrathyroidal extension" else "")
                + f" and {foci_text}."
            ).replace("with extrathyroidal extension margins (extrathyroidal extension)", "and shows extrathyroidal extension")
        other = _side(r) if r.random() < 0.5 else ""
        findings = f"Thyroid gland normal in size. {findings}" + (f" The {other} lobe is otherwise unremarkable." if other else "")
        return Draft(
            "US THYROID", findings, f"{lobe.capitalize()} {pole} pole thyroid nodule as described.", level,
            stated_text=r.choice((f"ACR TI-RADS {level} ({_TR_NAMES[level]}).", f"ACR TI-RADS total points: {points}.", f"TI-RADS {level}.")),
        )

    return _retry(r, target, sample)


# --- LI-RADS -------------------------------------------------------------------------------------

_SEGMENTS = ("II", "III", "IVa", "IVb", "V", "VI", "VII", "VIII")


def _liver(r: random.Random, target: str) -> Draft:
    seg = r.choice(_SEGMENTS)
    history = r.choice(("Cirrhosis secondary to hepatitis C. HCC surveillance.", "Alcoholic cirrhosis, HCC screening.",
                        "Chronic hepatitis B. Surveillance for hepatocellular carcinoma.", "NASH cirrhosis, surveillance."))
    exam = r.choice(("MRI ABDOMEN WITH AND WITHOUT CONTRAST (LIVER PROTOCOL)", "CT ABDOMEN MULTIPHASE LIVER PROTOCOL"))
    base = "The liver is cirrhotic with a nodular contour. "
    if target == "LR-1":
        size = _cm(r, 0.5, 3.0)
        obs = r.choice((
            f"{size} cm simple cyst with no enhancement and fluid attenuation/signal",
            f"{size} cm hemangioma with peripheral discontinuous nodular enhancement and progressive centripetal fill-in",
        ))
        return Draft(exam, base + f"Segment {seg}: {obs}.", f"Segment {seg} observation, definitely benign.", target, history)
    if target == "LR-2":
        size = _cm(r, 0.4, 1.8)
        obs = r.choice((
            f"{size} cm probable small hemangioma without a fully typical enhancement pattern",
            f"{size} cm probable cyst, too small to fully characterize",
            f"{size} cm distinctive nodule without any major feature, most likely a regenerative nodule",
        ))
        return Draft(exam, base + f"Segment {seg}: {obs}.", f"Segment {seg} observation, probably benign.", target, history)
    if target == "LR-M":
        size = _cm(r, 1.5, 6.0)
        obs = (f"{size} cm targetoid mass with rim arterial phase hyperenhancement, peripheral washout and "
               f"delayed central enhancement" + r.choice(("", ", with targetoid diffusion restriction")))
        return Draft(exam, base + f"Segment {seg}: {obs}.", f"Segment {seg} targetoid mass, probably or definitely malignant, not specific for HCC.", target, history)
    if target == "LR-TIV":
        vein = r.choice(("right portal vein", "main portal vein", "left portal vein", "middle hepatic vein"))
        return Draft(exam, base + f"Unequivocal enhancing soft tissue expands the {vein}, contiguous with an infiltrative segment {seg} mass.",
                     f"Tumor in vein ({vein}).", target, history)
    if target == "LR-NC":
        phase = r.choice(("arterial phase images are nondiagnostic due to respiratory motion", "the portal venous phase was not acquired"))
        return Draft(exam, base + f"A {_cm(r, 1.0, 3.0)} cm observation in segment {seg} cannot be characterized because {phase}.",
                     f"Segment {seg} observation, not categorizable.", target, history)

    def sample(r: random.Random) -> Draft:
        aphe = r.random() < 0.65
        size_mm = round(r.uniform(6, 45))
        washout, capsule = r.random() < 0.45, r.random() < 0.35
        growth = r.random() < 0.2
        cat = rules.lirads_major(aphe, size_mm, washout, capsule, growth)
        feats = [
            "nonrim arterial phase hyperenhancement" if aphe else "no arterial phase hyperenhancement",
            "nonperipheral washout" if washout else "no washout",
            "an enhancing capsule" if capsule else "no enhancing capsule",
        ]
        size = f"{size_mm} mm" if r.random() < 0.5 else f"{size_mm / 10:.1f} cm"
        if growth:
            prior = round(size_mm / r.uniform(1.6, 2.2))
            months = r.choice((3, 4, 5, 6))
            course = f" It measured {prior} mm on MRI {months} months ago."
        else:
            course = r.choice((" No prior imaging for comparison.", f" Previously {size_mm} mm, unchanged.", ""))
        findings = base + f"Segment {seg}: {size} observation with {', '.join(feats[:-1])} and {feats[-1]}.{course}"
        return Draft(exam, findings, f"Segment {seg} observation as described.", cat, history)

    return _retry(r, target, sample)


# --- PI-RADS -------------------------------------------------------------------------------------

_DWI = {
    1: "no abnormality on ADC or high b-value DWI",
    2: "linear/wedge-shaped mild hypointensity on ADC without focal restriction",
    3: "focal mild to moderate hypointensity on ADC and isointense to mildly hyperintense signal on high b-value DWI",
    "marked": "focal marked hypointensity on ADC and marked hyperintensity on high b-value DWI",
}
_T2_TZ = {
    1: "a round, completely encapsulated nodule (typical BPH nodule)",
    2: "a mostly encapsulated, homogeneous circumscribed nodule",
    3: "heterogeneous signal intensity with obscured margins",
    "lenticular": "a lenticular, non-circumscribed, homogeneous moderately hypointense lesion",
}


def _prostate(r: random.Random, target: str) -> Draft:
    def sample(r: random.Random) -> Draft:
        zone = r.choice(("peripheral", "transition"))
        size = _cm(r, 0.5, 2.4)
        epe = r.random() < 0.1
        big = size >= 1.5 or epe
        dwi_p = r.choice((1, 2, 3, "marked", "marked"))
        t2_p = r.choice((1, 2, 3, "lenticular"))
        if zone == "transition" and t2_p == 1:
            dwi_p = r.choice((1, 2))  # a typical BPH nodule does not restrict markedly
        dwi = (5 if big else 4) if dwi_p == "marked" else dwi_p
        t2 = (5 if big else 4) if t2_p == "lenticular" else t2_p
        dce = r.random() < 0.5
        cat = rules.pirads(zone, dwi, t2, dce)
        side = _side(r)
        level = r.choice(("base", "mid gland", "apex"))
        loc = f"{side} {'posterolateral peripheral' if zone == 'peripheral' else 'anterior transition'} zone at the {level}"
        epe_text = " with definite extraprostatic extension" if epe else ""
        if zone == "peripheral":
            if dwi == 1:
                findings = f"Peripheral zone: no focal lesion; {_DWI[1]}. DCE: negative."
            else:
                findings = (f"Peripheral zone: {size} cm lesion in the {loc}{epe_text}, showing {_DWI[dwi_p]}. "
                            f"DCE: {'positive, focal early enhancement corresponding to the lesion' if dce else 'negative'}.")
            findings += " Transition zone: enlarged with typical BPH nodules."
        else:
            findings = (f"Transition zone: {size} cm {'nodule' if t2 in (1, 2) else 'lesion'} in the {loc}{epe_text}. "
                        f"T2W: {_T2_TZ[t2_p]}. DWI: {_DWI[dwi_p]}.")
            findings += " Peripheral zone: no focal lesion."
        return Draft("MRI PROSTATE MULTIPARAMETRIC",
                     f"Prostate volume {r.randint(25, 90)} mL. PSA {round(r.uniform(3, 18), 1)} ng/mL. " + findings,
                     "Findings as above." if r.random() < 0.5 else f"{'Lesion' if not (zone == 'peripheral' and dwi == 1) else 'No lesion'} as described.",
                     cat, history=r.choice(("Elevated PSA.", "Rising PSA, prior negative biopsy.", "")))

    return _retry(r, target, sample)


# --- Lung-RADS ---------------------------------------------------------------------------------

_LOBES = ("right upper lobe", "right middle lobe", "right lower lobe", "left upper lobe", "lingula", "left lower lobe")


def _lung_screen(r: random.Random, target: str) -> Draft:
    followup = r.random() < 0.5
    exam = "LOW-DOSE CT CHEST FOR LUNG CANCER SCREENING"
    history = f"{r.randint(55, 79)}-year-old, {r.randint(20, 60)} pack-years, " + (
        "annual screening; comparison with prior screening CT 12 months ago." if followup else "baseline screening, no prior CT.")
    if target == "0":
        findings = r.choice((
            "The lung bases were excluded from the field of view; part of the lungs cannot be evaluated.",
            "Patchy consolidation with air bronchograms in the " + r.choice(_LOBES) + ", suggestive of an infectious or inflammatory process.",
        ))
        return Draft(exam, findings, "Incomplete/indeterminate screening examination; see recommendations.", "0", history)
    if target == "1":
        findings = r.choice(("No pulmonary nodules.", f"{r.randint(4, 9)} mm completely calcified granuloma in the {r.choice(_LOBES)}.",
                             f"{r.randint(6, 14)} mm nodule in the {r.choice(_LOBES)} with popcorn calcification.",
                             f"{r.randint(6, 14)} mm fat-containing nodule in the {r.choice(_LOBES)}, consistent with hamartoma."))
        return Draft(exam, findings + " No mediastinal adenopathy.", "Negative lung cancer screening CT.", "1", history)

    def nodule(r: random.Random) -> tuple[str, str]:
        kind = r.choice(("solid", "solid", "part-solid", "ground-glass"))
        status = "baseline" if not followup else r.choice(("new", "growing", "stable"))
        if kind == "ground-glass":
            long = r.choice((round(r.uniform(6, 29)), round(r.uniform(30, 45))))
            status = "baseline" if not followup else r.choice(("new", "stable"))
        else:
            long = round(r.uniform(3 if kind == "solid" else 5, 24))
        short = max(2, round(long * r.uniform(0.6, 1.0)))
        mean = rules.mean_diameter(long, short)
        solid = round(r.uniform(2, max(2, min(12, mean - 1)))) if kind == "part-solid" else 0
        if status == "stable" and (kind == "solid" and mean >= 6 or kind == "part-solid"):
            status = "new"
        suspicious = kind != "ground-glass" and r.random() < 0.15
        cat = rules.lung_rads_nodule(kind, mean, solid, status, suspicious)
        lobe = r.choice(_LOBES)
        desc = {"solid": "solid nodule", "part-solid": f"part-solid nodule with a {solid} mm solid component",
                "ground-glass": r.choice(("ground-glass nodule", "nonsolid (ground-glass) nodule"))}[kind]
        size = f"{long} x {short} mm" + (f" (mean diameter {mean:g} mm)" if r.random() < 0.3 else "")
        if status == "new":
            course = " New since the prior examination."
        elif status == "growing":
            course = f" Previously {max(2, long - r.randint(2, 5))} x {max(2, short - r.randint(2, 4))} mm, enlarging."
        elif status == "stable":
            course = " Unchanged from the prior examination."
        else:
            course = ""
        extra = (" " + r.choice(("It has spiculated margins.", "Associated enlarged right hilar lymph node.", "Spiculated margins with pleural retraction."))) if suspicious else ""
        return f"{lobe.capitalize()}: {size} {desc}.{course}{extra}", cat

    def sample(r: random.Random) -> Draft:
        nodules = [nodule(r) for _ in range(r.choice((1, 1, 2)))]
        cat = rules.lung_rads_exam([c for _, c in nodules])
        findings = "Lungs: " + " ".join(t for t, _ in nodules) + " " + r.choice(("Mild centrilobular emphysema.", "No consolidation.", ""))
        return Draft(exam, findings.strip(), "Screening findings as described.", cat, history)

    return _retry(r, target, sample)


# --- BI-RADS ------------------------------------------------------------------------------------

_QUADRANTS = ("upper outer quadrant", "upper inner quadrant", "lower outer quadrant", "lower inner quadrant", "retroareolar region")
_DENSITY = ("The breasts are almost entirely fatty.", "There are scattered areas of fibroglandular density.",
            "The breasts are heterogeneously dense, which may obscure small masses.", "The breasts are extremely dense.")


def _breast(r: random.Random, target: str) -> Draft:
    side, quad = _side(r), r.choice(_QUADRANTS)
    clock = f"{r.randint(1, 12)} o'clock, {r.randint(1, 12)} cm from the nipple"
    size = _cm(r, 0.4, 2.8)
    density = r.choice(_DENSITY)
    wording_needed = target in ("4", "4A", "4B", "4C")
    if target == "0":
        exam, f = "SCREENING MAMMOGRAM, BILATERAL", r.choice((
            f"Possible focal asymmetry in the {side} breast {quad}, seen on the CC view only.",
            f"Possible mass in the {side} breast {quad}, partially obscured.",
            f"Possible architectural distortion in the {side} breast {quad}."))
        imp = "Additional imaging evaluation with diagnostic mammography and ultrasound is recommended."
    elif target == "1":
        exam, f = "SCREENING MAMMOGRAM, BILATERAL", "No suspicious masses, calcifications, or architectural distortion. No significant change from prior studies."
        imp = "No mammographic evidence of malignancy. Routine annual screening."
    elif target == "2":
        exam = r.choice(("SCREENING MAMMOGRAM, BILATERAL", "DIAGNOSTIC MAMMOGRAM AND ULTRASOUND"))
        f = r.choice((
            f"Coarse popcorn-like calcifications in the {side} breast, consistent with an involuting fibroadenoma.",
            f"{size} cm simple cyst at {clock} in the {side} breast: anechoic, circumscribed, posterior acoustic enhancement.",
            f"Intramammary lymph node with a fatty hilum in the {side} upper outer quadrant.",
            f"Oil cyst at the {side} lumpectomy site, stable.",
            "Bilateral large rod-like secretory calcifications.",
            "Intact bilateral silicone implants."))
        imp = "Benign findings. Routine annual screening."
    elif target == "3":
        exam = "DIAGNOSTIC ULTRASOUND, " + side.upper() + " BREAST"
        f = f"At {clock} there is a {size} cm oval, circumscribed, parallel, hypoechoic mass with no prior imaging, most consistent with a fibroadenoma."
        imp = f"Short-interval follow-up {side} breast ultrasound in 6 months is recommended."
    elif target == "5":
        exam = "DIAGNOSTIC MAMMOGRAM AND ULTRASOUND"
        f = (f"{size + 1:.1f} cm irregular, spiculated, high-density mass in the {side} breast {quad} with associated fine linear "
             f"branching calcifications in a segmental distribution" + r.choice(("", ", skin thickening and nipple retraction")) + ".")
        imp = "Ultrasound-guided core biopsy recommended."
    elif target == "6":
        exam = "DIAGNOSTIC MAMMOGRAM FOR STAGING"
        f = (f"Known biopsy-proven {r.choice(('invasive ductal carcinoma', 'invasive lobular carcinoma', 'DCIS'))} in the {side} breast {quad}, "
             f"biopsy clip in place within a {size + 0.8:.1f} cm irregular mass. No additional suspicious findings.")
        imp = "Known malignancy; pre-treatment evaluation. Surgical management as planned."
    else:  # suspicious: features plus the assessment wording
        exam = "DIAGNOSTIC MAMMOGRAM AND ULTRASOUND"
        feature = {
            "4A": (f"{size} cm oval, mostly circumscribed hypoechoic mass with a partially indistinct margin at {clock}",
                   f"{size} cm complicated cyst with a thin septation at {clock}"),
            "4B": (f"grouped amorphous calcifications over {size} cm in the {quad}",
                   f"{size} cm irregular hypoechoic mass with indistinct margins at {clock}"),
            "4C": (f"fine pleomorphic calcifications in a linear distribution over {size + 0.5:.1f} cm in the {quad}",
                   f"{size} cm irregular, angular, non-parallel hypoechoic mass at {clock}"),
            "4": (f"{size} cm irregular hypoechoic mass at {clock}", f"new grouped calcifications in the {quad}"),
        }[target]
        f = f"{side.capitalize()} breast: {r.choice(feature)}."
        imp = "Tissue sampling is recommended."
    stated = f"BI-RADS {target}: {rules.BI_RADS_WORDING[target]}." if r.random() < 0.5 else f"Assessment: {rules.BI_RADS_WORDING[target]}."
    if target == "4" and "BI-RADS" not in stated:
        stated = "Assessment: Suspicious abnormality - biopsy should be considered."
    if wording_needed:
        imp = f"{imp} {stated}"
    if exam.startswith("SCREENING"):
        history = r.choice(("Screening.", "Annual screening. Family history of breast cancer.", ""))
    elif target == "6":
        history = f"Recently diagnosed {side} breast cancer."
    else:
        history = r.choice((f"Palpable lump, {side} breast.", "Callback from screening.", f"Focal pain, {side} breast."))
    return Draft(exam, f"{density} {f}" if "MAMMOGRAM" in exam else f, imp, target, history=history,
                 stated_text=stated if not wording_needed else "")


# --- O-RADS --------------------------------------------------------------------------------------

_CS = {1: "no internal vascularity (color score 1)", 2: "minimal internal flow (color score 2)",
       3: "moderate internal flow (color score 3)", 4: "very strong internal flow (color score 4)"}


def _adnexa(r: random.Random, target: str) -> Draft:
    exam = "PELVIC ULTRASOUND, TRANSABDOMINAL AND TRANSVAGINAL"
    if target == "0":
        return Draft(exam, f"The {_side(r)} ovary is not visualized due to overlying bowel gas; the adnexa cannot be adequately evaluated.",
                     "Incomplete evaluation.", "0", r.choice(("Pelvic pain.", "Adnexal mass on exam.")))

    def sample(r: random.Random) -> Draft:
        post = r.random() < 0.4
        lesion = r.choice(("simple cyst", "simple cyst", "hemorrhagic cyst", "dermoid cyst", "endometrioma", "multilocular cyst",
                           "unilocular cyst with solid component", "solid", "ascites with peritoneal nodules"))
        if lesion == "hemorrhagic cyst" and post:
            lesion = "simple cyst"
        size = _cm(r, 1.5, 9.4) if r.random() < 0.65 else _cm(r, 10.6, 16)
        cs = r.choice((1, 2, 3, 4))
        papillary = r.choice((1, 2, 3, 4, 5)) if lesion == "unilocular cyst with solid component" else 0
        irregular = lesion in ("multilocular cyst", "solid") and r.random() < 0.3
        cat = rules.orads(lesion, size, postmenopausal=post, color_score=cs, papillary=papillary, irregular=irregular)
        side = _side(r)
        text = {
            "simple cyst": f"{size} cm simple cyst: unilocular, anechoic, smooth thin wall, posterior acoustic enhancement, no internal flow.",
            "hemorrhagic cyst": f"{size} cm unilocular cyst with reticular (lacy) internal echoes and a retractile clot, no internal flow; classic hemorrhagic cyst.",
            "dermoid cyst": f"{size} cm cyst with a hyperechoic component with acoustic shadowing and hyperechoic lines and dots; classic dermoid cyst.",
            "endometrioma": f"{size} cm unilocular cyst with homogeneous low-level (ground-glass) echoes and no internal flow; classic endometrioma.",
            "multilocular cyst": f"{size} cm multilocular cyst without a solid component, with {'irregular' if irregular else 'smooth'} inner walls and septations; septations show {_CS[cs]}.",
            "unilocular cyst with solid component": f"{size} cm unilocular cyst with {papillary} papillary projection{'s' if papillary > 1 else ''}; {_CS[cs]}.",
            "solid": f"{size} cm solid mass with a{'n irregular' if irregular else ' smooth'} outer contour and {_CS[cs]}.",
            "ascites with peritoneal nodules": f"{size} cm complex adnexal mass. Moderate ascites with peritoneal nodules.",
        }[lesion]
        status = "Postmenopausal." if post else r.choice(("Premenopausal, LMP two weeks ago.", "Premenopausal."))
        if lesion == "simple cyst" and size <= 3 and not post and r.random() < 0.5:
            text = f"{size} cm dominant follicle."
        return Draft(exam, f"{side.capitalize()} ovary: {text} Contralateral ovary unremarkable.", "Adnexal finding as described.",
                     cat, history=status)

    return _retry(r, target, sample)


# --- CAD-RADS --------------------------------------------------------------------------------

_GRADE_WORDS = ((0, "no stenosis"), (24, "minimal (1-24%) stenosis"), (49, "mild (25-49%) stenosis"),
                (69, "moderate (50-69%) stenosis"), (99, "severe (70-99%) stenosis"), (100, "total occlusion"))
_SEGMENT_TEXT = {"LM": "Left main", "LAD": "LAD", "D1": "First diagonal", "LCx": "Left circumflex", "OM1": "First obtuse marginal",
                 "RCA": "RCA", "PDA": "PDA"}


def _grade_text(r: random.Random, pct: int) -> str:
    if pct == 0:
        return r.choice(("no plaque or stenosis", "normal"))
    plaque = r.choice(("calcified", "noncalcified", "mixed"))
    if pct == 100:
        return f"{plaque} plaque with total occlusion (100%)"
    if r.random() < 0.5:
        return f"{plaque} plaque causing {pct}% stenosis"
    word = next(w for hi, w in _GRADE_WORDS if pct <= hi)
    return f"{plaque} plaque causing {word}"


def _coronary(r: random.Random, target: str) -> Draft:
    exam = "CORONARY CT ANGIOGRAPHY"
    history = r.choice(("Atypical chest pain.", "Chest pain, intermediate pretest probability.", "Dyspnea on exertion."))
    if target == "N":
        return Draft(exam, f"Nondiagnostic study: severe motion artifact precludes evaluation of the {r.choice(('mid RCA', 'proximal LCx', 'mid LAD'))}. "
                     "The remaining segments show no high-grade stenosis.", "Nondiagnostic study.", "N", history)

    def sample(r: random.Random) -> Draft:
        level = r.choice((0, 1, 2, 3, 4, 5))
        pools = {0: (0,), 1: (0, 10, 20), 2: (0, 15, 30, 40), 3: (0, 20, 40, 55, 60), 4: (0, 30, 55, 75, 80, 90), 5: (0, 30, 60, 80, 100)}[level]
        stenosis = {seg: r.choice(pools) for seg in _SEGMENT_TEXT}
        if r.random() < 0.6:
            stenosis["LM"] = min(stenosis["LM"], r.choice((0, 0, 20, 30)))
        cat = rules.cad_rads(stenosis)
        lines = []
        for seg, pct in stenosis.items():
            where = f" in the {r.choice(('proximal', 'mid', 'distal'))} segment" if seg in ("LAD", "RCA", "LCx") and pct else ""
            grade = _grade_text(r, pct)
            if where:
                plaque, _, rest = grade.partition(" causing ")
                grade = f"{plaque}{where} causing {rest}" if rest else f"{grade}{where}"
            lines.append(f"{_SEGMENT_TEXT[seg]}: {grade}.")
        score = r.choice((0, 12, 85, 240, 610)) if cat != "0" else 0
        findings = f"Coronary artery calcium score: {score}. Right dominant circulation. " + " ".join(lines)
        return Draft(exam, findings, "Coronary artery disease as described." if cat != "0" else "No coronary artery disease.", cat, history)

    return _retry(r, target, sample)


# --- NI-RADS, VI-RADS, C-RADS ---------------------------------------------------------------------

_NI_TEXT = {
    "1": ("Expected post-treatment changes at the primary site: non-mass-like soft tissue distortion with diffuse, thin, low-level mucosal enhancement.",
          "No evidence of recurrence at the primary site; expected post-radiation edema."),
    "2a": ("Focal superficial mucosal enhancement at the primary site, non-mass-like, without a deep component.",),
    "2b": ("Deep, ill-defined soft tissue at the primary site with mild differential enhancement, not discrete.",),
    "3": ("New {s} cm discrete nodule with intense enhancement at the primary site.",
          "Enlarging {s} cm discrete mass at the primary site with intense FDG uptake."),
    "4": ("Biopsy-proven recurrent squamous cell carcinoma at the primary site ({s} cm).",
          "Definite recurrence: {s} cm enlarging mass with bone erosion and clinical progression."),
}
_NECK_EXTRA = ("Thyroid gland unremarkable.", "Paranasal sinuses are clear.", "Dental amalgam streak artifact.",
               "Stable post-surgical changes of the flap reconstruction.", "Lung apices are clear.", "Mild cervical spondylosis.")


def _neck(r: random.Random, target: str) -> Draft:
    site = r.choice(("oropharyngeal", "laryngeal", "oral tongue", "hypopharyngeal"))
    primary = r.choice(_NI_TEXT[target]).format(s=_cm(r, 0.8, 3.5))
    neck = r.choice(("Neck: no new or enlarging lymph nodes; post-treatment changes of neck dissection.",
                     "No residual or new cervical lymphadenopathy.", "Neck nodes: no abnormal lymph nodes."))
    findings = " ".join([primary, neck] + r.sample(_NECK_EXTRA, r.choice((0, 1, 2))))
    return Draft(r.choice(("CT NECK WITH CONTRAST", "PET/CT NECK")), findings, "Post-treatment surveillance as described.", target,
                 history=f"{site.capitalize()} squamous cell carcinoma, status post chemoradiation. Surveillance.")


_VI_TEXT = {
    "1": "{s} cm exophytic papillary lesion on a stalk; uninterrupted low-signal muscularis propria on T2W.",
    "2": "{s} cm exophytic lesion with a stalk and a thickened high-signal inner layer; uninterrupted low-signal muscularis propria.",
    "3": "{s} cm sessile, broad-based lesion without a stalk or thickened inner layer; no clear disruption of the low-signal muscularis propria.",
    "4": "{s} cm intermediate-signal tumor that interrupts the low-signal muscularis propria; no extension into the perivesical fat.",
    "5": "{s} cm tumor that extends through the entire bladder wall into the perivesical fat.",
}


def _bladder(r: random.Random, target: str) -> Draft:
    size = _cm(r, 0.3, 0.9) if target == "1" else _cm(r, 1.1, 4.5)
    wall = r.choice(("posterior wall", "left lateral wall", "right lateral wall", "trigone", "dome"))
    dwi = {"1": "", "2": "", "3": "", "4": " DWI: the tumor extends into the muscle layer.", "5": " DWI/DCE concordant."}[target]
    findings = f"Bladder {wall}: " + _VI_TEXT[target].format(s=size) + dwi
    return Draft("MULTIPARAMETRIC MRI BLADDER", findings, "Bladder tumor as described.", target, history="Hematuria; bladder tumor on cystoscopy.")


_COLON_SEGMENTS = ("cecum", "ascending colon", "transverse colon", "descending colon", "sigmoid colon", "rectum")
_E_TEXT = {
    "E0": ("Evaluation of the extracolonic structures is severely limited by low-dose technique and streak artifact.",
           "Extracolonic evaluation is severely limited by beam-hardening artifact from bilateral hip prostheses."),
    "E1": ("No extracolonic abnormality.", "Retroaortic left renal vein, a normal variant.", "Circumaortic left renal vein, a normal variant."),
    "E2": ("Several simple hepatic cysts, the largest {s} cm.", "Cholelithiasis without signs of cholecystitis.",
           "{s} cm simple {side} renal cyst.", "Vertebral body hemangioma.", "Small fat-containing umbilical hernia."),
    "E3": ("Minimally complex {side} renal cyst ({s} cm), likely benign but incompletely characterized.",
           "Indeterminate {s} cm hypoattenuating hepatic lesion, likely a cyst, too small to characterize on this low-dose study.",
           "{s} cm homogeneous hyperattenuating {side} renal lesion, likely a hemorrhagic cyst, incompletely characterized."),
    "E4": ("{b} cm solid enhancing {side} renal mass.", "{b} cm infrarenal abdominal aortic aneurysm.",
           "Enlarged retroperitoneal lymph nodes up to {s} cm.", "{b} cm solid {side} adrenal mass."),
}


def _colon(r: random.Random, target: str) -> Draft:
    exam = "CT COLONOGRAPHY"
    history = r.choice(("Screening.", "Incomplete optical colonoscopy.", ""))
    if target.startswith("E"):
        def fill(t: str) -> str:
            return t.format(s=_cm(r, 0.8, 2.5), b=_cm(r, 3.0, 6.0), side=_side(r))
        found = [fill(r.choice(_E_TEXT[target]))]
        lesser = [e for e in ("E1", "E2") if e < target] if target not in ("E0", "E1") else []
        if lesser and r.random() < 0.4:  # the category is the most important finding
            found.append(fill(r.choice([t for t in _E_TEXT[r.choice(lesser)] if not t.startswith("No ")])))
            r.shuffle(found)
        return Draft(exam, "Extracolonic findings: " + " ".join(found), "", target, history)

    def sample(r: random.Random) -> Draft:
        inadequate = r.random() < 0.1
        mass = not inadequate and r.random() < 0.12
        polyps = [r.choice((3, 4, 5, 6, 7, 8, 9, 11, 14, 18)) for _ in range(r.choice((0, 1, 1, 2, 3)))]
        cat = rules.c_rads_colon(polyps, mass, inadequate)
        if inadequate:
            text = "Colonic evaluation is inadequate: poor distention of the sigmoid colon and large amounts of retained fluid and stool."
        elif mass:
            text = f"Annular, constricting mass with shouldered margins in the {r.choice(_COLON_SEGMENTS)}, likely malignant."
        elif polyps:
            text = " ".join(f"{p} mm sessile polyp in the {r.choice(_COLON_SEGMENTS)}." for p in polyps)
        else:
            text = "No colonic polyps or masses. Sigmoid diverticulosis."
        return Draft(exam, "Colonic findings: " + text, "", cat, history)

    return _retry(r, target, sample)


WRITERS: dict[str, Callable[[random.Random, str], Draft]] = {
    "BI-RADS": _breast,
    "LI-RADS": _liver,
    "PI-RADS": _prostate,
    "TI-RADS": _thyroid,
    "Lung-RADS": _lung_screen,
    "O-RADS": _adnexa,
    "CAD-RADS": _coronary,
    "NI-RADS": _neck,
    "VI-RADS": _bladder,
    "C-RADS": _colon,
}

# Another organ system's history line, for cross-system traps: system -> (history, prior-category text).
_OTHER_HISTORY = {
    "BI-RADS": ("History of left breast cancer, status post lumpectomy.", "Mammogram last month was BI-RADS 2."),
    "TI-RADS": ("Known multinodular goiter.", "Thyroid nodule previously rated ACR TI-RADS TR3."),
    "LI-RADS": ("History of hepatitis C.", "Prior liver MRI: LI-RADS LR-3 observation."),
    "PI-RADS": ("History of prostate cancer, on active surveillance.", "Prostate MRI last year: PI-RADS 2."),
    "Lung-RADS": ("Former smoker, enrolled in lung cancer screening.", "Last screening CT Lung-RADS 2."),
    "O-RADS": ("History of ovarian cyst.", "Adnexal cyst previously O-RADS 2."),
    "CAD-RADS": ("Coronary artery disease.", "Prior coronary CTA CAD-RADS 2."),
    "NI-RADS": ("History of laryngeal cancer treated 5 years ago.", "Neck CT: NI-RADS 1."),
    "VI-RADS": ("History of bladder cancer.", "Prior bladder MRI VI-RADS 2."),
    "C-RADS": ("Screening CT colonography 5 years ago.", "Prior CT colonography C1."),
}


def _compose(r: random.Random, d: Draft, system: str, state: bool, trap: bool) -> tuple[str, bool]:
    history = d.history
    if trap:
        other = r.choice([s for s in _OTHER_HISTORY if s != system])
        line = _OTHER_HISTORY[other][1 if r.random() < 0.35 else 0]
        history = f"{history} {line}".strip()
    impression = d.impression
    stated = False
    if state:
        text = d.stated_text or f"{system} {d.category}."
        impression = f"{impression} {text}".strip()
        stated = True
    stated = stated or system == "BI-RADS" and d.category in ("4", "4A", "4B", "4C")
    parts = [f"EXAM: {d.exam}"]
    if history:
        parts.append(f"{r.choice(('HISTORY', 'CLINICAL HISTORY', 'INDICATION'))}: {history}")
    parts.append(f"FINDINGS: {d.findings}")
    if impression:
        parts.append(f"IMPRESSION: {impression}")
    return "\n".join(parts), stated


# --- No applicable RADS --------------------------------------------------------------------------

_NON_RADS = (
    ("CT HEAD WITHOUT CONTRAST", "No acute intracranial hemorrhage, mass effect or territorial infarct. Mild chronic small vessel ischemic change.", "No acute intracranial abnormality."),
    ("MRI LUMBAR SPINE", "L4-L5 disc bulge with mild bilateral foraminal narrowing. No high-grade canal stenosis.", "Mild degenerative disc disease at L4-L5."),
    ("US ABDOMEN", "Multiple gallstones without gallbladder wall thickening or pericholecystic fluid. Liver normal in echotexture.", "Cholelithiasis without cholecystitis."),
    ("CT ABDOMEN AND PELVIS WITH CONTRAST", "Dilated, thick-walled appendix measuring 12 mm with periappendiceal fat stranding.", "Acute appendicitis."),
    ("MRI KNEE", "Complex tear of the posterior horn of the medial meniscus. Intact cruciate ligaments.", "Medial meniscal tear."),
    ("CT CHEST WITH CONTRAST", "{n} mm solid nodule in the {lobe}. No lymphadenopathy. Indication was pulmonary embolism; no embolus identified.",
     "No pulmonary embolism. Incidental {n} mm pulmonary nodule; follow-up per Fleischner Society guidelines."),
    ("US THYROID", "The thyroid gland is diffusely heterogeneous with increased vascularity. No discrete nodule.", "Thyroiditis. No thyroid nodule."),
    ("CT ABDOMEN WITH CONTRAST", "{n} mm simple-appearing cyst in the left kidney, water attenuation, no enhancement.", "Bosniak I renal cyst, no follow-up needed."),
    ("US RENAL", "Mild right hydronephrosis. Left kidney normal.", "Mild right hydronephrosis."),
    ("XR CHEST 2 VIEWS", "Small left pleural effusion. Mild cardiomegaly. History of breast cancer.", "Small left effusion."),
    ("US PELVIS", "Uterus normal in size with a 2 cm intramural fibroid. Both ovaries normal.", "Small uterine fibroid."),
    ("CT ANGIOGRAPHY CHEST", "Filling defects in the right lower lobe segmental pulmonary arteries. RV/LV ratio 0.9.", "Acute right lower lobe pulmonary embolism."),
    ("MRI BRAIN", "Scattered T2 hyperintense foci in the periventricular white matter, some perpendicular to the ventricles.", "Findings compatible with demyelinating disease."),
    ("US CAROTID", "Mild heterogeneous plaque at the right carotid bulb. Peak systolic velocity 110 cm/s.", "Less than 50% right ICA stenosis."),
)


def _non_rads(r: random.Random) -> str:
    exam, findings, impression = r.choice(_NON_RADS)
    n, lobe = r.randint(4, 9), r.choice(_LOBES)
    return f"EXAM: {exam}\nFINDINGS: {findings.format(n=n, lobe=lobe)}\nIMPRESSION: {impression.format(n=n, lobe=lobe)}"


# --- rows ----------------------------------------------------------------------------------------

def rads_examples(r: random.Random, n_per_system: int, *, p_state: float = 0.25, p_trap: float = 0.12) -> list[Example]:
    """Synthetic RADS reports, categories even within each system."""
    out = []
    for system, write in WRITERS.items():
        categories = SYSTEMS[system]
        for i in range(n_per_system):
            target = categories[i % len(categories)]
            draft = write(r, target)
            if draft.category != target:
                raise AssertionError(f"{system}: writer returned {draft.category} for target {target}")
            text, stated = _compose(r, draft, system, r.random() < p_state, r.random() < p_trap)
            out.append(Example(text, system, draft.category, stated))
    return out


def rads_rows(seed: int, r: random.Random, *, n_per_system: int, n_other: int, iu_negatives: list[tuple[str, str, str]]) -> list[Row]:
    """iu_negatives: (report_id, split, report text) of real chest X-ray reports -> "No applicable RADS"."""
    rows = []
    for i, ex in enumerate(rads_examples(r, n_per_system)):
        rid = f"gen:rads:{i:05d}"
        rows.append(make_row(TASK, {"system": ex.system, "category": ex.category}, report=ex.text,
                             source="generated:rads:stated" if ex.stated else "generated:rads:rule",
                             split=seeded_split(ex.text, seed), report_id=rid))
    for j in range(n_other):
        rid = f"gen:rads:none:{j:05d}"
        text = _non_rads(r)
        rows.append(make_row(TASK, {"system": None, "category": None}, report=text,
                             source="generated:rads:none", split=seeded_split(text, seed), report_id=rid))
    for rid, split, text in iu_negatives:
        rows.append(make_row(TASK, {"system": None, "category": None}, report=text, source="iu_xray:no_rads",
                             split=split, report_id=rid))
    return rows
