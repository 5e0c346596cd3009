"""The hall service: protocol requests in, replies and committed events out.

This is the server's application layer, with no network I/O: the websocket
layer (``server/serve.py``) hands it authenticated devices and decoded
messages; it checks roles and staff sessions, applies idempotency per
``(device, id)``, runs the core command, commits the resulting events in one
store transaction and returns the reply plus the wire events to broadcast.
Requests beyond the core's (appointments, follow-ups, admin stats) come from
the features it is composed with (``server/service/api.py``).

State changes only by whole transactions: when a commit fails the in-memory
core is rebuilt from the store, so memory never runs ahead of the database.

Group commit (:meth:`HallService.handle_group`): the server hands over the
requests that arrived in one event-loop turn; they are decided in arrival
order on one state and committed in ONE transaction (one fsync instead of
one per request). Their replies are final only after that commit; when it
fails every request of the group gets the same error and nothing changed.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from server.authpool import DUMMY_HASH, SecretCheck, TokenCache
from server.config import Device, HallConfig
from server.core import CoreError, Event, Hall, NotFound, dayplan
from server.core.forecast import ROUTE_EVENTS
from server.limits import HallLimits
from server.service.api import (
    Context,
    Decision,
    Feature,
    FeatureFactory,
    Group,
    Handler,
    Reply,
    Session,
    Unavailable,
    utcnow,
)
from server.service.resume import ResumeTickets
from server.store import StaleState, Store, StoreError
from server.wire import protocol
from server.wire.protocol import ProtocolError

__all__ = ["GROUP_FAILED", "Session", "HallService", "Reply", "Unavailable"]

F = TypeVar("F")

log = logging.getLogger("qhall.service")

#: How long a mutating request's reply is remembered (PROTOCOL: >= 10 min).
IDEMPOTENCY_S = 15 * 60
#: Most remembered replies per device: a device at ``[limits] requests_per_s``
#: (20/s) sends at most 12,000 in 10 minutes; past this its oldest go first.
REPLIES_PER_DEVICE = 12_000
#: Most remembered replies in all (each is kept as its encoded JSON text).
REPLIES_MAX = 100_000
#: Shortest PIN a staff member may set at a first login after a reset.
MIN_NEW_PIN = 4
#: What every request of a group hears when the group's transaction failed.
GROUP_FAILED = ("数据库未能保存这些请求，没有任何更改，请重试 "
                "the database did not store these requests; nothing changed; try again")


class HallService(Context):
    """One hall: its core, its store, its devices' sessions, its features.

    Args:
        config: the validated hall configuration.
        store: an open :class:`~server.store.Store`.
        clock: returns an aware datetime (injected for tests/simulation).
        monotonic: seconds for throttling windows.
        features: builds each feature with this service as its context
            (``server.features.default_features()`` at the entry points).

    Raises:
        ValueError: two features answer the same request type, or one a core request.
    """

    def __init__(
        self,
        config: HallConfig,
        store: Store,
        clock: Callable[[], dt.datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        features: Iterable[FeatureFactory] = (),
    ) -> None:
        super().__init__(config, store, clock)
        #: The configuration as stored; :attr:`config` is it with today's
        #: counter assignments laid over it (server/core/dayplan.py).
        self.base_config = config
        #: The stored configuration version served (0: none; the entry point
        #: and the console's admin set it, server/console/versions.py).
        self.config_version = 0
        self.config = self._day_config(self._local_day())
        self.monotonic = monotonic
        self.features: list[Feature] = []
        self.hall = self._load()
        self._day = self._local_day()
        # Per device, oldest first: (expires, the reply as encoded JSON text;
        # a dict would cost several times the memory).
        self._replies: dict[str, collections.OrderedDict[str, tuple[float, str]]] = {}
        self._reply_count = 0
        self.limits = HallLimits(config.limits, store, config.id, clock, monotonic)
        self.tokens = TokenCache()
        #: The welcomes' ``resume`` tickets (server/service/resume.py).
        self.resume = ResumeTickets(store, config.id, clock)
        #: Why the hall cannot serve (None: it can). Set when the store
        #: failed and memory could not be rebuilt from it; while set, no
        #: request or welcome is answered from memory (it may hold a change
        #: the store never committed). Cleared by :meth:`recover`.
        self.failed: str | None = None
        self._next_recovery = 0.0
        self.faults: dict[str, dict[str, Any]] = {}
        #: Called with (staff id, "pin", the PIN typed) after a counter login
        #: of a staff member whose PIN was reset (``Staff.reset``): the
        #: console stores the PIN's hash as a new configuration version.
        #: None: a reset PIN cannot be set here, so such a login is refused.
        self.secret_set: Callable[[str, str, str], None] | None = None
        # Replies remembered before a restart: loaded once, so a cache miss
        # never costs a database read (one server process per hall).
        for device, rid, text in store.live_replies(config.id):
            self._remember((device, rid), text)
        self._handlers: dict[str, Handler] = {}
        for build in features:
            feature = build(self)
            for kind, handler in feature.handlers().items():
                if kind in self._handlers or hasattr(self, f"_do_{kind}"):
                    raise ValueError(f"request {kind!r} is answered twice")
                self._handlers[kind] = handler
            self.features.append(feature)
            feature.loaded(self.hall)

    def feature(self, kind: type[F]) -> F:
        """The composed feature of this class.

        Raises:
            LookupError: the service was built without it.
        """
        for feature in self.features:
            if isinstance(feature, kind):
                return feature
        raise LookupError(f"no {kind.__name__} feature in this hall service")

    # ------------------------------------------------------------------ state
    def _local_day(self) -> dt.date:
        return self.clock().astimezone(self.config.tz).date()

    def _load(self) -> Hall:
        day = self.clock().astimezone(self.config.tz).date()
        loaded = self.store.load(self.config.id, day)
        # The route steps tickets left today are in the event log only.
        start = dt.datetime.combine(day, dt.time(), self.config.tz)
        route_events = self.store.events(self.config.id, start, start + dt.timedelta(days=2),
                                         names=ROUTE_EVENTS) \
            if any(s.route for s in self.config.services) else ()
        hall = Hall.restore(
            self.config,
            self.clock,
            tickets=loaded.tickets,
            counters=loaded.counters,
            last_numbers=loaded.last_numbers,
            route_events=route_events,
        )
        for feature in self.features:
            feature.loaded(hall)
        return hall

    # ------------------------------------------------------- configuration
    def _day_config(self, day: dt.date) -> HallConfig:
        return dayplan.assign(self.base_config,
                              self.store.configs.assignments(self.base_config.id, day))

    def _restore(self, config: HallConfig) -> Hall:
        loaded = self.store.load(config.id, self._local_day())
        return Hall.restore(config, self.clock, tickets=loaded.tickets,
                            counters=loaded.counters, last_numbers=loaded.last_numbers)

    def _switch_config(self, config: HallConfig) -> None:
        old = self.config
        self.config = config
        for feature in self.features:
            if getattr(feature, "config", None) is old:
                feature.config = config  # type: ignore[attr-defined]

    def prepare_assignment(self, counter: int, services: tuple[str, ...]) -> Hall:
        """The core with ``services`` assigned to ``counter`` for today (an
        extra counter for a service; empty: its configured services again),
        built from the store now; adopt it with :meth:`adopt_config` after
        the assignment is stored.

        Raises:
            CoreError: no such counter, an unknown or route service.
            ValueError, StoreError: as :meth:`prepare_config`.
        """
        if services:
            dayplan.check(self.base_config, counter, services)
        elif self.base_config.counter(counter) is None:
            raise NotFound(f"no counter {counter}")
        assigned = self.store.configs.assignments(self.base_config.id, self._local_day())
        assigned[counter] = services
        return self._restore(dayplan.assign(self.base_config,
                                            {n: s for n, s in assigned.items() if s}))

    def prepare_config(self, config: HallConfig) -> Hall:
        """The core as it would be under ``config`` (with today's counter
        assignments laid over it), built from the store now.

        Nothing changes yet: the caller stores the new configuration version,
        then hands the result to :meth:`adopt_config` in the same event-loop
        turn (no request runs in between, so the store still holds what this
        core was built from).

        Raises:
            ValueError: ``config`` does not fit the hall's state (a counter
                or service the day's tickets or counters still use is gone).
            StoreError: the store cannot be read.
        """
        if config.id != self.config.id:
            raise ValueError(f"the hall id cannot change ({self.config.id!r} -> {config.id!r})")
        if self.group is not None:
            raise RuntimeError("a configuration is applied between groups, never inside one")
        return self._restore(dayplan.assign(
            config, self.store.configs.assignments(config.id, self._local_day())))

    def adopt_config(self, config: HallConfig, hall: Hall) -> None:
        """Serve ``config`` (as stored; ``hall.config`` is it for today) from
        now on, with the core :meth:`prepare_config` or
        :meth:`prepare_assignment` built (call only after the change committed).

        Staff and devices take effect at the next login or hello; services
        and counters with the new core. Features that keep the configuration
        (``feature.config``) get the new one and are told the new core.
        """
        self.base_config = config
        self._switch_config(hall.config)
        self.hall = hall
        for feature in self.features:
            feature.loaded(hall)

    def reload(self) -> None:
        """Rebuild the core from the store (after a failed transaction).

        Never raises: when the store cannot be read either, the hall is
        marked :attr:`failed` (``/healthz`` then answers 503) until
        :meth:`recover` succeeds. Inside a group the group's decisions are
        gone with the old core: the group commits none of them.
        """
        if self.group is not None:
            self.group.broken = True
        try:
            self.hall = self._load()
        except Exception as exc:
            self.failed = f"the database cannot be read: {str(exc).splitlines()[0][:200]}"
            log.error("cannot rebuild the hall from the store; refusing requests until "
                      "it can: %s", self.failed)
        else:
            if self.failed is not None:
                log.warning("hall rebuilt from the store; serving again")
            self.failed = None

    def recover(self, force: bool = False) -> bool:
        """Try to leave the failed state (at most once a second unless forced).

        Returns True when the hall can serve.
        """
        if self.failed is None:
            return True
        now = self.monotonic()
        if force or now >= self._next_recovery:
            self._next_recovery = now + 1.0
            self.reload()
        return self.failed is None

    def check_store(self) -> bool:
        """Probe the store (cheap read); mark the hall failed when it fails."""
        try:
            self.store.last_seq(self.config.id)
        except StoreError as exc:
            if self.failed is None:
                self.failed = f"the database is unreachable: {str(exc).splitlines()[0][:200]}"
                log.error("%s", self.failed)
            return False
        return self.recover(force=True)

    @property
    def last_seq(self) -> int:
        return self.store.last_seq(self.config.id)

    # ------------------------------------------------------------------- auth
    def authenticate(self, device_id: str, token: str) -> Device | None:
        """The device for these credentials, or None (verified right here)."""
        check = self.begin_authenticate(device_id, token)
        return check.run_inline() if isinstance(check, SecretCheck) else check

    def resume_device(self, device_id: str, token: str, ticket: object) -> Device | None:
        """The device when ``ticket`` (the hello's ``resume``) is good for these
        credentials now, checked with one HMAC; None: check the token instead."""
        device = self.config.device(device_id)
        if device is None or ticket is None or not self.resume.good(device, token, ticket):
            return None
        return device

    def begin_authenticate(self, device_id: str,
                           token: str) -> Device | None | SecretCheck[Device | None]:
        """The device, or the scrypt check still to run for it.

        A token verified before (in this process) is answered from
        :attr:`tokens` at once; anything else, an unknown device included
        (same cost, so ids cannot be probed by timing), needs a check that
        the server runs off the event loop.
        """
        device = self.config.device(device_id)
        if device is None:
            return SecretCheck(token, DUMMY_HASH, lambda _ok: None)
        if self.tokens.known(device.id, device.token_hash, token):
            return device

        def finish(ok: bool) -> Device | None:
            if not ok:
                return None
            self.tokens.remember(device.id, device.token_hash, token)
            return device

        return SecretCheck(token, device.token_hash, finish)

    # --------------------------------------------------------------- welcome
    def hall_info(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "id": cfg.id,
            "name": cfg.name,
            "timezone": cfg.timezone,
            "notice": cfg.notice,
            # What citizens' phones reach (QR codes, /t/ links); "" = not set.
            "public_url": cfg.public_url,
            "services": [
                {
                    "id": s.id,
                    "name": s.name,
                    "name_en": s.name_en,
                    "prefix": s.prefix,
                    "category": s.category,
                    "hours": [f"{a:%H:%M}-{b:%H:%M}" for a, b in s.hours],
                    "daily_quota": s.daily_quota,
                    "appointments": s.appointments is not None,
                    "zone": s.zone,
                    # a joint-approval route only: its step service ids in order
                    **({"route": list(s.route)} if s.route else {}),
                    **({} if s.kiosk else {"kiosk": False}),
                }
                for s in cfg.services
            ],
            "counters": [
                {"number": c.number, "name": c.name, "services": list(c.services)}
                for c in cfg.counters
            ],
        }

    def snapshot(self) -> dict[str, Any]:
        snap = self.hall.snapshot()
        snap["faults"] = list(self.faults.values())
        return snap

    def welcome(self, session: Session, rid: str, token: str | None = None) -> dict[str, Any]:
        """The welcome for a new connection; with the ``token`` its hello proved,
        a ``resume`` ticket for the next hello.

        Raises:
            Unavailable: the hall is in the failed state.
            StoreError: the store cannot be read.
        """
        if not self.recover():
            raise Unavailable(self.failed or "unavailable")
        return {
            "type": "welcome",
            "re": rid,
            "protocol": protocol.PROTOCOL_VERSION,
            "role": session.role,
            "counter": session.counter,
            "device": session.device.id,
            "hall": self.hall_info(),
            "snapshot": self.snapshot(),
            "seq": self.last_seq,
            **self._resume_field(session, token),
        }

    def _resume_field(self, session: Session, token: str | None) -> dict[str, str]:
        ticket = None if token is None else self.resume.give(session.device, token)
        return {} if ticket is None else {"resume": ticket}

    # -------------------------------------------------------------- requests
    def groupable(self, kind: str) -> bool:
        """Whether a request of this type may join a group: the hall's own
        requests, except ``login`` (it waits for its PIN check). A feature's
        request reads the store (bookings, ratings), so it goes alone."""
        return kind != "login" and kind not in self._handlers

    def handle_group(self, requests: list[tuple[Session, dict[str, Any]]]) -> list[Reply]:
        """Answer requests that arrived together, committed in ONE transaction.

        Each is decided in order on the state the ones before it left, as
        :meth:`handle` would. The replies (and their events) stand only once
        the group committed: when the commit fails the core is rebuilt from
        the store and every request gets the same ``internal`` error (not
        remembered, so a resend runs again); when another writer came first
        (``StaleState``) each request is answered again on its own.

        Raises:
            ValueError: a request that may not join a group (:meth:`groupable`).
        """
        for _, message in requests:
            if not self.groupable(str(message.get("type"))):
                raise ValueError(f"{message.get('type')!r} cannot join a group")
        group = Group()
        self.group = group
        hall = self.hall
        # Each service's queue.changed is estimated once, at the group's end.
        hall.defer_queue_events()
        try:
            replies = [self.handle(session, message) for session, message in requests]
        finally:
            self.group = None
            # The core may have been rebuilt meanwhile (then the group is broken).
            queue_events = hall.flush_queue_events()
        try:
            if group.broken:
                raise StoreError("memory was rebuilt while deciding the group")
            group.trailing = queue_events
            trailing = self.commit_group(group)
            if trailing and replies:
                # After every other event: with the last answer that has events
                # of its own. A later answer without events (an error, a query)
                # is sent after those go out (serve.py flushes first), so a
                # refused counter sees the new queue before its "conflict".
                last = max((i for i, r in enumerate(replies) if r.events), default=-1)
                replies[last].events = [*replies[last].events, *trailing]
        except StaleState:
            log.warning("stale state in a group of %d; reloading, answering each alone",
                        len(requests))
            self.reload()
            return [self.handle(session, message) for session, message in requests]
        except Exception as exc:
            if isinstance(exc, StoreError):
                log.error("a group of %d requests was not committed: %s", len(requests), exc)
            else:
                log.exception("a group of %d requests was not committed", len(requests))
            self.reload()
            return [Reply(protocol.error(r.message.get("re"), "internal", GROUP_FAILED))
                    for r in replies]
        return replies

    def handle(self, session: Session, message: dict[str, Any]) -> Reply:
        """Answer one decoded request. Never raises for bad input.

        A secret check the request needs (a login's PIN) runs right here;
        the server uses :meth:`begin` to run it off the event loop instead.
        """
        reply = self.begin(session, message)
        return reply.run_inline() if isinstance(reply, SecretCheck) else reply

    def begin(self, session: Session, message: dict[str, Any]) -> Reply | SecretCheck[Reply]:
        """Answer one decoded request, or return the secret check it waits for.

        The check's ``finish`` completes the request (idempotency, errors,
        the commit) on the state as it is when the verdict arrives.
        """
        try:
            kind, rid, spec = protocol.parse_request(message)
        except ProtocolError as exc:
            return Reply(protocol.error(exc.re, exc.code, exc.message))
        if session.role not in spec.roles:
            return Reply(protocol.error(
                rid, "forbidden", f"a {session.role} device may not send {kind!r}"))
        if not self.recover():
            # Memory may hold a change the store never took: answer nothing from it.
            return Reply(protocol.error(rid, "internal",
                                        "the hall is unavailable (database); try again"))
        key = (session.device.id, rid)
        if spec.mutating:
            cached = self._cached_reply(key)
            if cached is not None:
                return cached
            first = self.group.answered.get(key) if self.group is not None else None
            if first is not None:
                # Resent inside its own group: the same answer, committed with it.
                return Reply(first.message, text=first.text)
        if spec.needs_staff and self._staff_at(session) is None:
            return Reply(protocol.error(rid, "unauthorized", "log in first (staff id and PIN)"))
        handler = self._handlers.get(kind) or getattr(self, f"_do_{kind}", None)
        if handler is None:
            return Reply(protocol.error(rid, "bad_request", f"{kind!r} is not available here"))
        result = self._guarded(kind, rid, spec, session, lambda: handler(session, message))
        if not isinstance(result, SecretCheck):
            return result
        check = result

        def finish(ok: bool) -> Reply:
            if spec.mutating:
                # The same request may have been answered while this one waited.
                cached = self._cached_reply(key)
                if cached is not None:
                    return cached
            if not self.recover():
                return Reply(protocol.error(rid, "internal",
                                            "the hall is unavailable (database); try again"))
            done = self._guarded(kind, rid, spec, session, lambda: check.finish(ok))
            assert not isinstance(done, SecretCheck)
            return done

        return SecretCheck(check.secret, check.hashed, finish)

    def _guarded(self, kind: str, rid: str, spec: protocol.Request, session: Session,
                 run: Callable[[], Reply | SecretCheck[Reply]]) -> Reply | SecretCheck[Reply]:
        """Run a handler step: map errors to replies, remember the answer."""
        try:
            reply = run()
        except CoreError as exc:
            reply = Reply(protocol.error(rid, exc.code, str(exc), **exc.details))
        except ProtocolError as exc:
            reply = Reply(protocol.error(rid, exc.code, exc.message))
        except Unavailable:
            reply = Reply(protocol.error(rid, "internal",
                                         "the hall is unavailable (database); try again"))
        except StoreError as exc:
            # The commit has rebuilt memory from the store (or marked the hall
            # failed); a database refusal needs no traceback in the log.
            log.error("request %s from %s not committed: %s", kind, session.device.id, exc)
            reply = Reply(protocol.error(rid, "internal", "internal error; try again"))
        except Exception:
            # Internal detail stays in the log, never on the wire.
            log.exception("request %s from %s failed", kind, session.device.id)
            self.reload()
            reply = Reply(protocol.error(rid, "internal", "internal error; try again"))
        if isinstance(reply, SecretCheck):
            return reply
        if reply.message.get("re") != rid:
            reply.message["re"] = rid
            reply.text = None
        if spec.mutating and reply.message.get("code") not in ("internal", "rate_limited"):
            key = (session.device.id, rid)
            answer = reply
            if self.group is not None:
                self.group.answered[key] = reply
            self.after_commit(lambda: self._remember(key=key, text=answer.encoded()))
        return reply

    def run_command(self, session: Session, rid: str, run: Callable[[], list[Event]],
               build: Callable[[list[Event]], dict[str, Any]]) -> Reply:
        """Run a core command and commit its events in one transaction
        (:meth:`Context.commit`: a lost race runs the command again on the
        state rebuilt from the store)."""
        def decide() -> Decision:
            events = run()
            return Decision(events, build(events))

        return self.commit(decide, (session, rid))

    def _ticket_reply(self, events: list[Event]) -> dict[str, Any]:
        for ev in events:
            if "ticket" in ev.data:
                return {"ticket": ev.data["ticket"]}
        return {}

    def _staff_at(self, session: Session) -> dict[str, Any] | None:
        if session.counter is None:
            return None
        state = self.hall.snapshot_counter(session.counter)
        return state.get("staff") if state and state.get("state") != "closed" else None

    # ---------------------------------------------------------------- kiosk
    def _do_ping(self, session: Session, msg: dict[str, Any]) -> Reply:
        return Reply(protocol.ok(msg["id"], seq=self.last_seq))

    def _do_issue(self, session: Session, msg: dict[str, Any]) -> Reply:
        return self.run_command(
            session, msg["id"],
            lambda: self.hall.issue(msg["service"], msg.get("priority") or "normal"),
            self._ticket_reply,
        )

    def _do_report_fault(self, session: Session, msg: dict[str, Any]) -> Reply:
        # A fault is a state: the same fault again is no change, so no event.
        known = self.faults.get(session.device.id)
        message = (msg.get("message") or "")[:200]
        if known is not None and (known["kind"], known["message"], known["ticket"]) == (
                msg["kind"], message, msg.get("ticket")):
            return Reply(protocol.ok(msg["id"], unchanged=True))
        limited = self.limits.fault(session.device.id)
        if limited is not None:
            return Reply(protocol.error(msg["id"], "rate_limited", limited))
        fault = {
            "device": session.device.id,
            "kind": msg["kind"],
            "message": message,
            "ticket": msg.get("ticket"),
            "since": self.clock().astimezone(self.config.tz).isoformat(timespec="seconds"),
        }
        reply = self.run_command(session, msg["id"],
                            lambda: [Event("device.fault", dict(fault))], lambda _: {})
        # Only once committed: a failed commit leaves the faults as they were.
        self.after_commit(lambda: self.faults.__setitem__(session.device.id, fault))
        return reply

    def _do_clear_fault(self, session: Session, msg: dict[str, Any]) -> Reply:
        fault = self.faults.get(session.device.id)
        if fault is None:
            return Reply(protocol.ok(msg["id"]))
        data = {"device": session.device.id, "kind": fault["kind"], "cleared": True}
        reply = self.run_command(session, msg["id"],
                            lambda: [Event("device.fault", data)], lambda _: {})
        def cleared() -> None:
            self.faults.pop(session.device.id, None)

        self.after_commit(cleared)
        return reply

    # -------------------------------------------------------------- counter
    def _do_login(self, session: Session, msg: dict[str, Any]) -> SecretCheck[Reply] | Reply:
        counter = session.counter
        assert counter is not None
        staff_id = msg["staff"]
        device_id = session.device.id
        locked = self.limits.pin_locked(device_id, staff_id)
        if locked is not None:
            return Reply(protocol.error(msg["id"], "rate_limited", locked))
        staff = self.config.staff_member(staff_id)
        if staff is not None and staff.disabled:
            staff = None  # answered like an unknown id, after the same scrypt work
        # A reset PIN (Staff.reset): the PIN typed now becomes the PIN. The
        # scrypt check still runs (on the dummy hash, its verdict unused) so
        # the answer takes as long as any login.
        setting = (staff is not None and "pin" in staff.reset
                   and self.secret_set is not None)
        if staff is not None and "pin" in staff.reset and not setting:
            staff = None
        if setting and len(msg["pin"].strip()) < MIN_NEW_PIN:
            return Reply(protocol.error(msg["id"], "bad_request",
                                        f"请设置至少 {MIN_NEW_PIN} 位的新 PIN "
                                        f"the new PIN needs {MIN_NEW_PIN}+ characters"))

        # scrypt runs wherever the caller puts it (the server: off the event
        # loop); the login is then decided on the state as it is by then.
        def finish(verdict: bool) -> Reply:
            pin_ok = verdict or setting
            if staff is None or not pin_ok:
                self.limits.pin_failed(device_id, staff.id if staff is not None else None)
                return Reply(protocol.error(msg["id"], "unauthorized", "wrong staff id or PIN"))
            self.limits.pin_ok(staff.id)
            current = self._staff_at(session)
            elsewhere = self._counters_of(staff.id, besides=counter)

            def run() -> list[Event]:
                events: list[Event] = []
                # One staff member is open at one counter: logging in here closes
                # the counter they left open (docs/SECURITY.md says why).
                for other in elsewhere:
                    events += self.hall.close_counter(other)
                if current is not None and current.get("id") != staff.id:
                    events += self.hall.close_counter(counter)
                if current is None or current.get("id") != staff.id:
                    events += self.hall.open_counter(counter, staff.id, staff.name)
                return events

            reply = self.run_command(session, msg["id"], run,
                                     lambda _: {"staff": {"id": staff.id, "name": staff.name}})
            if setting and self.secret_set is not None and reply.message.get("type") != "error":
                set_pin = self.secret_set
                self.after_commit(lambda: set_pin(staff.id, "pin", msg["pin"]))
            return reply

        hashed = staff.pin_hash if staff is not None and not setting else DUMMY_HASH
        return SecretCheck(msg["pin"], hashed, finish)

    def _counters_of(self, staff_id: str, besides: int) -> list[int]:
        """Counters other than ``besides`` open (or paused) with ``staff_id`` logged in."""
        found = []
        for c in self.config.counters:
            if c.number == besides:
                continue
            state = self.hall.snapshot_counter(c.number)
            staff = state.get("staff") if state and state.get("state") != "closed" else None
            if staff is not None and staff.get("id") == staff_id:
                found.append(c.number)
        return found

    def _counter_cmd(self, name: str, *args: Any) -> Callable[[Session, dict[str, Any]], Reply]:
        def do(session: Session, msg: dict[str, Any]) -> Reply:
            method = getattr(self.hall, name)
            return self.run_command(session, msg["id"],
                               lambda: method(session.own_counter(), *[msg.get(a) for a in args]),
                               self._ticket_reply)
        return do

    def _do_logout(self, session: Session, msg: dict[str, Any]) -> Reply:
        return self.run_command(session, msg["id"],
                           lambda: self.hall.close_counter(session.own_counter()), lambda _: {})

    def _do_call_next(self, session: Session, msg: dict[str, Any]) -> Reply:
        return self._counter_cmd("call_next")(session, msg)

    def _do_call(self, session: Session, msg: dict[str, Any]) -> Reply:
        return self._counter_cmd("call", "ticket")(session, msg)

    def _do_recall(self, session: Session, msg: dict[str, Any]) -> Reply:
        return self._counter_cmd("recall")(session, msg)

    def _do_start(self, session: Session, msg: dict[str, Any]) -> Reply:
        return self._counter_cmd("start")(session, msg)

    def _do_complete(self, session: Session, msg: dict[str, Any]) -> Reply:
        return self._counter_cmd("complete")(session, msg)

    def _do_no_show(self, session: Session, msg: dict[str, Any]) -> Reply:
        return self._counter_cmd("no_show")(session, msg)

    def _do_transfer(self, session: Session, msg: dict[str, Any]) -> Reply:
        service, to_counter = msg.get("service"), msg.get("counter")
        if (service is None) == (to_counter is None):
            raise ProtocolError("bad_request", "transfer needs exactly one of 'service' or "
                                "'counter'")
        return self.run_command(
            session, msg["id"],
            lambda: self.hall.transfer(session.own_counter(), service=service,
                                       to_counter=to_counter),
            self._ticket_reply,
        )

    def _do_requeue(self, session: Session, msg: dict[str, Any]) -> Reply:
        # A kiosk knows the ticket by its QR (check code) or its printed number.
        ticket_id = msg.get("ticket")
        if ticket_id is None and msg.get("check"):
            ticket = self.hall.by_check(msg["check"])
            ticket_id = ticket.id if ticket else None
        if ticket_id is None and msg.get("number"):
            ticket = self.hall.by_number(msg["number"])
            ticket_id = ticket.id if ticket else None
        if ticket_id is None:
            raise NotFound("no such ticket today; check the number or take a new ticket")
        found = self.hall.ticket(ticket_id)
        if found is not None and found.remote and found.present and found.status == "waiting":
            # Scanned or typed again after its arrival: already confirmed, nothing changes.
            return Reply(protocol.ok(msg["id"], ticket=self.hall.wire_ticket(found),
                                     arrived=True))

        def build(events: list[Event]) -> dict[str, Any]:
            # A remote ticket's arrival (not a 过号重排): the kiosk says so (`arrived`).
            arrived = any(ev.name == "ticket.arrived" for ev in events)
            return {**self._ticket_reply(events), **({"arrived": True} if arrived else {})}

        return self.run_command(session, msg["id"], lambda: self.hall.requeue(ticket_id), build)

    def _do_unmiss(self, session: Session, msg: dict[str, Any]) -> Reply:
        return self._counter_cmd("unmiss", "ticket")(session, msg)

    def _do_route_back(self, session: Session, msg: dict[str, Any]) -> Reply:
        return self._counter_cmd("route_back", "step", "reason")(session, msg)

    def _do_route_end(self, session: Session, msg: dict[str, Any]) -> Reply:
        return self._counter_cmd("route_end", "reason")(session, msg)

    def _do_missed(self, session: Session, msg: dict[str, Any]) -> Reply:
        missed = [self.hall.wire_ticket(t) for t in self.hall.missed(session.own_counter())]
        return Reply(protocol.ok(msg["id"], missed=missed))

    def _do_pause(self, session: Session, msg: dict[str, Any]) -> Reply:
        return self.run_command(session, msg["id"],
                           lambda: self.hall.pause(session.own_counter(), msg.get("reason") or ""),
                           lambda _: {})

    def _do_resume(self, session: Session, msg: dict[str, Any]) -> Reply:
        return self.run_command(session, msg["id"], lambda: self.hall.resume(session.own_counter()),
                           lambda _: {})

    def _do_queue(self, session: Session, msg: dict[str, Any]) -> Reply:
        waiting = [self.hall.wire_ticket(t) for t in self.hall.queue(session.own_counter())]
        return Reply(protocol.ok(msg["id"], waiting=waiting))

    # Appointments (check_in, slots, book, cancel_booking), ratings (rate,
    # followups, followup_close) and stats are answered by the features the
    # service is composed with (server/features/).

    # ---------------------------------------------------------------- admin
    def _do_cancel(self, session: Session, msg: dict[str, Any]) -> Reply:
        return self.run_command(session, msg["id"], lambda: self.hall.cancel(msg["ticket"]),
                           self._ticket_reply)

    # ----------------------------------------------------------- upkeep
    def tick(self) -> list[dict[str, Any]]:
        """Periodic upkeep: day rollover (close out), expired replies, transfers
        to counters that closed or stayed paused too long (``transfer_timeout``).

        Returns committed wire events to broadcast.
        """
        self._expire_replies(self.monotonic())
        day = self._local_day()
        if day == self._day:
            return self._expire_transfers()
        events = self.hall.close_day()
        self._day = day
        wire = self.commit_upkeep(events, "closing the day")
        try:  # yesterday's extra counters end with it
            self._switch_config(self._day_config(day))
        except StoreError as exc:
            log.error("cannot read today's counter layout: %s", exc)
        self.reload()  # also reads the new day's bookings (Feature.loaded)
        return wire

    def _expire_transfers(self) -> list[dict[str, Any]]:
        return self.commit_upkeep(self.hall.expire_transfers(),
                                  "returning stranded transfers")

    def remembers(self, device: str, rid: str | None) -> bool:
        """Whether the reply to ``(device, rid)`` is remembered (a resend gets it)."""
        mine = self._replies.get(device)
        return rid is not None and mine is not None and rid in mine

    def _cached_reply(self, key: tuple[str, str]) -> Reply | None:
        mine = self._replies.get(key[0])
        hit = mine.get(key[1]) if mine is not None else None
        return Reply(protocol.decode(hit[1]), text=hit[1]) if hit is not None else None

    def _remember(self, key: tuple[str, str], text: str) -> None:
        """Keep the reply (its JSON text, as sent) to ``key`` for resends."""
        device, rid = key
        mine = self._replies.setdefault(device, collections.OrderedDict())
        if rid not in mine:
            self._reply_count += 1
        mine[rid] = (self.monotonic() + IDEMPOTENCY_S, text)
        mine.move_to_end(rid)
        # Bounded per device (no device can push out the others' replies) and
        # in all (the largest device gives way). The per-device cap is what
        # requests_per_s allows in 10 minutes, so within the limits no reply
        # is forgotten before the protocol's 10 minutes.
        if len(mine) > REPLIES_PER_DEVICE:
            mine.popitem(last=False)
            self._reply_count -= 1
        while self._reply_count > REPLIES_MAX:
            biggest = max(self._replies.values(), key=len)
            biggest.popitem(last=False)
            self._reply_count -= 1

    def _expire_replies(self, now: float) -> None:
        for device, mine in list(self._replies.items()):
            while mine:
                expires, _ = next(iter(mine.values()))
                if expires > now:
                    break
                mine.popitem(last=False)
                self._reply_count -= 1
            if not mine:
                del self._replies[device]

    @property
    def remembered_replies(self) -> int:
        """How many replies are remembered now."""
        return self._reply_count

