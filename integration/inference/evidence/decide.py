"""From the model's answer to what the adapter may write: stated facts win, evidence, confidence.

Every task result passes through :func:`decide` after inference and before it is stored. The rules,
in order (docs/model.md, "What the adapter writes"):

1. **Stated facts win.** Where the report states the answer itself (a RADS category, a TNM
   category, "no distant metastases", a change since the prior: "the effusions have decreased"),
   that is the answer (source ``stated``, confidence 1.0; :mod:`integration.inference.evidence.changes`
   for temporal comparison).
   Where it states the assessment in the lexicon's own defining words ("highly suggestive of
   malignancy" in a mammogram is BI-RADS 5; a TI-RADS point total), the category those words
   define is the answer (source ``derived``, :mod:`integration.inference.evidence.rads_wording`). A model
   answer that disagrees is kept in ``disagreement`` and never written. A model that finds no
   RADS category in what is plainly a RADS examination (a mammogram), or another system's, is
   not written either.
2. **Findings must agree.** For N and M staging the findings-based verifier
   (:mod:`integration.inference.evidence.lung_staging`) derives the category from node stations and
   metastatic sites; the model's answer is written when the two agree (source ``verified``).
   When they disagree, both answers are recorded and the result is abstained -- unless the model
   is below its confidence threshold (it is unsure, so its answer would not be written anyway)
   and the findings are unhedged: then the findings' category is written (source ``findings``).
3. **Evidence on every written answer.** Each written answer carries the report sentences behind
   it: the stated category, the node and metastasis sentences, the sentence naming a finding.
   A finding the report does not name, or names only to negate, is not written.
4. **Confidence.** Every answer carries a confidence: the model's probability of the chosen label
   or slot option, or, for generated answers, the geometric-mean probability of the generated
   tokens (``exp`` of CTranslate2's length-normalised score; a documented proxy, not a calibrated
   probability). An answer that rests on the model alone is written only at or above its task's
   threshold (chosen on val data, shipped in the bundle, overridable per site).

An abstained result keeps the model's answer in ``model_value`` and has ``value`` None, so the
write-back writes nothing for it; ``abstention`` says why. List-valued results (abnormality labels,
entities, temporal changes) drop only the items that fail and list them in ``abstained_items``.

``evidence`` maps the key of each written item -- the same key the write-back uses for its
Observation ("assessment", "category", "text", "label:Pleural Effusion", "entity:OBS-DP:effusion",
"change:effusion:improved") -- to a list of spans: ``offset``/``length`` of the sentence in the report
text the adapter extracted, the ``match`` inside it, the section, and the sentence text itself (the
job record is PHI-bearing storage like the report; evidence text is never logged).
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable

from integration.inference.evidence import Fact, changes, findings, lung_staging, rads, rads_wording, tnm
from integration.inference.evidence.text import Span, uncertain
from integration.tasks import TASKS, TaskInput

# The confidence of an answer derived by rules from the report's words rather than read as a stated
# code: a staging category from the findings (the model unsure and disagreeing), a RADS category
# from the lexicon's assessment wording. A floor below the rules' measured precision -- staging
# verifier N 133/133 and M 314/316 on generated val reports (v2 templates), 27/27 on the
# independent cases (tests/data/cases) -- because generated data overstates it.
RULE_CONFIDENCE = 0.9

# The labels each task writes (others, e.g. negative abnormality labels, are kept but never written).
_WRITTEN_STATUSES = ("positive", "uncertain")
_WRITTEN_ENTITY_LABELS = TASKS["radiology_ner"].vocabulary["written"]

# Words that name each RADS system's organ or exam: a model-only RADS answer needs one of them in
# the report (a BI-RADS answer for a report that never mentions a breast is not written).
_RADS_ORGANS: dict[str, re.Pattern[str]] = {
    "BI-RADS": re.compile(r"\b(?:breasts?|mammo\w*|tomosynthesis|axilla\w*)\b", re.I),
    "LI-RADS": re.compile(r"\b(?:liver|hepatic|hepato\w*|cirrho\w*|LR-\w+)\b", re.I),
    "PI-RADS": re.compile(r"\b(?:prostat\w*|peripheral zone|transition zone)\b", re.I),
    "TI-RADS": re.compile(r"\b(?:thyroid|TR\d)\b", re.I),
    "Lung-RADS": re.compile(r"\b(?:lungs?|pulmonary|nodules?|lobe)\b", re.I),
    "O-RADS": re.compile(r"\b(?:ovar\w*|adnex\w*|pelvic ultrasound|cyst)\b", re.I),
    "CAD-RADS": re.compile(r"\b(?:coronar\w*|LAD|stenosis|CCTA)\b", re.I),
    "NI-RADS": re.compile(r"\b(?:neck|head and neck|larynx|pharyn\w*|oral cavity|surveillance)\b", re.I),
    "VI-RADS": re.compile(r"\b(?:bladder|detrusor|urothelial)\b", re.I),
    "C-RADS": re.compile(r"\b(?:colon\w*|CT colonography|polyps?|rectum|rectal)\b", re.I),
}
# A generated impression that calls the study normal, for a report that says otherwise.
_NORMAL_CLAIM = re.compile(
    r"\b(?:no acute (?:\w+ ){0,2}(?:disease|process|abnormality|findings?)|normal (?:study|examination|exam)|"
    r"no (?:significant )?abnormalit\w*|unremarkable (?:study|examination|exam))\b", re.I)
_ABNORMAL_WORDS = re.compile(
    r"\b(?:mass|masses|metasta\w*|malignan\w*|carcinoma|tumou?r|suspicious|neoplasm|lymphadenopathy|"
    r"nodules?|lesions?|fracture|pneumothorax|effusion|consolidation|edema|oedema|hemorrhage|haemorrhage)\b", re.I)
_SUSPICIOUS_RADS = {"BI-RADS": {"0", "3", "4", "4A", "4B", "4C", "5", "6"}, "LI-RADS": {"LR-3", "LR-4", "LR-5", "LR-M", "LR-TIV"},
                    "PI-RADS": {"3", "4", "5"}, "TI-RADS": {"TR3", "TR4", "TR5"}, "Lung-RADS": {"3", "4A", "4B", "4X"},
                    "O-RADS": {"3", "4", "5"}, "CAD-RADS": {"3", "4A", "4B", "5"}, "NI-RADS": {"2b", "3", "4"},
                    "VI-RADS": {"3", "4", "5"}, "C-RADS": {"C2", "C3", "C4", "E3", "E4"}}


def threshold_for(task: str, bundle_thresholds: dict[str, float] | None, site: dict[str, float] | None) -> float:
    """The site's override, else the bundle's val-chosen threshold, else the default."""
    if site and task in site:
        return float(site[task])
    if bundle_thresholds and task in bundle_thresholds:
        return float(bundle_thresholds[task])
    return TASKS[task].min_confidence if task in TASKS else 0.5


# -- evidence as stored -----------------------------------------------------------------------------


def evidence_item(text: str, fact: Fact) -> dict[str, Any]:
    """One evidence span as the job record, the API and the write-back carry it."""
    return {
        "offset": fact.sentence.offset,
        "length": fact.sentence.length,
        "match": {"offset": fact.span.offset, "length": fact.span.length},
        "section": fact.section,
        "kind": fact.kind,
        "text": fact.sentence.of(text),
        **({"note": fact.note} if fact.note else {}),
    }


def _items(text: str, facts: Iterable[Fact], limit: int = 4) -> list[dict[str, Any]]:
    out, seen = [], set()
    for fact in facts:
        key = (fact.sentence.start, fact.span.start)
        if key in seen:
            continue
        seen.add(key)
        out.append(evidence_item(text, fact))
        if len(out) >= limit:
            break
    return out


# -- confidence --------------------------------------------------------------------------------------


def confidence(record: dict[str, Any]) -> float | None:
    """The model's confidence in its whole answer (see the module docstring)."""
    probs = record.get("label_probs")
    if probs:
        return round(max(probs.values()), 4)
    if record.get("mean_logprob") is not None:
        return round(math.exp(min(0.0, float(record["mean_logprob"]))), 4)
    slots = record.get("slot_probs")
    value = record.get("value")
    if slots and isinstance(value, dict):
        chosen = [slots[k].get(v, 0.0) for k, v in value.items() if k in slots]
        return round(min(chosen), 4) if chosen else None
    return None


