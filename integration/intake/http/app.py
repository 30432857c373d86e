"""The Flask application factory.

``create_app(settings, store)`` wires the blueprints of :mod:`integration.intake.http` to a job store and
the inbound authenticator, and sets the request-wide rules: a correlation id on every request
(``X-Request-ID`` in, the same out), bearer authentication for everything but the probes
(``/healthz``, ``/readyz``, ``/metrics``) and the capability reads (``/fhir/metadata``,
``/fhir/OperationDefinition/preview``), none of which is audited either, a per-client rate limit
(:mod:`integration.intake.http.quotas`), a body size limit, and OperationOutcome bodies for every error.
Requests without a valid token, and over the rate limit, are logged one by one but counted in the
audit file (:mod:`integration.audit.aggregate`).
"""

from __future__ import annotations

from flask import Flask, g, request

from integration.audit import audit, bind_correlation_id, clear_context, get_logger
from integration.fhir.issues import Issue
from integration.intake.http import (
    EXTENSION,
    PROBE_ENDPOINTS,
    PUBLIC_ENDPOINTS,
    Runtime,
    register_blueprints,
    required_scope,
    runtime,
)
from integration.intake.http.auth import TokenAuth, allows
from integration.intake.http.context import request_correlation_id
from integration.intake.http.errors import ApiError, register_error_handlers
from integration.intake.http.quotas import RateLimiter, rate_exceeded
from integration.mappings.loader import load_rules
from integration.settings import Settings, load_settings
from integration.store import JobStore

log = get_logger("radlite.app")


def create_app(settings: Settings | None = None, store: JobStore | None = None) -> Flask:
    """The intake app on ``store``; without one (gunicorn's path, integration.wsgi) it opens the
    configured store, refusing (StoreCorrupt) a SQLite file that ``PRAGMA quick_check`` finds
    damaged: a web process must not accept reports into a store that may lose them."""
    settings = settings if settings is not None else load_settings()
    auth = TokenAuth(settings.intake.auth)
    if store is None:
        store = JobStore(settings.store.url, max_inference_attempts=settings.store.max_inference_attempts,
                         check_integrity=True)

    app = Flask("integration", static_folder=None)
    # Werkzeug answers "a//b" with a 308 redirect to "a/b" and an HTML body, bypassing the error
    # handlers; without merging, such a path is just an id or route that does not match (400/404).
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = settings.intake.max_body_bytes
    app.extensions[EXTENSION] = Runtime(settings=settings, store=store, auth=auth,
                                        limiter=RateLimiter(settings.intake.requests_per_minute_per_client),
                                        critical_rules=load_rules(settings.writeback.mappings_dir))

    if auth.open:
        log.warning("intake.auth_open", detail="intake.auth.mode is 'open': no authentication; local development only")
    elif not auth.digests():
        log.warning("intake.no_tokens", detail="no bearer token digests configured: every request will get 401")

    @app.before_request
    def _begin() -> None:
        g.correlation_id = request_correlation_id()
        bind_correlation_id(g.correlation_id)
        rt = runtime()
        # Counted refusals whose minute is over are written now; the probes make that soon even
        # when the refused requests have stopped.
        rt.unauthenticated.flush_due()
        rt.throttled.flush_due()
        if request.endpoint in PROBE_ENDPOINTS:
            return
        public = request.endpoint in PUBLIC_ENDPOINTS
        reason, caller = (None, None) if public else rt.auth.identify(request.headers.get("Authorization"))
        g.client = caller.client if caller is not None else None
        retry_after = rt.limiter.acquire(g.client) if g.client is not None else None
        # This request's own records go to the audit file only when its sender is known and within
        # its rate: what anyone can send in any number is in the log, and counted in the file.
        g.audit_chained = reason is None and retry_after is None
        audit(
            "request.received",
            chained=g.audit_chained,
            method=request.method,
            route=request.url_rule.rule if request.url_rule is not None else None,
            content_length=request.content_length,
            client=g.client,
        )
        if public:
            return
        if reason is not None:
            _refuse_unauthenticated(rt, reason)
        if retry_after is not None:
            rt.throttled.add(str(g.client))
            raise rate_exceeded(rt.settings.intake.requests_per_minute_per_client, retry_after)
        # Authenticated, but a token limited to some scopes may not use every endpoint: 403.
        scopes = caller.scopes if caller is not None else frozenset()
        scope = required_scope(request.endpoint)
        if scope is not None and not allows(scopes, scope):
            audit("auth.failed", reason="insufficient_scope", scope=scope)
            raise ApiError(
                403,
                Issue.error("forbidden", f"this token does not have the scope {scope!r} this endpoint needs"),
                {"WWW-Authenticate": TokenAuth.challenge("insufficient_scope", scope)},
            )

    @app.after_request
    def _finish(response):
        response.headers["X-Request-ID"] = g.get("correlation_id") or request_correlation_id()
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.teardown_request
    def _clear(_exc) -> None:
        clear_context()

    register_error_handlers(app)
    register_blueprints(app)
    return app


def _refuse_unauthenticated(rt: Runtime, reason: str) -> None:
    """401. Anyone can send these in any number: counted for the audit file, logged one by one."""
    rt.unauthenticated.add(reason)
    audit("auth.failed", chained=False, reason=reason)
    raise ApiError(
        401,
        Issue.error("login", "authentication required: Authorization: Bearer <token>"
                    if reason == "missing" else "the bearer token is not valid"),
        {"WWW-Authenticate": TokenAuth.challenge(reason)},
    )
