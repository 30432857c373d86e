"""N staging: the AJCC 8th edition regional lymph node category the report supports.

Value and answer text: one of "N0", "N1", "N2", "N3". NX (nodes cannot be assessed) is not in the
label set, so an answer of only "NX" is a parse error.

The parser reads the first N category in the text. Clinical/pathological prefixes are dropped
("cN1", "pN2", "ypN0") and site-specific subcategories map to their parent, because the label
set is the four main groups: "N1a"/"N1b"/"N1c"/"N1mi" -> "N1", "N2b" -> "N2", "N3c" -> "N3";
"N0(i+)" -> "N0".
"""

from __future__ import annotations

import re

from integration.tasks.base import ParseError, Task
from integration.tasks.scoring import accuracy_metric

LABELS = ("N0", "N1", "N2", "N3")

# Optional y/c/p/r/a prefix, N and the group digit, optional subcategory letter or "mi".
_N = re.compile(r"(?<![a-z0-9])(?:y?[cp]|[ra])?n([0-3])(?:mi|[a-d])?(?![a-z0-9])", re.IGNORECASE)


def parse_n(text: str) -> str:
    m = _N.search(text)
    if not m:
        raise ParseError("no N category (N0-N3) in answer")
    return f"N{m.group(1)}"


TASK = Task(
    name="n_staging",
    description="AJCC 8th edition regional lymph node (N) category from a report.",
    instruction="AJCC 8 N category (N0-N3).",
    max_new_tokens=64,
    parser=parse_n,
    render=str,
    metric=accuracy_metric,
    labels=LABELS,
    mode="score",
    write_kind="category",
)
