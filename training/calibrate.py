"""Decision calibration for slot-scored tasks, fitted on the val split.

A small model can rank a slot correctly and still never choose it: on val, radlite-mini 0.3.0
gives "Support Devices: positive" 0.013-0.227 on reports with a device and 0.003-0.031 on the
others, so the plain argmax never says positive. A bias per slot and option, added to the log-
probability before the choice (:meth:`integration.tasks.Slots.choose`), moves that decision
boundary without touching the weights. One bias is a threshold on a probability ratio.

Fitting is coordinate ascent over a grid of biases on the "positive" option, each slot set for its
own F1, a few rounds over the slots (see :func:`fit_bias` for what is left alone, and why). Where a range of biases ties at the
best, 0 is kept if it is in the range, else the middle of the range rather than its edge, which
sits exactly on a val example. Fitted on val only: the test split stays untouched until the
calibrated model is scored once. A cross-fitted figure (each half of val predicted with biases
fitted on the other half) says whether the gain is more than fitting noise before anyone looks at
test.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from integration.inference.engine import Engine, Request
from integration.tasks import SlotBias, Task, TaskInput, get_task
from integration.tasks.scoring import f1
from training.train import load_examples

# Bias grid, in nats: -4 .. +8 by 0.25 (e^8 ~ 3000: a slot chosen at 1/3000 of its rival).
GRID: tuple[float, ...] = tuple(x / 4 for x in range(-16, 33))
ROUNDS = 3
# The option a calibration may favour: the class the multi-label metric scores.
POSITIVE = "positive"
# A slot with fewer gold positives than this in the fitting rows keeps its bias at 0: the F1 of
# a handful of positives is noise (the metric itself skips such labels: MIN_SUPPORT = 10), and a
# threshold fitted to it was seen to over-call (0.3.1: Enlarged Cardiomediastinum, fitted on 5 val
# positives, +3.0 nats, F1 0.05 on the full test split). Cross-fitting, on half the rows, asks half.
MIN_POSITIVES = 10

SlotProbs = dict[str, dict[str, float]]


@dataclass(frozen=True)
class Fit:
    task: str
    bias: SlotBias
    metric: str
    before: float
    after: float
    # Cross-fitted on val (see fit): honest where the in-sample figures are not.
    cross_after: float
    n: int
    min_positives: int = MIN_POSITIVES

    def record(self, split: str) -> dict[str, Any]:
        return {
            "split": split,
            "n": self.n,
            "metric": self.metric,
            "before": round(self.before, 4),
            "after": round(self.after, 4),
            "cross_fitted_after": round(self.cross_after, 4),
            "option": POSITIVE,
            "min_positives": self.min_positives,
            "grid": [GRID[0], GRID[-1], GRID[1] - GRID[0]],
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }


def predict(task: Task, probs: Sequence[SlotProbs], bias: SlotBias | None) -> list[Any]:
    assert task.slots is not None
    return [task.slots.resolve(task.slots.choose(p, bias)) for p in probs]


def score(task: Task, probs: Sequence[SlotProbs], gold: Sequence[Any], bias: SlotBias | None) -> float:
    return task.score(predict(task, probs, bias), gold)[task.primary_metric]


def _pick(values: Sequence[float], current: float) -> float:
    """The grid value to keep: ``current`` if it is among the best; else the middle of the run of
    best values nearest to 0 (a run's edge is exactly where some val example flips)."""
    best = max(values)
    winners = [i for i, v in enumerate(values) if v == best]
    if current in [GRID[i] for i in winners]:
        return current
    runs: list[list[int]] = []
    for i in winners:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    run = min(runs, key=lambda r: min(abs(GRID[i]) for i in r))
    return GRID[run[len(run) // 2]]


def slot_f1(predicted: Sequence[dict[str, str]], gold: Sequence[dict[str, str]], name: str,
            option: str = POSITIVE) -> float:
    tp = sum(p[name] == option and g[name] == option for p, g in zip(predicted, gold))
    fp = sum(p[name] == option and g[name] != option for p, g in zip(predicted, gold))
    fn = sum(p[name] != option and g[name] == option for p, g in zip(predicted, gold))
    return f1(tp, fp, fn)


def fit_bias(task: Task, probs: Sequence[SlotProbs], gold: Sequence[dict[str, str]], *, option: str = POSITIVE,
             min_positives: int = MIN_POSITIVES, rounds: int = ROUNDS) -> SlotBias:
    """Coordinate ascent: each slot's bias on ``option`` is set to maximise that slot's own F1
    (after the task's resolve rule), for slots with at least ``min_positives`` gold positives;
    returns only the non-zero biases.

    Each slot answers to its own F1, not to the task's macro-F1: under macro-F1 a slot with too
    few positives to be scored was seen to be pushed to positive everywhere just to switch off
    "No Finding" through the CheXpert rule. And only ``option`` -- the class the metric scores --
    is moved: a free bias on "uncertain" was seen to buy F1 by parking doubtful positives there,
    which is a wrong answer of its own."""
    slots = task.slots
    if slots is None:
        raise ValueError(f"task {task.name} is not slot-scored")
    if option not in slots.options or option == slots.default:
        raise ValueError(f"{option!r} is not a non-default option of {task.name}'s slots")
    names = [n for n in slots.names if sum(g[n] == option for g in gold) >= min_positives]
    bias: dict[str, float] = {}
    for _ in range(rounds):
        changed = False
        for name in names:
            current = bias.get(name, 0.0)
            values = [slot_f1(predict(task, probs, _as_bias({**bias, name: b}, option)), gold, name, option)
                      for b in GRID]
            chosen = _pick(values, current)
            if chosen != current:
                bias[name] = chosen
                changed = True
        if not changed:
            break
    return _as_bias(bias, option)


def _as_bias(per_slot: dict[str, float], option: str) -> SlotBias:
    return {name: {option: b} for name, b in per_slot.items() if b != 0.0}


def fit(task: Task, probs: Sequence[SlotProbs], gold: Sequence[Any], *, min_positives: int = MIN_POSITIVES) -> Fit:
    """Fit on all of val; and, to see whether that generalises, cross-fit: each half of val is
    predicted with biases fitted on the other half and the metric taken once over both halves
    (the same labels as the in-sample figure, which per-half scores would not keep)."""
    halves = [list(range(0, len(probs), 2)), list(range(1, len(probs), 2))]
    cross: list[Any] = [None] * len(probs)
    for train, held in (halves, halves[::-1]):
        bias = fit_bias(task, [probs[i] for i in train], [gold[i] for i in train],
                        min_positives=(min_positives + 1) // 2)
        for i, value in zip(held, predict(task, [probs[i] for i in held], bias)):
            cross[i] = value
    bias = fit_bias(task, probs, gold, min_positives=min_positives)
    before = score(task, probs, gold, None)
    return Fit(task.name, bias, task.primary_metric, before, score(task, probs, gold, bias),
               task.score(cross, gold)[task.primary_metric], len(probs), min_positives)


def slot_probs_on(engine: Engine, data_dir: str | Path, task_name: str, *, split: str = "val",
                  limit: int | None = None) -> tuple[list[SlotProbs], list[Any]]:
    """Run the engine's slot scoring on ``split`` rows of one task: the model's slot
    probabilities (before any calibration) and the gold values."""
    task = get_task(task_name)
    if engine.slot_plan(task) is None:
        raise ValueError(f"bundle {engine.bundle.name}: {task_name} cannot be slot-scored with this tokenizer")
    rows = [r for r in load_examples(data_dir, split) if r["task"] == task_name][:limit]
    if not rows:
        raise ValueError(f"no {task_name} rows in {data_dir}/{split}.jsonl")
    probs: list[SlotProbs] = []
    for start in range(0, len(rows), engine.max_batch_size):
        chunk = rows[start : start + engine.max_batch_size]
        outs = engine.run([Request(task_name, TaskInput(**r["input"]), mode="score") for r in chunk])
        probs += [o.slot_probs for o in outs]
    return probs, [task.parse(r["output"]).value for r in rows]


def per_slot_table(task: Task, probs: Sequence[SlotProbs], gold: Sequence[Any], bias: SlotBias) -> str:
    """Markdown: each slot's gold positives, bias, and its own positive-class F1 and its accuracy
before and after the bias (in-sample: on the rows it was fitted on)."""
    predicted, calibrated = predict(task, probs, None), predict(task, probs, bias)
    before, after = task.score(predicted, gold), task.score(calibrated, gold)
    assert task.slots is not None
    lines = ["| slot | gold positives | bias | F1 before | F1 after | accuracy before | accuracy after |",
             "|---|---|---|---|---|---|---|"]
    for name in task.slots.names:
        positives = sum(g.get(name) == "positive" for g in gold)
        f1s = [f"{slot_f1(p, gold, name):.3f}" if positives else "–" for p in (predicted, calibrated)]
        acc = [f"{m[f'accuracy/{name}']:.3f}" for m in (before, after)]
        shown = ", ".join(f"{o} {b:+.2f}" for o, b in bias.get(name, {}).items()) or "0"
        lines.append(f"| {name} | {positives} | {shown} | {f1s[0]} | {f1s[1]} | {acc[0]} | {acc[1]} |")
    return "\n".join(lines)
