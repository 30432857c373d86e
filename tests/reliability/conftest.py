"""Reliability and security suite (issue 9): real processes, the real FHIR server, real faults.

The short variants run in CI (`make test`). Set RADLITE_RELIABILITY_LONG=1 for the long ones
(more kill cycles, longer outages, more fuzz cases, bigger bursts).

Tests record what they survived with the ``figures`` fixture; at the end of the session the
figures are written to var/reliability/last-run.json (or $RADLITE_RELIABILITY_OUT), which
``python -m tests.reliability.report`` renders into docs/reliability.md.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path
from typing import Any, Callable

import pytest

# The real-server fixtures (sekmet FHIR server, job store, seeded reports) are shared with the
# integration suite.
from tests.integration.conftest import (  # noqa: F401 -- pytest fixtures, taken by name as test parameters
    fhir_server,
    fresh_fhir_server,
    mappings,
    seeded_report,
    sekmet_factory,
    store,
)

ROOT = Path(__file__).resolve().parents[2]
LONG = os.environ.get("RADLITE_RELIABILITY_LONG", "") not in ("", "0", "false", "no")

_FIGURES: dict[str, dict[str, Any]] = {}


@pytest.fixture(scope="session")
def long_mode() -> bool:
    """True when RADLITE_RELIABILITY_LONG is set: tests scale their cycles/cases/bursts up."""
    return LONG


@pytest.fixture()
def figures(request) -> Callable[..., None]:
    """``figures(kills=5, reports=40, duplicates=0)``: figures for docs/reliability.md."""

    def record(**values: Any) -> None:
        _FIGURES.setdefault(request.node.nodeid, {}).update(values)

    return record


def pytest_sessionfinish(session, exitstatus) -> None:
    if not _FIGURES:
        return
    out = Path(os.environ.get("RADLITE_RELIABILITY_OUT", ROOT / "var" / "reliability" / "last-run.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    previous: dict[str, Any] = {}
    if out.is_file():
        try:
            previous = json.loads(out.read_text(encoding="utf-8")).get("tests", {})
        except (OSError, ValueError):
            previous = {}
    previous.update(_FIGURES)  # a partial run keeps the figures of the tests it did not run
    out.write_text(
        json.dumps(
            {
                "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "long_mode": LONG,
                "exit_status": int(exitstatus),
                "machine": f"{platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}",
                "tests": previous,
            },
            indent=2,
            sort_keys=True,
        ),
        encoding="utf-8",
    )
