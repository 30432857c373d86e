"""Prompt and answer tokenization, shared by the engine and by training so both see the same ids.

prompt = chat template (system + user) with the generation prompt; answer = the rendered answer
tokens followed by the end-of-turn token. Tokenizing the two separately (instead of templating
the assistant turn) keeps the boundary identical at training and at inference time.
"""

from __future__ import annotations

from typing import Any

from integration.tasks import Task, TaskInput

# End-of-turn markers of the chat templates we ship or expect (ChatML, Llama 3, Phi).
KNOWN_END_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<|endoftext|>")


def end_tokens(tokenizer: Any, preferred: list[str] | None = None) -> list[str]:
    """The end-of-turn tokens present in the vocabulary, the one that closes an answer first."""
    vocab = tokenizer.get_vocab()
    wanted = list(preferred or []) or [t for t in (*KNOWN_END_TOKENS, tokenizer.eos_token) if t]
    present = [t for t in dict.fromkeys(wanted) if t in vocab]
    if not present:
        raise ValueError(f"none of the end tokens {wanted} is in the vocabulary")
    return present


def prompt_ids(tokenizer: Any, task: Task, x: TaskInput) -> list[int]:
    text = tokenizer.apply_chat_template(task.messages(x), tokenize=False, add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def answer_ids(tokenizer: Any, answer: str, end_id: int) -> list[int]:
    return list(tokenizer(answer, add_special_tokens=False)["input_ids"]) + [end_id]