def _slot_confidence(record: dict[str, Any], label: str, status: str) -> float | None:
    probs = (record.get("slot_probs") or {}).get(label)
    return round(float(probs.get(status, 0.0)), 4) if probs else None


# -- the decision ------------------------------------------------------------------------------------


def decide(task: str, x: TaskInput, record: dict[str, Any], min_confidence: float) -> dict[str, Any]:
    """``record`` (the worker's result record for ``task`` on ``x``) with the decision added:
    value, model_value, source, confidence, threshold, evidence, abstained, abstention and, where
    they apply, disagreement and abstained_items."""
    out = dict(record)
    out["model_value"] = record.get("value")
    out["confidence"] = confidence(record)
    out["threshold"] = min_confidence
    out.update(source=None, evidence={}, abstained=False, abstention=None)
    rule = _RULES.get(task)
    if rule is not None:
        rule(x, out, min_confidence)
    elif task in TASKS and not TASKS[task].routable:
        _api_only(x, out, min_confidence)
    else:
        # A task without rules of its own (no extractor, no verifier): its answer stands on the
        # model alone, so the confidence threshold decides whether it is written.
        _model_only(out, min_confidence)
    return out


def _abstain(out: dict[str, Any], reason: str, detail: str) -> None:
    """No value is written; the model's own answer stays in ``model_value``."""
    out.update(value=None, abstained=True, abstention={"reason": reason, "detail": detail})


