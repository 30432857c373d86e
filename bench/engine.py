#!/usr/bin/env python3
"""Inference engine benchmark: decode tokens/s, time to first token (TTFT) and peak RSS of one
merged model under CTranslate2 int8, llama.cpp (Q4_K_M, Q8_0) and transformers (torch).

Models (--models):

* ``mini``  -- radlite-mini: SmolLM2-135M-Instruct (models/base/smollm2, `radlite model base
  smollm2`) + the committed adapter, merged (training.build.merge), converted to CTranslate2 int8
  (training.convert.build_bundle) and to GGUF (bench/llamacpp.py);
* ``0.5b``, ``3b`` -- random-weight models with the real shapes of Qwen2.5-0.5B and Qwen2.5-3B
  (transformers Qwen2Config, tied embeddings, vocab 151936), saved in bf16 and converted the same
  way. Random weights are fine for speed: the work per token depends on the shapes only.

Everything is cached under .cache/bench (the 3B needs about 6 GB per copy: HF bf16, GGUF F16;
3 GB CTranslate2 int8, 3.3 GB Q8_0, 2 GB Q4_K_M).

Engines (--engines): ct2-int8, ct2-int8_float32, ct2-int8_bfloat16 (the CTranslate2 compute
types this CPU supports: ctranslate2.get_supported_compute_types("cpu"); the others are listed as
unsupported), llama-Q4_K_M, llama-Q8_0 (llama-cpp-python, `pip install -e '.[bench]'`), torch-fp32
and torch-bf16 (transformers, a plain greedy loop with the KV cache: model forward + argmax).

Same for every engine: the thread count (--threads), the prompt (real-looking radiology text,
the impression_generation prompt over the shipped sample reports cut to --prompt-tokens, tokenized
once by radlite-mini's tokenizer; the same ids go to every engine and every model -- they are valid
ids in Qwen's larger vocabulary too) and the number of new tokens (--new-tokens; end-of-sequence
is ignored: CTranslate2 gets min_length = max_length, llama.cpp and torch are stopped after
exactly N). Greedy decoding everywhere.

Each (model, engine) runs in its own process: load, one short warm-up generation, then --repeats
measured generations (medians reported); peak RSS is that process's VmHWM (load included; llama.cpp
maps the GGUF file, and the mapped pages it touches count). TTFT = call -> first new token (the
prompt's prefill; llama.cpp's KV cache is reset after the warm-up so nothing is reused);
decode tok/s = (N - 1) / (time of the last token - time of the first).

Decode is memory-bound on CPUs, so each row also gets a bandwidth limit: the machine's read
bandwidth (a multi-threaded sum over a 1 GiB float32 array, same thread count, best of 7) divided
by the bytes read per decoded token = every weight tensor once (a matrix-vector product reads the
whole matrix) except the input embedding table, of which one row is gathered -- unless it is
tied to the lm_head, which reads it in full (the three models here are tied) -- plus the KV
cache at the mean context length (prompt + N/2) in the engine's KV type (CTranslate2 int8:
float32; llama.cpp: f16; torch: its dtype). Weight bytes: CTranslate2 = model.bin (int8 matrices
with float32 per-row scales, float norms; tied matrices stored once); GGUF = the sum of the file's
tensor sizes; torch = the parameters' bytes.

    .venv/bin/python bench/engine.py --models mini                        # smoke
    .venv/bin/python bench/engine.py --models mini,0.5b,3b --out bench/RESULTS.md
    .venv/bin/python bench/engine.py --models 3b --engines ct2-int8,llama-Q4_K_M --skip-torch-3b
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import llamacpp, results  # noqa: E402 -- needs the sys.path line above
from bench.results import child_env, run_child  # noqa: E402 -- needs the sys.path line above

CACHE = ROOT / ".cache" / "bench"
MODELS_CACHE = CACHE / "models"
GGUF_CACHE = CACHE / "gguf"
SECTION = "## Engine"
ADAPTER = ROOT / "training" / "adapters" / "radlite-mini"
BASE_DIR = ROOT / "models" / "base" / "smollm2"

# Real Qwen2.5 dimensions (config.json of Qwen/Qwen2.5-0.5B and -3B).
SHAPES: dict[str, dict[str, Any]] = {
    "0.5b": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                 intermediate_size=4864, vocab_size=151936, tie_word_embeddings=True),
    "3b": dict(hidden_size=2048, num_hidden_layers=36, num_attention_heads=16, num_key_value_heads=2,
               intermediate_size=11008, vocab_size=151936, tie_word_embeddings=True),
}
MODELS = ("mini", "0.5b", "3b")
MODEL_LABELS = {"mini": "radlite-mini (SmolLM2-135M)", "0.5b": "Qwen2.5-0.5B shape (random)",
                "3b": "Qwen2.5-3B shape (random)"}
# engine -> (kind, setting)
ENGINES: dict[str, tuple[str, str]] = {
    "ct2-int8": ("ct2", "int8"),
    "ct2-int8_float32": ("ct2", "int8_float32"),
    "ct2-int8_bfloat16": ("ct2", "int8_bfloat16"),
    "llama-Q4_K_M": ("llama", "Q4_K_M"),
    "llama-Q8_0": ("llama", "Q8_0"),
    "torch-fp32": ("torch", "float32"),
    "torch-bf16": ("torch", "bfloat16"),
}
REFERENCE = "llama-Q4_K_M"
KV_BYTES = {"int8": 4, "int8_float32": 4, "int8_bfloat16": 2, "Q4_K_M": 2, "Q8_0": 2, "float32": 4, "bfloat16": 2}
WEIGHTS_LABEL = {
    "int8": "int8 weights, float32 activations",
    "int8_float32": "int8 weights, float32 activations",
    "int8_bfloat16": "int8 weights, bf16 activations",
    "Q4_K_M": "GGUF Q4_K_M",
    "Q8_0": "GGUF Q8_0",
    "float32": "fp32",
    "bfloat16": "bf16",
}


# -- process facts -----------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM), MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _median_runs(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in ("ttft_s", "total_s", "decode_tok_s")}


def _decode_rate(n: int, ttft: float, total: float) -> float:
    return (n - 1) / (total - ttft) if n > 1 and total > ttft else 0.0


# -- measurements (each meant to run in a process of its own) -------------------------------------


def _timed_runs(once: Callable[[int], tuple[list[int], float, float]], new_tokens: int, repeats: int,
                warmup: int) -> tuple[list[int], list[dict[str, float]]]:
    """A short warm-up generation, then ``repeats`` measured ones: (the last ids, the runs)."""
    if warmup:
        once(min(warmup, new_tokens))
    runs, ids = [], []
    for _ in range(repeats):
        ids, ttft, total = once(new_tokens)
        runs.append({"ttft_s": ttft, "total_s": total, "decode_tok_s": _decode_rate(len(ids), ttft, total)})
    return ids, runs


def measure_ct2(model_dir: Path, prompt_ids: list[int], new_tokens: int, threads: int,
                compute_type: str = "int8", repeats: int = 1, warmup: int = 4) -> dict[str, Any]:
    """CTranslate2 Generator on ``model_dir`` (a CTranslate2 model folder or a bundle)."""
    import ctranslate2  # noqa: PLC0415 -- kept out of the measured child process (its RSS is the result)

    model_dir = Path(model_dir)
    if (model_dir / "model" / "model.bin").is_file():
        model_dir = model_dir / "model"
    started = time.perf_counter()
    gen = ctranslate2.Generator(str(model_dir), device="cpu", compute_type=compute_type,
                                inter_threads=1, intra_threads=threads)
    load_s = time.perf_counter() - started
    vocab = _ct2_vocabulary(model_dir)
    tokens = [vocab[i] for i in prompt_ids]

    def once(n: int) -> tuple[list[int], float, float]:
        first: list[float] = []

        def on_step(step: Any) -> bool:
            if not first:
                first.append(time.perf_counter())
            return False

        t0 = time.perf_counter()
        res = gen.generate_batch([tokens], max_length=n, min_length=n, sampling_topk=1, beam_size=1,
                                 include_prompt_in_result=False, callback=on_step)
        t1 = time.perf_counter()
        ids = list(res[0].sequences_ids[0])
        return ids, (first[0] - t0) if first else t1 - t0, t1 - t0

    ids, runs = _timed_runs(once, new_tokens, repeats, warmup)
    return {
        "load_s": load_s, "prompt_tokens": len(prompt_ids), "new_tokens": len(ids), "ids": ids,
        "runs": runs, **_median_runs(runs),
        "weight_bytes": (model_dir / "model.bin").stat().st_size,
        "peak_rss_mib": peak_rss_mib(),
    }


def _ct2_vocabulary(model_dir: Path) -> list[str]:
    for name in ("vocabulary.json", "shared_vocabulary.json"):
        if (model_dir / name).is_file():
            return json.loads((model_dir / name).read_text(encoding="utf-8"))
    for name in ("vocabulary.txt", "shared_vocabulary.txt"):
        if (model_dir / name).is_file():
            return (model_dir / name).read_text(encoding="utf-8").split("\n")
    raise FileNotFoundError(f"{model_dir}: no CTranslate2 vocabulary file")


def measure_torch(hf_dir: Path, prompt_ids: list[int], new_tokens: int, threads: int,
                  dtype: str = "float32", repeats: int = 1, warmup: int = 4) -> dict[str, Any]:
    """transformers model, greedy loop with the KV cache (prefill computes the last logits only)."""
    import torch  # noqa: PLC0415 -- kept out of the measured child process (its RSS is the result)
    from transformers import AutoModelForCausalLM  # noqa: PLC0415 -- kept out of the measured child process (its RSS is the result)

    torch.set_num_threads(threads)
    started = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=getattr(torch, dtype))
    model.eval()
    load_s = time.perf_counter() - started

    # transformers >= 5.2x calls the KV cache argument `cache` (`past_key_values` is deprecated).
    cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

    def kv(out: Any) -> Any:
        cache = getattr(out, "cache", None)
        return cache if cache is not None else out.past_key_values

    @torch.inference_mode()
    def once(n: int) -> tuple[list[int], float, float]:
        t0 = time.perf_counter()
        out = model(input_ids=torch.tensor([prompt_ids]), use_cache=True, logits_to_keep=1)
        nxt = out.logits[0, -1].argmax()
        ids = [int(nxt)]
        ttft = time.perf_counter() - t0
        for _ in range(n - 1):
            out = model(input_ids=nxt.view(1, 1), use_cache=True, **{cache_kw: kv(out)})
            nxt = out.logits[0, -1].argmax()
            ids.append(int(nxt))
        return ids, ttft, time.perf_counter() - t0

    ids, runs = _timed_runs(once, new_tokens, repeats, warmup)
    return {
        "load_s": load_s, "prompt_tokens": len(prompt_ids), "new_tokens": len(ids), "ids": ids,
        "runs": runs, **_median_runs(runs),
        "weight_bytes": sum(p.numel() * p.element_size() for p in model.parameters()),
        "torch_threads": torch.get_num_threads(),
        "peak_rss_mib": peak_rss_mib(),
    }


def measure_llama(gguf: Path, prompt_ids: list[int], new_tokens: int, threads: int,
                  repeats: int = 1, warmup: int = 4) -> dict[str, Any]:
    """llama.cpp through bench/llamacpp.py; the KV cache is reset before each measured run."""
    started = time.perf_counter()
    eng = llamacpp.LlamaCpp(Path(gguf), n_threads=threads, n_ctx=max(512, len(prompt_ids) + new_tokens + 16))
    load_s = time.perf_counter() - started
    if warmup:
        eng.generate(prompt_ids, min(warmup, new_tokens), [])
    runs, res = [], None
    for _ in range(repeats):
        eng.llm.reset()  # measure the prefill, not llama-cpp-python's prefix reuse
        res = eng.generate(prompt_ids, new_tokens, [])
        runs.append({"ttft_s": res.ttft_s, "total_s": res.total_s,
                     "decode_tok_s": _decode_rate(len(res.ids), res.ttft_s, res.total_s),
                     "reused_prefix_tokens": res.reused_prefix_tokens})
    # And once more without the reset: the whole prompt is cached, only the sampling remains.
    again = eng.generate(prompt_ids, 1, [])
    sizes = llamacpp.tensor_bytes(Path(gguf))
    weight_bytes = sum(sizes.values())
    if "output.weight" in sizes:  # untied: the input embedding rows are gathered, not read
        weight_bytes -= sizes.get("token_embd.weight", 0)
    out = {
        "load_s": load_s, "prompt_tokens": len(prompt_ids), "new_tokens": len(res.ids) if res else 0,
        "ids": res.ids if res else [], "runs": runs, **_median_runs(runs),
        "weight_bytes": weight_bytes, "tensor_types": llamacpp.tensor_types(Path(gguf)),
        "bits_per_weight": llamacpp.bits_per_weight(Path(gguf)),
        "reused_prefix_tokens": max(r["reused_prefix_tokens"] for r in runs),
        "cached_prompt_reused_tokens": again.reused_prefix_tokens, "cached_prompt_ttft_s": again.ttft_s,
        "peak_rss_mib": peak_rss_mib(),
    }
    eng.close()
    return out


def measure_bandwidth(threads: int, gib: float = 1.0, repeats: int = 7) -> dict[str, Any]:
    """Read bandwidth: a ``threads``-thread torch sum over a float32 array larger than any cache."""
    import torch  # noqa: PLC0415 -- kept out of the measured child process (its RSS is the result)

    torch.set_num_threads(threads)
    a = torch.ones(int(gib * (1 << 30)) // 4, dtype=torch.float32)
    a.sum()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a.sum()
        best = min(best, time.perf_counter() - t0)
    return {"gb_s": a.numel() * 4 / best / 1e9, "bytes": a.numel() * 4, "threads": threads}


# -- models ------------------------------------------------------------------------------------


@dataclass
class ModelFiles:
    name: str
    hf_dir: Path  # transformers folder (weights + radlite-mini's tokenizer)
    ct2_dir: Path  # bundle (CTranslate2 int8)
    gguf: dict[str, Path]


def _atomic_dir(dest: Path, make: Callable[[Path], Any]) -> Path:
    if (dest / ".complete").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        make(tmp / "out")
        (tmp / "out" / ".complete").write_text(dt.datetime.now().isoformat() + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        (tmp / "out").rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def prepare_hf(model: str) -> Path:
    """The transformers folder of ``model`` (built and cached on first use)."""
    if model == "mini":
        from training.build import adapter_sha256, merge  # noqa: PLC0415 -- ctranslate2/torch via training.*: only while preparing models

        if not (BASE_DIR / "config.json").is_file():
            from training.base_models import prepare_base  # noqa: PLC0415 -- ctranslate2/torch via training.*: only while preparing models

            prepare_base("smollm2", BASE_DIR)
        key = adapter_sha256(ADAPTER)[:12]
        return _atomic_dir(MODELS_CACHE / f"radlite-mini-merged-{key}", lambda out: merge(BASE_DIR, ADAPTER, out))
    if model not in SHAPES:
        raise ValueError(f"unknown model {model!r}; choose from {MODELS}")
    tok_dir = prepare_hf("mini")  # the shared tokenizer: every model gets the same prompt ids

    def make(out: Path) -> None:
        import torch  # noqa: PLC0415 -- kept out of the measured child process (its RSS is the result)
        from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config  # noqa: PLC0415 -- kept out of the measured child process (its RSS is the result)

        tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
        config = Qwen2Config(
            **SHAPES[model], max_position_embeddings=32768, rope_theta=1_000_000.0, rms_norm_eps=1e-6,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id, architectures=["Qwen2ForCausalLM"],
        )
        torch.manual_seed(0)
        lm = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        lm.save_pretrained(out)
        tokenizer.save_pretrained(out)
        del lm

    return _atomic_dir(MODELS_CACHE / f"qwen2.5-{model}-random-bf16", make)


def prepare_ct2(model: str, hf_dir: Path) -> Path:
    from training.build import adapter_sha256  # noqa: PLC0415 -- ctranslate2/torch via training.*: only while preparing models
    from training.convert import build_bundle  # noqa: PLC0415 -- ctranslate2/torch via training.*: only while preparing models

    def make(out: Path) -> None:
        build_bundle(hf_dir, out, name=f"bench-{model}", version="0.0.0",
                     base_model=("HuggingFaceTB/SmolLM2-135M-Instruct" if model == "mini" else f"random-qwen2.5-{model}"),
                     adapter_sha256=adapter_sha256(ADAPTER) if model == "mini" else None,
                     extra={"note": "bench/engine.py"})

    return _atomic_dir(MODELS_CACHE / f"{hf_dir.name}-ct2-int8", make)


def prepare(model: str, quants: list[str], threads: int) -> ModelFiles:
    hf = prepare_hf(model)
    ct2 = prepare_ct2(model, hf)
    # llama.cpp is fed token ids, never text: a tokenizer its converter does not recognise (the
    # random Qwen shapes carry SmolLM2's tokenizer) is fine here.
    ggufs = {q: llamacpp.to_gguf(hf, q, GGUF_CACHE, threads=threads, allow_unknown_pretokenizer=True)
             for q in quants}
    return ModelFiles(model, hf, ct2, ggufs)


def prompt_ids(tokenizer_dir: Path, target: int) -> list[int]:
    """The impression_generation prompt over the sample reports, cut to about ``target`` tokens."""
    from transformers import AutoTokenizer  # noqa: PLC0415 -- kept out of the measured child process (its RSS is the result)

    from integration.inference import prompting  # noqa: PLC0415 -- kept out of the measured child process (its RSS is the result)
    from integration.samples import sample_texts  # noqa: PLC0415 -- kept out of the measured child process (its RSS is the result)
    from integration.tasks import TaskInput, get_task  # noqa: PLC0415 -- kept out of the measured child process (its RSS is the result)

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    task = get_task("impression_generation")
    words = "\n\n".join(sample_texts()).split(" ")
    while True:  # enough text for any target
        ids = prompting.prompt_ids(tok, task, TaskInput(report=" ".join(words)))
        if len(ids) >= target or len(words) > 100_000:
            break
        words = words * 2
    lo, hi = 1, len(words)  # the longest word prefix whose prompt fits in target tokens
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(prompting.prompt_ids(tok, task, TaskInput(report=" ".join(words[:mid])))) <= target:
            lo = mid
        else:
            hi = mid - 1
    return prompting.prompt_ids(tok, task, TaskInput(report=" ".join(words[:lo])))


def kv_bytes_per_token(hf_dir: Path, context: float, elem_bytes: int) -> float:
    cfg = json.loads((hf_dir / "config.json").read_text())
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    return 2 * cfg["num_hidden_layers"] * cfg["num_key_value_heads"] * head_dim * context * elem_bytes


# -- orchestration -----------------------------------------------------------------------------


def _worker(job: dict[str, Any]) -> dict[str, Any]:
    kind = job["kind"]
    if kind == "prepare":
        files = prepare(job["model"], job["quants"], job["threads"])
        return {"hf_dir": str(files.hf_dir), "ct2_dir": str(files.ct2_dir),
                "gguf": {q: str(p) for q, p in files.gguf.items()},
                "prompt_ids": prompt_ids(prepare_hf("mini"), job["prompt_tokens"])}
    if kind == "bandwidth":
        return measure_bandwidth(job["threads"])
    common = dict(prompt_ids=job["prompt_ids"], new_tokens=job["new_tokens"], threads=job["threads"],
                  repeats=job["repeats"])
    if kind == "ct2":
        return measure_ct2(Path(job["path"]), compute_type=job["setting"], **common)
    if kind == "torch":
        return measure_torch(Path(job["path"]), dtype=job["setting"], **common)
    if kind == "llama":
        return measure_llama(Path(job["path"]), **common)
    raise ValueError(kind)


_CT2_LOG_KEYS = ("Selected ISA", "Use Intel MKL", "SGEMM backend", "GEMM_S8 backend", "Selected compute type")


def run_subprocess(job: dict[str, Any], timeout: float, echo: Callable[[str], None]) -> dict[str, Any]:
    """Run one job in a fresh interpreter; its result, or {"error": ...}."""
    # CTranslate2 logs the ISA and GEMM backends it picked (kept in the result).
    extra = {"CT2_VERBOSE": "1"} if job.get("kind") == "ct2" else {}
    result, stderr = run_child(Path(__file__).resolve(), "--worker", job, timeout, echo,
                               env=child_env(job.get("threads", 1), **extra))
    if "error" not in result:
        picked = [line.split("[info]", 1)[1].strip(" -") for line in stderr.splitlines()
                  if "[ctranslate2]" in line and any(k in line for k in _CT2_LOG_KEYS)]
        if picked:
            result["ct2_log"] = list(dict.fromkeys(picked))
    return result


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name"))
        flags = next(ln.split(":", 1)[1].split() for ln in cpuinfo.splitlines() if ln.startswith("flags"))
        info["flags"] = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16") if f in flags]
        mem = next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
        info["mem_gib"] = round(int(mem.split()[1]) / (1 << 20), 1)
    except (OSError, StopIteration):
        info["cpu"] = platform.processor() or "unknown"
    import importlib.metadata as md  # noqa: PLC0415 -- kept out of the measured child process (its RSS is the result)

    versions = {}
    for pkg in ("ctranslate2", "llama-cpp-python", "torch", "transformers", "numpy"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = "not installed"
    info["versions"] = versions
    return info


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def run_benchmark(models: list[str], engines: list[str], *, threads: int, new_tokens: int, prompt_tokens: int,
                  repeats: int, skip_torch_3b: bool, timeout: float, echo: Callable[[str], None]) -> dict[str, Any]:
    import ctranslate2  # noqa: PLC0415 -- kept out of the measured child process (its RSS is the result)

    supported = ctranslate2.get_supported_compute_types("cpu")
    have_llama = llamacpp.available()
    result: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(), "uptime_before": uptime(), "threads": threads, "new_tokens": new_tokens,
        "repeats": repeats, "ct2_cpu_compute_types": sorted(supported), "rows": [], "skipped": [],
    }
    echo(f"# {result['date']}  {result['uptime_before']}")
    bw = run_subprocess({"kind": "bandwidth", "threads": threads}, timeout, echo)
    result["bandwidth"] = bw
    echo(f"read bandwidth ({threads} threads): {bw.get('gb_s', 0):.1f} GB/s")
    quants = [ENGINES[e][1] for e in engines if ENGINES[e][0] == "llama"] if have_llama else []
    for model in models:
        echo(f"preparing {model} ...")
        files = run_subprocess({"kind": "prepare", "model": model, "quants": quants, "threads": threads,
                                "prompt_tokens": prompt_tokens}, max(timeout, 3600), echo)
        if "error" in files:
            result["skipped"].append({"model": model, "engine": "*", "why": files["error"]})
            continue
        hf_dir = Path(files["hf_dir"])
        ids = files["prompt_ids"]
        result["prompt_tokens"] = len(ids)
        context = len(ids) + new_tokens / 2
        for engine in engines:
            kind, setting = ENGINES[engine]
            why = ""
            if kind == "ct2" and setting not in supported:
                why = f"compute type {setting} not supported on this CPU (ctranslate2 offers {', '.join(sorted(supported))})"
            elif kind == "llama" and not have_llama:
                why = llamacpp.why_unavailable()
            elif kind == "torch" and model == "3b" and skip_torch_3b:
                why = "--skip-torch-3b"
            if why:
                result["skipped"].append({"model": model, "engine": engine, "why": why})
                echo(f"  {engine}: skipped ({why})")
                continue
            path = {"ct2": files["ct2_dir"], "torch": files["hf_dir"]}.get(kind) or files["gguf"][setting]
            job = {"kind": kind, "setting": setting, "path": path, "prompt_ids": ids, "new_tokens": new_tokens,
                   "threads": threads, "repeats": repeats}
            echo(f"  {engine} ...")
            r = run_subprocess(job, timeout, echo)
            if "error" in r:
                result["skipped"].append({"model": model, "engine": engine, "why": r["error"]})
                continue
            r.update(model=model, engine=engine, setting=setting)
            r["kv_bytes_per_token"] = kv_bytes_per_token(hf_dir, context, KV_BYTES[setting])
            r["bytes_per_token"] = r["weight_bytes"] + r["kv_bytes_per_token"]
            r["limit_tok_s"] = bw["gb_s"] * 1e9 / r["bytes_per_token"] if "gb_s" in bw else 0.0
            r["pct_of_limit"] = 100 * r["decode_tok_s"] / r["limit_tok_s"] if r["limit_tok_s"] else 0.0
            echo(f"    TTFT {r['ttft_s']:.3f} s, decode {r['decode_tok_s']:.1f} tok/s, "
                 f"peak RSS {r['peak_rss_mib']:.0f} MiB, {r['pct_of_limit']:.0f}% of the bandwidth limit")
            result["rows"].append(r)
    result["uptime_after"] = uptime()
    _add_ratios(result["rows"])
    return result


def _add_ratios(rows: list[dict[str, Any]]) -> None:
    refs = {r["model"]: r for r in rows if r["engine"] == REFERENCE}
    torch_ref = {r["model"]: r for r in rows if r["engine"] == "torch-fp32"}
    for r in rows:
        ref = refs.get(r["model"])
        r["decode_vs_q4"] = r["decode_tok_s"] / ref["decode_tok_s"] if ref and ref["decode_tok_s"] else None
        r["ttft_vs_q4"] = r["ttft_s"] / ref["ttft_s"] if ref and ref["ttft_s"] else None
        base = torch_ref.get(r["model"]) or next(x for x in rows if x["model"] == r["model"])
        r["same_ids_as"] = base["engine"]
        r["same_leading_ids"] = next((i for i, (a, b) in enumerate(zip(r["ids"], base["ids"])) if a != b),
                                     min(len(r["ids"]), len(base["ids"])))


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    bw = result.get("bandwidth", {})
    out = [
        f"Run {result['date']} on {m.get('cpu')} ({m.get('cpus')} CPUs, {m.get('mem_gib')} GiB; "
        f"{' '.join(m.get('flags', []))}), {result['threads']} threads. "
        f"Load before: `{result['uptime_before']}`; after: `{result.get('uptime_after', '')}`.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + f", Python {m.get('python')}.",
        "",
        f"Prompt {result.get('prompt_tokens', '?')} tokens (the same ids for every engine), {result['new_tokens']} "
        f"new tokens (EOS ignored), greedy, median of {result['repeats']} runs after a warm-up. "
        f"Read bandwidth {bw.get('gb_s', 0):.1f} GB/s ({result['threads']}-thread sum over 1 GiB). "
        f"CTranslate2 CPU compute types here: {', '.join(result['ct2_cpu_compute_types'])}.",
        "",
        "| model | engine | weights | load s | TTFT s | decode tok/s | peak RSS MiB | MB read/token | "
        "limit tok/s | % of limit | decode ×Q4_K_M | TTFT ×Q4_K_M |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def ratio(x: float | None) -> str:
        return f"{x:.2f}" if x is not None else "–"

    for r in result["rows"]:
        rates = [x["decode_tok_s"] for x in r.get("runs", [])]
        spread = f" ({min(rates):.1f}–{max(rates):.1f})" if len(rates) > 1 else ""
        weights = WEIGHTS_LABEL[r["setting"]]
        if r.get("bits_per_weight"):
            weights += f", {r['bits_per_weight']:.2f} bits/weight"
        out.append(
            f"| {MODEL_LABELS[r['model']]} | {r['engine']} | {weights} | {r['load_s']:.1f} | "
            f"{r['ttft_s']:.3f} | {r['decode_tok_s']:.1f}{spread} | {r['peak_rss_mib']:.0f} | "
            f"{r['bytes_per_token'] / 1e6:.0f} | {r['limit_tok_s']:.0f} | {r['pct_of_limit']:.0f}% | "
            f"{ratio(r['decode_vs_q4'])} | {ratio(r['ttft_vs_q4'])} |"
        )
    notes = []
    for r in result["rows"]:
        if r.get("tensor_types"):
            types = ", ".join(f"{k} {v}" for k, v in r["tensor_types"].items())
            notes.append(f"- {MODEL_LABELS[r['model']]}, {r['engine']}: GGUF tensor types {types}; "
                         f"prefix reused in measured runs {r['reused_prefix_tokens']} tokens; the same prompt again "
                         f"(KV cache kept) reused {r['cached_prompt_reused_tokens']}/{r['prompt_tokens']} tokens, "
                         f"first token in {r['cached_prompt_ttft_s'] * 1000:.1f} ms.")
    for r in result["rows"]:
        if r.get("ct2_log"):
            notes.append(f"- {MODEL_LABELS[r['model']]}, {r['engine']}: CTranslate2 picked " + "; ".join(r["ct2_log"]) + ".")
    for r in result["rows"]:
        if r["engine"] != r["same_ids_as"]:
            notes.append(f"- {MODEL_LABELS[r['model']]}, {r['engine']}: first {r['same_leading_ids']} of "
                         f"{r['new_tokens']} generated ids equal {r['same_ids_as']}'s.")
    for s in result["skipped"]:
        notes.append(f"- skipped {s['model']} {s['engine']}: {s['why']}")
    if notes:
        out += ["", *notes]
    out += [
        "",
        "decode tok/s: median (min–max of the runs); a wide range means the machine was busy. "
        "MB read/token = weight bytes read per decoded token (every tensor once; the embedding table "
        "counts in full because it is tied to the lm_head) + the KV cache at the mean context. "
        "limit = bandwidth / that; % of limit = decode tok/s / limit. TTFT = prefill of the whole prompt. "
        "Peak RSS = the engine process's VmHWM (load included). "
        "Generated ids equal to the reference's: a check that every engine got the same prompt; "
        "CTranslate2 departs where the others emit the end-of-turn token (min_length forbids it there), "
        "and a quantized model may flip a near-tie anywhere.",
    ]
    return "\n".join(out) + "\n"


def write_section(path: Path, body: str) -> None:
    """Put ``body`` under the ``## Engine`` heading of ``path`` (bench/results.py: that section is
    replaced when it exists and appended otherwise; the other sections are left as they are)."""
    results.write_section(path, SECTION, "Inference engines on the same model, prompt and threads (bench/engine.py).", body)


def _csv(value: str, allowed: tuple[str, ...] | list[str], what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise SystemExit(f"unknown {what} {bad}; choose from {', '.join(allowed)}")
    return items


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:] == ["--worker"]:
        job = json.loads(sys.stdin.read())
        print("RESULT " + json.dumps(_worker(job)), flush=True)
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--models", default="mini", help=f"comma separated: {', '.join(MODELS)} (default mini)")
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma separated (default all)")
    ap.add_argument("--threads", type=int, default=2, help="threads for every engine (default 2)")
    ap.add_argument("--new-tokens", type=int, default=128, help="tokens decoded per run (default 128)")
    ap.add_argument("--prompt-tokens", type=int, default=300, help="prompt length, about (default 300)")
    ap.add_argument("--repeats", type=int, default=3, help="measured runs per engine (default 3)")
    ap.add_argument("--skip-torch-3b", action="store_true", help="no transformers runs on the 3B (slow, 12 GB in fp32)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per engine process (default 1800)")
    ap.add_argument("--out", type=Path, help="also write the Engine section of this markdown file")
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    args = ap.parse_args(argv)
    models = _csv(args.models, MODELS, "models")
    engines = _csv(args.engines, list(ENGINES), "engines")
    echo = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731 -- a one-line progress printer
    result = run_benchmark(models, engines, threads=args.threads, new_tokens=args.new_tokens,
                           prompt_tokens=args.prompt_tokens, repeats=args.repeats,
                           skip_torch_3b=args.skip_torch_3b, timeout=args.timeout, echo=echo)
    table = markdown(result)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.out:
        write_section(args.out, table)
        echo(f"written to {args.out} ({SECTION})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
