"""Score what the adapter would write on a file of report cases, as an outside evaluator scores
`radlite run-task`: the decided value (stated, verified or model) against the gold answer, an
abstention counting as a miss.

A case file is YAML: a list of ``{id, task, gold, text}`` (``gold`` in the task's answer text,
e.g. "BI-RADS 4B", "N2", "No applicable RADS"; optional ``stated``: does the text write the code
itself). ``tests/data/cases/cases.yaml`` holds cases written for evaluation only, independently of
the extractors and generators; never train on them.

Reported per task: accuracy (abstention = miss, the outside evaluator's reading), coverage (share
answered), precision of the answers given, the model's own accuracy on the same cases, and the
number of answers that contradict a category the report states (must be 0).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from integration.inference.engine import Engine, Output, PromptTooLong, Request
from integration.inference.evidence import rads, tnm
from integration.inference.evidence.decide import decide, threshold_for
from integration.inference.report_plan import result_record
from integration.tasks import TaskInput, TaskResult, get_task

_STATED = {"rads_assignment": rads.answer, "n_staging": tnm.answer_n, "m_staging": tnm.answer_m}


def load_cases(path: str | Path) -> list[dict[str, Any]]:
    cases = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    for case in cases:
        missing = {"id", "task", "gold", "text"} - set(case)
        if missing:
            raise ValueError(f"case {case.get('id', '?')}: missing {sorted(missing)}")
        get_task(case["task"])
    return cases


def run_cases(engine: Engine, cases: list[dict[str, Any]], site_thresholds: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Each case decided exactly as `radlite run-task` decides it."""
    rows = []
    for case in cases:
        task = get_task(case["task"])
        request = Request(task.name, TaskInput(report=case["text"]))
        try:
            out = engine.run([request])[0]
        except PromptTooLong as exc:
            out = Output(TaskResult(task=task.name, parsed=False, error=str(exc)), "none", 0, 0, 0.0)
        threshold = threshold_for(task.name, engine.bundle.manifest.thresholds, site_thresholds)
        record = decide(task.name, request.input, result_record(out, engine.bundle), threshold)
        gold = task.parse(str(case["gold"])).value
        stated = _STATED.get(task.name, lambda _t: None)(case["text"])
        rows.append({
            "id": case["id"], "task": task.name, "gold": gold, "value": record["value"],
            "model_value": record["model_value"], "source": record["source"], "abstained": record["abstained"],
            "reason": (record.get("abstention") or {}).get("reason"), "confidence": record["confidence"],
            "stated_case": bool(case.get("stated")),
            "contradicts_stated": stated is not None and record["value"] is not None and record["value"] != stated.value,
        })
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_task[row["task"]].append(row)
    by_task["all"] = list(rows)
    out = {}
    for name, group in by_task.items():
        answered = [r for r in group if r["value"] is not None]
        out[name] = {
            "n": len(group),
            "accuracy": sum(r["value"] == r["gold"] for r in group) / len(group),
            "coverage": len(answered) / len(group),
            "precision": (sum(r["value"] == r["gold"] for r in answered) / len(answered)) if answered else None,
            "model_accuracy": sum(r["model_value"] == r["gold"] for r in group) / len(group),
            "contradictions": sum(r["contradicts_stated"] for r in group),
            "stated_cases": sum(r["stated_case"] for r in group),
        }
    return out


def markdown(result: dict[str, dict[str, Any]]) -> str:
    lines = ["| task | n (stated) | accuracy (abstention = miss) | coverage | precision of answers | model alone | contradicts a stated category |",
             "|---|---|---|---|---|---|---|"]
    for name, r in result.items():
        precision = "-" if r["precision"] is None else f"{r['precision']:.3f}"
        lines.append(f"| {name} | {r['n']} ({r['stated_cases']}) | {r['accuracy']:.3f} | {r['coverage']:.3f} | {precision} | "
                     f"{r['model_accuracy']:.3f} | {r['contradictions']} |")
    return "\n".join(lines) + "\n"