def _model_only(out: dict[str, Any], threshold: float) -> bool:
    """Apply the confidence rule to an answer that rests on the model alone; True when it stands."""
    out["source"] = "model"
    if not out.get("parsed"):
        _abstain(out, "unparsed", "the model's answer could not be read")
        return False
    conf = out.get("confidence")
    if conf is None or conf < threshold:
        _abstain(out, "low_confidence", f"model confidence {conf} below the threshold {threshold}")
        return False
    return True


def _stated(out: dict[str, Any], text: str, fact: Fact, key: str) -> None:
    model = out.get("model_value")
    out.update(value=fact.value, source="stated", confidence=1.0, evidence={key: _items(text, [fact])})
    if out.get("parsed") and model != fact.value:
        out["disagreement"] = {"model": model, "stated": fact.value}


def _rads(x: TaskInput, out: dict[str, Any], threshold: float) -> None:
    text = x.report
    fact = rads.answer(text)
    if fact is not None:
        _stated(out, text, fact, "assessment")
        return
    derived = rads_wording.derived_rads(text)
    if derived is not None:
        # The report's own assessment words ("highly suggestive of malignancy") or criteria
        # (TI-RADS points) decide the category, as the lexicon defines it.
        _stated(out, text, derived, "assessment")
        out.update(source="derived", confidence=RULE_CONFIDENCE)
        return
    exam = rads_wording.rads_exam(text)
    model = out.get("value") if out.get("parsed") else None
    if isinstance(model, dict) and model.get("system") is None:
        out["source"] = "model"
        if exam is not None:
            _abstain(out, "rads_exam", f"the report is a {exam[0]} examination; the model found no category")
        else:
            # "No applicable RADS", and the report is no RADS examination and states no category:
            # the exam check agrees. Never written to a chart (no mapping writes it).
            out["source"] = "verified"
        return
    if not _model_only(out, threshold):
        return
    value = out["value"] or {}
    system = value.get("system")
    if exam is not None and exam[0] != system:
        _abstain(out, "system_mismatch", f"the report is a {exam[0]} examination, the model answered {system}")
        return
    organ = _RADS_ORGANS.get(system)
    facts = [exam[1]] if exam is not None else []
    if organ is not None:
        for s in findings.current_sentences(text):
            if organ.search(s.text):
                facts.append(Fact(value, s.span, s.span, s.section, kind="finding", note=f"{system} organ"))
    if not facts:
        _abstain(out, "no_evidence", f"the report names no organ {system} applies to")
        return
    out["evidence"] = {"assessment": _items(text, facts, limit=3)}


