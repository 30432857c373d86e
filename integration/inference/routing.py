"""Routing: which tasks run on a pushed report. The first rule of ``routing.rules`` that matches
the report's codes, category, modality, text or FHIRPath picks them; otherwise
``routing.default_tasks``. Checked once at start-up (:func:`check_routing`) so a worker never
claims a report it could not run."""

from __future__ import annotations

from typing import Any

from integration.settings import RouteRule, RoutingSettings
from integration.tasks import TASKS


def _codes(concepts: Any) -> set[str]:
    out: set[str] = set()
    for concept in concepts if isinstance(concepts, list) else [concepts]:
        for coding in (concept or {}).get("coding") or []:
            if coding.get("code"):
                out.add(str(coding["code"]))
    return out


def _texts(resource: dict[str, Any]) -> str:
    parts = [(resource.get("code") or {}).get("text") or ""]
    for concept in [resource.get("code") or {}, *(resource.get("category") or [])]:
        parts.extend(c.get("display") or "" for c in concept.get("coding") or [])
    return " ".join(parts).lower()


def rule_matches(rule: RouteRule, resource: dict[str, Any]) -> bool:
    code_codes = _codes(resource.get("code"))
    category_codes = _codes(resource.get("category") or [])
    if rule.loinc and not code_codes & set(rule.loinc):
        return False
    if rule.category and not category_codes & set(rule.category):
        return False
    if rule.modality and not (code_codes | category_codes) & set(rule.modality):
        return False
    if rule.text_contains:
        text = _texts(resource)
        if not any(t.lower() in text for t in rule.text_contains):
            return False
    if rule.fhirpath:
        from fhirpathpy import evaluate  # noqa: PLC0415 -- fhirpathpy (antlr4, ~75 ms) only for FHIRPath route rules

        result = evaluate(resource, rule.fhirpath)
        if not (result and all(bool(v) for v in result)):
            return False
    return True


def select_tasks(resource: dict[str, Any], routing: RoutingSettings) -> tuple[str, list[str]]:
    """(name of the matching rule or "default", tasks to run); the first matching rule wins."""
    for rule in routing.rules:
        if rule_matches(rule, resource):
            return rule.name, list(rule.tasks)
    return "default", list(routing.default_tasks)


def check_routing(routing: RoutingSettings) -> None:
    """Refuse at startup the routing the worker could never run."""
    problems = []
    for rule in routing.rules:
        for task in rule.tasks:
            if task not in TASKS:
                problems.append(f"routing rule {rule.name!r}: unknown task {task!r}")
            elif not TASKS[task].routable:
                problems.append(f"routing rule {rule.name!r}: {task} needs API input and cannot be routed")
    for task in routing.default_tasks:
        if task not in TASKS or not TASKS[task].routable:
            problems.append(f"routing.default_tasks: {task!r} cannot run on a pushed report")
    if problems:
        raise ValueError("; ".join(problems))
