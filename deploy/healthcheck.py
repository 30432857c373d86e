#!/usr/bin/env python3
"""Container HEALTHCHECK: GET $RADLITE_HEALTH_URL (default the web role's /healthz); exit 0 on 200.

Worker and scheduler containers point it at their metrics port (compose.yaml), which answers as
long as the process lives. Standard library only, so it costs no import of the adapter."""

import os
import sys
import urllib.request

url = os.environ.get("RADLITE_HEALTH_URL", "http://127.0.0.1:8000/healthz")
try:
    with urllib.request.urlopen(url, timeout=4) as resp:  # noqa: S310 -- a fixed local URL
        sys.exit(0 if resp.status == 200 else 1)
except Exception as exc:  # noqa: BLE001 -- any failure means unhealthy
    print(f"unhealthy: {url}: {type(exc).__name__}", file=sys.stderr)
    sys.exit(1)
