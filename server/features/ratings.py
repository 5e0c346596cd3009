"""好差评 follow-ups: a bad rating (1-2) opens a case staff must handle.

The evaluator pad's ``rate {ticket, score, reason?}`` goes through the core (one rating
per ticket, only at the counter that served it). A score of 1 or 2 also
opens a follow-up in the same transaction: who served (counter, staff), when,
which ticket and service, the score, the citizen's ``reason`` (the pad's
GB/T 39734 list and free text; only with a 1 or 2), and a due date
``HallConfig.rating_followup_days`` working days (Mon-Fri) after the rating.
Events ``followup.opened`` / ``followup.closed`` carry the case (no personal
data: a ticket number, not a person). ``followups {}`` lists the open cases
(``overdue`` once past due), ``followup_close {followup, note}`` closes one (admin; the case id
travels as ``followup`` because ``id`` is the request id).
"""

from __future__ import annotations

import builtins
import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from server.config import HallConfig
from server.core import BadRequest, Conflict, Event, NotFound
from server.core.model import Ticket
from server.features.booking import Plan, add_working_days, commit_with
from server.store import StaleState, Store, followups_t
from server.wire import protocol

__all__ = ["BAD_SCORE", "FollowUps", "install"]

#: Scores at or below this open a follow-up (不满意 2, 非常不满意 1).
BAD_SCORE = 2


