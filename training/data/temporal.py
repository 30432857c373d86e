"""Generated temporal_comparison data: (prior, current) report pairs built from IU findings.

Base: the findings of an IU report the combined labels call normal ("No Finding" positive), so
the base text states no finding that could itself be compared. For each pair, 0-3 findings are
drawn from a fixed bank (pleural effusion, pneumothorax, cardiomegaly, pulmonary edema, vascular
congestion, consolidation, atelectasis, pulmonary nodule) with disjoint CheXpert labels; base
sentences that mention those labels ("No pleural effusion.", or "The lungs are clear." for a lung
finding -- see ``chexpert_rules.implied_labels``) are removed from both reports; then
each finding gets a controlled edit with an ordinal severity (or size) level:

* new: absent in the prior, present in the current;
* resolved: present in the prior, absent in the current;
* worsened / improved: higher / lower level in the current;
* unchanged: the same level in both (worded identically or with a synonym).

"Absent" is written either as an explicit negative ("No pneumothorax.") or by leaving the finding
out. One current report in five also carries comparison wording ("has resolved", "interval
increase"); the rest must be compared. The answer lists every edited finding with its change in
the task's vocabulary (``CHANGES``); a pair with no edited finding answers "none". Rows keep the
base report's id and split. Source tag: ``generated:temporal:iu``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from integration.inference.evidence.chexpert import Labels, implied_labels, sentences
from integration.tasks.temporal_comparison import CHANGES, make_value
from training.data.iu import Report, report_text
from training.data.rows import Row, make_row

TASK = "temporal_comparison"
_LOBES = ("right upper lobe", "right middle lobe", "right lower lobe", "left upper lobe", "left lower lobe", "lingula")


@dataclass(frozen=True)
class BankFinding:
    name: str  # the answer's finding text
    labels: tuple[str, ...]  # CheXpert labels whose base sentences are dropped
    levels: tuple[tuple[str, ...], ...]  # per level (1..k), wordings of the present finding
    absent: tuple[str, ...]  # explicit negative sentences
    worse: str  # comparison wording for worsened, "{x}" is the name
    better: str


def _bank(r: random.Random) -> list[BankFinding]:
    side = r.choice(("left", "right", "bilateral"))
    eff = "bilateral pleural effusions" if side == "bilateral" else f"{side} pleural effusion"
    ptx_side = r.choice(("left", "right"))
    lobe = r.choice(_LOBES)
    atel_side = r.choice(("left basilar", "right basilar", "bibasilar"))
    sizes = sorted(r.sample((4, 5, 6, 8, 10, 12, 15, 18), 4))
    return [
        BankFinding(eff, ("Pleural Effusion",),
                    tuple((f"{w.capitalize()} {eff}.", f"There {'are' if side == 'bilateral' else 'is a'} {w} {eff}.")
                          for w in ("trace", "small", "moderate", "large")),
                    ("No pleural effusion.", "No pleural effusions."), "Interval increase in the {x}.", "Interval decrease in the {x}."),
        BankFinding(f"{ptx_side} pneumothorax", ("Pneumothorax",),
                    tuple((f"{w.capitalize()} {ptx_side} {a}pneumothorax.", f"There is a {w} {ptx_side} {a}pneumothorax.")
                          for w, a in (("tiny", "apical "), ("small", ""), ("moderate", ""), ("large", ""))),
                    ("No pneumothorax.",), "The {x} has enlarged.", "The {x} has decreased in size."),
        BankFinding("cardiomegaly", ("Cardiomegaly", "Enlarged Cardiomediastinum"),
                    (("The heart is mildly enlarged.", "Mild cardiomegaly."), ("Moderate cardiomegaly.", "The heart is moderately enlarged."),
                     ("Marked cardiomegaly.", "The heart is markedly enlarged.")),
                    ("Heart size is normal.", "The cardiomediastinal silhouette is within normal limits."),
                    "Increased cardiomegaly.", "Decreased cardiomegaly."),
        BankFinding("pulmonary edema", ("Edema",),
                    (("Mild interstitial pulmonary edema.", "Mild pulmonary edema."),
                     ("Moderate pulmonary edema with perihilar haziness.", "Moderate pulmonary edema."),
                     ("Severe alveolar pulmonary edema.", "Severe pulmonary edema.")),
                    ("No pulmonary edema.",), "Worsening pulmonary edema.", "Improving pulmonary edema."),
        BankFinding("pulmonary vascular congestion", ("Edema",),
                    (("Mild pulmonary vascular congestion.",), ("Moderate pulmonary vascular congestion.",)),
                    ("No vascular congestion.",), "Increased pulmonary vascular congestion.", "Decreased pulmonary vascular congestion."),
        BankFinding(f"{lobe} consolidation", ("Consolidation", "Lung Opacity", "Pneumonia"),
                    ((f"Small focus of consolidation in the {lobe}.",), (f"Patchy consolidation in the {lobe}.",),
                     (f"Dense consolidation throughout the {lobe}.", f"Extensive {lobe} consolidation.")),
                    ("No focal consolidation.", "The lungs are clear."), "Worsening {x}.", "Improving {x}."),
        BankFinding(f"{atel_side} atelectasis", ("Atelectasis",),
                    tuple((f"{w.capitalize()} {atel_side} atelectasis.",) for w in ("minimal", "mild", "moderate")),
                    ("No atelectasis.",), "Increased {x}.", "Decreased {x}."),
        BankFinding(f"{lobe} nodule", ("Lung Lesion",),
                    tuple((f"{s} mm nodule in the {lobe}.", f"There is a {s} mm {lobe} nodule.") for s in sizes),
                    ("No pulmonary nodules.",), "The {x} has grown.", "The {x} is smaller."),
    ]


def _states(r: random.Random, change: str, k: int) -> tuple[int, int]:
    """(prior level, current level); 0 is absent, 1..k present."""
    if change == "new":
        return 0, r.randint(1, k)
    if change == "resolved":
        return r.randint(1, k), 0
    if change == "unchanged":
        lv = r.randint(1, k)
        return lv, lv
    lo, hi = sorted(r.sample(range(1, k + 1), 2))
    return (lo, hi) if change == "worsened" else (hi, lo)


def _sentence(r: random.Random, f: BankFinding, level: int, explicit_absent: bool) -> str | None:
    if level == 0:
        return r.choice(f.absent) if explicit_absent else None
    return r.choice(f.levels[level - 1])


def _compare_wording(f: BankFinding, change: str, current: str | None) -> str | None:
    """The current sentence with comparison wording; None keeps the plain sentence."""
    lowered = f"{current[0].lower()}{current[1:]}" if current and not current.startswith("There ") else None
    return {
        "resolved": f"Previously seen {f.name} has resolved.",
        "new": f"New {lowered}" if lowered else None,
        "worsened": f.worse.format(x=f.name) + (f" {current}" if current else ""),
        "improved": f.better.format(x=f.name) + (f" {current}" if current else ""),
        "unchanged": f"Unchanged {lowered}" if lowered else f"Unchanged {f.name}.",
    }[change]


def temporal_pair(r: random.Random, base: list[str], base_labels: list[set[str]]) -> tuple[str, str, list[dict[str, str]]]:
    """(prior findings, current findings, value) for one base report's sentences."""
    bank = _bank(r)
    r.shuffle(bank)
    k = r.choices((0, 1, 2, 3), weights=(1, 6, 6, 4))[0]
    chosen: list[BankFinding] = []
    used: set[str] = set()
    for f in bank:
        if len(chosen) == k:
            break
        if used.isdisjoint(f.labels):
            chosen.append(f)
            used |= set(f.labels)
    kept = [s for s, labs in zip(base, base_labels) if used.isdisjoint(labs)]
    prior, current = list(kept), list(kept)
    pairs = []
    compare = r.random() < 0.2
    for f in chosen:
        change = r.choice(CHANGES)
        p_level, c_level = _states(r, change, len(f.levels))
        p_text = _sentence(r, f, p_level, r.random() < 0.5)
        c_text = _sentence(r, f, c_level, r.random() < 0.5)
        if change == "unchanged" and r.random() < 0.5:
            c_text = p_text
        if compare:
            c_text = _compare_wording(f, change, c_text) or c_text
        at = r.randint(0, len(kept))
        # insert at the same place in both; later insertions shift earlier ones, which is fine
        if p_text:
            prior.insert(min(at, len(prior)), p_text)
        if c_text:
            current.insert(min(at, len(current)), c_text)
        pairs.append((f.name, change))
    if not prior:
        prior = ["The lungs are clear."]
    if not current:
        current = ["The lungs are clear."]
    return " ".join(prior), " ".join(current), make_value(pairs)


def temporal_rows(r: random.Random, reports: list[Report], findings_labels: dict[int, Labels], normal: set[int], *,
                  per_report: int) -> list[Row]:
    """findings_labels: rule labels of each report's findings alone (sentence indices = sentences(findings))."""
    rows = []
    for rep in reports:
        if rep.uid not in normal or not rep.findings:
            continue
        lab = findings_labels[rep.uid]
        base = sentences(rep.findings)
        # a sentence "mentions" a label through the phrase lists or a whole-organ statement
        # ("lungs are clear"), so no inserted finding contradicts a kept base sentence
        per_sentence = [{m.label for m in lab.mentions if m.sentence == i} | implied_labels(s) for i, s in enumerate(base)]
        for _ in range(per_report):
            prior, current, value = temporal_pair(r, base, per_sentence)
            rows.append(make_row(TASK, value, report=report_text(current, ""), prior_report=report_text(prior, ""),
                                 source="generated:temporal:iu", split=rep.split, report_id=rep.report_id))
    return rows
