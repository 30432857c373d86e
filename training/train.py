"""Multi-task LoRA fine-tuning, in one readable loop.

Defaults follow the RadLite paper: LoRA rank 64, alpha 128, dropout 0.05 on all seven
projections (q, k, v, o, gate, up, down). Loss is on the answer tokens only. Each step draws
its examples task-balanced (a task uniformly -- or by ``task_weights`` -- then an example of that
task), so a large task (impression generation) cannot drown a small one (M staging). Checkpoints hold the adapter,
the optimizer and the step, so an interrupted run resumes where it stopped.

Prompts are tokenized by ``integration.inference.prompting`` -- the very code the engine uses.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from tqdm import tqdm

from integration.inference import prompting
from integration.inference.engine import slot_plan
from integration.tasks import PROMPT_FORMAT_VERSION, TaskInput, get_task
from training.build import ADAPTER_WEIGHTS, adapter_sha256

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class TrainConfig:
    base: str  # transformers folder (or hub id) of the base model
    data: str  # dataset folder with train.jsonl (from `radlite model data`)
    out: str  # run folder: checkpoints and the final adapter
    rank: int = 64
    alpha: int = 128
    dropout: float = 0.05
    targets: tuple[str, ...] = LORA_TARGETS
    steps: int = 1000
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 2e-4
    warmup: int = 30
    weight_decay: float = 0.0
    max_len: int = 512  # longer examples are skipped, never truncated (that would change the prompt)
    seed: int = 0
    tasks: tuple[str, ...] = ()  # empty = every task in the data
    # Relative draw weight per task (default 1): more steps for a task that learns slowly.
    task_weights: dict[str, float] = field(default_factory=dict)
    checkpoint_every: int = 100
    group_by_length: int = 16  # batches drawn together and sorted by length (1 = off); see batches()
    threads: int = 0  # torch CPU threads; 0 = torch's default
    bf16: bool = False  # autocast to bfloat16 (CPUs with AVX512-BF16/AMX, or GPUs)
    # Start from this LoRA adapter's weights instead of LoRA's initialisation (a second stage on
    # new data); its rank, alpha and targets must equal the ones above.
    init_adapter: str | None = None
    # Loss weight on the decision token of each slot of a slot-scored answer (the abnormality
    # checklist) whose gold option is not the slot's default -- a finding present or uncertain.
    # The checklist is ~60 answer tokens of which 14 decide anything and 1-3 are not "negative",
    # so at weight 1 a rare finding's one token is about 1/300 of a batch's loss (and 0.4.1 still
    # ranked Pleural Other at AP 0.19 on its own training reports). Weighted mean, so the loss
    # scale stays comparable.
    option_weight: float = 1.0
    # Keep these tasks where the starting adapter (init_adapter) has them: their rows are not
    # trained on; a KL term (weight keep_weight) holds their answer-token distributions to the
    # starting adapter's ("learning without forgetting", Li & Hoiem 2016) while the other tasks
    # learn. Why: continuations that lifted one task (abnormality) cost another's own answers (M
    # staging) at every step size tried, and more M rows made M worse (docs/model.md, stages 3c-3e).
    keep_tasks: tuple[str, ...] = ()
    keep_weight: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def load_examples(data_dir: str | Path, split: str = "train") -> list[dict[str, Any]]:
    path = Path(data_dir) / f"{split}.jsonl"
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


Example = tuple[list[int], list[int], list[float]]


def encode(tokenizer: Any, row: dict[str, Any], end_id: int, option_weight: float = 1.0) -> Example:
    """(input ids, labels, loss weights) for one example; labels are -100 on the prompt, weights
    are 1 except on a slot answer's non-default decision tokens (``TrainConfig.option_weight``)."""
    task = get_task(row["task"])
    x = TaskInput(**row["input"])
    prompt = prompting.prompt_ids(tokenizer, task, x)
    answer = prompting.answer_ids(tokenizer, row["output"], end_id)
    weights = [1.0] * len(answer)
    if option_weight != 1.0 and task.slots is not None:
        for position in non_default_options(tokenizer, task, answer[:-1]):
            weights[position] = option_weight
    return prompt + answer, [-100] * len(prompt) + answer, [1.0] * len(prompt) + weights


