"""Dataset rows: one JSON object per example, shared by every task builder.

``output`` is always ``TASKS[task].render(value)`` -- the exact answer text the serving side
parses -- and :func:`make_row` checks that it parses back to the same value.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from integration.tasks import TASKS, TaskInput
from training.data.iu import SPLITS

Row = dict[str, Any]

# Split shares for purely synthetic rows (no IU report behind them).
SYNTHETIC_SPLIT = {"train": 0.8, "val": 0.1, "test": 0.1}


def make_row(
    task: str,
    value: Any,
    *,
    report: str,
    source: str,
    split: str,
    report_id: str,
    prior_report: str | None = None,
    hypothesis: str | None = None,
    question: str | None = None,
) -> Row:
    spec = TASKS[task]
    if split not in SPLITS:
        raise ValueError(f"bad split {split!r}")
    extras = {"prior_report": prior_report, "hypothesis": hypothesis, "question": question}
    spec.check_input(TaskInput(report=report, **extras))
    output = spec.render(value)
    parsed = spec.parse(output)
    if not parsed.parsed or parsed.value != value:
        raise AssertionError(f"{task}: answer {output!r} does not round-trip ({parsed.error or parsed.value!r})")
    data_input: dict[str, str] = {"report": report}
    for name in spec.requires:
        data_input[name] = extras[name]  # type: ignore[assignment]
    return {
        "task": task,
        "input": data_input,
        "output": output,
        "source": source,
        "split": split,
        "report_id": report_id,
    }


def seeded_split(key: str, seed: int) -> str:
    """A fixed 80/10/10 train/val/test draw for a synthetic report, from a hash of the seed and a
    key (the generators pass the report text, so identical synthetic reports share a split)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    x = int.from_bytes(digest[:8], "big") / 2**64
    if x < SYNTHETIC_SPLIT["train"]:
        return "train"
    return "val" if x < SYNTHETIC_SPLIT["train"] + SYNTHETIC_SPLIT["val"] else "test"


def rng(seed: int, name: str) -> random.Random:
    """A generator-private random stream: deterministic for (seed, name), independent of the others."""
    return random.Random(f"radlite-data:{seed}:{name}")
