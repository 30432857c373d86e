"""``radlite model …`` and ``radlite eval``: the offline model pipeline's verbs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from integration.inference.model_bundle import Calibration, calibration_sha256, load_bundle, write_manifest


@click.group("model")
def model() -> None:
    """Build the models: base weights, datasets, LoRA training, merge + int8 bundle."""


@model.command("base")
@click.argument("name")
@click.option("--out", type=click.Path(file_okay=False), help="Output folder (default models/base/NAME).")
def base(name: str, out: str | None) -> None:
    """Save base model NAME (smollm2, a local transformers folder or a hub id) as a transformers folder."""
    from training.base_models import BaseModelError, prepare_base  # noqa: PLC0415 -- ctranslate2 (via training.*): off CLI start-up

    target = Path(out or Path("models") / "base" / Path(name).name)
    try:
        path = prepare_base(name, target)
    except BaseModelError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"base model {name} saved to {path}")


DEFAULT_ADAPTER = Path(__file__).resolve().parent / "adapters" / "radlite-mini"


@model.command("train")
@click.option("--base", "base_dir", default="models/base/smollm2", show_default=True, type=click.Path(file_okay=False))
@click.option("--data", "data_dir", default="var/data", show_default=True, type=click.Path(file_okay=False))
@click.option("--out", default="var/runs/radlite-mini", show_default=True, type=click.Path(file_okay=False))
@click.option("--rank", default=64, show_default=True, help="LoRA rank (paper: 64).")
@click.option("--alpha", default=128, show_default=True, help="LoRA alpha (paper: 128).")
@click.option("--dropout", default=0.05, show_default=True)
@click.option("--steps", default=1000, show_default=True)
@click.option("--batch-size", default=8, show_default=True)
@click.option("--grad-accum", default=1, show_default=True)
@click.option("--lr", default=2e-4, show_default=True)
@click.option("--max-len", default=512, show_default=True, help="Skip (never truncate) longer examples.")
@click.option("--task", "tasks", multiple=True, help="Train on these tasks only (default: all in the data).")
@click.option("--task-weight", "task_weights", multiple=True, metavar="TASK=W",
              help="Draw TASK W times as often as a task of weight 1 (repeatable).")
@click.option("--seed", default=0, show_default=True)
@click.option("--threads", default=0, show_default=True, help="torch CPU threads (0 = default).")
@click.option("--bf16/--no-bf16", default=False, show_default=True, help="bfloat16 autocast.")
@click.option("--checkpoint-every", default=50, show_default=True)
@click.option("--init-adapter", type=click.Path(file_okay=False, exists=True),
              help="Start from this LoRA adapter's weights (same rank, alpha and targets), e.g. a second stage.")
@click.option("--group-by-length", default=16, show_default=True,
              help="Draw this many batches at once and batch examples of similar length (1 = off).")
@click.option("--keep-task", "keep_tasks", multiple=True,
              help="Do not train this task: hold its answers to the --init-adapter's (a KL term on its "
                   "rows; repeatable).")
@click.option("--keep-weight", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Weight of that KL term (0 = off).")
@click.option("--option-weight", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Loss weight on a slot answer's decision tokens that are not the slot default "
                   "(abnormality checklist: a finding present or uncertain).")
def train_cmd(base_dir, data_dir, out, rank, alpha, dropout, steps, batch_size, grad_accum, lr, max_len,
              tasks, task_weights, seed, threads, bf16, checkpoint_every, init_adapter, group_by_length,
              option_weight, keep_tasks, keep_weight) -> None:
    """Multi-task LoRA fine-tuning (resumes from OUT/checkpoint if present)."""
    from training.train import TrainConfig, train  # noqa: PLC0415 -- ctranslate2 (via training.*): off CLI start-up

    weights = {}
    for item in task_weights:
        name, _, number = item.partition("=")
        try:
            weights[name.strip()] = float(number)
        except ValueError:
            raise click.BadParameter(f"{item!r}: expected TASK=WEIGHT", param_hint="--task-weight") from None

    cfg = TrainConfig(base=base_dir, data=data_dir, out=out, rank=rank, alpha=alpha, dropout=dropout,
                      steps=steps, batch_size=batch_size, grad_accum=grad_accum, lr=lr, max_len=max_len,
                      tasks=tuple(tasks), task_weights=weights, seed=seed, threads=threads, bf16=bf16,
                      checkpoint_every=checkpoint_every, group_by_length=group_by_length, init_adapter=init_adapter,
                      option_weight=option_weight, keep_tasks=tuple(keep_tasks), keep_weight=keep_weight)
    try:
        adapter = train(cfg)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"adapter saved to {adapter}")


@model.command("build")
@click.option("--base", "base_name", default="smollm2", show_default=True,
              help="Base model: smollm2, a transformers folder or a hub id.")
@click.option("--adapter", "adapter_dir", type=click.Path(file_okay=False),
              help=f"LoRA adapter folder (default: the committed {DEFAULT_ADAPTER.name} adapter if present).")
@click.option("--no-adapter", is_flag=True, help="Build the zero-shot base model as a bundle.")
@click.option("--out", type=click.Path(file_okay=False), help="Bundle folder (default models/<name>).")
@click.option("--name", default=None, help="Bundle name (default radlite-mini, or <base>-zero-shot).")
@click.option("--version", "version", default=None, help="Bundle version (default from the adapter card).")
def build_cmd(base_name, adapter_dir, no_adapter, out, name, version) -> None:
    """Base + adapter -> merged -> CTranslate2 int8 bundle with manifest."""
    from training.base_models import base_model_id, prepare_base  # noqa: PLC0415 -- ctranslate2 (via training.*): off CLI start-up
    from training.build import build, read_card  # noqa: PLC0415 -- ctranslate2 (via training.*): off CLI start-up

    started = time.time()
    if adapter_dir is None and not no_adapter and (DEFAULT_ADAPTER / "adapter_config.json").is_file():
        adapter_dir = str(DEFAULT_ADAPTER)
    if no_adapter:
        adapter_dir = None
    short = Path(base_name).name
    name = name or ("radlite-mini" if adapter_dir and short == "smollm2" else f"{short}-zero-shot" if not adapter_dir else f"radlite-{short}")
    card = read_card(adapter_dir) if adapter_dir else {}
    version = version or card.get("version", "0.0.0")
    base_dir = Path("models") / "base" / short
    if Path(base_name).is_dir():
        base_dir = Path(base_name)
    elif not (base_dir / "config.json").is_file():
        click.echo(f"preparing base model {base_name} in {base_dir}")
        prepare_base(base_name, base_dir)
    target = Path(out or Path("models") / name)
    bundle = build(base_dir, target, name=name, version=version, base_model=base_model_id(base_name),
                   adapter_dir=adapter_dir)
    kind = f"adapter {bundle.manifest.adapter_sha256[:12]}" if adapter_dir else "zero-shot, no adapter"
    click.echo(f"bundle {bundle.name} {bundle.manifest.version} ({kind}) at {target} "
               f"in {time.time() - started:.0f} s; model sha256 {bundle.short_hash}")


@click.command("eval-cases")
@click.option("--bundle", "bundle_dir", default="models/radlite-mini", show_default=True,
              type=click.Path(file_okay=False, exists=True))
@click.option("--cases", "cases_file", default="tests/data/cases/cases.yaml", show_default=True,
              type=click.Path(dir_okay=False, exists=True), help="YAML list of {id, task, gold, text}.")
@click.option("--threads", default=0, show_default=True)
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Write per-case rows and the summary as JSON.")
def eval_cases_cmd(bundle_dir, cases_file, threads, out) -> None:
    """Score what `radlite run-task` would answer on a case file (abstention = miss)."""
    from integration.inference.engine import Engine  # noqa: PLC0415 -- ctranslate2: off CLI start-up
    from training.cases import load_cases, markdown, run_cases, summary  # noqa: PLC0415 -- ctranslate2 (via training.*): off CLI start-up

    engine = Engine(load_bundle(bundle_dir), threads=threads, max_input_tokens=4096)
    rows = run_cases(engine, load_cases(cases_file))
    result = summary(rows)
    click.echo(markdown(result))
    for row in rows:
        if row["value"] != row["gold"]:
            click.echo(f"  miss {row['id']}: gold {row['gold']}, wrote {row['value']} ({row['source'] or row['reason']}), "
                       f"model {row['model_value']}")
    if out:
        Path(out).write_text(json.dumps({"summary": result, "rows": rows}, indent=2, default=str) + "\n", encoding="utf-8")


@click.command("eval")
@click.option("--bundle", "bundles", multiple=True, required=True, type=click.Path(file_okay=False),
              help="Bundle to evaluate; repeat to compare (e.g. fine-tuned and zero-shot).")
@click.option("--data", "data_dir", default="var/data", show_default=True, type=click.Path(file_okay=False))
@click.option("--split", default="test", show_default=True, type=click.Choice(["test", "val"]))
@click.option("--task", "tasks", multiple=True)
@click.option("--limit-per-task", type=int, default=None, help="Evaluate at most N examples per task.")
@click.option("--threads", default=0, show_default=True)
@click.option("--batch-size", default=8, show_default=True, help="Requests per engine call.")
@click.option("--mode", "modes", multiple=True, metavar="TASK=MODE",
              help="Decode TASK by 'score' (rank its labels) or 'generate' instead of its default.")
@click.option("--compare", "compare", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="eval.json of an earlier run to show beside this one (e.g. the zero-shot baseline).")
@click.option("--out", default="var/eval", show_default=True, type=click.Path(file_okay=False))
def eval_cmd(bundles, data_dir, split, tasks, limit_per_task, threads, batch_size, modes, compare, out) -> None:
    """Per-task held-out metrics (paper's), parse failures; markdown + JSON + PNG report."""
    from integration.tasks import MODES, TASKS  # noqa: PLC0415 -- the task registry (~40 ms): off CLI start-up
    from training.evaluate import evaluate, markdown, write_report  # noqa: PLC0415 -- ctranslate2 (via training.*): off CLI start-up

    mode_of = {}
    for item in modes:
        task, _, mode = item.partition("=")
        if task not in TASKS or mode not in MODES:
            raise click.BadParameter(f"{item!r}: expected TASK=score or TASK=generate", param_hint="--mode")
        if mode == "score" and not TASKS[task].scorable:
            raise click.BadParameter(f"{task} has no label set to score", param_hint="--mode")
        mode_of[task] = mode
    reports = [evaluate(b, data_dir, split=split, tasks=tasks or None, limit_per_task=limit_per_task,
                        threads=threads, batch_size=batch_size, modes=mode_of) for b in bundles]
    for path in compare:
        earlier = json.loads(Path(path).read_text(encoding="utf-8"))
        reports.extend(r for r in earlier if r.get("split") == split)
    paths = write_report(reports, out)
    click.echo(markdown(reports))
    click.echo(f"report: {paths['markdown']}, {paths['json']}, {paths['png']}")


@model.command("calibrate")
@click.option("--bundle", "bundle_dir", default="models/radlite-mini", show_default=True,
              type=click.Path(file_okay=False, exists=True))
@click.option("--data", "data_dir", default="var/data", show_default=True, type=click.Path(file_okay=False))
@click.option("--task", "tasks", multiple=True, help="Slot-scored task(s) to calibrate (default: all the bundle has).")
@click.option("--limit", type=int, default=None, help="Use at most N val rows per task.")
@click.option("--adapter", "adapter_dir", type=click.Path(file_okay=False),
              help="Adapter whose card also records the calibration, so `radlite model build` keeps it "
                   f"(default: the committed {DEFAULT_ADAPTER.name} adapter, if the bundle was built from it).")
@click.option("--version", "version", default=None, help="New version for bundle and card (a calibration changes answers).")
@click.option("--dry-run", is_flag=True, help="Fit and print; write nothing.")
@click.option("--min-positives", type=click.IntRange(min=1), default=None,
              help="Fit a slot's bias only with this many val positives (default: training.calibrate.MIN_POSITIVES).")
@click.option("--threads", default=0, show_default=True)
@click.option("--batch-size", default=16, show_default=True)
def calibrate_cmd(bundle_dir, data_dir, tasks, limit, adapter_dir, version, dry_run, min_positives, threads,
                  batch_size) -> None:
    """Fit per-slot decision biases on the val split and record them in the bundle (and adapter card)."""
    from integration.inference.engine import Engine  # noqa: PLC0415 -- ctranslate2: off CLI start-up
    from integration.tasks import TASKS  # noqa: PLC0415 -- the task registry (~40 ms): off CLI start-up
    from training.build import ADAPTER_CARD, adapter_sha256, read_card, write_card  # noqa: PLC0415 -- ctranslate2 (via training.*): off CLI start-up
    from training.calibrate import MIN_POSITIVES, fit, per_slot_table, slot_probs_on  # noqa: PLC0415 -- ctranslate2 (via training.*): off CLI start-up

    bundle = load_bundle(bundle_dir)
    names = list(tasks) or [t for t in bundle.manifest.tasks if TASKS[t].slots is not None]
    bad = [t for t in names if t not in TASKS or TASKS[t].slots is None or not bundle.supports(t)]
    if bad or not names:
        raise click.BadParameter(f"not slot-scored tasks of this bundle: {bad or 'none found'}", param_hint="--task")
    if adapter_dir is None and bundle.manifest.adapter_sha256 and (DEFAULT_ADAPTER / ADAPTER_CARD).is_file() \
            and adapter_sha256(DEFAULT_ADAPTER) == bundle.manifest.adapter_sha256:
        adapter_dir = str(DEFAULT_ADAPTER)
    if adapter_dir and adapter_sha256(adapter_dir) != bundle.manifest.adapter_sha256:
        raise click.ClickException(f"adapter {adapter_dir} is not the one bundle {bundle_dir} was built from")

    engine = Engine(bundle, threads=threads, max_batch_size=batch_size, max_input_tokens=4096)
    fitted = {}
    for name in names:
        try:
            probs, gold = slot_probs_on(engine, data_dir, name, limit=limit)
        except (FileNotFoundError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        result = fit(TASKS[name], probs, gold, min_positives=min_positives or MIN_POSITIVES)
        fitted[name] = Calibration(bias=result.bias, fitted=result.record("val"))
        click.echo(f"\n{name}: {result.metric} on val (n={result.n}) {result.before:.3f} -> {result.after:.3f} "
                   f"in-sample, {result.cross_after:.3f} cross-fitted (each half of val with biases fitted "
                   "on the other)")
        click.echo(per_slot_table(TASKS[name], probs, gold, result.bias))
    if dry_run:
        click.echo("\ndry run: nothing written")
        return
    manifest = bundle.manifest.model_copy(update={"calibration": {**bundle.manifest.calibration, **fitted}})
    if version:
        manifest.version = version
    write_manifest(bundle.path, manifest)
    load_bundle(bundle.path)  # the manifest it wrote must load
    click.echo(f"\ncalibration written to {bundle.path}/radlite.json")
    if adapter_dir:
        card = read_card(adapter_dir)
        card["calibration"] = {t: c.model_dump() for t, c in manifest.calibration.items()}
        if version:
            card["version"] = version
        click.echo(f"and to the adapter card {write_card(adapter_dir, card)}")


@model.command("thresholds")
@click.option("--bundle", "bundle_dir", default="models/radlite-mini", show_default=True,
              type=click.Path(file_okay=False, exists=True))
@click.option("--data", "data_dir", default="var/data", show_default=True, type=click.Path(file_okay=False))
@click.option("--task", "tasks", multiple=True, help="Task(s) to fit (default: every task the adapter writes).")
@click.option("--limit", type=int, default=200, show_default=True, help="Use at most N val rows per task.")
@click.option("--target", type=click.FloatRange(0, 1), default=0.90, show_default=True,
              help="Precision the written answers must reach.")
@click.option("--adapter", "adapter_dir", type=click.Path(file_okay=False),
              help="Adapter whose card also records the thresholds (default: the committed adapter, if the "
                   "bundle was built from it).")
@click.option("--out", "out_dir", default="var/thresholds", show_default=True, type=click.Path(file_okay=False),
              help="Where the curves (thresholds.json) and their plot (thresholds.png) go.")
@click.option("--dry-run", is_flag=True, help="Fit and print; write no threshold.")
@click.option("--threads", default=0, show_default=True)
@click.option("--batch-size", default=16, show_default=True)
def thresholds_cmd(bundle_dir, data_dir, tasks, limit, target, adapter_dir, out_dir, dry_run, threads,
                   batch_size) -> None:
    """Choose per-task confidence thresholds on the val split (written answers at >= --target
    precision) and record them in the bundle and the adapter card."""
    from integration.inference.engine import Engine  # noqa: PLC0415 -- ctranslate2: off CLI start-up
    from training.build import adapter_sha256, read_card, write_card  # noqa: PLC0415 -- ctranslate2 (via training.*): off CLI start-up
    from training.thresholds import TASKS as FITTED, curves_on, plot, record  # noqa: PLC0415 -- ctranslate2 (via training.*): off CLI start-up

    bundle = load_bundle(bundle_dir)
    names = list(tasks) or [t for t in FITTED if bundle.supports(t)]
    if adapter_dir is None and bundle.manifest.adapter_sha256 and (DEFAULT_ADAPTER / "radlite-adapter.json").is_file() \
            and adapter_sha256(DEFAULT_ADAPTER) == bundle.manifest.adapter_sha256:
        adapter_dir = str(DEFAULT_ADAPTER)
    engine = Engine(bundle, threads=threads, max_batch_size=batch_size, max_input_tokens=4096)
    try:
        curves = curves_on(engine, data_dir, names, limit=limit, batch_size=batch_size)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    rec = record(curves, target)
    click.echo("\n| task | rows | answers | threshold | written | precision | written at 0 | precision at 0 |")
    click.echo("|---|---|---|---|---|---|---|---|")
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731 -- a one-line cell formatter
    for name, res in rec["tasks"].items():
        click.echo(f"| {name} | {res['rows']} | {res['answers']} | {res['threshold']:.3f} | {res['written']} | "
                   f"{fmt(res['precision'])} | {res['written_at_0']} | {fmt(res['precision_at_0'])} |")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "thresholds.json").write_text(json.dumps(rec, indent=2) + "\n", encoding="utf-8")
    plot(rec, out / "thresholds.png")
    click.echo(f"\ncurves: {out / 'thresholds.json'}, plot: {out / 'thresholds.png'}")
    if dry_run:
        click.echo("dry run: no threshold written")
        return
    chosen = {name: res["threshold"] for name, res in rec["tasks"].items()}
    manifest = bundle.manifest.model_copy(update={"thresholds": {**bundle.manifest.thresholds, **chosen}})
    write_manifest(bundle.path, manifest)
    load_bundle(bundle.path)
    click.echo(f"thresholds written to {bundle.path}/radlite.json")
    if adapter_dir:
        card = read_card(adapter_dir)
        card["thresholds"] = manifest.thresholds
        fitted = card.get("thresholds_fitted") or {}
        card["thresholds_fitted"] = {k: v for k, v in rec.items() if k != "tasks"} | {
            "tasks": {**(fitted.get("tasks") or {}),
                      **{n: {k: v for k, v in r.items() if k != "curve"} for n, r in rec["tasks"].items()}}}
        click.echo(f"and to the adapter card {write_card(adapter_dir, card)}")


@model.command("data")
@click.option("--data-dir", type=click.Path(file_okay=False), envvar="RADLITE_SHARED_DATA", default="../shared/data",
              show_default=True, help="The public radiology data folder (also RADLITE_SHARED_DATA).")
@click.option("--out", type=click.Path(file_okay=False), default="var/data", show_default=True,
              help="Output folder for train/val/test.jsonl, counts.json and manifest.json (outside the repo's tracked files).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for every generator, split draw and cap.")
@click.option("--max-per-task", type=click.IntRange(min=0), default=4000, show_default=True,
              help="Cap on each task's train rows (0: no cap).")
@click.option("--max-eval-per-task", type=click.IntRange(min=0), default=0, show_default=True,
              help="Cap on each task's val and test rows (0: keep all).")
@click.option("--transplant-target", type=click.IntRange(min=0), default=150, show_default=True,
              help="Abnormality detection: add train rows (a positive sentence moved into another train "
                   "report) until each finding has this many train positives (0: none; docs/data.md).")
@click.option("--generators", type=click.Choice(["v1", "v2"]), default="v1", show_default=True,
              help="Generators of the rads_assignment, n_staging and m_staging rows: v1 (short templated reports, the "
                   "committed adapter's data) or v2 (full realistic reports, split by template; docs/data-v2-draft.md).")
@click.option("--rads-per-system", type=click.IntRange(min=1), default=600, show_default=True,
              help="Generated rads_assignment reports per RADS system.")
@click.option("--staging-reports", type=click.IntRange(min=1), default=5400, show_default=True,
              help="Generated staging reports (each gives one n_staging and one m_staging row).")
def data(data_dir: str, out: str, seed: int, max_per_task: int, max_eval_per_task: int, transplant_target: int,
         generators: str, rads_per_system: int, staging_reports: int) -> None:
    """Build the nine-task training data from the public reports plus documented generators (docs/data.md)."""
    from training.data import DataDirError, build_dataset, format_counts  # noqa: PLC0415 -- the dataset builders (chexpert labeler): off CLI start-up

    try:
        counts = build_dataset(Path(data_dir), Path(out), seed=seed, max_per_task=max_per_task or None,
                               max_eval_per_task=max_eval_per_task or None, transplant_target=transplant_target,
                               generators=generators, rads_per_system=rads_per_system, staging_reports=staging_reports)
    except DataDirError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(format_counts(counts))
    click.echo(f"written to {out}/ (train.jsonl, val.jsonl, test.jsonl, counts.json, manifest.json); "
               "scores on 'generated:' rows are scores on generated data")


@model.command("install")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--dest", default=str(DEFAULT_ADAPTER), show_default=True, type=click.Path(file_okay=False),
              help="Where `radlite model build` finds the adapter (committed to the repository).")
