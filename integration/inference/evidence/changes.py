"""Changes a report states itself against a prior study ("Interstitial edema has resolved.").

Radiologists write the comparison into the current report, so for ``temporal_comparison`` the report
often holds its own answer. :func:`answer` returns those statements as the task's value; the decision
layer writes them instead of a model guess, or checks a model item against a stated one with
:func:`same_finding`. A miss costs a fall back to the model; a false item overrides it, so the rules
are strict, and were checked on the IU X-ray reports as well as the cases in the tests.

* **Where**: sentences of the findings, impression and unlabelled body; never the history,
  indication, comparison, technique or recommendation ("follow-up to document resolution").
* **Change words** (``_VOCAB``): the task's ``_SYNONYMS`` plus report wording ("remains",
  "redemonstrated", "again seen", "interval development of", "no longer visualized", "has grown").
  "Resolving" / "clearing" / "partially resolved" are improved: the finding is still there. Only
  temporal uses count: not "enlarged nodes" (only "has enlarged"), "larger than the left", "a smaller
  nodule", "left worse than right", "better seen on the lateral", "clinically stable", nor more or
  less of a property ("increased T2 signal / uptake", "decreased lung volumes", "bone density is
  decreased").
* **Finding**: the noun phrase the change word is about: after it ("new X", "interval increase in
  size of the X", "no change in X") or, after a verb or with nothing following, the subject before
  it ("The X has decreased", "X, unchanged", "In the interval, X has developed"). "The heart remains
  enlarged" keeps the predicate ("enlarged heart" -> cardiomegaly). A clause with several change
  words is cut at the last ",", "and", "but", "with" between each pair: "Resolved A, improving B,
  stable C" is three items; "new X and Y" is two when X ends in a noun. Articles, sizes ("4 mm",
  "(previously 9 mm)"), severity ("small", "trace") and filler ("previously seen", "size of") are
  dropped; side and location words are kept.
* **Not items**: negated ("no new consolidation"), hedged ("possibly slightly larger"), contrary
  words in one phrase ("unchanged to slightly increased"), planned or prior ("if stable", "the prior
  study showed"), normal anatomy or the study ("mediastinal contours are stable", "lungs remain
  clear", "stable chest radiograph"), pronouns ("it has decreased"), RADS assessments.
"""

from __future__ import annotations

import re
from functools import lru_cache

from integration.inference.evidence import Fact
from integration.inference.evidence.findings import current_sentences
from integration.inference.evidence.text import Span
from integration.tasks.temporal_comparison import make_value
from integration.tasks.text import clean_phrase

_SECTIONS = ("findings", "impression", "body")

# -- change words ---------------------------------------------------------------------------------------

