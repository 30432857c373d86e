"""Evaluation on a small held-out file with the tiny bundle: metrics, parse failures, report files."""

from __future__ import annotations

import json
from pathlib import Path

from training.evaluate import evaluate, markdown, write_report


def test_evaluate_and_report(tiny_qwen2: Path, tmp_path: Path) -> None:
    rows = [
        {"task": "radiology_nli", "input": {"report": "No effusion.", "hypothesis": "There is an effusion."},
         "output": "contradiction", "split": "test", "source": "generated:nli"},
        {"task": "radiology_nli", "input": {"report": "Small effusion.", "hypothesis": "There is an effusion."},
         "output": "entailment", "split": "test", "source": "generated:nli"},
        {"task": "impression_generation", "input": {"report": "The lungs are clear."},
         "output": "No acute disease.", "split": "test", "source": "iu_xray:impression"},
    ]
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = evaluate(tiny_qwen2, tmp_path, progress=False, threads=1)
    nli, imp = report["tasks"]["radiology_nli"], report["tasks"]["impression_generation"]
    assert nli["n"] == 2 and nli["data"] == "generated" and nli["parse_failure_rate"] == 0.0
    assert nli["metrics"]["accuracy"] in (0.0, 0.5, 1.0)
    assert imp["data"] == "real" and 0.0 <= imp["metrics"]["rougeL"] <= 1.0
    paths = write_report([report, report], tmp_path / "out")
    assert paths["png"].stat().st_size > 1000
    table = markdown([report])
    assert "| radiology_nli | generated | accuracy | " in table and "(2)" in table
    assert json.loads(paths["json"].read_text())[0]["split"] == "test"
    assert "per label" not in table  # no multi-label task evaluated

    labelled = {**report, "tasks": {"abnormality_detection": {**nli, "primary_metric": "macro_f1", "metrics": {
        "accuracy/Edema": 0.9, "accuracy/Fracture": 1.0, "f1/Edema": 0.5, "accuracy": 0.95, "macro_f1": 0.5}}}}
    table = markdown([labelled])
    assert "| Edema | 0.900 | 0.500 |" in table and "| Fracture | 1.000 | – |" in table

    generated = evaluate(tiny_qwen2, tmp_path, progress=False, threads=1, tasks=["radiology_nli"],
                         modes={"radiology_nli": "generate"})
    assert generated["tasks"]["radiology_nli"]["mode"] == "generate" and nli["mode"] == "score"
    assert f"{generated['bundle']['name']} [radiology_nli: generate] (n)" in markdown([report, generated])


def test_evaluate_refuses_mislabelled_split(tiny_qwen2: Path, tmp_path: Path) -> None:
    import pytest

    row = {"task": "m_staging", "input": {"report": "x"}, "output": "M0", "split": "train"}
    (tmp_path / "test.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(ValueError, match="split 'train'"):
        evaluate(tiny_qwen2, tmp_path, progress=False)
