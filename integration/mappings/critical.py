"""Critical-result rules: which decided results must reach a clinician now (issue 23, first part).

Rules are data, in ``<mappings dir>/critical/rules.yaml`` (the shipped set: mappings/critical/
rules.yaml, each rule with its source). A rule names a task and a condition on that task's
*written* answer -- never on an abstained one, never on the model's own answer where the adapter
did not write it -- in the terms of the task's write kind, checked against the task's vocabulary
(``Task.vocabulary``):

* ``label_status`` (abnormality_detection): ``label`` and the ``status`` values that trigger;
* ``rads`` (rads_assignment): ``system`` and the ``category`` values;
* ``category`` (n_staging, m_staging): the ``value`` values;
* ``changes`` (temporal_comparison): the ``change`` values (any changed finding).

A ``category`` or ``rads`` rule may also name ``prior`` values: it is then met only when the
patient's prior report (the worker's :meth:`~integration.store.JobStore.prior_report`) had one of
them written for the same task -- "M1 where the prior said M0". The worker notes the prior's answer
on the result (:func:`record_prior`), so every reader applies the rule the same way.

Each rule has a ``category`` (critical, urgent, incidental_actionable), a ``recipient`` rule
(the report's results interpreter, the ordering provider, or a configured team) and a time limit
in minutes. :func:`critical_findings` applies the rules to a job's results; the job API shows the
findings and the worker records them in the audit trail and ``/metrics``. Delivery to the EHR (a
Communication, escalation) builds on this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from integration.mappings.yaml_lines import line_of, located, read_yaml, schema_items
from integration.tasks import TASKS

RULES_PATH = Path("critical") / "rules.yaml"  # inside the mappings directory
CATEGORIES = ("critical", "urgent", "incidental_actionable")
# A job's write-back priority by the most urgent rule its results meet (store: jobs.priority).
PRIORITY = {"critical": 3, "urgent": 2, "incidental_actionable": 1}
# The condition key each write kind's rules use, and the vocabulary entry its values come from.
_CONDITION = {"label_status": "status", "rads": "category", "category": "value", "changes": "change"}
ESCALATION_KEY = re.compile(r"^(ordering_provider|results_interpreter|team:[A-Za-z0-9_.-]{1,64})$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Model):
    task: str
    label: str | None = None  # label_status: which label
    status: tuple[str, ...] = ()
    system: str | None = None  # rads: which system
    category: tuple[str, ...] = ()
    value: tuple[str, ...] = ()
    change: tuple[str, ...] = ()
    # label_status: not when the report itself states the finding's change as one of these
    # ("decreased small pneumothorax" is improved: known and treated, not a new critical result).
    unless_stated: tuple[str, ...] = ()
    # category / rads: only when the patient's prior report's written answer to the same task was
    # one of these ("M1 where the prior said M0": new distant disease). Without a prior report, or
    # without a written answer in it, such a rule is not met.
    prior: tuple[str, ...] = ()


class Rule(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    category: Literal["critical", "urgent", "incidental_actionable"]
    when: Condition
    recipient: Literal["results_interpreter", "ordering_provider", "team"]
    team: str | None = None
    within_minutes: int = Field(gt=0, le=7 * 24 * 60)
    source: str = Field(min_length=1)  # where the rule comes from (a guideline, a site decision)
    # Who is alerted next, in order, when an alert is not acknowledged within the time limit:
    # "ordering_provider", "results_interpreter" or "team:<name>".
    escalate_to: tuple[str, ...] = ()
    # Also write a FHIR Flag on the patient (a banner in the EHR), not only the Communication.
    flag: bool = False

    @model_validator(mode="after")
    def _team_named(self) -> "Rule":
        if (self.recipient == "team") != bool(self.team):
            raise ValueError("recipient 'team' needs a team name, and a team name needs recipient 'team'")
        for key in self.escalate_to:
            if not ESCALATION_KEY.match(key):
                raise ValueError(f"escalate_to: {key!r} is not ordering_provider, results_interpreter or team:<name>")
        return self

    @property
    def recipient_key(self) -> str:
        """The first recipient as a key of the resolved recipients: ``ordering_provider``,
        ``results_interpreter`` or ``team:<name>``."""
        return f"team:{self.team}" if self.recipient == "team" else self.recipient

    @property
    def chain(self) -> tuple[str, ...]:
        """Every recipient key in the order the alert goes to them: first, then escalations."""
        return (self.recipient_key, *self.escalate_to)


class RuleFile(_Model):
    rules: tuple[Rule, ...]


def condition_problems(rule: Rule) -> list[tuple[tuple[str, ...], str]]:
    """(key path, problem) for a condition that does not fit its task: unknown task, a task that
    writes nothing, a label/system/value outside the task's vocabulary, a missing trigger."""
    cond = rule.when
    task = TASKS.get(cond.task)
    if task is None:
        return [(("when", "task"), f"unknown task {cond.task!r}")]
    kind = task.write_kind
    if kind not in _CONDITION:
        return [(("when", "task"), f"{cond.task} writes {kind!r} answers, which no rule can test")]
    key = _CONDITION[kind]
    used = {k for k in ("label", "status", "system", "category", "value", "change", "unless_stated", "prior")
            if getattr(cond, k)}
    allowed = {key} | ({"label", "unless_stated"} if kind == "label_status" else {"system", "prior"} if kind == "rads"
                       else {"prior"} if kind == "category" else set())
    out = [(("when", k), f"not a condition of a {kind} task ({cond.task})") for k in sorted(used - allowed)]
    vocab = task.vocabulary
    if kind == "label_status":
        if cond.label not in vocab["labels"]:
            out.append((("when", "label"), f"{cond.label!r} is not a label of {cond.task}"))
        known = vocab["statuses"]
    elif kind == "rads":
        if cond.system not in vocab["systems"]:
            out.append((("when", "system"), f"{cond.system!r} is not a RADS system ({', '.join(vocab['systems'])})"))
            known = ()
        else:
            known = vocab[f"system:{cond.system}"]
    else:
        known = vocab["values" if kind == "category" else "changes"]
    changes = next((t.vocabulary["changes"] for t in TASKS.values() if t.write_kind == "changes"), ())
    for v in cond.unless_stated:
        if v not in changes:
            out.append((("when", "unless_stated"), f"{v!r} is not a change ({', '.join(changes)})"))
    values = getattr(cond, key)
    if not values:
        out.append((("when", key), "no value triggers the rule"))
    for v in values:
        if known and v not in known:
            out.append((("when", key), f"{v!r} is not one of {', '.join(known)}"))
    if kind in ("category", "rads"):
        for v in cond.prior:
            if known and v not in known:
                out.append((("when", "prior"), f"{v!r} is not one of {', '.join(known)}"))
    return out