_SIZE_OF = r"(?:\s+(?:in\s+)?(?:the\s+)?(?:size|extent|number|degree|amount|conspicuity|volume)\s+(?:of|in))?"
_VOCAB = {  # longer phrases first: the regex takes the first alternative that matches
    "new": (r"(?:interval\s+)?(?:development|placement|insertion)\s+of|interval\s+appearance\s+of",
            r"newly\s+(?:seen|noted|identified|developed|demonstrated|placed|inserted|apparent|visualized)",
            r"new(?:[- ]onset)?|newly|developed|appeared"),
    "worsened": (r"(?:interval\s+)?(?:increase|worsening|progression|enlargement|growth)\s+(?:in|of)" + _SIZE_OF,
                 r"increased|increasing|worsened|worsening|worse|progressed|progressing|progressive|enlarging|"
                 r"enlarged|growing|grown|larger"),
    "improved": (r"(?:interval\s+)?(?:decrease|improvement|regression|reduction)\s+(?:in|of)" + _SIZE_OF,
                 r"(?:partial|near[- ]complete|nearly\s+complete|incomplete)\s+(?:resolution|clearing)\s+of",
                 r"(?:partially|nearly|almost|incompletely|mostly|largely)\s+(?:resolved|cleared)",
                 r"clearing(?:\s+of)?|resolving|improved|improving|better|decreased|decreasing|regressed|regressing|"
                 r"reduced|smaller|diminished|diminishing"),
    "resolved": (r"(?:interval\s+)?(?:resolution|removal)\s+of|been\s+removed|resolved|cleared|disappeared",
                 r"no\s+longer\s+(?:seen|visualized|visible|present|identified|evident|demonstrated|appreciated|"
                 r"noted)"),
    "unchanged": (r"(?:in\s+)?(?:stable|unchanged|similar)\s+position",
                  r"(?:unchanged|stable|similar)\s+in\s+(?:position|location|size|appearance|caliber)",
                  r"no\s+(?:significant\s+|appreciable\s+|substantial\s+|definite\s+)?(?:interval\s+)?change"
                  r"(?:\s+(?:in|of)" + _SIZE_OF + ")?",
                  r"without\s+(?:significant\s+)?(?:interval\s+)?change|not\s+(?:significantly\s+)?changed",
                  r"(?:interval\s+)?re-?demonstration\s+of|re-?demonstrated",
                  r"again\s+(?:seen|noted|demonstrated|identified|visualized|present)",
                  r"similar(?=\s+(?:appearance|size)\s+of\b|\s+in\s+(?:size|appearance|extent)\b"
                  r"|\s+to\s+(?:the\s+)?(?:prior|previous)\b|\s*$)",
                  r"unchanged|stable|stably|unaltered|persistent|persists?|persisting|persisted|remains?|remained"),
}
_CHANGE = re.compile(r"(?<![\w-])(?:" + "|".join(f"(?P<{c}>{'|'.join(p)})" for c, p in _VOCAB.items()) + r")(?!\w)",
                     re.I)
# The first words of the phrases above: the alternation is tried only where one starts (twice as fast).
_FIRST = frozenset(
    "interval development placement insertion newly new developed appeared increase worsening progression enlargement "
    "growth increased increasing worsened worse progressed progressing progressive enlarging enlarged growing grown "
    "larger decrease improvement regression reduction partial near nearly incomplete partially almost incompletely "
    "mostly largely clearing resolving improved improving better decreased decreasing regressed regressing reduced "
    "smaller diminished diminishing resolution removal been resolved cleared disappeared no in stable unchanged "
    "similar without not re redemonstration redemonstrated again stably unaltered persistent persists persist "
    "persisting persisted remains remain remained".split())
_WORD = re.compile(r"(?<![\w-])[a-z]+", re.I)
# Words that follow their subject ("the X has cleared") unless nothing precedes ("Again seen is X").
_VERB_ONLY = re.compile(r"remains?|remained|persists?|persisted|no\s+longer.*|been\s+removed|developed|appeared|"
                        r"disappeared|grown|enlarged|cleared|not\s+.*changed|without.*|worse|better|"
                        r".*\s(?:position|location|size|appearance|caliber)|(?:partially|nearly|almost|incompletely|"
                        r"mostly|largely)\s+\w+", re.I)

# -- uses that are not a change, or not stated ----------------------------------------------------------

_NOT_TEMPORAL_BEFORE = frozenset("previously clinically hemodynamically medically".split())  # "clinically stable"
_NOT_COMPARED = re.compile(r"\s+(?:than\s+(?!before|prior|previous)|of\b)", re.I)  # "larger than the left"
_NOT_BETTER = re.compile(r"\s+(?:seen|evaluated|visualized|assessed|characterized|demonstrated|appreciated|"
                         r"delineated|defined|depicted|imaged)\b", re.I)  # "better seen on the lateral view"
# More or less of a property is not a finding's change: "increased T2 signal / FDG uptake", "bone density
# is decreased", "increased retrosternal airspace / AP diameter" (hyperinflation).
_PROPERTY = re.compile(r"\b(?:signal|uptake|activity|attenuation|density|echogenicity|enhancement|intensity|lucency|"
                       r"markings|fdg|volumes?|aeration|expansion|inflation|retrosternal|ap|anteroposterior|"
                       r"dimension|diameter)\b")
