"""What the benchmark scripts share: bench/RESULTS.md, where each script owns one ``## Section``
and rewrites only that one, and running one measurement in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]


def child_env(threads: int, **extra: str) -> dict[str, str]:
    """The environment of a measuring process: OpenMP sized to the run, never MKL."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(threads))
    env.pop("CT2_USE_MKL", None)  # oneDNN is CTranslate2's int8 backend on AMD; MKL is ~1 s/token here
    env.update(extra)
    return env


def run_child(script: Path, flag: str, job: dict[str, Any], timeout: float, echo: Callable[[str], None],
              env: dict[str, str] | None = None) -> tuple[dict[str, Any], str]:
    """Run ``script flag`` with ``job`` (JSON) on stdin; (its ``RESULT`` line, parsed, or
    {"error": ...}; its stderr). A fresh process per measurement: its peak RSS is its own."""
    try:
        proc = subprocess.run([sys.executable, str(script), flag], input=json.dumps(job), capture_output=True,
                              text=True, timeout=timeout, env=env or child_env(job.get("threads", 1)), cwd=str(ROOT))
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}, ""
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):]), proc.stderr
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
    echo("\n".join(tail))
    return {"error": f"exit {proc.returncode}: {tail[-1] if tail else ''}"}, proc.stderr


def write_section(path: Path, heading: str, intro: str, body: str) -> None:
    """Put ``intro`` and ``body`` under ``heading`` (a ``## ...`` line) in ``path``: the section
    is replaced when it exists and appended otherwise; the other sections are left as they are."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    section = f"{heading}\n\n{intro}\n\n{body}"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        if not text.endswith("\n"):
            text += "\n"
        text += "\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        text = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
    path.write_text(text, encoding="utf-8")
