"""v2 rads_assignment rows: full reports from the ten system writers and the non-RADS exams.

Per row (own seeded random stream, own split drawn first so only that split's templates are used):

* targets cycle through the system's categories (balanced within a system; systems equal);
* the category is STATED in ``P_STATE`` of rows (always for BI-RADS 4/4A/4B/4C, whose subcategory is
  the radiologist's judgement), in the impression (``P_STATED_IN_FINDINGS`` of stated rows: in the
  findings paragraph of the lesion instead); otherwise it must be inferred from the features;
* ``P_PRIOR``: where the exam is a follow-up, the comparison line names the previous category of the
  same system (never the current one);
* ``P_XHIST``: a history line about another system's organ, often with that system's category;
* ``P_LOOKALIKE``: a look-alike finding in another system's organ (breast nodule on chest CT,
  thyroid nodule on neck CT, Fleischner lung nodule on a cardiac or liver study, adnexal cyst on CT
  colonography...), where the exam images one;
* "No applicable RADS": ``NONE_SHARE`` of all rows, part real IU chest X-rays (keeping their IU
  split), the rest the exams of :mod:`nonrads` (with look-alikes and other systems' categories in the
  history more often: ``P_NONE_XHIST``, ``P_NONE_LOOKALIKE``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from integration.tasks.rads_assignment import SYSTEMS
from training.data.reports_v2.anatomy import COMPARISON, ago, enrich, modality
from training.data.reports_v2.nonrads import NON_RADS_KINDS, non_rads
from training.data.reports_v2.phrasing import SPLITS, Doc, Writer, british, cap, draw_skeleton, render
from training.data.reports_v2.rads_base import (
    NAMES,
    OTHER_HISTORY,
    PRIOR_CATEGORY,
    STATED,
    STATED_GENERIC,
    Ctx,
    Draft,
    cat_text,
    prior_category,
    words,
)
from training.data.reports_v2.rads_systems_a import breast, liver, lung_screen, prostate, thyroid
from training.data.reports_v2.rads_systems_b import adnexa, bladder, colon, coronary, neck
from training.data.rows import Row, make_row, seeded_split

TASK = "rads_assignment"
WRITERS = {"BI-RADS": breast, "LI-RADS": liver, "PI-RADS": prostate, "TI-RADS": thyroid, "Lung-RADS": lung_screen, "O-RADS": adnexa,
           "CAD-RADS": coronary, "NI-RADS": neck, "VI-RADS": bladder, "C-RADS": colon}
assert set(WRITERS) == set(SYSTEMS)

P_STATE = 0.5
P_STATED_IN_FINDINGS = 0.2
P_PRIOR = 0.3
P_XHIST = 0.12
P_LOOKALIKE = 0.2
NONE_SHARE = 0.17
IU_NONE_SHARE = 0.25  # of the "No applicable RADS" rows, when IU reports are given
P_NONE_XHIST = 0.3
P_NONE_LOOKALIKE = 0.4
P_UK = 0.3


@dataclass
class Example:
    text: str
    system: str | None
    category: str | None
    split: str
    kind: str  # the system, or the non-RADS exam
    stated: str = ""  # the sentence that states the category ("" = unstated)
    prior: str = ""  # the sentence naming an earlier category of the same system
    xhist: str = ""  # the history line naming another system
    xhist_system: str = ""
    lookalike: bool = False
    used: list[tuple[str, int]] = field(default_factory=list)  # (bank, template index) drawn
    skeleton: str = ""
    features: dict = field(default_factory=dict)

    @property
    def value(self) -> dict[str, str | None]:
        return {"system": self.system, "category": self.category}


def _style(r: random.Random) -> tuple[str, str, str]:
    verbosity = r.choices(("terse", "normal", "verbose"), weights=(2, 4, 4))[0]
    return verbosity, ("uk" if r.random() < P_UK else "us"), r.choice(("mm", "cm"))


def _stated_sentence(w: Writer, system: str, category: str, draft: Draft) -> str:
    r = w.r
    cat = cat_text(r, system, category)
    if system == "Lung-RADS" and draft.features.get("s_modifier"):
        cat += "S"
    wd = words(r, system, category)
    slots = {"points": "", "management": "", "mod": "", **draft.features.get("stated_slots", {})}
    b = STATED_GENERIC if r.random() < 0.5 else STATED[system]
    return w.say(b, name=r.choice(NAMES[system]), cat=cat, words=wd, Words=cap(wd), **slots)


def _xhist(w: Writer, system: str | None) -> tuple[str, str]:
    other = w.r.choice([s for s in SYSTEMS if s != system])
    cat = w.r.choice(SYSTEMS[other])
    return w.say(OTHER_HISTORY[other], name=w.r.choice(NAMES[other]), cat=cat_text(w.r, other, cat)), other


def compose(w: Writer, draft: Draft, system: str | None, *, state: bool, prior: bool, xhist: bool, spelling: str) -> Example:
    r = w.r
    history = list(draft.history)
    ex = Example("", system, draft.category or None, w.split, system or draft.features.get("exam", ""), lookalike=draft.lookalike_used,
                 features=draft.features)
    if xhist:
        ex.xhist, ex.xhist_system = _xhist(w, system)
        history.append(ex.xhist)
    comparison = list(draft.comparison) if draft.comparison is not None else []
    needs_prior = draft.features.get("needs_prior", False)
    if draft.comparison is None:
        if draft.prior_exam and (needs_prior or r.random() < 0.55):
            if system and prior:
                ex.prior = w.say(PRIOR_CATEGORY, prior_exam=draft.prior_exam, ago=ago(r), name=r.choice(NAMES[system]),
                                 cat=cat_text(r, system, prior_category(r, system, draft.category)))
                comparison = [ex.prior]
            else:
                comparison = [w.say(COMPARISON["prior"], prior=draft.prior_exam, ago=ago(r))]
        elif r.random() < 0.6:
            comparison = [w.say(COMPARISON["none"])]
    findings = [(h, list(s)) for h, s in draft.findings]
    impression = list(draft.impression)
    if state and system:
        ex.stated = _stated_sentence(w, system, draft.category, draft)
        if draft.anchor is not None and r.random() < P_STATED_IN_FINDINGS:
            findings[draft.anchor][1].append(ex.stated)
            ex.features = {**ex.features, "stated_in": "findings"}
        else:
            impression.insert(len(impression) if r.random() < 0.7 else 0, ex.stated)
            ex.features = {**ex.features, "stated_in": "impression"}
    technique = list(draft.technique)
    mod = modality(draft.exam)
    signoff = enrich(w, history, technique, findings, impression, ct=mod == "ct", modality=mod)
    doc = Doc(exam=draft.exam, history=history, technique=technique, comparison=comparison, findings=findings,
              impression=impression, recommendation=list(draft.recommendation), signoff=signoff)
    sk = draw_skeleton(r, w.split)
    ex.text = render(doc, sk, r, spelling=spelling)
    ex.skeleton = sk.id
    if spelling == "uk":  # the recorded fragments as they read in the text
        ex.stated, ex.prior, ex.xhist = british(ex.stated), british(ex.prior), british(ex.xhist)
    ex.used = list(w.used)
    return ex


def rads_example(seed: int, i: int, system: str, target: str, split: str) -> Example:
    r = random.Random(f"radlite-v2:{seed}:rads:{i}")
    verbosity, spelling, unit = _style(r)
    w = Writer(r, split, verbosity)
    draft = WRITERS[system](Ctx(w, unit, lookalike=r.random() < P_LOOKALIKE), target)
    if draft.category != target:
        raise AssertionError(f"{system}: writer gave {draft.category} for target {target}")
    forced = system == "BI-RADS" and target in ("4", "4A", "4B", "4C")
    return compose(w, draft, system, state=forced or r.random() < P_STATE, prior=r.random() < P_PRIOR, xhist=r.random() < P_XHIST, spelling=spelling)


def none_example(seed: int, i: int, kind: str, split: str) -> Example:
    r = random.Random(f"radlite-v2:{seed}:none:{i}")
    verbosity, spelling, unit = _style(r)
    w = Writer(r, split, verbosity)
    draft = non_rads(Ctx(w, unit, lookalike=r.random() < P_NONE_LOOKALIKE), kind)
    return compose(w, draft, None, state=False, prior=False, xhist=r.random() < P_NONE_XHIST, spelling=spelling)


def rads_examples(seed: int, n_per_system: int, n_none: int) -> list[Example]:
    out = []
    for system, categories in SYSTEMS.items():
        for j in range(n_per_system):
            i = len(out)
            split = seeded_split(f"v2:rads:{system}:{j}", seed)
            out.append(rads_example(seed, i, system, categories[j % len(categories)], split))
    for j in range(n_none):
        split = seeded_split(f"v2:rads:none:{j}", seed)
        out.append(none_example(seed, j, NON_RADS_KINDS[j % len(NON_RADS_KINDS)], split))
    return out


def n_none_for(n_per_system: int, *, share: float = NONE_SHARE) -> int:
    """How many "No applicable RADS" rows make ``share`` of all rads rows."""
    n_rads = n_per_system * len(SYSTEMS)
    return round(share / (1 - share) * n_rads)


def rads_rows_v2(seed: int, *, n_per_system: int, iu_negatives: list[tuple[str, str, str]] | None = None,
                 none_share: float = NONE_SHARE, iu_none_share: float = IU_NONE_SHARE) -> list[Row]:
    """iu_negatives: (report_id, split, text) of real chest X-ray reports, a pool to draw the IU part of
    the "No applicable RADS" rows from (they keep their IU split)."""
    n_none = n_none_for(n_per_system, share=none_share)
    iu = list(iu_negatives or [])
    n_iu = min(len(iu), round(iu_none_share * n_none)) if iu else 0
    examples = rads_examples(seed, n_per_system, n_none - n_iu)
    rows = []
    for i, ex in enumerate(examples):
        if ex.system:
            rid, source = f"gen:v2:rads:{i:05d}", "generated:v2:rads:" + ("stated" if ex.stated else "rule")
        else:
            rid, source = f"gen:v2:rads:none:{i:05d}", "generated:v2:rads:none"
        rows.append(make_row(TASK, ex.value, report=ex.text, source=source, split=ex.split, report_id=rid))
    if n_iu:
        picked = sorted(random.Random(f"radlite-v2:{seed}:rads:iu").sample(range(len(iu)), n_iu))
        for k in picked:
            rid, split, text = iu[k]
            rows.append(make_row(TASK, {"system": None, "category": None}, report=text, source="iu_xray:no_rads", split=split, report_id=rid))
    return rows


assert set(SPLITS) == {"train", "val", "test"}