def _naive(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else moment.astimezone(dt.UTC).replace(tzinfo=None)


class FollowUps:
    """Follow-up cases of one hall.

    Args:
        config: the hall (``rating_followup_days``, timezone, staff names).
        store: its store.
        clock: returns the aware "now".
    """

    def __init__(self, config: HallConfig, store: Store,
                 clock: Callable[[], dt.datetime]) -> None:
        self.config = config
        self.store = store
        self.clock = clock

    def _local(self, moment: dt.datetime | None) -> str | None:
        if moment is None:
            return None
        return moment.replace(tzinfo=dt.UTC).astimezone(self.config.tz).isoformat(
            timespec="seconds")

    def wire(self, row: Any) -> dict[str, Any]:
        """A followups row → its wire object."""
        today = self.clock().astimezone(self.config.tz).date()
        return {
            "id": row.id,
            "ticket": row.ticket,
            "number": row.number,
            "service": row.service,
            "counter": row.counter,
            "staff": {"id": row.staff_id, "name": row.staff_name} if row.staff_id else None,
            "score": row.score,
            "served_at": self._local(row.served_at),
            "opened_at": self._local(row.opened_at),
            "due": row.due.isoformat(),
            "overdue": row.status == "open" and today > row.due,
            "status": row.status,
            "closed_at": self._local(row.closed_at),
            "note": row.note,
            "reason": row.reason,
        }

    def plan_open(self, t: Ticket, reason: str | None = None,
                  ) -> tuple[Event, Callable[[sa.Connection], None]]:
        """The ``followup.opened`` event and the row write for a badly rated ticket
        (``reason``: what the citizen said was wrong, if anything)."""
        now = self.clock()
        staff = self.config.staff_member(t.staff) if t.staff else None
        due = add_working_days(now.astimezone(self.config.tz).date(),
                               self.config.rating_followup_days)
        row = {
            "hall": self.config.id, "id": secrets.token_hex(5), "ticket": t.id,
            "number": t.number, "service": t.service, "counter": t.counter,
            "staff_id": t.staff, "staff_name": staff.name if staff else None,
            "score": int(t.rating or 0), "served_at": _naive(t.finished_at),
            "opened_at": _naive(now), "due": due, "status": "open",
            "closed_at": None, "closed_by": None, "note": None,
            "reason": reason or None,
        }
        event = Event("followup.opened", {"followup": self.wire(_Row(row))})

        def write(conn: sa.Connection) -> None:
            conn.execute(followups_t.insert(), row)

        return event, write

    def list(self, status: str | None = "open") -> list[dict[str, Any]]:
        """Cases (``status`` open/closed, None for all), oldest first."""
        query = sa.select(followups_t).where(followups_t.c.hall == self.config.id)
        if status is not None:
            query = query.where(followups_t.c.status == status)
        with self.store.transaction() as conn:
            rows = conn.execute(query.order_by(followups_t.c.opened_at, followups_t.c.id))
            return [self.wire(r) for r in rows]

    def open_at(self, moment: dt.datetime) -> builtins.list[dict[str, Any]]:
        """Cases that were open at ``moment`` (opened before, not closed before)."""
        at = _naive(moment)
        query = sa.select(followups_t).where(
            followups_t.c.hall == self.config.id, followups_t.c.opened_at < at,
            sa.or_(followups_t.c.closed_at.is_(None), followups_t.c.closed_at >= at),
        ).order_by(followups_t.c.opened_at, followups_t.c.id)
        with self.store.transaction() as conn:
            return [self.wire(r) for r in conn.execute(query)]

    def plan_close(self, case_id: str, note: str, device: str) -> Plan:
        """Decide closing a case.

        Raises:
            NotFound: no such case. Conflict: already closed.
        """
        hall = self.config.id
        with self.store.transaction() as conn:
            row = conn.execute(sa.select(followups_t).where(
                followups_t.c.hall == hall, followups_t.c.id == case_id)).first()
        if row is None:
            raise NotFound(f"no follow-up {case_id!r}")
        if row.status != "open":
            raise Conflict(f"follow-up {case_id} is already closed")
        now = _naive(self.clock())
        note = note.strip()

        def extra(conn: sa.Connection) -> None:
            done = conn.execute(sa.update(followups_t).where(
                followups_t.c.hall == hall, followups_t.c.id == case_id,
                followups_t.c.status == "open",
            ).values(status="closed", closed_at=now, closed_by=device, note=note)).rowcount
            if done != 1:
                raise StaleState(f"follow-up {case_id} changed meanwhile")

        values = {c: getattr(row, c) for c in row._fields}
        case = self.wire(_Row({**values, "status": "closed", "closed_at": now, "note": note}))
        return Plan([Event("followup.closed", {"followup": case})], {"followup": case}, extra)


class _Row:
    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def install(service: Any) -> FollowUps:
    """Add ``rate`` (with follow-ups), ``followups`` and ``followup_close``."""
    followups = FollowUps(service.config, service.store, service.clock)
    service.followups = followups

    def decide_rate(session: Any, msg: dict[str, Any]) -> Plan:
        reason = " ".join(str(msg.get("reason") or "").split())
        if reason and msg["score"] > BAD_SCORE:
            # Checked before the core moves: a refused rating changes nothing.
            raise BadRequest(f"a reason goes only with a score of 1 or 2 (不满意), "
                             f"got score {msg['score']}")
        events = service.hall.rate(session.counter, msg["ticket"], msg["score"])
        extra = None
        if msg["score"] <= BAD_SCORE:
            ticket = service.hall.ticket(msg["ticket"])
            event, extra = followups.plan_open(ticket, reason)
            events.append(event)
        return Plan(events, {}, extra)

    def do_rate(session: Any, msg: dict[str, Any]) -> Any:
        return commit_with(service, session, msg["id"], lambda: decide_rate(session, msg))

    def do_followups(session: Any, msg: dict[str, Any]) -> Any:
        from server.service import Reply

        return Reply(protocol.ok(msg["id"], followups=followups.list("open")))

    def do_close(session: Any, msg: dict[str, Any]) -> Any:
        # The case id travels as "followup": "id" is the request's own id.
        return commit_with(service, session, msg["id"], lambda: followups.plan_close(
            msg["followup"], msg["note"], session.device.id))

    service.extensions.update({
        "rate": do_rate,
        "followups": do_followups,
        "followup_close": do_close,
    })
    return followups
