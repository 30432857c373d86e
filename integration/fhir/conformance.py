"""Check what the adapter sends to an EHR the way a validating FHIR server would, before sending it.

A server that validates (HAPI with the validator on, the EHR vendors' endpoints) rejects a whole
transaction for one element it does not accept -- every result of the report is then lost, over
and over, in the retry loop. So each outbound resource is checked here first, and a transaction
with any problem is never sent (the write-back dead-letters it with the problems as the reason):

* **structure and datatypes** -- the resource is parsed with the ``fhir.resources`` R4B model of
  its type; every pydantic validation error is a problem (unknown elements, missing required
  elements, malformed codes, ids, dates ...);
* **reference targets** -- every ``Reference`` in the resource, however deeply nested (inside
  backbone elements, contained resources, extensions, the ``_x`` extensions of primitives), must
  point at a resource type its element allows. What is allowed comes from the library's own
  model metadata (``json_schema_extra["enum_reference_types"]``, the element's ``targetProfile``
  in the specification), not from a table kept here; ``Resource`` or no metadata means any type,
  which is the case for ``Extension.value[x]`` (R4 lets an extension's valueReference point
  anywhere). A reference's target type is read from ``reference`` (``Type/id``,
  ``Type/id/_history/v``, an absolute ``.../Type/id`` URL, a conditional ``Type?query``), from
  ``type``, from the entry whose ``fullUrl`` it names (``urn:uuid:`` references inside the
  transaction), or from the contained resource a ``#id`` names. A reference whose type cannot be
  known (a logical reference by identifier alone, a non-RESTful absolute URL) is not checked: the
  server cannot check it either.
* **the transaction itself** (:func:`check_bundle`) -- the Bundle's own elements, unique
  ``fullUrl``\\ s, ``urn:uuid:`` references that resolve to an entry, and a request whose URL names
  the entry's resource type (and id, for a ``PUT``).

Known limit: ``fhir.resources`` models FHIR R4B, which the adapter's R4 output is checked against.
R4B differs from R4 for a few reference targets (R4B's ``Observation.subject`` also allows
Organization, Practitioner, Medication ... where R4 allows Patient | Group | Device | Location)
and does not enforce required value-set bindings (a ``status`` of ``"bogus"`` parses). The
elements the adapter writes have the same targets in both versions, and its codes are constants.

Problems are readable strings ``"<FHIRPath-like location>: <what is wrong>"``. They name elements,
resource types and counts, never values: a problem becomes a job's error reason, and a reference's
id (a patient's id) or a report's words have no place there.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from pydantic import ValidationError

from integration.fhir.report import pydantic_issue

# ``Reference.type`` is a URL relative to this base ("Patient" means <base>Patient); an absolute URL
# outside it names a logical model, which no resource type check applies to.
STRUCTURE_DEFINITION_BASE = "http://hl7.org/fhir/StructureDefinition/"
# The target list that means "any resource type".
ANY_TARGET = "Resource"

_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z]{0,63}$")
_FHIR_ID = r"[A-Za-z0-9\-.]{1,64}"
# A RESTful literal reference: relative "Type/id[/_history/vid]", or the same after a base URL.
_LITERAL = re.compile(rf"^(?:https?://\S+/)?([A-Z][A-Za-z]+)/{_FHIR_ID}(?:/_history/{_FHIR_ID})?$")
_ABSOLUTE = re.compile(r"^https?://", re.I)
# Bundle-local identities: resolvable only through an entry's fullUrl.
_URN = re.compile(r"^urn:(?:uuid|oid):", re.I)


# -- the library's model metadata, cached (classes are looked up once per type) ----------------------


@lru_cache(maxsize=None)
def model_class(type_name: str) -> type | None:
    """The R4B model class of a FHIR type ("Observation", "Reference", ...), or None if unknown."""
    from fhir.resources.R4B import get_fhir_model_class  # noqa: PLC0415 -- fhir.resources models (~0.15 s) load on first validation

    if not isinstance(type_name, str) or not _TYPE_NAME.match(type_name):
        return None
    try:
        return get_fhir_model_class(type_name)
    except (ValueError, AttributeError, TypeError):
        return None


@lru_cache(maxsize=None)
def is_resource_type(type_name: str) -> bool:
    """Is ``type_name`` a resource type (not a datatype such as Reference or CodeableConcept)?"""
    cls, base = model_class(type_name), model_class("Resource")
    return cls is not None and base is not None and issubclass(cls, base) and cls is not base


@dataclass(frozen=True)
class _Element:
    """What the walk needs to know of one element of a model."""

    model: type | None  # the element's datatype / backbone model; None for primitives
    targets: frozenset[str] | None  # allowed reference target types; None = any (or not a Reference)


def _element_model(annotation: Any) -> type | None:
    """The model class inside an annotation like ``Optional[List[abc.ReferenceType]]``."""
    if hasattr(annotation, "get_model_klass"):
        return annotation.get_model_klass()
    for arg in typing.get_args(annotation):
        found = _element_model(arg)
        if found is not None:
            return found
    return None


@lru_cache(maxsize=None)
def _elements(cls: type) -> Mapping[str, _Element]:
    """JSON element name -> :class:`_Element`, for every element of the model ``cls``."""
    out: dict[str, _Element] = {}
    for name, info in cls.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        listed = extra.get("enum_reference_types") or []
        targets = None if not listed or ANY_TARGET in listed else frozenset(listed)
        out[info.alias or name] = _Element(_element_model(info.annotation), targets)
    return out


def allowed_targets(type_name: str, element: str) -> frozenset[str] | None:
    """The resource types a Reference at ``type_name.element`` may point at; None = any type.

    ``allowed_targets("Observation", "derivedFrom")`` -> DocumentReference, ImagingStudy, ..."""
    cls = model_class(type_name)
    info = _elements(cls).get(element) if cls is not None else None
    return info.targets if info is not None else None


# -- references ------------------------------------------------------------------------------------


@dataclass
class _Context:
    """Where references are resolved: the transaction's entries and the resource's contained ones."""

    full_urls: Mapping[str, str] | None  # fullUrl -> resource type; None outside a Bundle
    container: str  # the resource type of the resource being checked ("#" references it)
    contained: Mapping[str, str]  # contained resource id -> resource type


def _declared_type(ref: Mapping[str, Any]) -> str | None:
    """``Reference.type`` as a resource type name, or None when absent or a logical model's URL."""
    declared = ref.get("type")
    if not isinstance(declared, str) or not declared:
        return None
    if declared.startswith(STRUCTURE_DEFINITION_BASE):
        declared = declared[len(STRUCTURE_DEFINITION_BASE):]
    return None if "/" in declared or ":" in declared else declared


