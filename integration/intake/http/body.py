"""Reading a FHIR JSON request body: content type (415), size (413), JSON syntax (400; the strict
rules are integration/fhir/strict_json.py's: no duplicate keys, no NaN/Infinity, bounded nesting).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from integration.fhir.report import parse_content_type
from integration.fhir.strict_json import JsonError, parse_strict_json
from integration.intake.http.errors import ApiError

JSON_TYPES = ("application/fhir+json", "application/json")


def check_content_type() -> None:
    ctype = request.headers.get("Content-Type")
    if not ctype:
        raise ApiError.simple(415, "Content-Type is required: application/fhir+json or application/json")
    mime, params = parse_content_type(ctype)
    if mime not in JSON_TYPES:
        raise ApiError.simple(415, "unsupported Content-Type; use application/fhir+json or application/json")
    charset = params.get("charset")
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise ApiError.simple(415, "unsupported charset; FHIR JSON is UTF-8")
    version = params.get("fhirversion")
    if version is not None and not version.startswith("4."):
        raise ApiError.simple(415, "unsupported fhirVersion; this endpoint takes FHIR R4 (4.0) or R4B (4.3)")
    encoding = request.headers.get("Content-Encoding")
    if encoding and encoding.strip().lower() != "identity":
        raise ApiError.simple(415, "Content-Encoding is not supported; send the body uncompressed")


def read_body() -> bytes:
    """The raw body, at most ``MAX_CONTENT_LENGTH`` bytes, with Content-Length or chunked."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None:
        if request.content_length > limit:
            raise RequestEntityTooLarge()
        stream = request.stream  # Werkzeug stops it at Content-Length
    elif request.environ.get("wsgi.input_terminated"):
        # Chunked, delimited by the server. Read it ourselves, one byte past the limit, so a body
        # of exactly the limit passes (Werkzeug's own wrapper cannot tell the two apart).
        stream = request.environ["wsgi.input"]
    elif "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        # The WSGI server cannot delimit a chunked body for us: we would read nothing.
        raise ApiError.simple(411, "chunked bodies are not supported by this server; send Content-Length")
    else:
        return b""
    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            chunk = stream.read(min(65536, limit + 1 - total))
        except HTTPException:
            raise  # Werkzeug's ClientDisconnected (400) and the like already answer for themselves
        except Exception:  # noqa: BLE001 -- each WSGI server raises its own types (below)
            # The WSGI server could not deliver the body: broken chunked framing raises its own
            # types (gunicorn: InvalidChunkSize, a ParseException; Werkzeug: OSError). That is the
            # request's fault, not ours: 400, not 500.
            raise ApiError.simple(400, "the request body could not be read (malformed chunked encoding?)") from None
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise RequestEntityTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(data: bytes) -> Any:
    """Strict JSON (integration/fhir/strict_json.py); raises ApiError(400) with an OperationOutcome issue."""
    try:
        return parse_strict_json(data)
    except JsonError as exc:
        raise ApiError.simple(400, exc.message, *([exc.path] if exc.path else []), code=exc.code) from None


def json_resource() -> dict[str, Any]:
    """Content type, size and syntax checked; the body as a JSON object."""
    check_content_type()
    value = parse_json(read_body())
    if not isinstance(value, dict):
        raise ApiError.simple(400, "the body must be a JSON object (one FHIR resource)")
    return value
