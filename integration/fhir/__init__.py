"""FHIR parsing and validation: report text, checks, OperationOutcome."""

from integration.fhir.issues import Issue, has_errors
from integration.fhir.outcome import FHIR_JSON, fhir_response, operation_outcome, outcome_response
from integration.fhir.report import ReportTextError, check_report, report_text

__all__ = [
    "FHIR_JSON",
    "Issue",
    "ReportTextError",
    "check_report",
    "fhir_response",
    "has_errors",
    "operation_outcome",
    "outcome_response",
    "report_text",
]