def non_default_options(tokenizer: Any, task: Any, answer: list[int]) -> list[int]:
    """Positions in a slot answer's tokens where a slot's option is not its default.

    Uses the engine's own layout of the answer (:func:`slot_plan`); that layout places every
    option where the default's token stands, so it holds for any answer only when each option is a
    single token -- otherwise this refuses rather than weight the wrong tokens. (Rebuilt per call:
    a few dozen short tokenizations, nothing beside a training step.)"""
    plan = slot_plan(tokenizer, task.slots)
    options = [tokenizer(task.slots.option_text(o), add_special_tokens=False)["input_ids"] for o in task.slots.options]
    if any(len(ids) != 1 for ids in options):
        raise ValueError(f"{task.name}: option_weight needs single-token slot options with this tokenizer")
    if len(answer) != len(plan.answer):
        raise ValueError(f"{task.name}: answer does not follow the slot layout")
    return [p for p in plan.positions if answer[p] != plan.answer[p]]


class TaskBalancedSampler:
    """Endless batches: pick a task (uniformly, or by ``weights``), then one of its examples
    (reshuffled per pass).

    Examples are encoded when drawn, not up front: a short CPU run touches a few thousand of tens
    of thousands of rows, and tokenizing them all would cost longer than the first steps.
    Examples longer than ``max_len`` are skipped (and counted), never truncated.
    """

    def __init__(self, rows: dict[str, list[Any]], seed: int, encode=lambda row: row,
                 max_len: int | None = None, weights: dict[str, float] | None = None) -> None:
        self.rows = {t: r for t, r in rows.items() if r}
        weights = weights or {}
        unknown = set(weights) - set(self.rows)
        if unknown:
            raise ValueError(f"task weights name tasks with no training rows: {sorted(unknown)}")
        if any(w <= 0 for w in weights.values()):
            raise ValueError("task weights must be positive")
        self.tasks = sorted(self.rows)
        self.weights = [float(weights.get(t, 1.0)) for t in self.tasks]
        self.rng = random.Random(seed)
        self.order: dict[str, list[int]] = {t: [] for t in self.rows}
        self.encode, self.max_len = encode, max_len
        self.skipped = 0

    def _next(self, task: str):
        for _ in range(len(self.rows[task]) + 1):
            if not self.order[task]:
                self.order[task] = list(range(len(self.rows[task])))
                self.rng.shuffle(self.order[task])
            example = self.encode(self.rows[task][self.order[task].pop()])
            if self.max_len is None or len(example[0]) <= self.max_len:
                return example
            self.skipped += 1
        raise ValueError(f"task {task}: no example fits max_len={self.max_len}")

    def batches(self, size: int, group: int = 1) -> Iterator[list[Example]]:
        """Batches of ``size``. With ``group`` > 1, ``group`` batches are drawn at once, sorted by
        length and cut, so each batch holds examples of similar length: on a CPU every padding
        token costs as much as a real one. Which examples are drawn does not change, only how
        they are grouped; the batches of one group are then served in random order."""
        while True:
            picks = self.rng.choices(self.tasks, self.weights, k=size * group)
            pool = [self._next(task) for task in picks]
            if group > 1:
                pool.sort(key=lambda example: len(example[0]))
            chunks = [pool[i : i + size] for i in range(0, len(pool), size)]
            self.rng.shuffle(chunks)
            yield from chunks


def collate(batch: list[Example], pad_id: int):
    import torch  # noqa: PLC0415 -- torch (the train extra, ~1 s): only when used

    width = max(len(example[0]) for example in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    weights = torch.zeros((len(batch), width), dtype=torch.float32)
    for i, (ids, lab, w) in enumerate(batch):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(lab)] = torch.tensor(lab)
        mask[i, : len(ids)] = 1
        weights[i, : len(w)] = torch.tensor(w)
    return input_ids, labels, mask, weights


