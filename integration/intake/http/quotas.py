"""Per-client quotas at intake (issue 20): entries per Bundle, unfinished jobs, requests per minute.

One client (a token, :class:`integration.intake.http.auth.Caller`) must not be able to buy hours of
inference, or all of a web process's CPU, for everyone else:

* **Entries per Bundle** (``intake.max_bundle_entries``): a larger Bundle is refused whole with
  413 and issue code ``too-costly`` before any entry is read -- sending it again cannot help, split
  it. Checked for every Bundle, whoever sends it (open mode too).
* **Unfinished jobs per client** (``intake.max_queued_jobs_per_client``): jobs in received,
  inferring or inferred, counted in the store (``jobs.client``) in the same transaction as the
  insert, so it holds across every web process and host. Over it: 429 ``throttled`` with
  ``Retry-After`` (:data:`QUEUE_RETRY_AFTER`); other clients are still served.
* **Requests per minute per client** (``intake.requests_per_minute_per_client``): a token bucket in
  each web process's memory (:class:`RateLimiter`). What it protects is the process's own CPU
  (validating and parsing), so a per-process count is the fitting one, and it costs no write on
  the single-writer SQLite store the intake shares. Under gunicorn a client's ceiling is
  WEB_CONCURRENCY times the setting (a client on one keep-alive connection reaches one process).

Quotas are per client: in open mode (development, no tokens) only the Bundle limit applies.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

from integration.fhir.issues import Issue
from integration.intake.http.errors import ApiError

# What a client over its queue quota is told to wait: the worker takes about a second or two per
# report, so a minute frees room for a few dozen; sooner would only be refused again.
QUEUE_RETRY_AFTER = 60
SECONDS_PER_MINUTE = 60.0


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per client: ``per_minute`` requests a minute, a full minute's worth at once.

    Memory is one small entry per client that made a request, and only authenticated requests are
    counted, so the clients are the configured tokens: bounded."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / SECONDS_PER_MINUTE  # tokens per second
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def acquire(self, client: str) -> int | None:
        """Take one request from ``client``'s bucket: None when allowed, else the whole seconds
        until one is available again (the Retry-After)."""
        if not self.enabled:
            return None
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                bucket = self._buckets[client] = _Bucket(self.capacity, now)
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))


def throttled(diagnostics: str, retry_after: int, *expression: str) -> ApiError:
    """429 with Retry-After and an OperationOutcome issue ``throttled``."""
    return ApiError(429, Issue.error("throttled", diagnostics, *expression), {"Retry-After": str(retry_after)})


def rate_exceeded(per_minute: int, retry_after: int) -> ApiError:
    return throttled(f"too many requests: this client may make {per_minute} per minute; "
                     f"send again in {retry_after} s", retry_after)


def queue_full(limit: int) -> ApiError:
    return throttled(f"this client has {limit} or more reports waiting for inference (the limit); nothing was "
                     f"queued: send again later, as the queue drains", QUEUE_RETRY_AFTER)


def check_bundle_entries(n_entries: int, limit: int) -> None:
    """413 ``too-costly`` for a Bundle of more than ``limit`` entries (0: no limit)."""
    if limit and n_entries > limit:
        raise ApiError(413, Issue.error(
            "too-costly", f"the Bundle has {n_entries} entries; at most {limit} are accepted in one request: "
                          f"split it (nothing was queued)", "Bundle.entry"))
