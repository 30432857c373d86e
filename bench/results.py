"""bench/RESULTS.md: each benchmark script owns one ``## Section`` and rewrites only that one."""

from __future__ import annotations

from pathlib import Path


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
