"""Shared fixtures. Tiny random bundles are built once and cached under .cache/test-models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("RADLITE_TEST_CACHE", ROOT / ".cache" / "test-models"))
SHARED_DATA = Path(os.environ.get("RADLITE_SHARED_DATA", ROOT.parent / "shared" / "data"))

# The web app, worker and scheduler refuse to start without a real audit secret
# (integration/audit/secret.py). Tests have none to protect: the processes they start, in-process
# or as children inheriting this environment, run in the explicit development mode. A test that
# builds an environment of its own sets a secret there (or this flag) itself.
os.environ.setdefault("RADLITE__AUDIT__ALLOW_DEVELOPMENT_KEY", "true")


def _tiny_bundle(arch: str) -> Path:
    from integration.inference.model_bundle import BundleError, load_bundle
    from training.tiny import fingerprint, make_bundle

    path = CACHE / fingerprint() / f"tiny-{arch}"
    try:
        load_bundle(path)
    except BundleError:
        make_bundle(path, arch)
    return path


@pytest.fixture(scope="session")
def tiny_qwen2() -> Path:
    return _tiny_bundle("qwen2")


@pytest.fixture(scope="session")
def tiny_llama() -> Path:
    return _tiny_bundle("llama")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "iu_xray" / "indiana_reports.csv").is_file():
        pytest.skip(f"public radiology data not found at {SHARED_DATA} (set RADLITE_SHARED_DATA); CI has it, a fresh clone does not")
    return SHARED_DATA