def _agrees(model: str | None, verified: str) -> bool:
    """Does the model's category agree with the verifier's? A verifier that decides only "M1"
    (a non-lung primary) agrees with any M1 subcategory."""
    if model is None:
        return False
    return model == verified or (verified == "M1" and model.startswith("M1"))


def _staging(stated_answer, verify, key: str = "category"):
    def rule(x: TaskInput, out: dict[str, Any], threshold: float) -> None:
        text = x.report
        fact = stated_answer(text)
        if fact is not None:
            _stated(out, text, fact, key)
            return
        verdict = verify(text)
        model = out.get("model_value") if out.get("parsed") else None
        if verdict.applicable and verdict.value is not None:
            if _agrees(model, verdict.value):
                # What is written is what the findings verify: a generic "M1" (a primary whose M has no
                # lung-style subcategories, or a count the report leaves open) stays "M1".
                out.update(value=verdict.value if verdict.value == "M1" else model, source="verified",
                           evidence={key: _items(text, verdict.evidence)})
                return
            out["disagreement"] = {"model": model, "verifier": verdict.value}
            conf = out.get("confidence")
            if verdict.uncertain or (conf is not None and conf >= threshold):
                # Two credible answers disagree (or the findings are hedged): write neither.
                _abstain(out, "verifier_disagrees",
                         f"the findings support {verdict.value}, the model answered {model} ({verdict.reason})")
                return
            # The model is unsure (below its threshold) and the findings decide it unhedged: the
            # findings' answer stands, with the node / metastasis sentences as its evidence.
            out.update(value=verdict.value, source="findings", confidence=RULE_CONFIDENCE,
                       evidence={key: _items(text, verdict.evidence)})
            return
        if verdict.uncertain:
            _abstain(out, "hedged_findings", f"the findings are hedged ({verdict.reason})")
            return
        _model_only(out, threshold)
        if not out["abstained"]:
            _abstain(out, "no_evidence", f"the report states no category and its findings do not decide it ({verdict.reason})")

    return rule


def _abnormality(x: TaskInput, out: dict[str, Any], threshold: float) -> None:
    text = x.report
    if not out.get("parsed") or not isinstance(out.get("value"), dict):
        out["source"] = "model"
        _abstain(out, "unparsed", "the model's answer could not be read")
        return
    value = dict(out["value"])
    evidence: dict[str, list[dict[str, Any]]] = {}
    dropped: list[dict[str, Any]] = []
    for label, status in sorted(out["value"].items()):
        if status not in _WRITTEN_STATUSES:
            continue
        reason = None
        conf = _slot_confidence(out, label, status)
        if label == findings.NO_FINDING:
            normal, abnormal = findings.no_finding_evidence(text)
            support = normal
            if abnormal:
                reason = ("report_names_abnormality", "the report names an abnormality")
        else:
            support, negations = findings.label_evidence(text, label)
            if not support:
                reason = (("report_negates", "the report negates it") if negations
                          else ("no_evidence", "the report does not name it"))
            elif status == "positive" and all(f.extra.get("status") == "uncertain" for f in support):
                reason = ("report_hedges", "the report only raises it as a possibility")
        if reason is None and not support:
            reason = ("no_evidence", "no sentence of the report supports it")
        if reason is None and (conf is None or conf < threshold):
            reason = ("low_confidence", f"model confidence {conf} below the threshold {threshold}")
        if reason is not None:
            del value[label]
            dropped.append({"item": f"label:{label}", "model": status, "confidence": conf,
                            "reason": reason[0], "detail": reason[1]})
            continue
        evidence[f"label:{label}"] = _items(text, support, limit=3)
    out.update(value=value, source="model", evidence=evidence)
    if dropped:
        out["abstained_items"] = dropped
    # How the report itself says a written finding changed since the prior study ("decreased small
    # right pneumothorax": improved): a known finding that is improving is not a new critical
    # result (integration/mappings/critical.py, ``unless_stated``).
    stated = changes.answer(text) or []
    label_changes = {label: item["change"] for label in value if label != findings.NO_FINDING
                     for item in stated if changes.same_finding(label.lower(), item["finding"])}
    if label_changes:
        out["stated_changes"] = label_changes


