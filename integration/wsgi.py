"""WSGI entry point for production servers: ``gunicorn -c deploy/gunicorn.conf.py integration.wsgi:app``.

Settings load exactly as for ``radlite serve`` and every other service process
(integration/compose.py: ``RADLITE_CONFIG`` site file + ``RADLITE__...`` environment, the startup
cross-checks, JSON logging, the audit file and secret, the start-up audit events). A setting,
mapping or schema problem, an audit secret unfit for production, or a SQLite store that
``PRAGMA quick_check`` finds damaged stops the server at import with the message, as
``radlite serve`` does.
"""

from __future__ import annotations

import gc

from fhir.resources.R4B.bundle import Bundle
from flask import Flask

from integration import compose
from integration.fhir.report import check_report
from integration.samples import sample_diagnostic_reports


def warm_up() -> None:
    """Build what the intake otherwise builds on its first requests: the FHIR R4B models a report
    and a Bundle are validated with (fhir.resources resolves each element's model on first use,
    about a second of CPU), so the first pushes after a (re)start are not the slow ones."""
    for report in sample_diagnostic_reports():  # every way a report carries its text
        check_report(report)
    # A Bundle is validated without its entries' resources (those go through check_report).
    Bundle.model_validate({"resourceType": "Bundle", "type": "batch",
                           "entry": [{"request": {"method": "POST", "url": "DiagnosticReport"}}]})


def create() -> Flask:
    app = compose.web_app(compose.service_settings())
    warm_up()
    # Everything built so far (modules, the FHIR models, settings, the app) lives as long as the
    # process: keep it out of the garbage collector's full collections, which otherwise walk it
    # all and paused a worker for 70-80 ms every few seconds under load.
    gc.freeze()
    return app


app = create()