_NEGATION = frozenset("no not without nor neither negative free absence absent".split())
_HEDGE = frozenset("may might could possible possibly probable probably likely questionable questionably suspected "
                   "suspicious perhaps equivocal indeterminate cannot versus vs uncertain borderline apparent "
                   "apparently".split())
# A change planned ("to document resolution", "if stable") or told of the prior, not stated for this examination.
_NOT_STATED = frozenset("recommend recommended recommends recommendation advised confirm document ensure assess "
                        "evaluate monitor until if should would will showed revealed".split())
_ABOUT_PRIOR = re.compile(r"\s*(?:on|in|at)\s+(?:the\s+)?(?:prior|previous|earlier)\b", re.I)
_NORMAL_AFTER = re.compile(r"\s+and\s+(?:within\s+normal\s+limits|normal|unremarkable)\b", re.I)

# -- which way a change word points, and where its phrase ends -------------------------------------------

_SEP = re.compile(r",?\s+(?:and|but|with|while|whereas|however|although)\s+|,\s*", re.I)
# The last word before a change word: "is | stable" (the subject before), "a | new" (the phrase after).
_AUX = frozenset("is are was were has have had been be appear appears look looks seem seems".split())
_ATTRIBUTIVE = frozenset("a an the of with without and or in for there".split())
_SKIPPED = frozenset("further since also now and but yet though overall".split())  # and adverbs in -ly
_FILLER = r"previously\s+(?:seen|noted|described|demonstrated|identified|visualized)|again|interval|there|the|an?"
_INTRO = re.compile(  # list numbers, "Compared to prior,", "In the interval,", "There is", "Slight"
    r"\s*(?:(?:\d{1,2}[.)]|[-*\u2022])\s+)?(?:(?:(?:as\s+)?compared\s+(?:to|with)|since|in\s+comparison\s+(?:to|with)|"
    r"relative\s+to|(?:in|over)\s+the\s+interval|(?:on|in)\s+(?:the\s+)?(?:current|today'?s|this|present)\b)"
    r"[^,]{0,80},\s*)*(?:(?:there\s+(?:is|are|has\s+been|have\s+been)|" + _FILLER + r"|also|otherwise|overall|"
    r"slight|mild|minimal|marked|significant|substantial|further|continued|however|additionally|furthermore|"
    r"moreover)\b[\s,]*)*", re.I)
_LEAD = re.compile(r"(?:[\s,:-]|\b(?:" + _FILLER + r"|is|are|of|in|at|size|extent|appearance|number|degree|amount|"
                   r"position|tip|conspicuity|seen|noted|known)\b)*", re.I)
_TOKEN = re.compile(r"[a-z0-9][\w'/.-]*|[^\w\s]", re.I)
# Where the noun phrase after a change word ends ("new right PICC line | terminates"): a verb, a clause
# word, or punctuation.
_NP_END = frozenset(
    ", ; : ( ) [ ] - is are was were has have had be been which that who now previously since compared comparison "
    "from when than as given due status after following overlying likely probably possibly consistent compatible "
    "concerning suspicious seen noted identified demonstrated visualized present on to with without or but however "
    "while whereas again remain remains persist persists appear appears no not otherwise also adjacent containing "
    "including causing".split())
_NP_END_PREFIXES = ("measur", "terminat", "extend", "project", "cours", "suggest", "represent")
# Where the subject before a change word ends ("the heart | remains").
_SUBJECT_END = frozenset("; is are was were has have had remain remains remained persist persists persisted appear "
                         "appears look looks seem seems demonstrate demonstrates show shows which that who now with "
                         "again continue continues".split())
# A part of the subject with no word of its own ("X, | slightly | improved") or an aside ("X, | left greater
# than right, | are unchanged") is skipped.
_CONTENT = re.compile(r"\b(?!(?:\w+(?<!a)ly|further|also|now|and|but|since)\b)[a-z]{3,}", re.I)
_ASIDE = re.compile(r"\s*(?:(?:left|right)\s+(?:greater|larger|more|worse)\s+than|measuring|series|image|now|"
                    r"previously\s+\d)", re.I)
