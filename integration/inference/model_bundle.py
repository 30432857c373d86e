"""Model bundles: the directory the adapter loads a model from.

::

    <bundle>/
      radlite.json      manifest (below)
      model/            CTranslate2 model: model.bin, config.json, vocabulary file
      tokenizer/        Hugging Face tokenizer files with a chat template

The manifest says what the model is and what it was trained for, so that a wrong or half-built
directory fails at startup with a message naming the problem instead of producing nonsense at
inference time.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from integration.tasks import PROMPT_FORMAT_VERSION, TASKS

BUNDLE_FORMAT = "radlite-bundle/1"
MANIFEST_NAME = "radlite.json"
MODEL_DIR = "model"
TOKENIZER_DIR = "tokenizer"
# CTranslate2 writes one of these depending on the model; either is enough.
_CT2_VOCAB_FILES = ("vocabulary.json", "shared_vocabulary.json", "vocabulary.txt", "shared_vocabulary.txt")


class BundleError(Exception):
    """A bundle that cannot be used. The message lists every problem found, one per line."""


class Calibration(BaseModel):
    """One task's slot biases (see :meth:`integration.tasks.Slots.choose`) and how they were fitted."""

    model_config = ConfigDict(extra="forbid")

    bias: dict[str, dict[str, float]]
    # split, rows, metric, its value before and after, date: what `radlite model calibrate` saw.
    fitted: dict[str, Any] = Field(default_factory=dict)


class Manifest(BaseModel):
    model_config = ConfigDict(extra="allow")

    format: str = BUNDLE_FORMAT
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    base_model: str = Field(min_length=1)
    adapter_sha256: str | None = None
    model_sha256: str | None = None
    tasks: list[str] = Field(min_length=1)
    prompt_format: str = PROMPT_FORMAT_VERSION
    quantization: str = "int8"
    # Tokens that end an answer; when absent the tokenizer's eos token (and ChatML's) are used.
    end_tokens: list[str] = Field(default_factory=list)
    eval: dict[str, Any] = Field(default_factory=dict)
    created: str | None = None
    # Decision calibration for slot-scored tasks, fitted on val data (`radlite model calibrate`).
    calibration: dict[str, Calibration] = Field(default_factory=dict)
    # Per-task minimum confidence for writing a model-only answer, chosen on val data
    # (`radlite model thresholds`); a site may override them (settings.decisions.min_confidence).
    thresholds: dict[str, float] = Field(default_factory=dict)

    def calibration_sha256(self) -> str | None:
        return calibration_sha256(self.calibration)


def calibration_sha256(calibration: dict[str, Calibration]) -> str | None:
    """Identifies the decision rule beside the weights: the same model.bin with another
    calibration gives other answers, so results record both. None without a calibration."""
    if not calibration:
        return None
    canon = json.dumps({t: c.bias for t, c in calibration.items()}, sort_keys=True)
    return hashlib.sha256(canon.encode()).hexdigest()


@dataclass(frozen=True)
class ModelBundle:
    path: Path
    manifest: Manifest
    model_sha256: str

    @property
    def model_dir(self) -> Path:
        return self.path / MODEL_DIR

    @property
    def tokenizer_dir(self) -> Path:
        return self.path / TOKENIZER_DIR

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def short_hash(self) -> str:
        return self.model_sha256[:12]

    def supports(self, task: str) -> bool:
        return task in self.manifest.tasks


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(path: Path, manifest: Manifest) -> None:
    # Written aside and renamed: `radlite model calibrate` rewrites the manifest of a bundle a
    # running adapter may load at any moment, which must never see half a file.
    tmp = path / f".{MANIFEST_NAME}.tmp"
    tmp.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path / MANIFEST_NAME)


def load_bundle(path: str | Path, *, verify_hash: bool = True) -> ModelBundle:
    """Check a bundle directory and return it; raise BundleError listing everything wrong."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise BundleError(f"model bundle {root}: not a directory")

    problems: list[str] = []
    manifest = _read_manifest(root, problems)
    model_dir, tok_dir = root / MODEL_DIR, root / TOKENIZER_DIR
    for name in ("model.bin", "config.json"):
        if not (model_dir / name).is_file():
            problems.append(f"{MODEL_DIR}/{name} is missing (run `radlite model build` to make the bundle)")
    if model_dir.is_dir() and not any((model_dir / v).is_file() for v in _CT2_VOCAB_FILES):
        problems.append(f"{MODEL_DIR}/ has no CTranslate2 vocabulary file ({', '.join(_CT2_VOCAB_FILES)})")
    if not (tok_dir / "tokenizer.json").is_file() and not (tok_dir / "tokenizer_config.json").is_file():
        problems.append(f"{TOKENIZER_DIR}/ has no tokenizer.json or tokenizer_config.json")

    model_hash = ""
    if (model_dir / "model.bin").is_file():
        recorded = manifest.model_sha256 if manifest else None
        if verify_hash or not recorded:
            model_hash = file_sha256(model_dir / "model.bin")
            if recorded and model_hash != recorded:
                problems.append(
                    f"{MODEL_DIR}/model.bin sha256 {model_hash[:12]}… does not match the manifest's "
                    f"{recorded[:12]}… (the file was changed or the build was interrupted)"
                )
        else:
            model_hash = recorded

    if problems or manifest is None:
        raise BundleError(f"model bundle {root} cannot be used:\n  - " + "\n  - ".join(problems))
    return ModelBundle(path=root, manifest=manifest, model_sha256=model_hash)


def _read_manifest(root: Path, problems: list[str]) -> Manifest | None:
    file = root / MANIFEST_NAME
    if not file.is_file():
        problems.append(f"{MANIFEST_NAME} is missing")
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(f"{MANIFEST_NAME} is not valid JSON: {exc}")
        return None
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(root)"
            problems.append(f"{MANIFEST_NAME}: {where}: {err['msg']}")
        return None
    if manifest.format != BUNDLE_FORMAT:
        problems.append(f"{MANIFEST_NAME}: format {manifest.format!r} is not {BUNDLE_FORMAT!r}")
    if manifest.prompt_format != PROMPT_FORMAT_VERSION:
        problems.append(
            f"{MANIFEST_NAME}: prompt_format {manifest.prompt_format!r} differs from this adapter's "
            f"{PROMPT_FORMAT_VERSION!r}; the model was trained on other prompts"
        )
    unknown = [t for t in manifest.tasks if t not in TASKS]
    if unknown:
        problems.append(f"{MANIFEST_NAME}: unknown tasks {unknown}; known: {sorted(TASKS)}")
    for task, cal in manifest.calibration.items():
        problems += [f"{MANIFEST_NAME}: calibration.{task}: {p}" for p in calibration_problems(task, cal.bias)]
    return manifest


def calibration_problems(task: str, bias: dict[str, dict[str, float]]) -> list[str]:
    """What is wrong with ``bias`` for ``task``: a misspelt slot or option would silently do nothing."""
    slots = TASKS[task].slots if task in TASKS else None
    if slots is None:
        return [f"task {task!r} is not slot-scored; only slot-scored tasks take a calibration"]
    problems = []
    for name, options in bias.items():
        if name not in slots.names:
            problems.append(f"unknown slot {name!r}")
        elif not set(options) <= set(slots.options):
            problems.append(f"slot {name!r}: unknown options {sorted(set(options) - set(slots.options))}")
        elif not all(math.isfinite(b) for b in options.values()):
            problems.append(f"slot {name!r}: biases must be finite numbers")
    return problems
