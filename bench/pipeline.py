#!/usr/bin/env python3
"""Pipeline benchmark: reports per hour through the configured task set, CTranslate2 (our engine
path) against llama.cpp (the paper's deployment) on the same merged model, real IU X-ray reports.

Workload. The first --reports reports of the held-out IU X-ray test split (``../shared/data``, or
--data-dir / RADLITE_SHARED_DATA), each as a FHIR DiagnosticReport (chest radiograph, CR) whose
text is the report's findings and impression. Reports are paired under one patient, so the second
report of each pair has a prior and the routing's ``temporal_comparison`` runs for it, as for a
follow-up study. The tasks are chosen by the configured routing rules (config/default.yaml: for a
chest radiograph abnormality_detection, impression_generation, radiology_ner, and
temporal_comparison when there is a prior) -- :func:`integration.inference.report_plan.plan_report`, the worker's
own planning. Timed: planning, inference and parsing into the job's results
(:func:`integration.inference.report_plan.collect_results`, which also decides each result against the report:
stated facts, the staging verifier, evidence -- its share of the time is the "decision share"
column); not timed: the job store and the write-back, which do
not depend on the engine.

Paths (--paths):

* ``ct2`` -- what the worker runs: :class:`integration.inference.Router` over the bundle, reports
  taken --batch-reports at a time (the worker's ``worker.batch_size``), rows batched up to
  --max-batch-size with prompts within --spread tokens of each other, --threads intra-op threads.
* ``ct2-replicas`` -- the same in one process whose T threads are T model replicas of one thread
  each (``inference.replicas``), running batches concurrently.
* ``ct2-generate`` -- ct2-replicas with every task generated: no label or slot scoring (the
  abnormality checklist decoded token by token), to measure what scoring buys.
* ``ct2-report`` -- the same with ``batching: report``: a report's tasks batched together, the
  report text run once per batch (CTranslate2's static prompt).
* ``ct2-nospread`` -- the same with no prompt-length limit in a batch (the engine's previous
  batching: one task's requests together, whatever their lengths), to measure that change.
* ``ct2-before`` -- no spread limit with the previous defaults (worker.batch_size 4,
  inference.max_batch_size 8): the engine before this benchmark's changes, less the cached
  template prefix.
* ``llama-Q4_K_M``, ``llama-Q8_0`` -- llama-cpp-python on the merged model converted to GGUF
  (bench/llamacpp.py), the same prompt token ids, greedy, one request after the other in report
  order so the KV cache of a report's shared prefix is reused between its tasks (llama-cpp-python
  keeps the longest common prefix), --threads threads. Classification tasks, if routed, are
  generated, as in the paper's deployment.

Each path runs in its own process, after one warm-up report; "RSS" is that process's peak resident
set (VmHWM, model load included) -- the memory one worker needs. "agree" is the share of task
answers equal to the ct2 path's (greedy on int8 vs 4/8-bit weights: they can differ).

Label scoring (``--scoring``, on by default): for the scored tasks (n_staging, m_staging,
radiology_nli) on the same reports, seconds per answer for the engine's scoring (prompt prefilled
once, labels forced: :meth:`Engine._score`) against scoring every full prompt+label sequence with
``score_batch`` (the engine's previous method), and how often they pick the same label.

    .venv/bin/python bench/pipeline.py --reports 8                       # smoke
    .venv/bin/python bench/pipeline.py --reports 32 --out bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# engine_bench: machine info, RSS, the merged model.
from bench import engine as engine_bench, llamacpp  # noqa: E402 -- needs the sys.path line above
from bench.llamacpp import LlamaCpp, to_gguf  # noqa: E402 -- needs the sys.path line above
from bench.results import child_env, run_child, write_section  # noqa: E402 -- needs the sys.path line above

SECTION = "## Pipeline"
PATHS = ("ct2", "ct2-replicas", "ct2-generate", "ct2-report", "ct2-nospread", "ct2-before", "llama-Q4_K_M", "llama-Q8_0")
REFERENCE = "llama-Q4_K_M"


# -- the workload ----------------------------------------------------------------------------------


def iu_test_reports(data_dir: Path, n: int) -> list[dict[str, Any]]:
    """The first ``n`` IU test reports (by uid) as FHIR DiagnosticReports, paired by patient."""
    from integration.samples import diagnostic_report  # noqa: PLC0415 -- each child loads only its own path's stack (RSS is measured)
    from training.data.iu import load_reports  # noqa: PLC0415 -- each child loads only its own path's stack (RSS is measured)

    reports = sorted((r for r in load_reports(data_dir) if r.split == "test" and r.findings), key=lambda r: r.uid)
    out = []
    for i, r in enumerate(reports[:n]):
        sample = {
            "id": f"iu-{r.uid}", "patient": {"id": f"bench-{i // 2}", "name": "Bench Patient"},
            "loinc": "36643-5", "code_text": "XR Chest 2 Views", "modality": "CR",
            "effective": (dt.datetime(2024, 1, 1, 9) + dt.timedelta(days=i)).isoformat() + "Z",
            "text": r.text, "form": "presentedForm-plain",
        }
        out.append(diagnostic_report(sample))
    return out


def plans_for(resources: list[dict[str, Any]]) -> list[Any]:
    from integration.inference.report_plan import plan_report  # noqa: PLC0415 -- each child loads only its own path's stack (RSS is measured)
    from integration.settings import load_settings  # noqa: PLC0415 -- each child loads only its own path's stack (RSS is measured)

    settings = load_settings()
    plans = []
    for i, res in enumerate(resources):
        prior = resources[i - 1] if i % 2 == 1 else None
        plans.append(plan_report(res, settings.routing, lambda p=prior: p))
    return plans


# -- the paths (each in its own process) -----------------------------------------------------------


def my_share(plans: list[Any], job: dict[str, Any]) -> list[tuple[int, Any]]:
    """(report index, plan) for this process when --procs processes share the reports: whole
    patient pairs, dealt out in turn, so a follow-up report stays with its prior."""
    n, k = job.get("procs", 1), job.get("proc", 0)
    return [(i, p) for i, p in enumerate(plans) if (i // 2) % n == k]


def wait_for_go(job: dict[str, Any]) -> None:
    """Tell the parent this process is loaded and warm, then wait until every process is: the
    timed part of all processes starts together."""
    if job.get("barrier"):
        print("READY", flush=True)
        sys.stdin.readline()


def run_ct2(job: dict[str, Any]) -> dict[str, Any]:
    from integration.inference.engine import Engine  # noqa: PLC0415 -- each child loads only its own path's stack (RSS is measured)
    from integration.inference.report_plan import collect_results  # noqa: PLC0415 -- each child loads only its own path's stack (RSS is measured)
    from integration.inference.router import Router  # noqa: PLC0415 -- each child loads only its own path's stack (RSS is measured)

    resources = iu_test_reports(Path(job["data_dir"]), job["reports"] + 1)
    warm, resources = resources[:1], resources[1:]
    spread = 10**6 if job["path"] in ("ct2-nospread", "ct2-before") else job["spread"]
    batching = "report" if job["path"] == "ct2-report" else "length"
    if job["path"] == "ct2-before":  # the worker's previous defaults: 4 reports, 8 rows per call
        job = {**job, "batch_reports": 4, "max_batch_size": 8}

    # ct2-replicas: the process's threads as replicas of one thread each (inference.replicas).
    replicas = job["threads"] if job["path"] in ("ct2-replicas", "ct2-generate") else 1
    forced_mode = "generate" if job["path"] == "ct2-generate" else None
    threads = 1 if replicas > 1 else job["threads"]

    def factory(bundle):
        return Engine(bundle, threads=threads, max_batch_size=job["max_batch_size"], replicas=replicas,
                      max_prompt_spread=spread, batching=batching, cpu_isa=job.get("cpu_isa"))

    router = Router({"b": Path(job["bundle"])}, engine_factory=factory, verify_hash=False)
    warm_plans = plans_for(warm)
    router.run([q for p in warm_plans for q in p.requests])
    wait_for_go(job)

    started, cpu0 = time.perf_counter(), time.process_time()
    plans = my_share(plans_for(resources), job)
    answers: dict[str, list[Any]] = {}
    tasks = out_tokens = 0
    decide_s = 0.0  # collect_results: the adapter's decision (stated facts, verifier, evidence)
    for b in range(0, len(plans), job["batch_reports"]):
        chunk = plans[b:b + job["batch_reports"]]
        outputs = router.run([dataclasses.replace(q, mode=forced_mode or q.mode) for _, p in chunk for q in p.requests])
        i = 0
        for n, plan in chunk:
            mine = outputs[i:i + len(plan.tasks)]
            i += len(plan.tasks)
            t0 = time.perf_counter()
            collect_results(plan, mine, router)
            decide_s += time.perf_counter() - t0
            answers[str(n)] = [o.result.value for o in mine]
            out_tokens += sum(o.output_tokens for o in mine)
            tasks += len(mine)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu_s": time.process_time() - cpu0, "reports": len(plans), "tasks": tasks,
            "output_tokens": out_tokens, "answers": answers, "rss_mib": engine_bench.peak_rss_mib(),
            "decide_s": decide_s}


def run_llama(job: dict[str, Any]) -> dict[str, Any]:
    from transformers import AutoTokenizer  # noqa: PLC0415 -- each child loads only its own path's stack (RSS is measured)

    from integration.inference import prompting  # noqa: PLC0415 -- each child loads only its own path's stack (RSS is measured)
    from integration.inference.model_bundle import load_bundle  # noqa: PLC0415 -- each child loads only its own path's stack (RSS is measured)
    from integration.tasks import get_task  # noqa: PLC0415 -- each child loads only its own path's stack (RSS is measured)

    bundle = load_bundle(Path(job["bundle"]), verify_hash=False)
    tokenizer = AutoTokenizer.from_pretrained(str(bundle.tokenizer_dir))
    stop_ids = [tokenizer.convert_tokens_to_ids(t) for t in prompting.end_tokens(tokenizer, bundle.manifest.end_tokens)]
    llm = LlamaCpp(Path(job["gguf"]), n_threads=job["threads"])

    def answer(plan) -> tuple[list[Any], int]:
        values, n_out = [], 0
        for req in plan.requests:
            task = get_task(req.task)
            res = llm.generate(prompting.prompt_ids(tokenizer, task, req.input), task.max_new_tokens, stop_ids)
            ids = [t for t in res.ids if t not in stop_ids]
            values.append(task.parse(tokenizer.decode(ids, skip_special_tokens=True).strip()).value)
            n_out += len(ids)
        return values, n_out

    resources = iu_test_reports(Path(job["data_dir"]), job["reports"] + 1)
    warm, resources = resources[:1], resources[1:]
    for plan in plans_for(warm):
        answer(plan)
    wait_for_go(job)

    started, cpu0 = time.perf_counter(), time.process_time()
    plans = my_share(plans_for(resources), job)
    answers: dict[str, list[Any]] = {}
    tasks = out_tokens = 0
    for i, plan in plans:
        values, n = answer(plan)
        answers[str(i)] = values
        tasks += len(values)
        out_tokens += n
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu_s": time.process_time() - cpu0, "reports": len(plans), "tasks": tasks,
            "output_tokens": out_tokens, "answers": answers, "rss_mib": engine_bench.peak_rss_mib()}


def run_scoring(job: dict[str, Any]) -> dict[str, Any]:
    """Seconds per scored answer: shared-prefix scoring (the engine) vs full-sequence score_batch."""
    from integration.fhir.report import report_text  # noqa: PLC0415 -- each child loads only its own path's stack (RSS is measured)
    from integration.inference.engine import Engine, Request  # noqa: PLC0415 -- each child loads only its own path's stack (RSS is measured)
    from integration.inference.model_bundle import load_bundle  # noqa: PLC0415 -- each child loads only its own path's stack (RSS is measured)
    from integration.tasks import TASKS, TaskInput, get_task  # noqa: PLC0415 -- each child loads only its own path's stack (RSS is measured)

    engine = Engine(load_bundle(Path(job["bundle"]), verify_hash=False), threads=job["threads"],
                    max_batch_size=job["max_batch_size"], cpu_isa=job.get("cpu_isa"))
    texts = [report_text(r) for r in iu_test_reports(Path(job["data_dir"]), job["reports"])]
    hypothesis = "There is no pleural effusion."
    rows: dict[str, Any] = {}
    # The tasks ranked over a closed label set (the slot-scored abnormality task is timed apart).
    label_tasks = [name for name, task in TASKS.items() if task.mode == "score" and task.labels]
    for name in label_tasks:
        task = get_task(name)
        inputs = [TaskInput(report=t, hypothesis=hypothesis if "hypothesis" in task.requires else None) for t in texts]
        engine.run([Request(name, inputs[0])])  # warm-up

        started = time.perf_counter()
        shared = [engine.run([Request(name, x)])[0].result.value for x in inputs]
        t_shared = (time.perf_counter() - started) / len(inputs)

        # The previous method: every prompt+label sequence scored in full, one batch per report.
        labels = list(task.labels or ())
        answers = [engine.answer_ids(task.render(label)) for label in labels]
        started = time.perf_counter()
        full = []
        for x in inputs:
            prompt = engine.prompt_ids(task, x)
            scored = engine.generator.score_batch([engine._tokens(prompt + a) for a in answers])
            logp = [sum(s.log_probs[-len(a):]) for s, a in zip(scored, answers)]
            full.append(labels[max(range(len(labels)), key=logp.__getitem__)])
        t_full = (time.perf_counter() - started) / len(inputs)
        rows[name] = {"labels": len(labels), "shared_s": t_shared, "full_s": t_full,
                      "same_label": sum(a == b for a, b in zip(shared, full)) / len(inputs)}
    return {"tasks": rows, "reports": len(texts)}


def _child(job: dict[str, Any]) -> dict[str, Any]:
    kind = job["kind"]
    if kind == "ct2":
        return run_ct2(job)
    if kind == "llama":
        return run_llama(job)
    if kind == "scoring":
        return run_scoring(job)
    if kind == "gguf":
        hf = engine_bench.prepare_hf("mini")
        return {"gguf": str(to_gguf(hf, job["quant"], engine_bench.GGUF_CACHE, threads=job["threads"]))}
    raise ValueError(kind)


def in_subprocess(job: dict[str, Any], timeout: float, echo: Callable[[str], None]) -> dict[str, Any]:
    return run_child(Path(__file__).resolve(), "--child", job, timeout, echo)[0]


def in_processes(job: dict[str, Any], procs: int, timeout: float, echo: Callable[[str], None]) -> dict[str, Any]:
    """``procs`` worker processes, each with its share of the reports, timed from a common start:
    reports/hour of the machine = all reports / the slowest process's time."""
    if procs == 1:
        return in_subprocess(job, timeout, echo)
    env = child_env(job.get("threads", 1))
    children = []
    for k in range(procs):
        child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=str(ROOT))
        child.stdin.write(json.dumps({**job, "procs": procs, "proc": k, "barrier": True}) + "\n")
        child.stdin.flush()
        children.append(child)
    try:
        for child in children:  # every process loaded and warmed up
            line = child.stdout.readline()
            if line.strip() != "READY":
                return {"error": f"a worker process did not start: {line.strip()[:200]}"}
        for child in children:
            child.stdin.write("GO\n")
            child.stdin.flush()
        results = []
        for child in children:
            out, _ = child.communicate(timeout=timeout)
            got = [json.loads(ln[len("RESULT "):]) for ln in out.splitlines() if ln.startswith("RESULT ")]
            if not got:
                return {"error": f"a worker process exited {child.returncode} without a result"}
            results.append(got[0])
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    return {
        "seconds": max(r["seconds"] for r in results), "cpu_s": sum(r["cpu_s"] for r in results),
        "reports": sum(r["reports"] for r in results), "tasks": sum(r["tasks"] for r in results),
        "output_tokens": sum(r["output_tokens"] for r in results), "rss_mib": max(r["rss_mib"] for r in results),
        "answers": {k: v for r in results for k, v in r["answers"].items()}, "procs": procs,
    }


