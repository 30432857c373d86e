"""gunicorn settings for the RadLite intake API: ``gunicorn -c deploy/gunicorn.conf.py integration.wsgi:app``.

Every value can be overridden from the environment (names below) without editing this file.
The web process only validates and stores reports (inference runs in `radlite worker`), so a few
threaded workers carry a hospital's report volume. That includes $preview: the web process queues
the report for a worker and waits for its answer (docs/api.md, "$preview"); it never loads a model.
"""

import os

# RADLITE_BIND: where to listen. 127.0.0.1 behind a reverse proxy (TLS terminates there); the
# container image sets 0.0.0.0:8000.
bind = os.environ.get("RADLITE_BIND", "127.0.0.1:8000").split(",")
# WEB_CONCURRENCY (gunicorn's own convention): worker processes, one per core the intake may use (a
# push is CPU work and Python runs one thread at a time per process); RADLITE_WEB_THREADS: threads
# each, which only overlap short waits (idle keep-alive connections hold none) -- a $preview request
# holds one while a worker answers it, at most preview.max_waiting_per_process (2) per process, so
# keep this above that. Measured with bench/intake.py: docs/deploy.md, "Sizing the web process".
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("RADLITE_WEB_THREADS", "4"))
# A request never runs a model ($preview waits for a worker, at most preview.timeout_seconds, 30 s by
# default); 60 s covers a 5 MB Bundle on a slow database. (gthread workers heartbeat from their
# main loop, so this restarts a stuck process, not a long request.)
timeout = int(os.environ.get("RADLITE_WEB_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# The app is created in each worker (no preload): a worker restart reloads settings files.
preload_app = False
# Access logs would carry request paths, and so report ids: off. The app's own JSON log and audit
# trail record every request with a correlation id instead.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("RADLITE_WEB_LOGLEVEL", "info")
# Behind a reverse proxy on the same host; widen (e.g. "*") only when the proxy is elsewhere.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Heartbeat files in memory, not on a possibly slow disk (present on Linux and in containers).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# What gunicorn refuses before the app sees a request (its defaults, stated): a request line over
# 8190 bytes (414), a header line over 8190 bytes or more than 100 headers (431). A FHIR client
# sends short URLs and a few headers; the body limit is the app's (intake.max_body_bytes, 413).
limit_request_line = 8190
limit_request_field_size = 8190
limit_request_fields = 100

# gunicorn answers those refusals (and malformed requests, conflicting Content-Length and
# Transfer-Encoding: 400) itself, with an HTML page and no setting to change it: answer them with a
# FHIR OperationOutcome like every other error (integration/intake/http/gunicorn_errors.py says how, and what
# stays HTML). Done here, in the master, so every worker forked from it inherits it.
from integration.intake.http.gunicorn_errors import install as _install_json_errors  # noqa: E402 -- next to the settings it explains; runs in the master

_install_json_errors()


def on_starting(server):
    """Prometheus multiprocess mode: the directory shared by the workers starts empty, so counters
    of a previous run are not summed into this one."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        # Only prometheus-client's own files (*.db): never anything else someone keeps there.
        for name in os.listdir(path):
            if name.endswith(".db"):
                os.unlink(os.path.join(path, name))


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess  # noqa: PLC0415 -- multiprocess mode only; the master otherwise never loads prometheus_client

        multiprocess.mark_process_dead(worker.pid)
