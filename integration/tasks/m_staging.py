"""M staging: the AJCC 8th edition distant metastasis category the report supports.

Value and answer text: one of "M0", "M1", "M1a", "M1b", "M1c".

The parser reads the first M category in the text, keeping the subcategory ("M1a" wins over
"M1"). Clinical/pathological prefixes are dropped ("cM0", "pM1b"), as are the melanoma LDH
suffix ("M1c(1)" -> "M1c") and isolated-tumour-cell notes ("cM0(i+)" -> "M0"). "M1d" (melanoma
CNS metastasis) is outside the label set and maps to its parent "M1". MX is not a label.
"""

from __future__ import annotations

import re

from integration.tasks.base import ParseError, Task
from integration.tasks.scoring import accuracy_metric

LABELS = ("M0", "M1", "M1a", "M1b", "M1c")

_M = re.compile(r"(?<![a-z0-9])(?:y?[cp])?m(0|1[a-d]?)(?![a-z0-9])", re.IGNORECASE)


def parse_m(text: str) -> str:
    m = _M.search(text)
    if not m:
        raise ParseError("no M category (M0, M1, M1a-c) in answer")
    code = "M" + m.group(1).lower()
    return code if code in LABELS else "M1"  # M1d -> M1


TASK = Task(
    name="m_staging",
    description="AJCC 8th edition distant metastasis (M) category from a report.",
    instruction="AJCC 8 M category (M0, M1, M1a, M1b, M1c).",
    max_new_tokens=10,
    parser=parse_m,
    render=str,
    metric=accuracy_metric,
    labels=LABELS,
    mode="score",
    write_kind="category",
)
