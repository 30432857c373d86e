"""The shape of a mapping file, one pydantic model per write kind (``kind:`` picks it), and the
concepts (text and codings) they hold. Codings are checked here: known system, code syntax, check digit."""

from __future__ import annotations

import re
from typing import Annotated, Any, Iterable, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from integration.mappings.codes import LOINC, OBSERVATION_CATEGORY, RADLEX, RADLEX_ID, SNOMED, loinc_valid, sctid_valid

# -- schema ----------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Coding(_Model):
    system: str
    code: str = Field(min_length=1)
    display: str | None = None

    @field_validator("system")
    @classmethod
    def _absolute(cls, v: str) -> str:
        if not re.match(r"^(https?://\S+|urn:(oid|uuid):\S+|urn:[a-z0-9][a-z0-9-]{0,31}:\S+)$", v):
            raise ValueError(f"code system must be an absolute URI, got {v!r}")
        return v

    @model_validator(mode="after")
    def _check_code(self) -> "Coding":
        if self.code != self.code.strip():
            raise ValueError("code has leading or trailing spaces")
        if self.system == SNOMED and not sctid_valid(self.code):
            raise ValueError(f"{self.code!r} is not a valid SNOMED CT identifier (check digit)")
        if self.system == LOINC and not loinc_valid(self.code):
            raise ValueError(f"{self.code!r} is not a valid LOINC code (check digit)")
        if self.system == RADLEX and not RADLEX_ID.match(self.code):
            raise ValueError(f"{self.code!r} is not a RadLex id (RID followed by digits, e.g. RID1301)")
        return self

    def fhir(self) -> dict[str, str]:
        out = {"system": self.system, "code": self.code}
        if self.display:
            out["display"] = self.display
        return out


class Concept(_Model):
    text: str = Field(min_length=1)
    coding: list[Coding] = Field(default_factory=list)

    def fhir(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.coding:
            out["coding"] = [c.fhir() for c in self.coding]
        out["text"] = self.text
        return out


def text_concept(text: str) -> Concept:
    """An unmapped value: text only, never a code."""
    return Concept(text=text)


IMAGING = Concept(
    text="Imaging",
    coding=[Coding(system=OBSERVATION_CATEGORY, code="imaging", display="Imaging")],
)


class _TaskMapping(_Model):
    task: str
    # Extra code systems (site-local ones) this file may use besides KNOWN_SYSTEMS.
    local_systems: list[str] = Field(default_factory=list)
    category: list[Concept] = Field(default_factory=lambda: [IMAGING])
    # Written as Observation.note on every Observation of this task (e.g. a disclaimer).
    note: str | None = None

    @property
    def writes(self) -> bool:
        return True

    def codings(self) -> Iterable[tuple[tuple[str, ...], Coding]]:
        """Every coding in the file with its key path (for the code-system check)."""
        yield from _walk_codings(self, ())


def _walk_codings(node: Any, path: tuple[str, ...]) -> Iterable[tuple[tuple[str, ...], Coding]]:
    if isinstance(node, Coding):
        yield path, node
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _walk_codings(getattr(node, name), path + (name,))
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _walk_codings(v, path + (str(k),))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk_codings(v, path + (str(i),))


class LabelStatusMapping(_TaskMapping):
    kind: Literal["label_status"]
    write_statuses: list[str] = Field(default_factory=lambda: ["positive", "uncertain"])
    values: dict[str, Concept]
    labels: dict[str, Concept] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _statuses_have_values(self) -> "LabelStatusMapping":
        missing = [s for s in self.write_statuses if s not in self.values]
        if missing:
            raise ValueError(f"write_statuses {missing} have no entry in values")
        return self


class EntityMapping(_TaskMapping):
    kind: Literal["entities"]
    # NER label -> Observation value; only labels listed here are written.
    values: dict[str, Concept]
    anatomy_label: str = "ANAT-DP"
    # Anatomy phrase (lowercase, as the NER task writes it) -> bodySite concept.
    body_sites: dict[str, Concept] = Field(default_factory=dict)


class ChangeMapping(_TaskMapping):
    kind: Literal["changes"]
    values: dict[str, Concept]
    interpretation: dict[str, Concept] = Field(default_factory=dict)


class RadsSystem(_Model):
    code: Concept
    categories: dict[str, Concept] = Field(default_factory=dict)


class RadsMapping(_TaskMapping):
    kind: Literal["rads"]
    systems: dict[str, RadsSystem]
    # "No applicable RADS": skip (write nothing) or text (an Observation saying so).
    none: Literal["skip", "text"] = "skip"
    none_code: Concept | None = None

    @model_validator(mode="after")
    def _none_code(self) -> "RadsMapping":
        if self.none == "text" and self.none_code is None:
            raise ValueError("none: text needs none_code")
        return self


class CategoryMapping(_TaskMapping):
    kind: Literal["category"]
    code: Concept
    values: dict[str, Concept]


class TextMapping(_TaskMapping):
    kind: Literal["text"]
    code: Concept
    # The role recorded in ``written`` (e.g. "summary" for the generated impression).
    role: str = "summary"


class NoneMapping(_Model):
    task: str
    kind: Literal["none"]
    reason: str | None = None

    @property
    def writes(self) -> bool:
        return False

    def codings(self):
        return iter(())


TaskMapping = Annotated[
    Union[LabelStatusMapping, EntityMapping, ChangeMapping, RadsMapping, CategoryMapping, TextMapping, NoneMapping],
    Field(discriminator="kind"),
]
MAPPING_ADAPTER: TypeAdapter[Any] = TypeAdapter(TaskMapping)
