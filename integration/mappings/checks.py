"""What ``radlite mappings validate`` checks beyond loading: every label of every task covered
(the task's vocabulary, ``Task.vocabulary``) and every display right for its code (the pinned
terminology table)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from integration.mappings import terminology
from integration.mappings.codes import KNOWN_SYSTEMS
from integration.mappings.critical import RULES_PATH, load_rules_file
from integration.mappings.followup import FOLLOWUP_PATH, load_followup_file
from integration.mappings.loader import Mappings, declared_task, load_files, missing_tasks, yaml_files
from integration.mappings.yaml_lines import key_line, located
from integration.tasks import TASKS


@dataclass
class Validation:
    """What ``radlite mappings validate`` found: ``problems`` fail it, ``warnings`` do not."""

    files: list[Path]
    mappings: Mappings
    problems: list[str]
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def codings(self) -> int:
        return sum(1 for m in self.mappings.by_task.values() for _ in m.codings())


def validate_paths(paths: Iterable[str | Path]) -> Validation:
    """Check mapping files and directories as ``radlite mappings validate`` does: schema,
    duplicate keys, code systems and check digits (:func:`load_file`), one file per task, every
    task mapped (for a directory), every label of every task covered (:func:`coverage_problems`)
    and every display right for its code (:func:`display_findings`). Problems and warnings are
    ``file:line: key: message`` lines."""
    files: list[Path] = []
    problems: list[str] = []
    directories: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            directories.append(path)
            found = yaml_files(path)
            if not found:
                problems.append(f"{path}: no *.yaml mapping files in this directory")
            files += [f for f in found if f not in files]
        elif path.is_file():
            if path not in files:
                files.append(path)
        else:
            problems.append(f"{path}: no such file or directory")
    mappings, errs, failed = load_files(files)
    problems += errs
    for directory in directories:
        inside = {t for t, f in mappings.files.items() if f.parent == directory}
        inside |= {t for f in yaml_files(directory) if f not in mappings.files.values() and (t := declared_task(f))}
        problems += missing_tasks(directory, inside)
    problems += coverage_problems(mappings)
    for directory in directories:
        rules_file = directory / RULES_PATH
        if rules_file.exists():
            files.append(rules_file)
            problems += load_rules_file(rules_file)[1]
        followup_file = directory / FOLLOWUP_PATH
        if followup_file.exists():
            files.append(followup_file)
            codes, followup_problems = load_followup_file(followup_file)
            problems += followup_problems
            if codes is not None:
                mappings.followup = codes
    wrong, unknown = display_findings(mappings)
    return Validation(files, mappings, problems + wrong, unknown)


def display_findings(mappings: Mappings) -> tuple[list[str], list[str]]:
    """(problems, warnings) from the pinned terminology table
    (:mod:`integration.mappings.terminology`): a display that is not how the code system names
    the coding's code is a problem -- the code or the display is wrong, and a check digit cannot
    tell; a code of a known system (KNOWN_SYSTEMS) that the table does not list is a warning (its
    display is not checked). Codes of site-local systems are not the table's business."""
    problems: list[str] = []
    warnings: list[str] = []
    for task, mapping in mappings.by_task.items():
        path = mappings.files[task]
        wrong: list[tuple[int | None, str, str]] = []
        unknown: list[tuple[int | None, str, str]] = []
        for loc, coding in mapping.codings():
            message = terminology.display_problem(coding.system, coding.code, coding.display)
            if message is not None:
                wrong.append((key_line(path, loc + ("display",)), ".".join(loc) + ".display", message))
            # Every system the project knows (DICOM DCM too, none of whose codes it ships).
            note = terminology.unknown_code(coding.system, coding.code, KNOWN_SYSTEMS)
            if note is not None:
                unknown.append((key_line(path, loc + ("code",)), ".".join(loc) + ".code", f"warning: {note}"))
        problems += located(path, wrong)
        warnings += located(path, unknown)
    return problems, warnings


def coverage_problems(mappings: Mappings) -> list[str]:
    """``file:line: ...`` for every label of a task that has no mapping entry (it would be written
    as text only) and every entry that names no label of its task (a typo: it never applies)."""
    out: list[str] = []

    def check(task: str, loc: tuple[str, ...], have: Iterable[str], want: Iterable[str], *,
              complete: bool = True, known: Iterable[str] | None = None) -> None:
        path = mappings.files[task]
        have, want = list(have), list(want)
        known = list(known) if known is not None else want
        missing = [w for w in want if w not in set(have)]
        if complete and missing:
            out.append(f"{path}:{key_line(path, loc)}: {'.'.join(loc)}: not mapped: {', '.join(missing)}")
        for key in have:
            if key not in set(known):
                out.append(f"{path}:{key_line(path, loc + (key,))}: {'.'.join(loc + (key,))}: not a label of "
                           f"{task} (its labels: {', '.join(known)})")

    # What each write kind's mapping must cover comes from its task's vocabulary (Task.vocabulary),
    # so a new task of an existing kind needs no code here.
    for task, m in mappings.by_task.items():
        vocab = TASKS[task].vocabulary
        kind = TASKS[task].write_kind
        if kind == "label_status":
            statuses = vocab["statuses"]
            check(task, ("labels",), m.labels, vocab["labels"])
            for i, status in enumerate(m.write_statuses):
                if status not in statuses:
                    path = mappings.files[task]
                    out.append(f"{path}:{key_line(path, ('write_statuses', str(i)))}: write_statuses.{i}: unknown status "
                               f"{status!r} (one of {', '.join(statuses)})")
            check(task, ("values",), m.values, m.write_statuses, known=statuses)
        elif kind == "entities":
            # The labels written must be mapped; the other observation labels (absent) may be, to
            # write absent findings too; the anatomy label is not an observation.
            entities = vocab["entities"]
            observations = [label for label in entities if label != m.anatomy_label]
            check(task, ("values",), m.values, vocab["written"], known=observations)
            if m.anatomy_label not in entities:
                path = mappings.files[task]
                out.append(f"{path}:{key_line(path, ('anatomy_label',))}: anatomy_label: {m.anatomy_label!r} is not an "
                           f"entity label ({', '.join(entities)})")
        elif kind == "changes":
            check(task, ("values",), m.values, vocab["changes"])
            check(task, ("interpretation",), m.interpretation, vocab["changes"], complete=False)
        elif kind == "rads":
            check(task, ("systems",), m.systems, vocab["systems"])
            for system in vocab["systems"]:
                if system in m.systems:
                    check(task, ("systems", system, "categories"), m.systems[system].categories,
                          vocab[f"system:{system}"])
        elif kind == "category":
            check(task, ("values",), m.values, vocab["values"])
    return out
