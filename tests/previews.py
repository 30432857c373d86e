"""A worker that answers ``$preview`` requests while a test's request waits for one.

The web app only queues previews (integration/intake/http/preview.py); ``radlite worker`` runs them. A test
that calls ``$preview`` through ``create_app(...).test_client()`` runs this in a thread beside it,
on the same store: the request waits in the test's thread, the thread answers it.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

from integration.inference.router import Router
from integration.inference.worker import Worker
from integration.settings import Settings
from integration.store import JobStore


@contextlib.contextmanager
def preview_worker(settings: Settings, store: JobStore, *, router: Router | None = None,
                   interval: float = 0.01, owner: str = "preview-test-worker") -> Iterator[Worker]:
    """Answer previews (only previews: jobs stay queued for the test) every ``interval`` seconds
    until the block ends."""
    worker = Worker(settings, store, router or Router.from_settings(settings.inference), owner=owner)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            if not worker.run_previews():
                stop.wait(interval)

    thread = threading.Thread(target=loop, name="preview-worker", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        worker.stop.set()
        thread.join(60)
