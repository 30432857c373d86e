"""Reading one label out of free model text, shared by the closed-set tasks."""

from __future__ import annotations

import re
from typing import Iterable

from integration.tasks.base import ParseError


def parse_label(text: str, labels: Iterable[str], aliases: dict[str, str] | None = None) -> str:
    """Return the label the text names first (case-insensitive, whole words).

    Longer labels are tried first at each position so "M1a" wins over "M1". Aliases map extra
    spellings to a label. Raises ParseError when no label appears.
    """
    table = {label.lower(): label for label in labels}
    for alias, label in (aliases or {}).items():
        table[alias.lower()] = label
    if not text or not text.strip():
        raise ParseError("empty answer")
    pattern = "|".join(re.escape(k) for k in sorted(table, key=len, reverse=True))
    match = re.search(rf"(?<![\w-])({pattern})(?![\w-])", text, flags=re.IGNORECASE)
    if not match:
        raise ParseError("no known label in answer")
    return table[match.group(1).lower()]
