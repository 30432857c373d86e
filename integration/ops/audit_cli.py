"""``radlite audit``: verify the hash-chained audit file, query it, match ids with the secret.

See docs/audit.md. The commands only read; none needs the job store or the model."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import click

from integration.settings import SettingsError, load_settings


def _settings(ctx: click.Context):
    root = ctx.find_root()
    try:
        return load_settings((root.obj or {}).get("config_file"))
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _default_files(ctx: click.Context) -> list[Path]:
    from integration.audit.chain import rotated  # noqa: PLC0415 -- structlog: off CLI start-up

    file = _settings(ctx).audit.file
    if file is None:
        raise click.UsageError("no FILE given and audit.file is not set in the config")
    files = rotated(Path(file))
    if not files:
        raise click.ClickException(f"{file}: no audit file there (audit.file in the config)")
    return files


def _use_secret(ctx: click.Context, secret_file: str | None) -> None:
    from integration.audit import load_secret, set_secret  # noqa: PLC0415 -- structlog: off CLI start-up

    if secret_file:
        set_secret(load_secret(file=Path(secret_file)))
        return
    try:
        s = load_settings((ctx.find_root().obj or {}).get("config_file")).audit
        secret = load_secret(s.secret_env, s.secret_file)
    except (SettingsError, OSError):
        secret = load_secret()
    if secret is None:
        click.echo("warning: no audit secret (RADLITE_AUDIT_SECRET or audit.secret_file): hashing with the "
                   "development secret", err=True)
    set_secret(secret)


def _chains(files: list[Path]) -> "OrderedDict[tuple[str, str], list[Path]]":
    """Group files into chains by directory and base name (``audit.jsonl``, ``audit.jsonl.3`` ...)."""
    from integration.audit.chain import _ROTATED, expand  # noqa: PLC0415 -- structlog: off CLI start-up

    groups: OrderedDict[tuple[str, str], list[Path]] = OrderedDict()
    for p in expand(files):
        m = _ROTATED.match(p.name)
        base = m["base"] if m and m["base"].endswith(".jsonl") else p.name
        groups.setdefault((str(p.parent), base), []).append(p)
    return groups


@click.group("audit")
def audit() -> None:
    """The compliance audit trail: verify the chained audit file, query it, match ids."""


@audit.command("verify")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--anchor", "anchors", multiple=True, metavar="SEQ:HASH",
              help="A record known from elsewhere (an export, a ticket): it must be in the chain unchanged.")
@click.option("--anchor-log", "anchor_logs", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A JSON log stream: every audit line's audit_seq/audit_hash must be in the chain.")
@click.option("--expect-last", metavar="HASH", help="The hash (or its first 8+ hex) the chain must end with.")
@click.option("--expect-count", type=int, help="How many records the chain must hold.")
@click.option("--partial", is_flag=True, help="Accept a chain that starts after seq 1 (older files archived).")
@click.option("--no-sidecar", is_flag=True, help="Ignore the .anchor file beside the newest file.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def verify_cmd(ctx, paths, anchors, anchor_logs, expect_last, expect_count, partial, no_sidecar, as_json) -> None:
    """Verify the hash chain of audit FILEs (files, directories or globs; rotated files are put in
    chain order). Exit status 1 when anything was edited, deleted, inserted, reordered or cut off."""
    from integration.audit.chain import Anchor, anchors_from_log, verify  # noqa: PLC0415 -- structlog: off CLI start-up

    try:
        given = [Anchor.parse(a) for a in anchors]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--anchor") from None
    for log in anchor_logs:
        given += anchors_from_log(log)
    files = [Path(p) for p in paths] if paths else _default_files(ctx)
    chains = _chains(files)
    if not chains:
        chains = OrderedDict({("", "-"): files})
    results = []
    for _, chain_files in chains.items():
        results.append(verify(chain_files, anchors=given, expect_last=expect_last, expect_count=expect_count,
                              partial=partial, sidecar=not no_sidecar))
    ok = all(r.ok for r in results)
    if as_json:
        click.echo(json.dumps({"ok": ok, "chains": [r.as_dict() for r in results]}, indent=2))
    else:
        for r in results:
            name = ", ".join(r.files)
            if r.ok:
                click.echo(f"OK {name}: {r.records} records, seq {r.first_seq}..{r.last_seq}, "
                           f"last {r.last_seq}:{r.last_hash}")
            else:
                click.echo(f"FAILED {name}: {len(r.problems)} problem(s) in {r.records} records")
                for p in r.problems:
                    click.echo(f"  {p}")
            for note in r.notes:
                click.echo(f"  note: {note}")
    if not ok:
        ctx.exit(1)


@audit.command("anchor")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.pass_context
def anchor_cmd(ctx, paths) -> None:
    """Print SEQ:HASH of the last record, to keep outside this machine (verify --anchor)."""
    from integration.audit.chain import records  # noqa: PLC0415 -- structlog: off CLI start-up

    last = None
    for _, _, rec in records([Path(p) for p in paths] if paths else _default_files(ctx)):
        last = rec
    if last is None:
        raise click.ClickException("no records")
    click.echo(f"{last.get('seq')}:{last.get('hash')}")


@audit.command("query")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--report", "reports", multiple=True,
              help="Report: its hash (h:...), or the raw FHIR id / DiagnosticReport/<id> / system|value, "
                   "hashed here with the site secret. Also shows the events of that report's jobs.")
@click.option("--job", "jobs", multiple=True, help="Job id (raw or hashed).")
@click.option("--correlation-id", "--cid", "cids", multiple=True, help="Correlation id (X-Request-ID).")
@click.option("--event", "events", multiple=True, help="Event name or pattern (writeback.*); repeatable.")
@click.option("--since", help="From this time (ISO 8601, UTC when no offset).")
@click.option("--until", help="Up to this time (a bare date means the whole day).")
@click.option("--json", "as_json", is_flag=True, help="One JSON record per line instead of a table.")
@click.option("--limit", type=int, help="At most this many records (the first ones).")
@click.option("--secret-file", type=click.Path(exists=True, dir_okay=False),
              help="The site secret, to hash raw ids (default: as the config says).")
@click.pass_context
def query_cmd(ctx, paths, reports, jobs, cids, events, since, until, as_json, limit, secret_file) -> None:
    """Show audit records matching every given filter, oldest first."""
    from integration.audit import hash_id  # noqa: PLC0415 -- structlog: off CLI start-up
    from integration.audit.query import Filter, parse_time, query, report_hash, table  # noqa: PLC0415 -- structlog: off CLI start-up

    needs_secret = any(not r.startswith("h:") for r in reports) or bool(jobs) or bool(reports)
    if needs_secret:
        _use_secret(ctx, secret_file)
    try:
        flt = Filter(
            reports={report_hash(r, hash_id) for r in reports}, jobs=set(jobs), correlation_ids=set(cids),
            events=list(events), since=parse_time(since) if since else None,
            until=parse_time(until, end=True) if until else None,
        )
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 time: {exc}") from None
    files = [Path(p) for p in paths] if paths else _default_files(ctx)
    rows = []
    for _, _, rec in query(files, flt, hasher=hash_id if needs_secret else None):
        rows.append(rec)
        if limit is not None and len(rows) >= limit:
            break
    if as_json:
        for rec in rows:
            click.echo(json.dumps(rec, ensure_ascii=False))
    else:
        click.echo(table(rows))
        click.echo(f"({len(rows)} record(s))", err=True)


@audit.command("hash-id")
@click.argument("value")
@click.option("--report", "as_report", is_flag=True,
              help="VALUE is a report (bare id or system|value): hash its report key as the logs do.")
@click.option("--secret-file", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def hash_id_cmd(ctx, value, as_report, secret_file) -> None:
    """Print the keyed hash of an identifier, to find it in the logs (needs the site secret)."""
    from integration.audit import hash_id  # noqa: PLC0415 -- structlog: off CLI start-up
    from integration.audit.query import report_hash  # noqa: PLC0415 -- structlog: off CLI start-up

    _use_secret(ctx, secret_file)
    click.echo(report_hash(value, hash_id) if as_report else hash_id(value))
