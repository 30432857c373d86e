"""Typed settings: ``config/default.yaml`` < site file < environment variables.

The site file comes from ``--config`` or ``RADLITE_CONFIG``. Environment variables named
``RADLITE__SECTION__KEY`` override single keys (values are parsed as YAML, so ``8`` is an int and
``[a, b]`` a list). Errors name the file (or variable), the key and what was expected.

:func:`load_settings` checks each value on its own; :func:`check_settings` checks what needs
several of them together (a route names a configured bundle, a routing rule names tasks that can
run on a pushed report, a FHIRPath expression compiles). Services run both at startup
(:func:`startup_settings`). See docs/configuration.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config" / "default.yaml"
ENV_PREFIX = "RADLITE__"


class SettingsError(Exception):
    pass


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InferenceSettings(_Section):
    # name -> bundle directory; relative paths are taken from the working directory.
    bundles: dict[str, Path] = Field(default_factory=lambda: {"radlite-mini": Path("models/radlite-mini")})
    default_bundle: str | None = None
    # task -> bundle name, for tasks that should not use the default bundle.
    routes: dict[str, str] = Field(default_factory=dict)
    # auto: int8 on CPUs with VNNI, float32 on those without, where int8 products saturate and change
    # answers (integration.inference.engine.resolve_compute_type; docs/model.md).
    compute_type: Literal["auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "float32",
                          "bfloat16"] = "auto"
    threads: int = Field(1, ge=0, description="threads per model replica; 0 lets CTranslate2 choose")
    max_batch_size: int = Field(32, ge=1)
    max_input_tokens: int = Field(4096, ge=64)
    # Prompts in one generation batch differ in length by at most this many tokens (see
    # integration.inference.engine.generation_batches; measured in bench/pipeline.py).
    max_prompt_spread: int = Field(32, ge=0)
    # How generation requests are batched: "length" (across reports: same token limit, similar
    # prompt length) or "report" (one report's tasks together, its text run once). bench/pipeline.py
    # measures both.
    batching: Literal["length", "report"] = "length"
    # Model replicas in one worker (CTranslate2 inter_threads), sharing the weights, each running a
    # batch on `threads` threads; 0 = one per `threads` cores of the machine.
    replicas: int = Field(0, ge=0)

    def resolved_replicas(self) -> int:
        if self.replicas:
            return self.replicas
        return max(1, (os.cpu_count() or 1) // max(1, self.threads))

    def used_bundles(self) -> dict[str, Path]:
        """The bundles inference can use: the default one and every route's target (name -> path).
        A bundle that is configured but used by nothing is not needed to be ready (default.yaml
        always configures radlite-mini, and a site's bundles are merged with it)."""
        names = [self.default_bundle or next(iter(self.bundles)), *self.routes.values()]
        return {name: self.bundles[name] for name in dict.fromkeys(names) if name in self.bundles}
    # CTranslate2's ISA for its own kernels (process-wide). "auto" keeps its choice, which is AVX2
    # on AMD CPUs even with AVX-512; see bench/RESULTS.md for what forcing AVX512 measured.
    cpu_isa: Literal["auto", "AVX512", "AVX2", "GENERIC"] = "auto"
    verify_hash: bool = True

    @field_validator("bundles")
    @classmethod
    def _not_empty(cls, v: dict[str, Path]) -> dict[str, Path]:
        if not v:
            raise ValueError("at least one bundle must be configured")
        return v


class DecisionSettings(_Section):
    """How model answers become written results (integration/inference/evidence/decide.py)."""

    # task -> minimum confidence for writing an answer that rests on the model alone; overrides
    # the bundle's thresholds (chosen on val data) for this site. 0 writes every such answer.
    min_confidence: dict[str, float] = Field(default_factory=dict)

    @field_validator("min_confidence")
    @classmethod
    def _known_tasks(cls, value: dict[str, float]) -> dict[str, float]:
        from integration.tasks import TASKS  # noqa: PLC0415 -- the task registry (~40 ms): off CLI start-up

        for task, threshold in value.items():
            if task not in TASKS:
                raise ValueError(f"unknown task {task!r}")
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"{task}: a confidence threshold lies between 0 and 1")
        return value


