"""Prometheus metrics (prometheus-client). Counts, durations and states only: never report text,
never identifiers.

Where they are recorded:

* intake (the web process): ``radlite_intake_request_seconds{endpoint,code}`` around every FHIR
  intake request (hooks in :mod:`integration.intake.http.metrics`);
* worker: ``radlite_inference_seconds{task,mode}`` (each request's share of its batch),
  ``radlite_inference_tokens_total{task,kind}``, ``radlite_inference_parse_failures_total{task}``;
* worker, per decided result: ``radlite_results_decided_total{task,source}`` and
  ``radlite_results_abstained_total{task,reason}`` (integration/inference/evidence/decide.py);
* write-back: ``radlite_writeback_total{outcome}`` (written, retried, dead_lettered, lease_lost,
  released);
* dead letters: ``radlite_dead_lettered_total{stage}`` when a job is dead-lettered, and the gauge
  ``radlite_dead_letters`` (jobs in ``failed`` now) read from the store;
* queue: ``radlite_jobs{state}``, read from the store at scrape time (so it is the same whichever
  process is scraped, and right after a restart);
* critical results: ``radlite_critical_findings_total{rule,category}`` (worker),
  ``radlite_alert_written_seconds`` (intake to alert on the EHR), ``radlite_alerts_total
  {category,outcome}`` and ``radlite_alert_acknowledged_seconds{category}`` (scheduler), and the
  open alerts by age, ``radlite_alerts_open{category,age,overdue}`` and
  ``radlite_alert_oldest_open_seconds{category}``, read from the store at scrape time;
* the EHR: ``radlite_ehr_up`` and ``radlite_ehr_probe_age_seconds`` on the web process's
  ``/metrics``, from ``GET [base]/metadata`` run by the scrape at most every
  :data:`integration.intake.http.health.EHR_PROBE_INTERVAL` seconds (:class:`CachedProbeCollector`). The
  EHR's health lives here, not in ``/readyz``: an EHR outage does not stop the intake;
* the EHR as the write-back sees it: ``radlite_ehr_client_up`` and the times of the last answer and
  of the last failure (:data:`EHR_CLIENT`) on every process that talks to the EHR (the scheduler;
  the worker when it reads prior reports), from its real requests rather than a probe.

Exposition:

* the web app serves ``GET /metrics`` (its own counters and the store gauges). Under gunicorn with
  several worker processes set ``PROMETHEUS_MULTIPROC_DIR`` (deploy/gunicorn.conf.py wipes it at
  start): the counters of all of them are then summed;
* ``radlite worker`` and ``radlite scheduler`` serve their own counters on
  ``--metrics-port`` / ``RADLITE_METRICS_PORT`` (off by default).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

INTAKE_SECONDS = Histogram(
    "radlite_intake_request_seconds",
    "Time to answer a FHIR intake request (validate, store, respond).",
    ["endpoint", "code"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ALERT_SECONDS = Histogram(
    "radlite_alert_written_seconds",
    "Time from a report's intake to its critical-result alert (a Communication) being on the EHR.",
    buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600),
)
INFERENCE_SECONDS = Histogram(
    "radlite_inference_seconds",
    "Inference time per report and task (the request's share of its batch).",
    ["task", "mode"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)
INFERENCE_TOKENS = Counter(
    "radlite_inference_tokens_total",
    "Tokens processed by inference, by task; kind is prompt or output.",
    ["task", "kind"],
)
PARSE_FAILURES = Counter(
    "radlite_inference_parse_failures_total",
    "Model answers the task's parser could not read (stored as a result with an error).",
    ["task"],
)
RESULTS_DECIDED = Counter(
    "radlite_results_decided_total",
    "Task results kept for writing, by the source of the answer (stated, verified, model).",
    ["task", "source"],
)
RESULTS_ABSTAINED = Counter(
    "radlite_results_abstained_total",
    "Task results or result items not written, by reason (low_confidence, verifier_disagrees, "
    "no_evidence, report_negates, ...).",
    ["task", "reason"],
)
WRITEBACK = Counter(
    "radlite_writeback_total",
    "Write-back attempts by outcome: written, retried, dead_lettered, lease_lost, released.",
    ["outcome"],
)
DEAD_LETTERS = Counter(
    "radlite_dead_lettered_total",
    "Jobs dead-lettered (state failed), by stage: inference or writeback.",
    ["stage"],
)

WRITEBACK_OUTCOMES = ("written", "retried", "dead_lettered", "lease_lost", "released")


# -- recording (called where the events happen) ---------------------------------------------------


def observe_inference(task: str, mode: str, seconds: float, prompt_tokens: int, output_tokens: int,
                      parsed: bool) -> None:
    INFERENCE_SECONDS.labels(task, mode).observe(max(0.0, seconds))
    INFERENCE_TOKENS.labels(task, "prompt").inc(max(0, prompt_tokens))
    INFERENCE_TOKENS.labels(task, "output").inc(max(0, output_tokens))
    if not parsed:
        PARSE_FAILURES.labels(task).inc()


def decided(task: str, source: str) -> None:
    RESULTS_DECIDED.labels(task, source).inc()


CRITICAL_FINDINGS = Counter(
    "radlite_critical_findings_total",
    "Jobs whose written results meet a critical-result rule (mappings/critical/rules.yaml), by rule "
    "and category.",
    ["rule", "category"],
)


ALERT_ACKNOWLEDGED_SECONDS = Histogram(
    "radlite_alert_acknowledged_seconds",
    "Time from a critical-result alert being sent to its acknowledgement on the EHR, by category.",
    ["category"],
    buckets=(60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 12 * 3600, 24 * 3600, 3 * 86400, 7 * 86400),
)
ALERTS_CLOSED = Counter(
    "radlite_alerts_total",
    "Critical-result alerts by what became of them: acknowledged, escalated (the next recipient "
    "alerted), unanswered (overdue, nobody left to escalate to), withdrawn (the report amended).",
    ["category", "outcome"],
)
# Open alerts by age: the age bands a scrape reports (upper bounds in seconds; the last is open-ended).
ALERT_AGE_BANDS = ((900, "0-15m"), (3600, "15m-1h"), (4 * 3600, "1h-4h"), (86400, "4h-24h"), (float("inf"), "24h+"))


def alert_written(seconds: float) -> None:
    ALERT_SECONDS.observe(max(0.0, seconds))


def alert_closed(category: str, outcome: str, seconds: float | None = None) -> None:
    ALERTS_CLOSED.labels(category, outcome).inc()
    if outcome == "acknowledged" and seconds is not None:
        ALERT_ACKNOWLEDGED_SECONDS.labels(category).observe(max(0.0, seconds))


def critical_finding(rule: str, category: str) -> None:
    CRITICAL_FINDINGS.labels(rule, category).inc()


def abstained(task: str, reason: str) -> None:
    RESULTS_ABSTAINED.labels(task, reason).inc()


def dead_lettered(stage: str, n: int = 1) -> None:
    if n:
        DEAD_LETTERS.labels(stage).inc(n)


def writeback_counts(counts: Any) -> None:
    """Add a write-back round's :class:`~integration.writeback.runner.Counts`."""
    for outcome in WRITEBACK_OUTCOMES:
        n = int(getattr(counts, outcome, 0) or 0)
        if n:
            WRITEBACK.labels(outcome).inc(n)
    dead_lettered("writeback", int(getattr(counts, "dead_lettered", 0) or 0))


