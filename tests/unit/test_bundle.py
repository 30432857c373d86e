"""Bundle loading says precisely what is missing or wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from integration.inference.model_bundle import MANIFEST_NAME, BundleError, load_bundle


@pytest.fixture()
def bundle_copy(tiny_qwen2: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(tiny_qwen2, dst)
    return dst


def _edit_manifest(path: Path, **changes) -> None:
    data = json.loads((path / MANIFEST_NAME).read_text())
    data.update(changes)
    (path / MANIFEST_NAME).write_text(json.dumps(data))


def test_good_bundle_loads(tiny_qwen2: Path) -> None:
    bundle = load_bundle(tiny_qwen2)
    assert bundle.name == "tiny-qwen2"
    assert len(bundle.model_sha256) == 64
    assert bundle.manifest.model_sha256 == bundle.model_sha256
    assert bundle.supports("radiology_nli")


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a directory"):
        load_bundle(tmp_path / "nope")


def test_empty_directory_lists_every_problem(tmp_path: Path) -> None:
    with pytest.raises(BundleError) as err:
        load_bundle(tmp_path)
    msg = str(err.value)
    assert "radlite.json is missing" in msg
    assert "model/model.bin is missing" in msg
    assert "tokenizer/ has no tokenizer.json" in msg


def test_missing_model_file(bundle_copy: Path) -> None:
    (bundle_copy / "model" / "model.bin").unlink()
    with pytest.raises(BundleError, match="model/model.bin is missing"):
        load_bundle(bundle_copy)


def test_corrupt_manifest_json(bundle_copy: Path) -> None:
    (bundle_copy / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(bundle_copy)


def test_manifest_field_errors_are_named(bundle_copy: Path) -> None:
    _edit_manifest(bundle_copy, tasks=[], name="")
    with pytest.raises(BundleError) as err:
        load_bundle(bundle_copy)
    assert "radlite.json: tasks:" in str(err.value)
    assert "radlite.json: name:" in str(err.value)


def test_unknown_task_and_prompt_format(bundle_copy: Path) -> None:
    _edit_manifest(bundle_copy, tasks=["radiology_nli", "knitting"], prompt_format="other/9")
    with pytest.raises(BundleError) as err:
        load_bundle(bundle_copy)
    assert "unknown tasks ['knitting']" in str(err.value)
    assert "prompt_format 'other/9'" in str(err.value)


def test_tampered_weights_fail_hash_check(bundle_copy: Path) -> None:
    model = bundle_copy / "model" / "model.bin"
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="does not match the manifest"):
        load_bundle(bundle_copy)
    # An operator may skip the check (large models, trusted storage); then the manifest hash is used.
    assert load_bundle(bundle_copy, verify_hash=False).model_sha256 == load_bundle(
        bundle_copy, verify_hash=False
    ).manifest.model_sha256