def masked_url(url: str) -> str:
    """A store URL with its password hidden, for messages and logs."""
    try:
        from sqlalchemy.engine import make_url  # noqa: PLC0415 -- sqlalchemy: off CLI start-up

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 -- an unparsable URL is shown as "(unparsable)"
        return "(unparsable URL)"


class StoreSettings(_Section):
    url: str = "sqlite:///var/radlite.sqlite"
    # A job whose worker died this many times is dead-lettered instead of taken again.
    max_inference_attempts: int = Field(3, ge=1)


# What an inbound token may do (integration.intake.http.auth): push reports, read jobs, run $preview;
# admin implies every other scope.
IntakeScope = Literal["intake", "jobs:read", "preview", "admin"]


class ScopedToken(_Section):
    # sha256 hex digest of the token (never the token itself).
    sha256: str
    scopes: list[IntakeScope] = Field(min_length=1)
    # The client this token belongs to, for quotas, 429 answers, the audit trail and jobs.client
    # (integration.intake.http.auth.Caller); None = "token:" + the first 12 hex digits of sha256. Tokens
    # with the same name share one client's quotas (e.g. an old and a new token while rotating).
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$")


class IntakeAuth(_Section):
    # "token": bearer tokens required; "open": no auth, for local development only.
    mode: Literal["token", "open"] = "token"
    # sha256 hex digests of accepted bearer tokens (never the tokens themselves): full access.
    token_sha256: list[str] = Field(default_factory=list)
    # A file with one sha256 digest per line, for secrets managed outside the config; a line may
    # name scopes after the digest ("<digest> intake jobs:read"), else the token has full access.
    token_sha256_file: Path | None = None
    # Tokens limited to some scopes: [{sha256: <digest>, scopes: [intake]}, ...].
    tokens: list[ScopedToken] = Field(default_factory=list)


class IntakeSettings(_Section):
    max_body_bytes: int = Field(5_000_000, ge=1024)
    # Entries in one Bundle; more is refused whole with 413 (too-costly) before any entry is read:
    # each report is minutes of inference, and a Bundle is answered in one request. 0 = no limit.
    max_bundle_entries: int = Field(1000, ge=0)
    # Unfinished jobs (received, inferring, inferred) one client may have; a push beyond is refused
    # with 429 and Retry-After until the worker has caught up. 0 = no limit. (docs/api.md, Quotas)
    max_queued_jobs_per_client: int = Field(2000, ge=0)
    # Requests one client may make per minute to each web process (a token bucket that holds a
    # minute's worth); beyond, 429 with Retry-After. Under gunicorn each worker process counts its
    # own, so the ceiling for a client is WEB_CONCURRENCY times this. 0 = no limit.
    requests_per_minute_per_client: int = Field(3000, ge=0)
    # Longest report text (conclusion, narrative, each attachment) accepted, in characters; longer is
    # refused 413 before it is decoded or stored. None = 8 x inference.max_input_tokens
    # (integration.fhir.report.report_char_limit).
    max_report_chars: int | None = Field(None, ge=1)
    auth: IntakeAuth = Field(default_factory=IntakeAuth)
    # Base URL used in job links (Location headers); None = the request's own host.
    public_base_url: str | None = None


class RouteRule(_Section):
    """Which tasks run for which reports. Every given matcher must match (AND); within a
    matcher, any listed value matches (OR)."""

    name: str
    loinc: list[str] = Field(default_factory=list)  # DiagnosticReport.code codings (any system's code)
    category: list[str] = Field(default_factory=list)  # DiagnosticReport.category codes
    modality: list[str] = Field(default_factory=list)  # DICOM modality codes in category/code
    text_contains: list[str] = Field(default_factory=list)  # case-insensitive, in code.text/display
    fhirpath: str | None = None  # a FHIRPath expression evaluated on the report; true = match
    tasks: list[str]


class RoutingSettings(_Section):
    # The shipped routing (which tasks for chest radiographs, mammograms, ...) is product
    # configuration and lives in config/default.yaml only; the empty defaults here apply to
    # settings built in code without that file (tests), and nowhere else.
    rules: list[RouteRule] = Field(default_factory=list)
    # Tasks for reports no rule matches; empty = such reports are stored as written with no results.
    default_tasks: list[str] = Field(default_factory=list)


