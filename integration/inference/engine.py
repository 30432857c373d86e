"""CTranslate2 int8 inference over a model bundle.

Two ways to answer a task:

* generate -- greedy decoding, then the task's parser. Requests of any task are batched together,
  grouped by their token limit and sorted by prompt length (see :func:`generation_batches`);
* score    -- for small closed label sets (NLI, N, M): every label is ranked by the model's
  log-probability of ``label + end-of-turn`` after the prompt. The answer is always a valid label.
  The prompt is run through the model once (CTranslate2's static prompt), its state is copied to
  one row per label, and each label is then forced token by token while its log-probabilities are
  read off the logits: one prefill per report instead of one per label;
* score, slot by slot -- for fixed-form answers of many closed choices (abnormality detection's
  14-line checklist, :class:`integration.tasks.Slots`): the answer is forced with every slot at
  its default option and one forward pass over prompt + answer gives, at each slot, which option
  the model would put first. Batched across reports; no decoding loop at all.

The prompt is tokenized exactly as training tokenizes it: chat template with the generation
prompt, then the answer tokens, then the end-of-turn token. What each choice costs and buys is
measured in bench/ (bench/RESULTS.md).
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

import ctranslate2
import numpy as np
import structlog

from integration.inference import prompting
from integration.inference.model_bundle import ModelBundle
from integration.tasks import TASKS, Slots, Task, TaskInput, TaskResult, get_task

log = structlog.get_logger(__name__)

# Slot scoring returns log-probabilities over the whole vocabulary at every position; a call's
# rows are capped so that this array stays under this many bytes (Qwen's 152k vocabulary x a
# 300-token row is 180 MB).
SLOT_LOGITS_BUDGET = 256 * 2**20


class PromptTooLong(ValueError):
    """A report longer than the engine's ``max_input_tokens``: refused, never truncated."""


@dataclass(frozen=True)
class Request:
    task: str
    input: TaskInput
    # Override the task's default decoding ("score" or "generate"); None keeps the default.
    mode: str | None = None


@dataclass
class Output:
    """One answered request: the parsed result plus what the audit trail and metrics need."""

    result: TaskResult
    mode: str
    prompt_tokens: int
    output_tokens: int
    seconds: float
    # For scored tasks: label -> probability among the labels (softmax of sequence log-probs).
    label_probs: dict[str, float] = field(default_factory=dict)
    # For slot-scored tasks: slot -> option -> probability among that slot's options.
    slot_probs: dict[str, dict[str, float]] = field(default_factory=dict)
    # For generated answers: CTranslate2's length-normalised log-probability of the tokens it
    # decoded (the mean per token), the basis of a generated answer's confidence.
    mean_logprob: float | None = None


@dataclass
class _Item:
    """A request once validated and tokenized: where its output goes, its task and prompt ids."""

    index: int
    task: Task
    prompt: list[int]
    # The report text: requests on one report share their prompt up to its end.
    report: str = ""


def generation_batches(items: Sequence[_Item], max_batch_size: int, max_prompt_spread: int) -> list[list[_Item]]:
    """Batches for generate_batch: same token limit, prompts sorted by length, and within a batch
    the longest prompt at most ``max_prompt_spread`` tokens longer than the shortest.

    Why the spread matters: CTranslate2 runs a batch's prompts through the model at once only up
    to the shortest prompt; the rest of each longer prompt is fed one decoding step at a time,
    and every step costs a full batched decoder pass. A batch of 110- and 250-token prompts thus
    pays 140 extra sequential steps -- more than most answers are long.
    """
    batches: list[list[_Item]] = []
    by_limit: dict[int, list[_Item]] = {}
    for item in items:
        by_limit.setdefault(item.task.max_new_tokens, []).append(item)
    for _, group in sorted(by_limit.items()):
        batches += _cut_by_length(group, lambda batch, item: len(batch) >= max_batch_size
                                  or len(item.prompt) - len(batch[0].prompt) > max_prompt_spread)
    return batches


