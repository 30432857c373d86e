"""Critical-result alerts in the store: recorded with the write that sent them, watched until
acknowledged, escalated, or withdrawn with their report version (issue 23).

Only the scheduler (one at a time: the store lock) changes alerts; every change is fenced on the
alert still being open, so a scheduler that lost its lock mid-way cannot escalate twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from integration.store.models import Alert, AlertState, utcnow


@dataclass(frozen=True)
class SentAlert:
    """What the write-back knows of an alert it has just written."""

    identifier: str
    rule: str
    category: str
    recipient_key: str
    recipient: str | None
    communication: str  # "Communication/<id>"
    within_minutes: int
    escalate_to: list[str]


def check_interval(within_minutes: int) -> dt.timedelta:
    """How often an open alert is read back: a twelfth of its time limit, from a minute to an hour
    (a 60-minute alert every 5 minutes, a 3-day one hourly), so that a site with many open alerts
    of days does not read each one from the EHR every minute."""
    return dt.timedelta(seconds=min(3600, max(60, within_minutes * 5)))


def next_check(now: dt.datetime, due_at: dt.datetime, within_minutes: int) -> dt.datetime:
    """The next read after ``now``: one interval on, but never past the limit (the escalation
    waits for no interval)."""
    later = now + check_interval(within_minutes)
    return min(later, due_at) if now < due_at else later


def record_sent(s: Session, job_id: str, report_key: str, sent: Iterable[SentAlert], now: dt.datetime) -> None:
    """In the write's own transaction: the job's alerts become open rows (once: a replayed write
    finds them there), and every open alert of the report's other versions is withdrawn -- the
    same write set their Communications to entered-in-error."""
    others = update(Alert).where(Alert.report_key == report_key, Alert.job_id != job_id,
                                 Alert.state == AlertState.OPEN.value)
    s.execute(others.values(state=AlertState.WITHDRAWN.value, closed_at=now, closed_by=f"job:{job_id}"))
    for a in sent:
        if s.get(Alert, a.identifier) is not None:
            continue
        s.add(Alert(id=a.identifier, job_id=job_id, report_key=report_key, rule=a.rule, category=a.category,
                    step=0, chain=a.identifier, escalate_to=list(a.escalate_to), recipient_key=a.recipient_key,
                    recipient=a.recipient, communication=a.communication, within_minutes=a.within_minutes,
                    sent_at=now, due_at=now + dt.timedelta(minutes=a.within_minutes),
                    check_at=next_check(now, now + dt.timedelta(minutes=a.within_minutes), a.within_minutes),
                    state=AlertState.OPEN.value))


def open_alerts(s: Session, limit: int, due_by: dt.datetime | None = None) -> list[Alert]:
    """Open alerts, the one to read first first; ``due_by``: only those whose read is due by then."""
    q = select(Alert).where(Alert.state == AlertState.OPEN.value)
    if due_by is not None:
        q = q.where(Alert.check_at <= due_by)
    return list(s.scalars(q.order_by(Alert.check_at).limit(limit)).all())


def checked(s: Session, alert_id: str, now: dt.datetime) -> None:
    """Read back and still open: the next read is one interval on."""
    alert = s.get(Alert, alert_id)
    if alert is not None and alert.state == AlertState.OPEN.value:
        alert.check_at = next_check(now, alert.due_at, alert.within_minutes)


def close(s: Session, alert_id: str, state: AlertState, closed_by: str | None, now: dt.datetime) -> bool:
    res = s.execute(update(Alert).where(Alert.id == alert_id, Alert.state == AlertState.OPEN.value)
                    .values(state=state.value, closed_at=now, closed_by=closed_by))
    return res.rowcount == 1


def escalate(s: Session, old: Alert, new_id: str, recipient_key: str, recipient: str | None,
             communication: str, rest: list[str], now: dt.datetime) -> bool:
    """Close ``old`` as escalated and open the next step's row (``rest``: whom to escalate to
    after it), or nothing when ``old`` is no longer open."""
    if not close(s, old.id, AlertState.ESCALATED, f"step:{old.step + 1}", now):
        return False
    if s.get(Alert, new_id) is None:
        s.add(Alert(id=new_id, job_id=old.job_id, report_key=old.report_key, rule=old.rule, category=old.category,
                    step=old.step + 1, chain=old.chain, escalate_to=list(rest),
                    recipient_key=recipient_key, recipient=recipient, communication=communication,
                    within_minutes=old.within_minutes, sent_at=now,
                    due_at=now + dt.timedelta(minutes=old.within_minutes),
                    check_at=next_check(now, now + dt.timedelta(minutes=old.within_minutes), old.within_minutes),
                    state=AlertState.OPEN.value))
    return True


def report_communications(s: Session, report_key: str, job_id: str) -> list[str]:
    """Every alert Communication (escalations included) sent for the report's other versions."""
    return list(s.scalars(select(Alert.communication).where(Alert.report_key == report_key,
                                                            Alert.job_id != job_id)).all())


def chain_communications(s: Session, chain: str) -> list[str]:
    """The Communications of every step of an alert chain, first first."""
    return list(s.scalars(select(Alert.communication).where(Alert.chain == chain).order_by(Alert.step)).all())


def of_job(s: Session, job_id: str) -> list[Alert]:
    return list(s.scalars(select(Alert).where(Alert.job_id == job_id).order_by(Alert.chain, Alert.step)).all())


def open_ages(s: Session, now: dt.datetime | None = None) -> list[tuple[str, float, bool]]:
    """(category, seconds since sent, past its time limit) of every open alert: the metrics."""
    now = now or utcnow()
    rows = s.execute(select(Alert.category, Alert.sent_at, Alert.due_at)
                     .where(Alert.state == AlertState.OPEN.value)).all()
    return [(category, (now - sent).total_seconds(), now >= due) for category, sent, due in rows]


def as_dict(a: Alert) -> dict[str, Any]:
    """An alert as ``GET /jobs/<id>`` shows it (no report words: the rule, whom, when)."""
    def iso(t: dt.datetime | None) -> str | None:
        return t.isoformat() if t else None

    return {"rule": a.rule, "category": a.category, "step": a.step, "recipient": a.recipient_key,
            "communication": a.communication, "state": a.state, "sent_at": iso(a.sent_at),
            "due_at": iso(a.due_at), "closed_at": iso(a.closed_at), "closed_by": a.closed_by}
