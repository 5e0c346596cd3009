"""Appointments (预约): slots, booking, cancelling, kiosk check-in, ``qhall book``.

Rules (documented in ``docs/PROTOCOL.md`` and ``docs/REPORTS.md``):

* A service takes bookings when its config has ``[services.appointments]``.
  Slots are ``slot_minutes`` long, laid out inside the service's opening hours
  (``DEFAULT_HOURS`` when the service has none) in the hall's timezone; each
  takes ``capacity`` bookings.
* "Working days" are Monday to Friday (public holidays are out of scope). A
  day may be booked when it is a working day ``book_min_days`` to
  ``book_max_days`` working days after today.
* Personal data: name and phone are kept as HMAC-SHA256 digests keyed by
  the hall's personal-data key, which lives outside the database
  (``server/pii.py``), plus masked forms for display (``王*``,
  ``*******5678``: at most the last 4 digits); the phone number itself only
  when the hall has a webhook for the ticket's phone (``pii.keeps_phones``)
  and while the booking is open, for its ticket's notifications: checked in in
  time, it moves to the ticket (``ticket_phones``, erased when the ticket
  ends); cancelled, missed or late, it is erased. ``person`` is the
  digest of both together: one booking per person per day, and the block.
  Rows made before migration 0004 were keyed by a salt kept in the database
  (``hash_scheme = 'legacy'``): they are still matched, and re-keyed the next
  time their person books.
* A booking code is 8 characters from an alphabet without ``0 O 1 I``, drawn
  with :mod:`secrets`.
* Check-in (kiosk ``check_in {code}``): from ``early_checkin_min`` before the
  slot to ``late_checkin_min`` after its start → an ``appointment`` ticket
  the dispatch order serves first once its slot has started. Later the same
  day → a normal ticket, ``late: true`` and a message; the late arrival counts
  as a miss. Before the window → ``closed``; a past day → ``expired``.
* A miss is a booking never checked in whose check-in window has passed, or a
  late arrival. Misses are evaluated lazily: the block rule reads them
  straight from the bookings, so it never depends on a sweep; the sweep that
  marks them ``missed`` (event ``booking.missed``) runs whenever the booking
  service is used. ``max_misses`` misses within ``block_days`` days of each
  other block booking for ``block_days`` days after the last of them.
* Cancel until ``CANCEL_LEAD_MIN`` minutes before the slot.

Concurrency: decisions are read in one transaction, the writes
(``store.bookings``, server/store/bookings.py) are committed with the events
in another, guarded (slot count ``booked < capacity``, booking still
``booked``, unique ``person_day``); a lost race raises ``StaleState`` and
``Context.commit`` decides the request again on the fresh state.

:class:`Bookings` is also the feature (``Bookings.feature``) answering
``slots``, ``book``, ``cancel_booking`` and ``check_in``.
"""

from __future__ import annotations

import argparse
import builtins
import collections
import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
import sys
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from server import pii
from server.config import Appointments, ConfigError, Service
from server.core import (
    BadRequest,
    Closed,
    Conflict,
    CoreError,
    Event,
    Expired,
    Forbidden,
    Hall,
    NotFound,
)
from server.core.errors import QuotaReached
from server.features.commandline import hall_config
from server.features.workdays import add_working_days, working_days_between
from server.service.api import (
    BookingRow,
    Context,
    Decision,
    Handler,
    Reply,
    Session,
    Store,
)
from server.wire import protocol
from server.wire.clock import utcnow

__all__ = [
    "CODE_ALPHABET",
    "CODE_LENGTH",
    "CANCEL_LEAD_MIN",
    "DEFAULT_HOURS",
    "Bookings",
    "add_working_days",
    "working_days_between",
    "mask_name",
    "mask_phone",
    "normalize_code",
    "configure",
    "run",
]