# A predicate that names the finding: "the heart remains | enlarged" -> "enlarged heart".
_PRED = (r"(enlarged|elevated|dilated|thickened|prominent|distended|widened|collapsed|opacified|hyperinflated|"
         r"hyperexpanded|tortuous|calcified|displaced|narrowed|blunted|ectatic|aneurysmal|low)\b")
_PRED_AFTER_AUX = re.compile(r"\b(?:is|are|was|were|remains?|remained|appears?|been)\s+(?:\w+ly\s+)?" + _PRED, re.I)
_PRED_NEXT = re.compile(r"\s*(?:\w+ly\s+)?" + _PRED, re.I)

# -- the finding phrase ----------------------------------------------------------------------------------

# Dropped from a finding: sizes, asides, severity, temporal filler (they describe, not name, it).
_DROP = re.compile(
    r"\([^)]*\)|\b\d+(?:\.\d+)?(?:\s*(?:x|by|×)\s*\d+(?:\.\d+)?)*\s*-?\s*(?:mm|cm|ml|cc)\b|-sized\b|"
    r"\b(?:small|large)(?!\s+(?:bowel|intestin\w*|cell|airways?|vessels?))\b|\b(?:tiny|trace|minimal(?:ly)?|"
    r"mild(?:ly)?|moderate(?:ly)?|marked(?:ly)?|severe(?:ly)?|slight(?:ly)?|subtle|extensive|significant(?:ly)?|"
    r"somewhat|essentially|grossly|overall|otherwise|relatively|residual|known|again|interval|re-?demonstrated|"
    r"appearing|previously\s+\w+|in\s+size|to|(?:larger|smaller|largest|smallest)\s+of\s+(?:the\s+)?"
    r"(?:two|three|several)?)\b", re.I)
_EDGE_WORDS = re.compile(r"^(?:(?:a|an|the|this|these|those|its|their|some|of|in|and|size|extent|appearance|"
                         r"number|degree|amount|position|tip)\s+)+|(?:\s+(?:of|in|and|the|at|with))+$")
# The commonest chest synonyms only: cardiomegaly is written many ways, devices by abbreviation.
_CARDIOMEGALY = re.compile(r"enlarged (?:heart(?: size)?|cardiac (?:silhouette|size)|cardiomediastinal silhouette)|"
                           r"(?:heart(?: size)?|cardiac silhouette) (?:is )?enlarged|cardiac enlargement")
_ABBREVIATIONS = {"ptx": "pneumothorax", "ett": "endotracheal tube", "et tube": "endotracheal tube",
                  "ngt": "nasogastric tube", "ng tube": "nasogastric tube"}
# A phrase of these words only names no finding: normal anatomy ("mediastinal and hilar contours are
# stable"), the study, or a pronoun.
_NOT_FINDING = frozenset(
    "heart cardiac cardiomediastinal mediastinal mediastinum hilar hila hilum contour contours silhouette size lung "
    "lungs both left right bilateral pulmonary vasculature vascularity soft tissue tissues osseous bony bones skeletal "
    "structures thorax chest abdomen pelvis head brain neck spine and the of appearance exam examination study "
    "findings alignment position trachea superior it this that they these there which baseline patient remainder "
    "otherwise overall similar redemonstration interval prior previous".split())
_NORMAL = re.compile(r"\b(?:normal|clear|unremarkable|non-?enlarged|within\s+normal\s+limits|comparison|compared|"
                     r"exam|examination|study|radiographs?|films?|prior|previous)\b", re.I)  # or the study itself
_AND = re.compile(r"\s+and\s+", re.I)
_ADJECTIVE_END = re.compile(r"(?:ar|al|ic|ed|ous|ent|ant|ive|ary|ory|ior|left|right|upper|lower|middle|first|"
                            r"second|third|\wth)$", re.I)
_LETTERS = re.compile(r"[a-z]{3}", re.I)


