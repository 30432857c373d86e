"""Per-task confidence thresholds, chosen on the val split: written answers should be right.

For every val row the bundle answers once; the adapter's decision (:mod:`integration.inference.evidence.decide`)
is then taken again at each candidate threshold, and each answer that would be written is marked
right or wrong against the gold answer. A task's threshold is the one that writes the most answers
while they reach precision >= ``TARGET_PRECISION`` (the lowest such threshold on a tie) -- all
written answers, and the model-only ones on their own (on template-held-out RADS reports the
model's own categories were right 2 times in 35 while stated ones padded the total to 0.93). Deciding
again, rather than filtering answers by confidence, matters for staging: there a higher threshold
also lets the findings' category stand where the model is unsure. Where no threshold reaches the
target, the threshold is 1.0: model-only answers of that task are not written at all, and the
report's own statements still are.

What counts as one answer and when it is right:

* rads_assignment, n_staging, m_staging: the result; right when it equals the gold value;
* abnormality_detection: each written label (positive or uncertain); right when the gold label has
  that status;
* radiology_ner, temporal_comparison: each written entity / change; right when the gold holds it;
* impression_generation: the result; right when its ROUGE-L against the reference is >= 0.4 (a
  free-text answer has no exact match; 0.4 is below the task's mean, so "right" means on topic).

The curves (coverage and precision at every threshold) are kept for the report in docs/model.md.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from tqdm import tqdm

from integration.inference.engine import Engine, Request
from integration.inference.evidence.decide import decide
from integration.inference.report_plan import result_record
from integration.tasks import TaskInput, get_task
from training.train import load_examples

TARGET_PRECISION = 0.90
ROUGE_RIGHT = 0.4
SINGLE_ANSWER = ("rads_assignment", "n_staging", "m_staging", "impression_generation")
TASKS = ("rads_assignment", "n_staging", "m_staging", "abnormality_detection", "radiology_ner",
         "temporal_comparison", "impression_generation")


@dataclass
class Answer:
    """One answer the adapter would write."""

    confidence: float
    gated: bool  # rests on the model alone
    right: bool


@dataclass
class Row:
    """One val row: what the model answered (before any decision) and the gold value."""

    x: TaskInput
    record: dict[str, Any]
    gold: Any


@dataclass
class Curve:
    """A task's val rows, decided again at each threshold: the threshold changes more than which
    model answers pass (for staging, an unsure model lets the findings' category stand)."""

    task: str
    rows: list[Row] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    def answers(self, threshold: float) -> list[Answer]:
        out: list[Answer] = []
        for row in self.rows:
            out.extend(answers_of(self.task, decide(self.task, row.x, row.record, threshold), row.gold))
        return out

    def abstained(self, threshold: float) -> dict[str, int]:
        reasons: dict[str, int] = {}
        for row in self.rows:
            d = decide(self.task, row.x, row.record, threshold)
            for reason in ([d["abstention"]["reason"]] if d.get("abstained") else []) + \
                    [i["reason"] for i in d.get("abstained_items") or []]:
                reasons[reason] = reasons.get(reason, 0) + 1
        return dict(sorted(reasons.items()))

    def at(self, threshold: float) -> tuple[int, float | None]:
        """(answers written, their precision) at ``threshold``."""
        kept = self.answers(threshold)
        return len(kept), (sum(a.right for a in kept) / len(kept)) if kept else None

    def grid(self) -> list[float]:
        confidences = sorted({round(a.confidence, 2) for a in self.answers(0.0) if a.gated})
        return sorted({0.0, 1.0, *(t / 20 for t in range(21)), *confidences})

    def points(self) -> list[dict[str, float]]:
        out = []
        # Coverage: of the val rows for one-answer tasks; of the answers written with no threshold
        # for list tasks (labels, entities, changes), whose rows hold many.
        total = self.n_rows if self.task in SINGLE_ANSWER else max(1, len(self.answers(0.0)))
        for t in self.grid():
            written, precision = self.at(t)
            out.append({"threshold": t, "written": written, "coverage": written / total,
                        "precision": precision if precision is not None else float("nan")})
        return out

    def model_precision(self, threshold: float) -> float | None:
        """Precision of the written answers that rest on the model alone."""
        gated = [a for a in self.answers(threshold) if a.gated]
        return sum(a.right for a in gated) / len(gated) if gated else None

    def choose(self, target: float = TARGET_PRECISION) -> float:
        """The threshold that writes the most answers at precision >= ``target`` (the lowest such
        threshold on a tie), counting the answers that rest on the model alone apart as well: stated
        answers, right by construction, must not carry a weak model over the target. 1.0 when no
        threshold reaches it."""
        def model_ok(threshold: float) -> bool:
            precision = self.model_precision(threshold)
            return precision is None or precision >= target

        ok = [p for p in self.points() if p["written"] and p["precision"] >= target and model_ok(p["threshold"])]
        if not ok:
            return 1.0
        best = max(p["written"] for p in ok)
        return min(p["threshold"] for p in ok if p["written"] == best)


def _rouge_l(a: str, b: str) -> float:
    from rouge_score import rouge_scorer  # noqa: PLC0415 -- rouge_score (nltk, ~0.3 s): only when scoring

    return rouge_scorer.RougeScorer(["rougeL"]).score(b, a)["rougeL"].fmeasure


def answers_of(task: str, record: dict[str, Any], gold: Any) -> Iterable[Answer]:
    """The written answers of one decided record, each marked right or wrong."""
    if record.get("abstained"):
        return []
    gated = record.get("source") == "model"
    conf = record.get("confidence") or 0.0
    value = record.get("value")
    if task in ("rads_assignment", "n_staging", "m_staging"):
        if task == "rads_assignment" and isinstance(value, dict) and value.get("system") is None:
            return []  # "No applicable RADS" is not written
        return [Answer(conf, gated, value == gold)] if value is not None else []
    if task == "abnormality_detection":
        out = []
        for label, status in (value or {}).items():
            if status in ("positive", "uncertain"):
                c = ((record.get("slot_probs") or {}).get(label) or {}).get(status, conf)
                out.append(Answer(float(c), True, (gold or {}).get(label) == status))
        return out
    if task == "radiology_ner":
        gold_set = {(e["text"], e["label"]) for e in gold or []}
        return [Answer(conf, gated, (e["text"], e["label"]) in gold_set) for e in value or []
                if e.get("label") in ("OBS-DP", "OBS-U")]
    if task == "temporal_comparison":
        gold_set = {(c["finding"], c["change"]) for c in gold or []}
        return [Answer(conf, gated, (c["finding"], c["change"]) in gold_set) for c in value or []]
    if task == "impression_generation":
        return [Answer(conf, gated, isinstance(value, str) and _rouge_l(value, gold or "") >= ROUGE_RIGHT)]
    return []


def curves_on(engine: Engine, data_dir: str | Path, tasks: Sequence[str] = TASKS, *, limit: int | None = 200,
              batch_size: int = 16, progress: bool = True) -> dict[str, Curve]:
    """Run ``engine`` over the val rows of ``tasks`` and collect each task's curve."""
    rows: dict[str, list[dict]] = defaultdict(list)
    for row in load_examples(data_dir, "val"):
        if row["task"] in tasks and (limit is None or len(rows[row["task"]]) < limit):
            rows[row["task"]].append(row)
    curves = {}
    for name in tasks:
        if not rows[name]:
            continue
        task = get_task(name)
        curve = Curve(name)
        requests = [Request(name, TaskInput(**r["input"])) for r in rows[name]]
        for start in tqdm(range(0, len(requests), batch_size), desc=name, disable=not progress):
            batch = requests[start:start + batch_size]
            for request, out, row in zip(batch, engine.run(batch), rows[name][start:start + batch_size]):
                curve.rows.append(Row(request.input, result_record(out, engine.bundle), task.parse(row["output"]).value))
        curves[name] = curve
    return curves


def record(curves: dict[str, Curve], target: float = TARGET_PRECISION) -> dict[str, Any]:
    """What `radlite model thresholds` writes beside the thresholds: per task the chosen threshold,
    coverage and precision at it and at 0, abstention reasons, and the whole curve."""
    out: dict[str, Any] = {"split": "val", "target_precision": target,
                           "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "tasks": {}}
    for name, curve in curves.items():
        t = curve.choose(target)
        written, precision = curve.at(t)
        written0, precision0 = curve.at(0.0)
        out["tasks"][name] = {
            "threshold": t, "rows": curve.n_rows, "answers": len(curve.answers(0.0)),
            "written": written, "precision": precision, "written_at_0": written0, "precision_at_0": precision0,
            "abstained_at_threshold": curve.abstained(t),
            "curve": curve.points(),
        }
    return out


def plot(rec: dict[str, Any], path: Path) -> None:
    """Precision against coverage per task, as the threshold rises (docs/model.md)."""
    import matplotlib  # noqa: PLC0415 -- matplotlib (the train extra): only for the chart

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 -- matplotlib (the train extra): only for the chart

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, res in rec["tasks"].items():
        pts = [p for p in res["curve"] if p["written"]]
        ax.plot([p["coverage"] for p in pts], [p["precision"] for p in pts], marker=".", label=name)
    ax.axhline(rec["target_precision"], color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("coverage (share of answers written)")
    ax.set_ylabel("precision of written answers")
    ax.set_ylim(0, 1.02)
    ax.set_title("val split: precision vs coverage as the confidence threshold rises")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