def _cut_by_length(items: Sequence[_Item], full: Callable[[list[_Item], _Item], bool]) -> list[list[_Item]]:
    """Items sorted by prompt length, cut into batches: a new batch starts where ``full(batch,
    next item)`` says the item does not fit the current one."""
    batches: list[list[_Item]] = []
    batch: list[_Item] = []
    for item in sorted(items, key=lambda it: len(it.prompt)):
        if batch and full(batch, item):
            batches.append(batch)
            batch = []
        batch.append(item)
    if batch:
        batches.append(batch)
    return batches


BATCHING = ("length", "report")


def _common_prefix_len(prompts: Sequence[list[int]]) -> int:
    n = 0
    while all(len(p) > n + 1 for p in prompts) and len({p[n] for p in prompts}) == 1:
        n += 1
    return n


def report_batches(items: Sequence[_Item], max_batch_size: int, max_prompt_spread: int) -> list[tuple[list[int], list[_Item]]]:
    """The other batching: one report's tasks together. Their prompts share everything up to the
    report's end, which runs once per batch as a static prompt; the task-specific rest must be
    within ``max_prompt_spread`` tokens in length (same reason as :func:`generation_batches`).
    Returns (shared prefix, batch) pairs."""
    by_report: dict[str, list[_Item]] = {}
    for item in items:
        by_report.setdefault(item.report, []).append(item)
    out: list[tuple[list[int], list[_Item]]] = []
    for group in by_report.values():
        n = _common_prefix_len([it.prompt for it in group])
        prefix = group[0].prompt[:n]
        shifted = {it.index: _Item(it.index, it.task, it.prompt[n:], it.report) for it in group}
        whole = {it.index: it for it in group}
        for batch in generation_batches(list(shifted.values()), max_batch_size, max_prompt_spread):
            out.append((prefix, [whole[it.index] for it in batch]))
    return out


@dataclass(frozen=True)
class SlotPlan:
    """How a Slots answer lies in tokens: the answer with every slot at its default, where each
    slot's option starts in it, and the first token of each option (options must differ there:
    that token is the choice greedy decoding would commit to)."""

    answer: list[int]
    positions: list[int]
    option_ids: list[int]


def slot_plan(tokenizer: object, slots: Slots) -> SlotPlan:
    """Build the plan, or raise ValueError if this tokenizer does not split the answer at slot
    boundaries the way it tokenizes the whole answer (then the task must be generated)."""

    def ids(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])  # type: ignore[operator]

    firsts = [ids(slots.option_text(o)) for o in slots.options]
    if any(not f for f in firsts) or len({f[0] for f in firsts}) != len(firsts):
        raise ValueError("the slot options do not start with distinct tokens")
    pieces: list[tuple[list[int], bool]] = []  # (ids, is the option piece)
    for i, name in enumerate(slots.names):
        if i:
            pieces.append((ids("\n"), False))
        pieces.append((ids(slots.head(name)), False))
        pieces.append(([], True))
    for option in slots.options:
        full = ids(slots.text(dict.fromkeys(slots.names, option)))
        built = [t for piece, is_option in pieces for t in (ids(slots.option_text(option)) if is_option else piece)]
        if built != full:
            raise ValueError("the tokenizer merges tokens across slot boundaries")
    answer, positions = [], []
    for piece, is_option in pieces:
        if is_option:
            positions.append(len(answer))
            piece = ids(slots.option_text(slots.default))
        answer.extend(piece)
    return SlotPlan(answer, positions, [f[0] for f in firsts])


def _log_softmax_at(logits: object, token: int) -> float:
    v = np.asarray(logits, dtype=np.float64)
    top = v.max()
    return float(v[token] - top - math.log(np.exp(v - top).sum()))


# CPU flags under which CTranslate2's int8 products are exact enough: with VNNI the u8 x s8 dot
# products accumulate in int32. Without it (AVX2 only) they go through vpmaddubsw, whose int16
# intermediate saturates: measured on an AVX2-only EPYC with radlite-mini 0.6.0 on the first 100 val
# rows, abnormality macro-F1 0.769 in int8 against 0.805 in float32, N staging 0.35 against 0.475
# (40 rows) -- answers, not only speed, change.
INT8_SAFE_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str] | None:
    """The CPU's feature flags (Linux), or None where they cannot be read."""
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return None


