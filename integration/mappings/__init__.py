"""Mappings: how each task's typed result becomes FHIR (``mappings/*.yaml``).

One YAML file per task. Each file names its ``task`` and a ``kind`` that fixes its shape:

* ``label_status`` (abnormality_detection): one Observation per label whose status is listed in
  ``write_statuses``; ``labels`` give Observation.code per label, ``values`` the value per status.
* ``entities`` (radiology_ner): one Observation per entity whose NER label is in ``values``;
  ``body_sites`` map anatomy phrases to Observation.bodySite.
* ``changes`` (temporal_comparison): one Observation per (finding, change); ``values`` and
  ``interpretation`` per change.
* ``rads`` (rads_assignment): one Observation for the assessment; per RADS system a ``code`` and
  ``categories`` (value per category); ``none`` says what "no applicable RADS" becomes.
* ``category`` (n_staging, m_staging): one Observation with ``code`` and ``values`` per label.
* ``text`` (impression_generation): one Observation with ``code`` and the text as valueString.
* ``none`` (radiology_nli, radiology_qa): nothing is written.

A concept is ``{text: ..., coding: [{system, code, display}]}``. Every coding must use a known
code-system URI (or one the file declares in ``local_systems``); SNOMED CT ids and LOINC codes are
checked against their check digits, which catches most typing errors. Anything not mapped is
written as ``code.text`` only -- never an invented code.

Errors name the file, the line and the key path: ``mappings/x.yaml:12: labels.Edema.coding.0.code:
...``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from integration.mappings import terminology
from integration.settings import ROOT
from integration.tasks import TASKS

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
AJCC = "http://cancerstaging.org"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DICOM_DCM = "http://dicom.nema.org/resources/ontology/DCM"
RADLEX = "http://radlex.org"

# Code systems a shipped or site mapping may use without declaring them.
KNOWN_SYSTEMS = frozenset({SNOMED, LOINC, AJCC, V3_INTERPRETATION, OBSERVATION_CATEGORY, DICOM_DCM, RADLEX})

# Spellings of known systems that are not their FHIR canonical URI (an OID, www., a trailing
# slash, the v2/v3 names): a coding with one of these would not be recognised by the EHR.
SYSTEM_ALIASES = {
    "urn:oid:2.16.840.1.113883.6.96": SNOMED,
    "http://www.snomed.org": SNOMED,
    "http://www.snomed.org/": SNOMED,
    "http://snomed.info/sct/": SNOMED,
    "https://snomed.info/sct": SNOMED,
    "http://snomed.info": SNOMED,
    "urn:oid:2.16.840.1.113883.6.1": LOINC,
    "http://www.loinc.org": LOINC,
    "http://loinc.org/": LOINC,
    "https://loinc.org": LOINC,
    "urn:oid:2.16.840.1.113883.6.256": RADLEX,
    "http://www.radlex.org": RADLEX,
    "http://radlex.org/": RADLEX,
    "https://radlex.org": RADLEX,
    "http://radlex.org/RID": RADLEX,
    "http://www.radlex.org/RID": RADLEX,
    "urn:oid:1.2.840.10008.2.16.4": DICOM_DCM,
    "http://hl7.org/fhir/v3/ObservationInterpretation": V3_INTERPRETATION,
    "http://hl7.org/fhir/observation-category": OBSERVATION_CATEGORY,
}

_SCTID = re.compile(r"^[1-9][0-9]{5,17}$")
_LOINC = re.compile(r"^[0-9]{1,7}-[0-9]$")
_RADLEX = re.compile(r"^RID[1-9][0-9]*$")


class MappingError(Exception):
    """A mapping file is invalid; ``problems`` holds one ``file:line: key: message`` per issue."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid mappings:\n  " + "\n  ".join(problems))
        self.problems = problems


# -- check digits ----------------------------------------------------------------------------

_VERHOEFF_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_VERHOEFF_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]


def sctid_valid(code: str) -> bool:
    """SNOMED CT identifiers end in a Verhoeff check digit (SNOMED CT TIG, 'SCTID')."""
    if not _SCTID.match(code):
        return False
    c = 0
    for i, ch in enumerate(reversed(code)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][int(ch)]]
    return c == 0