# -- the run and its table -------------------------------------------------------------------------


def run_benchmark(paths: list[str], *, data_dir: Path, bundle: Path, reports: int, batch_reports: int,
                  max_batch_size: int, spread: int, threads: int, cpu_isa: str | None, scoring: bool,
                  timeout: float, layouts: list[tuple[int, int]] | None = None, echo: Callable[[str], None] = print) -> dict[str, Any]:
    base = {"data_dir": str(data_dir), "bundle": str(bundle), "reports": reports, "threads": threads,
            "batch_reports": batch_reports, "max_batch_size": max_batch_size, "spread": spread,
            "cpu_isa": cpu_isa}
    layouts = layouts or [(1, threads)]
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": engine_bench.machine_info(), "load_before": engine_bench.uptime(),
        "settings": {k: v for k, v in base.items() if k not in ("data_dir",)}, "paths": {},
    }
    for procs, n_threads in layouts:
        for path in paths:
            name = f"{path} {procs}x{n_threads}"
            echo(f"-- {name}")
            job = {**base, "threads": n_threads}
            if path.startswith("llama-"):
                if not llamacpp.available():
                    result["paths"][name] = {"error": f"not run: {llamacpp.why_unavailable()}"}
                    continue
                made = in_subprocess({"kind": "gguf", "quant": path.split("-", 1)[1], "threads": threads}, timeout, echo)
                if "error" in made:
                    result["paths"][name] = made
                    continue
                res = in_processes({**job, "kind": "llama", "gguf": made["gguf"]}, procs, timeout, echo)
            else:
                res = in_processes({**job, "kind": "ct2", "path": path}, procs, timeout, echo)
            result["paths"][name] = {**res, "path": path, "procs": procs, "threads": n_threads}
            if "error" not in res:
                echo(f"   {res['reports']} reports in {res['seconds']:.1f} s (CPU {res['cpu_s']:.1f} s): "
                     f"{3600 * res['reports'] / res['seconds']:.0f} reports/h, RSS {res['rss_mib']:.0f} MiB")
    if scoring:
        echo("-- label scoring")
        result["scoring"] = in_subprocess({**base, "kind": "scoring"}, timeout, echo)
    result["load_after"] = engine_bench.uptime()
    return result


