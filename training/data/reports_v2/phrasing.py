"""Phrasing banks split by template, report skeletons, and the renderer of full reports.

Every sentence a v2 generator writes comes from a *bank*: a named list of templates (Python
``str.format`` slots, plus ``((a|b|c))`` inline alternatives). Each template of a bank belongs to
exactly one of train / val / test, fixed by a stable hash of ``bank id + template text`` (see
:func:`assign_splits`), and a row of split S only ever draws templates of split S. Report
*skeletons* (section names and order, header case, layout, impression numbering, organ headings,
headerless prose) are split the same way, by a hash of the skeleton's canonical id. So val and
test rows use phrasings and skeletons that never occur in train; what all splits share is only
vocabulary (organ names, lexicon terms, category codes, section names).

Report-level style that is not a template (British or American spelling, units, terse or verbose
choice of templates) is drawn per report in every split.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

SPLITS = ("train", "val", "test")
EVAL_SHARE = 0.15  # per bank: the share of templates given to val, and the same share to test


@dataclass(frozen=True)
class Bank:
    id: str
    templates: tuple[str, ...]
    split_of: tuple[str, ...]  # per template

    def indices(self, split: str) -> list[int]:
        return [i for i, s in enumerate(self.split_of) if s == split]


REGISTRY: dict[str, Bank] = {}
_OWNER: dict[str, str] = {}  # template text -> its bank: a text is in one bank, so in one split


def _h(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def assign_splits(bank_id: str, templates: Sequence[str]) -> tuple[str, ...]:
    """Order the templates by sha256(bank id, template); the first ``max(1, round(0.15 k))`` go to
    test, the next as many to val, the rest to train. Stable: editing one template moves only that
    one (and at most its neighbours in the order)."""
    k = len(templates)
    order = sorted(range(k), key=lambda i: (_h(f"{bank_id}\x00{templates[i]}"), i))
    n_eval = max(1, round(EVAL_SHARE * k))
    out = ["train"] * k
    for i in order[:n_eval]:
        out[i] = "test"
    for i in order[n_eval:2 * n_eval]:
        out[i] = "val"
    return tuple(out)


def bank(bank_id: str, templates: Iterable[str]) -> str:
    """Register a bank (at import time) and return its id."""
    templates = tuple(templates)
    if bank_id in REGISTRY:
        raise ValueError(f"bank {bank_id!r} defined twice")
    if len(templates) < 3:
        raise ValueError(f"bank {bank_id!r} needs at least 3 templates (one per split), has {len(templates)}")
    if len(set(templates)) != len(templates):
        raise ValueError(f"bank {bank_id!r} repeats a template")
    for t in templates:
        if t in _OWNER:
            raise ValueError(f"template {t!r} of bank {bank_id!r} is already in bank {_OWNER[t]!r} (it could land in two splits)")
        _OWNER[t] = bank_id
    REGISTRY[bank_id] = Bank(bank_id, templates, assign_splits(bank_id, templates))
    return bank_id


def banks(prefix: str, table: dict[str, Iterable[str]]) -> dict[str, str]:
    """Register ``prefix.key`` for every key; returns key -> bank id."""
    return {key: bank(f"{prefix}.{key}", templates) for key, templates in table.items()}


# --- text helpers -----------------------------------------------------------------------------------

_ALT = re.compile(r"\(\(([^()]*)\)\)")
_SPACES = re.compile(r"[ \t]+")


def expand(template: str, r: random.Random) -> str:
    return _ALT.sub(lambda m: r.choice(m.group(1).split("|")), template)


def tidy(text: str) -> str:
    text = _SPACES.sub(" ", text).strip()
    text = re.sub(r"\s+([.,;:)])", r"\1", text)
    text = re.sub(r"\(\s+", "(", text)
    text = re.sub(r"\.\.+", ".", text)
    text = re.sub(r",\s*\.", ".", text)
    return text


def cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


class Writer:
    """Draws templates of one split. ``verbosity``: terse (the shorter half of the split's
    templates), verbose (the longer half) or normal (all)."""

    def __init__(self, r: random.Random, split: str, verbosity: str = "normal") -> None:
        if split not in SPLITS:
            raise ValueError(split)
        self.r, self.split, self.verbosity = r, split, verbosity
        self.used: list[tuple[str, int]] = []

    def say(self, bank_id: str, **slots: object) -> str:
        b = REGISTRY[bank_id]
        idx = b.indices(self.split)
        if self.verbosity != "normal" and len(idx) >= 3:
            ordered = sorted(idx, key=lambda i: (len(b.templates[i]), i))
            half = (len(ordered) + 1) // 2
            idx = ordered[:half] if self.verbosity == "terse" else ordered[-half:]
        i = self.r.choice(idx)
        self.used.append((bank_id, i))
        return cap(tidy(expand(b.templates[i], self.r).format(**slots)))

    def frag(self, bank_id: str, **slots: object) -> str:
        """Like :meth:`say`, for a phrase inside a sentence (no capital)."""
        text = self.say(bank_id, **slots)
        b = REGISTRY[bank_id]
        raw = b.templates[self.used[-1][1]]
        return text if raw[:1].isupper() else text[:1].lower() + text[1:]

    def maybe(self, p: float, bank_id: str, **slots: object) -> list[str]:
        return [self.say(bank_id, **slots)] if self.r.random() < p else []


# --- spelling ---------------------------------------------------------------------------------------

_US_UK = {
    "tumor": "tumour", "tumors": "tumours", "tumoral": "tumoural", "hemorrhage": "haemorrhage",
    "hemorrhagic": "haemorrhagic", "hemangioma": "haemangioma", "hemangiomas": "haemangiomas",
    "edema": "oedema", "edematous": "oedematous", "esophagus": "oesophagus", "esophageal": "oesophageal",
    "gastroesophageal": "gastro-oesophageal", "paraesophageal": "paraoesophageal", "color": "colour",
    "centimeter": "centimetre", "centimeters": "centimetres", "millimeter": "millimetre",
    "millimeters": "millimetres", "characterize": "characterise", "characterized": "characterised",
    "characterization": "characterisation", "localized": "localised", "favor": "favour",
    "favored": "favoured", "favorable": "favourable", "hematoma": "haematoma", "ischemic": "ischaemic",
    "ischemia": "ischaemia", "gray": "grey", "hematuria": "haematuria", "hemoptysis": "haemoptysis",
    "hematogenous": "haematogenous", "artifact": "artefact", "artifacts": "artefacts", "fiber": "fibre",
    "visualized": "visualised", "visualize": "visualise", "optimized": "optimised", "organized": "organised",
    "recognized": "recognised", "analyze": "analyse", "behavior": "behaviour", "gynecologic": "gynaecologic",
    "gynecological": "gynaecological", "anesthesia": "anaesthesia", "estrogen": "oestrogen",
    "utilized": "utilised", "minimize": "minimise", "categorized": "categorised", "categorize": "categorise",
    "opacified": "opacified", "hilum": "hilum", "leukemia": "leukaemia", "anemia": "anaemia",
    "diarrhea": "diarrhoea", "orthopedic": "orthopaedic", "pediatric": "paediatric",
    "hypoattenuating": "hypoattenuating", "sulfur": "sulphur", "maneuver": "manoeuvre",
}
_UK_US = {v: k for k, v in _US_UK.items() if k != v}


def _respell(text: str, table: dict[str, str]) -> str:
    pattern = re.compile(r"\b(" + "|".join(sorted(table, key=len, reverse=True)) + r")\b", re.IGNORECASE)

    def sub(m: re.Match[str]) -> str:
        word = m.group(0)
        new = table[word.lower()]
        if word.isupper():
            return new.upper()
        return cap(new) if word[:1].isupper() else new

    return pattern.sub(sub, text)


def british(text: str) -> str:
    return _respell(text, _US_UK)


def american(text: str) -> str:
    return _respell(text, _UK_US)


# --- sizes ------------------------------------------------------------------------------------------

def size(mm: float, unit: str) -> str:
    """``14 mm`` or ``1.4 cm``."""
    if unit == "cm":
        return f"{mm / 10:.1f} cm"
    return f"{mm:g} mm" if mm != int(mm) else f"{int(mm)} mm"


def dims(values_mm: Sequence[float], unit: str, sep: str = " x ") -> str:
    if unit == "cm":
        return sep.join(f"{v / 10:.1f}" for v in values_mm) + " cm"
    return sep.join(f"{v:g}" for v in values_mm) + " mm"


# --- skeletons --------------------------------------------------------------------------------------

SECTION_NAMES = {
    "exam": ("EXAMINATION", "EXAM", "PROCEDURE", "STUDY"),
    "history": ("CLINICAL HISTORY", "INDICATION", "HISTORY", "CLINICAL INFORMATION", "REASON FOR EXAMINATION", "CLINICAL DETAILS"),
    "technique": ("TECHNIQUE", "PROTOCOL"),
    "comparison": ("COMPARISON", "PRIOR STUDIES"),
    "findings": ("FINDINGS", "REPORT"),
    "impression": ("IMPRESSION", "CONCLUSION", "SUMMARY", "OPINION"),
    "recommendation": ("RECOMMENDATION", "RECOMMENDATIONS", "FOLLOW-UP"),
}
ALL_SECTION_NAMES = frozenset(n for names in SECTION_NAMES.values() for n in names)


@dataclass(frozen=True)
class Skeleton:
    headerless: bool
    case: str  # upper / title
    names: tuple[tuple[str, str], ...]  # section -> name
    layout: str  # inline / block
    organ_heads: bool
    impression_style: str  # numbered / plain / dash
    recommendation: str  # section / in_impression
    order: str  # history_first / technique_first
    blank_lines: bool

    @property
    def id(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True, default=list)

    @property
    def split(self) -> str:
        return skeleton_split(self.id)


def skeleton_split(skeleton_id: str) -> str:
    """test / val / train by sha256 of the skeleton's canonical id (EVAL_SHARE each for test and val)."""
    x = _h(f"skeleton\x00{skeleton_id}") / 2**64
    return "test" if x < EVAL_SHARE else "val" if x < 2 * EVAL_SHARE else "train"


