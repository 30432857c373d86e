"""Pull mode against the real FHIR server: new and updated reports are queued once each."""

from __future__ import annotations

import copy

from integration.intake.pull import CURSOR, poll_once
from integration.settings import PullSettings
from integration.writeback.client import FhirClient


def test_poll_queues_new_and_updated_reports_once(fresh_fhir_server, store, seeded_report) -> None:
    client = FhirClient(fresh_fhir_server.base_url)
    settings = PullSettings(enabled=True, page_size=2, search={"status": "final"})
    reports = [seeded_report(i, server=fresh_fhir_server) for i in range(5)]

    first = poll_once(store, client, settings)
    assert first.queued == 5 and first.pages >= 3  # paging followed (2 per page)
    assert store.get_cursor(CURSOR) is not None

    again = poll_once(store, client, settings)
    assert again.queued == 0  # the overlap at the cursor is absorbed by idempotent intake

    changed = copy.deepcopy(reports[0])
    changed.pop("meta")
    changed["conclusion"] = "Addendum: no change in management."
    fresh_fhir_server.put(changed)
    third = poll_once(store, client, settings)
    assert third.queued == 1
    assert store.counts()["received"] == 5 and store.counts()["superseded"] == 1

    preliminary = copy.deepcopy(reports[1])
    preliminary.pop("meta")
    preliminary["id"] = preliminary["id"] + "-p"
    preliminary["status"] = "preliminary"
    fresh_fhir_server.put(preliminary)
    assert poll_once(store, client, settings).queued == 0  # filtered by the site's search
    client.close()
