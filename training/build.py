"""Base + LoRA adapter -> merged transformers folder -> CTranslate2 int8 bundle."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from integration.inference.model_bundle import ModelBundle, file_sha256
from integration.tasks import PROMPT_FORMAT_VERSION
from training.convert import build_bundle

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CARD = "radlite-adapter.json"  # what the adapter was trained on and how it scored
# Cards written before the card recorded its prompt format were all trained on the first one.
LEGACY_PROMPT_FORMAT = "radlite-prompt/1"


def read_card(adapter_dir: str | Path) -> dict[str, Any]:
    """The adapter's card, or {} where it has none."""
    path = Path(adapter_dir) / ADAPTER_CARD
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def write_card(adapter_dir: str | Path, card: dict[str, Any]) -> Path:
    path = Path(adapter_dir) / ADAPTER_CARD
    path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return path


def adapter_sha256(adapter_dir: str | Path) -> str:
    return file_sha256(Path(adapter_dir) / ADAPTER_WEIGHTS)


def merge(base_dir: str | Path, adapter_dir: str | Path, out_dir: str | Path) -> Path:
    """Fold the adapter into the base weights (W + BA·alpha/r) and save a plain transformers folder."""
    import torch  # noqa: PLC0415 -- torch (the train extra, ~1 s): only when used
    from peft import PeftModel  # noqa: PLC0415 -- peft (the train extra, ~2 s): only when used
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415 -- transformers (~0.4 s): only when used

    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    out = Path(out_dir)
    merged.save_pretrained(out)
    AutoTokenizer.from_pretrained(str(base_dir)).save_pretrained(out)
    return out


def build(
    base_dir: str | Path,
    out_bundle: str | Path,
    *,
    name: str,
    version: str,
    base_model: str,
    adapter_dir: str | Path | None = None,
    quantization: str = "int8",
) -> ModelBundle:
    """Make a bundle from a base folder and (optionally) an adapter; without one, the bundle is
    the zero-shot base model, and its manifest says so."""
    extra: dict[str, Any] = {}
    if adapter_dir is None:
        extra["zero_shot"] = True
        return build_bundle(base_dir, out_bundle, name=name, version=version, base_model=base_model,
                            quantization=quantization, extra=extra)
    adapter_dir = Path(adapter_dir)
    card = read_card(adapter_dir)
    trained_on = card.get("prompt_format", LEGACY_PROMPT_FORMAT) if card else PROMPT_FORMAT_VERSION
    if trained_on != PROMPT_FORMAT_VERSION:
        # The bundle would load, then answer prompts its model never saw: refuse at build time.
        raise ValueError(
            f"adapter {adapter_dir} was trained on prompt format {trained_on!r}, but this code "
            f"writes {PROMPT_FORMAT_VERSION!r}: retrain it (radlite model train) or check out "
            "the code it was trained with"
        )
    for key in ("training", "calibration", "thresholds"):
        if card.get(key):
            extra[key] = card[key]
    with tempfile.TemporaryDirectory(prefix="radlite-merge-") as tmp:
        merged = merge(base_dir, adapter_dir, Path(tmp) / "merged")
        return build_bundle(
            merged,
            out_bundle,
            name=name,
            version=version,
            base_model=base_model,
            tasks=card.get("tasks"),
            adapter_sha256=adapter_sha256(adapter_dir),
            quantization=quantization,
            eval_scores=card.get("eval", {}),
            extra=extra,
        )


def copy_adapter(run_adapter: str | Path, dest: str | Path, card: dict[str, Any]) -> Path:
    """Install a trained adapter where `radlite model build` finds it, with its card."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for fname in (ADAPTER_WEIGHTS, "adapter_config.json"):
        shutil.copy2(Path(run_adapter) / fname, dest / fname)
    write_card(dest, card)
    return dest


def eval_summary(report: dict[str, Any]) -> dict[str, Any]:
    """What an adapter card keeps of one bundle's `radlite eval` report."""
    return {
        "split": report["split"],
        "date": report["date"],
        "bundle_version": report["bundle"].get("version"),
        "calibration_sha256": report["bundle"].get("calibration_sha256"),
        "tasks": {t: {"n": r["n"], "data": r["data"], "primary_metric": r["primary_metric"],
                      "score": r["metrics"][r["primary_metric"]], "parse_failure_rate": r["parse_failure_rate"],
                      "metrics": r["metrics"]}
                  for t, r in report["tasks"].items()},
    }