log = logging.getLogger("qhall.booking")

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 8
#: A booking may be cancelled until this many minutes before its slot.
CANCEL_LEAD_MIN = 120
#: Slots of a service that has no opening hours of its own.
DEFAULT_HOURS = ((dt.time(8, 30), dt.time(12, 0)), (dt.time(13, 30), dt.time(17, 30)))
#: Statuses that hold the person's day (only a cancel frees it).
_STATUSES = ("booked", "checked_in", "late", "missed", "cancelled")


# ------------------------------------------------------------------ helpers


def normalize_code(code: str) -> str:
    """Upper-case, without spaces or dashes (codes are read out and typed)."""
    return re.sub(r"[\s\-]", "", code).upper()


def _normalize_name(name: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name))


def _normalize_phone(phone: str) -> str:
    try:
        return pii.normalize_phone(phone)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def mask_name(name: str) -> str:
    """``王芳`` → ``王*``; ``欧阳娜娜`` → ``欧***``; one character → ``*``."""
    text = _normalize_name(name)
    return "*" if len(text) <= 1 else text[0] + "*" * (len(text) - 1)


def mask_phone(phone: str) -> str:
    """``13812345678`` → ``*******5678``: at most the last 4 digits (short numbers: 2)."""
    digits = _normalize_phone(phone)
    shown = 4 if len(digits) >= 8 else 2
    return "*" * (len(digits) - shown) + digits[-shown:]


# ------------------------------------------------------------------ rules


