"""DiagnosticReport text extraction and validation.

:func:`report_text` finds the report's text, in order of preference:

1. ``presentedForm`` with contentType ``text/plain`` (base64 ``data``, ``charset`` honoured,
   UTF-8 by default);
2. ``presentedForm`` with contentType ``text/html`` (or ``application/xhtml+xml``), turned into
   plain text by :mod:`integration.fhir.html_text`;
3. ``conclusion``;
4. the narrative ``text.div`` (XHTML).

:func:`check_report` validates with ``fhir.resources.R4B`` and adds what that model does not
check: the resource type, the status value set, a subject reference, an id or identifier (the job
store's idempotency key), some report text, base64 that decodes and content types we can read.
Every :class:`Issue` names the element by FHIRPath and never quotes the input.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from dataclasses import dataclass
from typing import Any, Iterable

from pydantic import ValidationError

from integration.fhir.html_text import html_to_text, normalize_text
from integration.fhir.issues import Issue

ROOT = "DiagnosticReport"

# http://hl7.org/fhir/R4/valueset-diagnostic-report-status.html
REPORT_STATUSES = frozenset({
    "registered", "partial", "preliminary", "final", "amended", "corrected", "appended",
    "cancelled", "entered-in-error",
})
# R4 DiagnosticReport.subject: Reference(Patient | Group | Device | Location)
SUBJECT_TYPES = frozenset({"Patient", "Group", "Device", "Location"})
PLAIN_TYPES = frozenset({"text/plain"})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
SUPPORTED_TYPES = PLAIN_TYPES | HTML_TYPES

MAX_ISSUES = 50
_ELEMENT = re.compile(r"^_?[A-Za-z][A-Za-z0-9_]{0,63}$")
_RELATIVE_REF = re.compile(r"^(?:.*/)?([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?$")
# FHIR id (and versionId): 1-64 of [A-Za-z0-9\-.]. The R4B model checks the characters but not the
# length, and the pattern allows "." and "..": an id made only of dots is refused too, so an id or
# version is never a path step in the references and URLs built from it downstream.
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
# What the job store keeps in indexed columns (integration/store/models.py: report_key and
# subject_ref are VARCHAR(512) on PostgreSQL, which also refuses NUL): longer or control
# characters would fail the insert with a 500 instead of a 422.
MAX_KEY_CHARS = 512
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ReportTextError(ValueError):
    """The report carries no text we can read (a validated report always does)."""


# -- content types and attachments -------------------------------------------------------------


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """``"text/plain; charset=ISO-8859-1"`` → ``("text/plain", {"charset": "ISO-8859-1"})``."""
    parts = value.split(";")
    mime = parts[0].strip().lower()
    params: dict[str, str] = {}
    for part in parts[1:]:
        if "=" in part:
            k, v = part.split("=", 1)
            params[k.strip().lower()] = v.strip().strip('"')
    return mime, params


def decode_base64(data: str) -> bytes:
    """Strict base64 (the FHIR base64Binary alphabet; whitespace allowed, as the spec's regex does)."""
    return base64.b64decode("".join(data.split()), validate=True)


@dataclass(frozen=True)
class _Text:
    rank: int  # 0 plain, 1 html, 2 conclusion, 3 narrative: lower is preferred
    text: str
    path: str = ROOT  # the element it came from, as FHIRPath (evidence offsets point into it)


def _attachment_texts(resource: dict[str, Any]) -> tuple[list[_Text], list[Issue], list[Issue]]:
    """Texts from presentedForm, issues that are always errors, and "unsupported" issues whose
    severity depends on whether any text was found elsewhere."""
    texts: list[_Text] = []
    errors: list[Issue] = []
    unsupported: list[Issue] = []
    forms = resource.get("presentedForm")
    if not isinstance(forms, list):
        return texts, errors, unsupported
    for i, att in enumerate(forms):
        where = f"{ROOT}.presentedForm[{i}]"
        if not isinstance(att, dict):
            continue
        data, ctype = att.get("data"), att.get("contentType")
        if data is None or data == "":
            if att.get("url"):
                unsupported.append(Issue.warning(
                    "not-supported", "attachments by URL are not fetched; send the text base64 in data", f"{where}.url"))
            continue
        if not isinstance(data, str):
            continue  # a type error the R4B model reports
        try:
            raw = decode_base64(data)
        except (binascii.Error, ValueError):
            errors.append(Issue.error("value", "attachment data is not valid base64", f"{where}.data"))
            continue
        if not isinstance(ctype, str) or not ctype.strip():
            errors.append(Issue.error("required", "an attachment with data needs a contentType (att-1)", f"{where}.contentType"))
            continue
        mime, params = parse_content_type(ctype)
        if mime not in SUPPORTED_TYPES:
            unsupported.append(Issue.warning(
                "not-supported", "attachment content type not supported; use text/plain or text/html",
                f"{where}.contentType"))
            continue
        charset = params.get("charset", "utf-8")
        try:
            codec = codecs.lookup(charset)
            # lookup also finds bytes-to-bytes codecs (base64, zlib, rot13...), which are no charset:
            # encoding text with them raises LookupError.
            "".encode(codec.name)
        except (LookupError, ValueError):  # ValueError: a NUL or a lone surrogate in the name
            errors.append(Issue.error("not-supported", "attachment charset is not known", f"{where}.contentType"))
            continue
        try:
            decoded = raw.decode("utf-8-sig" if codec.name == "utf-8" else codec.name)
        except UnicodeError:  # UnicodeDecodeError, or the plain UnicodeError of e.g. punycode
            errors.append(Issue.error("value", f"attachment data does not decode as {codec.name}", f"{where}.data"))
            continue
        if mime in PLAIN_TYPES:
            texts.append(_Text(0, normalize_text(decoded), where))
        else:
            texts.append(_Text(1, html_to_text(decoded), where))
    return texts, errors, unsupported


def _texts(resource: dict[str, Any]) -> tuple[list[_Text], list[Issue]]:
    texts, errors, unsupported = _attachment_texts(resource)
    conclusion = resource.get("conclusion")
    if isinstance(conclusion, str):
        texts.append(_Text(2, normalize_text(conclusion), f"{ROOT}.conclusion"))
    narrative = resource.get("text")
    if isinstance(narrative, dict) and isinstance(narrative.get("div"), str):
        texts.append(_Text(3, html_to_text(narrative["div"]), f"{ROOT}.text.div"))
    texts = [t for t in texts if t.text]
    if not texts:
        # Nothing readable: what we could not read is the reason, so it is an error.
        unsupported = [Issue("error", u.code, u.diagnostics, u.expression) for u in unsupported]
    return texts, errors + unsupported


def report_text(resource: dict[str, Any]) -> str:
    """The report's text (see the module docstring for the order of preference).

    Raises :class:`ReportTextError` when there is none; :func:`check_report` rejects such reports
    at intake, so a stored job always has text.
    """
    return report_text_and_path(resource)[0]


def report_text_and_path(resource: dict[str, Any]) -> tuple[str, str]:
    """The report's text and the FHIRPath of the element it was read from ("DiagnosticReport.
    presentedForm[0]", "DiagnosticReport.conclusion"): evidence offsets count characters of this
    text, which is the element's content after base64/charset decoding and HTML-to-text."""
    texts, _ = _texts(resource)
    if not texts:
        raise ReportTextError("the report carries no readable text")
    best = min(texts, key=lambda t: t.rank)
    return best.text, best.path


# -- validation ------------------------------------------------------------------------------------


_PYDANTIC_CODES = {
    "missing": "required",
    "model_field_validation.missing": "required",
    "extra_forbidden": "structure",
    "string_too_long": "too-long",
    "too_long": "too-long",
    "fhir-validation-wrong-resource-type": "invalid",
}


def loc_to_expression(loc: Iterable[Any], root: str = ROOT) -> str:
    expr = root
    for part in loc:
        if isinstance(part, int):
            expr += f"[{part}]"
        elif part == "resource_type":
            expr += ".resourceType"
        elif isinstance(part, str) and _ELEMENT.match(part):
            expr += f".{part}"
        # anything else (pydantic's validator names, odd keys) is left out of the path
    return expr


_MESSAGES = {
    "missing": "a required element is missing",
    "model_field_validation.missing": "a required element is missing",
    "extra_forbidden": "element not defined for this resource in FHIR R4/R4B",
}


def _safe_message(err: dict[str, Any]) -> str:
    if str(err.get("type")) in _MESSAGES:
        return _MESSAGES[str(err.get("type"))]
    msg = " ".join(str(err.get("msg", "")).split())
    value = err.get("input")
    if isinstance(value, str) and len(value) >= 3 and value in msg:
        msg = msg.replace(value, "…")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return msg[:200]


def pydantic_issue(err: dict[str, Any], root: str = ROOT) -> Issue:
    """One pydantic validation error as an Issue, its ``loc`` as a FHIRPath from ``root``."""
    etype = str(err.get("type", ""))
    loc = tuple(err.get("loc") or ())
    if etype in _PYDANTIC_CODES:
        code = _PYDANTIC_CODES[etype]
    elif etype.endswith("_type") or etype in ("model_attributes_type", "is_instance_of"):
        code = "structure"
    elif not loc:
        code = "invariant"  # a rule across elements, e.g. two choices of effective[x]
    else:
        code = "value"
    return Issue.error(code, _safe_message(err), loc_to_expression(loc, root))


def r4b_issues(resource: dict[str, Any]) -> list[Issue]:
    from fhir.resources.R4B.diagnosticreport import DiagnosticReport

    try:
        DiagnosticReport.model_validate(resource)
    except ValidationError as exc:
        return [pydantic_issue(e) for e in exc.errors(include_url=False)]
    except RecursionError:
        # fhir.resources validates nested elements (extension in extension...) by recursion: a
        # deep enough resource exhausts the stack. The intake bounds JSON depth before this
        # (integration.api.body); pulled reports reach here unbounded.
        return [Issue.error("structure", "the resource is nested too deeply to validate", ROOT)]
    except (TypeError, ValueError) as exc:  # pragma: no cover - the model raises ValidationError
        return [Issue.error("structure", f"not a valid DiagnosticReport ({type(exc).__name__})", ROOT)]
    return []


def is_fhir_id(value: Any) -> bool:
    """A FHIR id (1-64 of ``[A-Za-z0-9\\-.]``) that is not only dots."""
    return isinstance(value, str) and bool(_FHIR_ID.match(value)) and value.strip(".") != ""


def _key_issue(value: str, what: str, expression: str) -> Issue | None:
    if len(value) > MAX_KEY_CHARS:
        return Issue.error("too-long", f"{what} is longer than {MAX_KEY_CHARS} characters", expression)
    if _CONTROL.search(value):
        return Issue.error("value", f"{what} contains control characters", expression)
    return None


def _subject_issues(resource: dict[str, Any]) -> list[Issue]:
    subject = resource.get("subject")
    if subject is None:
        return [Issue.error("required", "subject is required: the patient the report is about", f"{ROOT}.subject")]
    if not isinstance(subject, dict):
        return []  # a structure issue from the R4B model
    ref = subject.get("reference")
    if not isinstance(ref, str) or not ref.strip():
        return [Issue.error("required", "subject needs a reference (e.g. Patient/123)", f"{ROOT}.subject.reference")]
    bad = _key_issue(ref, "subject.reference", f"{ROOT}.subject.reference")
    if bad is not None:
        return [bad]
    m = _RELATIVE_REF.match(ref)
    if m and m.group(1) not in SUBJECT_TYPES:
        return [Issue.error("value", "subject must reference a Patient, Group, Device or Location",
                            f"{ROOT}.subject.reference")]
    return []


def _identity_issues(resource: dict[str, Any]) -> list[Issue]:
    """The job store's idempotency key (id or first identifier, and meta.versionId) is usable."""
    out: list[Issue] = []
    meta = resource.get("meta")
    version = meta.get("versionId") if isinstance(meta, dict) else None
    if isinstance(version, str) and not is_fhir_id(version):
        out.append(Issue.error("value", "meta.versionId is not a valid FHIR id (1-64 of A-Z a-z 0-9 - ., "
                               "not only dots)", f"{ROOT}.meta.versionId"))
    rid = resource.get("id")
    if isinstance(rid, str) and rid:
        if not is_fhir_id(rid):
            out.append(Issue.error("value", "id is not a valid FHIR id (1-64 of A-Z a-z 0-9 - ., not only dots)",
                                   f"{ROOT}.id"))
        return out
    idents = resource.get("identifier")
    if isinstance(idents, list):
        for n, ident in enumerate(idents):
            if isinstance(ident, dict) and ident.get("value"):
                # The store's key is "identifier:<system>|<value>" of this first identifier with a value.
                key = f"identifier:{ident.get('system', '')}|{ident['value']}"
                bad = _key_issue(key, "the identifier (system and value)", f"{ROOT}.identifier[{n}]")
                return out + ([bad] if bad is not None else [])
    return out + [Issue.error("required", "the report needs an id or an identifier with a value", f"{ROOT}.id",
                              f"{ROOT}.identifier")]


def _status_issues(resource: dict[str, Any]) -> list[Issue]:
    status = resource.get("status")
    if status is None:
        return [Issue.error("required", "status is required", f"{ROOT}.status")]
    if isinstance(status, str) and status not in REPORT_STATUSES:
        return [Issue.error("code-invalid", "status is not a code of the R4 diagnostic-report-status value set ("
                            + "|".join(sorted(REPORT_STATUSES)) + ")", f"{ROOT}.status")]
    return []


def check_report(resource: Any) -> list[Issue]:
    """All issues with a DiagnosticReport; any with severity error means it cannot be queued."""
    if not isinstance(resource, dict):
        return [Issue.error("structure", "a DiagnosticReport must be a JSON object")]
    if resource.get("resourceType") != ROOT:
        return [Issue.error("invalid", "resourceType must be DiagnosticReport", "resourceType")]
    issues = r4b_issues(resource)
    texts, text_issues = _texts(resource)
    extra = _status_issues(resource) + _subject_issues(resource) + _identity_issues(resource) + text_issues
    if not texts and not any(i.is_error for i in text_issues):
        extra.append(Issue.error(
            "required", "no report text: give presentedForm (text/plain or text/html, base64 data), "
            "conclusion or a narrative text.div",
            f"{ROOT}.presentedForm", f"{ROOT}.conclusion", f"{ROOT}.text.div"))
    covered = {e for i in issues if i.is_error for e in i.expression}
    issues += [i for i in extra if not covered.intersection(i.expression)]
    if len(issues) > MAX_ISSUES:
        issues = issues[:MAX_ISSUES] + [Issue.info("informational", f"{len(issues) - MAX_ISSUES} more issues not shown")]
    return issues
