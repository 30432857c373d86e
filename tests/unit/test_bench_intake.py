"""bench/intake.py at a tiny size: the real gunicorn server, a few pushes per level, the store and
audit checks, the markdown. Structure only, never timings (those belong in bench/RESULTS.md)."""

from __future__ import annotations

import json
import shutil

import pytest

from bench import intake


def test_reports_are_distinct_valid_and_sample_sized() -> None:
    from integration.fhir.report import check_report
    from integration.store import report_identity

    bodies = intake.build_reports("t", 12)
    resources = [json.loads(b) for b in bodies]
    assert len({report_identity(r) for r in resources}) == 12
    assert all(not [i for i in check_report(r) if i.is_error] for r in resources)
    assert all(900 < len(b) < 5000 for b in bodies)


@pytest.mark.slow
@pytest.mark.parametrize("loadgen", ["python", "wrk"])
def test_benchmark_core_runs_at_a_tiny_size(tmp_path, loadgen) -> None:
    pytest.importorskip("gunicorn")
    if loadgen == "wrk" and not shutil.which("wrk"):
        pytest.skip("wrk is not installed")
    result = intake.run_benchmark([1, 3], 8, paced=[(3, 100.0)], max_seconds=30, loadgen=loadgen,
                                  workers=2, threads=2, warmup=4, workdir=tmp_path, echo=lambda _s: None)
    assert [(r.clients, r.rate) for r in result.runs] == [(1, 0.0), (3, 0.0), (3, 100.0)]
    for run in result.runs:
        assert run.loadgen == loadgen
        assert run.answered == run.sent == 8 and run.statuses == {202: 8} and run.errors == 0
        assert run.stored == 8 and run.check.startswith("ok")
        assert run.p50_ms <= run.p95_ms <= run.p99_ms and run.seconds > 0
    assert result.audit.startswith("ok") and result.ok
    assert (result.server["workers"], result.server["threads"]) == (2, 2)

    table = intake.markdown(result)
    assert table.startswith("| clients | requests | errors | req/s | p50 ms | p95 ms | p99 ms |")
    assert "| 3 (paced 100/s) | 8 | 0 |" in table
    assert ("wrk" if loadgen == "wrk" else "Python http.client") in table


def test_results_section_is_created_once_and_replaced_in_place(tmp_path) -> None:
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\n## Engine\n\nengine table\n")
    intake.write_section(out, "first\n")
    intake.write_section(out, "second\n")
    text = out.read_text()
    assert text.count("## Intake") == 1 and "second" in text and "first" not in text
    assert text.index("## Engine") < text.index("## Intake") and "engine table" in text
    out.write_text(text + "\n## Pipeline\n\npipeline table\n")
    intake.write_section(out, "third\n")
    text = out.read_text()
    assert "third" in text and "second" not in text and text.rstrip().endswith("pipeline table")