# -- entities (radiology_ner) ----------------------------------------------------------------------
#
# Words that name how or what was examined -- a modality, a procedure, the examination itself, its
# contrast, a comparison -- and never a finding. The NER model labels "ultrasound" or "biopsy" (from
# "Ultrasound-guided biopsy is recommended") as present findings; written to a chart they read as
# diagnoses. A written entity made only of these words -- with articles, laterality, the body regions
# examinations are named by, and the anatomy the same answer labels ANAT-DP ("chest radiograph",
# "thyroid ultrasound", "left breast biopsy") -- is not a finding. A finding always has a word of
# its own (mass, nodule, effusion ...), which none of these lists holds.
# Hyphenated words count when the whole or every part is listed ("ultrasound-guided", "x-ray").
_NOT_FINDING_WORDS = frozenset(
    # modalities
    "ultrasound ultrasonography sonography sonogram us doppler ct cta mri mr mra mrcp radiograph "
    "radiographs radiography x-ray x-rays xray film films mammogram mammograms mammography "
    "tomosynthesis pet spect fluoroscopy scintigraphy angiography angiogram multiparametric "
    # procedures
    "biopsy biopsies fna aspiration fine needle core guided targeted "
    # the examination itself and its technique
    "exam exams examination examinations study studies imaging image images scan scans view views "
    "series protocol technique screening evaluation contrast gadolinium iv intravenous oral low-dose "
    "non-contrast noncontrast portable recommended "
    # comparison and follow-up
    "comparison compared prior previous follow-up followup baseline interval".split()
)
# Words that may surround those without making the text a finding.
_FILLER_WORDS = frozenset(
    "a an the of and or with without for to on in left right bilateral unilateral "
    "chest thorax abdomen abdominal pelvis pelvic head neck brain spine breast breasts thyroid liver "
    "hepatic prostate kidney kidneys renal lung lungs".split()
)
_WORDS = re.compile(r"[a-z0-9]+(?:[-/][a-z0-9]+)*")


def _is_not_finding_word(word: str) -> bool:
    return word in _NOT_FINDING_WORDS or all(part in _NOT_FINDING_WORDS for part in re.split(r"[-/]", word))


def _names_no_finding(phrase: str, anatomy_words: frozenset[str]) -> bool:
    """Is ``phrase`` an examination, procedure or comparison rather than a finding?"""
    words = _WORDS.findall(phrase.lower())
    if not any(_is_not_finding_word(w) for w in words):
        return False
    return all(_is_not_finding_word(w) or w in _FILLER_WORDS or w in anatomy_words for w in words)


def _finding_key(phrase: str) -> str:
    """One finding however the model spelled it: case-insensitive, whitespace-normalised."""
    return " ".join(phrase.split()).casefold()


def _plain_mention(text: str, phrase: str) -> Fact | None:
    """The first sentence about this examination naming ``phrase`` neither negated nor hedged."""
    words = phrase.split()
    pattern = re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words[:30]) + r"(?!\w)", re.IGNORECASE)
    for s in findings.current_sentences(text):
        for m in pattern.finditer(s.text):
            if not findings.negated(s.text, m.start(), m.end()) and not uncertain(s.text, m.start(), m.end()):
                span = Span(s.span.start + m.start(), s.span.start + m.end())
                return Fact(phrase, span, s.span, s.section, kind="finding")
    return None