@click.option("--version", "version", required=True, help="Adapter/bundle version, e.g. 0.1.0.")
@click.option("--base-model", default="HuggingFaceTB/SmolLM2-135M-Instruct", show_default=True)
@click.option("--eval", "eval_json", type=click.Path(dir_okay=False, exists=True),
              help="eval.json from `radlite eval` of the built bundle (first report is this model's).")
@click.option("--data-manifest", type=click.Path(dir_okay=False, exists=True),
              help="manifest.json of the dataset it was trained on (seed, caps, sources).")
def install_cmd(run_dir, dest, version, base_model, eval_json, data_manifest) -> None:
    """Install a trained adapter (RUN_DIR/adapter) with its card: training record and held-out scores."""
    from integration.tasks import TASKS  # noqa: PLC0415 -- the task registry (~40 ms): off CLI start-up
    from training.build import ADAPTER_CARD, LEGACY_PROMPT_FORMAT, adapter_sha256, copy_adapter, eval_summary, read_card  # noqa: PLC0415 -- ctranslate2 (via training.*): off CLI start-up

    run = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
    card = {
        "name": Path(dest).name,
        "version": version,
        "base_model": base_model,
        "prompt_format": run.get("prompt_format", LEGACY_PROMPT_FORMAT),
        "tasks": sorted(set(run.get("examples") or TASKS), key=list(TASKS).index),
        "training": {k: run.get(k) for k in ("config", "examples", "trainable_params", "device",
                                             "train_seconds", "steps_completed", "skipped_too_long", "note")},
    }
    if data_manifest:
        card["training"]["data"] = json.loads(Path(data_manifest).read_text(encoding="utf-8"))
    init = run.get("init_adapter_sha256")
    if init:  # a second stage: keep the record of the stage it started from, when that is what it replaces
        card["training"]["init_adapter_sha256"] = init
        if (Path(dest) / ADAPTER_CARD).is_file() and adapter_sha256(dest) == init:
            earlier = read_card(dest)
            card["training"]["init"] = {"version": earlier.get("version"), **earlier.get("training", {})}
    if eval_json:
        card["eval"] = eval_summary(json.loads(Path(eval_json).read_text(encoding="utf-8"))[0])
    path = copy_adapter(Path(run_dir) / "adapter", dest, card)
    click.echo(f"adapter installed at {path}" + ("" if eval_json else
               "; next: radlite model build, radlite model calibrate, radlite eval, radlite model record-eval"))


