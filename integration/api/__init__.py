"""HTTP API blueprints: FHIR intake, $preview, jobs, health. Assembled by :func:`integration.app.create_app`."""

from __future__ import annotations

from flask import Flask

from integration.api.context import EXTENSION, Runtime, runtime
from integration.api.errors import ApiError


def register_blueprints(app: Flask) -> None:
    from integration.api import fhir, health, jobs, preview

    app.register_blueprint(health.bp)
    app.register_blueprint(fhir.bp)
    app.register_blueprint(preview.bp)
    app.register_blueprint(jobs.bp)
    preview.init_app(app)  # loads the mappings: a broken mapping file stops the app here


# Endpoints reachable without a bearer token.
PUBLIC_ENDPOINTS = frozenset({"health.healthz"})

__all__ = ["ApiError", "EXTENSION", "PUBLIC_ENDPOINTS", "Runtime", "register_blueprints", "runtime"]
