"""Codes for follow-up recommendations (issue 23): ``<mappings dir>/followup/codes.yaml``.

The extractor (integration/inference/evidence/followup.py) reads, from each recommending sentence,
a procedure key and a body-site key; this file says how each key is coded on the ServiceRequest
proposal the write-back writes (``code``, ``bodySite``, ``category``). The keys are fixed here, in
the mappings layer below the extractor, so that a site's file is checked against exactly what the
extractor can produce: an unknown key and a missing one are both problems. Without the file, no
ServiceRequest is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from integration.mappings.schema import Concept
from integration.mappings.yaml_lines import line_of, located, read_yaml, schema_items

FOLLOWUP_PATH = Path("followup") / "codes.yaml"  # inside the mappings directory
# What the extractor reads (its tables are tested against these).
PROCEDURE_KEYS = ("ct", "mri", "ultrasound", "mammography", "pet", "radiography", "fluoroscopy",
                  "nuclear_medicine", "biopsy", "colonoscopy", "angiography", "follow_up")
BODY_SITE_KEYS = ("chest", "abdomen", "pelvis", "breast", "liver", "thyroid", "brain", "kidney", "prostate")
# The key of a recommendation that names no modality ("follow-up to resolution is recommended").
UNNAMED = "follow_up"


class Procedure(Concept):
    category: Literal["imaging", "procedure"]

    def concept(self) -> Concept:
        return Concept(text=self.text, coding=self.coding)


class FollowupCodes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    categories: dict[Literal["imaging", "procedure"], Concept]
    procedures: dict[str, Procedure]
    body_sites: dict[str, Concept]

    def procedure(self, key: str | None) -> Procedure:
        """The key's procedure; a key the file does not have (a job stored by another version of
        the extractor) is written as follow-up imaging rather than failing the write."""
        return self.procedures.get(key or UNNAMED) or self.procedures[UNNAMED]


def load_followup_file(path: Path) -> tuple[FollowupCodes | None, list[str]]:
    """(codes, ``file:line: key: problem`` lines) -- what ``radlite mappings validate`` reports."""
    data, root, problems = read_yaml(path)
    if problems:
        return None, problems
    try:
        codes = FollowupCodes.model_validate(data)
    except ValidationError as exc:
        return None, located(path, schema_items(exc, root))
    items = []
    for section, known in (("procedures", PROCEDURE_KEYS), ("body_sites", BODY_SITE_KEYS)):
        given = getattr(codes, section)
        for key in sorted(set(given) - set(known)):
            items.append((line_of(root, (section, key)), f"{section}.{key}",
                          f"not a key the extractor reads ({', '.join(known)})"))
        for key in known:
            if key not in given:
                items.append((line_of(root, (section,)), f"{section}.{key}", "missing: the extractor reads it"))
    for category in ("imaging", "procedure"):
        if category not in codes.categories:
            items.append((line_of(root, ("categories",)), f"categories.{category}", "missing"))
    return (codes if not items else None), located(path, items)
