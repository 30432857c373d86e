"""bench/pipeline.py at a tiny size, so the script cannot rot: structure only, no timings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import pipeline  # noqa: E402 -- needs the sys.path line above


@pytest.mark.shared_data
def test_iu_reports_are_paired_chest_radiographs(shared_data: Path) -> None:
    resources = pipeline.iu_test_reports(shared_data, 4)
    assert [r["subject"]["reference"] for r in resources] == ["Patient/bench-0"] * 2 + ["Patient/bench-1"] * 2
    plans = pipeline.plans_for(resources)
    assert all(p.rule == "chest-radiograph" for p in plans)
    # The second report of a pair has a prior, so temporal_comparison runs for it only.
    assert ["temporal_comparison" in p.tasks for p in plans] == [False, True, False, True]


@pytest.mark.shared_data
def test_ct2_path_and_scoring_on_a_tiny_bundle(shared_data: Path, tiny_qwen2: Path, tmp_path: Path) -> None:
    job = {"data_dir": str(shared_data), "bundle": str(tiny_qwen2), "reports": 2, "threads": 1,
           "batch_reports": 2, "max_batch_size": 4, "spread": 8, "cpu_isa": None, "path": "ct2"}
    res = pipeline.run_ct2(job)
    assert res["reports"] == 2 and res["tasks"] == sum(map(len, res["answers"].values())) == 7  # 3 + 4 tasks
    assert res["seconds"] > 0 and res["rss_mib"] > 0
    scoring = pipeline.run_scoring({**job, "reports": 1})
    assert set(scoring["tasks"]) == {"n_staging", "m_staging", "radiology_nli"}  # the label-scored tasks
    assert all(0.0 <= r["same_label"] <= 1.0 for r in scoring["tasks"].values())

    result = {"date": "d", "machine": {"cpu": "c", "cpus": 2, "versions": {}}, "load_before": "l",
              "load_after": "l", "settings": {k: v for k, v in job.items() if k != "data_dir"},
              "paths": {"ct2 1x1": {**res, "path": "ct2"}, "llama-Q4_K_M 1x2": {"error": "not run: llama_cpp not installed"}},
              "scoring": scoring}
    text = pipeline.markdown(result)
    assert "| ct2 | 1x1 | 2 | 7 |" in text and "not run: llama_cpp" in text and "| n_staging |" in text
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\n## Engine\n\nkept\n")
    pipeline.write_section(out, pipeline.SECTION, "intro", text)
    pipeline.write_section(out, pipeline.SECTION, "intro", text)  # replaced, not appended twice
    body = out.read_text()
    assert body.count("## Pipeline") == 1 and "## Engine\n\nkept" in body
