"""One structlog configuration: JSON lines, UTC, correlation id, stdlib through the same
processors, the PHI guard; audit events in the log and the chained file; the event catalogue."""

from __future__ import annotations

import ast
import io
import json
import logging
import re
from pathlib import Path

import pytest
import structlog

import integration.audit as audit_mod
from integration.audit import (
    audit,
    bind_correlation_id,
    clear_context,
    configure_logging,
    get_logger,
    guard_phi,
    hash_id,
    set_secret,
)
from integration.audit.chain import verify

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def logs():
    """Configure logging into a buffer; put the process back as it was afterwards."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    buf = io.StringIO()
    yield buf
    structlog.configure(**saved)
    root.handlers[:] = [h for h in handlers if not type(h).__module__.startswith("_pytest")]
    root.setLevel(level)
    audit_mod.configure_audit_file(None)
    clear_context()
    set_secret(None)


def parsed(buf: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


def test_json_lines_with_utc_level_and_correlation_id(logs) -> None:
    configure_logging("INFO", logs)
    bind_correlation_id("req-1")
    get_logger("radlite.test").info("thing.happened", count=2)
    logging.getLogger("some.library").warning("library says %s", "hi")
    get_logger("radlite.test").debug("not.shown")
    clear_context()
    get_logger("radlite.test").info("after.clear")
    a, b, c = parsed(logs)
    assert a["event"] == "thing.happened" and a["level"] == "info" and a["correlation_id"] == "req-1"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$", a["timestamp"])
    assert b["event"] == "library says hi" and b["level"] == "warning" and b["logger"] == "some.library"
    assert b["correlation_id"] == "req-1" and b["timestamp"].endswith("Z")
    assert "correlation_id" not in c


def test_noisy_url_loggers_are_quiet(logs) -> None:
    configure_logging("DEBUG", logs)
    logging.getLogger("urllib3.connectionpool").debug('http://ehr "GET /fhir/DiagnosticReport/rep-1 HTTP/1.1" 200')
    logging.getLogger("werkzeug").info('"GET /jobs/x HTTP/1.1" 200')
    assert "rep-1" not in logs.getvalue() and "/jobs/x" not in logs.getvalue()


def test_guard_redacts_free_text_and_hashes_raw_ids(logs) -> None:
    out = guard_phi(None, "info", {"event": "x", "text": "FINDINGS: ...", "report": "DiagnosticReport/r1",
                                   "patient": ["pat-1", None], "nested": {"name": "Quentin"}, "count": 3,
                                   "job": "abc"})
    assert out["text"] == "[redacted]" and out["nested"] == {"name": "[redacted]"}
    assert out["report"] == hash_id("DiagnosticReport/r1") and out["patient"][0] == hash_id("pat-1")
    assert out["count"] == 3 and out["job"] == "abc" and out["event"] == "x"
    assert out["phi_guard"] == ["nested.name", "patient", "report", "text"]
    assert "phi_guard" not in guard_phi(None, "info", {"event": "x", "report": hash_id("r"), "job": "j"})

    configure_logging("INFO", logs)
    get_logger().info("oops", raw="the model said Quentin", value="Quentin Testpatient")
    logging.getLogger("lib").warning("x", extra={"conclusion": "Quentin"})
    assert "Quentin" not in logs.getvalue()


def test_hash_id_is_keyed(logs) -> None:
    set_secret("site-a")
    a = hash_id("DiagnosticReport/1")
    set_secret(b"site-b")
    assert a != hash_id("DiagnosticReport/1") and re.match(r"^h:[0-9a-f]{16}$", a)
    assert hash_id(None) is None


def test_audit_goes_to_log_and_chained_file(logs, tmp_path) -> None:
    path = tmp_path / "audit.jsonl"
    configure_logging("WARNING", logs, audit_file=path)  # the file gets audit events at any log level
    bind_correlation_id("req-9")
    audit("job.queued", job="j1", report=hash_id("DiagnosticReport/r"), seq=5, text="leak")
    configure_logging("INFO", logs, audit_file=path)
    bind_correlation_id("req-9")
    audit("job.inferred", job="j1", tasks=2)
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["event"] for r in recs] == ["job.queued", "job.inferred"]
    assert recs[0]["correlation_id"] == "req-9" and recs[0]["seq"] == 1 and recs[0]["seq_"] == 5
    assert recs[0]["text"] == "[redacted]" and recs[0]["ts"].endswith("Z") and list(recs[0])[:3] == ["seq", "ts", "event"]
    line = parsed(logs)[-1]
    assert line["event"] == "job.inferred" and line["audit"] is True
    assert (line["audit_seq"], line["audit_hash"]) == (2, recs[1]["hash"])
    assert verify([path]).ok


def test_audit_without_a_file_only_logs(logs) -> None:
    configure_logging("INFO", logs)
    audit("worker.started", owner="h:0000000000000000")
    (line,) = parsed(logs)
    assert line["event"] == "worker.started" and "audit_seq" not in line


def test_audit_file_error_is_logged_not_raised(logs, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    configure_logging("INFO", logs, audit_file=blocker / "audit.jsonl")
    audit("job.queued", job="j")
    assert parsed(logs)[-1]["audit_file_error"] in ("NotADirectoryError", "FileExistsError", "OSError")


# -- the event catalogue (docs/audit.md) -------------------------------------------------------


def _emitted() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Event names in the code: audit("...") calls, AuditAggregate("...") (counted events, audited
    once per window: integration/audit/aggregate.py) and structlog log.<level>("...") calls."""
    audits: dict[str, set[str]] = {}
    logs_: dict[str, set[str]] = {}
    for path in (ROOT / "integration").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            f = node.func
            is_audit = (isinstance(f, ast.Name) and f.id in ("audit", "AuditAggregate")) or (
                isinstance(f, ast.Attribute) and f.attr in ("audit", "AuditAggregate"))
            is_log = (isinstance(f, ast.Attribute) and f.attr in ("debug", "info", "warning", "error", "exception")
                      and isinstance(f.value, ast.Name) and f.value.id == "log")
            if not (is_audit or is_log):
                continue
            names = {n.value for n in ast.walk(node.args[0]) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
            for name in names:
                (audits if is_audit else logs_).setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return audits, logs_


def test_every_event_is_in_the_catalogue() -> None:
    audits, logs_ = _emitted()
    assert {"request.received", "job.queued", "inference.finished", "writeback.succeeded"} <= set(audits)
    doc = (ROOT / "docs" / "audit.md").read_text(encoding="utf-8")
    section = doc.split("## Event catalogue", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\|\s*`([a-z_]+(?:\.[a-z_]+)+)`", section, flags=re.M))
    missing = {n: sorted(where) for n, where in {**audits, **logs_}.items() if n not in rows}
    assert not missing, f"events missing from the catalogue in docs/audit.md: {missing}"
    stale = rows - set(audits) - set(logs_)
    assert not stale, f"catalogue lists events no code emits: {sorted(stale)}"