@lru_cache(maxsize=4096)  # same_finding compares every pair of a report's findings
def _clean(raw: str) -> str:
    """A finding phrase in ``clean_phrase`` form, descriptions dropped and synonyms folded."""
    raw = next((part for part in reversed(raw.split(":")) if _LETTERS.search(part)), "")  # "Impression: X"
    s = _EDGE_WORDS.sub("", clean_phrase(" ".join(_DROP.sub(" ", raw).split()))).strip()
    return "cardiomegaly" if _CARDIOMEGALY.fullmatch(s) else _ABBREVIATIONS.get(s, clean_phrase(s))


def _findings(raw: str, adjective: str = "") -> tuple[str, ...]:
    """The findings a phrase names: "X and Y" is two when X ends in a noun ("left effusion and right
    atelectasis"), one when it ends in an adjective ("hilar and mediastinal nodes")."""
    if (words := raw.lower().split()) and words[0] in _NEGATION:
        return ()  # "There remains | no evidence of X"
    parts = _AND.split(raw)
    if len(parts) != 2 or _ADJECTIVE_END.search(parts[0].strip()):
        parts = [raw]
    out = (_clean(f"{adjective} {part}" if adjective else part) for part in parts)
    return tuple(s for s in out if _LETTERS.search(s) and not _NOT_FINDING.issuperset(s.split())
                 and not _NORMAL.search(s))


def _end(piece: str, start: int, stop: int, words: frozenset[str], prefixes: tuple[str, ...]) -> int:
    """Where the first of ``words`` (or a word starting with one of ``prefixes``) in ``piece[start:stop]`` is."""
    for token in _TOKEN.finditer(piece, start, stop):
        if (t := token.group().lower()) in words or t.startswith(prefixes):
            return token.start()
    return stop


def _after(piece: str, pos: int) -> tuple[int, int, tuple[str, ...]]:
    """The noun phrase after a change word ("new | right PICC line | terminates ...")."""
    start = _LEAD.match(piece, pos).end()
    end = _end(piece, start, len(piece), _NP_END, _NP_END_PREFIXES)
    if end < len(piece) and (m := _PRED_AFTER_AUX.match(piece, end)):  # "Unchanged the heart is mildly enlarged"
        return start, m.end(), _findings(piece[start:end], m.group(1))
    return start, end, _findings(piece[start:end])


def _before(piece: str, pos: int, word: str) -> tuple[int, int, tuple[str, ...]]:
    """The subject before a change word ("The heart | remains enlarged")."""
    start = _INTRO.match(piece, 0, pos).end()
    if (colon := piece.rfind(":", start, pos)) >= 0 and _LETTERS.search(piece, colon, pos):  # "Pleura: X has"
        start = _INTRO.match(piece, colon + 1, pos).end()
    end = _end(piece, start, pos, _SUBJECT_END, ("measur",))
    # the subject is the last comma-separated part with words of its own, asides skipped: "In the interval,
    # |X| has", "|X|, left greater than right, are", "|X|, slightly improved"; commas in brackets do not count
    masked = re.sub(r"\([^)]*\)", lambda m: " " * len(m.group()), piece[:end])
    parts: list[tuple[int, int]] = []
    part_start = start
    for comma in [i for i in range(start, end) if masked[i] == ","] + [end]:
        if _CONTENT.search(piece, part_start, comma) and not _ASIDE.match(piece, part_start):
            parts.append((part_start, comma))
        part_start = comma + 1
    start, end = parts[-1] if parts else (start, start)
    if word[:6].lower() in ("remain", "persis") and (m := _PRED_NEXT.match(piece, pos + len(word))):
        return start, m.end(), _findings(piece[start:end], m.group(1))
    m = _PRED_AFTER_AUX.search(piece, end, pos)  # "The heart is enlarged but stable"
    return start, end, _findings(piece[start:end], m.group(1) if m else "")


def _valid(clause: str, m: re.Match[str]) -> bool:
    """Is this change word used temporally?"""
    word, before = m.group(0).lower(), clause[max(0, m.start() - 40):m.start()].lower().split()[-2:] or [""]
    if before[-1] in _NOT_TEMPORAL_BEFORE:  # "previously stable", "clinically stable"
        return False
    if word in ("larger", "smaller", "better", "worse") and (before[-1] in ("a", "an", "the", "left", "right") or
                                                            _NOT_COMPARED.match(clause, m.end())):
        return False  # "larger than the left", "a smaller nodule", "left worse than right": within this study
    if word in ("better", "worse") and _NOT_BETTER.match(clause, m.end()):
        return False
    return word != "enlarged" or bool({"has", "have", "had"} & {before[-1], before[0]})  # not "enlarged nodes"


