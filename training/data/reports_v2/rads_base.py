"""What every v2 RADS writer shares: its context, its draft, the category wording per system, and
the banks for a stated category, a prior category, and another system's history line."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from integration.tasks.rads_assignment import SYSTEMS
from training.data.reports_v2.phrasing import Writer, bank, banks


@dataclass
class Ctx:
    w: Writer
    unit: str  # preferred unit for sizes: mm / cm
    lookalike: bool = False  # put a look-alike finding of another system's organ in, where the exam has one
    sex: str = "female"

    @property
    def r(self) -> random.Random:
        return self.w.r


@dataclass
class Draft:
    exam: str
    category: str
    history: list[str] = field(default_factory=list)
    technique: list[str] = field(default_factory=list)
    findings: list[tuple[str | None, list[str]]] = field(default_factory=list)
    impression: list[str] = field(default_factory=list)
    recommendation: list[str] = field(default_factory=list)
    prior_exam: str = ""  # how the comparison line names the previous exam of this kind ("" = no prior natural)
    comparison: list[str] | None = None  # the writer's own comparison line(s), else the composer draws one
    anchor: int | None = None  # findings paragraph where a stated category may sit instead of the impression
    features: dict = field(default_factory=dict)  # what the category was computed from (for tests)
    lookalike_used: bool = False


# What each category means, in the words its lexicon uses (shared vocabulary, every split).
CAT_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "BI-RADS": {
        "0": ("incomplete, additional imaging evaluation needed", "incomplete - need additional imaging evaluation"),
        "1": ("negative",), "2": ("benign", "benign finding"), "3": ("probably benign",),
        "4": ("suspicious", "suspicious abnormality"), "4A": ("low suspicion for malignancy", "suspicious, low suspicion"),
        "4B": ("moderate suspicion for malignancy", "suspicious, moderate suspicion"),
        "4C": ("high suspicion for malignancy", "suspicious, high suspicion"),
        "5": ("highly suggestive of malignancy",), "6": ("known biopsy-proven malignancy",),
    },
    "LI-RADS": {
        "LR-1": ("definitely benign",), "LR-2": ("probably benign",), "LR-3": ("intermediate probability of malignancy",),
        "LR-4": ("probably HCC",), "LR-5": ("definitely HCC",),
        "LR-M": ("probably or definitely malignant, not HCC specific", "malignant, not specific for HCC"),
        "LR-TIV": ("tumor in vein",), "LR-NC": ("not categorizable",),
    },
    "TI-RADS": {
        "TR1": ("benign",), "TR2": ("not suspicious",), "TR3": ("mildly suspicious",),
        "TR4": ("moderately suspicious",), "TR5": ("highly suspicious",),
    },
    "Lung-RADS": {
        "0": ("incomplete",), "1": ("negative",), "2": ("benign appearance or behavior",), "3": ("probably benign",),
        "4A": ("suspicious",), "4B": ("very suspicious",), "4X": ("very suspicious, additional features",),
    },
    "PI-RADS": {
        "1": ("very low likelihood of clinically significant cancer", "very low"),
        "2": ("low likelihood of clinically significant cancer", "low"),
        "3": ("equivocal", "intermediate likelihood of clinically significant cancer"),
        "4": ("high likelihood of clinically significant cancer", "high"),
        "5": ("very high likelihood of clinically significant cancer", "very high"),
    },
    "O-RADS": {
        "0": ("incomplete evaluation",), "1": ("normal ovary",), "2": ("almost certainly benign",),
        "3": ("low risk of malignancy", "low risk"), "4": ("intermediate risk of malignancy", "intermediate risk"),
        "5": ("high risk of malignancy", "high risk"),
    },
    "CAD-RADS": {
        "0": ("no plaque or stenosis", "absence of CAD"), "1": ("minimal stenosis",), "2": ("mild stenosis",),
        "3": ("moderate stenosis",), "4A": ("severe stenosis",),
        "4B": ("left main or three-vessel obstructive disease",), "5": ("total coronary occlusion",),
        "N": ("nondiagnostic study",),
    },
    "NI-RADS": {
        "1": ("no evidence of recurrence",), "2a": ("low suspicion, superficial abnormality",),
        "2b": ("low suspicion, deep abnormality",), "3": ("high suspicion",), "4": ("definite recurrence",),
    },
    "VI-RADS": {
        "1": ("muscle invasion highly unlikely",), "2": ("muscle invasion unlikely",), "3": ("equivocal for muscle invasion",),
        "4": ("muscle invasion likely",), "5": ("invasion beyond the bladder wall very likely",),
    },
    "C-RADS": {
        "C0": ("inadequate study",), "C1": ("normal colon or benign lesion",),
        "C2": ("intermediate polyp or indeterminate finding",), "C3": ("polyp, possibly advanced adenoma",),
        "C4": ("colonic mass, likely malignant",), "E0": ("limited examination",),
        "E1": ("normal examination or anatomic variant",), "E2": ("clinically unimportant finding",),
        "E3": ("likely unimportant finding, incompletely characterized",), "E4": ("potentially important finding",),
    },
}

# Ways reports spell the system name (all parse as that system).
NAMES = {
    "BI-RADS": ("BI-RADS", "ACR BI-RADS", "BIRADS", "BI-RADS\u00ae", "Bi-RADS"),
    "LI-RADS": ("LI-RADS", "ACR LI-RADS", "LIRADS"),
    "TI-RADS": ("ACR TI-RADS", "TI-RADS", "TIRADS", "ACR TIRADS"),
    "Lung-RADS": ("Lung-RADS", "ACR Lung-RADS", "LungRADS", "Lung RADS"),
    "PI-RADS": ("PI-RADS", "PIRADS", "PI-RADS\u2122"),
    "O-RADS": ("O-RADS", "O-RADS US", "ORADS"),
    "CAD-RADS": ("CAD-RADS", "CADRADS", "CAD RADS"),
    "NI-RADS": ("NI-RADS", "ACR NI-RADS", "NIRADS"),
    "VI-RADS": ("VI-RADS", "VIRADS", "VI RADS"),
    "C-RADS": ("C-RADS", "CTC C-RADS", "CRADS"),
}


def cat_text(r: random.Random, system: str, category: str) -> str:
    """The category as a report writes it after the system name."""
    if system == "LI-RADS":
        return r.choice((category, category, category.replace("LR-", "LR ")))
    if system == "TI-RADS":
        return r.choice((category, category, category[2:]))
    if system == "NI-RADS":
        return r.choice((category, category.upper()))
    return category


def words(r: random.Random, system: str, category: str) -> str:
    return r.choice(CAT_WORDS[system][category])


# A stated category: generic forms (one bank, split once) and system-specific ones.
STATED_GENERIC = bank("stated.generic", (
    "{name} {cat}.",
    "{name} category {cat}: {words}.",
    "{name} {cat} ({words}).",
    "Assessment: {name} {cat} - {words}.",
    "Final assessment: {name} {cat}.",
    "{name}: {cat}.",
    "{Words}: {name} {cat}.",
    "Overall {name} category {cat} ({words}).",
    "This corresponds to {name} {cat}.",
    "((Classification|Category)): {name} {cat}, {words}.",
    "{name} category {cat}.",
    "Findings are consistent with {name} {cat} ({words}).",
    "{name} score {cat}.",
    "Categorized as {name} {cat}.",
))
STATED = banks("stated", {
    "BI-RADS": (
        "BI-RADS category {cat}: {words}.", "ACR BI-RADS assessment category {cat} - {words}.",
        "OVERALL BREAST IMAGING ASSESSMENT: {name} {cat} - {words}.", "Final assessment {name} {cat} ({words}).",
        "{name} {cat}: {words}. Management as below.", "Bilateral assessment: {name} {cat}.",
    ),
    "LI-RADS": (
        "{name} {cat} ({words}) for this observation.", "The observation is {name} {cat}.", "This observation is categorized {name} {cat} ({words}).",
        "{name} v2018 category for this observation: {cat}.", "Observation categorized per {name} as {cat}.",
        "{name} {cat}, {words}.",
    ),
    "TI-RADS": (
        "{name} {cat} ({points} points), {words}.", "{name} category {cat}, {words}.", "{name} {cat} - {points} points.",
        "Score {points} points: {name} {cat}.", "This nodule is {name} {cat} ({words}).", "{name} level {cat}.",
    ),
    "Lung-RADS": (
        "{name} {cat} - {words}.", "{name} exam category {cat}: {words}.", "{name} {cat}, {management}.",
        "{name} assessment: {cat} ({words}).", "Screening result: {name} {cat}.", "{name} {cat} (v2022).",
    ),
    "PI-RADS": (
        "{name} {cat} (v2.1): {words}.", "Overall {name} assessment: {cat}.", "{name} score {cat} ({words}).",
        "Index lesion {name} {cat}.", "{name} v2.1 category for the index lesion: {cat}.", "{name} {cat} for the index lesion, {words}.",
    ),
    "O-RADS": (
        "{name} {cat} lesion ({words}).", "Adnexal lesion: {name} category {cat}, {words}.", "O-RADS US {cat} - {words}.",
        "Risk stratification: {name} {cat}.", "{name} risk category {cat}.", "{name} {cat} for the adnexa, {words}.",
    ),
    "CAD-RADS": (
        "{name} {cat}{mod}.", "{name} {cat}{mod} - {words}.", "{name} {cat}{mod} ({words}).",
        "Summary: {name} {cat}{mod}.", "{name} classification: {cat}{mod}.", "Overall {name} {cat}{mod}, {words}.",
    ),
    "NI-RADS": (
        "Primary site: {name} {cat} ({words}).", "{name} {cat} at the primary site.", "{name} primary {cat}: {words}.",
        "Primary site {name} category {cat}.", "{name} {cat} (primary site), {words}.", "{name} {cat} for the primary site.",
    ),
    "VI-RADS": (
        "{name} {cat} ({words}) for the bladder tumor.", "{name} score {cat}: {words}.", "Bladder tumor {name} {cat}.", "Vesical imaging: {name} {cat}, {words}.",
        "{name} category {cat} - {words}.", "The tumor is {name} {cat}.",
    ),
    "C-RADS": (
        "{name} {cat} ({words}) on CT colonography.", "CTC category {name} {cat}.", "{name} {cat}: {words}.",
        "{name} classification {cat}.", "Category {name} {cat}, {words}.", "{name} {cat} - {words} (CTC).",
    ),
})

# A previous category of the same system, for the comparison or history line (never the label).
PRIOR_CATEGORY = bank("prior_category", (
    "{prior_exam} from {ago}, assessed as {name} {cat}.",
    "Prior {prior_exam} ({ago}): {name} {cat}.",
    "The {prior_exam} of {ago} was reported as {name} {cat}.",
    "Compared with the {prior_exam} {ago}, previously categorized {name} {cat}.",
    "{prior_exam} {ago} ({name} {cat} at that time).",
    "Previous {prior_exam}, {ago}; assessment then {name} {cat}.",
    "Comparison {prior_exam} ({ago}), which was {name} {cat}.",
))

# Another system's territory in the history: a history line only (no findings of that organ).
OTHER_HISTORY = banks("xhist", {
    "BI-RADS": (
        "History of ((left|right)) breast cancer treated with lumpectomy and radiation.",
        "Recent screening mammogram was {name} {cat}.", "Known ((right|left)) breast mass, {name} {cat} on outside imaging.",
        "BRCA carrier; last breast MRI {name} {cat}.", "Breast imaging earlier this year: {name} {cat}.",
    ),
    "TI-RADS": (
        "Known multinodular goiter.", "Thyroid nodule previously rated {name} {cat}.", "Thyroid ultrasound last year: {name} {cat} nodule.",
        "History of hypothyroidism; thyroid nodule {name} {cat} under surveillance.", "Prior thyroid FNA, benign (Bethesda II).",
    ),
    "LI-RADS": (
        "History of hepatitis C, treated.", "Prior liver MRI showed a {name} {cat} observation.", "Cirrhosis; last liver MRI {name} {cat}.",
        "Hepatitis B carrier under liver surveillance ({name} {cat} on the last MRI).", "Known fatty liver disease.",
    ),
    "PI-RADS": (
        "History of prostate cancer on active surveillance.", "Prostate MRI last year: {name} {cat}.", "Elevated PSA; prior MRI {name} {cat}.",
        "Gleason 3+3 prostate cancer on surveillance, last MRI {name} {cat}.", "Benign prostatic hyperplasia.",
    ),
    "Lung-RADS": (
        "Former smoker enrolled in lung cancer screening.", "Last screening CT {name} {cat}.", "Lung screening participant ({name} {cat} last year).",
        "Annual low-dose CT, most recently {name} {cat}.", "40 pack-year smoking history.",
    ),
    "O-RADS": (
        "History of ovarian cyst.", "Adnexal cyst previously {name} {cat}.", "Pelvic ultrasound last year: {name} {cat} left ovarian lesion.",
        "Known endometrioma, {name} {cat}.", "Postmenopausal with a known adnexal cyst.",
    ),
    "CAD-RADS": (
        "Coronary artery disease.", "Prior coronary CTA {name} {cat}.", "Chest pain workup two years ago: {name} {cat}.",
        "Known nonobstructive CAD ({name} {cat}).", "Hyperlipidemia and hypertension.",
    ),
    "NI-RADS": (
        "History of laryngeal cancer treated ((five|six|seven)) years ago.", "Neck CT surveillance: {name} {cat}.",
        "Treated oropharyngeal carcinoma, last PET/CT {name} {cat}.", "Head and neck cancer survivor ({name} {cat} last year).",
        "Prior radiation to the neck.",
    ),
    "VI-RADS": (
        "History of bladder cancer.", "Prior bladder MRI {name} {cat}.", "Non-muscle-invasive bladder cancer, last MRI {name} {cat}.",
        "Bladder tumor resected last year ({name} {cat} preoperatively).", "Recurrent urinary tract infections.",
    ),
    "C-RADS": (
        "Screening CT colonography ((five|three)) years ago.", "Prior CT colonography {name} {cat}.", "Colon screening: last CTC {name} {cat}.",
        "History of colonic polyps ({name} {cat} on prior CTC).", "Family history of colon cancer.",
    ),
})

RECOMMEND_NONE = bank("recommend.none_needed", (
    "No further imaging is required.", "No specific follow-up is needed for this finding.", "No additional imaging recommended.",
    "No further workup necessary.", "Routine follow-up only.",
))


def prior_category(r: random.Random, system: str, current: str) -> str:
    """A plausible earlier category of the same system (within two steps of the current one where
    possible, the same C/E section for C-RADS), never the current one."""
    order = SYSTEMS[system]
    pool = [c for c in order if c != current and c not in ("LR-NC", "LR-TIV", "N", "0", "C0", "E0", "6", "4")]
    near = [c for c in pool if abs(order.index(c) - order.index(current)) <= 2 and (system != "C-RADS" or c[:1] == current[:1])]
    return r.choice(near or pool)
