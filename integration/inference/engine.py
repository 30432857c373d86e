"""CTranslate2 int8 inference over a model bundle.

Two ways to answer a task:

* generate -- greedy decoding, batched across requests of the same task, then the task's parser;
* score    -- for small closed label sets (NLI, N, M): each label is appended to the prompt and
  ranked by the model's log-probability of ``label + end-of-turn``. The answer is always a valid
  label, and one batched forward pass replaces a decode loop, which is slow on CPUs.

The prompt is tokenized exactly as training tokenizes it: chat template with the generation
prompt, then the answer tokens, then the end-of-turn token.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import ctranslate2

from integration.inference import prompting
from integration.inference.bundle import Bundle
from integration.tasks import Task, TaskInput, TaskResult, get_task


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


class Engine:
    """A loaded bundle ready to answer requests. Not thread-safe for tokenization; share one per worker."""

    def __init__(
        self,
        bundle: Bundle,
        *,
        compute_type: str = "int8",
        threads: int = 0,
        max_batch_size: int = 8,
        max_input_tokens: int = 2048,
    ) -> None:
        from transformers import AutoTokenizer

        self.bundle = bundle
        self.compute_type = compute_type
        self.max_batch_size = max_batch_size
        self.max_input_tokens = max_input_tokens
        self.tokenizer = AutoTokenizer.from_pretrained(str(bundle.tokenizer_dir))
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(f"bundle {bundle.path}: tokenizer has no chat template")
        self.generator = ctranslate2.Generator(
            str(bundle.model_dir),
            device="cpu",
            compute_type=compute_type,
            inter_threads=1,
            intra_threads=threads,
        )
        try:
            self.end_tokens = prompting.end_tokens(self.tokenizer, bundle.manifest.end_tokens)
        except ValueError as exc:
            raise ValueError(f"bundle {bundle.path}: {exc}") from None
        self._end_id = self.tokenizer.convert_tokens_to_ids(self.end_tokens[0])

    # -- tokenization -------------------------------------------------------------------------

    def prompt_ids(self, task: Task, x: TaskInput) -> list[int]:
        ids = prompting.prompt_ids(self.tokenizer, task, x)
        if len(ids) > self.max_input_tokens:
            raise ValueError(
                f"prompt for task {task.name} is {len(ids)} tokens; the limit is {self.max_input_tokens}"
            )
        return ids

    def answer_ids(self, answer: str) -> list[int]:
        return prompting.answer_ids(self.tokenizer, answer, self._end_id)

    def _tokens(self, ids: Sequence[int]) -> list[str]:
        return self.tokenizer.convert_ids_to_tokens(list(ids))

    # -- answering ----------------------------------------------------------------------------

    def run(self, requests: Sequence[Request]) -> list[Output]:
        """Answer requests in order. Requests of one task and mode are batched together."""
        outputs: list[Output | None] = [None] * len(requests)
        groups: dict[tuple[str, str], list[int]] = {}
        for i, req in enumerate(requests):
            task = get_task(req.task)
            task.check_input(req.input)
            mode = req.mode or task.mode
            if mode == "score" and not task.labels:
                raise ValueError(f"task {task.name} has no label set to score")
            groups.setdefault((task.name, mode), []).append(i)

        for (name, mode), idx in groups.items():
            task = get_task(name)
            answer = self._score if mode == "score" else self._generate
            for start in range(0, len(idx), self.max_batch_size):
                chunk = idx[start : start + self.max_batch_size]
                for i, out in zip(chunk, answer(task, [requests[i].input for i in chunk])):
                    outputs[i] = out
        return [o for o in outputs if o is not None]

    def _generate(self, task: Task, inputs: list[TaskInput]) -> list[Output]:
        started = time.perf_counter()
        prompts = [self.prompt_ids(task, x) for x in inputs]
        results = self.generator.generate_batch(
            [self._tokens(p) for p in prompts],
            max_length=task.max_new_tokens,
            sampling_topk=1,
            beam_size=1,
            include_prompt_in_result=False,
            end_token=self.end_tokens,
            max_batch_size=self.max_batch_size,
        )
        per_item = (time.perf_counter() - started) / len(inputs)
        outs = []
        for prompt, res in zip(prompts, results):
            ids = res.sequences_ids[0]
            text = self.tokenizer.decode(ids, skip_special_tokens=True).strip()
            outs.append(Output(task.parse(text), "generate", len(prompt), len(ids), per_item))
        return outs

    def _score(self, task: Task, inputs: list[TaskInput]) -> list[Output]:
        started = time.perf_counter()
        labels = list(task.labels or ())
        answers = {label: self.answer_ids(task.render(label)) for label in labels}
        prompts = [self.prompt_ids(task, x) for x in inputs]
        batch = [self._tokens(p + answers[label]) for p in prompts for label in labels]
        scored = self.generator.score_batch(batch, max_batch_size=self.max_batch_size * len(labels))
        per_item = (time.perf_counter() - started) / len(inputs)
        outs = []
        for n, prompt in enumerate(prompts):
            logp = {}
            for k, label in enumerate(labels):
                # log_probs[j] is log P(token j+1 | tokens ..j); keep the answer tokens only.
                lp = scored[n * len(labels) + k].log_probs
                logp[label] = float(sum(lp[-len(answers[label]) :]))
            best = max(logp, key=logp.get)
            top = max(logp.values())
            z = sum(math.exp(v - top) for v in logp.values())
            probs = {label: math.exp(v - top) / z for label, v in logp.items()}
            result = TaskResult(task=task.name, parsed=True, value=best, raw=task.render(best))
            outs.append(Output(result, "score", len(prompt), len(answers[best]), per_item, probs))
        return outs
