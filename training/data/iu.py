"""The IU X-ray (Open-i) reports and the held-out split, read from ``../shared/data`` at build time.

Nothing here is ever written into the repository: callers turn reports into dataset rows under an
output folder given on the command line.

Ids: IU ``uid`` 2384 is R2Gen ``CXR2384_IM-0942`` and NegBio ``CXR2384``; rows use ``CXR2384``
as ``report_id``.

Split (for every task, real or generated from a report):

* test  -- uid in the R2Gen test split OR in NegBio's ``openi-testset.txt``;
* val   -- otherwise, uid in the R2Gen val split;
* train -- everything else (R2Gen train and the reports R2Gen left out).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("train", "val", "test")

REPORTS_CSV = Path("iu_xray") / "indiana_reports.csv"
R2GEN_JSON = Path("iu_xray") / "r2gen_annotation.json"
NEGBIO_GOLD = Path("negbio") / "openi_gld_std14.csv"
NEGBIO_TEST = Path("negbio") / "openi-testset.txt"
CHEXPERT_DIR = Path("chexpert_labeler")

_CXR = re.compile(r"CXR(\d+)")


class DataDirError(FileNotFoundError):
    """The shared data folder is missing or incomplete."""


@dataclass(frozen=True)
class Report:
    uid: int
    findings: str
    impression: str
    mesh: tuple[str, ...]
    split: str
    negbio: dict[str, int] = field(default_factory=dict, compare=False)

    @property
    def report_id(self) -> str:
        return f"CXR{self.uid}"

    @property
    def text(self) -> str:
        """Findings and impression, the report text most tasks read."""
        return report_text(self.findings, self.impression)


def report_text(findings: str, impression: str) -> str:
    parts = []
    if findings:
        parts.append(f"FINDINGS: {findings}")
    if impression:
        parts.append(f"IMPRESSION: {impression}")
    return "\n\n".join(parts)


def uid_of(report_id: str) -> int | None:
    """2384 for "CXR2384", "CXR2384_IM-0942"; None for ids that are not IU reports."""
    m = _CXR.match(report_id)
    return int(m.group(1)) if m else None


def check_data_dir(data_dir: Path) -> None:
    missing = [
        str(p) for p in (REPORTS_CSV, R2GEN_JSON, NEGBIO_GOLD, NEGBIO_TEST, CHEXPERT_DIR)
        if not (data_dir / p).exists()
    ]
    if missing:
        raise DataDirError(
            f"public radiology data not found under {data_dir} (missing: {', '.join(missing)}); "
            "pass --data-dir or set RADLITE_SHARED_DATA"
        )


def load_split(data_dir: Path) -> tuple[dict[int, str], frozenset[int]]:
    """(uid -> R2Gen split for the uids R2Gen lists, the held-out test uids)."""
    annotation = json.loads((data_dir / R2GEN_JSON).read_text(encoding="utf-8"))
    r2gen: dict[int, str] = {}
    for entries in annotation.values():  # the test list sits under a blank key; trust "split"
        for entry in entries:
            uid = uid_of(entry["id"])
            if uid is None or entry["split"] not in SPLITS:
                raise ValueError(f"bad R2Gen entry {entry['id']!r}")
            r2gen[uid] = entry["split"]
    negbio_test = {
        uid
        for line in (data_dir / NEGBIO_TEST).read_text(encoding="utf-8").split()
        if (uid := uid_of(line.strip())) is not None
    }
    test = frozenset(negbio_test | {uid for uid, s in r2gen.items() if s == "test"})
    return r2gen, test


def split_of(uid: int, r2gen: dict[int, str], test: frozenset[int]) -> str:
    if uid in test:
        return "test"
    return "val" if r2gen.get(uid) == "val" else "train"


def load_negbio(data_dir: Path) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    with (data_dir / NEGBIO_GOLD).open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            uid = uid_of(row.pop("filename"))
            if uid is not None:
                out[uid] = {k: int(float(v or 0)) for k, v in row.items()}
    return out


def _clean(text: str) -> str:
    return " ".join((text or "").split())


def load_reports(data_dir: Path) -> list[Report]:
    """All IU reports with a split, sorted by uid. Reports with no findings and no impression are dropped."""
    check_data_dir(data_dir)
    r2gen, test = load_split(data_dir)
    negbio = load_negbio(data_dir)
    reports = []
    with (data_dir / REPORTS_CSV).open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            uid = int(row["uid"])
            findings, impression = _clean(row["findings"]), _clean(row["impression"])
            if not findings and not impression:
                continue
            mesh = tuple(m.strip() for m in (row["MeSH"] or "").split(";") if m.strip())
            reports.append(
                Report(uid, findings, impression, mesh, split_of(uid, r2gen, test), negbio.get(uid, {}))
            )
    reports.sort(key=lambda r: r.uid)
    return reports


