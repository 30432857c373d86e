"""The EHR as the write-back's own requests find it (issue 20: the scheduler's own EHR gauge).

A real FhirClient against a real local HTTP server that answers what each test sets, then against
a port where nothing listens; the gauges are read from the exposition text the scheduler serves.
"""

from __future__ import annotations

import http.server
import re
import threading

import pytest

from integration import monitoring
from integration.writeback.client import FhirClient, WritebackError
from tests.fhir_server import free_port


@pytest.fixture
def ehr():
    state = {"status": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def do_GET(self):
            body = b'{"resourceType": "CapabilityStatement"}'
            self.send_response(state["status"])
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/fhir", state
    server.shutdown()
    server.server_close()


@pytest.fixture
def fresh_collector(monkeypatch):
    """A collector of its own, so that what other tests' requests recorded does not count here."""
    collector = monitoring.EhrClientCollector()
    monkeypatch.setattr(monitoring, "EHR_CLIENT", collector)
    return collector


def test_nothing_until_the_first_request_then_up_down_up(ehr, fresh_collector) -> None:
    base, state = ehr
    reg = monitoring.CollectorRegistry()
    reg.register(fresh_collector)

    def scrape() -> dict[str, float]:
        text = monitoring.generate_latest(reg).decode()
        return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(radlite_ehr_client_\w+) (\S+)$", text, re.M)}

    assert scrape() == {}
    client = FhirClient(base, timeout=2)
    client.request("GET", "metadata", what="probe")
    up = scrape()
    assert up["radlite_ehr_client_up"] == 1 and "radlite_ehr_client_last_answer_timestamp_seconds" in up
    assert "radlite_ehr_client_last_failure_timestamp_seconds" not in up

    state["status"] = 503
    with pytest.raises(WritebackError):
        client.request("GET", "metadata", what="probe")
    down = scrape()
    assert down["radlite_ehr_client_up"] == 0
    assert down["radlite_ehr_client_last_failure_timestamp_seconds"] >= up["radlite_ehr_client_last_answer_timestamp_seconds"]

    state["status"] = 422  # the EHR answered (it refused this request): reachable
    with pytest.raises(WritebackError):
        client.request("GET", "metadata", what="probe")
    assert scrape()["radlite_ehr_client_up"] == 1

    dead = FhirClient(f"http://127.0.0.1:{free_port()}/fhir", timeout=2)
    with pytest.raises(WritebackError):
        dead.request("GET", "metadata", what="probe")
    assert scrape()["radlite_ehr_client_up"] == 0


def test_the_served_exposition_carries_it(ehr) -> None:
    """What `radlite scheduler --metrics-port` serves (the default registry) includes the gauge."""
    base, _ = ehr
    FhirClient(base, timeout=2).request("GET", "metadata", what="probe")
    assert re.search(r"^radlite_ehr_client_up 1\.0$", monitoring.render().decode(), re.M)