class WorkerSettings(_Section):
    batch_size: int = Field(16, ge=1)
    lease_seconds: float = Field(600, gt=0)
    poll_seconds: float = Field(1.0, gt=0)


class PreviewSettings(_Section):
    """``$preview`` (docs/api.md, "$preview"): the web process queues the report in the store's
    ``previews`` table and waits; a ``radlite worker`` runs it, before its next batch of jobs."""

    # How long a request waits for a worker's answer; then 503 transient + Retry-After, and the
    # preview is deleted. Keep it under the reverse proxy's and gunicorn's request timeouts.
    timeout_seconds: float = Field(30, gt=0, le=300)
    # Previews queued or running in the whole deployment (every web process, every host); one more
    # is refused 429 throttled + Retry-After.
    max_pending: int = Field(8, ge=1)
    # Requests of one web process waiting for a preview at once (each holds one of its threads);
    # one more is refused 429. Keep it under RADLITE_WEB_THREADS so pushes always find a thread.
    max_waiting_per_process: int = Field(2, ge=1)
    # How often an idle worker looks for previews (between its worker.poll_seconds polls for jobs).
    worker_poll_seconds: float = Field(0.2, gt=0)


class EhrAuth(_Section):
    mode: Literal["none", "bearer", "smart"] = "none"
    # bearer: the token comes from this environment variable or file, never from the config.
    token_env: str | None = None
    token_file: Path | None = None
    # smart: SMART Backend Services (client_credentials with a private_key_jwt assertion).
    client_id: str | None = None
    token_url: str | None = None
    private_key_file: Path | None = None
    key_id: str | None = None
    algorithm: Literal["RS384", "ES384"] = "RS384"
    # SMART v1 scopes the write-back needs: Observations (read for amendments, conditional
    # creates), Devices (conditional create), Provenance; add system/AuditEvent.write with
    # writeback.audit_event.
    scope: str = "system/Observation.read system/Observation.write system/Device.read system/Device.write system/Provenance.write system/DiagnosticReport.read"


class EhrSettings(_Section):
    base_url: str = "http://127.0.0.1:8080/fhir"
    auth: EhrAuth = Field(default_factory=EhrAuth)
    timeout_seconds: float = Field(30, gt=0)


class WritebackSettings(_Section):
    interval_seconds: float = Field(5, gt=0)
    batch_size: int = Field(10, ge=1)
    lease_seconds: float = Field(120, gt=0)
    # How long the "one scheduler" lock outlives its holder: a scheduler that died (kill -9, power)
    # is replaced after at most this long. None = max(3 x interval_seconds, 30 s).
    lock_ttl_seconds: float | None = Field(None, gt=0)
    backoff_base_seconds: float = Field(2, gt=0)
    backoff_max_seconds: float = Field(300, gt=0)
    # Transient failures are retried until this many attempts, then dead-lettered.
    max_attempts: int = Field(50, ge=1)
    # None (the default) = the mappings/ shipped with the adapter.
    mappings_dir: Path = ROOT / "mappings"
    # Also write an AuditEvent (IHE BALP style) with each bundle.
    audit_event: bool = False
    # Before a job writes, read the report from the EHR and check that it holds the pushed version
    # with the same subject and status (docs/writeback.md, "Checked against the EHR"):
    #   version -- read DiagnosticReport/<id>/_history/<versionId> (the current resource when the
    #              sender gave no versionId); the default
    #   current -- read the current resource only, for EHRs that do not serve history: a version
    #              superseded on the EHR but not yet pushed is caught by its versionId only
    #   off     -- no check: any holder of an intake token can then write AI results into any chart
    verify_report: Literal["version", "current", "off"] = "version"
    # Critical-result alerts to a team go to these references (team name -> "CareTeam/123", ...).
    alert_teams: dict[str, str] = Field(default_factory=dict)
    # How often the scheduler looks for jobs with a critical-result alert to send, between its
    # regular ticks (the early wake: alerts go out within about this long of inference); 0 = off.
    alert_poll_seconds: float = Field(1, ge=0)
    # How often open alerts are read back from the EHR for acknowledgement and escalated when
    # their time limit has passed; 0 = never (alerts are sent, not watched).
    alert_check_seconds: float = Field(60, ge=0)
    # What acknowledges an alert on the EHR (docs/critical-results.md):
    #   received -- the Communication's `received` is set (an inbox that records who opened it)
    #   reply    -- a Communication of the patient names the alert in `inResponseTo`
    alert_acknowledged_by: tuple[Literal["received", "reply"], ...] = ("received", "reply")

    @field_validator("mappings_dir", mode="before")
    @classmethod
    def _shipped_mappings(cls, v: Any) -> Any:
        return ROOT / "mappings" if v is None else v