def reference_type(ref: Mapping[str, Any]) -> str | None:
    """The target type a reference names by itself (its ``reference`` string, else its ``type``);
    None when only a server or the enclosing Bundle could tell."""
    literal = ref.get("reference")
    if isinstance(literal, str):
        m = _LITERAL.match(literal)
        if m:
            return m.group(1)
        if "?" in literal and not _ABSOLUTE.match(literal):
            head = literal.split("?", 1)[0]
            if _TYPE_NAME.match(head):
                return head
    return _declared_type(ref)


def _resolve(ref: Mapping[str, Any], ctx: _Context) -> tuple[str | None, str | None]:
    """(target type or None when it cannot be known, problem or None)."""
    literal = ref.get("reference")
    actual: str | None = None
    if isinstance(literal, str):
        if ctx.full_urls is not None and literal in ctx.full_urls:
            actual = ctx.full_urls[literal]
        elif literal.startswith("#"):
            local = literal[1:]
            if not local:
                actual = ctx.container  # a contained resource pointing back at its container
            elif local in ctx.contained:
                actual = ctx.contained[local]
            else:
                return None, "references a contained resource the resource does not contain"
        elif _URN.match(literal):
            if ctx.full_urls is not None:
                return None, "references a urn that is not the fullUrl of any entry in the Bundle"
        else:
            actual = reference_type({"reference": literal})
            if actual is None and not _ABSOLUTE.match(literal):
                return None, ("is not a resolvable reference (expected Type/id, an absolute URL, "
                              "urn:uuid or #id)")
        if actual is not None and not is_resource_type(actual):
            return None, f"references {actual!r}, which is not a FHIR resource type"
    declared = _declared_type(ref)
    if declared is not None and not is_resource_type(declared):
        # Echoed only when it looks like a type name: `type` is free text to a careless sender.
        shown = f" {declared!r}" if _TYPE_NAME.match(declared) else ""
        return None, f"has type{shown}, which is not a FHIR resource type"
    if actual is not None and declared is not None and actual != declared:
        return None, f"has type {declared} but references {actual}"
    return actual or declared, None


def _check_reference(ref: Mapping[str, Any], where: str, definition: str, targets: frozenset[str] | None,
                     ctx: _Context, problems: list[str]) -> None:
    target, problem = _resolve(ref, ctx)
    if problem is not None:
        problems.append(f"{where}: {problem}")
    elif target is not None and targets is not None and target not in targets:
        allowed = " | ".join(sorted(targets))
        problems.append(f"{where}: references {target}; {definition} may reference only {allowed}")


