"""Loading the mapping files: one per task, each parsed, checked against its schema and its task's
write kind; :func:`load_mappings` is the start-up check of every service."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml
from pydantic import ValidationError

from integration.mappings.codes import KNOWN_SYSTEMS, SYSTEM_ALIASES
from integration.mappings.critical import RULES_PATH, Rule, load_rules_file
from integration.mappings.followup import FOLLOWUP_PATH, FollowupCodes, load_followup_file
from integration.mappings.schema import MAPPING_ADAPTER
from integration.mappings.yaml_lines import compose_node, key_line, line_of, located, read_yaml, schema_items
from integration.settings import ROOT
from integration.tasks import TASKS


class MappingError(Exception):
    """A mapping file is invalid; ``problems`` holds one ``file:line: key: message`` per issue."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid mappings:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass
class Mappings:
    by_task: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    # The critical-result rules of the same directory (critical/rules.yaml; integration/mappings/critical.py).
    critical: tuple[Rule, ...] = ()
    # How follow-up recommendations are coded (followup/codes.yaml); None: none are written.
    followup: FollowupCodes | None = None

    def get(self, task: str) -> Any | None:
        return self.by_task.get(task)

    def __contains__(self, task: str) -> bool:
        return task in self.by_task


def declared_task(path: Path) -> str | None:
    """The ``task:`` a file names, read without validating it (None when unreadable)."""
    root = compose_node(path)
    if isinstance(root, yaml.MappingNode):
        for k, v in root.value:
            if k.value == "task" and isinstance(v, yaml.ScalarNode):
                return str(v.value)
    return None


def load_file(path: Path) -> tuple[Any | None, list[str]]:
    """Parse and validate one mapping file; returns (mapping or None, problems)."""
    data, root, problems = read_yaml(path)
    if problems:
        return None, problems
    if not isinstance(data, dict):
        return None, [f"{path}:1: expected a mapping with 'task' and 'kind'"]
    try:
        mapping = MAPPING_ADAPTER.validate_python(data)
    except ValidationError as exc:
        return None, located(path, schema_items(exc, root))
    items: list[tuple[int | None, str, str]] = []
    # The kind a task's mapping must have is a fact of the task (``Task.write_kind``).
    expected = TASKS[mapping.task].write_kind if mapping.task in TASKS else None
    if expected is None:
        items.append((line_of(root, ("task",)), "task", f"unknown task {mapping.task!r}"))
    elif mapping.kind != expected:
        items.append((line_of(root, ("kind",)), "kind", f"task {mapping.task} needs kind {expected!r}"))
    local = list(getattr(mapping, "local_systems", []))
    for i, system in enumerate(local):
        if system in SYSTEM_ALIASES:
            items.append((line_of(root, ("local_systems", str(i))), f"local_systems.{i}",
                          f"{system!r} is another name of {SYSTEM_ALIASES[system]!r}; use that URI instead of "
                          f"declaring it"))
    allowed = KNOWN_SYSTEMS | set(local)
    for loc, coding in mapping.codings():
        where = (line_of(root, loc + ("system",)), ".".join(loc) + ".system")
        if coding.system in SYSTEM_ALIASES:
            items.append((*where, f"{coding.system!r} is not the FHIR URI of this code system; use "
                                  f"{SYSTEM_ALIASES[coding.system]!r}"))
        elif coding.system not in allowed:
            items.append((*where, f"unknown code system {coding.system!r} (known: {', '.join(sorted(KNOWN_SYSTEMS))}; "
                                  f"declare a site-local system in local_systems)"))
    problems = located(path, items)
    return (None if problems else mapping), problems


def yaml_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))


def load_files(files: Iterable[Path]) -> tuple[Mappings, list[str], set[str]]:
    """(valid mappings, problems, tasks named by files that failed to load)."""
    out = Mappings()
    problems: list[str] = []
    failed: set[str] = set()
    for path in files:
        mapping, errs = load_file(path)
        problems += errs
        if mapping is None:
            task = declared_task(path)
            if task:
                failed.add(task)
            continue
        if mapping.task in out.by_task:
            problems.append(f"{path}:{key_line(path, ('task',))}: task: {mapping.task} is already mapped in "
                            f"{out.files[mapping.task]}")
            continue
        out.by_task[mapping.task] = mapping
        out.files[mapping.task] = path
    return out, problems, failed


def missing_tasks(directory: Path, tasks: Iterable[str]) -> list[str]:
    tasks = set(tasks)
    return [f"{directory}: no mapping file for task {task} (use kind: none to write nothing)"
            for task in TASKS if task not in tasks]


def load_mappings(directory: str | Path, *, require_all: bool = True) -> Mappings:
    """Load every ``*.yaml`` in ``directory``; raise MappingError listing every problem.

    This is the startup check of ``serve``, ``worker`` and ``scheduler``: a file that does not
    parse, does not fit its schema or uses an unknown code system stops the process. Labels
    without an entry (:func:`coverage_problems`) do not: they are written as text only."""
    directory = Path(directory)
    if not directory.is_dir():
        raise MappingError([f"{directory}: mappings directory not found"])
    out, problems, failed = load_files(yaml_files(directory))
    if require_all:
        problems += missing_tasks(directory, set(out.by_task) | failed)
    rules_file = directory / RULES_PATH
    if rules_file.exists():
        out.critical, rule_problems = load_rules_file(rules_file)
        problems += rule_problems
    followup_file = directory / FOLLOWUP_PATH
    if followup_file.exists():
        out.followup, followup_problems = load_followup_file(followup_file)
        problems += followup_problems
    if problems:
        raise MappingError(problems)
    return out


def load_rules(directory: str | Path) -> tuple[Rule, ...]:
    """The critical-result rules of a mappings directory (none when it has no critical/rules.yaml);
    MappingError lists every problem."""
    path = Path(directory) / RULES_PATH
    if not path.exists():
        return ()
    rules, problems = load_rules_file(path)
    if problems:
        raise MappingError(problems)
    return rules


def mappings_digest(directory: str | Path | None) -> tuple[str, int]:
    """sha256 over the mapping files (name + content, in name order) and how many there are."""
    folder = Path(directory) if directory is not None else ROOT / "mappings"
    digest = hashlib.sha256()
    files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    for path in files:
        digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest(), len(files)
