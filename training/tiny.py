"""Tiny random models for tests and benchmarks, made locally with no download.

A byte-level BPE tokenizer is trained on the sample reports and the task prompts the project
ships, and a few-layer Qwen2 (or Llama) with random weights is built from a config. The output
is nonsense, but every code path -- chat template, tokenization, int8 conversion, batched
generation, label scoring, bundle checks -- runs exactly as with a real model.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from integration.samples import sample_texts
from integration.tasks import TASKS, TaskInput

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
ARCHITECTURES = ("qwen2", "llama", "qwen3")


def corpus() -> list[str]:
    """Text the tokenizer learns from: sample reports, every task's prompt and label set, and the
    slot answers with every option (so slot scoring works on tiny bundles as on real ones)."""
    texts = list(sample_texts())
    for task in TASKS.values():
        x = TaskInput(report="report", prior_report="prior", hypothesis="hypothesis", question="question")
        texts.extend(m["content"] for m in task.messages(x))
        texts.extend(task.labels or ())
        if task.slots:
            texts.extend(task.slots.text(dict.fromkeys(task.slots.names, o)) for o in task.slots.options)
    return texts


def make_tokenizer(out_dir: Path, vocab_size: int = 1024):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: PLC0415 -- tokenizers: only when building the tokenizer
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415 -- transformers (~0.4 s): only when used

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer)
    # CTranslate2 needs bos and unk tokens by name, even where the model never uses them.
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    fast.chat_template = CHATML_TEMPLATE
    fast.save_pretrained(out_dir)
    return fast


def make_model(out_dir: str | Path, arch: str = "qwen2", *, layers: int = 2, hidden: int = 64, seed: int = 0) -> Path:
    """Write a random ``arch`` causal LM with its tokenizer to ``out_dir`` (a transformers folder)."""
    import torch  # noqa: PLC0415 -- torch (the train extra, ~1 s): only when used
    from transformers import AutoConfig, AutoModelForCausalLM  # noqa: PLC0415 -- transformers (~0.4 s): only when used

    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {ARCHITECTURES}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = make_tokenizer(out)
    config = AutoConfig.for_model(
        arch,
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden // 4,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(out)
    return out


def fingerprint() -> str:
    """Changes whenever what the tiny models are built from changes (for caching them)."""
    digest = hashlib.sha256()
    digest.update(Path(__file__).read_bytes())
    for text in corpus():
        digest.update(text.encode("utf-8"))
    return digest.hexdigest()[:16]


def make_bundle(out_dir: str | Path, arch: str = "qwen2", **model_kwargs):
    """A random ``arch`` model, converted to CTranslate2 int8 and wrapped as a bundle."""
    from training.convert import build_bundle  # noqa: PLC0415 -- ctranslate2's converter: only when building a bundle

    with tempfile.TemporaryDirectory() as tmp:
        hf = make_model(Path(tmp) / "hf", arch, **model_kwargs)
        return build_bundle(
            hf,
            out_dir,
            name=f"tiny-{arch}",
            version="0.0.0",
            base_model=f"random-{arch}",
            extra={"note": "random weights, for tests only"},
        )
