"""Build the nine-task dataset: read the shared data, run every task builder, enforce the split,
cap, write ``<out>/{train,val,test}.jsonl`` plus ``counts.json`` and ``manifest.json``.

The split is enforced twice here, by assertion, before anything is written:

1. every row from an IU report carries that report's split, recomputed independently from the
   R2Gen annotation and NegBio's test list (test if in either test list, else R2Gen val -> val,
   else train); every other row has a ``gen:`` id;
2. no sentence that occurs only in test reports appears in any train or val row's input.

Then synthetic duplicates are dropped (see :func:`dedupe_generated`). IU itself holds many
word-identical template reports under different ids; they keep their report's split, and the
manifest counts the train/val rows whose input equals some test input.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable

from integration.inference.evidence.chexpert import NO_FINDING, POSITIVE, RuleLabeler, sentences
from integration.tasks import TASKS
from training.data.abnormality import abnormality_rows, combined_value
from training.data.impression import impression_rows
from training.data.iu import CHEXPERT_DIR, SPLITS, Report, check_data_dir, load_reports, load_split, split_of, uid_of
from training.data.ner import ner_rows
from training.data.nli import nli_rows
from training.data.qa import qa_rows
from training.data.rads import rads_rows
from training.data.reports_v2 import manifest_info, v2_rows
from training.data.rows import Row, rng
from training.data.staging import staging_rows
from training.data.temporal import temporal_rows
from training.data.transplant import DEFAULT_TARGET as DEFAULT_TRANSPLANT_TARGET, transplant_rows

DEFAULT_MAX_PER_TASK = 4000
GENERATORS = ("v1", "v2")  # v2: training/data/reports_v2 for rads_assignment, n_staging, m_staging
ROW_KEYS = ("task", "input", "output", "source", "split", "report_id")


class LeakageError(AssertionError):
    """A held-out report (or its text) reached a train or val row."""


def _subset(reports: list[Report], limit: int) -> list[Report]:
    """The first ``limit`` reports of each split, by uid: a small, deterministic build for tests."""
    seen: Counter[str] = Counter()
    out = []
    for r in reports:
        if seen[r.split] < limit:
            seen[r.split] += 1
            out.append(r)
    return out


def check_split(rows: Iterable[Row], data_dir: Path) -> None:
    """Raise LeakageError unless every IU-derived row carries its report's split (see module doc)."""
    r2gen, test = load_split(data_dir)
    for row in rows:
        uid = uid_of(row["report_id"])
        if uid is None:
            if not row["report_id"].startswith("gen:"):
                raise LeakageError(f"row id {row['report_id']!r} is neither an IU report nor generated")
            continue
        expected = split_of(uid, r2gen, test)
        if row["split"] != expected or (uid in test and row["split"] != "test"):
            raise LeakageError(f"{row['task']} row for {row['report_id']} is in {row['split']}, expected {expected}")


def _row_texts(row: Row) -> Iterable[str]:
    return (v for v in row["input"].values() if isinstance(v, str))


_HEADER = re.compile(r"^(?:FINDINGS|IMPRESSION)\s*:\s*")


def held_out_sentences(reports: list[Report]) -> set[str]:
    """Sentences (of 8+ words, so short generic template sentences do not collide) that occur in test
    reports and in no train/val report."""
    test, other = set(), set()
    for r in reports:
        target = test if r.split == "test" else other
        for part in (r.findings, r.impression):
            target.update(s for s in sentences(part) if len(s.split()) >= 8)
    return test - other


def check_text_leakage(rows: Iterable[Row], reports: list[Report]) -> None:
    held_out = held_out_sentences(reports)
    for row in rows:
        if row["split"] == "test":
            continue
        for text in _row_texts(row):
            for para in text.split("\n"):
                for s in sentences(_HEADER.sub("", para)):
                    if s in held_out:
                        raise LeakageError(f"{row['task']} {row['split']} row {row['report_id']} contains test report text: {s[:80]!r}")


def _key(row: Row) -> str:
    return json.dumps([row["task"], row["input"]], sort_keys=True)


