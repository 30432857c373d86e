"""Write-back: the last stage. ``runner`` claims inferred jobs and posts one transaction each
(built by integration.fhir.transaction from the mappings), ``client`` talks to the EHR's FHIR
server (auth, retries, failure classes), ``scheduler`` is the one process that writes (and polls,
in pull mode). See docs/writeback.md."""
