"""Metrics against values worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import pytest

from integration.tasks import TASKS
from integration.tasks.abnormality_detection import CHEXPERT_LABELS, MIN_SUPPORT
from integration.tasks.scoring import (
    accuracy,
    accuracy_metric,
    f1,
    jaccard,
    mean_jaccard,
    multilabel_metrics,
    rouge_l,
    rouge_l_metric,
)


def test_accuracy_counts_none_as_wrong():
    # a=a yes, None never, b=b yes, c!=d no -> 2 / 4
    assert accuracy(["a", None, "b", "c"], ["a", "b", "b", "d"]) == 0.5
    # A None prediction is a miss even when gold is None.
    assert accuracy([None], [None]) == 0.0
    assert accuracy([], []) == 0.0
    assert accuracy_metric(["x", "y"], ["x", "x"]) == {"accuracy": 0.5}


def test_rouge_l_by_hand():
    reference = "small left pleural effusion"  # 4 tokens
    prediction = "left pleural effusion is small"  # 5 tokens
    # LCS = "left pleural effusion" = 3 tokens ("small" is out of order).
    # P = 3/5, R = 3/4, F = 2PR/(P+R) = 2 * 0.45 / 1.35 = 2/3.
    # (Stemming maps "effusion" the same way on both sides, so it cannot change the LCS.)
    assert rouge_l(prediction, reference) == pytest.approx(2 / 3)
    # Same tokens after lowercasing and dropping punctuation -> 1.
    assert rouge_l("Small left pleural effusion.", reference) == pytest.approx(1.0)
    assert rouge_l(None, reference) == 0.0
    assert rouge_l("", reference) == 0.0
    # Mean over pairs; the unread answer scores 0: (2/3 + 0) / 2 = 1/3.
    assert rouge_l_metric([prediction, None], [reference, "edema"]) == {
        "rougeL": pytest.approx(1 / 3)
    }
    assert rouge_l_metric([], []) == {"rougeL": 0.0}


def test_jaccard_by_hand():
    # {1,2,3} & {2,3,4} = {2,3}; union = {1,2,3,4} -> 2/4
    assert jaccard({1, 2, 3}, {2, 3, 4}) == 0.5
    assert jaccard(set(), set()) == 1.0  # both empty agree
    assert jaccard(set(), {1}) == 0.0
    assert jaccard({1}, set()) == 0.0
    assert jaccard(None, set()) == 0.0  # unread answer
    # per example: 1/2, 0 (None), 1 (both empty) -> mean 1/2
    scores = mean_jaccard([[1, 2], None, []], [[1], [3], []], key=set)
    assert scores == {"jaccard": 0.5}
    assert mean_jaccard([], [], key=set) == {"jaccard": 0.0}


def test_temporal_and_ner_metrics_use_pairs():
    new_a = {"finding": "a", "change": "new"}
    # Example 1: {(a,new),(b,improved)} vs {(a,new)} -> 1/2. Example 2: change differs -> 0.
    predicted = [[new_a, {"finding": "b", "change": "improved"}], [{"finding": "c", "change": "new"}]]
    gold = [[new_a], [{"finding": "c", "change": "resolved"}]]
    assert TASKS["temporal_comparison"].score(predicted, gold) == {"jaccard": 0.25}
    # NER: 1 of 3 distinct (text, label) pairs shared -> 1/3; label matters.
    predicted = [[{"text": "edema", "label": "OBS-DP"}, {"text": "lung", "label": "ANAT-DP"}]]
    gold = [[{"text": "edema", "label": "OBS-DP"}, {"text": "lung", "label": "OBS-DP"}]]
    assert TASKS["radiology_ner"].score(predicted, gold) == {"jaccard": pytest.approx(1 / 3)}


def test_f1():
    assert f1(0, 0, 0) == 0.0
    assert f1(2, 1, 1) == pytest.approx(4 / 6)  # 2*2 / (2*2 + 1 + 1)


# Two labels, four studies.
GOLD = [
    {"A": "positive", "B": "negative"},
    {"A": "positive", "B": "uncertain"},
    {"A": "negative", "B": "negative"},
    {"A": "uncertain", "B": "positive"},
]
PRED = [
    {"A": "positive", "B": "negative"},
    {"A": "negative", "B": "uncertain"},
    {"A": "positive", "B": "negative"},
    None,
]
# A: right on study 1 only -> accuracy 1/4. tp=1 (study 1), fp=1 (study 3), fn=1 (study 2);
#    support 2; F1 = 2*1 / (2*1 + 1 + 1) = 1/2.
# B: right on studies 1-3 -> accuracy 3/4. support 1 (study 4), tp=0 -> F1 = 0.
# mean accuracy = (1/4 + 3/4) / 2 = 1/2.


def test_multilabel_metrics_by_hand():
    out = multilabel_metrics(PRED, GOLD, labels=["A", "B"], min_support=1)
    assert out["accuracy/A"] == 0.25
    assert out["accuracy/B"] == 0.75
    assert out["accuracy"] == 0.5
    assert out["f1/A"] == 0.5
    assert out["f1/B"] == 0.0
    assert out["macro_f1"] == 0.25  # (1/2 + 0) / 2
    assert out["macro_f1_labels"] == 2.0


def test_multilabel_min_support():
    out = multilabel_metrics(PRED, GOLD, labels=["A", "B"], min_support=2)
    assert "f1/B" not in out  # B has 1 gold positive < 2
    assert out["macro_f1"] == 0.5  # A alone
    assert out["macro_f1_labels"] == 1.0
    assert out["accuracy"] == 0.5  # accuracy still covers every label
    out = multilabel_metrics(PRED, GOLD, labels=["A", "B"], min_support=3)
    assert out["macro_f1"] == 0.0 and out["macro_f1_labels"] == 0.0


def test_abnormality_metric_uses_min_support():
    negative = dict.fromkeys(CHEXPERT_LABELS, "negative")
    # MIN_SUPPORT studies with Cardiomegaly, one with Edema; predictions perfect.
    gold = [negative | {"Cardiomegaly": "positive"}] * MIN_SUPPORT + [negative | {"Edema": "positive"}]
    out = TASKS["abnormality_detection"].score(gold, gold)
    assert out["accuracy"] == 1.0
    assert out["macro_f1"] == 1.0
    assert out["macro_f1_labels"] == 1.0  # Edema (support 1) is left out
    # Miss every Cardiomegaly: F1(Cardiomegaly) = 0, per-label accuracy 1/11 for it.
    predicted = [negative] * MIN_SUPPORT + [gold[-1]]
    out = TASKS["abnormality_detection"].score(predicted, gold)
    assert out["macro_f1"] == 0.0
    assert out["accuracy/Cardiomegaly"] == pytest.approx(1 / 11)
    # mean over 14 labels: 13 perfect + 1/11 -> (13 + 1/11) / 14
    assert out["accuracy"] == pytest.approx((13 + 1 / 11) / 14)


def test_rads_metric():
    bi = lambda c: {"system": "BI-RADS", "category": c}  # noqa: E731 -- a one-line local factory
    none = {"system": None, "category": None}
    predicted = [bi("4A"), bi("4B"), None, none]
    gold = [bi("4A"), bi("4A"), {"system": "LI-RADS", "category": "LR-5"}, none]
    # exact: yes, no, no (unread), yes -> 2/4; system: yes, yes, no, yes -> 3/4
    assert TASKS["rads_assignment"].score(predicted, gold) == {
        "accuracy": 0.5,
        "system_accuracy": 0.75,
    }


def test_qa_metric():
    predicted = ["Right lower lobe.", "yes", None]
    gold = ["right  lower lobe", "no", "left"]
    # exact match after case/punctuation/space normalisation: 1 of 3.
    # ROUGE-L: 1 (same tokens), 0 (no overlap), 0 (unread) -> 1/3.
    out = TASKS["radiology_qa"].score(predicted, gold)
    assert out["exact_match"] == pytest.approx(1 / 3)
    assert out["rougeL"] == pytest.approx(1 / 3)


def test_score_checks_lengths():
    with pytest.raises(ValueError):
        TASKS["n_staging"].score(["N0"], [])
