"""Watching critical-result alerts until someone acknowledges them (issue 23).

The write-back sends an alert (a Communication) with the results it is about; the store keeps it
open from that write on (integration/store/alerts.py). On its ``alert_check_seconds`` interval the
scheduler reads back each open alert whose read is due -- every twelfth of its time limit, from a
minute to an hour, and at the limit itself (``check_interval``) -- and

* closes it as **acknowledged** when the EHR shows it was (``writeback.alert_acknowledged_by``:
  ``received`` -- the Communication's ``received`` is set; ``reply`` -- a Communication of the
  patient names it in ``inResponseTo``); an acknowledgement of any earlier step of the same
  chain counts too;
* **escalates** it when its time limit has passed: a new Communication to the rule's next
  recipient that can be resolved (``escalate_to``), which is watched in its turn;
* closes it as **unanswered** when the limit has passed and nobody is left to escalate to;
* closes it as **withdrawn** when the Communication is gone or entered-in-error on the EHR.

Every step is an audit event (rule, category, step, recipient key; never report words) and a
count in ``radlite_alerts_total``. An EHR that does not answer leaves the alert open for the next
check. The escalation is a conditional create on a deterministic identifier and the store
records it in one transaction, so a scheduler killed in between writes no second one on restart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable

from integration import monitoring
from integration.audit import audit, get_logger, hash_id
from integration.fhir.transaction import RECIPIENT, BuildError, escalation_identifier, parse_location, plan_escalation
from integration.settings import WritebackSettings
from integration.store import Alert, AlertState, JobStore
from integration.store.models import utcnow
from integration.writeback.client import FhirClient, WritebackError
from integration.writeback.runner import resolve_recipients

log = get_logger("radlite.alerts")

# How many open alerts one check reads (the most overdue first); the rest wait for the next check.
CHECK_BATCH = 200


@dataclass
class AlertCounts:
    checked: int = 0
    acknowledged: int = 0
    escalated: int = 0
    unanswered: int = 0
    withdrawn: int = 0
    unreachable: int = 0  # the EHR did not answer: checked again next time

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _refers_to(ref: Any, target: str) -> bool:
    """Does a Reference point at ``target`` ("Communication/12"), relative or absolute?"""
    value = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(value, str):
        return False
    kind, rid, _ = parse_location(value)
    return f"{kind}/{rid}" == target


def acknowledged_by(client: FhirClient, comm: dict[str, Any], target: str,
                    settings: WritebackSettings) -> str | None:
    """How the EHR shows ``comm`` (held as ``target``) acknowledged, or None."""
    if "received" in settings.alert_acknowledged_by and comm.get("received"):
        return "received"
    if "reply" in settings.alert_acknowledged_by:
        subject = (comm.get("subject") or {}).get("reference")
        if isinstance(subject, str) and subject:
            # R4 has no search on inResponseTo: the patient's Communications since the alert.
            params = [("subject", subject)]
            if comm.get("sent"):
                params.append(("sent", f"ge{comm['sent']}"))
            for other in client.search("Communication", params, follow=True):
                if any(_refers_to(r, target) for r in other.get("inResponseTo") or []):
                    return "reply"
    return None


def _close(store: JobStore, alert: Alert, state: AlertState, how: str, counts: AlertCounts,
           now: dt.datetime) -> None:
    if not store.close_alert(alert.id, state, how):
        return
    seconds = (now - alert.sent_at).total_seconds()
    setattr(counts, state.value, getattr(counts, state.value) + 1)
    monitoring.alert_closed(alert.category, state.value, seconds)
    fields = dict(job=hash_id(alert.job_id), rule=alert.rule, category=alert.category, step=alert.step,
                  recipient=alert.recipient_key, how=how, seconds_since_sent=round(seconds, 1))
    if state == AlertState.ACKNOWLEDGED:
        audit("critical.acknowledged", **fields)
    elif state == AlertState.UNANSWERED:
        audit("critical.unanswered", **fields)
    else:
        audit("critical.withdrawn", **fields)


def _escalate(store: JobStore, client: FhirClient, settings: WritebackSettings, alert: Alert,
              comm: dict[str, Any], counts: AlertCounts, now: dt.datetime) -> None:
    job = store.get(alert.job_id)
    rest = list(alert.escalate_to)
    while rest:
        key = rest.pop(0)
        found = resolve_recipients(client, job, {key}, settings).get(key) if job is not None else None
        if found is None or not RECIPIENT.match(found.get("reference", "")):
            continue  # nobody to send this step to (audited as critical.no_recipient): the next one
        step = alert.step + 1
        ident = escalation_identifier(alert.chain, step)
        bundle = plan_escalation(comm, ident, found, step=step, minutes=alert.within_minutes, now=now)
        response = client.post_transaction(bundle)
        entries = response.get("entry") or []
        location = ((entries[1] if len(entries) > 1 else {}).get("response") or {}).get("location")
        kind, rid, _ = parse_location(location)
        if kind != "Communication" or rid is None:
            raise WritebackError("escalation: the server did not say where the Communication is", retryable=True)
        if store.escalate_alert(alert, ident, key, found["reference"], f"Communication/{rid}", rest, now):
            counts.escalated += 1
            monitoring.alert_closed(alert.category, "escalated")
            audit("critical.escalated", job=hash_id(alert.job_id), rule=alert.rule, category=alert.category,
                  step=step, recipient=key, seconds_since_sent=round((now - alert.sent_at).total_seconds(), 1))
        return
    _close(store, alert, AlertState.UNANSWERED, "no-one-left", counts, now)


def watch_alerts(store: JobStore, client: FhirClient, settings: WritebackSettings, *,
                 now: dt.datetime | None = None, keep_going: Callable[[], bool] | None = None) -> AlertCounts:
    """Check every open alert once (see the module docstring). ``now`` decides what is overdue."""
    now = now or utcnow()
    counts = AlertCounts()
    for alert in store.open_alerts(CHECK_BATCH, due_by=now):
        if keep_going is not None and not keep_going():
            break
        counts.checked += 1
        try:
            kind, rid, _ = parse_location(alert.communication)
            comm = client.read(kind or "Communication", rid or "")[0]
            if comm.get("status") == "entered-in-error":
                _close(store, alert, AlertState.WITHDRAWN, "entered-in-error", counts, now)
                continue
            how = acknowledged_by(client, comm, alert.communication, settings)
            for earlier in store.alert_chain(alert.chain) if how is None and alert.step else ():
                if earlier == alert.communication:
                    continue
                ekind, eid, _ = parse_location(earlier)
                how = acknowledged_by(client, client.read(ekind or "Communication", eid or "")[0], earlier, settings)
                if how is not None:
                    break
            if how is not None:
                _close(store, alert, AlertState.ACKNOWLEDGED, how, counts, now)
            elif now >= alert.due_at:
                _escalate(store, client, settings, alert, comm, counts, now)
            else:
                store.alert_checked(alert.id, now)
        except WritebackError as exc:
            if exc.status in (404, 410):
                _close(store, alert, AlertState.WITHDRAWN, "gone", counts, now)
                continue
            counts.unreachable += 1
            log.warning("alerts.check_failed", job=hash_id(alert.job_id), status=exc.status)
        except BuildError as exc:
            # The EHR's copy of the alert no longer makes a valid escalation: say so, keep it open.
            counts.unreachable += 1
            log.error("alerts.escalation_invalid", job=hash_id(alert.job_id), error=str(exc)[:200])
    return counts
