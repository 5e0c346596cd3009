"""What a supervisor may do from the console, each audited.

Hall changes go through the same core commands the counters use (pause,
resume, close, cancel; ``Hall.move`` for a waiting ticket) and commit
through :meth:`Context.commit` with their audit row in the SAME
transaction: no change without its audit entry, no audit entry for a
change that did not happen. Acknowledging an alert and
closing a follow-up are audited the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from server.config import Staff
from server.core import BadRequest, Event
from server.features.ratings import FollowUps
from server.service import HallService
from server.service.api import Decision, Reply, Write

__all__ = ["VERDICTS", "Actions"]

#: The citizen's verdict on a closed 差评 case (recorded in its note).
VERDICTS = {"satisfied": "满意 satisfied", "unsatisfied": "不满意 unsatisfied",
            "unreachable": "未联系上 unreachable"}


def _both(first: Write | None, second: Write) -> Write:
    if first is None:
        return second

    def write(conn: Any) -> None:
        first(conn)
        second(conn)

    return write


def _int(msg: dict[str, Any], key: str) -> int:
    value = msg.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f"{key} must be a number")
    return value


def _text(msg: dict[str, Any], key: str, limit: int = 500, needed: bool = True) -> str:
    value = msg.get(key, "")
    if not isinstance(value, str) or (needed and not value.strip()) or len(value) > limit:
        raise BadRequest(f"{key} must be text of 1 to {limit} characters")
    return value.strip()


class Actions:
    """The console's state-changing actions for one hall service."""

    def __init__(self, service: HallService, clock: Callable[[], dt.datetime]) -> None:
        self.service = service
        self.clock = clock
        self.rows = service.store.console

    def _audited(self, staff: Staff, action: str, target: str, detail: dict[str, Any],
                 decide: Callable[[], Decision]) -> Reply:
        cfg = self.service.config

        def with_audit() -> Decision:
            decision = decide()
            audit = self.rows.audit(cfg.id, self.clock(), staff.id, action, target, detail)
            return Decision(decision.events, decision.reply, _both(decision.writes, audit))

        return self.service.commit(with_audit)

    def _core(self, staff: Staff, action: str, target: str, detail: dict[str, Any],
              run: Callable[[], list[Event]]) -> Reply:
        return self._audited(staff, action, target, detail, lambda: Decision(run()))

    def run(self, staff: Staff, msg: dict[str, Any]) -> Reply:
        """Do ``msg["do"]``; returns the reply fields and the committed events.

        Raises:
            CoreError: the core refused (nothing committed, nothing audited).
            StoreError, Unavailable: the store failed.
        """
        do = msg.get("do")
        hall = self.service.hall
        if do in ("pause", "resume", "close"):
            n = _int(msg, "counter")
            if do == "pause":
                reason = _text(msg, "reason", 100, needed=False) or "主管暂停 paused by supervisor"
                return self._core(staff, "pause", f"counter:{n}", {"reason": reason},
                                  lambda: hall.pause(n, reason))
            command = hall.resume if do == "resume" else hall.close_counter
            return self._core(staff, do, f"counter:{n}", {}, lambda: command(n))
        if do == "cancel":
            ticket = _text(msg, "ticket", 64)
            found = hall.ticket(ticket)
            number = found.number if found else ticket
            return self._core(staff, "cancel", f"ticket:{ticket}", {"number": number},
                              lambda: hall.cancel(ticket))
        if do == "move":
            return self._move(staff, msg)
        if do == "followup_close":
            return self._close_followup(staff, msg)
        raise BadRequest(f"unknown action {do!r}")

    def _move(self, staff: Staff, msg: dict[str, Any]) -> Reply:
        ticket = _text(msg, "ticket", 64)
        service = _text(msg, "service", 64) if msg.get("service") is not None else None
        to_counter = _int(msg, "to_counter") if msg.get("to_counter") is not None else None
        hall = self.service.hall
        found = hall.ticket(ticket)
        detail = {"number": found.number if found else ticket, "service": service,
                  "to_counter": to_counter}
        return self._core(staff, "move", f"ticket:{ticket}", detail,
                          lambda: hall.move(ticket, service, to_counter))

    def _close_followup(self, staff: Staff, msg: dict[str, Any]) -> Reply:
        case = _text(msg, "followup", 16)
        verdict = msg.get("verdict")
        if verdict not in VERDICTS:
            raise BadRequest("verdict must be one of " + ", ".join(VERDICTS))
        note = _text(msg, "note", 1000)
        followups = self.service.feature(FollowUps)
        text = f"[{VERDICTS[str(verdict)]}] {note}"
        return self._audited(
            staff, "followup_close", f"followup:{case}", {"verdict": verdict, "note": note},
            lambda: followups.plan_close(case, text, f"console:{staff.id}"))

    def ack(self, staff: Staff, alert: str) -> bool:
        """Acknowledge an alert (audited); False if it was already."""
        if not alert or len(alert) > 200:
            raise BadRequest("alert must be an alert key")
        now = self.clock()
        done = self.rows.ack(self.service.config.id, alert, staff.id, now)
        if done:
            self.rows.add_audit(self.service.config.id, now, staff.id, "ack", f"alert:{alert}",
                                {})
        return done
