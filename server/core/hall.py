"""The hall: commands in, events out. Pure: no I/O, the clock is injected.

Dispatch rules (what ``call_next`` takes, and what ``queue`` lists):

1. Tickets transferred to *this counter* come first (oldest first by rank).
2. Then, from the counter's services: in ``ordered`` mode the first service
   in the counter's list that has anyone waiting (the next service only when
   the earlier ones are empty); in ``oldest`` mode all its services together.
3. Within those candidates: appointments whose slot has started, then
   ``priority`` tickets, then ``normal`` ones; each group in rank order
   (rank = issue time for a fresh ticket, so oldest first). An appointment
   whose slot has not started yet queues as a normal ticket until it does.
4. Interleaving, counted **per counter**: a counter calls at most
   ``Dispatch.priority_per_normal`` priority/appointment tickets in a row
   while a normal ticket it could call is waiting; then it takes the oldest
   normal one. So a normal ticket never starves at any counter that serves
   it. (``CounterState.streak`` holds the count; it lives with the counter so
   it is persisted and restored with it.) Transfers to the counter and
   specific calls (``call``, 特呼) do not count.
5. A transfer keeps the ticket's number and its priority group; its place
   in the new queue follows ``Dispatch.transfer_placement``: ``head`` (ahead
   of everyone in its group, transfers among themselves in transfer order),
   ``issue_time`` (by its original issue time) or ``tail``.
6. 过号重排: ``requeue`` of a no-show within ``Dispatch.no_show_return_s``
   puts it back ``Dispatch.requeue_places`` places behind the head of its
   group in its service (at the tail when fewer are waiting).
7. A transfer to a counter names an *open* counter (else ``closed``). A
   ticket waiting for a counter returns to the head of its service's queue
   (``ticket.transferred`` with ``reason``) when that counter closes, or when
   it has been paused longer than ``Dispatch.transfer_timeout`` (checked by
   :meth:`Hall.expire_transfers`, which the server's ticker runs), so a
   transfer never strands a citizen.
8. 撤销过号: within ``NO_SHOW_UNDO_S`` of a no-show, the counter that marked
   it may take it back (``unmiss``): it is that counter's called ticket again
   (``ticket.no_show_undone``), provided the counter has no other ticket.
9. Joint-approval routes (联合审批, ``Service.route``): a ticket of a route
   service is issued with the route's number and waits at its first step's
   service (``Ticket.route``/``step``). ``complete`` of a step that is not the
   last moves it by itself to the next step's service, at the head of its
   priority group (band 0, like a head transfer: it has already waited),
   keeping number and priority (``ticket.routed``); the last step's
   ``complete`` completes it. ``route_back`` (材料补正) sends it back to an
   earlier step the same way, with a reason; ``route_end`` ends the case early
   (``ticket.completed`` with ``route_ended`` and a reason). A transfer keeps
   the route and step: completing at the service it was transferred to moves
   it on to the next step. A step whose service is outside its hours keeps
   the ticket waiting there; its ETA is at least the time to the opening,
   with ``eta_after`` the opening. A route service's queue object is that of
   its first step (what a ticket issued now waits for).

Numbering: service prefix + at least 3 digits, from 001 each hall-local day
(``HallConfig.timezone``, day boundary at local midnight), never reused in
that day (``last_numbers[(service, day)]``). Hours and the daily quota are
checked at issue time (``closed`` / ``quota_reached``).

ETA (DESIGN: people ahead / counters serving the service x recent mean),
see ``server/core/forecast.py`` (fed from the hall) and ``server/core/eta.py``
(the arithmetic): calls to get through = ahead
+ the ticket itself - free counters of the service (+ priority tickets still
to come and appointments whose slot starts first: checked in, or booked and
not checked in yet, as the booking layer tells ``set_appointments``; for a
normal ticket those booked count only up to ``priority_per_normal`` specials
per call it waits for); x the mean *cycle* time
(call -> complete) of its last 20 completions (``Service.default_service_s``
without history); over the time the counters will give the service by
their schedules (breaks give nothing, a counter on a lunch break comes
back): a counter serving several services gives each a share (``oldest``:
by waiting work; ``ordered``: after its part of the earlier services' work
and what their arrivals need). ``queue_wire(service)`` is the estimate of a
ticket issued now; a ticket object carries that ticket's own, with
``eta_after`` (not reached before a break ends) and a range when wide.
A ticket's ``ahead`` counts the tickets of its service ranked before it
(group by group; an estimate that ignores interleaving).

Every command returns ``list[Event]`` with the PROTOCOL event names and
data; ``queue.changed`` follows any change of a service's waiting count or
ETA (so also of the services sharing a counter with the one that moved, and
of those whose arrival stamps the command's time pushed out of the rate window).
Each command that changes the hall reads the arrival rates as of its own
moment, once, before it builds any ticket's wire (``_begin``): every ETA in
its events is as of that command; a refused or idle command reads none.
Per-service waiting tickets live in sorted lists, so a call costs O(log n)
plus a short memmove, never a scan of the day's tickets.
"""

from __future__ import annotations

import base64
import datetime as dt
import heapq
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from server.config import Counter, HallConfig, Service
from server.core import eta, machine, remote, shape
from server.core.forecast import HISTORY, RATE_WINDOW_S, Forecast, route_steps, service_time
from server.core.machine import IllegalMove
from server.core.model import PRIORITIES, CounterState, Event, Layout, Ticket
from server.core.queues import Entry, Head, Pick, Queues, next_streak, rank_after
from server.wire.errors import (
    BadRequest,
    Closed,
    Conflict,
    Expired,
    Forbidden,
    NotFound,
    QueueEmpty,
    QuotaReached,
)

__all__ = ["Hall", "HISTORY", "NO_SHOW_UNDO_S", "RECENT_CALLS", "RATE_WINDOW_S"]

#: Calls listed in ``snapshot()["recent_calls"]``.
RECENT_CALLS = 20
#: Seconds during which a counter may undo its own no-show (撤销过号).
NO_SHOW_UNDO_S = 30


def _ts(moment: dt.datetime) -> float:
    return moment.timestamp()


def _default_ids() -> str:
    return uuid.uuid4().hex


def _default_codes() -> str:
    # 8 base32 characters (40 random bits): short enough to type, too many to guess.
    return base64.b32encode(secrets.token_bytes(5)).decode("ascii")


