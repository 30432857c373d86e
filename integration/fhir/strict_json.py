"""Strict JSON for FHIR resources, wherever they come from (the HTTP intake, ``radlite preview
FILE``): UTF-8, no duplicate keys (a JSON parser would silently keep the last one, and two systems
could then disagree on what a report says), no NaN/Infinity (not JSON), bounded nesting.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Objects and arrays nested deeper than this are refused. A real Bundle of reports nests about 15
# deep; validation (fhir.resources), FHIRPath routing and deepcopy all recurse, and a few hundred
# levels of extension-in-extension exhaust the stack (a 500, and in a worker thread worse).
MAX_JSON_DEPTH = 100
_ELEMENT = re.compile(r"^_?[A-Za-z][A-Za-z0-9_]{0,63}$")
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")


class JsonError(ValueError):
    """Not acceptable JSON: ``message`` for an OperationOutcome issue, ``path`` (a FHIRPath, when
    known) and the issue ``code`` (None: the HTTP status's usual code)."""

    def __init__(self, message: str, path: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message, self.path, self.code = message, path, code


class _BadConstant(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _BadConstant(name)


def parse_strict_json(data: bytes) -> Any:
    """Strict JSON; raises :class:`JsonError` saying what is wrong and where."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonError("the body is not valid UTF-8") from None
    if not text.strip():
        raise JsonError("the body is empty; send a FHIR resource")
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
        raise JsonError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except _BadConstant:
        raise JsonError("malformed JSON: NaN and Infinity are not JSON numbers") from None
    except ValueError:
        raise JsonError("malformed JSON: a number cannot be read") from None
    except RecursionError:
        raise JsonError("JSON nested too deeply") from None
    if _too_deep(value, MAX_JSON_DEPTH):
        raise JsonError(f"JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)") from None
    if duplicates:
        path = _find_duplicate(value, duplicates)
        raise JsonError("duplicate key in a JSON object", path, code="structure")
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