def dedupe_generated(rows: list[Row]) -> tuple[list[Row], int]:
    """Drop train/val rows whose (task, input) is word-identical to a test input -- IU holds many
    template reports under different ids, and a model that saw the very input in training would
    inflate its held-out score -- and synthetic (``gen:``) rows that repeat an earlier row of their
    split."""
    test_keys = {_key(r) for r in rows if r["split"] == "test"}
    seen: set[tuple[str, str]] = set()
    kept = []
    for row in rows:
        k = _key(row)
        if row["split"] != "test" and k in test_keys:
            continue
        if row["report_id"].startswith("gen:"):
            if (row["split"], k) in seen:
                continue
            seen.add((row["split"], k))
        kept.append(row)
    return kept, len(rows) - len(kept)


def shared_inputs(rows: list[Row]) -> dict[str, int]:
    """Per task, how many train/val rows have an input word-identical to some test row's input."""
    test_keys = {_key(r) for r in rows if r["split"] == "test"}
    out: Counter[str] = Counter()
    for row in rows:
        if row["split"] != "test" and _key(row) in test_keys:
            out[row["task"]] += 1
    return dict(out)


def _cap(rows: list[Row], limit: int | None, seed: int, name: str) -> list[Row]:
    if limit is None or len(rows) <= limit:
        return rows
    keep = sorted(rng(seed, f"cap:{name}").sample(range(len(rows)), limit))
    return [rows[i] for i in keep]


def generate_rows(data_dir: Path, *, seed: int = 0, report_limit: int | None = None, rads_per_system: int = 600,
                  staging_reports: int = 5400,
                  transplant_target: int = DEFAULT_TRANSPLANT_TARGET, generators: str = "v1") -> tuple[list[Row], list[Report]]:
    """Every row of every task, uncapped, in a fixed order. ``generators="v2"`` swaps the generated
    rads_assignment, n_staging and m_staging rows for the full-report generators of
    :mod:`training.data.reports_v2` (same counts: ``rads_per_system`` per system, ``staging_reports``)."""
    if generators not in GENERATORS:
        raise ValueError(f"generators must be one of {GENERATORS}, not {generators!r}")
    check_data_dir(data_dir)
    reports = load_reports(data_dir)
    if report_limit is not None:
        reports = _subset(reports, report_limit)
    labeler = RuleLabeler.from_dir(data_dir / CHEXPERT_DIR)
    # findings and impression are labelled apart and joined: the findings-only labels serve the
    # generators whose input is the findings alone
    findings_labels = {r.uid: labeler.label(r.findings) for r in reports}
    labels = {r.uid: findings_labels[r.uid] + labeler.label(r.impression) for r in reports}
    values = {r.uid: combined_value(r, labels[r.uid])[0] for r in reports}
    normal = {uid for uid, value in values.items() if value[NO_FINDING] == POSITIVE}

    rows: list[Row] = []
    rows += impression_rows(reports)
    impression_ok = {uid_of(row["report_id"]) for row in rows}
    rows += abnormality_rows(reports, labels)
    rows += transplant_rows(rng(seed, "transplant"), reports, labeler, values, target=transplant_target)
    rows += ner_rows(reports, labels)
    rows += temporal_rows(rng(seed, "temporal"), reports, findings_labels, normal, per_report=3)
    rows += nli_rows(rng(seed, "nli"), reports, findings_labels)
    rows += qa_rows(rng(seed, "qa"), reports, labels, impression_ok)  # type: ignore[arg-type]
    if generators == "v2":
        rows += v2_rows(seed, rads_per_system=rads_per_system, staging_reports=staging_reports,
                        iu_negatives=[(r.report_id, r.split, r.text) for r in reports])
        return rows, reports
    neg_rng = rng(seed, "rads:iu")
    iu_negatives = [(r.report_id, r.split, r.text) for r in reports if neg_rng.random() < 0.2]
    rows += rads_rows(seed, rng(seed, "rads"), n_per_system=rads_per_system, n_other=rads_per_system // 2,
                      iu_negatives=iu_negatives)
    n_lung = staging_reports * 2 // 3
    rows += staging_rows(seed, rng(seed, "staging"), n_lung=n_lung, n_breast=staging_reports - n_lung)
    return rows, reports


