"""Operator commands: the ``radlite`` CLI and its groups (db, audit, mappings, doctor, demo) and
the development FHIR server the demo runs against. The top of the import graph: nothing in the
product imports this package (docs/architecture.md)."""
