"""$preview out of the web process (issue 20, item 5): the store's ``previews`` table, the worker
that answers previews before jobs, and the web side's bounds (429), timeout (503) and cleanup.

No model here: the worker's preview step is stubbed where it runs (tests/unit/test_preview.py and
tests/reliability/test_hardening_preview.py run the tiny model).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from integration.intake.http.app import create_app
from integration.samples import sample_diagnostic_reports
from integration.settings import Settings
from integration.store import JobStore, PreviewFailure, PreviewsFull, jobs as store_jobs

ROOT = Path(__file__).resolve().parents[2]
URL = "/fhir/DiagnosticReport/$preview"
FHIR = {"Content-Type": "application/fhir+json"}
ANSWER = {"bundle": {"resourceType": "Bundle", "type": "transaction"},
          "summary": {"rule": "default", "tasks": ["m_staging"], "entries": {}}}


def _settings(tmp_path: Path, **preview) -> Settings:
    return Settings.model_validate({
        "store": {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        "intake": {"auth": {"mode": "open"}},
        "audit": {"file": None},
        "routing": {"rules": [], "default_tasks": []},
        "preview": preview,
    })


@pytest.fixture
def store(tmp_path):
    s = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    yield s
    s.close()


def _report(i: int = 8) -> dict:
    return copy.deepcopy(sample_diagnostic_reports()[i])


def _submit(store: JobStore, i: int = 8, *, timeout: float = 30, max_pending: int = 8):
    return store.submit_preview(_report(i), timeout_seconds=timeout, max_pending=max_pending)


# -- the store ---------------------------------------------------------------------------------


def test_previews_are_claimed_oldest_first_once_and_never_counted_as_jobs(store) -> None:
    ids = [_submit(store, i).id for i in range(3)]
    assert store.preview_counts()["queued"] == 3
    claimed = [store.claim_preview("w1"), store.claim_preview("w2"), store.claim_preview("w1")]
    assert [c.id for c in claimed] == ids
    assert [c.state for c in claimed] == ["running"] * 3 and [c.lease_owner for c in claimed] == ["w1", "w2", "w1"]
    assert claimed[0].resource == _report(0) and claimed[0].started_at is not None
    assert store.claim_preview("w1") is None  # taken once: a running preview is never re-claimed
    # Not jobs: no job, no job state, nothing for the inference or the write-back to claim.
    assert store.jobs() == [] and sum(store.counts().values()) == 0
    assert store.claim_for_inference("w1", 10, 60) == [] and store.claim_for_writeback("s", 10, 60) == []


def test_an_answer_is_stored_only_by_the_claiming_worker_and_deleted_when_read(store) -> None:
    p = _submit(store)
    assert store.finish_preview(p.id, "w1", result=ANSWER) is False  # not claimed yet
    store.claim_preview("w1")
    assert store.finish_preview(p.id, "w2", result=ANSWER) is False  # not its claim
    assert store.preview_state(p.id) == "running"
    assert store.take_preview(p.id).state == "running"  # not answered: read, kept
    assert store.finish_preview(p.id, "w1", result=ANSWER) is True
    assert store.finish_preview(p.id, "w1", result=ANSWER) is False  # once
    assert store.preview_state(p.id) == "done"
    answer = store.take_preview(p.id)
    assert (answer.state, answer.result, answer.finished_at is not None) == ("done", ANSWER, True)
    assert store.preview_state(p.id) is None and store.take_preview(p.id) is None  # deleted when read
    assert sum(store.preview_counts().values()) == 0


def test_a_cancelled_preview_drops_the_late_answer(store) -> None:
    p = _submit(store)
    store.claim_preview("w1")
    assert store.take_preview(p.id, cancel=True).state == "running"  # the request stopped waiting
    assert store.finish_preview(p.id, "w1", result=ANSWER) is False  # fenced: nothing stored
    assert sum(store.preview_counts().values()) == 0


def test_failures_are_answers_too(store) -> None:
    p = _submit(store)
    store.claim_preview("w1")
    assert store.finish_preview(p.id, "w1", error_kind=PreviewFailure.BUILD.value, error="no mapping")
    answer = store.take_preview(p.id)
    assert (answer.state, answer.error_kind, answer.error, answer.result) == ("failed", "build", "no mapping", None)


def test_max_pending_counts_unexpired_previews_in_any_state(store) -> None:
    a, b = _submit(store, 0, max_pending=2), _submit(store, 1, max_pending=2)
    with pytest.raises(PreviewsFull) as exc:
        _submit(store, 2, max_pending=2)
    assert (exc.value.pending, exc.value.limit) == (2, 2)
    assert store.preview_counts()["queued"] == 2  # nothing recorded
    store.claim_preview("w1")
    store.finish_preview(a.id, "w1", result=ANSWER)
    with pytest.raises(PreviewsFull):  # answered but not read yet: still pending
        _submit(store, 2, max_pending=2)
    store.take_preview(a.id)
    _submit(store, 2, max_pending=2)  # a slot freed
    store.take_preview(b.id, cancel=True)
    assert store.preview_counts()["queued"] == 1


def test_expired_previews_are_not_claimed_nor_counted_and_are_deleted(store, monkeypatch) -> None:
    old = _submit(store, 0, timeout=0.05, max_pending=1)
    time.sleep(0.1)
    assert store.claim_preview("w1") is None  # its request has given up: no worker starts it
    assert store.preview_state(old.id) == "queued"  # kept for the grace period (a last look)
    fresh = _submit(store, 1, max_pending=1)  # the expired one no longer counts
    monkeypatch.setattr(store_jobs, "PREVIEW_GRACE", dt.timedelta(0))
    assert store.claim_preview("w1").id == fresh.id  # each claim deletes what expired
    assert store.preview_state(old.id) is None
    late = _submit(store, 2, timeout=0.05, max_pending=5)
    time.sleep(0.1)
    _submit(store, 3, max_pending=5)  # each new preview deletes what expired too
    assert store.preview_state(late.id) is None


# -- the worker --------------------------------------------------------------------------------


class NoModel:
    """A router for a worker whose previews are stubbed and whose jobs have no tasks."""

    def run(self, requests):
        assert not requests
        return []


def _worker(tmp_path, store, **preview):
    from integration.inference.worker import Worker

    return Worker(_settings(tmp_path, **preview), store, NoModel(), owner="w-test", mappings=object())


def test_the_worker_answers_previews_before_it_claims_jobs(tmp_path, store, monkeypatch) -> None:
    import integration.inference.dry_run as preview_module

    order: list[str] = []

    def fake_preview(resource, settings, router, mappings, *, prior_resource=None, now=None):
        order.append("preview")
        return SimpleNamespace(bundle=ANSWER["bundle"], summary=lambda: ANSWER["summary"])

    monkeypatch.setattr(preview_module, "preview_report", fake_preview)
    claim_jobs = store.claim_for_inference
    monkeypatch.setattr(store, "claim_for_inference", lambda *a: order.append("jobs") or claim_jobs(*a))
    store.submit(_report(0))
    p, q = _submit(store, 1), _submit(store, 2)
    assert _worker(tmp_path, store).run_once() == 1
    assert order == ["preview", "preview", "jobs"]
    assert store.take_preview(p.id).result == ANSWER and store.take_preview(q.id).result == ANSWER
    # At most preview.max_pending previews per iteration: jobs are not starved.
    order.clear()
    for i in range(3):
        _submit(store, i)
    assert _worker(tmp_path, store, max_pending=2).run_once() == 0
    assert order == ["preview", "preview", "jobs"] and store.preview_counts()["queued"] == 1


def test_a_previews_only_worker_never_claims_jobs(tmp_path, store, monkeypatch) -> None:
    """`radlite worker --previews-only`: a preview never waits for a batch of jobs."""
    import integration.inference.dry_run as preview_module

    monkeypatch.setattr(preview_module, "preview_report", lambda *a, **k: SimpleNamespace(
        bundle=ANSWER["bundle"], summary=lambda: ANSWER["summary"]))
    job, _ = store.submit(_report(0))
    p = _submit(store, 1)
    from integration.inference.worker import Worker

    worker = Worker(_settings(tmp_path), store, NoModel(), owner="w-pv", mappings=object(), previews_only=True)
    assert worker.run_once() == 0
    assert store.preview_state(p.id) == "done" and store.get(job.id).state == "received"


def test_a_failing_preview_is_answered_and_never_stops_the_worker(tmp_path, store, monkeypatch) -> None:
    import integration.inference.dry_run as preview_module
    from integration.inference.model_bundle import BundleError

    secret = "Patient has a 3 cm mass"  # what an exception message could quote

    def boom(resource, *a, **k):
        if resource["id"] == _report(0)["id"]:
            raise BundleError("bundle 'tiny' not found at /models/tiny")
        raise ValueError(secret)

    monkeypatch.setattr(preview_module, "preview_report", boom)
    p, q = _submit(store, 0), _submit(store, 1)
    assert _worker(tmp_path, store).run_previews() == 2
    a, b = store.take_preview(p.id), store.take_preview(q.id)
    assert (a.state, a.error_kind, a.error) == ("failed", "unavailable", "bundle 'tiny' not found at /models/tiny")
    assert (b.state, b.error_kind, b.error) == ("failed", "exception", "ValueError")  # the type, never the text


def test_an_idle_worker_looks_for_previews_between_its_polls_for_jobs(tmp_path, store, monkeypatch) -> None:
    worker = _worker(tmp_path, store, worker_poll_seconds=0.02)
    worker.settings.worker.poll_seconds = 5
    seen = []
    monkeypatch.setattr(worker, "run_previews", lambda: seen.append(time.monotonic()) or (1 if len(seen) == 3 else 0))
    started = time.monotonic()
    worker._idle()  # back to the jobs as soon as a preview was answered
    assert len(seen) == 3 and time.monotonic() - started < 2


# -- the web process ---------------------------------------------------------------------------


def _answer_previews(store: JobStore, stop: threading.Event, *, result=ANSWER, **failure) -> threading.Thread:
    """A stand-in worker: answers every preview with ``result`` (or ``failure``), no model."""

    def loop() -> None:
        while not stop.is_set():
            claimed = store.claim_preview("stub-worker")
            if claimed is None:
                stop.wait(0.01)
                continue
            store.finish_preview(claimed.id, "stub-worker", result=None if failure else result, **failure)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def _outcome(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    body = resp.get_json(force=True)
    OperationOutcome.model_validate(body)
    assert body["issue"][0]["code"] == code, body
    return body


def test_the_web_process_answers_with_the_workers_result_and_keeps_nothing(tmp_path, store) -> None:
    http = create_app(_settings(tmp_path), store).test_client()
    stop = threading.Event()
    thread = _answer_previews(store, stop)
    try:
        resp = http.post(URL, json=_report(), headers=FHIR)
        assert resp.status_code == 200 and resp.get_json() == ANSWER["bundle"]
        assert resp.headers["X-RadLite-Rule"] == "default" and resp.headers["X-RadLite-Tasks"] == "m_staging"
        assert sum(store.preview_counts().values()) == 0 and store.jobs() == []
    finally:
        stop.set()
        thread.join(5)


@pytest.mark.parametrize("kind, error, status, code, said", [
    ("unavailable", "bundle 'tiny' not found", 503, "transient", "inference is not available: bundle 'tiny' not found"),
    ("build", "no mapping for 'x'", 500, "exception", "cannot build the transaction: no mapping for 'x'"),
    ("exception", "ValueError", 500, "exception", "the preview failed in the inference worker (ValueError)"),
])
def test_a_workers_failure_is_the_answer(tmp_path, store, kind, error, status, code, said) -> None:
    http = create_app(_settings(tmp_path), store).test_client()
    stop = threading.Event()
    thread = _answer_previews(store, stop, error_kind=kind, error=error)
    try:
        body = _outcome(http.post(URL, json=_report(), headers=FHIR), status, code)
        assert body["issue"][0]["diagnostics"] == said
        assert sum(store.preview_counts().values()) == 0
    finally:
        stop.set()
        thread.join(5)


def test_no_worker_503_after_the_timeout_and_the_preview_is_deleted(tmp_path, store) -> None:
    http = create_app(_settings(tmp_path, timeout_seconds=0.3), store).test_client()
    started = time.monotonic()
    resp = http.post(URL, json=_report(), headers=FHIR)
    waited = time.monotonic() - started
    body = _outcome(resp, 503, "transient")
    assert "no inference worker answered the preview within 0.3 s" in body["issue"][0]["diagnostics"]
    assert resp.headers["Retry-After"] == "30"
    assert 0.3 <= waited < 3, waited
    assert sum(store.preview_counts().values()) == 0  # deleted: no worker starts it late


def test_over_max_pending_429_at_once(tmp_path, store) -> None:
    http = create_app(_settings(tmp_path, max_pending=2, timeout_seconds=0.3), store).test_client()
    _submit(store, 0), _submit(store, 1)  # two previews already wait (other web processes)
    started = time.monotonic()
    resp = http.post(URL, json=_report(), headers=FHIR)
    body = _outcome(resp, 429, "throttled")
    assert time.monotonic() - started < 1 and resp.headers["Retry-After"] == "5"
    assert "2 previews are already queued or running (preview.max_pending)" in body["issue"][0]["diagnostics"]
    assert store.preview_counts()["queued"] == 2


def test_over_max_waiting_per_process_429_at_once(tmp_path, store) -> None:
    app = create_app(_settings(tmp_path, max_waiting_per_process=1, timeout_seconds=1.5), store)
    first: list = []
    waiting = threading.Thread(target=lambda: first.append(app.test_client().post(URL, json=_report(0), headers=FHIR)))
    waiting.start()
    try:
        # Once the first request waits on its preview, this process has no waiting place left.
        deadline = time.monotonic() + 5
        while store.preview_counts()["queued"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        resp = app.test_client().post(URL, json=_report(1), headers=FHIR)
        body = _outcome(resp, 429, "throttled")
        assert "preview.max_waiting_per_process" in body["issue"][0]["diagnostics"]
    finally:
        waiting.join(10)
    assert first[0].status_code == 503  # no worker here
    # The place is given back: with a worker the next one is answered.
    stop = threading.Event()
    thread = _answer_previews(store, stop)
    try:
        assert app.test_client().post(URL, json=_report(1), headers=FHIR).status_code == 200
    finally:
        stop.set()
        thread.join(5)


def test_the_intake_checks_come_first_and_queue_nothing(tmp_path, store) -> None:
    http = create_app(_settings(tmp_path, timeout_seconds=0.2), store).test_client()
    bad = _report()
    bad["status"] = "scribbled"
    _outcome(http.post(URL, json=bad, headers=FHIR), 422, "code-invalid")
    anonymous = _report()
    anonymous.pop("id")
    anonymous.pop("identifier", None)
    assert http.post(URL, json=anonymous, headers=FHIR).status_code == 422
    assert sum(store.preview_counts().values()) == 0


def test_the_web_process_never_imports_the_inference_runtime(tmp_path) -> None:
    """A $preview through the app, answered by a stand-in worker, in a fresh interpreter: no
    ctranslate2, transformers or integration.inference in sys.modules afterwards (they are what
    made a web process grow by a model's size)."""
    script = f"""
import json, sys, threading
sys.path.insert(0, {str(ROOT)!r})
from integration.intake.http.app import create_app
from integration.samples import sample_diagnostic_reports
from integration.settings import Settings, check_settings
from integration.store import JobStore
store = JobStore("sqlite:///{tmp_path / 'jobs.sqlite'}")
stop = threading.Event()
def answer():  # a stand-in worker, no model
    while not stop.is_set():
        claimed = store.claim_preview("stub")
        if claimed is None:
            stop.wait(0.01)
        else:
            store.finish_preview(claimed.id, "stub", result=json.loads({json.dumps(ANSWER)!r}))
thread = threading.Thread(target=answer, daemon=True)
thread.start()
settings = Settings.model_validate({{"store": {{"url": store.url}}, "intake": {{"auth": {{"mode": "open"}}}},
                                    "audit": {{"file": None}}}})
assert check_settings(settings) == []  # what every service runs at start (integration.wsgi too)
resp = create_app(settings, store).test_client().post({URL!r}, json=sample_diagnostic_reports()[8],
                                                      headers={{"Content-Type": "application/fhir+json"}})
stop.set(); thread.join(5)
heavy = [m for m in ("ctranslate2", "transformers", "tokenizers", "torch", "integration.inference",
                     "integration.inference.worker", "integration.inference.dry_run") if m in sys.modules]
print(json.dumps({{"status": resp.status_code, "heavy": heavy}}))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"status": 200, "heavy": []}, found
