"""The task contract shared by serving and training.

A task is data plus three small functions:

* ``messages(x)``   -- the chat messages for one input, in the paper's ``[TASK: name]`` format;
* ``parse(text)``   -- model text -> :class:`TaskResult`; never raises;
* ``render(value)`` -- a typed value -> the exact answer text the model is trained to emit.

``parse(render(v)).value == v`` for every valid value, which is what lets the dataset store
answers as text and the evaluator compare typed values.

Prompt order is fixed: system, then the report, then the ``[TASK: name]`` line and the
instruction, then any task-specific extra (hypothesis, question, prior report). The report comes
first so that every task run on one report shares a token prefix the engine can reuse; training
uses the same order, so the model never sees another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from pydantic import BaseModel, ConfigDict

PROMPT_FORMAT_VERSION = "radlite-prompt/3"

# How a task is decoded: "score" ranks its label set, "generate" decodes and parses.
MODES = ("score", "generate")

# What a task's answer becomes in the EHR: the shape its mapping file must have
# (integration/mappings/schema.py, one schema per kind; "none" writes nothing).
WRITE_KINDS = ("label_status", "entities", "changes", "rads", "category", "text", "none")
# Kinds whose answer is a set of items (labels, entities, changes), each written or abstained on its
# own; the others are one value.
ITEM_WRITE_KINDS = ("label_status", "entities", "changes")

# Inputs the adapter finds for a pushed report itself: the patient's earlier report, from the store.
# A task that requires anything else (a hypothesis, a question) is served by the API only.
FOUND_INPUTS = ("prior_report",)

SYSTEM_PROMPT = (
    "You are RadLite, an assistant for radiology reports. "
    "Answer only in the format the task asks for."
)


@dataclass(frozen=True)
class TaskInput:
    """What a task reads. ``report`` is always present; the others only for the tasks that need them."""

    report: str
    prior_report: str | None = None  # temporal_comparison: the earlier report
    hypothesis: str | None = None  # radiology_nli: the statement to judge against the report
    question: str | None = None  # radiology_qa


class TaskResult(BaseModel):
    """The typed outcome of one task on one input.

    ``parsed`` is False when the model text could not be read; ``value`` is then None and
    ``error`` says why. ``raw`` keeps the model text for the API and evaluation -- it is
    never logged (it may echo PHI from the report).
    """

    model_config = ConfigDict(frozen=True)

    task: str
    parsed: bool
    value: Any = None
    error: str | None = None
    raw: str = ""


class ParseError(ValueError):
    """Raised inside a task parser; :meth:`Task.parse` turns it into an unparsed result."""


Metric = Callable[[Sequence[Any], Sequence[Any]], dict[str, float]]
# slot -> option -> number added to that option's log-probability before the choice.
SlotBias = dict[str, dict[str, float]]


def _log(p: float) -> float:
    return math.log(p) if p > 0 else -math.inf


@dataclass(frozen=True)
class Slots:
    """A fixed-form answer: one line ``"{name}: {option}"`` per name, in order, each option one of
    ``options``. Such an answer can be scored instead of decoded: the engine forces the lines
    with every slot at ``default`` and reads, in the same forward pass, which option the model
    puts first at each slot -- one pass over prompt and answer instead of one decoding step per
    answer token. Each slot is then judged with the earlier slots at ``default`` rather than at
    the model's own choices, so ``resolve`` turns the choices into the task's value and may apply
    the task's own consistency rules (CheXpert's "No Finding")."""

    names: tuple[str, ...]
    options: tuple[str, ...]
    default: str
    resolve: Callable[[dict[str, str]], Any]

    @staticmethod
    def head(name: str) -> str:
        return f"{name}:"

    @staticmethod
    def option_text(option: str) -> str:
        return f" {option}"

    def text(self, choices: dict[str, str]) -> str:
        return "\n".join(self.head(n) + self.option_text(choices[n]) for n in self.names)

    def choose(self, probs: dict[str, dict[str, float]], bias: SlotBias | None = None) -> dict[str, str]:
        """Each slot's option: the highest log-probability plus the option's bias (0 where none).

        ``bias`` is a model's decision calibration (a bundle's, fitted on val data by
        ``radlite model calibrate``): with bias b on "positive", a slot is positive once
        P(positive) > P(other) * e^-b. Without it this is the plain argmax. Ties go to the
        earlier option."""
        bias = bias or {}
        choices = {}
        for name in self.names:
            shift = bias.get(name, {})
            choices[name] = max(self.options, key=lambda o: _log(probs[name][o]) + shift.get(o, 0.0))
        return choices


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    instruction: str
    max_new_tokens: int
    # How a value is read from model text. Raises ParseError (or anything) on bad text.
    parser: Callable[[str], Any]
    # How a value is written as the answer text the model learns.
    render: Callable[[Any], str]
    # metric(predicted values, gold values) -> named scores; a None prediction is a miss.
    metric: Metric
    # The closed answer set, as answer texts (parse(label) reads each), to score label by label.
    labels: tuple[str, ...] | None = None
    # Or a fixed-form answer scored slot by slot (see Slots); a task has labels or slots, not both.
    slots: Slots | None = None
    # Default decoding: "score" ranks ``labels`` (or each slot's options) with the model,
    # "generate" decodes and parses.
    mode: str = "generate"
    # Which TaskInput fields beyond ``report`` must be present.
    requires: tuple[str, ...] = ()
    # Name of the primary metric, the one tables lead with.
    primary_metric: str = "accuracy"
    # What the answer becomes in the EHR (one of WRITE_KINDS; its mapping file has this kind).
    write_kind: str = "none"
    # The confidence a written answer needs when neither the model bundle (its val-chosen
    # thresholds, `radlite model thresholds`) nor the site sets one: conservative on purpose. API-only
    # tasks write nothing, so theirs is 0 (the caller sees the confidence).
    min_confidence: float = 0.5
    # The closed vocabularies of the answer that a mapping file must cover, by name; which names a
    # write kind reads: category "values" (default: ``labels``), label_status "labels"
    # and "statuses", entities "entities", changes "changes", rads "systems" and "system:<name>"
    # (that system's categories). Mapping validation reads them (integration/mappings).
    vocabulary: dict[str, tuple[str, ...]] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"task {self.name}: mode must be 'score' or 'generate'")
        if self.labels and self.slots:
            raise ValueError(f"task {self.name}: labels or slots, not both")
        if self.mode == "score" and not (self.labels or self.slots):
            raise ValueError(f"task {self.name}: scoring needs a label set or slots")
        if self.write_kind not in WRITE_KINDS:
            raise ValueError(f"task {self.name}: write_kind must be one of {WRITE_KINDS}")
        if self.write_kind == "category" and "values" not in self.vocabulary:
            if not self.labels:
                raise ValueError(f"task {self.name}: a category task needs labels or vocabulary['values']")
            object.__setattr__(self, "vocabulary", {**self.vocabulary, "values": tuple(self.labels)})

    @property
    def routable(self) -> bool:
        """Runs on a pushed report (routing may choose it): it needs nothing beyond what the
        adapter finds itself. The others (a hypothesis, a question) are served by the API only."""
        return all(name in FOUND_INPUTS for name in self.requires)

    @property
    def needs_prior(self) -> bool:
        """Compares with the patient's earlier report: skipped when the store holds none."""
        return "prior_report" in self.requires

    @property
    def writes(self) -> bool:
        """Its answers go into the chart (a mapping file says how); API-only tasks write nothing."""
        return self.write_kind != "none"

    @property
    def writes_items(self) -> bool:
        """Its answer is a set of items, each decided and written on its own."""
        return self.write_kind in ITEM_WRITE_KINDS

    @property
    def scorable(self) -> bool:
        return bool(self.labels or self.slots)

    @property
    def tag(self) -> str:
        return f"[TASK: {self.name}]"

    def check_input(self, x: TaskInput) -> None:
        """Raise ValueError naming the missing field; the API turns it into a 422."""
        if not (x.report or "").strip():
            raise ValueError(f"task {self.name} needs report text")
        for name in self.requires:
            if not (getattr(x, name) or "").strip():
                raise ValueError(f"task {self.name} needs '{name}'")

    def user_message(self, x: TaskInput) -> str:
        parts = [f"Report:\n{x.report.strip()}", f"{self.tag}\n{self.instruction}"]
        if "prior_report" in self.requires:
            parts.append(f"Prior report:\n{(x.prior_report or '').strip()}")
        if "hypothesis" in self.requires:
            parts.append(f"Hypothesis: {(x.hypothesis or '').strip()}")
        if "question" in self.requires:
            parts.append(f"Question: {(x.question or '').strip()}")
        return "\n\n".join(parts)

    def messages(self, x: TaskInput) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": self.user_message(x)},
        ]

    def parse(self, text: str) -> TaskResult:
        """Read model text. Never raises: bad text gives ``parsed=False`` with the reason."""
        raw = text if isinstance(text, str) else ""
        try:
            value = self.parser(raw)
        except Exception as exc:  # noqa: BLE001 -- the contract is "never raises"
            reason = str(exc) or type(exc).__name__
            return TaskResult(task=self.name, parsed=False, error=reason[:300], raw=raw)
        return TaskResult(task=self.name, parsed=True, value=value, raw=raw)

    def score(self, predicted: Sequence[Any], gold: Sequence[Any]) -> dict[str, float]:
        if len(predicted) != len(gold):
            raise ValueError("predicted and gold differ in length")
        return self.metric(predicted, gold)
