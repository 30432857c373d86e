"""A report's lifecycle as the chart sees it: which versions may carry AI results, and which may
serve as a patient's prior.

The invariant the write-back keeps (docs/writeback.md, "What a chart holds"): the AI results in a
chart are those of the report's current version and of no other -- none at all when the current
version is withdrawn, failed, or not what the EHR holds.
"""

from __future__ import annotations

from typing import Any

# R4 diagnostic-report-status codes that withdraw a report: every AI result of every version is
# withdrawn and nothing new is written.
WITHDRAWN_STATUSES = frozenset({"entered-in-error", "cancelled"})
# A report usable as the prior of a comparison: released, not preliminary, partial or withdrawn.
PRIOR_STATUSES = frozenset({"final", "amended", "corrected", "appended"})


def status_of(resource: dict[str, Any] | None) -> str | None:
    status = (resource or {}).get("status")
    return status if isinstance(status, str) else None


def is_withdrawn(resource: dict[str, Any] | None) -> bool:
    return status_of(resource) in WITHDRAWN_STATUSES


def subject_of(resource: dict[str, Any] | None) -> str | None:
    ref = ((resource or {}).get("subject") or {}).get("reference")
    return ref if isinstance(ref, str) and ref else None


def patient_id(reference: str | None) -> str | None:
    """"Patient/p1", "https://ehr/fhir/Patient/p1", "Patient/p1/_history/3" -> "p1"."""
    if not reference:
        return None
    steps = reference.split("?", 1)[0].rstrip("/").split("/")
    if len(steps) >= 4 and steps[-2] == "_history":
        steps = steps[:-2]
    return steps[-1] if len(steps) >= 2 and steps[-2] == "Patient" else None


def patient_key(resource: dict[str, Any] | None) -> str | None:
    """"Patient/<id>" for the report's subject however it is written (relative, absolute on the
    EHR base, versioned): the key under which the store finds a patient's earlier reports."""
    pid = patient_id(subject_of(resource))
    return f"Patient/{pid}" if pid else subject_of(resource)


def mismatch(pushed: dict[str, Any], held: dict[str, Any]) -> str | None:
    """Why the version the EHR holds does not back the pushed one (None when it does): another
    patient, or another status. Compared by patient id, so that a relative and an absolute
    reference to the same patient agree."""
    if held.get("resourceType") != "DiagnosticReport":
        return f"the EHR returned a {held.get('resourceType')!r}, not a DiagnosticReport"
    pushed_subject, held_subject = patient_id(subject_of(pushed)), patient_id(subject_of(held))
    if pushed_subject != held_subject:
        return "the EHR's report names another subject than the pushed one"
    if status_of(pushed) != status_of(held):
        return f"the EHR's report has status {status_of(held)!r}, the pushed one {status_of(pushed)!r}"
    return None
