"""Which sentences of a report name a finding, and what they say of it.

Abnormality results are checked against the report with the CheXpert labeler's own mention
phrases (vendored, MIT: ``chexpert_labeler/``) and the labeler's negation and uncertainty rules
(:mod:`integration.inference.evidence.chexpert`): a finding the model calls present must be named in the
report, not only negated there. Free-text answers (entities, temporal findings, a generated
impression) are checked by where their words occur in the report.

Only sentences about this examination count: the history ("rule out pneumonia") and the
comparison do not.
"""

from __future__ import annotations

import re
from functools import lru_cache

from integration.inference.evidence import Fact
from integration.inference.evidence.chexpert import (
    NO_FINDING,
    SUPPORT_DEVICES,
    VENDORED_DIR,
    RuleLabeler,
    implied_labels,
)
from integration.inference.evidence.text import CURRENT_SECTIONS, Sentence, Span, negated, sentence_at, sentences

POSITIVE, NEGATIVE, UNCERTAIN = "positive", "negative", "uncertain"


@lru_cache(maxsize=1)
def labeler() -> RuleLabeler:
    return RuleLabeler.from_dir(VENDORED_DIR)


def current_sentences(text: str) -> list[Sentence]:
    """Sentences about this examination; the whole report when it has no such section."""
    current = [s for s in sentences(text) if s.section in CURRENT_SECTIONS]
    return current or list(sentences(text))


@lru_cache(maxsize=64)
def mentions(text: str) -> tuple[Fact, ...]:
    """Every CheXpert-label mention in this examination's sentences. ``Fact.value`` is the label,
    ``Fact.extra["status"]`` positive / negative / uncertain, ``Fact.span`` the phrase."""
    out = []
    for s in current_sentences(text):
        for label, _phrase, status, start, end in labeler().sentence_mentions(s.text):
            out.append(Fact(label, Span(s.span.start + start, s.span.start + end), s.span, s.section,
                            kind="finding", extra={"status": status}))
    return tuple(out)


def label_evidence(text: str, label: str) -> tuple[list[Fact], list[Fact]]:
    """(sentences naming ``label`` as present or possible, sentences negating it)."""
    found = [f for f in mentions(text) if f.value == label]
    return ([f for f in found if f.extra["status"] in (POSITIVE, UNCERTAIN)],
            [f for f in found if f.extra["status"] == NEGATIVE])


def no_finding_evidence(text: str) -> tuple[list[Fact], list[Fact]]:
    """For "No Finding": (sentences that settle a normal study, mentions of an abnormality).

    Normal statements are whole-organ sentences ("the lungs are clear", "no acute
    cardiopulmonary process") and negated mentions; any positive or uncertain mention of a label
    other than Support Devices contradicts "No Finding"."""
    abnormal = [f for f in mentions(text)
                if f.extra["status"] in (POSITIVE, UNCERTAIN) and f.value not in (NO_FINDING, SUPPORT_DEVICES)]
    normal: list[Fact] = []
    for s in current_sentences(text):
        if implied_labels(s.text):
            normal.append(Fact(NO_FINDING, s.span, s.span, s.section, kind="finding", note="normal statement"))
    if not normal:
        normal = [f for f in mentions(text) if f.extra["status"] == NEGATIVE]
    return normal, abnormal


# -- free text: where do an answer's words occur? -------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")
# Words that carry no finding: an answer sharing only these with a sentence is not supported by it.
_STOP = frozenset(
    "a an the of in on at to and or with without is are was were be been there this that these those "
    "no not any for from by as its it their left right bilateral small large mild moderate severe new "
    "stable unchanged seen noted again also now than since prior previous study exam examination".split()
)


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def phrase_span(text: str, phrase: str) -> Span | None:
    """Where ``phrase`` occurs in the report (case- and whitespace-insensitive), first occurrence
    in this examination's sentences preferred."""
    words = phrase.split()
    if not words:
        return None
    pattern = re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words[:30]) + r"(?!\w)", re.IGNORECASE)
    first = None
    for m in pattern.finditer(text):
        span = Span(m.start(), m.end())
        sentence = sentence_at(text, span.start)
        if sentence is not None and sentence.section in CURRENT_SECTIONS:
            return span
        first = first or span
    return first


def phrase_fact(text: str, phrase: str, value: object) -> Fact | None:
    """The phrase's occurrence as evidence, with its sentence; None when the report lacks it."""
    span = phrase_span(text, phrase)
    if span is None:
        return None
    sentence = sentence_at(text, span.start)
    if sentence is None:
        return Fact(value, span, span, "body", kind="finding")
    return Fact(value, span, sentence.span, sentence.section, kind="finding",
                extra={"negated": negated(sentence.text, span.start - sentence.span.start,
                                          span.end - sentence.span.start)})


def best_sentence(text: str, claim: str, min_overlap: float = 0.5) -> Fact | None:
    """The report sentence that shares the most content words with ``claim``; None when no sentence
    holds at least ``min_overlap`` of the claim's content words (the claim is not supported)."""
    words = content_words(claim)
    if not words:
        return None
    best, best_share = None, 0.0
    for s in sentences(text):
        share = len(words & content_words(s.text)) / len(words)
        if share > best_share:
            best, best_share = s, share
    if best is None or best_share < min_overlap:
        return None
    return Fact(claim, best.span, best.span, best.section, kind="finding", extra={"overlap": round(best_share, 3)})
