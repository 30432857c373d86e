"""The ``radlite`` command. Each verb is a thin layer over a module that does the work."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from integration.inference.model_bundle import BundleError
from integration.ops.audit_cli import audit as audit_group
from integration.ops.db_cli import db_group
from integration.ops.doctor import doctor_cmd
from integration.ops.mappings_cli import register as register_mappings
from integration.settings import SettingsError, load_settings


@click.group()
@click.option("--config", "config_file", type=click.Path(dir_okay=False), envvar="RADLITE_CONFIG",
              help="Site config file (YAML) layered over config/default.yaml.")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None) -> None:
    """RadLite: radiology small language models behind an HL7 FHIR adapter."""
    ctx.ensure_object(dict)
    ctx.obj["config_file"] = config_file


def _settings(ctx: click.Context):
    try:
        return load_settings(ctx.obj.get("config_file"))
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _service_settings(ctx: click.Context):
    """Settings for a long-running process, set up as every service process is
    (integration/compose.py); a bad setting or an unfit audit secret stops it with one line."""
    from integration import compose  # noqa: PLC0415 -- ctranslate2, flask, sqlalchemy: off CLI start-up
    from integration.audit import AuditKeyError  # noqa: PLC0415 -- structlog: off CLI start-up

    try:
        return compose.service_settings(ctx.obj.get("config_file"))
    except (SettingsError, AuditKeyError) as exc:
        raise click.ClickException(str(exc)) from None


def _router(ctx: click.Context, bundle: str | None):
    from integration import compose  # noqa: PLC0415 -- ctranslate2, flask, sqlalchemy: off CLI start-up

    return compose.router(_settings(ctx), bundle)


def _read_text(value: str | None, file: str | None, what: str) -> str | None:
    if value is not None and file is not None:
        raise click.UsageError(f"give --{what} or --{what}-file, not both")
    if file is not None:
        return sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    return value


@cli.command("run-task")
@click.option("--task", "task_name", required=True, help="One of the nine task names.")
@click.option("--text", help="Report text.")
@click.option("--text-file", type=click.Path(dir_okay=False, allow_dash=True), help="Report text file (- for stdin).")
@click.option("--prior", help="Prior report text (temporal_comparison).")
@click.option("--prior-file", type=click.Path(dir_okay=False, exists=True))
@click.option("--hypothesis", help="Hypothesis (radiology_nli).")
@click.option("--question", help="Question (radiology_qa).")
@click.option("--bundle", type=click.Path(file_okay=False), help="Model bundle directory (default: from config).")
@click.option("--mode", type=click.Choice(["score", "generate"]), help="Override the task's decoding mode.")
@click.pass_context
def run_task(ctx, task_name, text, text_file, prior, prior_file, hypothesis, question, bundle, mode) -> None:
    """Run one task on one report and print the typed result as JSON."""
    from integration.audit import configure_logging  # noqa: PLC0415 -- structlog: off CLI start-up
    from integration.inference.engine import (  # noqa: PLC0415 -- ctranslate2: off CLI start-up
        Output,
        PromptTooLong,  # noqa: PLC0415 -- ctranslate2: off CLI start-up
        Request,
    )
    from integration.inference.report_plan import decided_record  # noqa: PLC0415 -- ctranslate2/sqlalchemy: off CLI start-up
    from integration.tasks import TaskInput, TaskResult, get_task  # noqa: PLC0415 -- the task registry (~40 ms): off CLI start-up

    configure_logging("WARNING")  # stdout carries the JSON result only; logs go to stderr

    try:
        get_task(task_name)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--task") from None
    report = _read_text(text, text_file, "text")
    if not report:
        raise click.UsageError("report text is required (--text or --text-file)")
    x = TaskInput(report=report, prior_report=_read_text(prior, prior_file, "prior"),
                  hypothesis=hypothesis, question=question)
    request = Request(task_name, x, mode)
    try:
        router = _router(ctx, bundle)
        out = router.run([request])[0]
    except PromptTooLong as exc:
        # The model cannot read a report this long; what the report states is still read.
        out = Output(TaskResult(task=task_name, parsed=False, error=str(exc)), "none", 0, 0, 0.0)
    except (BundleError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    record = decided_record(out, request, router, _settings(ctx).decisions.min_confidence)
    # What the adapter would write: ``value`` is None when it abstains (``abstention`` says why);
    # the model's own answer is ``model_value``.
    payload = {
        "task": task_name,
        "value": record["value"],
        "source": record["source"],
        "confidence": record["confidence"],
        "threshold": record["threshold"],
        "abstained": record["abstained"],
        "abstention": record["abstention"],
        "evidence": record["evidence"],
        "model_value": record["model_value"],
        "parsed": out.result.parsed,
        "error": out.result.error,
        "raw": out.result.raw,
        "mode": out.mode,
        "prompt_tokens": out.prompt_tokens,
        "output_tokens": out.output_tokens,
        "seconds": round(out.seconds, 3),
    }
    for key in ("disagreement", "abstained_items"):
        if record.get(key):
            payload[key] = record[key]
    if out.label_probs:
        payload["label_probs"] = {k: round(v, 4) for k, v in out.label_probs.items()}
    if out.slot_probs:
        payload["slot_probs"] = {k: {o: round(v, 4) for o, v in p.items()} for k, p in out.slot_probs.items()}
    click.echo(json.dumps(payload, indent=2, ensure_ascii=False))


_METRICS_OPTION = click.option(
    "--metrics-port", "metrics_listen", envvar="RADLITE_METRICS_PORT", default=None, metavar="[ADDR:]PORT",
    help="Serve this process's Prometheus metrics there (env RADLITE_METRICS_PORT; off by default).")


def _serve_metrics(listen: str | None) -> None:
    from integration import monitoring  # noqa: PLC0415 -- prometheus_client: off CLI start-up

    try:
        where = monitoring.serve(listen)
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"--metrics-port: {exc}") from None
    if where:
        click.echo(f"metrics on http://{where[0]}:{where[1]}/metrics", err=True)


@cli.command("worker")
@click.option("--once", is_flag=True, help="Process one batch and exit (for scripts and tests).")
@click.option("--previews-only", is_flag=True,
              help="Answer $preview requests only, never jobs: a preview then never waits for a batch.")
@_METRICS_OPTION
@click.pass_context
def worker(ctx, once: bool, previews_only: bool, metrics_listen: str | None) -> None:
    """Run the inference worker: answer $preview requests first, then claim received jobs, run
    their tasks, store the results."""
    from integration import compose  # noqa: PLC0415 -- ctranslate2, flask, sqlalchemy: off CLI start-up

    settings = _service_settings(ctx)
    try:
        w = compose.worker(settings, compose.open_store(settings), previews_only=previews_only)
    except compose.StartupError as exc:
        raise click.ClickException(str(exc)) from None
    if once:
        click.echo(f"processed {w.run_once()} job(s)")
    else:
        _serve_metrics(metrics_listen)
        w.run_forever()


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to bind.")
@click.option("--inline-previews", is_flag=True,
              help="Development only: run $preview in this process (loads the model here) instead of "
                   "queueing it for `radlite worker`.")
@click.pass_context
def serve(ctx, host: str, port: int, inline_previews: bool) -> None:
    """Run the FHIR intake API (development server; use gunicorn in production)."""
    from werkzeug.serving import run_simple  # noqa: PLC0415 -- werkzeug's server: off CLI start-up

    from integration import compose  # noqa: PLC0415 -- ctranslate2, flask, sqlalchemy: off CLI start-up

    settings = _service_settings(ctx)
    try:
        app = compose.web_app(settings, inline_previews=inline_previews)
    except compose.StartupError as exc:
        raise click.ClickException(str(exc)) from None
    if inline_previews:
        click.echo("$preview runs in this process (--inline-previews: development only)", err=True)
    else:
        click.echo("$preview is answered by `radlite worker` (start one, or use --inline-previews)", err=True)
    click.echo(f"radlite intake on http://{host}:{port}/fhir (jobs at /jobs/<id>, health at /healthz)", err=True)
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


# -- write-back (integration/writeback) ---------------------------------------------------------


@cli.command("scheduler")
@click.option("--once", is_flag=True, help="Run one write-back tick and exit (for scripts and tests).")
@_METRICS_OPTION
@click.pass_context
def scheduler(ctx, once: bool, metrics_listen: str | None) -> None:
    """Run the write-back scheduler (exactly one writes: guarded by the store lock "scheduler")."""
    from integration import compose  # noqa: PLC0415 -- ctranslate2, flask, sqlalchemy: off CLI start-up

    settings = _service_settings(ctx)
    try:
        sched = compose.scheduler(settings)
    except compose.StartupError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        if once:
            if sched.pull_settings is not None:
                polled = sched.poll()
                click.echo("pull: " + (json.dumps(polled.__dict__) if polled else "skipped"))
            counts = sched.tick()
            sched.release()
            click.echo("another scheduler holds the lock" if counts is None else json.dumps(counts.as_dict()))
        else:
            click.echo(f"radlite scheduler writing to {settings.ehr.base_url} every "
                       f"{settings.writeback.interval_seconds:g}s", err=True)
            _serve_metrics(metrics_listen)
            sched.run()
    finally:
        sched.client.close()
        sched.store.close()


@cli.group("jobs")
def jobs_group() -> None:
    """Inspect and manage jobs in the store."""


@jobs_group.command("retry")
@click.argument("job_ids", nargs=-1)
@click.pass_context
def jobs_retry(ctx, job_ids: tuple[str, ...]) -> None:
    """Requeue dead-lettered jobs (all of them when no JOB_ID is given)."""
    from integration import compose  # noqa: PLC0415 -- ctranslate2, flask, sqlalchemy: off CLI start-up

    try:
        store = compose.open_store(_settings(ctx.find_root()))
    except compose.StartupError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        n = store.requeue(list(job_ids) if job_ids else None)
    finally:
        store.close()
    click.echo(f"requeued {n} job(s)")


@cli.command("demo")
@click.option("--workdir", default="var/demo", show_default=True, type=click.Path(file_okay=False),
              help="Where the demo's FHIR server and job store live (wiped at start).")
@click.option("--keep-server", is_flag=True, help="Leave the FHIR server running to browse the results.")
@click.pass_context
def demo(ctx, workdir: str, keep_server: bool) -> None:
    """The main job end to end: FHIR server, intake, worker, write-back on the sample reports."""
    from integration.audit import configure_logging  # noqa: PLC0415 -- structlog: off CLI start-up
    from integration.ops.demo import DemoError, describe, run_demo  # noqa: PLC0415 -- requests + the whole stack: off CLI start-up

    settings = _settings(ctx)
    configure_logging("WARNING")
    try:
        result = run_demo(settings, Path(workdir), echo=click.echo, keep_server=keep_server)
    except (DemoError, BundleError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(describe(result))


def _register_training() -> None:
    # The training verbs need the `train` extra (torch, peft); serving installs can lack it.
    try:
        from training.cli import eval_cases_cmd, eval_cmd, model  # noqa: PLC0415 -- optional: guarded for installs without the train extra
    except ImportError:
        return
    cli.add_command(model)
    cli.add_command(eval_cmd)
    cli.add_command(eval_cases_cmd)


_register_training()

# `radlite mappings validate` and `radlite preview` (integration/ops/mappings_cli.py).
register_mappings(cli)
cli.add_command(audit_group)
# `radlite db upgrade|current|check|backup` (integration/ops/db_cli.py) and `radlite doctor` (integration/ops/doctor.py).
cli.add_command(db_group)
cli.add_command(doctor_cmd)


def main() -> None:
    cli(obj={})


if __name__ == "__main__":
    main()