def answer_logits(model: Any, input_ids, labels, mask):
    """(logits, targets, answer mask) at the answer tokens only, row by row.

    The vocabulary projection is a fifth of a small model's compute and most of its activation
    memory (49k logits per token); the prompt positions never need it.
    """
    causal = model.get_base_model()
    hidden = causal.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
    target = labels[:, 1:]
    answer = target != -100
    return causal.lm_head(hidden[:, :-1][answer]), target[answer], answer


def answer_loss(model: Any, input_ids, labels, mask, weights=None):
    """Cross-entropy on the answer tokens only (a weighted mean when ``weights`` is given)."""
    return _cross_entropy(*answer_logits(model, input_ids, labels, mask), weights)


def _cross_entropy(logits, target, answer, weights=None):
    import torch.nn.functional as F  # noqa: PLC0415 -- torch (the train extra, ~1 s): only when used

    if weights is None:
        return F.cross_entropy(logits.float(), target)
    w = weights[:, 1:][answer]
    return (F.cross_entropy(logits.float(), target, reduction="none") * w).sum() / w.sum()


def keep_divergence(student_logits, teacher_logits):
    """KL(teacher || student) per answer token, averaged: how far the student's answer
    distributions moved from the starting adapter's."""
    import torch.nn.functional as F  # noqa: PLC0415 -- torch (the train extra, ~1 s): only when used

    return F.kl_div(F.log_softmax(student_logits.float(), -1), F.log_softmax(teacher_logits.float(), -1),
                    log_target=True, reduction="batchmean")


def teacher_logits(model: Any, teacher_state: dict[str, Any], input_ids, labels, mask):
    """The starting adapter's answer-token logits: its weights swapped in for one forward pass
    without gradients (LoRA weights are small: a copy costs nothing next to the pass), then the
    student's put back, in place, so the optimizer keeps its parameters."""
    import torch  # noqa: PLC0415 -- torch (the train extra, ~1 s): only when used
    from peft import set_peft_model_state_dict  # noqa: PLC0415 -- peft (the train extra, ~2 s): only when used
    from peft.utils import get_peft_model_state_dict  # noqa: PLC0415 -- peft (the train extra, ~2 s): only when used

    student = {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}
    was_training = model.training
    model.eval()  # no LoRA dropout: the teacher's distribution, not a noisy sample of it
    try:
        set_peft_model_state_dict(model, teacher_state)
        with torch.no_grad():
            return answer_logits(model, input_ids, labels, mask)[0]
    finally:
        set_peft_model_state_dict(model, student)
        model.train(was_training)


