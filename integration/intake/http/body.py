"""Reading a FHIR JSON request body: content type (415), size (413), JSON syntax (400).

Duplicate keys are an error (a JSON parser would silently keep the last one, and two
systems could then disagree on what a report says); so are NaN/Infinity, which are not JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from integration.fhir.report import parse_content_type
from integration.intake.http.errors import ApiError

JSON_TYPES = ("application/fhir+json", "application/json")
# Objects and arrays nested deeper than this are refused (400). A real Bundle of reports nests
# about 15 deep; validation (fhir.resources), FHIRPath routing and deepcopy all recurse, and a
# few hundred levels of extension-in-extension exhaust the stack (a 500, and in a worker thread
# worse).
MAX_JSON_DEPTH = 100
_ELEMENT = re.compile(r"^_?[A-Za-z][A-Za-z0-9_]{0,63}$")
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")


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


class _BadConstant(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _BadConstant(name)


def parse_json(data: bytes) -> Any:
    """Strict JSON; raises ApiError(400) with an OperationOutcome issue."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError.simple(400, "the body is not valid UTF-8") from None
    if not text.strip():
        raise ApiError.simple(400, "the body is empty; send a FHIR resource")
    duplicates: dict[int, str] = {}

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in pairs:
            if key in obj and id(obj) not in duplicates:
                duplicates[id(obj)] = key
            obj[key] = value
        return obj

    try:
        value = json.loads(text, object_pairs_hook=pairs_hook, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ApiError.simple(400, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except _BadConstant:
        raise ApiError.simple(400, "malformed JSON: NaN and Infinity are not JSON numbers") from None
    except ValueError:
        raise ApiError.simple(400, "malformed JSON: a number cannot be read") from None
    except RecursionError:
        raise ApiError.simple(400, "JSON nested too deeply") from None
    if _too_deep(value, MAX_JSON_DEPTH):
        raise ApiError.simple(400, f"JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)") from None
    if duplicates:
        path = _find_duplicate(value, duplicates)
        raise ApiError.simple(400, "duplicate key in a JSON object", *([path] if path else []), code="structure")
    return value


def _too_deep(root: Any, limit: int) -> bool:
    """Whether objects/arrays nest more than ``limit`` levels (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(root, 1)] if isinstance(root, (dict, list)) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in (node.values() if isinstance(node, dict) else node):
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def _find_duplicate(root: Any, duplicates: dict[int, str]) -> str | None:
    """FHIRPath of the first duplicated key, e.g. ``DiagnosticReport.subject.reference``."""
    rtype = root.get("resourceType") if isinstance(root, dict) else None
    start = rtype if isinstance(rtype, str) and _TYPE.match(rtype) else "$this"
    stack: list[tuple[Any, str]] = [(root, start)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            if id(node) in duplicates:
                key = duplicates[id(node)]
                return f"{path}.{key}" if _ELEMENT.match(key) else path
            for key, child in reversed(list(node.items())):
                if isinstance(child, (dict, list)):
                    stack.append((child, f"{path}.{key}" if _ELEMENT.match(key) else path))
        elif isinstance(node, list):
            for i in range(len(node) - 1, -1, -1):
                if isinstance(node[i], (dict, list)):
                    stack.append((node[i], f"{path}[{i}]"))
    return None


def json_resource() -> dict[str, Any]:
    """Content type, size and syntax checked; the body as a JSON object."""
    check_content_type()
    value = parse_json(read_body())
    if not isinstance(value, dict):
        raise ApiError.simple(400, "the body must be a JSON object (one FHIR resource)")
    return value