@model.command("record-eval")
@click.argument("eval_json", type=click.Path(dir_okay=False, exists=True))
@click.option("--adapter", "adapter_dir", default=str(DEFAULT_ADAPTER), show_default=True,
              type=click.Path(file_okay=False, exists=True))
def record_eval_cmd(eval_json, adapter_dir) -> None:
    """Record held-out scores (eval.json of `radlite eval`, first bundle) in the adapter card.

    Refused unless the evaluated bundle was built from this adapter and decided with the
    calibration the card holds: the card must describe the model it ships."""
    from training.build import adapter_sha256, eval_summary, read_card, write_card  # noqa: PLC0415 -- ctranslate2 (via training.*): off CLI start-up

    report = json.loads(Path(eval_json).read_text(encoding="utf-8"))[0]
    card = read_card(adapter_dir)
    evaluated = report["bundle"]
    if evaluated.get("adapter_sha256") != adapter_sha256(adapter_dir):
        raise click.ClickException(f"{eval_json} evaluated another adapter than {adapter_dir}")
    expected = calibration_sha256({t: Calibration.model_validate(c) for t, c in card.get("calibration", {}).items()})
    if evaluated.get("calibration_sha256") != expected:
        raise click.ClickException(f"{eval_json} was decided with another calibration than the card's "
                                   "(run radlite model build, then evaluate again)")
    card["eval"] = eval_summary(report)
    click.echo(f"held-out scores of {evaluated['name']} {evaluated['version']} recorded in "
               f"{write_card(adapter_dir, card)}")
