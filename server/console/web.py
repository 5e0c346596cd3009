"""The console's HTTP routes and its websocket, plugged into ``server/serve.py``.

Routes (all GET; the server answers other methods 405):

* ``/console``: the page (login form without a session; the floor with one).
  A logged-in page carries its session's CSRF token in a ``<meta>`` tag.
* ``/console/session?grant=G``: trades a one-time login grant for the
  session cookie, then 303 to ``/console``.
* ``/console/report.csv?from=YYYY-MM-DD&to=YYYY-MM-DD``: the figures of
  ``qhall report`` as CSV (session needed; default today).
* ``/console/ws``: the console's websocket (same origin only). Without a
  session it answers only ``{"type":"login","staff","password"}`` (reply
  ``{"type":"ok","grant"}``). With one it pushes ``{"type":"floor", ...}``
  after every committed batch of hall events (and every :data:`REFRESH_S`
  for the clocks) and answers ``{"id","csrf","do",...}`` requests; every
  request must carry the session's CSRF token or it is refused
  (``forbidden``) and changes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import html
import json
import logging
import time
from collections.abc import Callable, Coroutine
from importlib import resources
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from server.authpool import DUMMY_HASH, AuthPool, PoolBusy
from server.config import ConfigError, HallConfig, Staff
from server.console import alerts, floor
from server.console.actions import Actions
from server.console.admin import Admin
from server.console.sessions import (
    COOKIE,
    Active,
    Grants,
    Sessions,
    cookie_of,
    may_use_console,
    session_allowed,
)
from server.core import CoreError
from server.features import report
from server.features.ratings import FollowUps
from server.service import HallService, Unavailable
from server.store import StaleState, StoreError
from server.web import headers as http_headers
from server.wire import protocol

__all__ = ["Console", "Host", "REFRESH_S"]

log = logging.getLogger("qhall.console")

#: The floor is pushed at least this often (waits and idle times grow by themselves).
REFRESH_S = 10.0
#: Login attempts one unauthenticated console socket may make.
LOGIN_TRIES = 5
#: An unauthenticated console socket is closed after this long without a login.
LOGIN_WAIT_S = 60.0
#: Most frame size the console accepts (a note is the largest request).
MAX_REQUEST = 16 * 1024
#: Floors pushed at most this often (well inside the 1 s from a call to the screen).
PUSH_GAP_S = 0.25
#: Days of a report range given their own 好差评 line (the last ones).
DAYS_LISTED = 31
DAY_COLUMNS = ("served", "ratings", "satisfaction_rate", "bad_ratings", "open_followups")
#: An ended or idle session's close code (the page shows the login form again).
CLOSE_EXPIRED = 4401
#: A CSV computed for the 报表 tab waits this long for its download.
CSV_KEEP_S = 300.0
CSV_KEY = "_csv"
#: How often the newest configuration version is looked up (qhall config import).
CONFIG_POLL_S = 5.0
#: Shortest console password set at first login.
MIN_PASSWORD = 8


class Host(Protocol):
    """What the console needs of the server it is plugged into."""

    service: HallService
    auth: AuthPool

    def broadcast(self, events: list[dict[str, Any]]) -> None: ...

    def reconfigured(self, old: HallConfig, new: HallConfig) -> None: ...


@functools.cache
def _page_template() -> str:
    return resources.files("server.console").joinpath("console.html").read_text(encoding="utf-8")


def _error(re: Any, code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "re": re, "code": code, "message": message}


class Console:
    """The supervisor console of the host server's hall."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.service = host.service
        self.clock = host.service.clock
        self.sessions = Sessions(lambda: self.service.config, host.service.store, self.clock)
        self.grants = Grants()
        self.actions = Actions(host.service, self.clock)
        self.admin = Admin(host.service, host, self.clock)
        # A counter login with a reset PIN: the PIN typed becomes the PIN.
        self.service.secret_set = self._secret_set
        self._tasks: set[asyncio.Task[None]] = set()
        # CSV texts the 报表 tab computed off the loop: (digest, from, to) -> (text, until).
        self._csv_ready: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._next_purge = 0.0
        self._next_poll = 0.0
        #: Where the browser reaches this console: ``/console``, or
        #: ``/console/<hall-id>`` when one process serves several halls
        #: (server/halls.py sets it; the session cookie's Path is this, so a
        #: session of one hall is never even sent to another's console).
        self.base = "/console"
        # Its own admission bound on the server's auth threads.
        self.pool = AuthPool(queue=16, share=host.auth)
        self.live: dict[ServerConnection, Active] = {}
        self._push_scheduled = False
        # A console still sending the previous floor gets only the newest one
        # after it (never a growing backlog of floors).
        self._sending: set[ServerConnection] = set()
        self._stale: set[ServerConnection] = set()
        self._last_push = float("-inf")

    @property
    def config(self) -> HallConfig:
        """The hall's configuration now (the admin pages change it live)."""
        return self.service.config

    def _secret_set(self, staff_id: str, what: str, plain: str) -> None:
        task = asyncio.get_running_loop().create_task(
            self._store_secret(staff_id, what, plain))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _store_secret(self, staff_id: str, what: str, plain: str) -> None:
        try:
            await self.admin.set_secret(staff_id, what, plain)
        except (CoreError, StoreError, ValueError) as exc:
            log.error("could not store the %s %s set at login: %s", what, staff_id, exc)

    # ------------------------------------------------------------------ HTTP
    def route(self, conn: ServerConnection, request: Request, path: str) -> Response | None:
        """Answer a ``/console...`` GET (None: go on to the websocket handshake)."""
        query = parse_qs(urlsplit(request.path).query)
        active = self.sessions.find(cookie_of(request.headers.get("Cookie")))
        if path in ("/console", "/console/"):
            return self._page(conn, active)
        if path == "/console/session":
            return self._redeem(conn, query.get("grant", [""])[0])
        if path == "/console/ws":
            origin = request.headers.get("Origin", "")
            if urlsplit(origin).netloc != request.headers.get("Host", ""):
                return conn.respond(403, "console: same origin only\n")
            address = _peer(conn)
            if active is None and not self.service.limits.hello_open(address):
                # Out of login budget: refused before the handshake, like /ws.
                return http_headers.too_many(conn, self.service.limits.hellos.wait_s(address))
            return None
        if path == "/console/report.csv":
            if active is None:
                return conn.respond(401, f"请先登录 log in at {self.base} first\n")
            return self._csv(conn, active, query)
        return conn.respond(404, "not found\n")

    def _page(self, conn: ServerConnection, active: Active | None) -> Response:
        meta = ""
        if active is not None:
            me = json.dumps({"id": active.staff.id, "name": active.staff.name,
                             "roles": list(active.staff.roles)}, ensure_ascii=False)
            meta = (f'<meta name="qhall-csrf" content="{html.escape(active.csrf)}">'
                    f'<meta name="qhall-me" content="{html.escape(me)}">')
        meta += f'<meta name="qhall-base" content="{html.escape(self.base)}">'
        body = (_page_template().replace("<!--SESSION-->", meta)
                .replace("<!--HALL-->", html.escape(self.config.name)))
        resp = conn.respond(200, body)
        http_headers.set_header(resp, "Content-Type", "text/html; charset=utf-8")
        http_headers.set_header(resp, "Cache-Control", "no-store")
        return resp

    def _redeem(self, conn: ServerConnection, grant: str) -> Response:
        token = self.grants.redeem(grant) if grant else None
        resp = conn.respond(303, "")
        http_headers.set_header(resp, "Location", self.base)
        if token is not None:
            secure = "; Secure" if conn.transport.get_extra_info("ssl_object") else ""
            http_headers.set_header(
                resp, "Set-Cookie",
                f"{COOKIE}={token}; Path={self.base}; HttpOnly; SameSite=Strict{secure}")
        return resp

    def _csv(self, conn: ServerConnection, active: Active,
             query: dict[str, list[str]]) -> Response:
        try:
            first, last = self._period(query.get("from", [""])[0], query.get("to", [""])[0])
            ready = self._csv_ready.pop((active.digest, str(first), str(last)), None)
            if ready is not None and ready[1] >= time.monotonic():
                text = ready[0]  # the 报表 tab computed it off the event loop
            else:
                text = report.to_csv(report.build(self.config, self.service.store, first,
                                                  last, self.clock()))
        except (ValueError, ConfigError) as exc:
            return conn.respond(400, f"{exc}\n")
        self.service.store.console.add_audit(self.config.id, self.clock(), active.staff.id,
                                             "report_csv", f"{first}..{last}", {})
        resp = conn.respond(200, text)
        http_headers.set_header(resp, "Content-Type", "text/csv; charset=utf-8")
        http_headers.set_header(resp, "Content-Disposition",
                                f'attachment; filename="qhall-{first}-{last}.csv"')
        http_headers.set_header(resp, "Cache-Control", "no-store")
        return resp

    def _period(self, first: str, last: str) -> tuple[dt.date, dt.date]:
        today = self.clock().astimezone(self.config.tz).date()
        start = dt.date.fromisoformat(first) if first else today
        end = dt.date.fromisoformat(last) if last else start
        if end < start:
            raise ValueError(f"the period ends ({end}) before it starts ({start})")
        if (end - start).days > 366:
            raise ValueError("a report covers at most a year")
        return start, end

    # ------------------------------------------------------------- websocket
    def owns(self, ws: ServerConnection) -> bool:
        """Whether this websocket is the console's."""
        return ws.request is not None and \
            urlsplit(ws.request.path).path in ("/console/ws", f"{self.base}/ws")

    async def serve(self, ws: ServerConnection) -> None:
        """Run one console websocket to its end."""
        assert ws.request is not None
        active = self.sessions.find(cookie_of(ws.request.headers.get("Cookie")))
        try:
            if active is None:
                await self._login_socket(ws)
            else:
                await self._session_socket(ws, active)
        except ConnectionClosed:
            pass
        finally:
            self.live.pop(ws, None)
            self._stale.discard(ws)

    async def _login_socket(self, ws: ServerConnection) -> None:
        address = _peer(ws)
        for _ in range(LOGIN_TRIES):
            try:
                frame = await asyncio.wait_for(ws.recv(), LOGIN_WAIT_S)
            except TimeoutError:
                await ws.close(1008, "no login")
                return
            msg = _decode(frame)
            if isinstance(msg, protocol.ProtocolError) or msg.get("type") != "login":
                # A device token, a hello, anything else: nothing opens here.
                await ws.send(json.dumps(_error(None, "unauthorized", "请先登录 log in first")))
                await ws.close(1008, "unauthorized")
                return
            await ws.send(json.dumps(await self._login(msg, address), ensure_ascii=False))
        await ws.close(1008, "too many login attempts on one connection")

    async def _login(self, msg: dict[str, Any], address: str) -> dict[str, Any]:
        limits = self.service.limits
        staff_id, password = msg.get("staff"), msg.get("password")
        if not (isinstance(staff_id, str) and isinstance(password, str)
                and 0 < len(staff_id) <= 64 and 0 < len(password) <= 256):
            return _error(None, "bad_request", "工号和密码 staff id and password, please")
        if not limits.hello_attempt(address):
            return _error(None, "rate_limited", "尝试过多 too many attempts; try again later")
        where = f"console@{address}"
        if limits.pin_locked(where, staff_id) is not None:
            return _error(None, "rate_limited",
                          "密码错误次数过多，请稍后再试 too many wrong passwords; try again later")
        staff = self.config.staff_member(staff_id)
        if not may_use_console(staff):
            staff = None
        # A password reset (Staff.reset): the password typed now becomes it.
        setting = staff is not None and "password" in staff.reset
        # Every attempt costs one scrypt check, also for an unknown id or one
        # without console access (the dummy hash): timing tells nobody who
        # may use the console.
        hashed = staff.password_hash if staff is not None and not setting else DUMMY_HASH
        try:
            ok = await self.pool.verify(password, hashed)
        except PoolBusy:
            return _error(None, "rate_limited", "服务器正忙 the server is busy; try again")
        ok = (ok or setting) and staff is not None
        if ok and setting and staff is not None:
            if len(password) < MIN_PASSWORD:
                return _error(None, "bad_request",
                              f"新密码至少 {MIN_PASSWORD} 个字符 the new password needs "
                              f"{MIN_PASSWORD}+ characters")
            try:
                await self.admin.set_secret(staff.id, "password", password)
            except (CoreError, StoreError) as exc:
                return _error(None, "internal", f"密码未能保存 the password was not stored: {exc}")
            staff = self.config.staff_member(staff.id)
        if not ok or staff is None:
            limits.pin_failed(where, staff_id if staff is not None else None)
            return _error(None, "unauthorized",
                          "工号或密码错误，或无控制台权限 wrong id or password, or no console role")
        limits.hello_ok(address)
        limits.pin_ok(staff.id)
        self._purge()
        token = self.sessions.open(staff)
        self.service.store.console.add_audit(self.config.id, self.clock(), staff.id, "login",
                                             f"staff:{staff.id}", {"address": address})
        return {"type": "ok", "grant": self.grants.issue(token)}

    async def _session_socket(self, ws: ServerConnection, active: Active) -> None:
        self.live[ws] = active
        await ws.send(self._floor_text())
        while True:
            left = self.sessions.left(active)
            if left <= 0:
                await ws.close(CLOSE_EXPIRED, "session expired")
                return
            try:
                frame = await asyncio.wait_for(ws.recv(), min(left, REFRESH_S))
            except TimeoutError:
                await ws.send(self._floor_text())
                continue
            msg = _decode(frame)
            if isinstance(msg, protocol.ProtocolError):
                # Named by its id when that one could be read cleanly.
                await ws.send(json.dumps(_error(msg.re, "bad_request", msg.message),
                                         ensure_ascii=False))
                continue
            reply = self._request(active, msg)
            if asyncio.iscoroutine(reply):
                reply = await reply  # a configuration change (its hashing off the loop)
            elif callable(reply):
                # Reading a period's events from the store: off the event loop.
                reply = await asyncio.to_thread(reply)
                self._keep_csv(active.digest, reply)
            await ws.send(json.dumps(reply, ensure_ascii=False))
            if reply.get("type") == "ok" and msg.get("do") == "logout":
                await ws.close(CLOSE_EXPIRED, "logged out")
                return

    def _request(self, active: Active, msg: dict[str, Any]
                 ) -> dict[str, Any] | Callable[[], dict[str, Any]] \
            | Coroutine[Any, Any, dict[str, Any]]:
        """The reply, or (a report) the function that computes it off the loop,
        or (a configuration change) the coroutine that makes it."""
        rid = msg.get("id")
        if not active.csrf_ok(msg.get("csrf")):
            return _error(rid, "forbidden",
                          "CSRF 令牌无效，请刷新页面 missing or wrong CSRF token; reload the page")
        if self.sessions.left(active) <= 0 or not session_allowed(
                self.config.staff_member(active.staff.id)):
            return _error(rid, "unauthorized", "会话已过期 the session has expired; log in again")
        self.sessions.touch(active)
        do = msg.get("do")
        try:
            if do == "logout":
                self.sessions.end(active)
                self.service.store.console.add_audit(self.config.id, self.clock(),
                                                     active.staff.id, "logout",
                                                     f"staff:{active.staff.id}", {})
                return {"type": "ok", "re": rid}
            if do == "ack":
                done = self.actions.ack(active.staff, str(msg.get("alert") or ""))
                self._schedule_push()
                return {"type": "ok", "re": rid, "acked": done}
            if do == "followups":
                return {"type": "ok", "re": rid,
                        "followups": self.service.feature(FollowUps).list(None)}
            if do == "report":
                return functools.partial(self._report, rid, msg)
            if do in ("config", "config_edit", "config_undo"):
                return self._configure(rid, active, msg)
            if do == "assign":
                return self._assign(rid, active, msg)
            if do == "audit":
                rows = self.service.store.console.audit_log(self.config.id, 100)
                return {"type": "ok", "re": rid, "audit": [
                    {"id": r.id,
                     "at": r.at.astimezone(self.config.tz).isoformat(timespec="seconds"),
                     "staff": r.staff, "action": r.action, "target": r.target,
                     "detail": r.detail} for r in rows]}
            if self.service.failed is not None:
                return _error(rid, "internal", "大厅暂不可用 the hall is unavailable; try again")
            result = self.actions.run(active.staff, msg)
        except CoreError as exc:
            return _error(rid, exc.code, str(exc))
        except (StoreError, Unavailable):
            return _error(rid, "internal", "数据库不可用 the database is unavailable; try again")
        if result.events:
            self.host.broadcast(result.events)
        return {"type": "ok", "re": rid, **result.message}

    async def _configure(self, rid: Any, active: Active, msg: dict[str, Any]) -> dict[str, Any]:
        """``config`` (read), ``config_edit``, ``config_undo``: admin only."""
        staff = self.config.staff_member(active.staff.id) or active.staff
        do = msg.get("do")
        try:
            if "admin" not in staff.roles:
                return _error(rid, "forbidden",
                              "只有管理员可以查看和修改配置 admins only")
            if do == "config":
                return {"type": "ok", "re": rid, **self.admin.view()}
            if do == "config_edit":
                done = await self.admin.edit(staff, msg)
                if msg.get("op") == "staff_disable":
                    self._close_counters_of(staff, str(msg.get("staff")))
            else:
                entry = msg.get("audit")
                # (an id past the column's 32 bits is no entry: PostgreSQL would refuse it)
                if not isinstance(entry, int) or isinstance(entry, bool) \
                        or not 0 < entry < 2**31:
                    return _error(rid, "bad_request", "audit must be an audit entry id")
                done = await self.admin.undo(staff, entry)
        except CoreError as exc:
            return _error(rid, exc.code, str(exc))
        except (StoreError, StaleState):
            return _error(rid, "internal", "数据库不可用 the database is unavailable; try again")
        self._schedule_push()
        return {"type": "ok", "re": rid, **done, **self.admin.view()}

    def _close_counters_of(self, by: Staff, staff_id: str) -> None:
        """A disabled staff member's open or paused counters are closed (each
        an audited ``close``, as from the floor)."""
        for state in self.service.hall.counter_states():
            if state.state != "closed" and state.staff_id == staff_id:
                try:
                    result = self.actions.run(by, {"do": "close", "counter": state.number})
                except (CoreError, StoreError, Unavailable) as exc:
                    log.warning("counter %d of disabled %s not closed: %s", state.number,
                                staff_id, exc)
                    continue
                if result.events:
                    self.host.broadcast(result.events)

    def _assign(self, rid: Any, active: Active, msg: dict[str, Any]) -> dict[str, Any]:
        """``assign``: services for a counter today (an extra counter for a service)."""
        counter, services = msg.get("counter"), msg.get("services")
        if not isinstance(counter, int) or isinstance(counter, bool) \
                or not isinstance(services, list) \
                or not all(isinstance(s, str) and s for s in services) or len(services) > 50:
            return _error(rid, "bad_request", "counter (number) and services (ids) needed")
        if self.service.failed is not None:
            return _error(rid, "internal", "大厅暂不可用 the hall is unavailable; try again")
        try:
            done = self.admin.assign(active.staff, counter, tuple(services))
        except CoreError as exc:
            return _error(rid, exc.code, str(exc))
        except StoreError:
            return _error(rid, "internal", "数据库不可用 the database is unavailable; try again")
        self._schedule_push()
        return {"type": "ok", "re": rid, **done}

    def upkeep(self) -> None:
        """Periodic (the server's ticker): at most every :data:`CONFIG_POLL_S`,
        serve a configuration version another process stored meanwhile."""
        now = time.monotonic()
        if now < self._next_poll:
            return
        self._next_poll = now + CONFIG_POLL_S
        try:
            if self.admin.follow():
                self._schedule_push()
        except StoreError as exc:
            log.warning("cannot read the configuration versions: %s", exc)

    def _purge(self) -> None:
        """Ended and timed-out sessions go (at most once a minute, at a login)."""
        now = time.monotonic()
        if now >= self._next_purge:
            self._next_purge = now + 60.0
            self.sessions.purge()

    def _keep_csv(self, session: str, reply: dict[str, Any]) -> None:
        """Keep a report's CSV for its download (GET report.csv), on the loop."""
        text = reply.pop(CSV_KEY, None)
        if text is None:
            return
        now = time.monotonic()
        for key in [k for k, (_t, until) in self._csv_ready.items() if until < now]:
            del self._csv_ready[key]
        self._csv_ready[(session, reply["from"], reply["to"])] = (text, now + CSV_KEEP_S)

    def _report(self, rid: Any, msg: dict[str, Any]) -> dict[str, Any]:
        try:
            first, last = self._period(str(msg.get("from") or ""), str(msg.get("to") or ""))
        except ValueError as exc:
            return _error(rid, "bad_request", str(exc))
        now = self.clock()
        rep = report.build(self.config, self.service.store, first, last, now)
        # 好差评 per day: the hall row of each day's own report (at most DAYS_LISTED).
        days = []
        day = max(first, last - dt.timedelta(days=DAYS_LISTED - 1))
        while day <= last:
            hall = report.build(self.config, self.service.store, day, day, now).total.row()
            days.append({"date": str(day), **{k: hall[k] for k in DAY_COLUMNS}})
            day += dt.timedelta(days=1)
        return {"type": "ok", "re": rid, "from": str(first), "to": str(last),
                "rows": [f.row() for f in rep.all_rows()], "scores": rep.scores, "days": days,
                # The CSV of this period, for the download link (kept by _keep_csv).
                CSV_KEY: report.to_csv(rep)}

    # ------------------------------------------------------------------ push
    def committed(self, events: list[dict[str, Any]]) -> None:
        """Committed hall events: push the floor once this loop turn is over."""
        if events and self.live:
            self._schedule_push()

    def _schedule_push(self) -> None:
        if not self._push_scheduled:
            self._push_scheduled = True
            # At most one floor per PUSH_GAP_S: building it copies every ticket
            # of the day, and a busy hall commits many batches a second.
            wait = self._last_push + PUSH_GAP_S - time.monotonic()
            asyncio.get_running_loop().call_later(max(0.0, wait), self._push)

    def _push(self) -> None:
        self._push_scheduled = False
        self._last_push = time.monotonic()
        if not self.live:
            return
        text = self._floor_text()
        for ws in list(self.live):
            if ws in self._sending:
                self._stale.add(ws)
            else:
                self._sending.add(ws)
                asyncio.get_running_loop().create_task(self._send_floor(ws, text))

    async def _send_floor(self, ws: ServerConnection, text: str) -> None:
        try:
            await ws.send(text)
        except ConnectionClosed:
            pass
        finally:
            self._sending.discard(ws)
        if ws in self._stale and ws in self.live:
            self._stale.discard(ws)
            self._schedule_push()

    def _floor_text(self) -> str:
        now = self.clock()
        svc = self.service
        view = floor.build(svc.hall, self.config, svc.faults, now)
        for c in view["counters"]:  # services assigned for today (an extra counter)
            configured = svc.base_config.counter(c["number"])
            c["assigned"] = configured is not None and \
                tuple(c["services"]) != configured.services
        cases = svc.feature(FollowUps).list("open")
        found = alerts.evaluate(view, self.config, cases,
                                svc.store.console.acks(self.config.id))
        return json.dumps({"type": "floor", "floor": view, "alerts": found},
                          ensure_ascii=False)


def _peer(conn: ServerConnection) -> str:
    """The peer's IP address (the key of per-source limits, as serve.py's)."""
    peer = conn.remote_address
    return str(peer[0]) if isinstance(peer, tuple) and peer else "?"


def _decode(frame: str | bytes) -> dict[str, Any] | protocol.ProtocolError:
    """The request object, or why the frame is refused (``bad_request``).

    The device protocol's decoder (server/wire/protocol.py) checks every value
    to the end: a lone surrogate, a control character, a number past 2**53,
    NaN, a duplicate key or deep nesting is refused here, so no reply echoes
    text that cannot be sent and no request reaches SQL with an integer the
    database cannot hold.
    """
    if not isinstance(frame, str) or len(frame) > MAX_REQUEST:
        return protocol.ProtocolError(
            "bad_request", f"请求格式错误 bad request: a JSON text frame of at most "
            f"{MAX_REQUEST} characters, please")
    try:
        return protocol.decode(frame)
    except protocol.ProtocolError as exc:
        exc.message = f"请求格式错误 bad request: {exc.message}"
        return exc