def _entities(x: TaskInput, out: dict[str, Any], threshold: float) -> None:
    """Keep the entities the report supports; of the written labels (OBS-DP, OBS-U) only
    findings, each with one status. Dropped ones are listed in ``abstained_items``."""
    text = x.report
    if not _model_only(out, threshold) or not isinstance(out.get("value"), list):
        return
    entities = [e for e in out["value"] if isinstance(e, dict) and e.get("text")]
    anatomy = frozenset(w for e in entities if e.get("label") == "ANAT-DP"
                        for w in _WORDS.findall(str(e["text"]).lower()))
    dropped: list[dict[str, Any]] = []
    candidates: list[tuple[dict[str, Any], Fact]] = []
    for entity in entities:
        label, phrase = entity.get("label"), str(entity["text"])
        key = f"entity:{label}:{phrase}"
        fact = findings.phrase_fact(text, phrase, phrase)
        if fact is None:
            dropped.append({"item": key, "reason": "not_in_report", "detail": "the entity's words are not in the report"})
            continue
        if label in _WRITTEN_ENTITY_LABELS and _names_no_finding(phrase, anatomy):
            dropped.append({"item": key, "reason": "not_a_finding",
                            "detail": "it names an examination, a procedure or a comparison, not a finding"})
            continue
        if label == "OBS-DP" and fact.extra.get("negated"):
            dropped.append({"item": key, "reason": "report_negates", "detail": "the report negates it"})
            continue
        candidates.append((entity, fact))

    # One status per finding per report. The model sometimes labels the same finding both present
    # and uncertain; the chart must not say both. Present only when a sentence states it without
    # hedging or negation, else uncertain (the safer reading), with that sentence as evidence.
    labels: dict[str, set[str]] = {}
    for entity, _ in candidates:
        if entity.get("label") in _WRITTEN_ENTITY_LABELS:
            labels.setdefault(_finding_key(str(entity["text"])), set()).add(str(entity["label"]))
    resolved: dict[str, tuple[str, Fact | None]] = {}
    for finding, both in labels.items():
        if len(both) > 1:
            plain = _plain_mention(text, finding)
            resolved[finding] = ("OBS-DP", plain) if plain is not None else ("OBS-U", None)

    kept, evidence, written = [], {}, set()
    for entity, fact in candidates:
        label, phrase = entity.get("label"), str(entity["text"])
        key = f"entity:{label}:{phrase}"
        if label in _WRITTEN_ENTITY_LABELS:
            finding = _finding_key(phrase)
            if finding in resolved:
                status, plain = resolved[finding]
                if label != status:
                    how = ("a report sentence states it without hedging or negation" if status == "OBS-DP"
                           else "no report sentence states it without hedging or negation")
                    dropped.append({"item": key, "reason": "conflicting_status",
                                    "detail": f"the model also labelled it {status}; {how}, so {status} is kept"})
                    continue
                fact = plain or fact
            if finding in written:
                dropped.append({"item": key, "reason": "duplicate", "detail": "the same finding is already kept"})
                continue
            written.add(finding)
            evidence[key] = _items(text, [fact], limit=1)
        kept.append(entity)
    out.update(value=kept, evidence=evidence)
    if dropped:
        out["abstained_items"] = dropped


def _stated_changes(text: str, out: dict[str, Any], stated: list[dict[str, str]]) -> None:
    """The changes the report states ("the effusions have decreased") are the answer; a model item
    that gives one of those findings another change is a disagreement, one about a finding the
    report states no change for is dropped (the report compared, and did not say so)."""
    facts = changes.stated_changes(text)
    evidence = {}
    for item in stated:
        support = [f for f in facts if f.value["change"] == item["change"]
                   and changes.same_finding(f.value["finding"], item["finding"])]
        evidence[f"change:{item['finding']}:{item['change']}"] = _items(text, support, limit=2)
    model = out.get("model_value") if out.get("parsed") else None
    out.update(value=stated, source="stated", confidence=1.0, evidence=evidence)
    if not isinstance(model, list):
        return
    dropped, contradicted = [], False
    for item in model:
        if not isinstance(item, dict) or not item.get("finding"):
            continue
        same = [s for s in stated if changes.same_finding(str(item["finding"]), s["finding"])]
        if any(s["change"] != item.get("change") for s in same):
            contradicted = True
        if not same:
            dropped.append({"item": f"change:{item['finding']}:{item.get('change')}", "reason": "not_stated",
                            "detail": "the report states its changes and names no change for this finding"})
    if contradicted:
        out["disagreement"] = {"model": model, "stated": stated}
    if dropped:
        out["abstained_items"] = dropped