def markdown(result: dict[str, Any]) -> str:
    m, s = result["machine"], result["settings"]
    out = [
        f"Run {result['date']} on {m.get('cpu', '?')} ({m.get('cpus')} CPUs, {m.get('mem_gib', '?')} GiB); "
        + ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items()) + ".",
        f"Load before: `{result['load_before']}`; after: `{result['load_after']}`.",
        f"{s['reports']} held-out IU X-ray test reports (after one warm-up report), bundle `{s['bundle']}`, "
        f"{s['threads']} threads; ct2: {s['batch_reports']} reports per worker batch, up to "
        f"{s['max_batch_size']} rows per generate_batch, prompt spread <= {s['spread']} tokens"
        + (f", CT2_FORCE_CPU_ISA={s['cpu_isa']}" if s.get("cpu_isa") else "") + ".",
        "",
        "Layout PxT = P worker processes of T threads each, sharing the reports (whole patient pairs "
        "dealt out in turn) and timed from a common start; reports/hour = all reports / the slowest "
        "process's time; RSS = the largest process's peak. 'vs llama' = against llama.cpp Q4_K_M in its "
        "best layout.",
        "",
        "| path | layout | reports | tasks | output tokens | seconds | reports/hour | s/report | decision share | RSS MiB per process | vs llama Q4_K_M | agree with ct2 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    paths = result["paths"]
    ref_rates = [3600 * r["reports"] / r["seconds"] for r in paths.values()
                 if r.get("path", "").startswith(REFERENCE) and "seconds" in r]
    ref_rate = max(ref_rates) if ref_rates else None
    ct2 = next((r for r in paths.values() if r.get("path") == "ct2" and "answers" in r), {})
    for name, r in paths.items():
        path, layout = (name.split(" ", 1) + [""])[:2]
        if "error" in r:
            out.append(f"| {path} | {layout} | {r['error']} | | | | | | | | | |")
            continue
        rate = 3600 * r["reports"] / r["seconds"]
        ratio = f"{rate / ref_rate:.2f}x" if ref_rate else "n/a"
        agree = "n/a"
        pairs = [(a, b) for k in sorted(set(ct2.get("answers", {})) & set(r["answers"]))
                 for a, b in zip(ct2["answers"][k], r["answers"][k])]
        if pairs:
            agree = f"{sum(a == b for a, b in pairs) / len(pairs):.0%}"
        share = f"{r['decide_s'] / r['seconds']:.1%}" if r.get("decide_s") is not None else "n/a"
        out.append(f"| {path} | {layout} | {r['reports']} | {r['tasks']} | {r['output_tokens']} | {r['seconds']:.1f} | "
                   f"{rate:.0f} | {r['seconds'] / r['reports']:.2f} | {share} | {r['rss_mib']:.0f} | {ratio} | {agree} |")
    sc = result.get("scoring")
    if sc and "tasks" in sc:
        out += ["", f"Label scoring, {sc['reports']} reports, seconds per answer:", "",
                "| task | labels | prompt once, labels forced (engine) | full sequences, score_batch (before) | speed-up | same label |",
                "|---|---|---|---|---|---|"]
        for name, r in sc["tasks"].items():
            out.append(f"| {name} | {r['labels']} | {r['shared_s']:.3f} | {r['full_s']:.3f} | "
                       f"{r['full_s'] / r['shared_s']:.2f}x | {r['same_label']:.0%} |")
    elif sc:
        out += ["", f"Label scoring: {sc.get('error')}"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:] == ["--child"]:
        from integration.audit import configure_logging  # noqa: PLC0415 -- each child loads only its own path's stack (RSS is measured)

        configure_logging("WARNING")  # stdout is the parent's channel (READY, RESULT)
        job = json.loads(sys.stdin.readline())
        print("RESULT " + json.dumps(_child(job)), flush=True)
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=Path(os.environ.get("RADLITE_SHARED_DATA", ROOT.parent / "shared" / "data")))
    ap.add_argument("--bundle", type=Path, default=ROOT / "models" / "radlite-mini")
    ap.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated, from {','.join(PATHS)}")
    ap.add_argument("--reports", type=int, default=24)
    from integration.settings import load_settings  # noqa: PLC0415 -- each child loads only its own path's stack (RSS is measured)

    configured = load_settings()  # the defaults are what the worker runs with
    ap.add_argument("--batch-reports", type=int, default=configured.worker.batch_size,
                    help="reports per worker batch (ct2; default: worker.batch_size)")
    ap.add_argument("--max-batch-size", type=int, default=configured.inference.max_batch_size,
                    help="rows per generate_batch (ct2; default: inference.max_batch_size)")
    ap.add_argument("--spread", type=int, default=configured.inference.max_prompt_spread,
                    help="max prompt-length spread in a batch (ct2; default: inference.max_prompt_spread)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cpu-isa", choices=["AVX512", "AVX2"], default=None, help="CT2_FORCE_CPU_ISA for ct2")
    ap.add_argument("--layouts", default=None,
                    help="comma-separated PxT: P worker processes of T threads (default: 1x<threads>), e.g. 1x2,2x1")
    ap.add_argument("--no-scoring", action="store_true")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--out", type=Path, help="write the table into this file's '## Pipeline' section")
    ap.add_argument("--json", type=Path, help="also write the raw result as JSON")
    args = ap.parse_args(argv)

    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        ap.error(f"unknown paths {unknown}; choose from {PATHS}")
    if not (args.data_dir / "iu_xray").is_dir():
        ap.error(f"{args.data_dir} has no iu_xray folder (the public data, see docs/data.md)")
    if not (args.bundle / "radlite.json").is_file():
        ap.error(f"{args.bundle} is not a model bundle (make model)")
    try:
        layouts = [tuple(int(v) for v in lay.lower().split("x")) for lay in (args.layouts or f"1x{args.threads}").split(",")]
        assert all(len(lay) == 2 and min(lay) >= 1 for lay in layouts)
    except (ValueError, AssertionError):
        ap.error("--layouts: PxT values such as 1x2,2x1")
    result = run_benchmark(paths, data_dir=args.data_dir, bundle=args.bundle, reports=args.reports,
                           batch_reports=args.batch_reports, max_batch_size=args.max_batch_size,
                           spread=args.spread, threads=args.threads, cpu_isa=args.cpu_isa,
                           scoring=not args.no_scoring, timeout=args.timeout, layouts=layouts)
    text = markdown(result)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    if args.out:
        write_section(args.out, SECTION, "Reports per hour through the configured task set (bench/pipeline.py).", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