# -- the store, read at scrape time -------------------------------------------------------------


class StoreCollector(Collector):
    """``radlite_jobs{state}`` and ``radlite_dead_letters`` from ``store.counts()``; when the
    store cannot be read, ``radlite_store_up 0`` and no queue gauges (never a failed scrape)."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterable[Any]:
        up = GaugeMetricFamily("radlite_store_up", "1 when the job store answered this scrape.")
        try:
            counts = self._counts()
        except Exception:  # noqa: BLE001 -- a scrape must not fail because the database did
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        jobs = GaugeMetricFamily("radlite_jobs", "Jobs in the store by state.", labels=["state"])
        for state, n in sorted(counts.items()):
            jobs.add_metric([state], n)
        yield jobs
        yield GaugeMetricFamily("radlite_dead_letters", "Jobs dead-lettered now (state failed).",
                                value=counts.get("failed", 0))


class OpenAlertsCollector(Collector):
    """``radlite_alerts_open{category,age,overdue}`` and ``radlite_alert_oldest_open_seconds
    {category}``: critical-result alerts not yet acknowledged, read from the store at scrape
    time (``ages()``: (category, seconds since sent, past its limit) per open alert). Nothing
    when the store cannot be read (StoreCollector reports that)."""

    def __init__(self, ages: Callable[[], list[tuple[str, float, bool]]]) -> None:
        self._ages = ages

    def collect(self) -> Iterable[Any]:
        try:
            ages = self._ages()
        except Exception:  # noqa: BLE001 -- a scrape must not fail because the database did
            return
        bands: dict[tuple[str, str, str], int] = {}
        oldest: dict[str, float] = {}
        for category, age, overdue in ages:
            band = next(name for bound, name in ALERT_AGE_BANDS if age < bound)
            key = (category, band, "true" if overdue else "false")
            bands[key] = bands.get(key, 0) + 1
            oldest[category] = max(oldest.get(category, 0.0), age)
        open_ = GaugeMetricFamily("radlite_alerts_open", "Critical-result alerts not yet acknowledged, by "
                                  "category, age band and whether past their time limit.",
                                  labels=["category", "age", "overdue"])
        for (category, band, overdue), n in sorted(bands.items()):
            open_.add_metric([category, band, overdue], n)
        yield open_
        old = GaugeMetricFamily("radlite_alert_oldest_open_seconds",
                                "Age of the oldest unacknowledged critical-result alert, by category.",
                                labels=["category"])
        for category, age in sorted(oldest.items()):
            old.add_metric([category], age)
        yield old


class CachedProbeCollector(Collector):
    """``radlite_<name>_up`` (1 or 0) from ``probe()``, run by a scrape at most every ``interval``
    seconds; the scrapes in between report the last result, and ``radlite_<name>_probe_age_seconds``
    says how old it is. A probe that raises counts as down. While one scrape probes, concurrent
    scrapes do not wait for it: they report the previous result (none before the first probe)."""

    def __init__(self, name: str, help_text: str, probe: Callable[[], bool], interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._name, self._help, self._probe = name, help_text, probe
        self._interval, self._clock = interval, clock
        self._lock = threading.Lock()
        self._up: bool | None = None
        self._at = 0.0

    def _refresh(self) -> None:
        if self._up is not None and self._clock() - self._at < self._interval:
            return
        if not self._lock.acquire(blocking=False):
            return  # another scrape is probing
        try:
            try:
                up = bool(self._probe())
            except Exception:  # noqa: BLE001 -- a scrape must not fail because the probe did
                up = False
            self._up, self._at = up, self._clock()
        finally:
            self._lock.release()

    def collect(self) -> Iterable[Any]:
        self._refresh()
        if self._up is None:
            return
        yield GaugeMetricFamily(f"radlite_{self._name}_up", self._help, value=1 if self._up else 0)
        yield GaugeMetricFamily(f"radlite_{self._name}_probe_age_seconds",
                                f"Seconds since radlite_{self._name}_up was last probed.",
                                value=max(0.0, self._clock() - self._at))


class EhrClientCollector(Collector):
    """The EHR as this process's own requests find it (:class:`integration.writeback.client.FhirClient`
    records every request): ``radlite_ehr_client_up`` is 1 when the last request got an answer from
    the EHR (any status but 5xx and 429, which say it cannot serve now) and 0 when it did not
    (connection refused, timeout, 5xx, 429); the two timestamps let an alert ask "no successful
    write for 15 minutes while jobs wait". Nothing until the first request: an idle scheduler does
    not claim the EHR is up."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._answered: float | None = None
        self._unavailable: float | None = None
        self._up: bool | None = None

    def record(self, answered: bool) -> None:
        now = self._clock()
        if answered:
            self._answered = now
        else:
            self._unavailable = now
        self._up = answered

    def collect(self) -> Iterable[Any]:
        if self._up is None:
            return
        yield GaugeMetricFamily("radlite_ehr_client_up", "1 when the EHR answered this process's last request "
                                "(5xx and 429 count as not answered), 0 when it did not.", value=1 if self._up else 0)
        if self._answered is not None:
            yield GaugeMetricFamily("radlite_ehr_client_last_answer_timestamp_seconds",
                                    "Unix time of the last request of this process the EHR answered.",
                                    value=self._answered)
        if self._unavailable is not None:
            yield GaugeMetricFamily("radlite_ehr_client_last_failure_timestamp_seconds",
                                    "Unix time of the last request of this process the EHR did not answer "
                                    "(or answered 5xx/429).", value=self._unavailable)


