"""The paper's metrics: accuracy, ROUGE-L, Jaccard, per-label accuracy; plus macro-F1.

Every metric takes (predicted values, gold values). A None prediction -- an answer the parser
could not read -- always counts as wrong, so parse failures cost score instead of vanishing.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Hashable, Iterable, Sequence


def accuracy(predicted: Sequence[Any], gold: Sequence[Any]) -> float:
    if not gold:
        return 0.0
    return sum(p is not None and p == g for p, g in zip(predicted, gold)) / len(gold)


def accuracy_metric(predicted: Sequence[Any], gold: Sequence[Any]) -> dict[str, float]:
    return {"accuracy": accuracy(predicted, gold)}


@lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer  # noqa: PLC0415 -- rouge_score (nltk, ~0.3 s) only when scoring

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str | None, reference: str) -> float:
    """ROUGE-L F1 (rouge-score, Porter stemming), the paper's text metric."""
    if not prediction or not reference:
        return 0.0
    return _rouge_scorer().score(reference, prediction)["rougeL"].fmeasure


def rouge_l_metric(predicted: Sequence[str | None], gold: Sequence[str]) -> dict[str, float]:
    if not gold:
        return {"rougeL": 0.0}
    return {"rougeL": sum(rouge_l(p, g) for p, g in zip(predicted, gold)) / len(gold)}


def jaccard(predicted: Iterable[Hashable] | None, gold: Iterable[Hashable]) -> float:
    """|P ∩ G| / |P ∪ G|; two empty sets agree perfectly (1.0); an unread answer scores 0."""
    if predicted is None:
        return 0.0
    p, g = set(predicted), set(gold)
    if not p and not g:
        return 1.0
    return len(p & g) / len(p | g)


def mean_jaccard(predicted: Sequence[Any], gold: Sequence[Any], key) -> dict[str, float]:
    """Mean per-example Jaccard, with ``key`` turning a value into a set of hashable items."""
    if not gold:
        return {"jaccard": 0.0}
    scores = [jaccard(None if p is None else key(p), key(g)) for p, g in zip(predicted, gold)]
    return {"jaccard": sum(scores) / len(scores)}


def f1(tp: int, fp: int, fn: int) -> float:
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def multilabel_metrics(
    predicted: Sequence[dict[str, str] | None],
    gold: Sequence[dict[str, str]],
    labels: Sequence[str],
    positive: str = "positive",
    min_support: int = 1,
) -> dict[str, float]:
    """Per-label accuracy (exact status match, as the paper) and positive-class F1.

    ``macro_f1`` averages F1 over labels with at least ``min_support`` gold positives, so a label
    the test set never shows does not drag the mean to an arbitrary value.
    """
    out: dict[str, float] = {}
    accs, f1s = [], []
    n = len(gold)
    for label in labels:
        correct = tp = fp = fn = support = 0
        for p, g in zip(predicted, gold):
            gs = g.get(label)
            ps = None if p is None else p.get(label)
            correct += ps is not None and ps == gs
            is_p, is_g = ps == positive, gs == positive
            support += is_g
            tp += is_p and is_g
            fp += is_p and not is_g
            fn += is_g and not is_p
        acc = correct / n if n else 0.0
        out[f"accuracy/{label}"] = acc
        accs.append(acc)
        if support >= min_support:
            score = f1(tp, fp, fn)
            out[f"f1/{label}"] = score
            f1s.append(score)
    out["accuracy"] = sum(accs) / len(accs) if accs else 0.0
    out["macro_f1"] = sum(f1s) / len(f1s) if f1s else 0.0
    out["macro_f1_labels"] = float(len(f1s))
    return out