def _changes(x: TaskInput, out: dict[str, Any], threshold: float) -> None:
    text = x.report
    stated = changes.answer(text)
    if stated:
        _stated_changes(text, out, stated)
        return
    if not _model_only(out, threshold) or not isinstance(out.get("value"), list):
        return
    kept, evidence, dropped = [], {}, []
    for item in out["value"]:
        if not isinstance(item, dict) or not item.get("finding"):
            continue
        key = f"change:{item['finding']}:{item.get('change')}"
        fact = findings.best_sentence(text, str(item["finding"]))
        if fact is None:
            dropped.append({"item": key, "reason": "not_in_report", "detail": "no sentence of the report names the finding"})
            continue
        kept.append(item)
        evidence[key] = _items(text, [fact], limit=1)
    out.update(value=kept, evidence=evidence)
    if dropped:
        out["abstained_items"] = dropped


def report_is_abnormal(text: str) -> bool:
    """Does the report itself state something a "normal" summary would contradict?"""
    stated = rads.answer(text)
    if stated is not None and stated.value.get("category") in _SUSPICIOUS_RADS.get(stated.value.get("system"), ()):
        return True
    m = tnm.answer_m(text)
    if m is not None and str(m.value).startswith("M1"):
        return True
    for s in findings.current_sentences(text):
        if s.section not in ("impression", "body", "findings"):
            continue
        for hit in _ABNORMAL_WORDS.finditer(s.text):
            if not findings.negated(s.text, hit.start(), hit.end()):
                return True
    return False


def _impression(x: TaskInput, out: dict[str, Any], threshold: float) -> None:
    text = x.report
    if not _model_only(out, threshold) or not isinstance(out.get("value"), str):
        return
    summary = out["value"]
    stated = rads.answer(text)
    for claimed in rads.stated_rads(summary):
        if stated is None or claimed.value != stated.value:
            _abstain(out, "contradicts_stated", "the summary names a RADS category the report does not state")
            return
    for stated_fn, claimed_fn in ((tnm.answer_n, tnm.stated_n), (tnm.answer_m, tnm.stated_m)):
        report_fact = stated_fn(text)
        for claimed in claimed_fn(summary):
            if report_fact is None or claimed.value != report_fact.value:
                _abstain(out, "contradicts_stated", "the summary names a TNM category the report does not state")
                return
    if _NORMAL_CLAIM.search(summary) and report_is_abnormal(text):
        _abstain(out, "contradicts_report", "the summary calls the study normal; the report does not")
        return
    support = []
    for s in findings.sentences(summary):
        fact = findings.best_sentence(text, s.text)
        if fact is None:
            _abstain(out, "unsupported_statement", "a sentence of the summary has no support in the report")
            return
        support.append(fact)
    out["evidence"] = {"text": _items(text, support, limit=6)}


def _api_only(x: TaskInput, out: dict[str, Any], threshold: float) -> None:
    """NLI and QA answers go back to the API caller only, never into a chart: no abstention, the
    caller sees the confidence."""
    out["source"] = "model"


# The evidence rules of the tasks that have them (stated facts, verifiers, supporting sentences):
# where a new task's extractor is registered (docs/architecture.md). A task not listed is decided
# on its confidence alone (:func:`_model_only`), an API-only one is returned as answered.
_RULES = {
    "rads_assignment": _rads,
    "n_staging": _staging(tnm.answer_n, lung_staging.verify_n),
    "m_staging": _staging(tnm.answer_m, lung_staging.verify_m),
    "abnormality_detection": _abnormality,
    "radiology_ner": _entities,
    "temporal_comparison": _changes,
    "impression_generation": _impression,
}
