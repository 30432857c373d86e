"""A compact rule-based labeler in the spirit of the Stanford CheXpert labeler.

What it takes from the CheXpert labeler (read at build time from ``chexpert_labeler/``, never
copied into the repository):

* the mention and unmention phrases per observation (``phrases/mention/*.txt``,
  ``phrases/unmention/*.txt``; ``_`` is a space, a phrase matches as a substring of the
  lowercased sentence, like CheXpert's ``re.finditer(phrase, sentence)``);
* the positional unmentions it adds in code ("over the heart", "in the left cardiac silhouette"
  ...), so a pacer over the heart is not a heart mention;
* its aggregation: per observation positive beats uncertain beats negative, except that a
  negative and an uncertain mention give uncertain; "chf"/"heart failure" positive or uncertain
  adds an uncertain Cardiomegaly; "No Finding" is positive iff no mention other than Support
  Devices is positive or uncertain -- and that includes the ``no_finding`` phrase list, which
  names *other* abnormalities (emphysema, granuloma, scoliosis...).

What is approximated: CheXpert decides negation and uncertainty with Semgrex patterns over a
dependency parse (``patterns/*.txt``). Here the same three stages run as sentence-level regular
expressions around each mention, in CheXpert's order:

1. pre-negation uncertainty: "cannot exclude/rule out", "not excluded", "no new", "no definite",
   "no obvious" before the mention -> uncertain;
2. negation: a cue ("no", "without", "negative for", "free of", "resolution of", ...) up to ten
   words before the mention in the same clause, or ("normal", "unremarkable", "within normal
   limits", "not enlarged", "not seen", "resolved", "removed", ...) up to eight words after it
   in the same clause -> negative;
3. uncertainty: "may", "possible", "likely", "suggest", "represent", "versus", "concerning for",
   ... in the same clause -> uncertain;
4. otherwise positive.

A clause ends at ";" ":" and at "but", "however", "although", "except", "which", "while",
", there is/are"; the post-mention window also ends at a comma. One deliberate deviation:
anatomical heart/mediastinum mentions ("heart size", "cardiac silhouette", "mediastinum",
"contour") count as positive only with an abnormal word (enlarged, large, prominent, widened,
increased); with "stable"/"unchanged"/"similar" they are uncertain (a CheXpert rule); with
neither ("the heart is XXXX") they are ignored, where CheXpert would call them positive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from integration.tasks.abnormality_detection import CHEXPERT_LABELS

# The phrase lists shipped with the adapter (MIT, see chexpert_labeler/README.md); the training
# data builder may read the same lists from the shared data directory instead.
VENDORED_DIR = Path(__file__).with_name("chexpert_labeler")

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)|(?<=\S)\s+(?=\d{1,2}\.\s)")


@lru_cache(maxsize=200_000)
def _split(text: str) -> tuple[str, ...]:
    parts = (p.strip() for p in _SENTENCE.split(text))
    return tuple(p for p in parts if p and re.search(r"[a-zA-Z]", p))


def sentences(text: str) -> list[str]:
    """Split report prose into sentences (". " boundaries and "1. / 2." list numbering), the way
    the labels of the training data were made."""
    return list(_split(text or ""))

NO_FINDING = "No Finding"
SUPPORT_DEVICES = "Support Devices"
OTHER = "Other Finding"  # the no_finding phrase list: abnormalities outside the 13 labels

POSITIVE, NEGATIVE, UNCERTAIN = "positive", "negative", "uncertain"

# Mention phrases that name an observation outright; the other Cardiomegaly / Enlarged
# Cardiomediastinum phrases name anatomy and need an abnormal word (see module docstring).
_CARDIAC_OBSERVATIONS = ("cardiomegaly", "cardiac enlargement", "enlarged heart")
_CARDIAC_ANATOMY_LABELS = ("Cardiomegaly", "Enlarged Cardiomediastinum")

# Extra unmentions, beyond CheXpert's, for substring matches that are plainly wrong.
_EXTRA_UNMENTIONS = {
    SUPPORT_DEVICES: ("tubercul", "plate-like", "platelike", "plate like", "endplate", "end plate", "tubular"),
    "Lung Opacity": ("scarring of the pleura",),
}

_PRE_UNCERTAIN = re.compile(
    r"\b(?:can ?not|unable to|difficult to) (?:be )?(?:exclude|excluded|rule out|ruled out)\b|"
    r"\bnot (?:be )?(?:excluded|ruled out)\b|\bno (?:new|definite|definitive|obvious|convincing)\b|"
    r"\bno evidence to rule out\b"
)
_PRE_NEGATION = re.compile(
    r"\b(?:no|not|without|nor|neither|negative for|free of|clear of|resolution of|resolved|"
    r"removal of|absence of|disappearance of|rather than|rules? out|ruled out|exclude[sd]?)\b"
)
# "normal"/"unremarkable" right before the mention: "normal heart size", "unremarkable mediastinum"
_PRE_NORMAL = re.compile(r"\b(?:normal|unremarkable)\s+(?:\w+\s+){0,2}$")
_POST_NEGATION = re.compile(
    r"^\W*(?:\w+\W+){0,8}?(?:normal|unremarkable|within normal limits|limits of normal|"
    r"not (?:be )?(?:enlarged|seen|identified|present|visualized|demonstrated|appreciated|"
    r"evident|detected|noted)|(?:has|have) (?:resolved|cleared)|resolved|removed|absent|"
    r"no longer|negative)\b"
)
_UNCERTAIN = re.compile(
    r"\b(?:may|might|could|possib(?:le|ly|ility)|probabl[ey]|likely|questionabl[ey]|question of|"
    r"suspect(?:ed)?|suspicious|concern(?:ing)?|worrisome|suggest(?:s|ive|ing|ed)?|"
    r"represent(?:s|ing)?|reflect(?:s|ing)?|versus|vs|differential|consider(?:ed)?|"
    r"correlat\w*|equivocal|indeterminate|presum\w*|maybe|perhaps|favou?r(?:ed|s)?|"
    r"cannot (?:be )?excluded?|not excluded|and/or)\b"
)
_ABNORMAL = re.compile(r"\b(?:enlarg\w*|large|larger|prominen\w*|widen\w*|increas\w*|borderline|big)\b")
_STABLE = re.compile(r"\b(?:stable|unchanged|similar|not changed|no change)\b")
_CLAUSE_BREAK = re.compile(
    r"[;:]|\b(?:but|however|although|though|except|which|while|whereas|aside from|other than)\b|"
    r",\s*(?:there (?:is|are)|and there)\b"
)
_WORD = re.compile(r"\S+")


# Not CheXpert: whole-organ statements the phrase lists do not see as mentions but that settle a
# finding -- "the lungs are clear" rules out a lung opacity. The NLI and QA generators use them so
# that they never call such a finding "not mentioned".
_LUNG_LABELS = frozenset({"Lung Opacity", "Consolidation", "Pneumonia", "Atelectasis", "Edema", "Lung Lesion"})
_IMPLIED = (
    (re.compile(r"\blungs?\b[^.]{0,30}\bclear\b|\bclear\b[^.]{0,15}\blungs?\b|well[- ]aerated|well[- ]expanded", re.I), _LUNG_LABELS),
    (re.compile(r"\bno (?:acute |active )?(?:cardiopulmonary|pulmonary|chest|lung|intrathoracic)\b|\bnormal chest\b", re.I),
     _LUNG_LABELS | {"Pleural Effusion", "Pneumothorax", "Cardiomegaly", "Enlarged Cardiomediastinum"}),
    (re.compile(r"\bno (?:acute )?(?:bone|bony|osseous|skeletal)\b|\b(?:bone|bony|osseous|skeletal) structures? (?:are |is )?(?:intact|normal|unremarkable)", re.I),
     frozenset({"Fracture"})),
)


def implied_labels(text: str) -> set[str]:
    """Labels a whole-organ statement in the text settles ("lungs are clear" -> lung opacities)."""
    out: set[str] = set()
    for regex, labels in _IMPLIED:
        if regex.search(text):
            out |= labels
    return out


@dataclass(frozen=True)
class Mention:
    label: str  # a CheXpert label, or OTHER
    text: str  # the matched phrase as it appears (lowercased)
    status: str
    sentence: int  # index into the sentences the labeler split
    start: int
    end: int


@dataclass(frozen=True)
class Labels:
    sentences: tuple[str, ...]  # lowercased, as matched
    mentions: tuple[Mention, ...]

    def status(self, label: str) -> str | None:
        """The aggregated status of one label; None when the report never mentions it."""
        return self.statuses.get(label)

    @cached_property
    def statuses(self) -> dict[str, str]:
        found: dict[str, set[str]] = {}
        for m in self.mentions:
            found.setdefault(m.label, set()).add(m.status)
            if m.text in ("chf", "heart failure") and m.status in (POSITIVE, UNCERTAIN):
                found.setdefault("Cardiomegaly", set()).add(UNCERTAIN)
        out = {}
        for label, seen in found.items():
            if POSITIVE in seen:
                out[label] = POSITIVE
            elif UNCERTAIN in seen:
                out[label] = UNCERTAIN
            else:
                out[label] = NEGATIVE
        out.pop(NO_FINDING, None)
        if not any(s in (POSITIVE, UNCERTAIN) for lab, s in out.items() if lab != SUPPORT_DEVICES):
            out[NO_FINDING] = POSITIVE
        return out

    def value(self) -> dict[str, str]:
        """The abnormality_detection value: every label, unmentioned ones negative."""
        return {label: self.statuses.get(label, NEGATIVE) for label in CHEXPERT_LABELS}

    def mentions_of(self, label: str) -> list[Mention]:
        return [m for m in self.mentions if m.label == label]

    def __add__(self, other: "Labels") -> "Labels":
        """Labels of two texts read one after the other (findings, then impression)."""
        shift = len(self.sentences)
        moved = tuple(Mention(m.label, m.text, m.status, m.sentence + shift, m.start, m.end) for m in other.mentions)
        return Labels(self.sentences + other.sentences, self.mentions + moved)


def _read_phrases(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [line.strip().replace("_", " ") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _label_of(stem: str) -> str:
    if stem == "no_finding":
        return OTHER
    name = stem.replace("_", " ").title()
    for label in CHEXPERT_LABELS:
        if label.lower() == name.lower():
            return label
    raise ValueError(f"unknown CheXpert phrase file {stem!r}")


class RuleLabeler:
    def __init__(self, mentions: dict[str, list[str]], unmentions: dict[str, list[str]]):
        self.mentions = mentions
        self.unmentions = {k: list(v) for k, v in unmentions.items()}
        # CheXpert's positional unmentions for heart / mediastinum phrases.
        positions = [a + b for a in ("over the", "overly the", "in the") for b in ("", " superior", " left", " right")]
        cardio = [p for p in mentions.get("Cardiomegaly", []) if p not in ("cardiomegaly", "cardiac enlargement")]
        self.unmentions.setdefault("Cardiomegaly", []).extend(
            f"{pos} {p.replace('the ', '')}" for pos in positions for p in cardio
        )
        self.unmentions.setdefault("Enlarged Cardiomediastinum", []).extend(
            f"{pos} {p}" for pos in positions for p in mentions.get("Enlarged Cardiomediastinum", [])
        )
        for label, extra in _EXTRA_UNMENTIONS.items():
            self.unmentions.setdefault(label, []).extend(extra)
        self._mention_re = {
            label: re.compile("|".join(re.escape(p) for p in sorted(ps, key=len, reverse=True)))
            for label, ps in mentions.items() if ps
        }
        self._unmention_re = {
            label: re.compile("|".join(re.escape(p) for p in ps)) for label, ps in self.unmentions.items() if ps
        }

    @classmethod
    def from_dir(cls, chexpert_dir: Path) -> "RuleLabeler":
        mention_dir, unmention_dir = chexpert_dir / "phrases" / "mention", chexpert_dir / "phrases" / "unmention"
        if not mention_dir.is_dir():
            raise FileNotFoundError(f"no CheXpert mention phrases under {chexpert_dir}")
        mentions = {_label_of(p.stem): _read_phrases(p) for p in sorted(mention_dir.glob("*.txt"))}
        unmentions = {_label_of(p.stem): _read_phrases(p) for p in sorted(unmention_dir.glob("*.txt"))}
        return cls(mentions, unmentions)

    def names(self, label: str, text: str) -> bool:
        """Whether ``text`` holds one of ``label``'s mention phrases, whatever it says of it
        (negated, hedged, or an anatomy word such as "cardiomediastinal silhouette")."""
        regex = self._mention_re.get(label)
        return bool(regex) and any(regex.search(f" {s.lower()} ") for s in sentences(text))

    # -- classification -------------------------------------------------------------------------

    @staticmethod
    def _clause(sentence: str, start: int, end: int) -> tuple[str, str]:
        """(clause text before the mention, clause text after it)."""
        before, after = sentence[:start], sentence[end:]
        breaks = list(_CLAUSE_BREAK.finditer(before))
        if breaks:
            before = before[breaks[-1].end():]
        m = _CLAUSE_BREAK.search(after)
        if m:
            after = after[: m.start()]
        return before, after

    def _status(self, label: str, phrase: str, sentence: str, start: int, end: int) -> str | None:
        before, after = self._clause(sentence, start, end)
        near_before = " ".join(_WORD.findall(before)[-10:])
        after_comma = after.split(",")[0]
        if _PRE_UNCERTAIN.search(near_before) or re.match(r"^\W*(?:\w+\W+){0,4}?(?:is|are)? ?not (?:be )?excluded", after_comma) \
                or re.match(r"^\W*(?:\w+\W+){0,4}?(?:can ?not|could not) be (?:excluded|ruled out)", after_comma):
            return UNCERTAIN
        if _PRE_NEGATION.search(near_before) or _PRE_NORMAL.search(before) or _POST_NEGATION.search(after_comma):
            return NEGATIVE
        uncertain = _UNCERTAIN.search(near_before) or _UNCERTAIN.search(" ".join(_WORD.findall(after_comma)[:8]))
        if label in _CARDIAC_ANATOMY_LABELS and phrase not in _CARDIAC_OBSERVATIONS:
            context = f"{before[-40:]} {phrase} {after}"
            if uncertain:
                return UNCERTAIN
            if _ABNORMAL.search(context):
                return POSITIVE
            if _STABLE.search(context):
                return UNCERTAIN
            return None  # a neutral anatomical mention
        return UNCERTAIN if uncertain else POSITIVE

    def _mentions(self, padded: str) -> list[tuple[str, str, str, int, int]]:
        """(label, phrase, status, start, end) of every mention in a lowercased sentence with a
        space at each end (CheXpert matches phrases that way); positions into ``padded``."""
        out = []
        for label, regex in self._mention_re.items():
            found = list(regex.finditer(padded))
            if not found:
                continue
            unmention = self._unmention_re.get(label)
            blocked = [m.span() for m in unmention.finditer(padded)] if unmention else []
            for m in found:
                start, end = m.span()
                if any(start < b_end and end > b_start for b_start, b_end in blocked):
                    continue
                status = self._status(label, m.group(0), padded, start, end)
                if status is not None:
                    out.append((label, m.group(0).strip(), status, start, end))
        return out

    def sentence_mentions(self, sentence: str) -> list[tuple[str, str, str, int, int]]:
        """(label, phrase, status, start, end) of every mention in one sentence, positions into
        ``sentence`` itself (the evidence finder uses them as character spans)."""
        n = len(sentence)
        return [(label, phrase, status, max(0, start - 1), min(n, end - 1))
                for label, phrase, status, start, end in self._mentions(f" {sentence.lower()} ")]

    def label(self, text: str) -> Labels:
        sents = tuple(f" {s.lower()} " for s in sentences(text))
        mentions = [Mention(label, phrase, status, i, start, end)
                    for i, sent in enumerate(sents) for label, phrase, status, start, end in self._mentions(sent)]
        return Labels(sents, tuple(mentions))
