"""``radlite doctor``: check an installation and say how to fix what is wrong.

Checks, in order (a check that needs an earlier one to pass is skipped when it did not):

config     the settings load (files + environment) and pass the startup checks (check_settings)
mappings   the mapping files load (the startup check of serve, worker and scheduler)
bundles    every configured model bundle loads (manifest, files, model hash when
           inference.verify_hash), and every task the routing can ask for is served by a bundle
           trained for it
database   the job store answers, a SQLite file passes PRAGMA quick_check and only its owner may read
           it, its schema is at the migrations' head and equals the models
audit      the audit HMAC secret is one the services accept (set, not the public development key or
           a placeholder, 32 bytes or more) and the audit file's folder is writable
fhir       GET [ehr.base_url]/metadata answers with an R4 CapabilityStatement
auth       the EHR credentials work: bearer token present, or a SMART token fetched; then an
           authenticated search is accepted

The report names each finding with a fix; the exit status is 1 when any check failed (warnings
do not fail). ``--json`` prints the same findings as JSON. Nothing is written anywhere.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import click

from integration.inference.model_bundle import BundleError, load_bundle
from integration.settings import SettingsError, check_settings, load_settings, masked_url

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
_MARK = {OK: "[ ok ]", WARN: "[warn]", FAIL: "[FAIL]", SKIP: "[skip]"}


@dataclass
class Finding:
    check: str
    status: str
    detail: str
    fix: str | None = None


def _first_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    return (f"{type(exc).__name__}: {line}" if line else type(exc).__name__)[:limit]


# -- the checks --------------------------------------------------------------------------------


def check_config(config_file: str | None, environ: Mapping[str, str]) -> tuple[list[Finding], Any]:
    try:
        settings = load_settings(config_file, environ)
    except SettingsError as exc:
        return [Finding("config", FAIL, str(exc),
                        "correct each key named above in the file or environment variable it names; every "
                        "setting is documented in config/default.yaml and docs/configuration.md")], None
    sources = ", ".join(settings.sources)
    problems = check_settings(settings)
    if problems:
        return [Finding("config", FAIL, "settings load but do not fit together:\n" + "\n".join(problems),
                        "correct each key named above (file or variable first, then key); see "
                        "docs/configuration.md")], settings
    return [Finding("config", OK, f"settings from {sources}")], settings


def check_mappings(settings) -> list[Finding]:
    from integration.mappings import MappingError, load_mappings  # noqa: PLC0415 -- the task registry and mapping schemas (~30 ms): off CLI start-up

    directory = settings.writeback.mappings_dir
    try:
        mappings = load_mappings(directory)
    except MappingError as exc:
        shown = exc.problems[:10] + ([f"... and {len(exc.problems) - 10} more"] if len(exc.problems) > 10 else [])
        return [Finding("mappings", FAIL, f"{directory}:\n" + "\n".join(shown),
                        f"run `radlite mappings validate {directory}` and fix each file:line it names "
                        "(docs/mapping-guide.md)")]
    return [Finding("mappings", OK, f"{len(mappings.by_task)} task mappings from {directory}")]


def _routed_tasks(settings) -> set[str]:
    tasks = set(settings.routing.default_tasks)
    for rule in settings.routing.rules:
        tasks.update(rule.tasks)
    return tasks


def check_bundles(settings) -> list[Finding]:
    inf = settings.inference
    out, loaded = [], {}
    used = inf.used_bundles()
    for name, path in inf.bundles.items():
        if name not in used:
            out.append(Finding("bundles", SKIP, f"{name} ({path}): configured, but neither the default bundle nor "
                                                "a route's target: not loaded"))
            continue
        try:
            bundle = load_bundle(path, verify_hash=inf.verify_hash)
        except BundleError as exc:
            lines = str(exc).splitlines()
            fix = (f"build it: `radlite model build --out {path}` (the embedded radlite-mini: `make model`)"
                   if name == "radlite-mini" else
                   f"point inference.bundles.{name} at a directory made by `radlite model build`, or build "
                   f"one there (`radlite model build --base ... --out {path}`)")
            if any("sha256" in line for line in lines):
                fix = f"the model file changed since the bundle was built: rebuild it (`radlite model build --out {path}`)"
            where = "" if Path(path).is_absolute() else f" (relative to the working directory {os.getcwd()})"
            out.append(Finding("bundles", FAIL, f"{name} ({path}){where}: " + " ".join(x.strip() for x in lines), fix))
            continue
        loaded[name] = bundle
        hashed = "hash verified" if inf.verify_hash else "hash not verified (inference.verify_hash false)"
        calibrated = ", ".join(bundle.manifest.calibration)
        calibrated = f", decision calibration for {calibrated} (fitted on val)" if calibrated else ""
        out.append(Finding("bundles", OK, f"{name} {bundle.manifest.version} at {path}: {len(bundle.manifest.tasks)} "
                                          f"tasks, model {bundle.short_hash}, {hashed}{calibrated}"))
    default = inf.default_bundle or next(iter(inf.bundles))
    for task in sorted(_routed_tasks(settings)):
        name = inf.routes.get(task, default)
        bundle = loaded.get(name)
        if bundle is not None and not bundle.supports(task):
            out.append(Finding("bundles", FAIL,
                               f"routing can ask for {task}, which goes to bundle {name!r}, not trained for it "
                               f"(its tasks: {', '.join(bundle.manifest.tasks)})",
                               f"route {task} to a bundle trained for it (inference.routes.{task}) or take it out "
                               "of routing.rules / routing.default_tasks"))
    return out


def check_database(settings, timeout: float = 5.0) -> list[Finding]:
    from integration.store.database import make_engine  # noqa: PLC0415 -- sqlalchemy: off CLI start-up
    from integration.store.migrations import check_current, schema_diff  # noqa: PLC0415 -- sqlalchemy: off CLI start-up

    url = settings.store.url
    shown = masked_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not Path(path).exists():
            parent = Path(path).parent
            probe = parent
            while not probe.exists() and probe != probe.parent:
                probe = probe.parent
            if not os.access(probe, os.W_OK):
                return [Finding("database", FAIL, f"{shown}: the file does not exist and {probe} is not writable",
                                f"make {parent} writable by the service user, or set store.url elsewhere")]
            return [Finding("database", OK, f"{shown}: not created yet; the first `radlite serve`/`worker` "
                                            "(or `radlite db upgrade`) creates it")]
    damaged = _sqlite_findings(url, shown)
    if damaged:
        return damaged
    try:
        if url.startswith("postgresql"):
            from sqlalchemy import create_engine  # noqa: PLC0415 -- sqlalchemy: off CLI start-up

            # A host that drops packets must not hang the doctor for the TCP timeout.
            engine = create_engine(url, connect_args={"connect_timeout": max(1, int(timeout))})
        else:
            engine = make_engine(url)
    except Exception as exc:  # noqa: BLE001 -- e.g. the driver is not installed
        return [Finding("database", FAIL, f"{shown}: {_first_line(exc)}",
                        "check store.url; PostgreSQL needs postgresql+psycopg://USER@HOST:PORT/DB "
                        "(psycopg is installed with the adapter)")]
    try:
        with engine.connect() as conn:
            problem = check_current(conn)
            diff = schema_diff(conn) if problem is None else []
    except Exception as exc:  # noqa: BLE001 -- any failure to connect is the finding
        return [Finding("database", FAIL, f"{shown}: cannot connect: {_first_line(exc)}",
                        "check that the database server is running and reachable from here, the host, port and "
                        "database name in store.url, and the password (PGPASSWORD or ~/.pgpass, never in a "
                        "config file)")]
    finally:
        engine.dispose()
    if problem is not None:
        return [Finding("database", FAIL, f"{shown}: {problem}",
                        "run `radlite db upgrade` (safe to run from several hosts at once)")]
    if diff:
        from integration.store.migrations import _describe  # noqa: PLC0415 -- sqlalchemy: off CLI start-up

        return [Finding("database", FAIL, f"{shown}: schema differs from this version's models: {_describe(diff)}",
                        "the database was changed outside the migrations: restore it or migrate it by hand, "
                        "then `radlite db check`")]
    return [Finding("database", OK, f"{shown}: reachable, schema at head and matching the models"),
            *_mode_findings(url)]


def _sqlite_findings(url: str, shown: str) -> list[Finding]:
    """FAIL when ``PRAGMA quick_check`` finds the SQLite file damaged (what the services refuse)."""
    from integration.store.integrity import integrity_problems, sqlite_path  # noqa: PLC0415 -- sqlalchemy: off CLI start-up

    path = sqlite_path(url)
    if path is None:
        return []
    try:
        problems = integrity_problems(path, quick=True, limit=3)
    except sqlite3.Error:
        return []  # not damage (e.g. no permission): the connection below reports it
    if not problems:
        return []
    return [Finding("database", FAIL, f"{shown}: the file is damaged (PRAGMA quick_check): " + "; ".join(problems),
                    "stop the services; `radlite db check` lists the damage; restore the newest good backup "
                    "(`radlite db backup` makes them; docs/deploy.md, 'Backups and integrity')")]


def _mode_findings(url: str) -> list[Finding]:
    """WARN when group or others may read the SQLite file or its -wal/-shm (they hold report texts)."""
    from integration.store.integrity import open_modes, sqlite_path  # noqa: PLC0415 -- sqlalchemy: off CLI start-up

    path = sqlite_path(url)
    opened = open_modes(path) if path is not None else {}
    if not opened:
        return []
    listed = ", ".join(f"{p} ({mode:04o})" for p, mode in opened.items())
    return [Finding("database", WARN, f"readable beyond its owner: {listed}; the files hold full report texts",
                    f"`chmod 600 {' '.join(str(p) for p in opened)}` (the services narrow files they own at start)")]


def _secret_findings(a, environ: Mapping[str, str]) -> list[Finding]:
    """The audit secret judged by the rules the services start with (integration/audit/secret.py):
    FAIL where they would refuse to start, WARN where audit.allow_development_key lets them."""
    from integration.audit.secret import fix_hint, key_problem, load_secret, secret_source  # noqa: PLC0415 -- structlog: off CLI start-up

    if a.secret_file is not None:
        p = Path(a.secret_file)
        if not p.is_file() or not os.access(p, os.R_OK):
            return [Finding("audit", FAIL, f"audit.secret_file {p} is missing or unreadable",
                            f"create it (e.g. `openssl rand -hex 32 > {p}; chmod 600 {p}`) readable by the "
                            "service user only")]
    problem = key_problem(load_secret(a.secret_env, a.secret_file, environ))
    if problem is None:
        return []
    detail = (f"the audit HMAC secret ({secret_source(a)}) {problem}: anyone can reverse the hashed identifiers "
              "in the logs")
    if a.allow_development_key:
        return [Finding("audit", WARN, detail + "; the services start anyway (audit.allow_development_key: true)",
                        f"development only; in production remove audit.allow_development_key and put {fix_hint(a)}")]
    return [Finding("audit", FAIL, detail + "; the web app, worker and scheduler refuse to start", fix_hint(a))]


def check_audit(settings, environ: Mapping[str, str]) -> list[Finding]:
    a = settings.audit
    out = _secret_findings(a, environ)
    if a.file is not None:
        folder = Path(a.file).parent
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not os.access(probe, os.W_OK):
            out.append(Finding("audit", FAIL, f"audit file {a.file}: {probe} is not writable",
                               f"make {folder} writable by the service user, or set audit.file elsewhere"))
    if not out:
        out.append(Finding("audit", OK, f"secret set; audit file {a.file or '(disabled)'}"))
    return out


def check_fhir(settings, timeout: float) -> list[Finding]:
    import requests  # noqa: PLC0415 -- requests: off CLI start-up

    base = settings.ehr.base_url.rstrip("/")
    try:
        resp = requests.get(base + "/metadata", timeout=timeout, headers={"Accept": "application/fhir+json"})
    except requests.RequestException as exc:
        return [Finding("fhir", FAIL, f"{base}: unreachable ({type(exc).__name__})",
                        "check ehr.base_url, that the server is up, and the network path (DNS, firewall, proxy: "
                        "HTTPS_PROXY / NO_PROXY) from this host")]
    if resp.status_code in (401, 403):
        return [Finding("fhir", WARN, f"{base}/metadata answered {resp.status_code}: the server wants a token even "
                                      "for its CapabilityStatement", "nothing to do if the auth check passes")]
    if resp.status_code != 200:
        return [Finding("fhir", FAIL, f"{base}/metadata answered {resp.status_code}",
                        "ehr.base_url must be the FHIR base (the URL that [base]/metadata is under), e.g. "
                        "https://ehr.example.org/fhir/R4")]
    try:
        cap = resp.json()
    except ValueError:
        cap = None
    if not isinstance(cap, dict) or cap.get("resourceType") != "CapabilityStatement":
        return [Finding("fhir", FAIL, f"{base}/metadata did not answer a CapabilityStatement",
                        "ehr.base_url points at something that is not a FHIR server's base")]
    version = str(cap.get("fhirVersion") or "?")
    software = (cap.get("software") or {}).get("name") or "a FHIR server"
    out = []
    if not version.startswith("4.0"):
        out.append(Finding("fhir", WARN, f"{base}: {software} speaks FHIR {version}; the adapter writes R4 (4.0.1)",
                           "use the server's R4 endpoint"))
    interactions = {i.get("code") for r in cap.get("rest") or [] for i in r.get("interaction") or []}
    if interactions and "transaction" not in interactions:
        out.append(Finding("fhir", WARN, f"{base}: the CapabilityStatement does not list the transaction interaction, "
                                         "which the write-back uses", "ask the EHR team whether transactions are enabled"))
    out += _report_check_findings(settings.writeback.verify_report, cap)
    if not any(f.status != OK for f in out):
        out.insert(0, Finding("fhir", OK, f"{base}: {software}, FHIR {version}"))
    return out


def _report_check_findings(mode: str, cap: dict[str, Any]) -> list[Finding]:
    """Can the write-back check each pushed report against the EHR the way it is set to?"""
    if mode == "off":
        return [Finding("fhir", WARN, "writeback.verify_report is off: any holder of an intake token can "
                                              "write AI results into any chart",
                        "set writeback.verify_report: version (or current where the EHR serves no history)")]
    report_ops = {i.get("code") for r in cap.get("rest") or [] for res in r.get("resource") or []
                  if res.get("type") == "DiagnosticReport" for i in res.get("interaction") or []}
    needed = "vread" if mode == "version" else "read"
    if report_ops and needed not in report_ops:
        fix = ("set writeback.verify_report: current, or ask the EHR team to enable vread"
               if mode == "version" else "ask the EHR team to allow reading DiagnosticReport")
        return [Finding("fhir", WARN, f"the CapabilityStatement does not list {needed} for DiagnosticReport, "
                                              "which the report check before each write uses", fix)]
    return [Finding("fhir", OK, f"reports are checked against the EHR before writing ({mode})")]


def check_auth(settings, timeout: float, environ: Mapping[str, str] | None = None) -> list[Finding]:
    import requests  # noqa: PLC0415 -- requests: off CLI start-up

    from integration.writeback.client import AuthConfigError, FhirClient, WritebackError, auth_from_settings  # noqa: PLC0415 -- requests/jwt: off CLI start-up

    auth = settings.ehr.auth
    if auth.mode == "none":
        return [Finding("auth", OK, "ehr.auth.mode none: requests to the EHR carry no credentials")]
    session = requests.Session()
    try:
        client = FhirClient(settings.ehr.base_url,
                            auth_from_settings(auth, session=session, timeout=timeout, environ=environ),
                            timeout=timeout, session=session)
    except (AuthConfigError, OSError) as exc:
        session.close()
        return [Finding("auth", FAIL, f"ehr.auth {auth.mode}: {_first_line(exc)}",
                        "provide the secret as docs/configuration.md says (token_env / token_file, or a 0600 PEM key "
                        "for SMART)")]
    out = []
    try:
        if auth.mode == "smart":
            try:
                client.auth.header()
            except WritebackError as exc:
                # The OAuth error code (invalid_client, invalid_scope...), never its description.
                codes = ", ".join(str((i.get("details") or {}).get("text") or i.get("code"))
                                  for i in (exc.outcome or {}).get("issue") or [] if isinstance(i, dict))
                return [Finding("auth", FAIL, f"SMART token from {auth.token_url}: {exc.reason}"
                                              + (f" ({codes})" if codes else ""),
                                "check that client_id is registered with the EHR with this key's public JWKS, key_id "
                                "and algorithm match, token_url is right, the scopes are granted, and this host's clock "
                                "is correct")]
            out.append(Finding("auth", OK, f"SMART token fetched from {auth.token_url} for client {auth.client_id}"))
        try:
            client.request("GET", "Observation", what="search Observation", params={"_summary": "count"})
        except WritebackError as exc:
            if exc.status in (401, 403):
                out.append(Finding("auth", FAIL, f"authenticated search refused ({exc.status})",
                                   f"grant the client the scopes in ehr.auth.scope ({auth.scope})"))
            elif exc.status is None:
                out.append(Finding("auth", SKIP, f"authenticated search not tried: {exc.reason}"))
            else:
                out.append(Finding("auth", WARN, f"authenticated search answered {exc.status}",
                                   "the credentials were accepted; the search itself was refused"))
        else:
            out.append(Finding("auth", OK, "authenticated search accepted"))
    finally:
        client.close()
    return out


# -- running and reporting ---------------------------------------------------------------------


def run_checks(config_file: str | None = None, environ: Mapping[str, str] | None = None, *,
               network_timeout: float = 5.0) -> list[Finding]:
    environ = os.environ if environ is None else environ
    findings, settings = check_config(config_file, environ)
    steps: list[tuple[str, Callable[[], list[Finding]]]] = [
        ("mappings", lambda: check_mappings(settings)),
        ("bundles", lambda: check_bundles(settings)),
        ("database", lambda: check_database(settings, network_timeout)),
        ("audit", lambda: check_audit(settings, environ)),
        ("fhir", lambda: check_fhir(settings, network_timeout)),
    ]
    for name, step in steps:
        if settings is None:
            findings.append(Finding(name, SKIP, "needs settings that load"))
            continue
        try:
            findings.extend(step())
        except Exception as exc:  # noqa: BLE001 -- a crashing check is reported, the rest still run
            findings.append(Finding(name, FAIL, f"the check itself failed: {_first_line(exc)}",
                                    "report this as a bug, with the line above"))
    if settings is None:
        findings.append(Finding("auth", SKIP, "needs settings that load"))
    elif any(f.check == "fhir" and f.status == FAIL for f in findings):
        findings.append(Finding("auth", SKIP, "needs a reachable FHIR server"))
    else:
        try:
            findings.extend(check_auth(settings, network_timeout, environ))
        except Exception as exc:  # noqa: BLE001 -- a crashing check is reported, the rest still run
            findings.append(Finding("auth", FAIL, f"the check itself failed: {_first_line(exc)}",
                                    "report this as a bug, with the line above"))
    return findings


def render(findings: list[Finding]) -> str:
    width = max(len(f.check) for f in findings) if findings else 8
    lines = ["radlite doctor", ""]
    for f in findings:
        detail = f.detail.splitlines() or [""]
        lines.append(f"  {_MARK[f.status]} {f.check:<{width}}  {detail[0]}")
        pad = " " * (2 + 6 + 1 + width + 2)
        lines.extend(pad + d for d in detail[1:])
        if f.fix and f.status in (FAIL, WARN):
            lines.append(f"{pad}fix: {f.fix}")
    failed = sum(f.status == FAIL for f in findings)
    warned = sum(f.status == WARN for f in findings)
    lines.append("")
    if failed:
        lines.append(f"{failed} check(s) failed, {warned} warning(s).")
    else:
        lines.append("all checks passed" + (f", {warned} warning(s)." if warned else "."))
    return "\n".join(lines)


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option("--timeout", default=5.0, show_default=True, type=click.FloatRange(0.1, 120),
              help="Seconds for each request to the FHIR server and token endpoint.")
@click.pass_context
def doctor_cmd(ctx: click.Context, as_json: bool, timeout: float) -> None:
    """Check config, mappings, bundles, database, FHIR server and auth; print fixes."""
    root = ctx.find_root()
    findings = run_checks((root.obj or {}).get("config_file"), network_timeout=timeout)
    if as_json:
        click.echo(json.dumps([asdict(f) for f in findings], indent=2))
    else:
        click.echo(render(findings))
    if any(f.status == FAIL for f in findings):
        ctx.exit(1)