class Hall:
    """One hall's live dispatch state.

    Args:
        config: the hall configuration.
        clock: returns the current time as an aware datetime.
        ids: returns a new unique ticket id (default: uuid4 hex).
        codes: returns a new public check code (default: 8 random base32 chars).
    """

    def __init__(
        self,
        config: HallConfig,
        clock: Callable[[], dt.datetime],
        ids: Callable[[], str] | None = None,
        codes: Callable[[], str] | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._ids = ids or _default_ids
        self._codes = codes or _default_codes
        self._tz = config.tz
        self._dispatch = config.dispatch
        layout = Layout.of(config)
        self._services, self._cfg_counters, self._by_prefix, self._served_by = layout
        for c in config.counters:
            unknown = [s for s in c.services if s not in self._services]
            if unknown:
                raise ValueError(f"counter {c.number} serves unknown services {unknown}")
            if c.mode not in ("ordered", "oldest"):
                raise ValueError(f"counter {c.number}: unknown mode {c.mode!r}")
        if self._dispatch.transfer_placement not in ("head", "issue_time", "tail"):
            raise ValueError(f"unknown transfer_placement {self._dispatch.transfer_placement!r}")

        self._tickets: dict[str, Ticket] = {}
        self._checks: dict[str, str] = {}
        self._counters: dict[int, CounterState] = {
            n: CounterState(number=n) for n in self._cfg_counters
        }
        self.last_numbers: dict[tuple[str, dt.date], int] = {}
        # The waiting tickets: sorted lists per service group and per counter.
        self._queues = Queues(self._services, self._cfg_counters)
        self._open: dict[str, int] = {sid: 0 for sid in self._services}  # open counters
        # Joint-approval routes: route service id -> its step services.
        self._routes = {sid: svc.route for sid, svc in self._services.items() if svc.route}
        for sid, steps in self._routes.items():
            if len(steps) < 2 or any(s not in self._services or self._services[s].route
                                     for s in steps):
                raise ValueError(f"route {sid}: needs 2+ steps, each an ordinary service")
        # The services whose ETA may move when this one's queue or counters do:
        # those sharing a counter with it (their capacity shares depend on it),
        # and the routes starting with it (their queue object is its own).
        self._related: dict[str, tuple[str, ...]] = {
            sid: tuple(dict.fromkeys(
                [sid, *(s for n in self._served_by[sid] for s in self._cfg_counters[n].services)]))
            for sid in self._services
        }
        for sid, steps in self._routes.items():
            for s in self._related[steps[0]]:
                self._related[s] += (sid,)
        # The estimates: what the hall has learnt about time (server/core/forecast.py).
        self._forecast = Forecast(config, layout, self._tickets, self._counters, self._open,
                                  self._queues, self._now)
        # What boards were last told. A new hall (nothing waiting, nobody open)
        # reads no clock: a ticket would wait one default service time.
        self._emitted: dict[str, dict[str, Any]] = {
            sid: shape.queue(0, eta.Estimate(svc.default_service_s), 0, self._tz)
            for sid, svc in self._services.items()
        }
        # While deferred (a group of requests): the services to estimate at
        # the group's end, in the order first named (see defer_queue_events).
        self._deferred: dict[str, None] | None = None
        # The services whose stamps left the rate window when the current
        # command began (see _begin); its queue events tell their boards.
        self._moved: set[str] = set()

    # ================================================================ restore
    @classmethod
    def restore(
        cls,
        config: HallConfig,
        clock: Callable[[], dt.datetime],
        tickets: Iterable[Ticket],
        counters: Iterable[CounterState | Mapping[str, Any]]
        | Mapping[Any, CounterState | Mapping[str, Any]] = (),
        last_numbers: Mapping[tuple[str, dt.date], int] | None = None,
        ids: Callable[[], str] | None = None,
        codes: Callable[[], str] | None = None,
        route_events: Iterable[Mapping[str, Any]] = (),
    ) -> Hall:
        """Rebuild a hall from persisted state (after a restart or a failed commit).

        Args:
            config: the hall configuration.
            clock: as for :class:`Hall`.
            tickets: the tickets (copied; the originals are not touched).
            counters: counter states: :class:`CounterState` objects or mappings
                with ``number``, ``state``, ``staff_id``, ``staff_name`` (or
                ``staff: {id, name}``), ``reason``, ``streak``, ``version``;
                or a mapping number -> one of those. Counters not given are
                closed. Each counter's current ticket is taken from the
                tickets (the one it called or serves), not from here.
            last_numbers: ``{(service id, day): last number}``; numbers found in
                the tickets raise it if needed, so a number is never reused.
            ids, codes: as for :class:`Hall`.
            route_events: the day's events named in ``forecast.ROUTE_EVENTS``
                (``{"name", "data", "at"}``, in seq order): the route steps
                tickets left join the service times (a ticket holds only
                its current step).

        Raises:
            ValueError: the state is inconsistent (unknown service or
                counter, two current tickets at one counter, ...).
        """
        hall = cls(config, clock, ids, codes)
        for given in tickets:
            t = given.copy()
            t.rank = (int(t.rank[0]), float(t.rank[1]))
            if t.status not in machine.STATES:
                raise ValueError(f"ticket {t.number}: unknown status {t.status!r}")
            if t.service not in hall._services:
                raise ValueError(f"ticket {t.number}: unknown service {t.service!r}")
            t.route = tuple(t.route)
            if t.route and (any(s not in hall._services for s in t.route)
                            or not 0 <= t.step < len(t.route)):
                raise ValueError(f"ticket {t.number}: bad route {t.route!r} step {t.step}")
            if t.id in hall._tickets:
                raise ValueError(f"ticket id {t.id!r} appears twice")
            hall._tickets[t.id] = t
            if t.check:
                hall._checks[t.check] = t.id
            origin = hall._by_prefix.get(t.number.rstrip("0123456789"))
            if origin is not None and t.seqno:
                key = (origin, t.day)
                hall.last_numbers[key] = max(hall.last_numbers.get(key, 0), t.seqno)
        for key, value in (last_numbers or {}).items():
            sid, day = key
            hall.last_numbers[(sid, day)] = max(hall.last_numbers.get((sid, day), 0), int(value))

        items: Iterable[Any] = counters.values() if isinstance(counters, Mapping) else counters
        for item in items:
            cs = CounterState.read(item)
            if cs.number not in hall._counters:
                raise ValueError(f"unknown counter {cs.number}")
            cs.current = None
            hall._counters[cs.number] = cs
        for t in hall._tickets.values():
            if t.status in ("called", "serving"):
                held = hall._counters.get(t.counter) if t.counter is not None else None
                if held is None:
                    raise ValueError(f"ticket {t.number} is {t.status} at unknown counter")
                if held.current is not None:
                    raise ValueError(f"counter {held.number} has two current tickets")
                held.current = t.id
        now = hall._now()
        for t in sorted(hall._tickets.values(), key=Entry.of):
            if t.status == "waiting":
                if t.target_counter is not None and t.target_counter not in hall._queues.targeted:
                    raise ValueError(f"ticket {t.number} targets unknown counter")
                hall._queues.insert(t, now)
        hall._forecast.rebuild_history(route_steps(route_events))
        hall._count_open(hall._services)
        hall._forecast.rebuild_rates()
        today = hall._now().astimezone(hall._tz).date()
        for t in hall._tickets.values():  # counters that served today come back after breaks
            if t.counter is not None and t.called_at is not None and t.day == today:
                hall._forecast.worked[t.counter] = today
        hall._emitted = {sid: hall.queue_wire(sid) for sid in hall._services}
        return hall

    # ============================================================== commands
    def issue(
        self, service: str, priority: str = "normal", slot_start: dt.datetime | None = None,
        remote: bool = False,
    ) -> list[Event]:
        """A kiosk issues a ticket: ``ticket.issued`` + ``queue.changed``.

        ``remote``: taken by phone; called only once present (server/core/remote.py).

        Raises:
            NotFound: unknown service. Closed: outside its hours.
            QuotaReached: the day's quota is used up. BadRequest: bad priority/slot.
        """
        svc = self._service(service)
        if priority not in PRIORITIES:
            raise BadRequest(f"unknown priority {priority!r}; expected one of {PRIORITIES}")
        if slot_start is not None:
            if priority != "appointment":
                raise BadRequest("only an appointment ticket has a slot start")
            if slot_start.tzinfo is None:
                raise BadRequest("slot_start must carry a timezone")
        now = self._now()
        local = now.astimezone(self._tz)
        if svc.hours and not any(a <= local.time() < b for a, b in svc.hours):
            hours = ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in svc.hours)
            raise Closed(f"{svc.name} is not open now (hours {hours}); please come back then")
        day = local.date()
        n = self.last_numbers.get((svc.id, day), 0) + 1
        if svc.daily_quota is not None and n > svc.daily_quota:
            raise QuotaReached(
                f"{svc.name}: today's {svc.daily_quota} tickets are all issued; "
                "please come back tomorrow or book an appointment")
        self._begin(now)
        tid = self._new_id()
        check = self._new_check()
        # A route's ticket carries the route's number and waits at its first step.
        t = Ticket(
            id=tid, number=f"{svc.prefix}{n:03d}", service=svc.route[0] if svc.route else svc.id,
            status="waiting", priority=priority, issued_at=now, day=day, seqno=n,
            rank=(1, _ts(now)), check=check, slot_start=slot_start, version=1,
            route=svc.route, route_id=svc.id if svc.route else "",
            remote=remote, present=not remote,
        )
        self.last_numbers[(svc.id, day)] = n
        self._tickets[tid] = t
        self._checks[check] = tid
        self._queues.insert(t, now)
        # (appointments for a later slot are counted once checked in: _overtaking)
        self._forecast.issued(t.service, now, priority == "priority" or (
            slot_start is not None and slot_start <= now))
        return [Event("ticket.issued", {"ticket": self.wire_ticket(t)}, t.copy(), None),
                *self._queue_events((t.service,))]

    def set_appointments(
        self, service: str, slots: Iterable[tuple[dt.datetime, int]]
    ) -> list[Event]:
        """The appointments booked for ``service`` and not checked in yet, as
        ``(slot start, count)`` pairs (replacing the previous ones): the work
        that will come ahead of waiting tickets once their slots start
        (see ``Forecast._booked_due``). Returns ``queue.changed`` where an ETA moved.

        Raises:
            NotFound: unknown service. BadRequest: a naive slot start or a
                negative count (nothing is changed then).
        """
        svc = self._service(service)
        booked: dict[float, int] = {}
        for start, count in slots:
            if start.tzinfo is None:
                raise BadRequest("slot start must carry a timezone")
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise BadRequest(f"appointment count must be a whole number >= 0, got {count!r}")
            if count:
                booked[_ts(start)] = booked.get(_ts(start), 0) + count
        new = sorted(booked.items())
        if new == self._forecast.booked[svc.id]:
            return []
        self._begin(self._now())
        self._forecast.booked[svc.id] = new
        return self._queue_events((svc.id,))

    def call_next(self, counter: int) -> list[Event]:
        """The counter calls the next ticket in dispatch order.

        Raises:
            NotFound: unknown counter. Conflict: the counter is not open.
            IllegalMove: it still has a current ticket. QueueEmpty: nobody waits.
        """
        cs, cfg = self._counter(counter)
        self._ready_to_call(cs)
        now = self._now()
        self._queues.promote(cfg.services, now)
        # Remote tickets whose citizen is not here are passed over (and move
        # back) only when someone present can be called instead.
        skip: dict[int, int] = {}

        def head(lst: list[Entry]) -> Entry | None:
            i = skip.get(id(lst), 0)
            return lst[i] if i < len(lst) else None

        absent: list[Ticket] = []
        while (picked := self._pick(cfg, cs.streak, head)) is not None:
            t = self._tickets[picked.entry.ticket_id]
            if not remote.absent(t):
                break
            absent.append(t)
            skip[id(picked.home)] = skip.get(id(picked.home), 0) + 1
        if picked is None:
            raise QueueEmpty(f"nobody present is waiting for {cfg.name}" if absent
                             else f"nobody is waiting for {cfg.name}")
        self._begin(now)
        cs.streak = next_streak(cs.streak, picked.group, picked.normal_waiting)
        events = self._call(cs, cfg, self._tickets[picked.entry.ticket_id], now)
        if absent:
            events += [remote.pass_over(self, t, now) for t in absent]
            events += self._queue_events(cfg.services)
        return events

    def arrived(self, ticket_id: str) -> list[Event]:
        """The citizen of a remote ticket is here (``ticket.arrived``; [] if known).

        Raises:
            NotFound: unknown ticket. IllegalMove: not a waiting remote ticket.
        """
        return remote.arrive(self, self._get(ticket_id))

    def call(self, counter: int, ticket_id: str) -> list[Event]:
        """特呼: the counter calls one specific waiting ticket.

        Raises:
            NotFound: unknown counter or ticket. Conflict: counter not open.
            IllegalMove: the ticket is not waiting, or the counter has a current one.
            Forbidden: the ticket is for another counter or a service it does not serve.
        """
        cs, cfg = self._counter(counter)
        t = self._get(ticket_id)
        self._ready_to_call(cs)
        machine.check(t, "call")
        if t.target_counter is not None and t.target_counter != counter:
            raise Forbidden(f"ticket {t.number} was transferred to counter {t.target_counter}")
        if t.target_counter is None and t.service not in cfg.services:
            raise Forbidden(f"{cfg.name} does not serve {self._services[t.service].name}")
        return self._call(cs, cfg, t, self._begin(self._now()))

    def recall(self, counter: int) -> list[Event]:
        """重呼: announce the counter's called ticket again (``ticket.recalled``)."""
        cs, cfg = self._counter(counter)
        t = self._current(cs, "recall")
        machine.check(t, "recall")
        self._begin(self._now())
        prev = self._bump(t)
        t.calls += 1
        data = {"ticket": self.wire_ticket(t), "counter": counter, "counter_name": cfg.name}
        return [Event("ticket.recalled", data, t.copy(), prev, counter=cs.copy()),
                *self._queue_events(())]

    def start(self, counter: int) -> list[Event]:
        """The citizen has arrived: called -> serving (``ticket.started``)."""
        cs, _cfg = self._counter(counter)
        t = self._current(cs, "start")
        new = machine.check(t, "start")
        prev = self._bump(t, new)
        t.started_at = self._begin(self._now())
        return [self._ticket_event("ticket.started", t, prev, cs), *self._queue_events(())]

    def complete(self, counter: int) -> list[Event]:
        """办结: the counter's ticket is done (``ticket.completed``)."""
        cs, cfg = self._counter(counter)
        t = self._current(cs, "complete")
        if t.route and t.step + 1 < len(t.route):
            return self._route(cs, cfg, t, t.step + 1, "route")
        new = machine.check(t, "complete")
        prev = self._bump(t, new)
        t.finished_at = self._begin(self._now())
        self._forecast.completed(t)
        self._free(cs)
        return [self._ticket_event("ticket.completed", t, prev, cs),
                *self._queue_events((t.service, *cfg.services))]

    def route_back(self, counter: int, step: int, reason: str) -> list[Event]:
        """材料补正: the counter sends its route ticket back to an earlier step
        (``ticket.routed`` with ``reason``), at the head of that step's queue.

        Raises:
            BadRequest: not a route ticket, no reason, or ``step`` not an earlier step.
            NotFound: unknown counter. Conflict/IllegalMove: no ticket to send back.
        """
        cs, cfg = self._counter(counter)
        t = self._current(cs, "route_back")
        reason = self._route_reason(t, reason)
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < t.step:
            raise BadRequest(f"ticket {t.number} is at step {t.step + 1} of {len(t.route)}; "
                             f"it can only go back to an earlier step (0 to {t.step - 1}), "
                             f"got {step!r}")
        return self._route(cs, cfg, t, step, "route_back", reason=reason)

    def route_end(self, counter: int, reason: str) -> list[Event]:
        """The counter ends its route ticket's case early: it is done at this
        step (``ticket.completed`` with ``route_ended: true`` and ``reason``).

        Raises:
            BadRequest: not a route ticket, or no reason. Conflict/IllegalMove:
                no ticket to end.
        """
        cs, cfg = self._counter(counter)
        t = self._current(cs, "route_end")
        reason = self._route_reason(t, reason)
        new = machine.check(t, "route_end")
        prev = self._bump(t, new)
        t.finished_at = self._begin(self._now())
        self._forecast.completed(t)
        self._free(cs)
        return [self._ticket_event("ticket.completed", t, prev, cs, route_ended=True,
                                   reason=reason),
                *self._queue_events((t.service, *cfg.services))]

    def no_show(self, counter: int) -> list[Event]:
        """过号: the called citizen did not come (``ticket.no_show``)."""
        cs, cfg = self._counter(counter)
        t = self._current(cs, "no_show")
        new = machine.check(t, "no_show")
        prev = self._bump(t, new)
        t.finished_at = self._begin(self._now())
        self._free(cs)
        return [self._ticket_event("ticket.no_show", t, prev, cs),
                *self._queue_events((t.service, *cfg.services))]

    def transfer(
        self, counter: int, service: str | None = None, to_counter: int | None = None
    ) -> list[Event]:
        """转移: the counter's ticket goes back to waiting, keeping its number.

        Args:
            counter: the counter holding the ticket.
            service: the service it now waits for (default: unchanged).
            to_counter: only this counter may call it (it comes first there).

        Raises:
            BadRequest: neither a service nor a counter given, or the same counter.
            NotFound: unknown service/counter. IllegalMove: no ticket to transfer.
        """
        cs, cfg = self._counter(counter)
        if service is None and to_counter is None:
            raise BadRequest("say where to transfer: a service or a counter")
        if service is not None and self._service(service).route:
            raise BadRequest(f"{service!r} is a joint-approval route: nobody serves it "
                             "directly; transfer to one of its steps' services")
        if to_counter is not None:
            target, target_cfg = self._counter(to_counter)
            if to_counter == counter:
                raise BadRequest("a ticket cannot be transferred to its own counter")
            if target.state != "open":
                raise Closed(f"{target_cfg.name} is {target.state}: nobody would call the "
                             "ticket there; choose an open counter or a service")
        t = self._current(cs, "transfer")
        new = machine.check(t, "transfer")
        now = self._begin(self._now())
        old_service = t.service
        placement = self._dispatch.transfer_placement
        if placement == "head":
            rank = (0, _ts(now))
        elif placement == "issue_time":
            rank = (1, _ts(t.issued_at))
        else:
            rank = (1, _ts(now))
        prev = self._bump(t, new)
        t.service = service or t.service
        t.target_counter = to_counter
        t.rank = rank
        t.started_at = None
        self._free(cs)
        self._queues.insert(t, now)
        data = {"ticket": self.wire_ticket(t), "from_counter": counter,
                "to_service": t.service, "to_counter": to_counter}
        return [Event("ticket.transferred", data, t.copy(), prev, counter=cs.copy()),
                *self._queue_events((old_service, t.service, *cfg.services))]

    def move(self, ticket_id: str, service: str | None = None,
             to_counter: int | None = None) -> list[Event]:
        """A supervisor moves a WAITING ticket (the console's 转移): to another
        service's queue and/or to one counter only. It keeps its number and its
        place by issue time; ``ticket.transferred`` with ``from_counter`` null.

        Raises:
            BadRequest: neither given. NotFound: unknown ticket/service/counter.
            IllegalMove: the ticket is not waiting. Closed: the counter is not open.
        """
        if service is None and to_counter is None:
            raise BadRequest("say where to move the ticket: a service or a counter")
        t = self._get(ticket_id)
        if t.status != "waiting":
            raise IllegalMove(t, "transfer", t.status)
        if service is not None:
            self._service(service)
        if to_counter is not None:
            target, target_cfg = self._counter(to_counter)
            if target.state != "open":
                raise Closed(f"{target_cfg.name} is {target.state}: nobody would call the "
                             "ticket there; choose an open counter or a service")
        now = self._begin(self._now())
        old_service = t.service
        self._queues.remove(t)
        prev = self._bump(t)
        t.service = service or t.service
        t.target_counter = to_counter
        t.rank = (1, _ts(t.issued_at))
        self._queues.insert(t, now)
        data = {"ticket": self.wire_ticket(t), "from_counter": None,
                "to_service": t.service, "to_counter": to_counter}
        return [Event("ticket.transferred", data, t.copy(), prev),
                *self._queue_events((old_service, t.service))]

    def requeue(self, ticket_id: str) -> list[Event]:
        """过号重排: a no-show who came back waits again, a few places back.

        For a remote ticket whose citizen is not present yet (the kiosk's
        scanner sends ``requeue`` for any ticket QR) it is its arrival instead
        (``ticket.arrived``, server/core/remote.py).

        Raises:
            NotFound: unknown ticket. IllegalMove: not a no-show.
            Expired: the return window (``no_show_return_s``) has passed.
        """
        t = self._get(ticket_id)
        if remote.absent(t) and t.status == "waiting":
            # A kiosk reading a remote ticket's QR sends this: its citizen is here.
            return remote.arrive(self, t)
        new = machine.check(t, "requeue")
        now = self._now()
        window = self._dispatch.no_show_return_s
        if t.finished_at is None or (now - t.finished_at).total_seconds() > window:
            raise Expired(
                f"ticket {t.number} missed its call more than {window // 60} min ago; "
                "please take a new ticket")
        self._begin(now)
        t.target_counter = None
        self._queues.promote((t.service,), now)
        lst = self._queues.group_list(t, now)
        rank = rank_after(lst, self._dispatch.requeue_places, now)
        prev = self._bump(t, new)
        t.rank = rank
        t.started_at = None
        self._queues.insert(t, now)
        return [self._ticket_event("ticket.requeued", t, prev, None, counter=t.counter),
                *self._queue_events((t.service,))]

    def unmiss(self, counter: int, ticket_id: str) -> list[Event]:
        """撤销过号: the counter takes back its own no-show of the last ``NO_SHOW_UNDO_S``.

        The ticket is the counter's called ticket again (``ticket.no_show_undone``,
        not announced again); the no-show no longer counts.

        Raises:
            NotFound: unknown counter or ticket. IllegalMove: not a no-show.
            Forbidden: another counter marked it. Expired: the window passed.
            Conflict: the counter is not open or already has another ticket.
        """
        cs, cfg = self._counter(counter)
        t = self._get(ticket_id)
        new = machine.check(t, "unmiss")
        if t.counter != counter:
            raise Forbidden(f"ticket {t.number} was marked no-show at counter {t.counter}, "
                            f"not {counter}")
        now = self._now()
        if t.finished_at is None or (now - t.finished_at).total_seconds() > NO_SHOW_UNDO_S:
            raise Expired(f"the no-show of {t.number} can only be undone within "
                          f"{NO_SHOW_UNDO_S} s; re-queue it from the missed list instead")
        self._ready_to_call(cs)
        self._begin(now)
        prev = self._bump(t, new)
        t.finished_at = None
        t.started_at = None
        cs.current = t.id
        cs.version += 1
        data = {"ticket": self.wire_ticket(t), "counter": counter, "counter_name": cfg.name}
        # The counter is busy again: its services' ETAs move.
        return [Event("ticket.no_show_undone", data, t.copy(), prev, counter=cs.copy()),
                *self._queue_events((t.service, *cfg.services))]

    def expire_transfers(self) -> list[Event]:
        """Return tickets waiting for a counter that is closed, or paused longer
        than ``Dispatch.transfer_timeout``, to the head of their service's queue.

        The server's ticker calls this; [] when nothing is due.
        """
        now = self._begin(self._now())
        limit = self._dispatch.transfer_timeout
        events: list[Event] = []
        for number, waiting in self._queues.targeted.items():
            if not waiting:
                continue
            cs = self._counters[number]
            if cs.state == "closed":
                events += self._return_targeted(number, "counter_closed", now)
            elif (cs.state == "paused" and cs.since is not None
                    and (now - cs.since).total_seconds() >= limit):
                events += self._return_targeted(number, "transfer_timeout", now)
        services = [ev.data["to_service"] for ev in events]
        return events + self._queue_events(services)

    def _return_targeted(self, counter: int, reason: str, now: dt.datetime) -> list[Event]:
        """Every ticket waiting for ``counter`` goes to the head of its service's
        queue (in the order they waited), as a ``ticket.transferred`` each."""
        events = []
        for entry in list(self._queues.targeted[counter]):
            t = self._tickets[entry.ticket_id]
            self._queues.remove(t)
            prev = self._bump(t)
            t.target_counter = None
            # Band 0 = ahead of every fresh ticket of its group; the old key keeps
            # the returning tickets (and earlier head transfers) in their order.
            t.rank = (0, t.rank[1])
            self._queues.insert(t, now)
            data = {"ticket": self.wire_ticket(t), "from_counter": counter,
                    "to_service": t.service, "to_counter": None, "reason": reason}
            events.append(Event("ticket.transferred", data, t.copy(), prev))
        return events

    def cancel(self, ticket_id: str) -> list[Event]:
        """Withdraw a waiting ticket (``ticket.cancelled``)."""
        t = self._get(ticket_id)
        new = machine.check(t, "cancel")
        self._queues.remove(t)
        prev = self._bump(t, new)
        t.finished_at = self._begin(self._now())
        return [self._ticket_event("ticket.cancelled", t, prev, None, counter=None),
                *self._queue_events((t.service,))]

    def open_counter(self, counter: int, staff_id: str, staff_name: str) -> list[Event]:
        """Staff logs in: the counter opens (or changes staff) (``counter.opened``)."""
        cs, cfg = self._counter(counter)
        if not staff_id or not isinstance(staff_id, str):
            raise BadRequest("a staff id is needed to open a counter")
        now = self._begin(self._now())
        if cs.state != "open":
            cs.since = now
        cs.state, cs.staff_id, cs.staff_name, cs.reason = "open", staff_id, staff_name, ""
        cs.version += 1
        self._count_open(cfg.services)
        data = {"counter": counter, "staff": {"id": staff_id, "name": staff_name}}
        return [Event("counter.opened", data, counter=cs.copy()),
                *self._queue_events(cfg.services)]

    def close_counter(self, counter: int) -> list[Event]:
        """Staff logs out: the counter closes (``counter.closed``); [] if closed.

        Raises:
            Conflict: the counter still has a called or serving ticket.
        """
        cs, cfg = self._counter(counter)
        if cs.state == "closed":
            return []
        if cs.current is not None:
            t = self._tickets[cs.current]
            raise Conflict(
                f"{cfg.name} still has ticket {t.number} ({t.status}); complete it, "
                "mark it no-show or transfer it before closing")
        now = self._begin(self._now())
        cs.state, cs.staff_id, cs.staff_name, cs.reason = "closed", None, None, ""
        cs.since = now
        cs.version += 1
        self._count_open(cfg.services)
        events = [Event("counter.closed", {"counter": counter}, counter=cs.copy())]
        events += self._return_targeted(counter, "counter_closed", now)
        return events + self._queue_events(cfg.services)

    def pause(self, counter: int, reason: str = "") -> list[Event]:
        """暂停: no calls until resumed (``counter.paused``); [] if already paused."""
        cs, cfg = self._counter(counter)
        if cs.state == "closed":
            raise Conflict(f"{cfg.name} is closed; log in first")
        if cs.state == "paused":
            return []
        cs.state, cs.reason, cs.since = "paused", reason or "", self._begin(self._now())
        cs.version += 1
        self._count_open(cfg.services)
        return [Event("counter.paused", {"counter": counter, "reason": cs.reason},
                      counter=cs.copy()),
                *self._queue_events(cfg.services)]

    def resume(self, counter: int) -> list[Event]:
        """恢复: a paused counter calls again (``counter.resumed``); [] if open."""
        cs, cfg = self._counter(counter)
        if cs.state == "closed":
            raise Conflict(f"{cfg.name} is closed; log in first")
        if cs.state == "open":
            return []
        cs.state, cs.reason, cs.since = "open", "", self._begin(self._now())
        cs.version += 1
        self._count_open(cfg.services)
        return [Event("counter.resumed", {"counter": counter}, counter=cs.copy()),
                *self._queue_events(cfg.services)]

    def rate(self, counter: int | None, ticket_id: str, score: int) -> list[Event]:
        """一次一评: rate a done ticket once, 1..5 (``ticket.rated``).

        Args:
            counter: the rating pad's counter; None skips the check (admin).

        Raises:
            NotFound, BadRequest (score), IllegalMove (not done / already
            rated), Forbidden (served at another counter).
        """
        t = self._get(ticket_id)
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise BadRequest(f"a score is 1 to 5, got {score!r}")
        new = machine.check(t, "rate")
        if counter is not None and t.counter != counter:
            raise Forbidden(f"ticket {t.number} was served at counter {t.counter}, not {counter}")
        self._begin(self._now())
        prev = self._bump(t, new)
        t.rating = score
        data = {"ticket": self.wire_ticket(t), "counter": t.counter, "score": score}
        return [Event("ticket.rated", data, t.copy(), prev), *self._queue_events(())]

    def close_day(self) -> list[Event]:
        """Close out: cancel every waiting or called ticket, so it is reported.

        Serving tickets are left to finish. Each gets ``ticket.cancelled`` with
        ``reason: "close_day"``; then ``queue.changed`` for every service that changed.
        """
        now = self._begin(self._now())
        events: list[Event] = []
        open_tickets = [t for t in self._tickets.values() if t.status in ("waiting", "called")]
        for t in sorted(open_tickets, key=lambda t: (t.issued_at, t.seqno, t.id)):
            new = machine.check(t, "close")
            cs = None
            if t.status == "waiting":
                self._queues.remove(t)
            else:
                cs = self._counters[t.counter]  # type: ignore[index]
                self._free(cs)
            prev = self._bump(t, new)
            t.finished_at = now
            data = {"ticket": self.wire_ticket(t),
                    "counter": t.counter if cs is not None else None, "reason": "close_day"}
            events.append(Event("ticket.cancelled", data, t.copy(), prev,
                                counter=cs.copy() if cs else None))
        events += self._queue_events(tuple(self._services))
        return events

    # =============================================================== queries
    def queue(self, counter: int) -> list[Ticket]:
        """The waiting tickets this counter could call, in ``call_next`` order.

        Copies; it simulates successive ``call_next`` calls (with the
        interleaving rule) on the current state.
        """
        cs, cfg = self._counter(counter)
        self._queues.promote(cfg.services, self._now())
        pos: dict[int, int] = {}

        def head(lst: list[Entry]) -> Entry | None:
            i = pos.get(id(lst), 0)
            return lst[i] if i < len(lst) else None

        out: list[Ticket] = []
        streak = cs.streak
        while (picked := self._pick(cfg, streak, head)) is not None:
            pos[id(picked.home)] = pos.get(id(picked.home), 0) + 1
            streak = next_streak(streak, picked.group, picked.normal_waiting)
            out.append(self._tickets[picked.entry.ticket_id].copy())
        return out

    def waiting(self, service: str) -> int:
        """How many tickets wait for this service (transfers to counters included;
        for a route: at its first step)."""
        sid = self._queue_of(service)
        return self._queues.waiting[sid]

    def eta_s(self, service: str) -> int:
        """Estimated wait in seconds for a ticket issued now for ``service``."""
        sid = self._queue_of(service)
        return self._step_estimate(sid, self._queues.waiting[sid]).eta_s

    def open_counters(self, service: str) -> int:
        """How many counters serving ``service`` (a route: its first step) are open now."""
        return self._open[self._queue_of(service)]

    def queue_wire(self, service: str) -> dict[str, Any]:
        """A PROTOCOL queue object: ``waiting``, ``eta_s`` (+ range), ``eta_after``,
        ``open_counters``; the estimate is that of a ticket issued now (for a
        route: waiting at its first step)."""
        sid = self._queue_of(service)
        waiting = self._queues.waiting[sid]
        estimate = (self._step_estimate(sid, waiting) if sid != service
                    else self._forecast.estimate(sid, waiting))
        return shape.queue(waiting, estimate, self._open[sid], self._tz)

    def route_eta_s(self, t: Ticket) -> int | None:
        """The whole remaining route of a route ticket, in seconds (None when over):
        the wait at its current step (0 once called), that step's mean cycle time,
        then for each later step the wait at the head of its queue and its cycle."""
        live = self._tickets.get(t.id, t)
        if not live.route or live.status not in ("waiting", "called", "serving"):
            return None
        total = float(self._step_estimate(live.service, self.ahead(live), live).eta_s
                      if live.status == "waiting" else 0)
        total += self._forecast.cycle_s(live.service)
        for sid in live.route[live.step + 1:]:
            total += self._step_estimate(sid, 0).eta_s + self._forecast.cycle_s(sid)
        return round(total)

    def previous_eta_s(self, t: Ticket) -> int:
        """The estimator qhall used before the clock-aware one (issue #17), for a
        waiting ticket: kept only as the baseline the simulator measures against.

        Same people and mean; counters open now serve for ever, closed ones never.
        """
        live = self._tickets.get(t.id)
        if live is None or live.status != "waiting":
            return 0
        return self._forecast.previous_eta_s(live.service, self.ahead(live))

    def mean_service_s(self, service: str) -> float:
        """Rolling mean service time of the service's last completions (or its default)."""
        return self._forecast.mean_service_s(self._service(service).id)

    def ticket(self, ticket_id: str) -> Ticket | None:
        """The ticket with this id (live object: do not change it), or None."""
        return self._tickets.get(ticket_id)

    def by_check(self, code: str) -> Ticket | None:
        """The ticket with this public check code, or None."""
        tid = self._checks.get(code)
        return self._tickets.get(tid) if tid is not None else None

    def by_number(self, number: str) -> Ticket | None:
        """Today's ticket with this number (hall-local day), or None."""
        today = self._now().astimezone(self._tz).date()
        wanted = number.strip().upper()
        for t in self._tickets.values():
            if t.number == wanted and t.day == today:
                return t
        return None

    def missed(self, counter: int | None = None) -> list[Ticket]:
        """No-shows that may still be re-queued (within ``no_show_return_s``),
        newest first; only those marked at ``counter`` when one is given."""
        if counter is not None:
            self._counter(counter)
        now = self._now()
        window = self._dispatch.no_show_return_s
        out = [t.copy() for t in self._tickets.values()
               if t.status == "no_show" and t.finished_at is not None
               and (now - t.finished_at).total_seconds() <= window
               and (counter is None or t.counter == counter)]
        out.sort(key=lambda t: (t.finished_at, t.id), reverse=True)
        return out

    def tickets(self) -> list[Ticket]:
        """Copies of all tickets the hall holds."""
        return [t.copy() for t in self._tickets.values()]

    def tickets_view(self) -> Iterable[Ticket]:
        """The live tickets, no copies (read only; for views such as the
        console's floor, which would otherwise copy the whole day per push)."""
        return self._tickets.values()

    def counter_state(self, counter: int) -> CounterState:
        """A copy of one counter's live state."""
        return self._counter(counter)[0].copy()

    def counter_states(self) -> list[CounterState]:
        """Copies of every counter's live state, by number."""
        return [self._counters[n].copy() for n in sorted(self._counters)]

    def ahead(self, t: Ticket) -> int:
        """How many tickets are ahead of a waiting ticket (0 otherwise).

        For a ticket transferred to a counter: the transfers to that counter
        before it. Otherwise: the tickets of its service in earlier groups or
        earlier in its group (interleaving is not taken into account).
        """
        live = self._tickets.get(t.id)
        if live is None or live.status != "waiting":
            return 0
        if live.priority == "appointment" and live.target_counter is None:
            self._queues.promote((live.service,), self._now())
        return self._queues.position(live)

    def wire_ticket(self, t: Ticket) -> dict[str, Any]:
        """The PROTOCOL ticket object (``counter`` is null while waiting)."""
        ahead = self.ahead(t)
        if t.status != "waiting":
            estimate = eta.Estimate(0)
        elif t.route:
            estimate = self._step_estimate(t.service, ahead, t)
        else:
            estimate = self._forecast.estimate(t.service, ahead, t)
        return shape.ticket(t, ahead, estimate, self._tz,
                            self.route_eta_s(t) if t.route else None)

    def snapshot_counter(self, counter: int) -> dict[str, Any] | None:
        """One counter as in ``snapshot()["counters"]``, or None if unknown."""
        cs = self._counters.get(counter)
        if cs is None:
            return None
        current = self._tickets[cs.current] if cs.current is not None else None
        return shape.counter(cs, self._cfg_counters[counter].name,
                             self.wire_ticket(current) if current is not None else None)

    def snapshot(self) -> dict[str, Any]:
        """The PROTOCOL welcome snapshot: queues, counters, recent calls."""
        # issued: today's tickets per service (the kiosk's 常用业务 row).
        today = self._now().astimezone(self._tz).date()
        queues = {sid: {**self.queue_wire(sid),
                        "issued": self.last_numbers.get((sid, today), 0)}
                  for sid in self._services}
        counters = {str(n): self.snapshot_counter(n) for n in sorted(self._counters)}
        called = (t for t in self._tickets.values() if t.called_at is not None)
        recent = heapq.nlargest(RECENT_CALLS, called, key=lambda t: (t.called_at, t.id))
        recent_calls = []
        for t in recent:
            assert t.called_at is not None
            cfg = self._cfg_counters.get(t.counter) if t.counter is not None else None
            recent_calls.append(shape.recent_call(
                self.wire_ticket(t), t.counter, cfg.name if cfg is not None else str(t.counter),
                t.called_at, self._tz))
        return {"queues": queues, "counters": counters, "recent_calls": recent_calls}

    def stats(self, counter: int | None = None) -> dict[str, Any]:
        """Today's figures for one counter (or the hall): served, no-shows, means.

        ``served``/``no_shows``/``rated`` count today's tickets (hall-local day)
        last handled at the counter; ``avg_service_s`` is their mean service
        time; ``waiting`` counts tickets waiting for the counter's services.
        """
        if counter is not None:
            _cs, cfg = self._counter(counter)
            services: tuple[str, ...] = cfg.services
        else:
            services = tuple(self._services)
        today = self._now().astimezone(self._tz).date()
        mine = [t for t in self._tickets.values() if t.day == today
                and (counter is None or t.counter == counter)]
        done = [t for t in mine if t.status == "done"]
        rated = [t.rating for t in done if t.rating is not None]
        return {
            "counter": counter,
            "served": len(done),
            "no_shows": sum(1 for t in mine if t.status == "no_show"),
            "avg_service_s": round(sum(service_time(t) for t in done) / len(done))
            if done else None,
            "rated": len(rated),
            "satisfied": sum(1 for r in rated if r >= 3),
            "waiting": sum(self._queues.waiting[s] for s in services),
        }

    # ============================================================== internals
    def _now(self) -> dt.datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the hall clock must return an aware datetime")
        return now

    def _service(self, service: str) -> Service:
        svc = self._services.get(service)
        if svc is None:
            raise NotFound(f"unknown service {service!r}")
        return svc

    def _queue_of(self, service: str) -> str:
        """The service whose queue a service's tickets join: a route's first step."""
        svc = self._service(service)
        return svc.route[0] if svc.route else svc.id

    def _step_estimate(self, sid: str, ahead: int, t: Ticket | None = None) -> eta.Estimate:
        """A route step's estimate: nobody is reached before the service opens, so a
        step outside its hours waits at least until then (``after`` = the opening)."""
        e = self._forecast.estimate(sid, ahead, t)
        now = self._now()
        opens = _next_opening(self._services[sid].hours, now.astimezone(self._tz))
        if opens is None:
            return e
        until = round((opens - now).total_seconds())
        if e.eta_s >= until and e.after is not None and e.after >= opens \
                and (e.low_s is None or e.low_s >= until):
            return e  # already no sooner than the opening, range included
        low, high = e.low_s, e.high_s
        if low is not None and low < until:
            low = high = None
        return eta.Estimate(max(e.eta_s, until), low, high, max(e.after or opens, opens))

    def _counter(self, counter: int) -> tuple[CounterState, Counter]:
        cs = self._counters.get(counter)
        if cs is None:
            raise NotFound(f"unknown counter {counter!r}")
        return cs, self._cfg_counters[counter]

    def _get(self, ticket_id: str) -> Ticket:
        t = self._tickets.get(ticket_id)
        if t is None:
            raise NotFound(f"unknown ticket {ticket_id!r}")
        return t

    def _current(self, cs: CounterState, command: str) -> Ticket:
        if cs.current is None:
            raise Conflict(f"{self._cfg_counters[cs.number].name} has no current ticket "
                           f"to {command.replace('_', '-')}; call one first")
        return self._tickets[cs.current]

    def _ready_to_call(self, cs: CounterState) -> None:
        name = self._cfg_counters[cs.number].name
        if cs.state != "open":
            what = "log in" if cs.state == "closed" else "resume"
            raise Conflict(f"{name} is {cs.state}; {what} first")
        if cs.current is not None:
            t = self._tickets[cs.current]
            raise IllegalMove(
                t, "call", t.status,
                f"{name} still has ticket {t.number} ({t.status}); complete it, "
                "mark it no-show or transfer it first")

    def _new_id(self) -> str:
        for _ in range(5):
            tid = self._ids()
            if tid not in self._tickets:
                return tid
        raise RuntimeError("the id generator keeps returning ids already in use")

    def _new_check(self) -> str:
        for _ in range(20):
            code = self._codes()
            if code not in self._checks:
                return code
        raise RuntimeError("the check-code generator keeps returning codes already in use")

    def _bump(self, t: Ticket, new: str | None = None) -> int:
        """Apply a move: set the status, raise the version; return the old version."""
        prev = t.version
        if new is not None:
            t.status = new
        t.version = prev + 1
        return prev

    def _free(self, cs: CounterState) -> None:
        cs.current = None
        cs.version += 1

    def _call(self, cs: CounterState, cfg: Counter, t: Ticket, now: dt.datetime) -> list[Event]:
        new = machine.check(t, "call")
        self._queues.remove(t)
        prev = self._bump(t, new)
        t.counter = cs.number
        t.target_counter = None
        t.called_at = now
        t.started_at = None
        t.calls += 1
        t.staff = cs.staff_id
        cs.current = t.id
        cs.version += 1
        data = {"ticket": self.wire_ticket(t), "counter": cs.number, "counter_name": cfg.name}
        return [Event("ticket.called", data, t.copy(), prev, counter=cs.copy()),
                *self._queue_events((t.service, *cfg.services))]

    def _ticket_event(self, name: str, t: Ticket, prev: int, cs: CounterState | None,
                      **extra: Any) -> Event:
        data = {"ticket": self.wire_ticket(t), **extra}
        if "counter" not in data:
            data["counter"] = cs.number if cs is not None else t.counter
        return Event(name, data, t.copy(), prev, counter=cs.copy() if cs else None)

    def _route_reason(self, t: Ticket, reason: str) -> str:
        if not t.route:
            raise BadRequest(f"ticket {t.number} is not on a joint-approval route")
        if not isinstance(reason, str) or not reason.strip():
            raise BadRequest("say why (a reason is required)")
        return reason.strip()

    def _route(self, cs: CounterState, cfg: Counter, t: Ticket, step: int,
               command: str, **extra: Any) -> list[Event]:
        """Move the counter's route ticket to ``step``: waiting at the head of its
        priority group in that step's service (``ticket.routed``)."""
        new = machine.check(t, command)
        now = self._begin(self._now())
        old_service, old_step = t.service, t.step
        t.finished_at = now  # the step's counter time joins its service's history
        self._forecast.completed(t)
        prev = self._bump(t, new)
        t.finished_at = None
        t.service = t.route[step]
        t.step = step
        t.target_counter = None
        t.rank = (0, _ts(now))
        t.started_at = None
        self._free(cs)
        self._queues.insert(t, now)
        data = {"ticket": self.wire_ticket(t), "from_service": old_service,
                "to_service": t.service, "from_step": old_step, "counter": cs.number, **extra}
        return [Event("ticket.routed", data, t.copy(), prev, counter=cs.copy()),
                *self._queue_events((old_service, t.service, *cfg.services))]

    def defer_queue_events(self) -> None:
        """From now on commands only note the services whose ``queue.changed``
        may be due; :meth:`flush_queue_events` estimates each of them once.

        For a group of requests committed together (``HallService.handle_group``):
        each request's estimate would be superseded by the next one's, and the
        estimate is the largest cost of a command. What a board ends up with
        is the same: each service's queue as of the last command.
        """
        if self._deferred is None:
            self._deferred = {}

    def flush_queue_events(self) -> list[Event]:
        """End :meth:`defer_queue_events`: ``queue.changed`` for each noted
        service whose queue object differs from what boards were last told
        (none when a group left it as it found it)."""
        pending, self._deferred = self._deferred, None
        return self._changed(pending or ())

    def _begin(self, now: dt.datetime) -> dt.datetime:
        """A command changes the hall at ``now``: from here on the rates are read
        as of it (returned, the command's moment).

        Called once per command, once its checks have passed (a refused or
        idle command reads nothing new) and before it builds any ticket's
        wire: every ETA in its events reads the arrivals and jumps as they
        are at its own moment, not at the command before. The services whose
        estimate moved because stamps left the window are kept for the
        command's :meth:`_queue_events`.
        """
        self._moved |= self._forecast.advance(_ts(now))
        return now

    def _queue_events(self, services: Iterable[str]) -> list[Event]:
        # Services no command touched may move too: their stamps left the
        # window when the command began (``_begin``).
        moved, self._moved = self._moved, set()
        touched = [r for s in services for r in self._related[s]]
        named = dict.fromkeys([*touched, *sorted(moved)])
        if self._deferred is not None:
            self._deferred.update(named)
            return []
        return self._changed(named)

    def _changed(self, services: Iterable[str]) -> list[Event]:
        events = []
        for sid in services:
            now = self.queue_wire(sid)
            if self._emitted.get(sid) != now:
                self._emitted[sid] = now
                events.append(Event("queue.changed", {"service": sid, **now}))
        return events

    def _count_open(self, services: Iterable[str]) -> None:
        today = self._now().astimezone(self._tz).date()
        for sid in services:
            self._open[sid] = sum(1 for n in self._served_by[sid]
                                  if self._counters[n].state == "open")
            for n in self._served_by[sid]:
                if self._counters[n].state == "open":
                    self._forecast.worked[n] = today

    def _back_rank(self, t: Ticket, now: dt.datetime) -> tuple[int, float]:
        """The rank ``requeue_places`` places behind the head of ``t``'s list."""
        return rank_after(self._queues.group_list(t, now), self._dispatch.requeue_places, now)

    def _pick(self, cfg: Counter, streak: int, head: Head) -> Pick | None:
        """The next ticket for a counter (see :meth:`Queues.choose`)."""
        return self._queues.choose(cfg.number, cfg.services, cfg.mode != "oldest",
                                   self._dispatch.priority_per_normal, streak, head)


# ------------------------------------------------------------------ helpers


def _next_opening(hours: tuple[tuple[dt.time, dt.time], ...],
                  local: dt.datetime) -> dt.datetime | None:
    """When a service outside its hours opens later today (None: open now, no
    hours, or no later interval today: the day's last one runs on)."""
    now = local.time()
    if not hours or any(a <= now < b for a, b in hours):
        return None
    later = [a for a, _b in hours if a > now]
    if not later:
        return None
    return dt.datetime.combine(local.date(), min(later), local.tzinfo)
