"""One validation finding, shaped like an OperationOutcome.issue.

``diagnostics`` is written by us, never copied from the input: it names elements, codes and
counts, so an OperationOutcome (and the audit line made from it) cannot echo report text or
patient data back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

SEVERITIES = ("fatal", "error", "warning", "information")


@dataclass(frozen=True)
class Issue:
    severity: str
    # FHIR issue-type: structure, required, value, invariant, invalid, code-invalid,
    # not-supported, too-long, security, login, not-found, processing, exception, informational…
    code: str
    diagnostics: str
    expression: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown issue severity {self.severity!r}")
        if isinstance(self.expression, str):
            object.__setattr__(self, "expression", (self.expression,))
        else:
            object.__setattr__(self, "expression", tuple(self.expression))

    @classmethod
    def error(cls, code: str, diagnostics: str, *expression: str) -> "Issue":
        return cls("error", code, diagnostics, expression)

    @classmethod
    def warning(cls, code: str, diagnostics: str, *expression: str) -> "Issue":
        return cls("warning", code, diagnostics, expression)

    @classmethod
    def info(cls, code: str, diagnostics: str, *expression: str) -> "Issue":
        return cls("information", code, diagnostics, expression)

    @property
    def is_error(self) -> bool:
        return self.severity in ("fatal", "error")

    def rebased(self, old_root: str, new_root: str) -> "Issue":
        """The same issue with expressions moved, e.g. ``DiagnosticReport.x`` →
        ``Bundle.entry[2].resource.x``."""
        moved = []
        for expr in self.expression:
            if expr == old_root or expr.startswith(old_root + ".") or expr.startswith(old_root + "["):
                expr = new_root + expr[len(old_root):]
            moved.append(expr)
        return Issue(self.severity, self.code, self.diagnostics, tuple(moved))

    def to_fhir(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code}
        if self.diagnostics:
            out["diagnostics"] = self.diagnostics
        if self.expression:
            out["expression"] = list(self.expression)
        return out


def has_errors(issues: Iterable[Issue]) -> bool:
    return any(i.is_error for i in issues)
