"""bench/engine.py's measurement functions on tiny random models: structure only, never timings."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bench import engine, llamacpp

NEW = 5


def _prompt(bundle: Path) -> list[int]:
    from transformers import AutoTokenizer

    from integration.inference import prompting
    from integration.tasks import TaskInput, get_task

    tok = AutoTokenizer.from_pretrained(str(bundle / "tokenizer"))
    return prompting.prompt_ids(tok, get_task("impression_generation"),
                                TaskInput(report="FINDINGS: The lungs are clear. No pleural effusion."))


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory) -> Path:
    from training.tiny import make_model

    return make_model(tmp_path_factory.mktemp("bench") / "hf", "qwen2")


def _check(r: dict, prompt: list[int]) -> None:
    assert r["prompt_tokens"] == len(prompt)
    assert r["new_tokens"] == NEW and len(r["ids"]) == NEW  # EOS never stops a run early
    assert len(r["runs"]) == 2
    for key in ("load_s", "ttft_s", "total_s", "decode_tok_s", "peak_rss_mib", "weight_bytes"):
        assert isinstance(r[key], (int, float)) and r[key] >= 0, key
    assert r["total_s"] >= r["ttft_s"]
    assert r["peak_rss_mib"] > 0 and r["weight_bytes"] > 0


def test_ct2_measurement(tiny_qwen2):
    prompt = _prompt(tiny_qwen2)
    for compute_type in ("int8", "int8_float32"):
        r = engine.measure_ct2(tiny_qwen2, prompt, NEW, threads=1, compute_type=compute_type, repeats=2, warmup=2)
        _check(r, prompt)


def test_torch_measurement(tiny_qwen2, tiny_hf):
    prompt = _prompt(tiny_qwen2)
    r = engine.measure_torch(tiny_hf, prompt, NEW, threads=1, dtype="float32", repeats=2, warmup=2)
    _check(r, prompt)
    assert r["torch_threads"] == 1


def test_markdown_table_and_section(tmp_path):
    row = {"model": "mini", "engine": "ct2-int8", "setting": "int8", "load_s": 0.1, "ttft_s": 0.2, "total_s": 1.0,
           "decode_tok_s": 50.0, "peak_rss_mib": 300.0, "bytes_per_token": 2e8, "limit_tok_s": 100.0,
           "pct_of_limit": 50.0, "new_tokens": 4, "ids": [1, 2, 3, 4], "prompt_tokens": 10}
    ref = dict(row, engine="llama-Q4_K_M", setting="Q4_K_M", decode_tok_s=100.0, ttft_s=0.1,
               tensor_types={"Q4_K": 3}, reused_prefix_tokens=0, cached_prompt_reused_tokens=10,
               cached_prompt_ttft_s=0.001)
    rows = [row, ref]
    engine._add_ratios(rows)
    assert rows[0]["decode_vs_q4"] == pytest.approx(0.5) and rows[0]["ttft_vs_q4"] == pytest.approx(2.0)
    result = {"date": "d", "machine": engine.machine_info(), "uptime_before": "u", "uptime_after": "u",
              "threads": 2, "new_tokens": 4, "repeats": 1, "ct2_cpu_compute_types": ["int8"],
              "bandwidth": {"gb_s": 20.0}, "rows": rows, "skipped": [], "prompt_tokens": 10}
    md = engine.markdown(result)
    assert "| radlite-mini (SmolLM2-135M) | ct2-int8 |" in md and "Q4_K 3" in md
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\n## Intake\n\nkept\n\n## Engine\n\nold\n\n## Other\n\nkept too\n")
    engine.write_section(out, md)
    text = out.read_text()
    assert "old" not in text and "kept\n" in text and "kept too" in text and text.count("## Engine") == 1


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                    reason="llama-cpp-python not installed (optional `bench` extra; it compiles llama.cpp)")
def test_llamacpp_measurement(tiny_qwen2, tiny_hf, tmp_path):
    if not llamacpp.available():
        pytest.skip(llamacpp.why_unavailable())
    prompt = _prompt(tiny_qwen2)
    # The tiny tokenizer is ours, unknown to llama.cpp's converter; llama.cpp is fed ids anyway.
    gguf = llamacpp.to_gguf(tiny_hf, "Q8_0", tmp_path / "gguf", allow_unknown_pretokenizer=True)
    assert gguf.is_file()
    assert llamacpp.to_gguf(tiny_hf, "Q8_0", tmp_path / "gguf") == gguf  # cached: not converted again
    r = engine.measure_llama(gguf, prompt, NEW, threads=1, repeats=2, warmup=2)
    _check(r, prompt)
    assert r["reused_prefix_tokens"] == 0  # reset before each measured run
    assert r["cached_prompt_reused_tokens"] > 0
    assert "Q8_0" in r["tensor_types"]

    # Prefix reuse across calls, through the public interface.
    eng = llamacpp.LlamaCpp(gguf, n_threads=1, n_ctx=512)
    first = eng.generate(prompt, 3, [])
    assert first.reused_prefix_tokens == 0 and len(first.ids) == 3 and first.prompt_tokens == len(prompt)
    second = eng.generate(prompt[:-2] + [prompt[-1]], 3, [])
    assert second.reused_prefix_tokens == len(prompt) - 2
    stop = eng.generate(prompt, 10, [first.ids[0]])
    assert stop.ids == [first.ids[0]]  # a stop id ends the answer and is included
    eng.close()