class PullSettings(_Section):
    enabled: bool = False
    interval_seconds: float = Field(60, gt=0)
    # Extra search parameters for GET [base]/DiagnosticReport (e.g. category, status).
    search: dict[str, str] = Field(default_factory=lambda: {"status": "final"})
    page_size: int = Field(50, ge=1)


class AuditSettings(_Section):
    # Hash-chained audit file; None disables the file (the JSON log still has every event).
    file: Path | None = Path("var/audit.jsonl")
    # Rotate the audit file past this size (audit.jsonl -> audit.jsonl.1 ...; the chain goes on
    # across files, nothing is deleted); 0 = never rotate.
    max_bytes: int = Field(50_000_000, ge=0)
    # Environment variable holding the HMAC key for hashing identifiers in logs.
    secret_env: str = "RADLITE_AUDIT_SECRET"
    secret_file: Path | None = None
    log_level: str = "INFO"
    # Let the services start without a real secret (unset, the public development key, a
    # placeholder or a short key: integration/audit/secret.py), for local development and tests
    # only. Off, the web app, worker and scheduler refuse to start with such a key.
    allow_development_key: bool = False


class Settings(_Section):
    inference: InferenceSettings = Field(default_factory=InferenceSettings)
    decisions: DecisionSettings = Field(default_factory=DecisionSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    preview: PreviewSettings = Field(default_factory=PreviewSettings)
    ehr: EhrSettings = Field(default_factory=EhrSettings)
    writeback: WritebackSettings = Field(default_factory=WritebackSettings)
    pull: PullSettings = Field(default_factory=PullSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    # Sources the values came from, for `radlite doctor` and the audit log.
    sources: list[str] = Field(default_factory=list, exclude=True)
    # (name, data) per layer and the environment variable behind each overridden key: where a
    # value came from, for the messages of check_settings.
    _layers: list[tuple[str, dict[str, Any]]] = PrivateAttr(default_factory=list)
    _env_origin: dict[tuple[str, ...], str] = PrivateAttr(default_factory=dict)

    def origin(self, *loc: str) -> str:
        """The file or environment variable that set ``loc`` (e.g. ``("inference", "routes")``)."""
        for n in range(len(loc), 0, -1):
            if loc[:n] in self._env_origin:
                return self._env_origin[loc[:n]]
            found = _which_file(loc[:n], self._layers)
            if found:
                return found
        return "defaults"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise SettingsError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a mapping at the top level")
    return data


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _env_overrides(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    tree: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        keys = tuple(k.lower() for k in name[len(ENV_PREFIX) :].split("__") if k)
        if not keys:
            continue
        node = tree
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        try:
            node[keys[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError:
            node[keys[-1]] = raw
        origin[keys] = name
    return tree, origin


def load_settings(site_file: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    site = site_file or environ.get("RADLITE_CONFIG")
    layers: list[tuple[str, dict[str, Any]]] = [(str(DEFAULT_CONFIG), _read_yaml(DEFAULT_CONFIG))]
    if site:
        layers.append((str(site), _read_yaml(Path(site))))
    env_tree, env_origin = _env_overrides(environ)
    merged: dict[str, Any] = {}
    for _, data in layers:
        merged = _merge(merged, data)
    merged = _merge(merged, env_tree)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise SettingsError(_explain(exc, layers, env_origin)) from None
    settings.sources = [name for name, _ in layers] + sorted(env_origin.values())
    settings._layers = layers
    settings._env_origin = {k: v for k, v in env_origin.items()}
    return settings


def check_settings(settings: Settings) -> list[str]:
    """Problems that involve several settings, each ``source: key: what is wrong (expected)``."""
    # Not from integration.inference.worker: that imports the inference runtime, which a web process must not.
    from integration.tasks import TASKS  # noqa: PLC0415 -- the task registry (~40 ms): off CLI start-up

    out: list[str] = []

    def problem(loc: tuple[str, ...], message: str, origin: tuple[str, ...] | None = None) -> None:
        out.append(f"{settings.origin(*(origin or loc))}: {'.'.join(loc)}: {message}")

    inf = settings.inference
    bundles = sorted(inf.bundles)
    if inf.default_bundle is not None and inf.default_bundle not in inf.bundles:
        problem(("inference", "default_bundle"),
                f"{inf.default_bundle!r} is not a configured bundle (expected one of inference.bundles: {bundles})")
    for task, name in inf.routes.items():
        if task not in TASKS:
            problem(("inference", "routes", task), f"unknown task {task!r} (expected one of {sorted(TASKS)})")
        if name not in inf.bundles:
            problem(("inference", "routes", task),
                    f"routed to {name!r}, which is not a configured bundle (expected one of inference.bundles: {bundles})")

    runnable = sorted(name for name, task in TASKS.items() if task.routable)
    names: dict[str, int] = {}
    for i, rule in enumerate(settings.routing.rules):
        loc = ("routing", "rules", str(i))
        if rule.name in names:
            problem(loc + ("name",), f"rule name {rule.name!r} is used by rule {names[rule.name]} too (expected unique names)")
        names.setdefault(rule.name, i)
        if not rule.tasks:
            problem(loc + ("tasks",), f"rule {rule.name!r} runs no task (expected at least one of {runnable})")
        for task in rule.tasks:
            if task not in TASKS:
                problem(loc + ("tasks",), f"rule {rule.name!r}: unknown task {task!r} (expected one of {runnable})")
            elif not TASKS[task].routable:
                problem(loc + ("tasks",), f"rule {rule.name!r}: {task} needs API input (a question or hypothesis) and "
                                          f"cannot run on a pushed report (expected one of {runnable})")
        if rule.fhirpath:
            try:
                from fhirpathpy import evaluate  # noqa: PLC0415 -- fhirpathpy (antlr4, ~75 ms) only for FHIRPath route rules

                # A trial run on an empty report: unknown functions and the like raise here.
                evaluate({"resourceType": "DiagnosticReport", "status": "final"}, rule.fhirpath)
            except Exception as exc:  # noqa: BLE001 -- fhirpathpy raises several kinds
                problem(loc + ("fhirpath",), f"rule {rule.name!r}: not a valid FHIRPath expression "
                                             f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
    for task in settings.routing.default_tasks:
        if task not in TASKS or not TASKS[task].routable:
            problem(("routing", "default_tasks"), f"{task!r} cannot run on a pushed report (expected one of {runnable})")

    auth = settings.ehr.auth
    if auth.mode == "smart":
        for key in ("client_id", "token_url", "private_key_file"):
            if not getattr(auth, key):
                problem(("ehr", "auth", key), "required with ehr.auth.mode smart", ("ehr", "auth", "mode"))
    elif auth.mode == "bearer" and bool(auth.token_env) == bool(auth.token_file):
        problem(("ehr", "auth", "token_env"),
                "ehr.auth.mode bearer needs exactly one of token_env or token_file (never the token itself)",
                ("ehr", "auth", "mode"))
    return out


def startup_settings(site_file: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """:func:`load_settings` plus :func:`check_settings`; raises SettingsError listing every problem."""
    settings = load_settings(site_file, environ)
    problems = check_settings(settings)
    if problems:
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems))
    return settings


def _explain(exc: ValidationError, layers, env_origin) -> str:
    lines = ["invalid settings:"]
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        where = env_origin.get(loc) or _which_file(loc, layers) or "defaults"
        lines.append(f"  {where}: {'.'.join(loc)}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def _which_file(loc: tuple[str, ...], layers) -> str | None:
    for name, data in reversed(layers):
        node: Any = data
        for k in loc:
            if isinstance(node, list) and k.isdigit() and int(k) < len(node):
                node = node[int(k)]  # a list entry, e.g. intake.auth.tokens.0.scopes
                continue
            if not isinstance(node, dict) or k not in node:
                break
            node = node[k]
        else:
            return name
    return None