class Bookings:
    """The booking rules of one hall, and the feature answering its requests.

    Args:
        ctx: the hall (a serving ``HallService`` or, for ``qhall book``, a
            plain :class:`~server.service.api.Context`).
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.rows = ctx.store.bookings
        self.clock = ctx.clock
        self._key: bytes | None = None
        self._legacy: bytes | None = None
        self._legacy_read = False

    # -- config -----------------------------------------------------------
    def rules(self, service_id: str) -> tuple[Service, Appointments]:
        """The service and its booking rules.

        Raises:
            NotFound: unknown service, or one that takes no appointments.
        """
        svc = self.config.service(service_id)
        if svc is None:
            raise NotFound(f"unknown service {service_id!r}")
        if svc.appointments is None:
            raise NotFound(f"{svc.name} takes no appointments")
        return svc, svc.appointments

    def slot_starts(self, svc: Service, day: dt.date) -> list[dt.datetime]:
        """Every slot start of ``svc`` on ``day`` (aware, hall timezone)."""
        appt = svc.appointments
        assert appt is not None
        step = dt.timedelta(minutes=appt.slot_minutes)
        starts = []
        for begin, end in svc.hours or DEFAULT_HOURS:
            t = dt.datetime.combine(day, begin, self.config.tz)
            stop = dt.datetime.combine(day, end, self.config.tz)
            while t + step <= stop:
                starts.append(t)
                t += step
        return starts

    def bookable_days(self, appt: Appointments) -> tuple[dt.date, dt.date]:
        """The first and last day that may be booked today."""
        today = self._today()
        first = add_working_days(today, appt.book_min_days)
        return first, add_working_days(today, appt.book_max_days)

    def _check_day(self, svc: Service, appt: Appointments, day: dt.date) -> None:
        first, last = self.bookable_days(appt)
        if day.weekday() >= 5:
            raise Closed(f"{day.isoformat()} is not a working day; bookings are Monday to Friday")
        ahead = working_days_between(self._today(), day)
        if day <= self._today() or not appt.book_min_days <= ahead <= appt.book_max_days:
            raise Closed(f"{svc.name} can be booked {appt.book_min_days} to "
                         f"{appt.book_max_days} working days ahead: "
                         f"{first.isoformat()} to {last.isoformat()}")

    def _today(self) -> dt.date:
        return self.clock().astimezone(self.config.tz).date()

    def parse_slot(self, svc: Service, text: str) -> dt.datetime:
        """A slot given as ISO 8601 (naive = hall time) → aware slot start.

        Raises:
            BadRequest: malformed, or not a slot start of the service.
        """
        try:
            moment = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise BadRequest(f"slot must be an ISO 8601 time like 2026-11-27T09:00, "
                             f"got {text[:40]!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.config.tz)
        moment = moment.astimezone(self.config.tz)
        if moment not in self.slot_starts(svc, moment.date()):
            raise BadRequest(f"{moment:%Y-%m-%d %H:%M} is not a slot of {svc.name}; "
                             "ask 'slots' for the service and date")
        return moment

    def _slot_wire(self, slot: dt.datetime) -> str:
        return slot.astimezone(self.config.tz).isoformat(timespec="minutes")

    # -- personal data -------------------------------------------------------
    def key(self) -> bytes:
        """The personal-data key (outside the database; ``server/pii.py``).

        Raises:
            pii.PiiKeyError: none is set up.
        """
        if self._key is None:
            self._key = pii.key_for(self.config)
        return self._key

    def legacy_salt(self) -> bytes | None:
        """The salt kept in the database before migration 0004, if any is left."""
        if not self._legacy_read:
            value = self.rows.legacy_salt(self.config.id)
            self._legacy = bytes.fromhex(value) if value else None
            self._legacy_read = True
        return self._legacy

    @staticmethod
    def _hmac(key: bytes, kind: str, text: str) -> str:
        return hmac.new(key, f"{kind}\0{text}".encode(), hashlib.sha256).hexdigest()

    def _digest(self, kind: str, text: str) -> str:
        return self._hmac(self.key(), kind, text)

    def identify(self, name: str, phone: str) -> dict[str, str]:
        """Hashes and masks of a person.

        Raises:
            BadRequest: an empty name or a malformed phone.
        """
        clean = _normalize_name(name)
        if not clean or len(clean) > 40:
            raise BadRequest("name must be 1 to 40 characters")
        digits = _normalize_phone(phone)
        return {
            "person": self._digest("person", f"{clean}\0{digits}"),
            "name_hash": self._digest("name", clean),
            "phone_hash": self._digest("phone", digits),
            "name_mask": mask_name(clean),
            "phone_mask": mask_phone(digits),
            "hash_scheme": "pii",
        }

    def legacy_person(self, name: str, phone: str) -> str | None:
        """The ``person`` digest a booking made before migration 0004 has, if any could."""
        salt = self.legacy_salt()
        if salt is None:
            return None
        return self._hmac(salt, "person",
                          f"{_normalize_name(name)}\0{_normalize_phone(phone)}")

    # -- reads ---------------------------------------------------------------
    def _row(self, code: str) -> BookingRow | None:
        return self.rows.get(self.config.id, code)

    def get(self, code: str) -> dict[str, Any]:
        """One booking as on the wire.

        Raises:
            NotFound: no such code.
        """
        row = self._row(normalize_code(code))
        if row is None:
            raise NotFound("unknown booking code")
        return self.wire(row)

    def wire(self, row: BookingRow) -> dict[str, Any]:
        """A bookings row → the wire booking object (masked data only)."""
        return {
            "code": row.code,
            "service": row.service,
            "slot": self._slot_wire(row.slot_start),
            "date": row.day.isoformat(),
            "name": row.name_mask,
            "phone": row.phone_mask,
            "status": row.status,
            "ticket": row.ticket,
        }

    def list(self, day: dt.date | None = None, service: str | None = None) -> list[dict]:
        """Bookings of a day (and service), by slot."""
        return [self.wire(r) for r in self.rows.of_day(self.config.id, day, service)]

    def due_today(self) -> dict[str, builtins.list[tuple[dt.datetime, int]]]:
        """Per service, today's bookings not checked in yet as ``(slot start,
        count)``: counts only, what the core's estimate needs (nothing personal)."""
        out: dict[str, builtins.list[tuple[dt.datetime, int]]] = collections.defaultdict(list)
        for service, slot, count in self.rows.due(self.config.id, self._today()):
            out[service].append((slot, count))
        return out

    def slots(self, service_id: str, day: dt.date) -> dict[str, Any]:
        """The slots of a bookable day with their free places.

        Raises:
            NotFound: service. Closed: the day cannot be booked now.
        """
        svc, appt = self.rules(service_id)
        self._check_day(svc, appt, day)
        starts = self.slot_starts(svc, day)
        taken = self.rows.taken(self.config.id, svc.id, starts)
        step = dt.timedelta(minutes=appt.slot_minutes)
        slots = []
        for s in starts:
            booked = taken.get(s, 0)
            slots.append({"slot": self._slot_wire(s), "start": f"{s:%H:%M}",
                          "end": f"{s + step:%H:%M}", "capacity": appt.capacity,
                          "booked": booked, "free": max(0, appt.capacity - booked)})
        return {"service": svc.id, "date": day.isoformat(), "slots": slots}

    def misses(self, history: Iterable[tuple[str, dt.datetime, str]],
               ) -> builtins.list[dt.datetime]:
        """Slot starts of the person's misses, oldest first (lazy: see module doc).

        ``history``: ``(service, slot start, status)`` of the person's bookings
        that may be misses (``store.bookings.person_day``).
        """
        now = self.clock()
        return sorted(slot for service, slot, status in history
                      if status != "booked" or self._window_passed(service, slot, now))

    def blocked_until(self, misses: Iterable[dt.datetime],
                      appt: Appointments) -> dt.datetime | None:
        """When the block from these misses ends (None: never blocked)."""
        span = dt.timedelta(days=appt.block_days)
        recent: collections.deque[dt.datetime] = collections.deque()
        until: dt.datetime | None = None
        for m in sorted(misses):
            if until is not None and m < until:
                continue  # a block already covers it; it does not start another
            recent.append(m)
            while recent and m - recent[0] > span:
                recent.popleft()
            if len(recent) >= appt.max_misses:
                until = m + span
                recent.clear()
        return until

    def _window_passed(self, service: str, slot: dt.datetime, now: dt.datetime) -> bool:
        svc = self.config.service(service)
        late = svc.appointments.late_checkin_min if svc and svc.appointments else 0
        return now > slot + dt.timedelta(minutes=late)

    # -- decisions -------------------------------------------------------------
    def plan_book(self, service_id: str, slot_text: str, name: str, phone: str,
                  device: str) -> Decision:
        """Decide a booking.

        Raises:
            NotFound, BadRequest, Closed (day not bookable), Forbidden
            (blocked for misses), Conflict (the person has that day already),
            QuotaReached (slot full).
        """
        svc, appt = self.rules(service_id)
        slot = self.parse_slot(svc, slot_text)
        day = slot.date()
        self._check_day(svc, appt, day)
        who = self.identify(name, phone)
        legacy = self.legacy_person(name, phone)
        persons = [who["person"]] + ([legacy] if legacy else [])
        hall = self.config.id
        person_day = f"{who['person'][:40]}:{day.isoformat()}"
        days = [f"{p[:40]}:{day.isoformat()}" for p in persons]
        seen = self.rows.person_day(hall, persons, days, svc.id, slot)
        until = self.blocked_until(self.misses(seen.history), appt)
        now = self.clock()
        if until is not None and now < until:
            raise Forbidden(f"booking is blocked after {appt.max_misses} missed appointments, "
                            f"until {until.astimezone(self.config.tz):%Y-%m-%d}")
        if seen.holder is not None:
            raise Conflict(f"this person already has a booking on {day.isoformat()} "
                           "(one booking per person per day)")
        if seen.booked >= appt.capacity:
            raise QuotaReached(f"the {slot:%H:%M} slot of {svc.name} on {day.isoformat()} "
                               "is full; choose another slot")
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        row = BookingRow(hall=hall, code=code, service=svc.id, day=day, slot_start=slot,
                         **who, status="booked", person_day=person_day, ticket=None,
                         created_at=now, created_by=device, updated_at=now,
                         phone=_normalize_phone(phone) if pii.keeps_phones(self.config)
                         else None)
        if legacy is not None:
            # The re-key may delete the old salt: read it again next time.
            self._legacy_read = False
        writes = self.rows.book(row, appt.capacity,
                                (legacy, who) if legacy is not None else None)
        data = {"service": svc.id, "slot": self._slot_wire(slot), "booked": seen.booked + 1,
                "capacity": appt.capacity}
        return Decision([Event("booking.made", data)], {"booking": self.wire(row)}, writes)

    def plan_cancel(self, code: str) -> Decision:
        """Decide a cancellation.

        Raises:
            NotFound, Conflict (not an open booking), Expired (too close to the slot).
        """
        code = normalize_code(code)
        row = self._row(code)
        if row is None:
            raise NotFound("unknown booking code")
        if row.status != "booked":
            raise Conflict(f"booking {code} is {row.status}; only an open booking can be "
                           "cancelled")
        if self.clock() > row.slot_start - dt.timedelta(minutes=CANCEL_LEAD_MIN):
            raise Expired(f"a booking can be cancelled until {CANCEL_LEAD_MIN} minutes "
                          "before its slot")
        writes = self.rows.cancel(row, self.clock())

        svc = self.config.service(row.service)
        capacity = svc.appointments.capacity if svc and svc.appointments else None
        wire = {**self.wire(row), "status": "cancelled"}
        data = {"service": row.service, "slot": wire["slot"], "capacity": capacity}
        return Decision([Event("booking.cancelled", data)], {"booking": wire}, writes)

    def plan_check_in(self, code: str,
                      issue: Callable[..., builtins.list[Event]]) -> Decision:
        """Decide a kiosk check-in; ``issue(service, priority, slot_start)`` is the core's.

        Raises:
            NotFound (unknown code), Conflict (cancelled / already checked
            in), Closed (before the window; another day), Expired (a past
            day, or missed), and what ``issue`` raises (service closed).
        """
        code = normalize_code(code)
        row = self._row(code)
        if row is None:
            raise NotFound("unknown booking code; check the code or ask at the information desk")
        if row.status == "cancelled":
            raise Conflict(f"booking {code} was cancelled")
        if row.status in ("checked_in", "late"):
            raise Conflict(f"booking {code} has already been checked in")
        svc, appt = self.rules(row.service)
        tz = self.config.tz
        now = self.clock()
        slot = row.slot_start
        local_slot = slot.astimezone(tz)
        opens = slot - dt.timedelta(minutes=appt.early_checkin_min)
        closes = slot + dt.timedelta(minutes=appt.late_checkin_min)
        today = now.astimezone(tz).date()
        if row.day < today:
            raise Expired(f"booking {code} was for {local_slot:%Y-%m-%d %H:%M} and has passed; "
                          "please take a normal ticket")
        # opens_at: the kiosk says from when, without reading the English text.
        opens_at = {"opens_at": opens.astimezone(tz).isoformat()}
        if row.day > today:
            raise Closed(f"booking {code} is for {local_slot:%Y-%m-%d %H:%M}; check in that day "
                         f"from {opens.astimezone(tz):%H:%M}", details=opens_at)
        if now < opens:
            raise Closed(f"check-in for the {local_slot:%H:%M} appointment opens at "
                         f"{opens.astimezone(tz):%H:%M}", details=opens_at)
        late = now > closes
        if late:
            events = issue(svc.id, "normal", None)
        else:
            events = issue(svc.id, "appointment", slot)
        ticket = next(e.data["ticket"] for e in events if e.name == "ticket.issued")
        status = "late" if late else "checked_in"
        # The booking's phone moves to its ticket (for ticket.soon/called), not
        # to a late arrival's normal ticket: that booking lapsed.
        writes = self.rows.check_in(row, status, ticket["id"], now, keep_phone=not late)
        reply: dict[str, Any] = {"ticket": ticket,
                                 "booking": {**self.wire(row), "status": status,
                                             "ticket": ticket["id"]}}
        if late and row.status == "booked":  # a swept one was logged as missed then
            events.append(Event("booking.missed", {"service": svc.id,
                                                   "slot": self._slot_wire(slot),
                                                   "late": True}))
        if late:
            reply["late"] = True
            reply["message"] = (
                f"您已超过预约时间 {local_slot:%H:%M}（迟到超过 {appt.late_checkin_min} 分钟），"
                f"已为您取普通号，本次预约记为失约。 You are more than "
                f"{appt.late_checkin_min} min late for your {local_slot:%H:%M} appointment: "
                "this is a normal ticket and the booking counts as missed.")
        return Decision(events, reply, writes)

    def plan_sweep(self) -> Decision | None:
        """Mark bookings whose check-in window passed as ``missed`` (None: none)."""
        now = self.clock()
        rows = self.rows.booked_before(self.config.id, now)
        overdue = [r for r in rows if self._window_passed(r.service, r.slot_start, now)]
        if not overdue:
            return None
        events = [Event("booking.missed", {"service": r.service,
                                           "slot": self._slot_wire(r.slot_start)})
                  for r in overdue]
        return Decision(events, {}, self.rows.mark_missed(self.config.id,
                                                         [r.code for r in overdue], now))

    # -- committing outside the server (CLI) --------------------------------
    def apply(self, decide: Callable[[], Decision]) -> dict[str, Any]:
        """Decide and commit (``Context.commit``); return the reply fields."""
        return self.ctx.commit(decide).message

    # -- the feature -----------------------------------------------------------
    @classmethod
    def feature(cls, ctx: Context) -> Bookings:
        """The booking feature of a serving hall (a hall that takes bookings
        does not start without its personal-data key)."""
        bookings = cls(ctx)
        if any(s.appointments is not None for s in ctx.config.services):
            bookings.key()
        return bookings

    def loaded(self, hall: Hall) -> None:
        self._feed(hall)

    def _feed(self, hall: Hall) -> builtins.list[Event]:
        # The committed booked-not-checked-in counts into the core's estimate.
        due = self.due_today()
        events: builtins.list[Event] = []
        for svc in self.config.services:
            if svc.appointments is not None:
                events += hall.set_appointments(svc.id, due.get(svc.id, []))
        return events

    def handlers(self) -> Mapping[str, Handler]:
        return {
            "slots": self._do_slots,
            "book": self._after_change(self._do_book),
            "cancel_booking": self._after_change(self._do_cancel),
            "check_in": self._after_change(self._do_check_in),
        }

    def _sweep(self) -> builtins.list[dict[str, Any]]:
        # Lazy miss marking: a failure here must not fail the request.
        try:
            return self.ctx.commit(lambda: self.plan_sweep() or Decision([])).events
        except Exception:
            log.exception("marking missed bookings failed")
            return []

    def _refresh(self) -> builtins.list[dict[str, Any]]:
        # After a booking change committed: the ETAs it moves go out as
        # queue.changed, committed like any event (a failure rebuilds the core).
        try:
            events = self._feed(self.ctx.hall)
        except Exception:
            log.exception("updating the estimates for the bookings failed; reloading")
            self.ctx.reload()
            return []
        return self.ctx.commit_upkeep(events, "updating the estimates for the bookings")

    def _after_change(self, handler: Handler) -> Handler:
        def run(session: Session, msg: dict[str, Any]) -> Reply:
            # After the request: a late arrival checking in is not pre-empted.
            reply = handler(session, msg)
            reply.events.extend(self._sweep())
            reply.events.extend(self._refresh())
            return reply
        return run

    def _do_slots(self, session: Session, msg: dict[str, Any]) -> Reply:
        try:
            day = dt.date.fromisoformat(msg["date"])
        except ValueError:
            raise BadRequest(f"date must be YYYY-MM-DD, got {msg['date'][:20]!r}") from None
        return Reply(protocol.ok(msg["id"], **self.slots(msg["service"], day)))

    def _do_book(self, session: Session, msg: dict[str, Any]) -> Reply:
        return self.ctx.commit(lambda: self.plan_book(
            msg["service"], msg["slot"], msg["name"], msg["phone"], session.device.id),
            (session, msg["id"]))

    def _do_cancel(self, session: Session, msg: dict[str, Any]) -> Reply:
        return self.ctx.commit(lambda: self.plan_cancel(msg["code"]), (session, msg["id"]))

    def _do_check_in(self, session: Session, msg: dict[str, Any]) -> Reply:
        return self.ctx.commit(lambda: self.plan_check_in(
            msg["code"], lambda sid, prio, slot: self.ctx.hall.issue(sid, prio, slot)),
            (session, msg["id"]))