def resolve_compute_type(requested: str, flags: set[str] | None = None) -> str:
    """``auto``: int8 where the CPU has VNNI (or its flags cannot be read), else float32 -- right
    answers before speed. Any other value is used as given."""
    if requested != "auto":
        return requested
    flags = cpu_flags() if flags is None else flags
    if flags is None or any(f in flags for f in INT8_SAFE_FLAGS):
        return "int8"
    return "float32"


class Engine:
    """A loaded bundle ready to answer requests. Not thread-safe for tokenization; share one per worker."""

    def __init__(
        self,
        bundle: ModelBundle,
        *,
        compute_type: str = "auto",
        threads: int = 0,
        max_batch_size: int = 8,
        max_input_tokens: int = 4096,
        max_prompt_spread: int = 32,
        batching: str = "length",
        replicas: int = 1,
        cpu_isa: str | None = None,
    ) -> None:
        from transformers import AutoTokenizer  # noqa: PLC0415 -- transformers (~0.4 s) when an engine is built, not on import

        self.bundle = bundle
        compute_type = resolve_compute_type(compute_type)
        self.compute_type = compute_type
        self.max_batch_size = max_batch_size
        self.max_input_tokens = max_input_tokens
        self.max_prompt_spread = max_prompt_spread
        if batching not in BATCHING:
            raise ValueError(f"batching must be one of {BATCHING}, not {batching!r}")
        self.batching = batching
        if replicas < 1:
            raise ValueError("replicas must be at least 1")
        self.replicas = replicas
        self._label_answers: dict[str, list[list[int]]] = {}
        self._slot_plans: dict[str, SlotPlan | None] = {}
        self.tokenizer = AutoTokenizer.from_pretrained(str(bundle.tokenizer_dir))
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(f"bundle {bundle.path}: tokenizer has no chat template")
        if cpu_isa:
            # CTranslate2 reads this once per process, when the first model is loaded; on AMD CPUs
            # it otherwise picks AVX2 for its own kernels even where AVX-512 is there. (int8 GEMMs
            # go to oneDNN, which chooses its ISA itself.)
            os.environ.setdefault("CT2_FORCE_CPU_ISA", cpu_isa)
        self.generator = ctranslate2.Generator(
            str(bundle.model_dir),
            device="cpu",
            compute_type=compute_type,
            # Replicas share the weights and each runs one batch on its own `threads`: for a small
            # model, replicas x 1 thread beats 1 x N threads (bench/RESULTS.md).
            inter_threads=replicas,
            intra_threads=threads,
        )
        try:
            self.end_tokens = prompting.end_tokens(self.tokenizer, bundle.manifest.end_tokens)
        except ValueError as exc:
            raise ValueError(f"bundle {bundle.path}: {exc}") from None
        self._end_id = self.tokenizer.convert_tokens_to_ids(self.end_tokens[0])
        self.common_prefix = self._common_prefix()

    def _common_prefix(self) -> list[int]:
        """The tokens every prompt starts with (chat template, system prompt, "Report:"), found
        by tokenizing unlike prompts of every task. CTranslate2 runs them once and keeps the state
        (its static-prompt cache holds exactly this one entry), so no prompt pays for them again."""
        probes = [prompting.prompt_ids(self.tokenizer, task, TaskInput(report=text, prior_report=text,
                                                                       hypothesis=text, question=text))
                  for task in TASKS.values()
                  for text in ("a", "Z9", " (x", "\n1.", "ÉÅ")]
        n = 0
        while all(len(p) > n + 1 for p in probes) and len({p[n] for p in probes}) == 1:
            n += 1
        return probes[0][:n]

    # -- tokenization -------------------------------------------------------------------------

    def prompt_ids(self, task: Task, x: TaskInput) -> list[int]:
        ids = prompting.prompt_ids(self.tokenizer, task, x)
        if len(ids) > self.max_input_tokens:
            raise PromptTooLong(
                f"prompt for task {task.name} is {len(ids)} tokens; the limit is {self.max_input_tokens}"
            )
        return ids

    def answer_ids(self, answer: str) -> list[int]:
        return prompting.answer_ids(self.tokenizer, answer, self._end_id)

    def _tokens(self, ids: Sequence[int]) -> list[str]:
        return self.tokenizer.convert_ids_to_tokens(list(ids))

    def slot_plan(self, task: Task) -> SlotPlan | None:
        """The task's slot plan under this bundle's tokenizer; None (and the task is generated
        instead, with a warning) where the tokenizer does not allow one."""
        if task.slots is None:
            return None
        if task.name not in self._slot_plans:
            try:
                self._slot_plans[task.name] = slot_plan(self.tokenizer, task.slots)
            except ValueError as exc:
                log.warning("inference.slot_scoring_unavailable", task=task.name, reason=str(exc), fallback="generate")
                self._slot_plans[task.name] = None
        return self._slot_plans[task.name]

    # -- answering ----------------------------------------------------------------------------

    def run(self, requests: Sequence[Request]) -> list[Output]:
        """Answer requests; outputs come back in the order of the requests. Every request is
        checked and tokenized before any model work, so a bad one fails the call up front."""
        to_generate: list[_Item] = []
        to_score: list[_Item] = []
        to_score_slots: list[_Item] = []
        for i, req in enumerate(requests):
            task = get_task(req.task)
            task.check_input(req.input)
            mode = req.mode or task.mode
            if mode == "score" and not task.scorable:
                raise ValueError(f"task {task.name} has no label set to score")
            item = _Item(i, task, self.prompt_ids(task, req.input), req.input.report)
            if mode != "score":
                to_generate.append(item)
            elif task.labels:
                to_score.append(item)
            elif self.slot_plan(task) is not None:
                to_score_slots.append(item)
            else:
                to_generate.append(item)

        for item in to_score:  # tokenized here: the tokenizer is not shared across threads
            if item.task.name not in self._label_answers:
                self._label_answers[item.task.name] = [self.answer_ids(label) for label in item.task.labels or ()]
        if self.batching == "report":
            batches = report_batches(to_generate, self.max_batch_size, self.max_prompt_spread)
        else:
            batches = [(self.common_prefix, b)
                       for b in generation_batches(to_generate, self.max_batch_size, self.max_prompt_spread)]

        # Units of model work, each answering some items; with replicas they run concurrently
        # (CTranslate2 releases the GIL and gives each call to a free replica).
        work: list[tuple[list[_Item], Callable[[], list[Output]]]] = []
        for item in to_score:
            work.append(([item], lambda item=item: [self._score(item)]))
        for batch in self._slot_batches(to_score_slots):
            work.append((batch, lambda batch=batch: self._score_slots(batch)))
        for prefix, batch in batches:
            work.append((batch, lambda batch=batch, prefix=prefix: self._generate(batch, prefix)))
        if self.replicas > 1 and len(work) > 1:
            with ThreadPoolExecutor(max_workers=self.replicas) as pool:
                answered = list(pool.map(lambda unit: unit[1](), work))
        else:
            answered = [unit[1]() for unit in work]

        outputs: list[Output | None] = [None] * len(requests)
        for (items, _), outs in zip(work, answered):
            for item, out in zip(items, outs):
                outputs[item.index] = out
        return [o for o in outputs if o is not None]

    def _generate(self, batch: list[_Item], prefix: list[int]) -> list[Output]:
        """Greedy decoding of one batch. ``prefix`` (tokens all its prompts start with) is run once
        as CTranslate2's static prompt and its state copied to every row; only the engine's
        constant prefix is kept in CTranslate2's cache, which has no eviction."""
        started = time.perf_counter()
        n = len(prefix) if prefix and all(it.prompt[:len(prefix)] == prefix and len(it.prompt) > len(prefix)
                                          for it in batch) else 0
        static = {}
        if n:
            static = {"static_prompt": self._tokens(prefix),
                      "cache_static_prompt": prefix is self.common_prefix}
        results = self.generator.generate_batch(
            [self._tokens(it.prompt[n:]) for it in batch],
            **static,
            max_length=batch[0].task.max_new_tokens,
            sampling_topk=1,
            beam_size=1,
            include_prompt_in_result=False,
            end_token=self.end_tokens,
            return_scores=True,
        )
        per_item = (time.perf_counter() - started) / len(batch)
        outs = []
        for item, res in zip(batch, results):
            ids = res.sequences_ids[0]
            text = self.tokenizer.decode(ids, skip_special_tokens=True).strip()
            score = res.scores[0] if res.scores else None
            outs.append(Output(item.task.parse(text), "generate", len(item.prompt), len(ids), per_item,
                               mean_logprob=None if score is None else float(score)))
        return outs

    def _score(self, item: _Item) -> Output:
        started = time.perf_counter()
        task, prompt = item.task, item.prompt
        labels = list(task.labels or ())
        answers = self._label_answers.get(task.name) or [self.answer_ids(label) for label in labels]
        # The static prompt (all but the prompt's last token) is prefilled once and copied to one
        # row per label; each row then starts from the last prompt token and is forced through
        # the label's tokens. logits[j] is the distribution that predicts the row's token j+1.
        results = self.generator.generate_batch(
            [self._tokens([prompt[-1], *answer]) for answer in answers],
            static_prompt=self._tokens(prompt[:-1]),
            cache_static_prompt=False,  # one prompt per report: caching would only grow memory
            include_prompt_in_result=True,
            max_length=max(len(a) for a in answers),
            return_logits_vocab=True,
            sampling_topk=1,
            end_token=[],  # the forced end-of-turn token must not stop a row early
        )
        logp: dict[str, float] = {}
        for label, answer, res in zip(labels, answers, results):
            steps = res.logits[0]
            if len(steps) < len(answer):
                raise RuntimeError(f"scoring {task.name}: {len(steps)} logit steps for a {len(answer)}-token label")
            logp[label] = sum(_log_softmax_at(steps[j], tok) for j, tok in enumerate(answer))
        best = max(logp, key=logp.get)
        top = logp[best]
        z = sum(math.exp(v - top) for v in logp.values())
        probs = {label: math.exp(v - top) / z for label, v in logp.items()}
        # Labels are answer texts; the value is what the task's parser reads from the best one
        # (the label itself for N, M and NLI; a {system, category} dict for RADS).
        result = task.parse(best)
        n_answer = len(answers[labels.index(best)])
        return Output(result, "score", len(prompt), n_answer, time.perf_counter() - started, probs)

    def _slot_batches(self, items: Sequence[_Item]) -> list[list[_Item]]:
        """Rows of one task, shortest prompt first, at most ``max_batch_size`` a call and at most
        SLOT_LOGITS_BUDGET bytes of log-probabilities (rows x longest row x vocabulary x 4)."""
        by_task: dict[str, list[_Item]] = {}
        for item in items:
            by_task.setdefault(item.task.name, []).append(item)
        vocab = len(self.tokenizer)
        batches: list[list[_Item]] = []
        for group in by_task.values():
            answer = len(self._slot_plans[group[0].task.name].answer)  # type: ignore[union-attr]
            # Sorted, so the next item's row is the longest in the batch it would join.
            batches += _cut_by_length(group, lambda batch, item, answer=answer: len(batch) >= self.max_batch_size
                                      or (len(batch) + 1) * (len(item.prompt) + answer) * vocab * 4 > SLOT_LOGITS_BUDGET)
        return batches

    def _score_slots(self, batch: list[_Item]) -> list[Output]:
        started = time.perf_counter()
        task = batch[0].task
        slots, plan = task.slots, self._slot_plans[task.name]
        assert slots is not None and plan is not None
        log_probs = np.asarray(
            self.generator.forward_batch([self._tokens(it.prompt + plan.answer) for it in batch],
                                         return_log_probs=True)
        )
        per_item = (time.perf_counter() - started) / len(batch)
        calibration = self.bundle.manifest.calibration.get(task.name)
        outs = []
        for row, item in enumerate(batch):
            probs: dict[str, dict[str, float]] = {}
            for name, position in zip(slots.names, plan.positions):
                # log_probs[row, j] predicts token j + 1: the slot's option at prompt + position.
                v = log_probs[row, len(item.prompt) + position - 1, plan.option_ids].astype(np.float64)
                p = np.exp(v - v.max())
                p /= p.sum()
                probs[name] = {o: float(x) for o, x in zip(slots.options, p)}
            # slot_probs stay the model's own; the bundle's calibration only moves the choice.
            choices = slots.choose(probs, calibration.bias if calibration else None)
            result = TaskResult(task=task.name, parsed=True, value=slots.resolve(choices), raw=slots.text(choices))
            outs.append(Output(result, "score", len(item.prompt), len(plan.answer), per_item, slot_probs=probs))
        return outs
