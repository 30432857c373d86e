"""Write-back to the EHR's FHIR server: mappings, bundle assembly, client (auth, retries),
the write-back step and the one scheduler. See docs/writeback.md."""

from integration.fhir.transaction import TransactionPlan, build_transaction, plan_transaction, summarize
from integration.mappings import MappingError, Mappings, load_mappings
from integration.writeback.client import AuthConfigError, FhirClient, WritebackError, parse_retry_after
from integration.writeback.runner import Counts, write_due

__all__ = [
    "AuthConfigError", "Counts", "FhirClient", "MappingError", "Mappings", "TransactionPlan", "WritebackError",
    "build_transaction", "load_mappings", "parse_retry_after", "plan_transaction", "summarize", "write_due",
]