def _change_words(clause: str) -> list[re.Match[str]]:
    """The temporal change words of a clause, left to right, not overlapping."""
    out: list[re.Match[str]] = []
    for w in _WORD.finditer(clause.lower()):
        if w.group() in _FIRST and (not out or w.start() >= out[-1].end()) and \
                (m := _CHANGE.match(clause, w.start())) and _valid(clause, m):
            out.append(m)
    return out


def _pieces(clause: str) -> list[tuple[int, int, list[re.Match[str]]]]:
    """The clause cut between consecutive change words at the last separator between them."""
    matches = _change_words(clause)
    out: list[tuple[int, int, list[re.Match[str]]]] = []
    start = first = 0
    for i in range(1, len(matches)):
        if seps := list(_SEP.finditer(clause, matches[i - 1].end(), matches[i].start())):
            out.append((start, seps[-1].start(), matches[first:i]))
            start, first = seps[-1].end(), i
    return out + [(start, len(clause), matches[first:])] if matches else []


def _item(piece: str, at: int, word: str) -> tuple[int, int, tuple[str, ...]] | None:
    """(start, end, findings) of the statement around the change ``word`` at ``at``; None if it states none."""
    before, after_word, lowered = piece[:at], at + len(word), piece.lower()
    if not _NEGATION.isdisjoint(w.strip(".()").lower() for w in _SEP.split(before)[-1].split()[-6:]) or \
            not _NOT_STATED.isdisjoint(_WORD.findall(lowered)) or _ABOUT_PRIOR.match(piece) or "rads" in lowered:
        return None  # negated, planned, about the prior, or a RADS assessment ("BI-RADS 2: benign, stable")
    core = before[_INTRO.match(before).end():].rsplit(":", 1)[-1].replace(",", " ").lower().split()
    while core and (core[-1] in _SKIPPED or core[-1].endswith("ly") and not core[-1].endswith("aly")):
        core.pop()  # "has slightly | decreased", "is enlarged but | stable"
    attributive = bool(core) and core[-1] in _ATTRIBUTIVE
    if core and not attributive and (core[-1] in _AUX or _VERB_ONLY.fullmatch(word)):
        start, end, found = _before(piece, at, word)  # "X has decreased", "X remains"
    else:
        start, end, found = _after(piece, after_word)  # "New X", "Cardiomegaly with new X"
        if end == start and not attributive:  # nothing follows: "X, unchanged", "Lines/tubes: unchanged"
            start, end, found = _before(piece, at, word)
    if _NORMAL_AFTER.match(piece, after_word) or \
            word.lower().startswith(("increas", "decreas", "reduc", "diminish")) and any(map(_PROPERTY.search, found)):
        return None  # "X is stable and within normal limits", "bone density is decreased"
    # a hedge after the finding is about its cause ("X, likely pneumonia"); "newly apparent" is no hedge
    said = lowered[:at] + " " + lowered[after_word:max(end, after_word)]
    if not found or "?" in said or "not definitely" in said or \
            any(w in _HEDGE or w.startswith("suggest") for w in _WORD.findall(said)):
        return None
    start, end = min(start, at), max(end, after_word)
    return start, start + len(piece[start:end].rstrip(" ,")), found


