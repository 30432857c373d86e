"""DiagnosticReport text extraction and validation.

:func:`report_text` finds the report's text, in order of preference:

1. ``presentedForm`` with contentType ``text/plain`` (base64 ``data``, ``charset`` honoured,
   UTF-8 by default);
2. ``presentedForm`` with contentType ``text/html`` (or ``application/xhtml+xml``), turned into
   plain text by :mod:`integration.fhir.html_text`;
3. ``conclusion``;
4. the narrative ``text.div`` (XHTML).

:func:`check_report` validates with ``fhir.resources.R4B`` and adds what that model does not
check: the resource type, the status value set, a subject that names one Patient on the EHR's
server (see :func:`subject_reference_issue`), an id or identifier (the job store's idempotency
key), some report text, base64 that decodes and content types we can read. Every :class:`Issue`
names the element by FHIRPath and never quotes the input. Nothing is normalised: what passes is
stored exactly as it was sent.

:func:`oversize_issues` runs before it at intake: report text longer than the model can read
(``intake.max_report_chars``) is refused (413) before any attachment is decoded or HTML parsed.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import urlsplit

from pydantic import ValidationError

from integration.fhir.html_text import html_to_text, normalize_text
from integration.fhir.issues import Issue

ROOT = "DiagnosticReport"

# http://hl7.org/fhir/R4/valueset-diagnostic-report-status.html
REPORT_STATUSES = frozenset({
    "registered", "partial", "preliminary", "final", "amended", "corrected", "appended",
    "cancelled", "entered-in-error",
})
# R4 allows DiagnosticReport.subject to be a Patient, Group, Device or Location; the adapter
# writes its results into one patient's chart, so it takes Patient subjects only.
SUBJECT_TYPE = "Patient"
PLAIN_TYPES = frozenset({"text/plain"})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
SUPPORTED_TYPES = PLAIN_TYPES | HTML_TYPES

MAX_ISSUES = 50
_ELEMENT = re.compile(r"^_?[A-Za-z][A-Za-z0-9_]{0,63}$")
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


# -- size ------------------------------------------------------------------------------------------
#
# Why a size limit on report text at all: the worker tokenises the report before the engine can
# refuse it (integration.inference.engine.PromptTooLong), and tokenising megabytes costs far more
# memory than the model (a 4.8 MB conclusion took a worker from 743 to 1,564 MiB RSS before it was
# dead-lettered as 1,480,056 tokens). A report the model cannot read anyway is refused here, at
# intake, with 413, and never stored.
#
# The limit is a number of characters, derived from the engine's token limit so that it never
# refuses a report that could fit: every tokenizer the adapter ships cuts English text into tokens
# of about 4 characters (radlite-mini's SmolLM2 tokenizer: median 4.2, at most 6.1 characters per
# token over the 4,687 distinct reports of var/data-v2/test.jsonl), so a text longer than
# CHARS_PER_TOKEN_BOUND x max_input_tokens characters has more tokens than the engine takes.
# Only text made of long runs of one character (the vocabulary has tokens of up to 81 spaces or
# dashes) could pack more characters into a token; no report reads like that. The limit is
# deliberately loose: the worker still counts the real tokens (prompt included) and dead-letters
# a report that does not fit.

CHARS_PER_TOKEN_BOUND = 8
# HTML (the narrative text.div, text/html attachments) carries markup besides text: before parsing,
# its markup may be this many times the text limit; the text it holds is then held to the limit.
MARKUP_FACTOR = 4
# A character is at most 4 bytes in UTF-8, UTF-16, UTF-32 and the legacy charsets reports come in
# (ISO-8859-x, windows-125x, GB18030...), so attachment data of more than 4 bytes per allowed
# character decodes to more characters than allowed; base64 spends 4 characters on 3 bytes.
MAX_BYTES_PER_CHAR = 4


def report_char_limit(max_input_tokens: int, configured: int | None = None) -> int:
    """The most characters one report text element may hold: ``intake.max_report_chars`` when
    set, else ``CHARS_PER_TOKEN_BOUND`` x ``inference.max_input_tokens``."""
    return configured if configured is not None else CHARS_PER_TOKEN_BOUND * max_input_tokens


def _base64_bound(chars: int) -> int:
    """The longest base64 (whitespace left out) of a text of at most ``chars`` characters."""
    return -(-chars * MAX_BYTES_PER_CHAR // 3) * 4


def _too_long(what: str, expression: str) -> Issue:
    return Issue.error("too-long", f"{what}, more than the model can read (intake.max_report_chars)", expression)


def oversize_issues(resource: Any, max_chars: int) -> list[Issue]:
    """Report text elements too long for the model: an error (``too-long``) per element.

    Runs before anything else looks at the text, in two steps. First the elements' sizes as sent,
    without decoding anything: ``conclusion`` over ``max_chars`` characters, narrative markup over
    ``MARKUP_FACTOR`` x ``max_chars``, attachment base64 longer than any text within those limits
    could be. Only when all of them pass are attachments decoded and HTML turned into text (both
    now bounded), and each text is held to ``max_chars``. The intake answers these 413.
    """
    if not isinstance(resource, dict):
        return []
    issues: list[Issue] = []
    conclusion = resource.get("conclusion")
    if isinstance(conclusion, str) and len(conclusion) > max_chars:
        issues.append(_too_long(f"conclusion is longer than {max_chars} characters", f"{ROOT}.conclusion"))
    narrative = resource.get("text")
    div = narrative.get("div") if isinstance(narrative, dict) else None
    if isinstance(div, str) and len(div) > max_chars * MARKUP_FACTOR:
        issues.append(_too_long(f"the narrative text.div is longer than {max_chars * MARKUP_FACTOR} characters of "
                                f"markup", f"{ROOT}.text.div"))
    forms = resource.get("presentedForm")
    for i, att in enumerate(forms if isinstance(forms, list) else []):
        data = att.get("data") if isinstance(att, dict) else None
        if not isinstance(data, str):
            continue
        ctype = att.get("contentType")
        html = isinstance(ctype, str) and parse_content_type(ctype)[0] in HTML_TYPES
        chars = max_chars * (MARKUP_FACTOR if html else 1)
        bound = _base64_bound(chars)
        # Whitespace is allowed in base64 and decodes to nothing: count it out, but only for data
        # that is long enough to matter (splitting copies it).
        if len(data) > bound and len("".join(data.split())) > bound:
            issues.append(_too_long(f"attachment data is larger than any {'HTML' if html else 'text'} of {chars} "
                                    f"characters", f"{ROOT}.presentedForm[{i}]"))
    if issues:
        return issues
    texts, _ = _texts(resource)
    return [_too_long(f"the report text is longer than {max_chars} characters", t.path)
            for t in texts if len(t.text) > max_chars]


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
    from fhir.resources.R4B.diagnosticreport import DiagnosticReport  # noqa: PLC0415 -- fhir.resources models (~0.15 s) load on first validation

    try:
        DiagnosticReport.model_validate(resource)
    except ValidationError as exc:
        return [pydantic_issue(e) for e in exc.errors(include_url=False)]
    except RecursionError:
        # fhir.resources validates nested elements (extension in extension...) by recursion: a
        # deep enough resource exhausts the stack. The intake bounds JSON depth before this
        # (integration.intake.http.body); pulled reports reach here unbounded.
        return [Issue.error("structure", "the resource is nested too deeply to validate", ROOT)]
    except (TypeError, ValueError) as exc:  # pragma: no cover - the model raises ValidationError
        return [Issue.error("structure", f"not a valid DiagnosticReport ({type(exc).__name__})", ROOT)]
    return []


def report_identifier(resource: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """(position, identifier) of the identifier a report without an id is known by: the first
    with a value. One rule for the store's key, the write-back's reference to the report and its
    lookup on the EHR."""
    idents = resource.get("identifier")
    for n, ident in enumerate(idents if isinstance(idents, list) else []):
        if isinstance(ident, dict) and ident.get("value"):
            return n, ident
    return None


def is_fhir_id(value: Any) -> bool:
    """A FHIR id (1-64 of ``[A-Za-z0-9\\-.]``) that is not only dots: the pattern allows "." and
    ".."; no real report is called that, and refusing them means an id can never be read as a
    path step anywhere downstream. The one id check of the adapter (intake URLs included)."""
    return isinstance(value, str) and bool(_FHIR_ID.match(value)) and value.strip(".") != ""


def _key_issue(value: str, what: str, expression: str) -> Issue | None:
    if len(value) > MAX_KEY_CHARS:
        return Issue.error("too-long", f"{what} is longer than {MAX_KEY_CHARS} characters", expression)
    if _CONTROL.search(value):
        return Issue.error("value", f"{what} contains control characters", expression)
    return None


# -- subject ---------------------------------------------------------------------------------------
#
# Why the subject is checked this strictly: the write-back copies subject.reference into every
# Observation it writes (Observation.subject), and the job store finds a patient's earlier report
# (for temporal comparison) by the same string. A reference the EHR's server would resolve to
# another patient, or to nothing, would file results in the wrong chart or in none. So the only
# references accepted are those that name one Patient on the server the write-back writes to,
# spelled so that nobody can read them two ways.

# "<Type>/<id>" at the end of a reference, optionally followed by "/_history/<version>": what the
# reference claims to point at. The id and version are matched loosely here and checked after, so
# the message can say which part is wrong.
_TYPED_TAIL = re.compile(r"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[^/]*)(?:/_history/(?P<vid>[^/]*))?$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SUBJECT_SHAPE = ("subject.reference must be Patient/<id>, optionally followed by /_history/<version>, "
                  "or the same on the EHR server's base URL (ehr.base_url)")


def _url_parts(url: str) -> tuple[str, str, int | None, str] | None:
    """(scheme, host, port, path) of an http(s) URL, for comparing two spellings of one FHIR base:
    scheme and host lower-cased, a default port the same as none. None for anything that is not a
    plain http(s) URL: user info, a query or fragment, a backslash (which browsers and some proxies
    read as a slash)."""
    if any(c in url for c in "?#@\\"):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is no number, an unbalanced IPv6 bracket
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    return scheme, parts.hostname.lower(), port, parts.path


def _on_ehr_server(base: str, ehr_base_url: str) -> bool:
    """Whether ``base`` (what precedes ``/Patient/<id>`` in an absolute reference) is the configured
    EHR base. A trailing slash on the configured base is ignored; the path is otherwise compared as
    is (case-sensitive, no dot segments resolved, no percent-decoding), so ``/fhir/../fhir`` or
    ``/fhir/`` (a doubled slash before Patient) is not ``/fhir``."""
    ours = _url_parts(ehr_base_url.rstrip("/"))
    return ours is not None and _url_parts(base) == ours


def subject_reference_issue(ref: str, ehr_base_url: str | None = None) -> Issue | None:
    """Why ``ref`` (a DiagnosticReport.subject.reference) is refused; None when it names one Patient
    on the EHR's server.

    Accepted: ``Patient/<id>`` (relative, i.e. on the server the report came from and the results go
    to) and, when ``ehr_base_url`` is given, ``<ehr_base_url>/Patient/<id>``; either may end in
    ``/_history/<version>``. The id and version are FHIR ids, not only dots. ``ehr_base_url=None``
    means relative references only.
    """
    where = f"{ROOT}.subject.reference"
    bad = _key_issue(ref, "subject.reference", where)
    if bad is not None:
        return bad
    if any(unicodedata.category(c)[0] in "CZ" for c in ref):
        # Spaces and invisible characters (U+202E right-to-left override, zero-width space, BOM...):
        # a reference that displays as one patient's and resolves as another's, or as nobody's.
        return Issue.error("value", "subject.reference contains spaces or invisible formatting characters", where)
    if ref.startswith("#"):
        return Issue.error("value", "subject is a contained resource (#...): results are written to a chart on the "
                           "EHR's server, so subject must reference a Patient there (Patient/<id>)", where)
    if ref[:4].lower() == "urn:":
        return Issue.error("value", "subject is a urn: reference, which resolves only inside the Bundle it came in; "
                           "reference the Patient on the EHR's server (Patient/<id>)", where)
    tail = _TYPED_TAIL.search(ref)
    if tail is None:
        return Issue.error("value", _SUBJECT_SHAPE, where)
    if tail["type"] != SUBJECT_TYPE:
        return Issue.error("value", "subject must reference a Patient: results are written to one patient's chart "
                           "(Group, Device and Location subjects are not supported)", where)
    if not is_fhir_id(tail["id"]) or (tail["vid"] is not None and not is_fhir_id(tail["vid"])):
        return Issue.error("value", "the Patient id (and _history version) in subject.reference must be FHIR ids "
                           "(1-64 of A-Z a-z 0-9 - ., not only dots)", where)
    prefix = ref[:tail.start("type")]  # "" or what precedes "Patient/", its slash included
    if prefix == "":
        return None  # Patient/<id>[/_history/<version>]
    if ehr_base_url is not None and _on_ehr_server(prefix[:-1], ehr_base_url):
        return None  # <ehr.base_url>/Patient/<id>[/_history/<version>]
    return Issue.error("value", "subject.reference must be relative (Patient/<id>) or an absolute URL on the EHR "
                       "server the results are written to (ehr.base_url): no other servers, path steps or "
                       "query strings", where)


def _subject_issues(resource: dict[str, Any], ehr_base_url: str | None) -> list[Issue]:
    subject = resource.get("subject")
    if subject is None:
        return [Issue.error("required", "subject is required: the patient the report is about", f"{ROOT}.subject")]
    if not isinstance(subject, dict):
        return []  # a structure issue from the R4B model
    out: list[Issue] = []
    stype = subject.get("type")
    if isinstance(stype, str) and stype != SUBJECT_TYPE:
        # The write-back copies subject.type too: it must not contradict the reference.
        out.append(Issue.error("value", "subject.type must be Patient (or absent)", f"{ROOT}.subject.type"))
    ref = subject.get("reference")
    if not isinstance(ref, str) or not ref.strip():
        # An identifier or display alone is not enough: the write-back and the prior-report lookup
        # both need the reference, and resolving an identifier to a patient is the EHR's job.
        return out + [Issue.error("required", "subject needs a reference to the Patient (Patient/<id>); an identifier "
                                  "or display alone is not enough", f"{ROOT}.subject.reference")]
    bad = subject_reference_issue(ref, ehr_base_url)
    return out + ([bad] if bad is not None else [])


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
    picked = report_identifier(resource)
    if picked is not None:
        # The store's key is "identifier:<system>|<value>" of this identifier.
        n, ident = picked
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


def check_report(resource: Any, *, ehr_base_url: str | None = None) -> list[Issue]:
    """All issues with a DiagnosticReport; any with severity error means it cannot be queued.

    ``ehr_base_url`` is the FHIR base of the EHR the results are written to (``ehr.base_url``):
    an absolute ``subject.reference`` is accepted only on it. None accepts relative subject
    references (``Patient/<id>``) only.
    """
    if not isinstance(resource, dict):
        return [Issue.error("structure", "a DiagnosticReport must be a JSON object")]
    if resource.get("resourceType") != ROOT:
        return [Issue.error("invalid", "resourceType must be DiagnosticReport", "resourceType")]
    issues = r4b_issues(resource)
    texts, text_issues = _texts(resource)
    extra = (_status_issues(resource) + _subject_issues(resource, ehr_base_url) + _identity_issues(resource)
             + text_issues)
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
