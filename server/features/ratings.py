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
import dataclasses
import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any

from server.core import BadRequest, Conflict, Event, Hall, NotFound
from server.core.model import Ticket
from server.features.workdays import add_working_days
from server.service.api import Context, Decision, FollowUpRow, Handler, Reply, Session
from server.wire import protocol

__all__ = ["BAD_SCORE", "FollowUps"]

#: Scores at or below this open a follow-up (不满意 2, 非常不满意 1).
BAD_SCORE = 2


class FollowUps:
    """Follow-up cases of one hall, and the feature answering ``rate``,
    ``followups`` and ``followup_close``.

    Args:
        ctx: the hall (``rating_followup_days``, timezone, staff names, its store).
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.rows = ctx.store.followups
        self.clock = ctx.clock

    def _local(self, moment: dt.datetime | None) -> str | None:
        if moment is None:
            return None
        return moment.astimezone(self.config.tz).isoformat(timespec="seconds")

    def wire(self, row: FollowUpRow) -> dict[str, Any]:
        """A follow-up row → its wire object."""
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

    def plan_open(self, t: Ticket, reason: str | None = None) -> Decision:
        """The ``followup.opened`` event and the row write for a badly rated ticket
        (``reason``: what the citizen said was wrong, if anything)."""
        now = self.clock()
        staff = self.config.staff_member(t.staff) if t.staff else None
        due = add_working_days(now.astimezone(self.config.tz).date(),
                               self.config.rating_followup_days)
        row = FollowUpRow(
            hall=self.config.id, id=secrets.token_hex(5), ticket=t.id, number=t.number,
            service=t.service, counter=t.counter, staff_id=t.staff,
            staff_name=staff.name if staff else None, score=int(t.rating or 0),
            served_at=t.finished_at, opened_at=now, due=due, status="open",
            reason=reason or None)
        event = Event("followup.opened", {"followup": self.wire(row)})
        return Decision([event], {}, self.rows.insert(row))

    def list(self, status: str | None = "open") -> list[dict[str, Any]]:
        """Cases (``status`` open/closed, None for all), oldest first."""
        return [self.wire(r) for r in self.rows.with_status(self.config.id, status)]

    def open_at(self, moment: dt.datetime) -> builtins.list[dict[str, Any]]:
        """Cases that were open at ``moment`` (opened before, not closed before)."""
        return [self.wire(r) for r in self.rows.open_at(self.config.id, moment)]

    def plan_close(self, case_id: str, note: str, device: str) -> Decision:
        """Decide closing a case.

        Raises:
            NotFound: no such case. Conflict: already closed.
        """
        row = self.rows.get(self.config.id, case_id)
        if row is None:
            raise NotFound(f"no follow-up {case_id!r}")
        if row.status != "open":
            raise Conflict(f"follow-up {case_id} is already closed")
        # Stored to the microsecond like every time; the wire shows seconds.
        closed = dataclasses.replace(row, status="closed", closed_at=self.clock(),
                                     closed_by=device, note=note.strip())
        case = self.wire(closed)
        return Decision([Event("followup.closed", {"followup": case})], {"followup": case},
                        self.rows.close(closed))

    # -- the feature -----------------------------------------------------------
    def loaded(self, hall: Hall) -> None:
        """Nothing to feed the core: the cases live in the store only."""

    def handlers(self) -> Mapping[str, Handler]:
        return {"rate": self._do_rate, "followups": self._do_followups,
                "followup_close": self._do_close}

    def _decide_rate(self, session: Session, msg: dict[str, Any]) -> Decision:
        reason = " ".join(str(msg.get("reason") or "").split())
        if reason and msg["score"] > BAD_SCORE:
            # Checked before the core moves: a refused rating changes nothing.
            raise BadRequest(f"a reason goes only with a score of 1 or 2 (不满意), "
                             f"got score {msg['score']}")
        hall = self.ctx.hall
        events = hall.rate(session.counter, msg["ticket"], msg["score"])
        if msg["score"] > BAD_SCORE:
            return Decision(events)
        ticket = hall.ticket(msg["ticket"])
        if ticket is None:  # rate() found it: only a broken core gets here
            raise NotFound(f"no ticket {msg['ticket']!r}")
        case = self.plan_open(ticket, reason)
        return Decision(events + case.events, {}, case.writes)

    def _do_rate(self, session: Session, msg: dict[str, Any]) -> Reply:
        return self.ctx.commit(lambda: self._decide_rate(session, msg), (session, msg["id"]))

    def _do_followups(self, session: Session, msg: dict[str, Any]) -> Reply:
        return Reply(protocol.ok(msg["id"], followups=self.list("open")))

    def _do_close(self, session: Session, msg: dict[str, Any]) -> Reply:
        # The case id travels as "followup": "id" is the request's own id.
        return self.ctx.commit(lambda: self.plan_close(
            msg["followup"], msg["note"], session.device.id), (session, msg["id"]))
