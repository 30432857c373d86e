"""Turn a merged Hugging Face model folder into a model bundle (CTranslate2 int8 + tokenizer + manifest)."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable

from integration.inference.model_bundle import (
    MODEL_DIR,
    TOKENIZER_DIR,
    Manifest,
    ModelBundle,
    file_sha256,
    load_bundle,
    write_manifest,
)
from integration.tasks import TASKS

# Files a tokenizer may need; whichever exist are copied into <bundle>/tokenizer.
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "added_tokens.json",
    "generation_config.json",
)


def build_bundle(
    hf_dir: str | Path,
    out_dir: str | Path,
    *,
    name: str,
    version: str,
    base_model: str,
    tasks: Iterable[str] | None = None,
    adapter_sha256: str | None = None,
    quantization: str = "int8",
    eval_scores: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> ModelBundle:
    """Convert ``hf_dir`` with CTranslate2 and write a complete bundle to ``out_dir``.

    The bundle is assembled in a temporary sibling directory and renamed into place, so an
    interrupted build never leaves a half-written bundle where the adapter would load it.
    """
    from ctranslate2.converters import TransformersConverter  # noqa: PLC0415 -- pulls in torch and transformers: only when converting

    hf_dir, out_dir = Path(hf_dir), Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        TransformersConverter(str(hf_dir)).convert(str(work / MODEL_DIR), quantization=quantization, force=True)
        (work / TOKENIZER_DIR).mkdir()
        for fname in _TOKENIZER_FILES:
            if (hf_dir / fname).is_file():
                shutil.copy2(hf_dir / fname, work / TOKENIZER_DIR / fname)
        manifest = Manifest(
            name=name,
            version=version,
            base_model=base_model,
            adapter_sha256=adapter_sha256,
            model_sha256=file_sha256(work / MODEL_DIR / "model.bin"),
            tasks=list(tasks or TASKS),
            quantization=quantization,
            eval=eval_scores or {},
            created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            **(extra or {}),
        )
        write_manifest(work, manifest)
        load_bundle(work)  # refuse to install a bundle the adapter could not load
        if out_dir.exists():
            shutil.rmtree(out_dir)
        work.rename(out_dir)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return load_bundle(out_dir)
