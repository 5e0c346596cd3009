"""The citizen's side of the server: the integration API, the phone pages, webhooks.

``/api/v1`` (JSON; docs/API.md):

- ``GET /api/v1/halls/<hall-id>``: the hall's name and services (for a take page).
- ``POST /api/v1/halls/<hall-id>/tickets`` ``{"service", "phone"}`` -> 201 and
  the ticket object (``remote: true``, ``present``, ``check``).
- ``GET /api/v1/tickets/<check>`` -> the ticket object (no personal data).
- ``POST /api/v1/tickets/<check>/arrived`` -> the ticket object, now present.

Refusals are ``{"code", "message"}`` with the wire error codes and the HTTP
status that says the same (400, 404, 405, 409, 429, 503). ``GET /take/<hall-id>``
is the phone page that takes a number through the same API.

Everything here runs inside the event loop like a websocket request: one
request at a time, committed before it is answered; the committed events go
to :func:`publish` (the server's broadcast), which also feeds :meth:`committed`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CollectorRegistry
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from server.core import CoreError
from server.features.phone import RemoteTickets
from server.limits import Buckets
from server.notify import Notifier, NotifyMetrics, Watcher, load_sinks
from server.service import HallService, Unavailable
from server.store import StoreError
from server.web import book, bookings, pages, take
from server.web import headers as http_headers
from server.web.bodies import body_of
from server.web.live import PER_ADDRESS, SUFFIX, Feeds
from server.web.status import status_page
from server.wire import protocol
from server.wire.estimate import estimate

__all__ = ["Citizen", "HallSide"]

log = logging.getLogger("qhall.api")

_STATUS = {"bad_request": 400, "not_found": 404, "conflict": 409, "closed": 409,
           "quota_reached": 409, "expired": 410, "rate_limited": 429, "forbidden": 403,
           "internal": 503}


#: How often a hall's kept phone numbers are swept (no-shows past their
#: 过号重排 window, earlier days).
SWEEP_S = 60.0


class HallSide:
    """One hall's remote tickets, webhooks and source-address budget.

    Its :class:`~server.notify.Watcher` is the hall's stager in the store
    (deliveries commit with their events) from now until :meth:`stop`.
    """

    def __init__(self, service: HallService, metrics: NotifyMetrics,
                 owns: Callable[[], bool] = lambda: True) -> None:
        self.service = service
        self.remote = RemoteTickets(service)
        sinks = load_sinks(service.config)
        self.notifier = Notifier(service.config.id, sinks, metrics, service.store.outbox,
                                 owns=owns)
        self.watcher = Watcher(service.config, sinks, lambda: service.hall, service.store,
                               self.notifier.wake, service.clock)
        service.store.stagers[service.config.id] = self.watcher.stage
        per_hour = service.config.limits.remote_issues_per_hour
        self.issues = Buckets(per_hour / 3600.0, per_hour)
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.notifier.start()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def stop(self) -> None:
        stagers = self.service.store.stagers
        if stagers.get(self.service.config.id) == self.watcher.stage:
            del stagers[self.service.config.id]
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self.notifier.stop()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            try:
                self.watcher.sweep()
            except Exception:  # the database is away: next time
                log.exception("hall %s: erasing lapsed phone numbers failed",
                              self.service.config.id)


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Citizen:
    """The phone pages, the JSON API and the webhooks of the server's halls.

    Args:
        services: the halls served.
        registry: the server's Prometheus registry.
        publish: broadcasts committed wire events of a hall (the server's).
        owns: whether this process still owns the halls (False once fenced:
            only the owner delivers webhooks).
    """

    def __init__(self, services: list[HallService], registry: CollectorRegistry,
                 publish: Callable[[list[dict[str, Any]]], None],
                 owns: Callable[[], bool] = lambda: True) -> None:
        self.metrics = NotifyMetrics(registry)
        self.halls = {s.config.id: HallSide(s, self.metrics, owns) for s in services}
        self.publish = publish
        # Per-source limits off (--no-limits: benchmarks from one address): feeds too.
        per_source = any(s.config.limits.hellos_per_min for s in services)
        self.feeds = Feeds(self._render, PER_ADDRESS if per_source else 0)

    def start(self) -> None:
        """Start the webhook workers (on the running loop; called from it)."""
        for side in self.halls.values():
            side.start()

    async def stop(self) -> None:
        for side in self.halls.values():
            await side.stop()

    def committed(self, events: list[dict[str, Any]]) -> None:
        """Committed events: the live pages whose ticket changed are told (the
        webhooks' deliveries were queued inside the commit: server/notify/watch.py)."""
        self.feeds.changed(events)

    # ----------------------------------------------------------------- HTTP
    @staticmethod
    def handles(path: str) -> bool:
        return path.startswith(("/api/", "/take/", "/t/", "/book/"))

    @staticmethod
    def feed_check(path: str) -> str | None:
        """The check code of a live-feed path, else None."""
        prefix = "/api/v1/tickets/"
        if path.startswith(prefix) and path.endswith(SUFFIX):
            check = path[len(prefix):-len(SUFFIX)]
            return check if 0 < len(check) <= 32 and "/" not in check else None
        return None

    async def feed(self, ws: ServerConnection, address: str) -> None:
        """Serve one ticket's live feed on an opened websocket."""
        check = self.feed_check(urlsplit(ws.request.path).path if ws.request else "")
        if check is not None:
            await self.feeds.serve(ws, check, address)

    def _render(self, check: str) -> dict[str, Any] | None:
        try:
            side, t = self._ticket(check)
        except _Refused:
            return None
        return self._wire(side, t)

    def route(self, conn: ServerConnection, request: Request, path: str,
              address: str) -> Response | None:
        try:
            return self._route(conn, request, path, address)
        except _Refused as exc:
            return _json(conn, _STATUS.get(exc.code, 400), {"code": exc.code,
                                                            "message": exc.message})
        except CoreError as exc:
            return _json(conn, _STATUS.get(exc.code, 409), {"code": exc.code,
                                                            "message": str(exc)})
        except (Unavailable, StoreError):
            return _json(conn, 503, {"code": "internal",
                                     "message": "大厅暂不可用，请稍后再试 the hall is "
                                                "unavailable; try again shortly"})

    def _route(self, conn: ServerConnection, request: Request, path: str,
               address: str) -> Response | None:
        parts = [p for p in path.split("/") if p]
        method = request.method
        check = self.feed_check(path)
        if check is not None:
            _only(method, "GET")
            self._ticket(check)
            if request.headers.get("Upgrade", "").lower() != "websocket":
                raise _Refused("bad_request", "this is a websocket (the ticket's live feed)")
            if not self.feeds.admit(address):
                raise _Refused("rate_limited", "too many live pages open from this address")
            return None  # the websocket handshake goes on (Server._handler -> feed)
        if parts[:1] == ["t"] and len(parts) == 2:
            _only(method, "GET")
            try:
                side, t = self._ticket(parts[1])
            except _Refused:
                name = next(iter(self.halls.values())).service.config.name
                return _html(conn, pages.not_found_page(name), status=404)
            return _html(conn, status_page(side.service.config.name, self._wire(side, t)))
        if parts[:1] == ["take"] and len(parts) == 2:
            _only(method, "GET")
            side = self._hall(parts[1])
            return _html(conn, take.take_page(side.service.config.name, side.service.config.id))
        if parts[:1] == ["book"] and len(parts) == 2:
            _only(method, "GET")
            side = self._hall(parts[1])
            return _html(conn, book.book_page(side.service.config.name, side.service.config.id))
        if parts[:2] != ["api", "v1"]:
            raise _Refused("not_found", "no such page")
        rest = parts[2:]
        if len(rest) == 2 and rest[0] == "halls":
            _only(method, "GET")
            return _json(conn, 200, self._hall_info(self._hall(rest[1])))
        if len(rest) == 3 and rest[0] == "halls" and rest[2] == "tickets":
            _only(method, "POST")
            return self._issue(conn, self._hall(rest[1]), body_of(request), address)
        if len(rest) >= 3 and rest[0] == "halls" and rest[2] in ("slots", "bookings"):
            return self._booking(conn, request, self._hall(rest[1]), rest[2:])
        if len(rest) == 2 and rest[0] == "tickets":
            _only(method, "GET")
            side, t = self._ticket(rest[1])
            return _json(conn, 200, self._wire(side, t))
        if len(rest) == 3 and rest[0] == "tickets" and rest[2] == "arrived":
            _only(method, "POST")
            side, t = self._ticket(rest[1])
            self._serving(side)
            self._publish(side, side.remote.arrived(t.check))
            return _json(conn, 200, self._wire(side, side.service.hall.ticket(t.id) or t))
        raise _Refused("not_found", "no such API path; see docs/API.md")

    def _booking(self, conn: ServerConnection, request: Request, side: HallSide,
                 rest: list[str]) -> Response:
        """Slots, book, cancel and the calendar file (server/web/bookings.py)."""
        service = side.service
        base = f"/api/v1/halls/{service.config.id}/bookings"
        if rest == ["slots"]:
            _only(request.method, "GET")
            query = parse_qs(urlsplit(request.path).query)
            reply = bookings.request(service, "slots", service=_one(query, "service"),
                                     date=_one(query, "date"))
            return self._booking_reply(conn, reply, 200, lambda m: {
                k: m[k] for k in ("service", "date", "slots")})
        if rest == ["bookings"]:
            _only(request.method, "POST")
            fields = _json_body(body_of(request), ("service", "slot", "name", "phone"))
            reply = bookings.request(service, "book", **fields)
            return self._booking_reply(conn, reply, 201, lambda m: {
                "booking": m["booking"], "ics": f"{base}/{m['booking']['code']}.ics"})
        if len(rest) == 3 and rest[0] == "bookings" and rest[2] == "cancel":
            _only(request.method, "POST")
            reply = bookings.request(service, "cancel_booking", code=rest[1][:32])
            return self._booking_reply(conn, reply, 200, lambda m: {"booking": m["booking"]})
        if len(rest) == 2 and rest[0] == "bookings" and rest[1].endswith(".ics"):
            _only(request.method, "GET")
            booking = bookings.get(service, rest[1][:-4][:32])
            resp = conn.respond(200, bookings.ics(service.config, booking, service.clock()))
            http_headers.set_header(resp, "Content-Type", "text/calendar; charset=utf-8")
            http_headers.set_header(resp, "Content-Disposition",
                                    f'attachment; filename="{booking["code"]}.ics"')
            http_headers.set_header(resp, "Cache-Control", "no-store")
            return resp
        raise _Refused("not_found", "no such API path; see docs/API.md")

    def _booking_reply(self, conn: ServerConnection, reply: Any, status: int,
                       shape: Callable[[dict[str, Any]], dict[str, Any]]) -> Response:
        message = reply.message
        if message.get("type") != "ok":
            raise _Refused(str(message.get("code")), str(message.get("message")))
        if reply.events:
            self.publish(reply.events)
        return _json(conn, status, shape(message))

    def _hall(self, hall_id: str) -> HallSide:
        side = self.halls.get(hall_id)
        if side is None:
            raise _Refused("not_found", f"no hall {hall_id[:64]!r} here")
        return side

    def _ticket(self, check: str) -> tuple[HallSide, Any]:
        if 0 < len(check) <= 32:
            for side in self.halls.values():
                t = side.service.hall.by_check(check)
                if t is not None:
                    return side, t
        raise _Refused("not_found", "未找到该号票 no such ticket (it may have expired)")

    def _issue(self, conn: ServerConnection, side: HallSide, body: bytes,
               address: str) -> Response:
        msg = _json_body(body, ("service", "phone"))
        service, phone = msg["service"], msg["phone"]
        side.remote.check(service, phone)  # malformed requests cost no budget
        self._serving(side)
        if not side.issues.take(address):
            raise _Refused("rate_limited", "取号过于频繁，请稍后再试 too many tickets from "
                           f"this address; try again in {side.issues.wait_s(address)} s")
        wire, events = side.remote.issue(service, phone)
        self._publish(side, events)
        live = side.service.hall.ticket(str(wire["id"]))
        return _json(conn, 201, self._wire(side, live) if live is not None else wire)

    @staticmethod
    def _serving(side: HallSide) -> None:
        """Refuse (503) while the hall's memory may be ahead of its store."""
        if not side.service.recover():
            raise Unavailable(side.service.failed or "unavailable")

    def _publish(self, side: HallSide, events: list[dict[str, Any]]) -> None:
        if events:
            self.publish(events)

    @staticmethod
    def _wire(side: HallSide, t: Any) -> dict[str, Any]:
        """The API's ticket object: the wire ticket, ``remote``/``present`` always,
        and the counter's name once called."""
        hall = side.service.hall
        wire = hall.wire_ticket(t)
        wire.setdefault("remote", False)
        wire.setdefault("present", True)
        wire["hall"] = side.service.config.id
        counter = side.service.config.counter(t.counter) if t.counter is not None else None
        wire["counter_name"] = counter.name if counter and t.status != "waiting" else None
        svc = side.service.config.service(t.service)
        if svc is not None:
            wire["service_name"], wire["service_name_en"] = svc.name, svc.name_en
            wire["zone"] = svc.zone
        route = side.service.config.service(t.route_id) if t.route_id else None
        if route is not None:  # a joint-approval case: the page names the case
            wire["route_name"], wire["route_name_en"] = route.name, route.name_en
        wait = estimate(wire, {"open_counters": hall.open_counters(t.service)},
                        side.service.config.tz) if t.status == "waiting" else None
        wire["wait"] = {"zh": wait.text("zh"), "en": wait.text("en")} if wait else None
        return wire

    @staticmethod
    def _hall_info(side: HallSide) -> dict[str, Any]:
        info = side.service.hall_info()
        snapshot = side.service.hall.snapshot()["queues"]
        return {
            "id": info["id"], "name": info["name"], "timezone": info["timezone"],
            "services": [{**{k: s[k] for k in ("id", "name", "name_en", "hours", "zone")},
                          "waiting": snapshot[s["id"]]["waiting"],
                          "eta_s": snapshot[s["id"]]["eta_s"],
                          "booking": bookings.window(side.service, s["id"])}
                         for s in info["services"]],
        }


def _json_body(body: bytes, keys: tuple[str, ...]) -> dict[str, str]:
    """The named string fields of a JSON object body (refused: ``bad_request``)."""
    try:
        msg = protocol.decode(body)
    except protocol.ProtocolError:
        raise _Refused("bad_request", "the body must be a JSON object with "
                                      + ", ".join(keys)) from None
    fields = {k: msg.get(k) for k in keys}
    missing = [k for k, v in fields.items() if not isinstance(v, str)]
    if missing:
        raise _Refused("bad_request", f"{', '.join(missing)} (strings) required")
    return {k: str(v) for k, v in fields.items()}


def _one(query: dict[str, list[str]], key: str) -> str:
    values = query.get(key)
    if not values or len(values) != 1:
        raise _Refused("bad_request", f"give ?{key}= once")
    return values[0]


def _only(method: str, allowed: str) -> None:
    if method != allowed:
        raise _Refused("method_not_allowed", f"use {allowed}")


def _json(conn: ServerConnection, status: int, body: dict[str, Any]) -> Response:
    if body.get("code") == "method_not_allowed":
        resp = conn.respond(405, json.dumps({"code": "bad_request",
                                             "message": body["message"]}) + "\n")
        http_headers.set_header(resp, "Allow", body["message"].split()[-1])
    else:
        resp = conn.respond(status, json.dumps(body, ensure_ascii=False) + "\n")
    http_headers.set_header(resp, "Content-Type", "application/json; charset=utf-8")
    http_headers.set_header(resp, "Cache-Control", "no-store")
    return resp


def _html(conn: ServerConnection, body: str, status: int = 200) -> Response:
    resp = conn.respond(status, body)
    http_headers.set_header(resp, "Content-Type", "text/html; charset=utf-8")
    http_headers.set_header(resp, "Cache-Control", "no-store")
    return resp