def draw_skeleton(r: random.Random, split: str) -> Skeleton:
    for _ in range(1000):
        headerless = r.random() < 0.12
        sk = Skeleton(
            headerless=headerless,
            case="upper" if r.random() < 0.7 else "title",
            names=tuple((s, r.choice(n)) for s, n in SECTION_NAMES.items()),
            layout="inline" if r.random() < 0.6 else "block",
            organ_heads=not headerless and r.random() < 0.55,
            impression_style=r.choice(("numbered", "numbered", "plain", "dash")),
            recommendation=r.choice(("section", "in_impression")),
            order=r.choice(("history_first", "history_first", "technique_first")),
            blank_lines=r.random() < 0.6,
        )
        if sk.split == split:
            return sk
    raise RuntimeError("no skeleton for split")


@dataclass
class Doc:
    """A report before rendering. ``findings``: (organ heading or None, sentences) paragraphs."""

    exam: str
    history: list[str] = field(default_factory=list)
    technique: list[str] = field(default_factory=list)
    comparison: list[str] = field(default_factory=list)
    findings: list[tuple[str | None, list[str]]] = field(default_factory=list)
    impression: list[str] = field(default_factory=list)
    recommendation: list[str] = field(default_factory=list)
    signoff: list[str] = field(default_factory=list)