def load_rules_file(path: Path) -> tuple[tuple[Rule, ...], list[str]]:
    """(rules, ``file:line: key: problem`` lines) -- what ``radlite mappings validate`` reports."""
    data, root, problems = read_yaml(path)
    if problems:
        return (), problems
    try:
        parsed = RuleFile.model_validate(data)
    except ValidationError as exc:
        return (), located(path, schema_items(exc, root))
    items = []
    seen: set[str] = set()
    for i, rule in enumerate(parsed.rules):
        if rule.id in seen:
            items.append((line_of(root, ("rules", str(i), "id")), f"rules.{i}.id", f"duplicate rule id {rule.id!r}"))
        seen.add(rule.id)
        for loc, problem in condition_problems(rule):
            full = ("rules", str(i), *loc)
            items.append((line_of(root, full), ".".join(full), problem))
    return (parsed.rules if not items else ()), located(path, items)


@dataclass(frozen=True)
class Finding:
    """One rule that a job's written results meet."""

    rule: Rule
    task: str
    item: str  # what met it: the label, "BI-RADS 5", "M1c", "Pleural effusion: worsened"
    evidence: list[dict[str, Any]]
    key: str = ""  # the written result's finding key (its Observation): "label:Pneumothorax", ...

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.id, "category": self.rule.category, "task": self.task, "item": self.item,
                "recipient": self.rule.team if self.rule.recipient == "team" else self.rule.recipient,
                "within_minutes": self.rule.within_minutes, "escalate_to": list(self.rule.escalate_to),
                "evidence": self.evidence}


