"""OperationOutcome JSON, not HTML, for the errors gunicorn answers itself.

Some requests never reach the Flask app, because gunicorn cannot parse them into one: a request
line over ``limit_request_line`` (414), a header over ``limit_request_field_size`` or more than
``limit_request_fields`` headers (431), a malformed request line or header, conflicting
``Content-Length`` and ``Transfer-Encoding`` or broken chunked framing (400), an unsupported
transfer coding (501). gunicorn answers those with a small HTML page, and has no setting to change
that. Every one of those answers is written by one function, ``gunicorn.util.write_error(sock,
status_int, reason, mesg)``, called from ``Worker.handle_error``; :func:`install` (run by
``deploy/gunicorn.conf.py``) replaces it with :func:`write_error`, which writes the same status with
an OperationOutcome like the app's own errors.

The replacement is checked, not assumed: :func:`install` replaces the function only when it has the
signature this module was written against (gunicorn 23-27), and says so when it does not -- the
answers then stay HTML, nothing breaks. tests/reliability/test_hardening_intake.py runs a real
gunicorn and fails if they are not JSON.

gunicorn's message (``mesg``) quotes the offending request line or header; it is not copied into
the answer (an OperationOutcome never echoes input), only the status and a fixed explanation are.
What still is not JSON: requests gunicorn drops without an answer (a client that sends nothing or
too slowly), and whatever a reverse proxy in front answers itself (its own 413/502/504 pages):
configure those there (docs/deploy.md, "Errors outside the app").
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from integration.audit import get_logger

log = get_logger("radlite.gunicorn")

# gunicorn's status -> what to tell the client, in our words (the settings named are gunicorn's).
_DIAGNOSTICS = {
    400: "the request could not be read as HTTP/1.1: malformed request line or header, conflicting "
         "Content-Length and Transfer-Encoding, or malformed chunked encoding",
    403: "request forbidden by the server",
    414: "the request line is longer than the server accepts (gunicorn limit_request_line)",
    417: "the Expect header is not supported",
    431: "request headers too large: a header longer than the server accepts (gunicorn "
         "limit_request_field_size) or too many headers (limit_request_fields)",
    500: "internal error; the server log has it",
    501: "the Transfer-Encoding is not supported; send Content-Length or chunked",
}
# FHIR issue-type per status.
_CODES = {400: "structure", 403: "forbidden", 414: "too-long", 417: "not-supported", 431: "too-long",
          500: "exception", 501: "not-supported"}
_SIGNATURE = ["sock", "status_int", "reason", "mesg"]
_installed = False


def outcome_body(status: int) -> bytes:
    """The OperationOutcome for one of gunicorn's error statuses, as UTF-8 JSON."""
    # Built by hand, in the shape of integration.fhir.outcome's: this runs in gunicorn's error path,
    # where nothing may fail and nothing of the app need be loaded.
    body = {"resourceType": "OperationOutcome", "issue": [{
        "severity": "error" if status < 500 else "fatal",
        "code": _CODES.get(status, "processing" if status < 500 else "exception"),
        "diagnostics": _DIAGNOSTICS.get(status, "the request could not be handled"),
    }]}
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def write_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for ``gunicorn.util.write_error``: the same status line and ``Connection: close``,
    an OperationOutcome body instead of HTML. ``mesg`` (which quotes the request) is not sent."""
    from gunicorn import util  # noqa: PLC0415 -- optional dependency (gunicorn, the deploy extra)

    body = outcome_body(int(status_int))
    # ``reason`` is gunicorn's own phrase ("Bad Request", "URI Too Long"...), never request data.
    head = (f"HTTP/1.1 {int(status_int)} {reason}\r\n"
            "Connection: close\r\n"
            "Content-Type: application/fhir+json; charset=utf-8\r\n"
            "Cache-Control: no-store\r\n"
            f"Content-Length: {len(body)}\r\n"
            "\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


def install() -> bool:
    """Make gunicorn answer its own errors with :func:`write_error`. True when installed (or already
    so); False, with a warning in gunicorn's error log, when this gunicorn's ``write_error`` is not
    the function this module replaces (its answers then stay HTML)."""
    global _installed
    if _installed:
        return True
    try:
        from gunicorn import util  # noqa: PLC0415 -- optional dependency (gunicorn, the deploy extra)
    except ImportError:
        return False
    original = getattr(util, "write_error", None)
    try:
        params = list(inspect.signature(original).parameters) if callable(original) else []
    except (TypeError, ValueError):
        params = []
    if params != _SIGNATURE:
        # This gunicorn's write_error is not write_error(sock, status_int, reason, mesg): its own
        # error answers (400/414/431...) stay HTML.
        log.warning("gunicorn.error_pages_not_replaced", found=params)
        return False
    util.write_error = write_error
    _installed = True
    return True
