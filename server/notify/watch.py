"""Which events become notifications, queued in the transaction that commits them.

:meth:`Watcher.stage` is the hall's stager (``Store.stagers``): ``Store.commit``
calls it with the events it is about to write, and runs the returned write
inside the same transaction, so a committed ``ticket.called`` always has its
deliveries in ``notify_outbox`` (at least once, across a crash or a
failover; server/notify/sender.py delivers them). Memory (which tickets carry
a phone, which were told ``ticket.soon``) changes only once it committed.

Tickets that carry a phone (remote tickets; appointment tickets whose booking
kept one) get ``ticket.called`` and ``ticket.no_show`` as they happen and
``ticket.soon`` once, the first time they have ``[hall] soon_ahead`` or fewer
people ahead (a ticket issued that close gets it at once; recorded in
``ticket_phones.soon``, so a restart does not repeat it; a 过号重排 re-queue
is a new wait and may be told again). ``rating.bad`` goes out for every
rating of 1 or 2 (不满意), for the supervisor, with the phone when the ticket
has one. The same write erases the number of a ticket that is done or
cancelled (a no-show keeps it through its re-queue window:
:meth:`Watcher.sweep`).

Body: ``{"event", "hall", "at", "ticket", "phone"}`` plus ``counter`` and
``counter_name`` (called, no-show, bad rating) and ``score`` (bad rating).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

from server.config import HallConfig
from server.core import Event, Hall
from server.notify.sender import Sink
from server.store import Store
from server.store.outbox import Staged
from server.wire.clock import utcnow

__all__ = ["Watcher", "BAD_SCORE", "ENDED"]

#: Ratings at or below this are bad (1 非常不满意, 2 不满意), as for follow-ups.
BAD_SCORE = 2
#: Events after which a ticket's number is erased at once (a no-show may
#: still be re-queued: its number goes when that window ends).
ENDED = ("ticket.completed", "ticket.cancelled")
#: Event -> the notification it is (``ticket.soon`` comes from the queue's state).
_NOTICE = {"ticket.called": "ticket.called", "ticket.no_show": "ticket.no_show",
           "ticket.rated": "rating.bad"}
#: Events that may bring a ticket with a phone (its row commits with them:
#: a remote ticket, an appointment's ticket).
_NEW = ("ticket.issued",)


def _ticket_id(ev: Event) -> str | None:
    if ev.ticket is not None:
        return ev.ticket.id
    # Only a ticket event's ``ticket`` is a wire ticket: a device fault's
    # ``ticket`` is the id text the device reported (possibly anything).
    ticket = ev.data.get("ticket")
    tid = ticket.get("id") if isinstance(ticket, dict) else None
    return str(tid) if tid is not None else None


class Watcher:
    """Turns a hall's events into webhook deliveries, in their own commit.

    Args:
        config: the hall (``id``, ``soon_ahead``, counter names, time zone).
        sinks: its webhooks.
        hall: returns the live core (it is rebuilt after a failed commit).
        store: the hall's store (phones, outbox).
        committed: called once a commit queued deliveries (wakes the sender).
        clock: the hall's clock (a no-show's re-queue window is by it).
    """

    def __init__(self, config: HallConfig, sinks: list[Sink], hall: Callable[[], Hall],
                 store: Store, committed: Callable[[], None] = lambda: None,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.config = config
        self.clock = clock
        self.sinks = sinks
        self.hall = hall
        self.store = store
        self.woken = committed
        self.phones: dict[str, str] = {}  # ticket id -> the number kept for it
        self.told: set[str] = set()  # tickets told ticket.soon
        # After erasing any number a crash (or the night) left behind.
        self.sweep()
        self.phones, self.told = store.phones.live(config.id)

    def wants(self, event: str) -> bool:
        return any(event in s.events for s in self.sinks)

    def sweep(self) -> list[str]:
        """Erase the numbers nothing will be sent to any more: no-shows past
        their 过号重排 window, tickets of earlier days, bookings whose check-in
        window has passed. Returns the tickets erased."""
        now = self.clock()
        window = dt.timedelta(seconds=self.config.dispatch.no_show_return_s)
        late = max((s.appointments.late_checkin_min for s in self.config.services
                    if s.appointments is not None), default=0)
        self.store.bookings.erase_lapsed(self.config.id, now - dt.timedelta(minutes=late))
        erased = self.store.phones.erase_lapsed(
            self.config.id, now.astimezone(self.config.tz).date(), now - window)
        for tid in erased:
            self.phones.pop(tid, None)
            self.told.discard(tid)
        return erased

    # ------------------------------------------------------------ the stager
    def stage(self, events: list[Event], at: dt.datetime) -> Staged | None:
        """What ``events`` add to their commit (``Store.stagers``); None: nothing."""
        if not any(ev.name.startswith("ticket.") for ev in events):
            return None
        hall_id = self.config.id
        stamp = at.astimezone(self.config.tz).isoformat(timespec="seconds")
        learned: dict[str, str] = {}
        ended: set[str] = set()
        told: set[str] = set()
        rearmed: set[str] = set()
        queued: list[int] = []

        def write(conn: Any) -> None:  # the commit's connection (SQL stays in server/store)
            # Rows written earlier in this transaction (a remote issue, a
            # booking's check-in) are visible here; a kiosk ticket costs no read.
            new = [ev.ticket.id for ev in events if ev.name in _NEW and ev.ticket is not None
                   and (ev.ticket.remote or ev.ticket.slot_start is not None)]
            learned.update(self.store.phones.kept(conn, hall_id, new))
            out: list[tuple[str, dict[str, Any]]] = []
            for ev in events:
                tid = _ticket_id(ev)
                if tid is None:
                    continue
                phone = learned.get(tid) or self.phones.get(tid)
                notice = _NOTICE.get(ev.name)
                if notice is None or not self.wants(notice):
                    pass
                elif notice == "rating.bad":
                    if int(ev.data.get("score") or 5) <= BAD_SCORE:
                        out.append((notice, self._body(
                            notice, stamp, ev.data.get("ticket") or {}, phone,
                            {**self._counter(ev.data), "score": ev.data.get("score")})))
                elif phone is not None:
                    out.append((notice, self._body(notice, stamp, ev.data.get("ticket") or {},
                                                   phone, self._counter(ev.data))))
                if ev.name == "ticket.requeued" and tid in self.told:
                    rearmed.add(tid)  # a new wait: it may be told again
                if ev.name in ENDED and phone is not None:
                    ended.add(tid)
            if self.wants("ticket.soon"):
                moved = {str(ev.data.get("service")) for ev in events
                         if ev.name == "queue.changed"}
                out += self._soon(stamp, learned, ended, rearmed, told, moved)
            self.store.phones.erase_in(conn, hall_id, ended)
            self.store.phones.mark_soon(conn, hall_id, told, True)
            self.store.phones.mark_soon(conn, hall_id, rearmed - told, False)
            # Due now by the real clock (the hall's may be simulated).
            rows = self._rows(out)
            self.store.outbox.insert(conn, hall_id, rows, utcnow())
            queued.append(len(rows))

        def done() -> None:
            self.phones.update(learned)
            self.told -= rearmed
            self.told |= told
            for tid in ended:
                self.phones.pop(tid, None)
                self.told.discard(tid)
            if sum(queued):
                self.woken()

        return Staged(write, done)

    def _soon(self, stamp: str, learned: dict[str, str], ended: set[str], rearmed: set[str],
              told: set[str], moved: set[str]) -> list[tuple[str, dict[str, Any]]]:
        """``ticket.soon`` for the phone tickets now close enough. Only tickets
        new to a phone, re-queued, or of a service whose queue changed
        (``moved``: nobody gets closer without a ``queue.changed``) are counted."""
        hall = self.hall()
        out = []
        for tid, phone in [*self.phones.items(), *learned.items()]:
            if tid in ended or tid in told or (tid in self.told and tid not in rearmed):
                continue
            t = hall.ticket(tid)
            if t is None or t.status != "waiting":
                continue
            if t.service not in moved and tid not in learned and tid not in rearmed:
                continue
            if hall.ahead(t) > self.config.soon_ahead:
                continue
            told.add(tid)
            out.append(("ticket.soon", self._body("ticket.soon", stamp, hall.wire_ticket(t),
                                                  phone, {})))
        return out

    def _rows(self, out: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str, str, bytes]]:
        rows = []
        for event, payload in out:
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
            for sink in self.sinks:
                if event in sink.events:
                    rows.append((sink.id, event, uuid.uuid4().hex, body))
        return rows

    def _body(self, event: str, at: str, ticket: dict[str, Any], phone: str | None,
              extra: dict[str, Any]) -> dict[str, Any]:
        return {"event": event, "hall": self.config.id, "at": at, "ticket": ticket,
                "phone": phone, **extra}

    def _counter(self, data: dict[str, Any]) -> dict[str, Any]:
        number = data.get("counter")
        if number is None:
            number = (data.get("ticket") or {}).get("counter")
        counter = self.config.counter(number) if isinstance(number, int) else None
        return {"counter": number, "counter_name": counter.name if counter else None}