EHR_CLIENT = EhrClientCollector()
REGISTRY.register(EHR_CLIENT)


def multiprocess_dir() -> str | None:
    path = os.environ.get(MULTIPROC_ENV)
    return path if path and os.path.isdir(path) else None


def render(store_counts: Callable[[], dict[str, int]] | None = None, collectors: Iterable[Collector] = ()) -> bytes:
    """The exposition text: this process's metrics (or, in multiprocess mode, every process's
    that shares the directory), plus the store gauges when ``store_counts`` is given and whatever
    ``collectors`` report (read in this process at scrape time, e.g. the EHR probe)."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        # The process's own metrics: a throwaway registry that delegates to the default one.
        registry.register(_Delegate(REGISTRY))
    if store_counts is not None:
        registry.register(StoreCollector(store_counts))
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry)


class _Delegate(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Any]:
        return self._registry.collect()


def parse_listen(value: str | int | None) -> tuple[str, int] | None:
    """``"9101"`` -> ("0.0.0.0", 9101); ``"127.0.0.1:9101"`` -> ("127.0.0.1", 9101); empty -> None."""
    if value is None or str(value).strip() in ("", "0"):
        return None
    text = str(value).strip()
    addr, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"metrics listen address {text!r}: expected PORT or ADDR:PORT") from None
    if not 0 < number < 65536:
        raise ValueError(f"metrics listen address {text!r}: port out of range")
    return (addr.strip("[]") or "0.0.0.0"), number


def serve(listen: str | int | None) -> tuple[str, int] | None:
    """Serve this process's metrics at ``listen`` (PORT or ADDR:PORT) from a daemon thread; None
    when ``listen`` is empty. For ``radlite worker`` / ``radlite scheduler``, which have no web
    server of their own."""
    where = parse_listen(listen)
    if where is None:
        return None

    start_http_server(where[1], addr=where[0])
    return where