def _head(sk: Skeleton, name: str) -> str:
    return name if sk.case == "upper" else name.title().replace("-Up", "-up")


def _section(sk: Skeleton, section: str, body: str) -> str:
    name = _head(sk, dict(sk.names)[section])
    return f"{name}: {body}" if sk.layout == "inline" and "\n" not in body else f"{name}:\n{body}"


def _join(sentences: Iterable[str]) -> str:
    return " ".join(s for s in sentences if s)


def _items(sk: Skeleton, items: list[str]) -> str:
    if sk.impression_style == "numbered" and len(items) > 1:
        return "\n".join(f"{i}. {t}" for i, t in enumerate(items, 1))
    if sk.impression_style == "dash" and len(items) > 1:
        return "\n".join(f"- {t}" for t in items)
    return _join(items)


def render(doc: Doc, sk: Skeleton, r: random.Random, *, spelling: str = "us") -> str:
    gap = "\n\n" if sk.blank_lines else "\n"
    impression = list(doc.impression)
    recommendation = list(doc.recommendation)
    if sk.recommendation == "in_impression" or sk.headerless:
        impression += recommendation
        recommendation = []
    if sk.organ_heads:
        body = "\n".join(f"{h.upper() if sk.case == 'upper' else h}: {_join(s)}" if h else _join(s) for h, s in doc.findings if s)
    else:
        # no organ headings: the paragraphs merge into two to four prose paragraphs
        paras, cur = [], []
        for _, s in doc.findings:
            cur.extend(s)
            if len(cur) >= r.choice((3, 4, 5, 6)):
                paras.append(_join(cur))
                cur = []
        if cur:
            paras.append(_join(cur))
        body = "\n".join(paras)
    pre = {"history": doc.history, "technique": doc.technique, "comparison": doc.comparison}
    order = ["history", "technique", "comparison"] if sk.order == "history_first" else ["technique", "history", "comparison"]
    if sk.headerless:
        parts = [doc.exam]
        parts += [_join(pre[s]) for s in order if pre[s]]
        parts.append(body)
        parts.append(_items(sk, impression))
    else:
        parts = [_section(sk, "exam", doc.exam)]
        parts += [_section(sk, s, _join(pre[s])) for s in order if pre[s]]
        parts.append(_section(sk, "findings", body))
        if impression:
            parts.append(_section(sk, "impression", _items(sk, impression)))
        if recommendation:
            parts.append(_section(sk, "recommendation", _join(recommendation)))
    parts.append(_join(doc.signoff))
    text = gap.join(p for p in parts if p.strip())
    return british(text) if spelling == "uk" else text


# --- sentences, for the template-split check --------------------------------------------------------

_LEAD = re.compile(r"^\s*(?:\d+\.\s+|-\s+)?(?:[A-Za-z][A-Za-z0-9 /&,()'+-]{0,40}:\s*)?")
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")


def sentences(text: str) -> list[str]:
    """The report's sentences, one leading heading ("FINDINGS:", "Liver:", "1.") removed per line."""
    out = []
    for line in text.split("\n"):
        line = _LEAD.sub("", line, count=1).strip()
        if line:
            out.extend(s.strip() for s in _SENT.split(line) if s.strip())
    return out


def normalize(sentence: str) -> str:
    """Lower case, American spelling, digits as '#', single spaces."""
    s = american(sentence).lower()
    s = re.sub(r"\d+(?:\.\d+)?", "#", s)
    return _SPACES.sub(" ", s).strip()