def load_init_adapter(model: Any, cfg: TrainConfig) -> str:
    """Load ``cfg.init_adapter``'s LoRA weights into ``model``; returns their sha256."""
    from peft import set_peft_model_state_dict  # noqa: PLC0415 -- peft (the train extra, ~2 s): only when used
    from peft.utils import load_peft_weights  # noqa: PLC0415 -- peft (the train extra, ~2 s): only when used

    folder = Path(cfg.init_adapter or "")
    config_path = folder / "adapter_config.json"
    if not config_path.is_file() or not (folder / ADAPTER_WEIGHTS).is_file():
        raise FileNotFoundError(f"--init-adapter {folder}: no adapter_config.json + {ADAPTER_WEIGHTS} there")
    theirs = json.loads(config_path.read_text())
    mismatched = [f"{name} {other} (this run: {ours})" for name, ours, other in (
        ("rank", cfg.rank, theirs.get("r")),
        ("alpha", cfg.alpha, theirs.get("lora_alpha")),
        ("targets", sorted(cfg.targets), sorted(theirs.get("target_modules") or [])),
    ) if ours != other]
    if mismatched:
        raise ValueError(f"--init-adapter {folder} has another shape: {'; '.join(mismatched)}")
    result = set_peft_model_state_dict(model, load_peft_weights(str(folder), device="cpu"))
    if getattr(result, "unexpected_keys", None):
        raise ValueError(f"--init-adapter {folder}: weights this model does not have: {result.unexpected_keys[:3]}")
    return adapter_sha256(folder)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup, then cosine decay to 10% of the peak."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bfloat16 matrix products natively on this CPU."""
    import torch  # noqa: PLC0415 -- torch (the train extra, ~1 s): only when used

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def train(cfg: TrainConfig, *, progress: bool = True) -> Path:
    """Train and return the folder of the final adapter (``<out>/adapter``)."""
    import torch  # noqa: PLC0415 -- torch (the train extra, ~1 s): only when used
    import torch.nn.functional as F  # noqa: PLC0415 -- torch (the train extra, ~1 s): only when used
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict  # noqa: PLC0415 -- peft (the train extra, ~2 s): only when used
    from peft.utils import get_peft_model_state_dict  # noqa: PLC0415 -- peft (the train extra, ~2 s): only when used
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415 -- transformers (~0.4 s): only when used

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if cfg.bf16 and device == "cpu" and not cpu_has_native_bf16():
        # Without AVX512-BF16/AMX, PyTorch emulates bfloat16 matrix products in a reference loop:
        # measured on an AVX2-only EPYC, 90x slower than float32 (485 s a step instead of ~45).
        print("warning: --bf16 ignored: this CPU has no native bfloat16 (AVX512-BF16/AMX); "
              "training in float32", file=sys.stderr)
        cfg = dataclasses.replace(cfg, bf16=False)

    # -- data ----------------------------------------------------------------------------------
    tokenizer = AutoTokenizer.from_pretrained(cfg.base)
    end_id = tokenizer.convert_tokens_to_ids(prompting.end_tokens(tokenizer)[0])
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_id
    rows = [r for r in load_examples(cfg.data) if not cfg.tasks or r["task"] in cfg.tasks]
    if any(r.get("split") not in (None, "train") for r in rows):
        raise ValueError("train.jsonl holds rows of another split; refusing to train on them")
    by_task: dict[str, list] = {}
    for row in rows:
        by_task.setdefault(row["task"], []).append(row)
    if not by_task:
        raise ValueError(f"no training examples in {cfg.data}")
    unknown = set(cfg.keep_tasks) - set(by_task)
    if unknown:
        raise ValueError(f"keep tasks with no training rows: {sorted(unknown)}")
    if cfg.keep_weight > 0 and not cfg.init_adapter:
        raise ValueError("keep_weight needs init_adapter: the adapter whose answers are kept")
    keep_tasks = frozenset(cfg.keep_tasks) if cfg.keep_weight > 0 else frozenset()
    # An example is (ids, labels, weights, kept: whether its task is held to the starting adapter).
    sampler = TaskBalancedSampler(
        by_task, cfg.seed,
        lambda row: (*encode(tokenizer, row, end_id, cfg.option_weight), row["task"] in keep_tasks),
        cfg.max_len, cfg.task_weights)

    # -- model ---------------------------------------------------------------------------------
    model = AutoModelForCausalLM.from_pretrained(cfg.base, dtype=torch.float32)
    lora = LoraConfig(
        r=cfg.rank,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=list(cfg.targets),
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora).to(device)
    init_sha256 = load_init_adapter(model, cfg) if cfg.init_adapter else None
    # The starting adapter's weights, the teacher of the kept tasks.
    teacher_state = ({k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}
                     if keep_tasks else None)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    start, seconds_before = 0, 0.0
    ckpt = out / "checkpoint"
    if (ckpt / "state.pt").is_file():
        state = torch.load(ckpt / "state.pt", map_location=device, weights_only=False)
        set_peft_model_state_dict(model, state["adapter"])
        optimizer.load_state_dict(state["optimizer"])
        sampler.rng.setstate(state["sampler_rng"])
        sampler.order = state["sampler_order"]
        torch.set_rng_state(state["torch_rng"])
        start = state["step"]
        seconds_before = state.get("seconds", 0.0)  # training time of earlier (interrupted) sessions

    meta = {
        "config": asdict(cfg),
        "examples": {t: len(v) for t, v in by_task.items()},
        "trainable_params": sum(p.numel() for p in params),
        "device": device,
        # The prompts this adapter learned; a bundle built from it is served with exactly these.
        "prompt_format": PROMPT_FORMAT_VERSION,
        "init_adapter_sha256": init_sha256,
    }
    (out / "run.json").write_text(json.dumps(meta, indent=2) + "\n")

    # -- loop ----------------------------------------------------------------------------------
    model.train()
    batches = sampler.batches(cfg.batch_size, cfg.group_by_length)
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not progress, desc="train")
    losses: list[float] = []
    keep_losses: list[float] = []  # the KL term on kept rows, for loss.jsonl
    t0 = time.time()
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        total = 0.0
        for _ in range(cfg.grad_accum):
            batch = next(batches)
            kept = torch.tensor([bool(example[3]) for example in batch], device=device)
            input_ids, labels, mask, weights = (t.to(device) for t in collate([e[:3] for e in batch], pad_id))
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=cfg.bf16):
                teacher = None
                if teacher_state is not None and bool(kept.any()):
                    # Before the student's pass: swapping weights in place after it would change
                    # tensors its backward needs.
                    teacher = teacher_logits(model, teacher_state, input_ids[kept], labels[kept], mask[kept])
                logits, target, answer = answer_logits(model, input_ids, labels, mask)
                # Answer tokens are taken row by row: which of them belong to kept rows.
                kept_tokens = kept[answer.nonzero()[:, 0]]
                learn = ~kept_tokens
                loss = logits.sum() * 0.0  # a batch of kept rows only has no cross-entropy term
                if bool(learn.any()):
                    w = weights[:, 1:][answer][learn]
                    loss = loss + (F.cross_entropy(logits[learn].float(), target[learn], reduction="none") * w).sum() / w.sum()
                if teacher is not None:
                    # The kept rows' tokens of the whole batch line up with the teacher's pass
                    # over those rows alone.
                    divergence = keep_divergence(logits[kept_tokens], teacher)
                    keep_losses.append(divergence.item())
                    loss = loss + cfg.keep_weight * divergence
                loss = loss / cfg.grad_accum
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(total)
        bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}", lr=f"{lr_at(step, cfg):.1e}")

        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
            ckpt.mkdir(exist_ok=True)
            state = {
                "adapter": get_peft_model_state_dict(model),
                "optimizer": optimizer.state_dict(),
                "sampler_rng": sampler.rng.getstate(),
                "sampler_order": sampler.order,
                "torch_rng": torch.get_rng_state(),
                "step": step + 1,
                "seconds": seconds_before + time.time() - t0,
            }
            torch.save(state, ckpt / "state.pt.tmp")
            (ckpt / "state.pt.tmp").replace(ckpt / "state.pt")  # atomic: a crash keeps the last one
            with (out / "loss.jsonl").open("a") as fh:
                record = {"step": step + 1, "loss": sum(losses[-20:]) / len(losses[-20:])}
                if keep_losses:
                    record["keep_kl"] = sum(keep_losses[-20:]) / len(keep_losses[-20:])
                fh.write(json.dumps(record) + "\n")

    adapter_dir = out / "adapter"
    model.save_pretrained(adapter_dir)
    # When this call only resumed a finished checkpoint, no new time was spent.
    meta["train_seconds"] = round(seconds_before + (time.time() - t0 if cfg.steps > start else 0), 1)
    meta["skipped_too_long"] = sampler.skipped
    meta["steps_run"] = cfg.steps - start  # in this session
    meta["steps_completed"] = cfg.steps
    (out / "run.json").write_text(json.dumps(meta, indent=2) + "\n")
    return adapter_dir