@lru_cache(maxsize=64)
def stated_changes(report: str) -> tuple[Fact, ...]:
    """Each change the report states, in report order: ``Fact(value={"finding", "change"}, span=<change
    word and finding>, sentence, section, kind="change")``; one fact per finding of "new X and Y"."""
    out: list[Fact] = []
    for sentence in current_sentences(report):
        if sentence.section not in _SECTIONS:
            continue
        for clause in re.finditer(r"[^;]+", sentence.text.rstrip(" .!")):
            for start, end, matches in _pieces(clause.group(0)):
                if len({m.lastgroup for m in matches}) > 1:  # "unchanged to slightly increased": unclear
                    continue
                m, offset = matches[0], sentence.span.start + clause.start() + start
                if item := _item(clause.group(0)[start:end], m.start() - start, m.group(0)):
                    span = Span(offset + item[0], offset + item[1])
                    out.extend(Fact({"finding": finding, "change": m.lastgroup}, span, sentence.span,
                                    sentence.section, kind="change") for finding in item[2])
    return tuple(out)


def answer(report: str) -> list[dict[str, str]] | None:
    """The stated changes as the task's value; None when the report states none (or only conflicting
    ones), so the caller falls back to the model.

    Mentions of one finding (:func:`same_finding`) merge under the most specific phrase. Where they
    disagree, the impression's change wins; a disagreement it does not settle drops the finding."""
    by_head: dict[str, list[list[Fact]]] = {}  # only findings with one head noun can be the same
    for fact in stated_changes(report):
        groups = by_head.setdefault(_key(fact.value["finding"])[0], [])
        for group in groups:
            if any(same_finding(f.value["finding"], fact.value["finding"]) for f in group):
                group.append(fact)
                break
        else:
            groups.append([fact])
    pairs: list[tuple[str, str]] = []
    for group in (g for groups in by_head.values() for g in groups):
        changes = {f.value["change"] for f in group}
        if len(changes) > 1:
            changes = {f.value["change"] for f in group if f.section == "impression"}
        if len(changes) == 1:
            # the most qualified phrase ("bilateral pleural effusions" over "effusions"), then the shortest
            name = max((f.value["finding"] for f in group), key=lambda n: (len(_key(n)[1] | _key(n)[2]), -len(n)))
            pairs.append((name, changes.pop()))
    return make_value(pairs) if pairs else None


_SIDES = frozenset({"left", "right", "bilateral"})
# Words that do not tell two findings apart ("pulmonary edema" ~ "interstitial edema" ~ "edema").
_GENERIC = frozenset("pulmonary lung focal sided side the a an of in at within along involving".split())
_PREPOSITIONS = frozenset("of in at within along involving".split())
_IRREGULAR = {"pneumothoraces": "pneumothorax", "apices": "apex", "metastases": "metastasis",
              "bibasilar": "bilateral basilar", "biapical": "bilateral apical", "bibasal": "bilateral basal"}


def _singular(word: str) -> str:
    if word in _IRREGULAR or word.endswith("sses"):
        return _IRREGULAR.get(word, word[:-2])
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith(("ss", "is", "us")) and len(word) > 3 else word


def _words(phrase: str) -> list[str]:
    return " ".join(_singular(w) for w in re.findall(r"[a-z0-9]+", _clean(phrase))).split()


@lru_cache(maxsize=4096)
def _key(phrase: str) -> tuple[str, frozenset[str], frozenset[str]]:
    """(head noun, sides, other qualifiers): "opacity in the right lower lobe" -> opacity, {right}, {lower, lobe}."""
    words = _words(phrase)
    main = words[:next((i for i, w in enumerate(words) if w in _PREPOSITIONS and i), len(words))]
    head = next((w for w in reversed(main) if w not in _GENERIC and w not in _SIDES), "")
    return head, frozenset(words) & _SIDES, frozenset(words) - _SIDES - _GENERIC - {head}


def same_finding(a: str, b: str) -> bool:
    """Do two finding phrases name the same finding? Same head noun (the last word before any
    preposition), no contrary side (left / right / bilateral), and the other qualifiers of one phrase
    all in the other: "effusions" ~ "bilateral pleural effusions", "nodule" ~ "right lower lobe
    nodule", "cardiomegaly" ~ "heart enlarged"; not "pleural" ~ "pericardial effusion"."""
    (head_a, side_a, mods_a), (head_b, side_b, mods_b) = _key(a), _key(b)
    if not head_a or head_a != head_b or (side_a and side_b and side_a != side_b):
        return False
    return mods_a <= mods_b or mods_b <= mods_a
