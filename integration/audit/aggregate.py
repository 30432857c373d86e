"""Audit records for events anyone can cause in any number: one record per window with a count.

A request without a valid token costs its sender nothing, and each one used to add three records
(``request.received``, ``auth.failed``, ``request.rejected``, about 1 KB) to the audit chain,
which is never pruned. Such events now go to the JSON log only (``audit(..., chained=False)``),
and an :class:`AuditAggregate` counts them: when a window (a minute) is over, it appends one
record to the chain, e.g.::

    {"event": "request.unauthenticated", "count": 5120, "counts": {"invalid": 5118, "missing": 2},
     "first": "2026-12-04T10:00:00.120Z", "last": "2026-12-04T10:00:59.981Z", "pid": 4711, ...}

Nothing is dropped: every counted event is in some record's ``count``. The chain's integrity is
untouched -- an aggregate is an ordinary record, appended like any other. Per process: each
gunicorn worker writes its own records (``pid`` tells them apart), so the chain grows by at most
one record per window per worker and kind, however many requests arrive.

A record is written when an event or :meth:`AuditAggregate.flush_due` (called at the start of
every request, probes included) finds its window over, and at a normal process exit (gunicorn's
graceful stop of a worker, ^C on ``radlite serve``). No timer thread: a thread would not survive
gunicorn's fork, and in tests would write into another test's audit file. A process killed by a
signal it does not handle (SIGKILL; SIGTERM to the ``radlite serve`` development server) loses
the count of its open window; the log lines of those events remain.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import threading
import time
import weakref
from collections import Counter
from typing import Callable

from integration.audit import audit

WINDOW_SECONDS = 60.0

_LIVE: "weakref.WeakSet[AuditAggregate]" = weakref.WeakSet()


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditAggregate:
    """Counts occurrences of ``event`` by category (a reason, a client) and audits one record per
    ``window`` seconds with the totals. Thread-safe."""

    def __init__(self, event: str, *, window: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.event = event
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._first: float | None = None  # the window's first occurrence; None: nothing counted
        self._last = 0.0
        _LIVE.add(self)

    def add(self, category: str) -> None:
        """Count one occurrence (first writing the previous window's record if it is over)."""
        self.flush_due()
        now = self._clock()
        with self._lock:
            if self._first is None:
                self._first = now
            self._last = now
            self._counts[category] += 1

    def flush_due(self) -> None:
        """Write the record of a window that is over; cheap when there is none."""
        if self._first is not None and self._clock() - self._first >= self.window:
            self.flush()

    def flush(self) -> None:
        """Write the record of what was counted so far (nothing when nothing was)."""
        with self._lock:
            if self._first is None:
                return
            counts, first, last = dict(self._counts), self._first, self._last
            self._counts.clear()
            self._first = None
        # Outside the lock: audit() takes the audit file's own locks.
        audit(self.event, count=sum(counts.values()), counts=counts, first=_iso(first), last=_iso(last),
              window_seconds=self.window, pid=os.getpid())


@atexit.register
def _flush_all() -> None:
    """At exit (gunicorn's graceful worker stop, ^C on `radlite serve`): no count stays unwritten."""
    for aggregate in list(_LIVE):
        aggregate.flush()