def loinc_valid(code: str) -> bool:
    """LOINC codes end in a mod-10 check digit (LOINC Users' Guide, 'Calculating mod 10')."""
    if not _LOINC.match(code):
        return False
    body, check = code.split("-")
    digits = [int(ch) for ch in body]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:  # rightmost digit and every second one to its left are doubled
            d *= 2
            d = d // 10 + d % 10
        total += d
    return (10 - total % 10) % 10 == int(check)


# -- schema ----------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Coding(_Model):
    system: str
    code: str = Field(min_length=1)
    display: str | None = None

    @field_validator("system")
    @classmethod
    def _absolute(cls, v: str) -> str:
        if not re.match(r"^(https?://\S+|urn:(oid|uuid):\S+|urn:[a-z0-9][a-z0-9-]{0,31}:\S+)$", v):
            raise ValueError(f"code system must be an absolute URI, got {v!r}")
        return v

    @model_validator(mode="after")
    def _check_code(self) -> "Coding":
        if self.code != self.code.strip():
            raise ValueError("code has leading or trailing spaces")
        if self.system == SNOMED and not sctid_valid(self.code):
            raise ValueError(f"{self.code!r} is not a valid SNOMED CT identifier (check digit)")
        if self.system == LOINC and not loinc_valid(self.code):
            raise ValueError(f"{self.code!r} is not a valid LOINC code (check digit)")
        if self.system == RADLEX and not _RADLEX.match(self.code):
            raise ValueError(f"{self.code!r} is not a RadLex id (RID followed by digits, e.g. RID1301)")
        return self

    def fhir(self) -> dict[str, str]:
        out = {"system": self.system, "code": self.code}
        if self.display:
            out["display"] = self.display
        return out


class Concept(_Model):
    text: str = Field(min_length=1)
    coding: list[Coding] = Field(default_factory=list)

    def fhir(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.coding:
            out["coding"] = [c.fhir() for c in self.coding]
        out["text"] = self.text
        return out


def text_concept(text: str) -> Concept:
    """An unmapped value: text only, never a code."""
    return Concept(text=text)


IMAGING = Concept(
    text="Imaging",
    coding=[Coding(system=OBSERVATION_CATEGORY, code="imaging", display="Imaging")],
)


class _TaskMapping(_Model):
    task: str
    # Extra code systems (site-local ones) this file may use besides KNOWN_SYSTEMS.
    local_systems: list[str] = Field(default_factory=list)
    category: list[Concept] = Field(default_factory=lambda: [IMAGING])
    # Written as Observation.note on every Observation of this task (e.g. a disclaimer).
    note: str | None = None

    @property
    def writes(self) -> bool:
        return True

    def codings(self) -> Iterable[tuple[tuple[str, ...], Coding]]:
        """Every coding in the file with its key path (for the code-system check)."""
        yield from _walk_codings(self, ())


def _walk_codings(node: Any, path: tuple[str, ...]) -> Iterable[tuple[tuple[str, ...], Coding]]:
    if isinstance(node, Coding):
        yield path, node
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _walk_codings(getattr(node, name), path + (name,))
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _walk_codings(v, path + (str(k),))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk_codings(v, path + (str(i),))


class LabelStatusMapping(_TaskMapping):
    kind: Literal["label_status"]
    write_statuses: list[str] = Field(default_factory=lambda: ["positive", "uncertain"])
    values: dict[str, Concept]
    labels: dict[str, Concept] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _statuses_have_values(self) -> "LabelStatusMapping":
        missing = [s for s in self.write_statuses if s not in self.values]
        if missing:
            raise ValueError(f"write_statuses {missing} have no entry in values")
        return self


class EntityMapping(_TaskMapping):
    kind: Literal["entities"]
    # NER label -> Observation value; only labels listed here are written.
    values: dict[str, Concept]
    anatomy_label: str = "ANAT-DP"
    # Anatomy phrase (lowercase, as the NER task writes it) -> bodySite concept.
    body_sites: dict[str, Concept] = Field(default_factory=dict)


class ChangeMapping(_TaskMapping):
    kind: Literal["changes"]
    values: dict[str, Concept]
    interpretation: dict[str, Concept] = Field(default_factory=dict)


class RadsSystem(_Model):
    code: Concept
    categories: dict[str, Concept] = Field(default_factory=dict)


class RadsMapping(_TaskMapping):
    kind: Literal["rads"]
    systems: dict[str, RadsSystem]
    # "No applicable RADS": skip (write nothing) or text (an Observation saying so).
    none: Literal["skip", "text"] = "skip"
    none_code: Concept | None = None

    @model_validator(mode="after")
    def _none_code(self) -> "RadsMapping":
        if self.none == "text" and self.none_code is None:
            raise ValueError("none: text needs none_code")
        return self


class CategoryMapping(_TaskMapping):
    kind: Literal["category"]
    code: Concept
    values: dict[str, Concept]


class TextMapping(_TaskMapping):
    kind: Literal["text"]
    code: Concept
    # The role recorded in ``written`` (e.g. "summary" for the generated impression).
    role: str = "summary"


class NoneMapping(_Model):
    task: str
    kind: Literal["none"]
    reason: str | None = None

    @property
    def writes(self) -> bool:
        return False

    def codings(self):
        return iter(())


TaskMapping = Annotated[
    Union[LabelStatusMapping, EntityMapping, ChangeMapping, RadsMapping, CategoryMapping, TextMapping, NoneMapping],
    Field(discriminator="kind"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(TaskMapping)

# Which kind each known task must have: a fact of the task (``Task.write_kind``).
TASK_KINDS = {name: task.write_kind for name, task in TASKS.items()}


@dataclass
class Mappings:
    by_task: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def get(self, task: str) -> Any | None:
        return self.by_task.get(task)

    def __contains__(self, task: str) -> bool:
        return task in self.by_task


# -- YAML with line numbers and duplicate-key detection --------------------------------------


class _DupKeyLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _DupKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key]})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep)


_DupKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Line (1-based) of ``loc``: of its key when the last step is a mapping key (``labels:``),
    else of the deepest YAML node on ``loc`` that exists."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for i, part in enumerate(loc):
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if str(k.value) == str(part)), None)
            if pair is None:
                return line
            if i == len(loc) - 1:
                return pair[0].start_mark.line + 1
            node = pair[1]
        elif isinstance(node, yaml.SequenceNode) and str(part).isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def _loc_path(loc: tuple[Any, ...]) -> tuple[str, ...]:
    # Drop pydantic's leading union tag ("label_status", ...) and function-validator markers.
    parts = [str(p) for p in loc]
    if parts and parts[0] in set(TASK_KINDS.values()):
        parts = parts[1:]
    return tuple(p for p in parts if not p.startswith("function-"))


def _report(path: Path, items: list[tuple[int | None, str, str]]) -> list[str]:
    """``file:line: key: message`` lines; one line for a problem that YAML aliases repeat under
    several keys (``lungs: *lung``): the others are named after it."""
    grouped: dict[tuple[int | None, str], list[str]] = {}
    for line, key, message in items:
        grouped.setdefault((line, message), []).append(key)
    out = []
    for (line, message), keys in grouped.items():
        also = f" (also as {', '.join(keys[1:])})" if len(keys) > 1 else ""
        out.append(f"{path}:{line}: {keys[0]}{also}: {message}")
    return out


def declared_task(path: Path) -> str | None:
    """The ``task:`` a file names, read without validating it (None when unreadable)."""
    root = _compose(path)
    if isinstance(root, yaml.MappingNode):
        for k, v in root.value:
            if k.value == "task" and isinstance(v, yaml.ScalarNode):
                return str(v.value)
    return None