def _walk(node: Mapping[str, Any], cls: type, where: str, definition: str, ctx: _Context,
          problems: list[str]) -> None:
    """Check every Reference below ``node`` (an instance of the model ``cls``)."""
    reference_model, resource_model = model_class("Reference"), model_class("Resource")
    elements = _elements(cls)
    for key, value in node.items():
        element = elements.get(key)
        if element is None or element.model is None:
            continue  # a primitive, or an unknown element (the parse reports that)
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            here = f"{where}.{key}" + (f"[{i}]" if isinstance(value, list) else "")
            model, defined = element.model, f"{definition}.{key}"
            if model is resource_model:  # contained resources: typed by their resourceType
                model = model_class(item.get("resourceType", ""))
                if model is None:
                    continue
                defined = item["resourceType"]
            if model is reference_model:
                _check_reference(item, here, defined, element.targets, ctx, problems)
            _walk(item, model, here, defined, ctx, problems)


# -- public checks -----------------------------------------------------------------------------------


def _parse_problems(resource: Mapping[str, Any], cls: type, where: str) -> list[str]:
    try:
        cls.model_validate(resource)
    except ValidationError as exc:
        out = []
        for err in exc.errors(include_url=False):
            # The intake's error formatting: messages with the input value cut out.
            issue = pydantic_issue(err, where)
            out.append(f"{issue.expression[0] if issue.expression else where}: {issue.diagnostics}")
        return out
    except RecursionError:
        return [f"{where}: nested too deeply to validate"]
    return []


def check_resource(resource: Mapping[str, Any], *, full_urls: Mapping[str, str] | None = None,
                   location: str | None = None) -> list[str]:
    """Problems a validating R4 server would find in ``resource``; empty when it is fine.

    ``full_urls`` (fullUrl -> resource type of the other entries) resolves ``urn:uuid:``
    references when the resource travels in a transaction; without it they are not checked.
    ``location`` prefixes the problems (default: the resource type)."""
    rtype = resource.get("resourceType") if isinstance(resource, Mapping) else None
    where = location or (rtype if isinstance(rtype, str) else "resource")
    if not isinstance(rtype, str) or not is_resource_type(rtype):
        return [f"{where}: not a FHIR resource (resourceType missing or unknown)"]
    cls = model_class(rtype)
    assert cls is not None  # is_resource_type checked it
    problems = _parse_problems(resource, cls, where)
    contained = {c["id"]: c["resourceType"] for c in resource.get("contained") or []
                 if isinstance(c, dict) and isinstance(c.get("id"), str) and isinstance(c.get("resourceType"), str)}
    _walk(resource, cls, where, rtype, _Context(full_urls, rtype, contained), problems)
    return problems


def check_bundle(bundle: Mapping[str, Any]) -> list[str]:
    """Problems in a Bundle and every resource in it (see the module docstring); empty when fine."""
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
        return ["Bundle: not a Bundle"]
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        return ["Bundle.entry: not a list"]
    problems: list[str] = []
    # The Bundle's own elements; each resource is parsed on its own below, for locations that say
    # which entry and for one error report per problem.
    shell = dict(bundle, entry=[{k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e
                                for e in entries])
    cls = model_class("Bundle")
    assert cls is not None
    problems += _parse_problems(shell, cls, "Bundle")

    full_urls: dict[str, str] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        url, resource = entry.get("fullUrl"), entry.get("resource")
        if not isinstance(url, str):
            continue
        if url in full_urls:
            problems.append(f"Bundle.entry[{i}].fullUrl: the same fullUrl as an earlier entry")
        elif isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
            full_urls[url] = resource["resourceType"]

    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        resource, request = entry.get("resource"), entry.get("request") or {}
        method = request.get("method") if isinstance(request, dict) else None
        if not isinstance(resource, dict):
            if method in ("POST", "PUT"):
                problems.append(f"Bundle.entry[{i}]: a {method} without a resource")
            continue
        problems += check_resource(resource, full_urls=full_urls, location=f"Bundle.entry[{i}].resource")
        problems += _request_problems(i, method, request, resource)
    return problems


def _request_problems(i: int, method: Any, request: Any, resource: Mapping[str, Any]) -> list[str]:
    """A create or update must go to the URL of the resource's own type (and id, for an update)."""
    url = request.get("url") if isinstance(request, dict) else None
    if method not in ("POST", "PUT") or not isinstance(url, str):
        return []
    rtype = resource.get("resourceType")
    path = url.split("?", 1)[0].strip("/")
    parts = path.split("/")
    where = f"Bundle.entry[{i}].request.url"
    if parts[0] != rtype:
        return [f"{where}: a {method} to {parts[0] or 'the base'} with a {rtype} resource"]
    if method == "PUT" and len(parts) == 2 and resource.get("id") not in (None, parts[1]):
        return [f"{where}: the id in the URL is not the resource's id"]
    return []
