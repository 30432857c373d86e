"""Held-out evaluation: the paper's per-task metrics, parse-failure rates, and a report.

Gold answers are stored as text in the dataset and read back with the task's own parser, so the
model and the gold go through the same code. Every task is labelled with where its data came
from: "real" (IU X-ray reports and their labels) or "generated" (our rule-based generators), and
the report never mixes the two up.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Sequence

from tqdm import tqdm

from integration.inference.engine import Engine, Request
from integration.inference.model_bundle import load_bundle
from integration.tasks import TASKS, TaskInput, get_task
from training.train import load_examples


def data_kind(sources: Counter) -> str:
    generated = sum(n for s, n in sources.items() if s.startswith("generated"))
    if generated == 0:
        return "real"
    return "generated" if generated == sum(sources.values()) else "mixed"


def evaluate(
    bundle_dir: str | Path,
    data_dir: str | Path,
    *,
    split: str = "test",
    tasks: Sequence[str] | None = None,
    limit_per_task: int | None = None,
    threads: int = 0,
    batch_size: int = 8,
    modes: dict[str, str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Score ``bundle_dir`` on ``split``. ``modes`` overrides a task's decoding ("score" ranks its
    label set, "generate" decodes and parses), to compare the two on the same rows."""
    bundle = load_bundle(bundle_dir)
    engine = Engine(bundle, threads=threads, max_batch_size=batch_size, max_input_tokens=4096)
    by_task: dict[str, list[dict]] = defaultdict(list)
    for row in load_examples(data_dir, split):
        if row.get("split", split) != split:
            raise ValueError(f"{split}.jsonl holds a row of split {row.get('split')!r}")
        if tasks and row["task"] not in tasks:
            continue
        if limit_per_task is None or len(by_task[row["task"]]) < limit_per_task:
            by_task[row["task"]].append(row)

    report: dict[str, Any] = {
        "bundle": {"name": bundle.name, "version": bundle.manifest.version, "sha256": bundle.model_sha256,
                   "base_model": bundle.manifest.base_model, "adapter_sha256": bundle.manifest.adapter_sha256,
                   "calibration_sha256": bundle.manifest.calibration_sha256()},
        "split": split,
        "modes": dict(modes or {}),  # decoding overrides: a column of its own in the table
        "data_dir": str(data_dir),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "tasks": {},
    }
    for name in [t for t in TASKS if t in by_task]:
        task, rows = get_task(name), by_task[name]
        gold = [task.parse(r["output"]) for r in rows]
        mode = (modes or {}).get(name, task.mode)
        requests = [Request(name, TaskInput(**r["input"]), mode=mode) for r in rows]
        predicted, failures, tokens, seconds = [], 0, 0, 0.0
        for start in tqdm(range(0, len(requests), batch_size), desc=name, disable=not progress):
            for out in engine.run(requests[start : start + batch_size]):
                predicted.append(out.result.value if out.result.parsed else None)
                failures += not out.result.parsed
                tokens += out.output_tokens
                seconds += out.seconds
        scores = task.score(predicted, [g.value for g in gold])
        sources = Counter(r.get("source", "unknown") for r in rows)
        report["tasks"][name] = {
            "n": len(rows),
            "primary_metric": task.primary_metric,
            "metrics": scores,
            "parse_failure_rate": failures / len(rows),
            "mode": mode,
            "data": data_kind(sources),
            "sources": dict(sources),
            "gold_unparsed": sum(not g.parsed for g in gold),
            "mean_output_tokens": tokens / len(rows),
            "seconds_per_example": seconds / len(rows),
        }
    return report


def markdown(reports: Sequence[dict[str, Any]]) -> str:
    """One table: a row per task, per evaluated bundle its primary metric (n) and parse failures."""
    names = [r["bundle"]["name"] + "".join(f" [{t}: {m}]" for t, m in sorted(r.get("modes", {}).items()))
             for r in reports]
    tasks = [t for t in TASKS if any(t in r["tasks"] for r in reports)]
    head = "| task | data | metric | " + " | ".join(f"{n} (n) | {n} parse fail" for n in names) + " |"
    lines = [head, "|" + "---|" * (3 + 2 * len(names))]
    for t in tasks:
        first = next(r["tasks"][t] for r in reports if t in r["tasks"])
        cells = []
        for r in reports:
            res = r["tasks"].get(t)
            if res is None:
                cells += ["–", "–"]
            else:
                score = res["metrics"][res["primary_metric"]]
                cells += [f"{score:.3f} ({res['n']})", f"{res['parse_failure_rate']:.1%}"]
        lines.append(f"| {t} | {first['data']} | {first['primary_metric']} | " + " | ".join(cells) + " |")
    lines += per_label(reports[0])
    notes = [
        "",
        f"Split: {reports[0]['split']} (held-out report ids, never trained on). n = examples evaluated (the",
        "first n of the split per task). Data 'generated' = rule-generated examples, not real reports: those",
        "scores measure rule-following, not clinical accuracy.",
    ]
    return "\n".join(lines + notes) + "\n"


def per_label(report: dict[str, Any]) -> list[str]:
    """Per-label accuracy (exact status, as the paper reports it) and positive-class F1, for the
    multi-label tasks of one report (abnormality detection)."""
    lines: list[str] = []
    for name, res in report["tasks"].items():
        metrics = res["metrics"]
        labels = [k.split("/", 1)[1] for k in metrics if k.startswith("accuracy/")]
        if not labels:
            continue
        lines += ["", f"{name}, {report['bundle']['name']}, per label (F1 only where it enters macro-F1):", "",
                  "| label | accuracy | F1 |", "|---|---|---|"]
        lines += [f"| {label} | {metrics[f'accuracy/{label}']:.3f} | "
                  + (f"{metrics[f'f1/{label}']:.3f}" if f"f1/{label}" in metrics else "–") + " |" for label in labels]
    return lines


def chart(reports: Sequence[dict[str, Any]], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 -- matplotlib (the train extra): only for the chart

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 -- matplotlib (the train extra): only for the chart

    tasks = [t for t in TASKS if any(t in r["tasks"] for r in reports)]
    width = 0.8 / max(1, len(reports))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    for i, r in enumerate(reports):
        vals = [r["tasks"][t]["metrics"][r["tasks"][t]["primary_metric"]] if t in r["tasks"] else 0 for t in tasks]
        ax.bar([x + i * width for x in range(len(tasks))], vals, width, label=r["bundle"]["name"])
    ax.set_xticks([x + width * (len(reports) - 1) / 2 for x in range(len(tasks))])
    ax.set_xticklabels([f"{t}\n({reports[0]['tasks'].get(t, {}).get('primary_metric', '')})" for t in tasks],
                       fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("primary metric (held-out)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(reports: Sequence[dict[str, Any]], out_dir: str | Path) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "eval.json", "markdown": out / "eval.md", "png": out / "eval.png"}
    paths["json"].write_text(json.dumps(list(reports), indent=2) + "\n", encoding="utf-8")
    paths["markdown"].write_text(markdown(reports), encoding="utf-8")
    chart(reports, paths["png"])
    return paths