def load_file(path: Path) -> tuple[Any | None, list[str]]:
    """Parse and validate one mapping file; returns (mapping or None, problems)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [f"{path}: cannot read: {exc.strerror}"]
    try:
        data = yaml.load(text, Loader=_DupKeyLoader)  # noqa: S506 -- SafeLoader subclass
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        return None, [f"{where}: {getattr(exc, 'problem', None) or exc}"]
    if not isinstance(data, dict):
        return None, [f"{path}:1: expected a mapping with 'task' and 'kind'"]
    try:
        mapping = _ADAPTER.validate_python(data)
    except ValidationError as exc:
        items = []
        for err in exc.errors():
            loc = _loc_path(tuple(err["loc"]))
            items.append((_line_of(root, loc), ".".join(loc) or "(top)", err["msg"]))
        return None, _report(path, items)
    items: list[tuple[int | None, str, str]] = []
    expected = TASK_KINDS.get(mapping.task)
    if expected is None:
        items.append((_line_of(root, ("task",)), "task", f"unknown task {mapping.task!r}"))
    elif mapping.kind != expected:
        items.append((_line_of(root, ("kind",)), "kind", f"task {mapping.task} needs kind {expected!r}"))
    local = list(getattr(mapping, "local_systems", []))
    for i, system in enumerate(local):
        if system in SYSTEM_ALIASES:
            items.append((_line_of(root, ("local_systems", str(i))), f"local_systems.{i}",
                          f"{system!r} is another name of {SYSTEM_ALIASES[system]!r}; use that URI instead of "
                          f"declaring it"))
    allowed = KNOWN_SYSTEMS | set(local)
    for loc, coding in mapping.codings():
        where = (_line_of(root, loc + ("system",)), ".".join(loc) + ".system")
        if coding.system in SYSTEM_ALIASES:
            items.append((*where, f"{coding.system!r} is not the FHIR URI of this code system; use "
                                  f"{SYSTEM_ALIASES[coding.system]!r}"))
        elif coding.system not in allowed:
            items.append((*where, f"unknown code system {coding.system!r} (known: {', '.join(sorted(KNOWN_SYSTEMS))}; "
                                  f"declare a site-local system in local_systems)"))
    problems = _report(path, items)
    return (None if problems else mapping), problems


def _compose(path: Path) -> yaml.Node | None:
    try:
        return yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return None


def key_line(path: Path, loc: tuple[Any, ...]) -> int:
    """Line of ``loc`` in the YAML file ``path`` (1 when it cannot be found)."""
    return _line_of(_compose(Path(path)), loc) or 1


def _yaml_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))


def _load_files(files: Iterable[Path]) -> tuple[Mappings, list[str], set[str]]:
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


def _missing_tasks(directory: Path, tasks: Iterable[str]) -> list[str]:
    tasks = set(tasks)
    return [f"{directory}: no mapping file for task {task} (use kind: none to write nothing)"
            for task in TASK_KINDS if task not in tasks]


def load_mappings(directory: str | Path, *, require_all: bool = True) -> Mappings:
    """Load every ``*.yaml`` in ``directory``; raise MappingError listing every problem.

    This is the startup check of ``serve``, ``worker`` and ``scheduler``: a file that does not
    parse, does not fit its schema or uses an unknown code system stops the process. Labels
    without an entry (:func:`coverage_problems`) do not: they are written as text only."""
    directory = Path(directory)
    if not directory.is_dir():
        raise MappingError([f"{directory}: mappings directory not found"])
    out, problems, failed = _load_files(_yaml_files(directory))
    if require_all:
        problems += _missing_tasks(directory, set(out.by_task) | failed)
    if problems:
        raise MappingError(problems)
    return out


def mappings_digest(directory: str | Path | None) -> tuple[str, int]:
    """sha256 over the mapping files (name + content, in name order) and how many there are."""
    folder = Path(directory) if directory is not None else ROOT / "mappings"
    digest = hashlib.sha256()
    files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    for path in files:
        digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest(), len(files)


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
            found = _yaml_files(path)
            if not found:
                problems.append(f"{path}: no *.yaml mapping files in this directory")
            files += [f for f in found if f not in files]
        elif path.is_file():
            if path not in files:
                files.append(path)
        else:
            problems.append(f"{path}: no such file or directory")
    mappings, errs, failed = _load_files(files)
    problems += errs
    for directory in directories:
        inside = {t for t, f in mappings.files.items() if f.parent == directory}
        inside |= {t for f in _yaml_files(directory) if f not in mappings.files.values() and (t := declared_task(f))}
        problems += _missing_tasks(directory, inside)
    problems += coverage_problems(mappings)
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
        problems += _report(path, wrong)
        warnings += _report(path, unknown)
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
