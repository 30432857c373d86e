"""Intake: how reports arrive. ``http`` (the FHIR REST API: push, Bundles, subscriptions, $preview,
jobs, probes) and ``pull`` (polling an EHR that cannot push). Each protocol checks a report the
same way (integration.fhir.report) and hands it to the job store; nothing here runs a model."""
