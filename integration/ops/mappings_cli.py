"""``radlite mappings validate`` and ``radlite preview``: the integration engineer's tools.

* ``radlite mappings validate [FILES...]`` checks mapping files (or directories; default: the
  configured ``writeback.mappings_dir``): schema, duplicate keys, code-system URIs, SNOMED CT /
  LOINC check digits, RadLex id form, one file per task, every task mapped (for a directory),
  every label of every task covered, and every display the one the code system gives its code
  (integration/mappings/terminology.py: a valid but wrong code fails here). Problems are printed
  as ``file:line: key: message``; the exit status is 1 when there is any, 0 otherwise. Codes the
  pinned table does not list are printed as ``file:line: key: warning: ...`` and do not fail.
* ``radlite preview FILE`` runs the whole pipeline on a DiagnosticReport JSON file and prints the
  transaction Bundle the write-back would write (stdout), with a summary on stderr. Nothing is
  stored, nothing is sent.

See docs/mapping-guide.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from integration.inference.model_bundle import BundleError
from integration.settings import SettingsError, startup_settings


def _settings(ctx: click.Context):
    root = ctx.find_root()
    try:
        return startup_settings((root.obj or {}).get("config_file"))
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("mappings")
def mappings_group() -> None:
    """Check the mappings from task results to FHIR (mappings/*.yaml)."""


@mappings_group.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="Print problems only, no summary line.")
@click.pass_context
def validate(ctx: click.Context, paths: tuple[Path, ...], quiet: bool) -> None:
    """Validate mapping FILES or directories (default: writeback.mappings_dir of the config)."""
    from integration.mappings import validate_paths  # noqa: PLC0415 -- the task registry and mapping schemas (~30 ms): off CLI start-up

    if not paths:
        paths = (_settings(ctx).writeback.mappings_dir,)
    result = validate_paths(paths)
    for line in result.problems + result.warnings:
        click.echo(line)
    if not quiet:
        tasks = ", ".join(sorted(result.mappings.by_task)) or "none"
        verdict = "ok" if result.ok else f"{len(result.problems)} problem(s)"
        warned = f", {len(result.warnings)} warning(s)" if result.warnings else ""
        click.echo(f"{verdict}{warned}: {len(result.files)} file(s), tasks: {tasks}; {result.codings()} coding(s)",
                   err=True)
    ctx.exit(0 if result.ok else 1)


@click.command("preview")
@click.argument("report_file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--prior", "prior_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The patient's earlier DiagnosticReport (JSON), for temporal_comparison.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              help="Where to write the Bundle (default: stdout).")
@click.pass_context
def preview(ctx: click.Context, report_file: Path, prior_file: Path | None, output: str) -> None:
    """Print the transaction Bundle the write-back would write for the DiagnosticReport in
    REPORT_FILE (JSON; - for stdin): routing rules, inference with the configured bundles and the
    write-back's bundle assembly, with nothing stored and nothing sent."""
    from integration import compose  # noqa: PLC0415 -- ctranslate2, flask, sqlalchemy: off CLI start-up
    from integration.audit import configure_logging  # noqa: PLC0415 -- structlog: off CLI start-up
    from integration.fhir.transaction import BuildError  # noqa: PLC0415 -- the task registry and mapping schemas (~30 ms): off CLI start-up
    from integration.store import StoreError  # noqa: PLC0415 -- sqlalchemy: off CLI start-up

    configure_logging("WARNING")  # stdout carries the Bundle only; logs go to stderr
    settings = _settings(ctx)
    resource = _read_report(report_file, settings.ehr.base_url)
    prior = _read_report(prior_file, settings.ehr.base_url) if prior_file is not None else None
    try:
        previewer = compose.previewer(settings)
        result = previewer.preview(resource, prior_resource=lambda: prior)
    except compose.StartupError as exc:
        raise click.ClickException(str(exc)) from None
    except StoreError:
        raise click.ClickException(f"{report_file}: the report needs an id or an identifier with a value") from None
    except (BundleError, BuildError) as exc:
        raise click.ClickException(str(exc)) from None
    text = json.dumps(result.bundle, indent=2, ensure_ascii=False)
    if output == "-":
        click.echo(text)
    else:
        Path(output).write_text(text + "\n", encoding="utf-8")
    click.echo("preview: " + json.dumps(result.summary(), ensure_ascii=False), err=True)


def _read_report(path: Path, ehr_base_url: str | None) -> dict:
    """A DiagnosticReport from a JSON file, with the intake's JSON rules and FHIR checks
    (``ehr_base_url``: the configured EHR base, on which absolute subject references are allowed)."""
    from integration.fhir.issues import has_errors  # noqa: PLC0415 -- integration.fhir (~15 ms): off CLI start-up
    from integration.fhir.report import check_report  # noqa: PLC0415 -- integration.fhir (~15 ms): off CLI start-up
    from integration.fhir.strict_json import JsonError, parse_strict_json  # noqa: PLC0415 -- integration.fhir (~15 ms): off CLI start-up

    data = sys.stdin.buffer.read() if str(path) == "-" else _read_bytes(path)
    try:
        resource = parse_strict_json(data)
    except JsonError as exc:
        raise click.ClickException(f"{path}: {exc.message}" + (f" ({exc.path})" if exc.path else "")) from None
    if not isinstance(resource, dict) or resource.get("resourceType") != "DiagnosticReport":
        raise click.ClickException(f"{path}: expected a DiagnosticReport (a JSON object with resourceType "
                                   f"DiagnosticReport)")
    issues = check_report(resource, ehr_base_url=ehr_base_url)
    for issue in issues:
        where = f" ({', '.join(issue.expression)})" if issue.expression else ""
        click.echo(f"{path}: {issue.severity}: {issue.diagnostics}{where}", err=True)
    if has_errors(issues):
        raise click.ClickException(f"{path}: the report is not valid; the intake would answer 422")
    return resource


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read: {exc.strerror}") from None


def register(cli: click.Group) -> None:
    cli.add_command(mappings_group)
    cli.add_command(preview)
