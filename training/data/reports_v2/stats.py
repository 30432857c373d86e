"""Measurements of v2 rows: label distributions, stated shares, report lengths (words, and tokens
with the SmolLM2 tokenizer when its ``tokenizer.json`` is at hand).

``python -m training.data.reports_v2.stats [--seed 0] [--rads-per-system 600] [--staging-reports 5400]
[--tokenizer models/base/smollm2/tokenizer.json]`` prints them for the v2 rows alone (no IU data needed).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Iterable

from integration.tasks import TASKS, TaskInput
from training.data.reports_v2 import v2_rows

DEFAULT_TOKENIZER = Path("models/base/smollm2/tokenizer.json")


def percentiles(values: list[int], ps: Iterable[int] = (5, 25, 50, 75, 95, 99)) -> dict[str, int]:
    if not values:
        return {}
    v = sorted(values)
    out = {f"p{p}": v[min(len(v) - 1, round(p / 100 * (len(v) - 1)))] for p in ps}
    out["min"], out["max"] = v[0], v[-1]
    return out


def label_counts(rows: list[dict]) -> dict[str, dict[str, dict[str, int]]]:
    """task -> split -> answer text -> rows."""
    out: dict[str, dict[str, Counter]] = {}
    for row in rows:
        out.setdefault(row["task"], {}).setdefault(row["split"], Counter())[row["output"]] += 1
    return {t: {s: dict(sorted(c.items())) for s, c in by.items()} for t, by in out.items()}


def length_stats(rows: list[dict], tokenizer: Path | None = None) -> dict[str, dict]:
    """Per task: word percentiles of the report, and token percentiles of the report (and of the
    whole prompt + answer, as training sees it) when a tokenizer file is given."""
    tok = None
    if tokenizer and Path(tokenizer).is_file():
        from tokenizers import Tokenizer  # noqa: PLC0415 -- tokenizers: only with --tokenizer

        tok = Tokenizer.from_file(str(tokenizer))
    out: dict[str, dict] = {}
    by_task: dict[str, list[dict]] = {}
    for row in rows:
        by_task.setdefault(row["task"], []).append(row)
    for task, task_rows in by_task.items():
        reports = list(dict.fromkeys(r["input"]["report"] for r in task_rows))
        entry: dict = {"reports": len(reports), "words": percentiles([len(t.split()) for t in reports])}
        if tok is not None:
            entry["report_tokens"] = percentiles([len(e.ids) for e in tok.encode_batch(reports)])
            spec = TASKS[task]

            prompts = [spec.user_message(TaskInput(report=r["input"]["report"])) + "\n" + r["output"] for r in task_rows[:2000]]
            entry["prompt_tokens_first_2000_rows"] = percentiles([len(e.ids) for e in tok.encode_batch(prompts)])
        out[task] = entry
    return out


def source_counts(rows: list[dict]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter] = {}
    for row in rows:
        out.setdefault(row["task"], Counter())[row["source"]] += 1
    return {t: dict(sorted(c.items())) for t, c in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rads-per-system", type=int, default=600)
    ap.add_argument("--staging-reports", type=int, default=5400)
    ap.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER)
    args = ap.parse_args()
    rows = v2_rows(args.seed, rads_per_system=args.rads_per_system, staging_reports=args.staging_reports)
    print(json.dumps({"labels": label_counts(rows), "sources": source_counts(rows), "lengths": length_stats(rows, args.tokenizer)}, indent=1))


if __name__ == "__main__":
    main()