# ------------------------------------------------------------------ CLI


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``qhall book`` options."""
    parser.add_argument("--config", metavar="FILE",
                        help="hall configuration (TOML); default: the built-in demo hall")
    parser.add_argument("--database", metavar="URL", help="database URL, overrides the config")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser("slots", help="free places of a service on a day")
    p.add_argument("service")
    p.add_argument("date", help="YYYY-MM-DD")
    p = sub.add_parser("book", help="book a slot for a citizen")
    p.add_argument("service")
    p.add_argument("slot", help="slot start, e.g. 2026-11-27T09:00 (hall time)")
    p.add_argument("--name", required=True)
    p.add_argument("--phone", required=True)
    p = sub.add_parser("cancel", help="cancel a booking")
    p.add_argument("code")
    p = sub.add_parser("show", help="show one booking")
    p.add_argument("code")
    p = sub.add_parser("list", help="bookings of a day")
    p.add_argument("--date", help="YYYY-MM-DD (default today)")
    p.add_argument("--service")


def _line(b: dict[str, Any]) -> str:
    return (f"{b['code']}  {b['service']:<8} {b['slot']}  {b['name']:<6} {b['phone']:<12} "
            f"{b['status']}")


def run(args: argparse.Namespace, clock: Callable[[], dt.datetime] | None = None) -> int:
    """Run one ``qhall book`` action against the hall's database."""
    try:
        cfg = hall_config(args)
    except (ConfigError, OSError) as exc:
        print(f"qhall book: {exc}", file=sys.stderr)
        return 2
    store = Store(cfg.database)
    bookings = Bookings(Context(cfg, store, clock or utcnow))
    try:
        if args.action == "slots":
            try:
                day = dt.date.fromisoformat(args.date)
            except ValueError:
                raise BadRequest(f"date must be YYYY-MM-DD, got {args.date!r}") from None
            result = bookings.slots(args.service, day)
            print(f"{args.service} {result['date']}")
            for s in result["slots"]:
                print(f"  {s['start']}-{s['end']}  {s['free']}/{s['capacity']} free")
        elif args.action == "book":
            reply = bookings.apply(lambda: bookings.plan_book(
                args.service, args.slot, args.name, args.phone, "cli"))
            print(f"booked: {_line(reply['booking'])}")
            print(f"booking code: {reply['booking']['code']}")
        elif args.action == "cancel":
            reply = bookings.apply(lambda: bookings.plan_cancel(args.code))
            print(f"cancelled: {_line(reply['booking'])}")
        elif args.action == "show":
            print(_line(bookings.get(args.code)))
        else:
            day = dt.date.fromisoformat(args.date) if args.date else bookings._today()
            rows = bookings.list(day, args.service)
            for b in rows:
                print(_line(b))
            print(f"{len(rows)} booking(s) on {day.isoformat()}")
    except CoreError as exc:
        print(f"qhall book: {exc.code}: {exc}", file=sys.stderr)
        return 1
    except pii.PiiKeyError as exc:
        print(f"qhall book: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"qhall book: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0
