"""impression_generation rows: IU findings -> the radiologist's impression, verbatim (real data).

Input: ``FINDINGS: <findings>`` only (the impression is never in the input). Reports without
both sections are skipped, and so are the few whose impression field holds a pasted copy of a
whole report ("... FINDINGS: ... IMPRESSION: ..."), which is not an impression to learn.
"""

from __future__ import annotations

import re

from training.data.iu import Report, report_text
from training.data.rows import Row, make_row

TASK = "impression_generation"
_PASTED_REPORT = re.compile(r"\bFINDINGS\s*:|\bIMPRESSION\s*:", re.IGNORECASE)


def impression_rows(reports: list[Report]) -> list[Row]:
    rows = []
    for r in reports:
        if not (r.findings and r.impression) or _PASTED_REPORT.search(r.impression):
            continue
        rows.append(
            make_row(
                TASK, r.impression, report=report_text(r.findings, ""), split=r.split,
                report_id=r.report_id, source="iu_xray:impression",
            )
        )
    return rows