def _written(record: Any) -> Any:
    """The value the adapter writes for a result, or None (abstained, skipped, unparsed)."""
    if not isinstance(record, dict) or record.get("abstained") or record.get("skipped") or not record.get("parsed", True):
        return None
    return record.get("value")


def prior_tasks(rules: tuple[Rule, ...]) -> set[str]:
    """The tasks whose rules compare with the patient's prior report."""
    return {r.when.task for r in rules if r.when.prior}


def record_prior(results: dict[str, Any], prior_results: dict[str, Any] | None, prior_job: str,
                 tasks: set[str]) -> None:
    """Note on each result of ``tasks`` what the prior report's job wrote for the same task
    (``prior_value``, ``prior_job``), so that every reader of the results -- the worker, the job
    API, the write-back -- meets the same rules without reading the prior again."""
    for task in tasks:
        record = results.get(task)
        value = _written((prior_results or {}).get(task))
        if isinstance(record, dict) and value is not None:
            record["prior_value"] = value
            record["prior_job"] = prior_job


def _prior_met(cond: Condition, record: dict[str, Any], kind: str) -> bool:
    if not cond.prior:
        return True
    prior = record.get("prior_value")
    if kind == "rads":
        return isinstance(prior, dict) and prior.get("system") == cond.system and prior.get("category") in cond.prior
    return isinstance(prior, str) and prior in cond.prior


def critical_findings(results: dict[str, Any] | None, rules: tuple[Rule, ...]) -> list[Finding]:
    """The rules a job's written results meet, most urgent category first (rules in file order
    within a category)."""
    out: list[Finding] = []
    for rule in rules:
        cond = rule.when
        record = (results or {}).get(cond.task)
        value = _written(record)
        if value is None or cond.task not in TASKS:
            continue
        evidence = record.get("evidence") or {}
        kind = TASKS[cond.task].write_kind
        if kind == "label_status" and isinstance(value, dict):
            if value.get(cond.label) in cond.status and \
                    (record.get("stated_changes") or {}).get(cond.label) not in cond.unless_stated:
                key = f"label:{cond.label}"
                out.append(Finding(rule, cond.task, str(cond.label), evidence.get(key) or [], key))
        elif kind == "rads" and isinstance(value, dict):
            if value.get("system") == cond.system and value.get("category") in cond.category \
                    and _prior_met(cond, record, kind):
                out.append(Finding(rule, cond.task, f"{cond.system} {value['category']}", _all(evidence), "assessment"))
        elif kind == "category" and isinstance(value, str):
            if value in cond.value and _prior_met(cond, record, kind):
                out.append(Finding(rule, cond.task, value, _all(evidence), "category"))
        elif kind == "changes" and isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and item.get("change") in cond.change:
                    key = f"change:{item.get('finding')}:{item['change']}"
                    out.append(Finding(rule, cond.task, f"{item.get('finding')}: {item['change']}", evidence.get(key) or [], key))
    return sorted(out, key=lambda f: CATEGORIES.index(f.rule.category))


def _all(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for items in evidence.values() if isinstance(items, list) for item in items]


def write_priority(findings: list[Finding]) -> int:
    """0 without a finding, else the most urgent finding's :data:`PRIORITY`."""
    return max((PRIORITY[f.rule.category] for f in findings), default=0)