def build_dataset(data_dir: Path, out_dir: Path, *, seed: int = 0, max_per_task: int | None = DEFAULT_MAX_PER_TASK,
                  max_eval_per_task: int | None = None, report_limit: int | None = None, rads_per_system: int = 600,
                  staging_reports: int = 5400,
                  transplant_target: int = DEFAULT_TRANSPLANT_TARGET, generators: str = "v1") -> dict[str, dict[str, int]]:
    """Build and write the dataset; returns counts per task x split.

    ``generators``: "v1" (default; the data the committed adapter was trained on) or "v2" (full
    realistic reports for rads_assignment, n_staging and m_staging; docs/data-v2-draft.md).

    ``max_per_task`` caps each task's train rows (None: no cap); ``max_eval_per_task`` caps each
    task's val and test rows (default: keep all). Both draws are seeded. ``report_limit`` keeps
    only the first N IU reports of each split (for fast tests). ``transplant_target``: train
    positives each abnormality label is lifted to by transplanted sentences (0 = none; see
    :mod:`training.data.transplant`).
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    rows, reports = generate_rows(data_dir, seed=seed, report_limit=report_limit, rads_per_system=rads_per_system,
                                  staging_reports=staging_reports, transplant_target=transplant_target, generators=generators)
    check_split(rows, data_dir)
    check_text_leakage(rows, reports)
    rows, dropped = dedupe_generated(rows)

    grouped: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        grouped[(row["task"], row["split"])].append(row)
    by_split: dict[str, list[Row]] = {s: [] for s in SPLITS}
    counts: dict[str, dict[str, int]] = {}
    sources: dict[str, dict[str, int]] = {}
    for task in TASKS:
        counts[task] = {}
        for split in SPLITS:
            limit = max_per_task if split == "train" else max_eval_per_task
            kept = _cap(grouped.get((task, split), []), limit, seed, f"{task}:{split}")
            counts[task][split] = len(kept)
            by_split[split].extend(kept)
            for row in kept:
                sources.setdefault(task, {}).setdefault(row["source"], 0)
                sources[task][row["source"]] += 1
    rng(seed, "shuffle:train").shuffle(by_split["train"])
    identical = shared_inputs([r for split_rows in by_split.values() for r in split_rows])

    out_dir.mkdir(parents=True, exist_ok=True)
    for split, split_rows in by_split.items():
        with (out_dir / f"{split}.jsonl").open("w", encoding="utf-8") as f:
            for row in split_rows:
                f.write(json.dumps({k: row[k] for k in ROW_KEYS}, ensure_ascii=False) + "\n")
    (out_dir / "counts.json").write_text(json.dumps(counts, indent=2) + "\n", encoding="utf-8")
    manifest = {
        "seed": seed, "max_per_task": max_per_task, "max_eval_per_task": max_eval_per_task, "report_limit": report_limit,
        "rads_per_system": rads_per_system, "staging_reports": staging_reports,
        "transplant_target": transplant_target, "generated_duplicates_dropped": dropped,
        "sources": sources,
        "train_val_rows_with_an_input_identical_to_a_test_input": identical,
        "note": "Rows with a 'generated:' source are synthetic: never report their scores as scores on real reports.",
        "generators": generators,
    }
    if generators == "v2":
        manifest["generators_v2"] = manifest_info()
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return counts


def load_rows(path: Path | str) -> list[Row]:
    """Rows of one JSONL file (``train.jsonl``...), or of all three splits when given the folder."""
    path = Path(path)
    files = [path / f"{s}.jsonl" for s in SPLITS] if path.is_dir() else [path]
    rows = []
    for file in files:
        with file.open(encoding="utf-8") as f:
            rows.extend(json.loads(line) for line in f if line.strip())
    return rows


def format_counts(counts: dict[str, dict[str, int]]) -> str:
    """A per-task x split table."""
    width = max(len(t) for t in counts) if counts else 4
    lines = [f"{'task':<{width}}  " + "  ".join(f"{s:>6}" for s in SPLITS) + f"  {'total':>6}"]
    totals = Counter()
    for task, by_split in counts.items():
        totals.update(by_split)
        lines.append(f"{task:<{width}}  " + "  ".join(f"{by_split.get(s, 0):>6}" for s in SPLITS) + f"  {sum(by_split.values()):>6}")
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{totals[s]:>6}" for s in SPLITS) + f"  {sum(totals.values()):>6}")
    return "\n".join(lines)
