"""The counter client's model: plain Python, no Qt.

:class:`CounterModel` (the counter app's view of its counter; the core's
``CounterModel`` is the server's record of one) applies what the server says (the welcome snapshot,
events, replies to our requests) and turns the staff's intents into
requests. It decides which actions are legal right now, so the view can
enable exactly those buttons, and it says why the others are not.

The server's answer is the truth: this module never guesses a ticket into
a state the server did not report. Legality here is only a filter so a
button that would certainly fail is not offered; a ``conflict`` reply still
wins, refreshes the waiting list and is shown to the staff member.

Usage (what ``counter/app.py`` does)::

    state = CounterModel()
    state.apply_welcome(welcome)            # after each (re)connect
    req = state.intent("call_next")         # raises NotLegal if it is not
    reply = link.request(req.type, **req.fields)
    ...
    state.apply_reply(req, reply_message)
    state.apply_event(event_message)
    if state.take_queue_refresh(): link.request("queue")
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from counter.keys import ACTIONS
from server.wire import lifecycle
from server.wire.clock import utcnow
from server.wire.lifecycle import ACTIVE
from server.wire.readers import counter_number, parse_time

__all__ = [
    "ACTIONS", "ACTIVE", "RULES", "ERROR_TEXT", "Request", "Message", "Figures",
    "NotLegal", "CounterModel", "UNDO_S", "format_duration", "parse_time",
]

#: Seconds the counter may undo its no-show (the server's NO_SHOW_UNDO_S).
UNDO_S = 30

#: Which status of the current ticket each ticket action needs (the
#: lifecycle table as a client sees it). ``None``: needs *no* current ticket.
RULES: dict[str, tuple[str, ...] | None] = {
    "call_next": None,
    "call": None,
    **{action: lifecycle.allowed_from(action)
       for action in ("recall", "start", "complete", "no_show", "transfer", "route_back",
                      "route_end")},
}

#: What an error code means to the staff member (Chinese first, English second).
ERROR_TEXT: dict[str, str] = {
    "queue_empty": "当前没有等候的号  No one is waiting",
    "conflict": "操作冲突，已刷新  Conflict: the view was refreshed",
    "unauthorized": "工号或密码错误  Wrong staff id or PIN",
    "rate_limited": "尝试次数过多，请稍后再试  Too many attempts, try again later",
    "not_found": "未找到该号或业务  Not found",
    "closed": "该窗口或业务当前不办理  That counter or service is closed now",
    "expired": "已超过时限  Too late",
    "forbidden": "本设备无权执行此操作  This device may not do that",
    "timeout": "服务器无应答，请重试  No answer from the server, try again",
    "offline": "网络已断开，操作未完成  Offline: the action did not go through",
    "bad_request": "请求无效  Invalid request",
    "internal": "服务器内部错误，请联系管理员  Server error, call the administrator",
}

#: Why an action is not legal, for button tooltips.
_WHY = {
    "offline": "网络未连接  Not connected",
    "login": "请先登录  Log in first",
    "busy": "正在处理上一个操作  Waiting for the server",
    "paused": "窗口暂停中  The counter is paused",
    "closed": "窗口未开放  The counter is closed",
    "has_ticket": "请先办结或过号当前号  Finish the current ticket first",
    "no_ticket": "没有当前号  No current ticket",
    "empty": "没有等候的号  No one is waiting",
    "no_target": "没有可转移的目标  Nowhere to transfer to",
    "no_route": "不是联办件  Not a joint-approval case",
    "first_step": "已是第一步，无法退回  Already at the first step",
    "no_reason": "请填写原因  Give a reason",
}

_STATUS_TEXT = {
    "waiting": "等候中  Waiting",
    "called": "已呼叫  Called",
    "serving": "办理中  Serving",
    "done": "已办结  Done",
    "no_show": "已过号  No-show",
    "cancelled": "已取消  Cancelled",
}


class NotLegal(Exception):
    """The action is not legal now; ``str(exc)`` says why (for the staff)."""


@dataclass(frozen=True)
class Request:
    """A request to send: ``link.request(req.type, **req.fields)``."""

    type: str
    fields: dict[str, Any] = field(default_factory=dict)
    relogin: bool = False  # a login re-sent by us after a reconnect


@dataclass(frozen=True)
class Message:
    """A line for the status bar. ``level``: info | ok | warn | error."""

    level: str
    text: str


@dataclass
class Figures:
    """Today's figures for one counter or one staff member."""

    served: int = 0
    no_shows: int = 0
    service_s_total: float = 0.0
    timed: int = 0  # served tickets whose service time is known

    @property
    def avg_service_s(self) -> float | None:
        return self.service_s_total / self.timed if self.timed else None

    def summary(self) -> str:
        """``已办 23 · 平均 6:40 · 过号 2``."""
        avg = self.avg_service_s
        avg_text = format_duration(avg) if avg is not None else "--:--"
        return f"已办 {self.served} · 平均 {avg_text} · 过号 {self.no_shows}"


def format_duration(seconds: float | None) -> str:
    """``m:ss`` (``h:mm:ss`` from one hour); negative clock skew shows 0:00."""
    if seconds is None:
        return "--:--"
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _staff(value: Any) -> dict[str, str] | None:
    """Normalise a staff member from the wire: ``{id, name}`` or None."""
    if isinstance(value, dict) and value.get("id"):
        return {"id": str(value["id"]), "name": str(value.get("name") or value["id"])}
    if isinstance(value, str) and value:
        return {"id": value, "name": value}
    return None


class CounterModel:
    """Everything the counter client shows, and the rules for its buttons.

    Link messages use the apps' one vocabulary: :meth:`apply_welcome`,
    :meth:`apply_event`, :meth:`apply_reply`, :meth:`set_status`.

    Args:
        hall_clock: the hall's time, an aware datetime (waited and serving
            times, the undo window, today's figures). The model has no UI
            timers of its own: the window's debounce and refresh are Qt timers.
    """

    def __init__(self, hall_clock: Callable[[], dt.datetime] | None = None) -> None:
        self.hall_clock = hall_clock or utcnow
        self.connection = "offline"  # connecting | online | offline
        self.refused: str | None = None  # the device itself was refused
        self.ever_online = False
        self.hall_name = ""
        self.tz: dt.tzinfo = dt.UTC
        self.counter: int | None = None
        self.counter_name = ""
        self.services: dict[str, dict[str, Any]] = {}
        self.counters: dict[int, dict[str, Any]] = {}
        self.counter_status = "closed"  # open | paused | closed
        self.pause_reason = ""
        self.counter_staff: dict[str, str] | None = None  # who the snapshot says
        self.staff: dict[str, str] | None = None
        self.current: dict[str, Any] | None = None
        self.waiting: list[dict[str, Any]] | None = None  # None: not known yet
        self._inflight: list[str] = []  # mutating requests awaiting a reply
        self._message: Message | None = None
        self._message_key: tuple[Any, ...] = ()
        self.login_error: str | None = None
        self.figures = Figures()
        self.staff_figures: dict[str, Figures] = {}
        self.figures_day: dt.date | None = None
        self._snapshot_seq = 0
        self._last_seq = 0
        self._times: dict[str, dict[str, dt.datetime]] = {}  # ticket id -> called/started
        self._credentials: tuple[str, str] | None = None
        self._queue_wanted = False
        self._relogin_wanted = False
        # The rest of the hall, for the transfer dialog: counter states and
        # how many wait per service (welcome snapshot, then events).
        self.counter_states: dict[int, str] = {}
        self.queue_waiting: dict[str, int] = {}
        self.open_counters: dict[str, int] = {}
        # 过号: this counter's recent no-shows (None: not asked yet) and the
        # one it may still undo, with the deadline.
        self.missed: list[dict[str, Any]] | None = None
        self.undo: tuple[dict[str, Any], dt.datetime] | None = None
        self._missed_wanted = False

    # The status line shows a message only while the screen it was said about
    # is unchanged (current ticket, its status, the waiting count, the
    # counter's state); after that the line is derived from the state again.
    @property
    def message(self) -> Message | None:
        if self._message is not None and self._message_key != self.screen_key():
            self._message = None
        return self._message

    @message.setter
    def message(self, value: Message | None) -> None:
        self._message = value
        self._message_key = self.screen_key()

    def screen_key(self) -> tuple[Any, ...]:
        """What the screen shows that a status message may talk about."""
        cur = getattr(self, "current", None) or {}
        waiting = getattr(self, "waiting", None)
        return (getattr(self, "connection", None), getattr(self, "staff", None) is not None,
                getattr(self, "counter_status", None), cur.get("id"), cur.get("status"),
                None if waiting is None else len(waiting))

    # ------------------------------------------------------------------
    # derived facts
    @property
    def busy(self) -> str | None:
        """The oldest mutating request still waiting for its reply, if any."""
        return self._inflight[0] if self._inflight else None

    @property
    def logged_in(self) -> bool:
        return self.staff is not None

    @property
    def online(self) -> bool:
        return self.connection == "online"

    @property
    def my_services(self) -> tuple[str, ...]:
        info = self.counters.get(self.counter or -1, {})
        return tuple(info.get("services", ()))

    def service_name(self, service_id: str) -> str:
        svc = self.services.get(service_id)
        return str(svc.get("name") or service_id) if svc else service_id

    def status_text(self, status: str) -> str:
        return _STATUS_TEXT.get(status, status)

    def now(self) -> dt.datetime:
        return self.hall_clock()

    def waited_s(self, ticket: dict[str, Any]) -> float | None:
        """How long the citizen has waited: issue to (last) call, or to now."""
        issued = parse_time(ticket.get("issued_at"))
        if issued is None:
            return None
        called = (parse_time(ticket.get("called_at"))
                  or self._times.get(str(ticket.get("id")), {}).get("called"))
        end = called if called is not None and ticket.get("status") in ACTIVE else self.now()
        return (end - issued).total_seconds()

    def serving_s(self) -> float | None:
        """How long the current ticket has been served (None unless serving)."""
        t = self.current
        if not t or t.get("status") != "serving":
            return None
        started = (parse_time(t.get("started_at"))
                   or self._times.get(str(t.get("id")), {}).get("started"))
        return None if started is None else (self.now() - started).total_seconds()

    def staff_today(self) -> Figures:
        """Today's figures of the logged-in staff member (zero when logged out)."""
        if not self.staff:
            return Figures()
        return self.staff_figures.get(self.staff["id"], Figures())

    def transfer_targets(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(services, counters) the current ticket may be transferred to.

        Every service of the hall but the ticket's own, and every other
        counter that is open (the server refuses a closed or paused one:
        nobody would call the ticket there).
        """
        own = (self.current or {}).get("service")
        services = [s for sid, s in self.services.items() if sid != own]
        counters = [c for n, c in sorted(self.counters.items())
                    if n != self.counter and self.counter_states.get(n) == "open"]
        return services, counters

    def counter_waiting(self, number: int) -> int:
        """How many wait for the services of counter ``number`` (hall-wide figures)."""
        services = self.counters.get(number, {}).get("services", ())
        return sum(self.queue_waiting.get(sid, 0) for sid in services)

    def undo_left_s(self) -> float:
        """Seconds left to undo the last no-show (0 when there is none)."""
        if self.undo is None:
            return 0.0
        return max(0.0, (self.undo[1] - self.now()).total_seconds())

    def why_not_undo(self) -> str | None:
        """Why 撤销过号 is not possible now, or None."""
        why = self.why_not_requeue()  # online, logged in, idle
        if why:
            return why
        if self.undo_left_s() <= 0:
            return "没有可撤销的过号  Nothing to undo"
        if self.current and self.current.get("status") in ACTIVE:
            return _WHY["has_ticket"]
        if self.counter_status != "open":
            return _WHY["paused"] if self.counter_status == "paused" else _WHY["closed"]
        return None

    def why_not_requeue(self) -> str | None:
        """Why 过号重排 from the missed list is not possible now, or None
        (online, logged in, no request in flight)."""
        if not self.online:
            return _WHY["offline"]
        if not self.logged_in:
            return _WHY["login"]
        if self.busy:
            return _WHY["busy"]
        return None

    def find_waiting(self, number_or_id: str) -> dict[str, Any] | None:
        """The waiting ticket with this number (case-insensitive) or id."""
        key = number_or_id.strip().upper()
        for t in self.waiting or ():
            if str(t.get("number", "")).upper() == key or str(t.get("id")) == number_or_id:
                return t
        return None

    # ------------------------------------------------------------------
    # legality
    def why_not(self, action: str) -> str | None:
        """Why ``action`` is not legal now, or None when it is."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        if not self.online:
            return _WHY["offline"]
        if not self.logged_in:
            return _WHY["login"]
        if self.busy:
            return _WHY["busy"]
        active = bool(self.current and self.current.get("status") in ACTIVE)
        if action == "pause":
            # Pause/resume is one toggle key; pausing with a citizen at the
            # window would strand them, so finish first.
            if self.counter_status == "paused":
                return None
            if self.counter_status != "open":
                return _WHY["closed"]
            return _WHY["has_ticket"] if active else None
        rule = RULES[action]
        if rule is None:  # call_next / call: a free, open counter
            if self.counter_status == "paused":
                return _WHY["paused"]
            if self.counter_status != "open":
                return _WHY["closed"]
            if active:
                return _WHY["has_ticket"]
            if self.waiting is not None and not self.waiting:
                return _WHY["empty"]
            return None
        status = str((self.current or {}).get("status", ""))
        if not active:
            return _WHY["no_ticket"]
        if status not in rule:
            return f"当前号状态为{self.status_text(status)}，不能执行此操作"
        if action == "transfer" and not any(self.transfer_targets()):
            return _WHY["no_target"]
        if action in ("route_back", "route_end") and not (self.current or {}).get("route"):
            return _WHY["no_route"]
        if action == "route_back" and not int((self.current or {}).get("step") or 0):
            return _WHY["first_step"]
        return None

    def legal(self, action: str) -> bool:
        return self.why_not(action) is None

    def can_logout(self) -> bool:
        """Logout is offered when online, idle, and no citizen is at the window."""
        active = bool(self.current and self.current.get("status") in ACTIVE)
        return self.online and self.logged_in and not self.busy and not active

    # ------------------------------------------------------------------
    # intents -> requests
    def intent(self, action: str, **fields: Any) -> Request:
        """Turn a staff action into a request, or raise :class:`NotLegal`.

        ``pause`` becomes ``resume`` when the counter is paused (one key
        toggles). ``call`` needs ``ticket`` (an id or a number from the
        waiting list); ``transfer`` needs exactly one of ``service`` or
        ``counter``; ``pause`` takes an optional ``reason``.
        """
        if action in ("unmiss", "requeue"):
            return self._missed_intent(action, fields)
        why = self.why_not(action)
        if why:
            raise NotLegal(why)
        if action == "pause":
            if self.counter_status == "paused":
                req = Request("resume")
            else:
                reason = str(fields.get("reason") or "").strip()
                req = Request("pause", {"reason": reason} if reason else {})
        elif action == "call":
            target = self.find_waiting(str(fields.get("ticket") or ""))
            if target is None:
                raise NotLegal(f"等候队列中没有 {fields.get('ticket')!s}  Not in the waiting list")
            req = Request("call", {"ticket": target["id"]})
        elif action == "transfer":
            req = self._transfer_request(fields)
        elif action in ("route_back", "route_end"):
            req = self._route_request(action, fields)
        else:
            req = Request(action)
        self._inflight.append(req.type)
        self.message = None
        return req

    def _missed_intent(self, action: str, fields: dict[str, Any]) -> Request:
        """撤销过号 (``unmiss``: the last no-show) or 过号重排 (``requeue {ticket}``)."""
        if action == "unmiss":
            why = self.why_not_undo()
            if why:
                raise NotLegal(why)
            assert self.undo is not None
            req = Request("unmiss", {"ticket": str(self.undo[0].get("id"))})
        else:
            why = self.why_not_requeue()
            if why:
                raise NotLegal(why)
            tid = str(fields.get("ticket") or "")
            if not any(str(t.get("id")) == tid for t in self.missed or ()):
                raise NotLegal("请在过号列表中选择一个号  Pick a ticket from the missed list")
            req = Request("requeue", {"ticket": tid})
        self._inflight.append(req.type)
        self.message = None
        return req

    def take_missed_refresh(self) -> bool:
        """True once after something changed this counter's missed list."""
        wanted, self._missed_wanted = self._missed_wanted, False
        return wanted and self.online and self.logged_in

    def _route_request(self, action: str, fields: dict[str, Any]) -> Request:
        """``route_back`` (材料补正: ``step`` default the previous one) or
        ``route_end``; both need a ``reason``."""
        reason = str(fields.get("reason") or "").strip()
        if not reason:
            raise NotLegal(_WHY["no_reason"])
        if action == "route_end":
            return Request("route_end", {"reason": reason})
        here = int((self.current or {}).get("step") or 0)
        step = fields.get("step", here - 1)
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < here:
            raise NotLegal(f"只能退回到之前的步骤 (1-{here})  Only back to an earlier step")
        return Request("route_back", {"step": step, "reason": reason})

    def route_steps(self) -> list[tuple[int, str]]:
        """The current route ticket's earlier steps: (index, "第 n 步 service name")."""
        ticket = self.current or {}
        route = ticket.get("route") or []
        here = int(ticket.get("step") or 0)
        return [(i, f"第 {i + 1} 步  {self.service_name(str(sid))}")
                for i, sid in enumerate(route[:here])]

    def _transfer_request(self, fields: dict[str, Any]) -> Request:
        service, counter = fields.get("service"), fields.get("counter")
        if (service is None) == (counter is None):
            raise NotLegal("请选择一个业务或一个窗口  Choose one service or one counter")
        services, counters = self.transfer_targets()
        if service is not None:
            if service not in {s["id"] for s in services}:
                raise NotLegal(f"不能转到业务 {service}  Not a transfer target")
            return Request("transfer", {"service": service})
        number = counter_number(counter)
        if number is not None and number in self.counters and number != self.counter \
                and self.counter_states.get(number) != "open":
            raise NotLegal(f"{self.counters[number].get('name') or number} 未开放，不能转入  "
                           "That counter is not open")
        if number is None or number not in {c["number"] for c in counters}:
            raise NotLegal(f"不能转到窗口 {counter}  Not a transfer target")
        return Request("transfer", {"counter": number})

    def login(self, staff: str, pin: str) -> Request:
        """The login request; raises :class:`NotLegal` on empty fields or offline."""
        staff, pin = staff.strip(), pin.strip()
        if not staff or not pin:
            raise NotLegal("请输入工号和密码  Enter your staff id and PIN")
        if not self.online:
            raise NotLegal(_WHY["offline"])
        if self.busy:
            raise NotLegal(_WHY["busy"])
        self._inflight.append("login")
        self.login_error = None
        self._credentials = (staff, pin)
        return Request("login", {"staff": staff, "pin": pin})

    def logout(self) -> Request:
        if not self.can_logout():
            raise NotLegal(_WHY["has_ticket"] if self.logged_in and self.online
                           and not self.busy else _WHY["busy"] if self.busy else _WHY["offline"])
        self._inflight.append("logout")
        return Request("logout")

    def take_queue_refresh(self) -> bool:
        """True once after something changed the waiting list (debounce in the app)."""
        wanted, self._queue_wanted = self._queue_wanted, False
        return wanted and self.online and self.logged_in

    def take_relogin(self) -> Request | None:
        """After a reconnect, the login to send again (sessions are per connection)."""
        if not self._relogin_wanted or not self._credentials or not self.online:
            return None
        self._relogin_wanted = False
        staff, pin = self._credentials
        self._inflight.append("login")
        return Request("login", {"staff": staff, "pin": pin}, relogin=True)

    # ------------------------------------------------------------------
    # connection
    def set_status(self, status: str) -> None:
        """Link status: ``connecting`` | ``online`` | ``offline``."""
        if status not in ("connecting", "online", "offline"):
            raise ValueError(f"unknown link status {status!r}")
        self.connection = status
        if status == "online":
            self.ever_online = True

    def set_refused(self, message: dict[str, Any]) -> None:
        """The server refused this device (bad token, old protocol): final."""
        code = str(message.get("code", ""))
        detail = str(message.get("message") or code)
        self.refused = (f"设备被服务器拒绝：{detail}  The server refused this device "
                        f"({code}); check --device and --token-file")
        self.connection = "offline"

    # ------------------------------------------------------------------
    # server -> state
    def apply_welcome(self, welcome: dict[str, Any]) -> None:
        """Take the welcome: hall, our counter, and the authoritative snapshot."""
        hall = welcome.get("hall") or {}
        self.hall_name = str(hall.get("name", ""))
        try:
            self.tz = zoneinfo.ZoneInfo(str(hall.get("timezone") or "UTC"))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.tz = dt.UTC
        self.services = {str(s["id"]): dict(s) for s in hall.get("services", ()) if "id" in s}
        self.counters = {}
        for c in hall.get("counters", ()):
            number = counter_number(c)
            if number is not None:
                self.counters[number] = {**c, "number": number,
                                         "services": list(c.get("services", ()))}
        self.counter = counter_number(welcome.get("counter"))
        info = self.counters.get(self.counter or -1, {})
        self.counter_name = str(info.get("name") or
                                (f"{self.counter}号窗口" if self.counter else ""))
        snap = welcome.get("snapshot") or {}
        counters = snap.get("counters") or {}
        self.counter_states = {}
        for key, info in counters.items():
            number = counter_number(key)
            if number is not None and isinstance(info, dict):
                self.counter_states[number] = str(info.get("state") or "closed")
        self._take_queues(snap.get("queues") or {})
        self._missed_wanted = True
        mine = counters.get(str(self.counter)) or counters.get(self.counter) or {}
        was = self.staff
        self.counter_status = str(mine.get("state") or "closed")
        self.pause_reason = str(mine.get("reason") or "")
        snap_staff = _staff(mine.get("staff"))
        current = mine.get("current")
        self.current = dict(current) if isinstance(current, dict) else None
        if self.current and self.current.get("status") not in ACTIVE:
            self.current = None
        self.counter_staff = snap_staff
        seq = welcome.get("seq")
        if isinstance(seq, int):
            # Replays (seq <= this) follow; they only feed today's figures.
            self._snapshot_seq = seq
            if not self._last_seq:
                self._last_seq = seq
        # A request in flight before the loss stays in flight: the link
        # resends it with the same id and its reply clears it.
        self.waiting = None
        self._queue_wanted = True
        if was is None or not self._credentials:
            self.staff = None
        elif snap_staff and snap_staff["id"] == was["id"] and self.counter_status != "closed":
            # The server keeps the staff session per counter: still ours.
            self.staff = snap_staff
        elif snap_staff is None:
            # The counter was closed meanwhile (e.g. the server restarted
            # without it): log in again silently with what the staff typed.
            self.staff = was
            self._relogin_wanted = True
        else:
            # Someone else logged in to this counter: never take it back.
            self.staff = None
            self._credentials = None
            self.message = Message("warn", f"本窗口已由 {snap_staff['name']} 登录  "
                                           "Another staff member took this counter")
        self._roll_day()

    def apply_event(self, event: dict[str, Any]) -> None:
        """Apply one event (replays after a reconnect included)."""
        seq = event.get("seq")
        replay = False
        if isinstance(seq, int):
            if seq <= self._last_seq:
                return  # seen already (the link should not repeat; be safe)
            replay = seq <= self._snapshot_seq
            self._last_seq = seq
        name = str(event.get("name", ""))
        data = event.get("data") or {}
        at = parse_time(event.get("at")) or self.now()
        ticket = data.get("ticket") if isinstance(data.get("ticket"), dict) else None
        counter = counter_number(data.get("counter"))
        if counter is None and ticket is not None:
            counter = counter_number(ticket.get("counter"))
        self._count(name, data, ticket, counter, at)
        if replay:
            # The snapshot is newer than a replayed event: only the figures
            # learn from it, the state must not go back in time.
            return
        if name.startswith("counter.") and counter is not None:
            state = {"counter.opened": "open", "counter.resumed": "open",
                     "counter.paused": "paused", "counter.closed": "closed"}.get(name)
            if state is not None:
                self.counter_states[counter] = state
        if name == "queue.changed":
            self._take_queues({data.get("service"): data})
        if name.startswith("ticket.") and ticket is not None:
            self._apply_ticket_event(name, ticket, counter, at)
            if name in ("ticket.no_show", "ticket.requeued", "ticket.no_show_undone") \
                    and counter == self.counter:
                self._missed_wanted = True
        elif name.startswith("counter.") and counter == self.counter:
            self._apply_counter_event(name, data)
        elif name == "queue.changed" and data.get("service") in self.my_services:
            self._queue_wanted = True

    def _take_queues(self, queues: dict[Any, Any]) -> None:
        for sid, q in queues.items():
            if not isinstance(sid, str) or not isinstance(q, dict):
                continue
            if isinstance(q.get("waiting"), int):
                self.queue_waiting[sid] = q["waiting"]
            if isinstance(q.get("open_counters"), int):
                self.open_counters[sid] = q["open_counters"]

    def _apply_ticket_event(self, name: str, ticket: dict[str, Any], counter: int | None,
                            at: dt.datetime) -> None:
        tid = str(ticket.get("id"))
        times = self._times.setdefault(tid, {})
        if name in ("ticket.called", "ticket.recalled"):
            times["called"] = at
        elif name == "ticket.started":
            times["started"] = at
        mine = counter == self.counter
        after = lifecycle.STATUS_AFTER.get(name)
        if after == "called" and mine:  # called, recalled, no-show undone
            self.current = {**ticket, "status": ticket.get("status") or after}
        elif self.current and str(self.current.get("id")) == tid:
            self.current = {**self.current, **ticket}
            if (self.current.get("status") not in ACTIVE
                    or counter_number(self.current.get("counter")) not in (None, self.counter)):
                self.current = None
        # The waiting list: drop a ticket that left it now (so a double
        # click cannot aim at it), and ask the server for the new order.
        if self.waiting is not None and ticket.get("status") != "waiting":
            self.waiting = [t for t in self.waiting if str(t.get("id")) != tid]
        if (ticket.get("service") in self.my_services or mine
                or counter_number(ticket.get("to_counter")) == self.counter
                or name == "ticket.transferred"):
            self._queue_wanted = True

    def _apply_counter_event(self, name: str, data: dict[str, Any]) -> None:
        if name == "counter.paused":
            self.counter_status = "paused"
            self.pause_reason = str(data.get("reason") or "")
        elif name in ("counter.resumed", "counter.opened"):
            self.counter_status = "open"
            self.pause_reason = ""
            staff = _staff(data.get("staff"))
            if name == "counter.opened" and staff and self.staff and staff["id"] != \
                    self.staff["id"]:
                # Someone else logged in to this counter from another device.
                self.staff = None
                self._credentials = None
        elif name == "counter.closed":
            self.counter_status = "closed"
            self.pause_reason = ""
            if self.busy != "login":
                # Not our logout: the clerk logged in at another counter
                # (one staff member is open at one counter) or an admin closed it.
                elsewhere = self.staff is not None and "logout" not in self._inflight
                self.staff = None
                self._credentials = None
                self.current = None
                if elsewhere:  # said after the screen changed, so it stays shown
                    self.message = Message(
                        "warn", "本窗口已关闭（可能已在其他窗口登录）  This counter was closed "
                        "(logged in at another counter?)")

    def apply_reply(self, request: Request, reply: dict[str, Any]) -> None:
        """Apply the server's answer to ``request`` (ok or error)."""
        if request.type in self._inflight:
            self._inflight.remove(request.type)
        ok = reply.get("type") == "ok"
        if request.type == "queue":
            if ok and isinstance(reply.get("waiting"), list):
                self.waiting = [dict(t) for t in reply["waiting"] if isinstance(t, dict)]
            return
        if request.type == "stats":
            if ok:
                self._seed_figures(reply)
            return
        if request.type == "missed":
            if ok and isinstance(reply.get("missed"), list):
                self.missed = [dict(t) for t in reply["missed"] if isinstance(t, dict)]
            return
        if request.type == "login":
            self._login_reply(request, reply, ok)
            return
        if not ok:
            self._error_reply(request, reply)
            return
        if request.type == "logout":
            self.staff = None
            self._credentials = None
            self.counter_status = "closed"
            self.current = None
            self.message = Message("info", "已退出登录  Logged out")
            return
        if request.type in ("pause", "resume"):
            self.counter_status = "paused" if request.type == "pause" else "open"
            self.pause_reason = str(request.fields.get("reason", "")) if request.type == \
                "pause" else ""
            return
        ticket = reply.get("ticket")
        if isinstance(ticket, dict):
            self._apply_ticket_reply(request, ticket)

    def _apply_ticket_reply(self, request: Request, ticket: dict[str, Any]) -> None:
        now = self.now()
        tid = str(ticket.get("id"))
        times = self._times.setdefault(tid, {})
        if request.type != "no_show" and request.type not in ("recall", "start"):
            self.undo = None  # any other action ends the chance to undo
        if request.type == "requeue":
            self._missed_wanted = True
            if self.missed is not None:
                self.missed = [t for t in self.missed if str(t.get("id")) != tid]
            self.message = Message("ok", f"{ticket.get('number', '')} 已重新排队  Re-queued "
                                         f"({ticket.get('ahead', 0)} 人在前 ahead)")
            self._queue_wanted = True
            return
        if request.type == "unmiss":
            self.current = {**ticket, "status": ticket.get("status") or "called"}
            self._missed_wanted = True
            self.message = Message("ok", f"已撤销 {ticket.get('number', '')} 的过号  "
                                         "No-show undone")
            self._queue_wanted = True
            return
        if request.type in ("call_next", "call", "recall"):
            times["called"] = times.get("called", now) if request.type == "recall" else now
            self.current = {**ticket, "status": ticket.get("status") or "called"}
            if self.waiting is not None:
                self.waiting = [t for t in self.waiting if str(t.get("id")) != tid]
            verb = "重呼" if request.type == "recall" else "已呼叫"
            self.message = Message("ok", f"{verb} {ticket.get('number', '')}")
        elif request.type == "start":
            times.setdefault("started", now)
            self.current = {**ticket, "status": ticket.get("status") or "serving"}
        else:  # complete / no_show / transfer: the ticket leaves this counter
            self.current = None
            if request.type == "no_show":
                self.undo = (dict(ticket), now + dt.timedelta(seconds=UNDO_S))
                self._missed_wanted = True
            text = {"complete": "已办结  Completed", "no_show": "已过号  No-show",
                    "transfer": "已转移  Transferred",
                    "route_back": "已退回补正  Sent back to an earlier step",
                    "route_end": "已结束联办  Case ended"}
            if request.type == "complete" and ticket.get("status") == "waiting":
                # A joint-approval step: the ticket goes on to its next step by itself.
                text["complete"] = (f"已转下一步: {self.service_name(str(ticket.get('service')))}"
                                    "  Sent on to the next step")
            self.message = Message("ok", f"{ticket.get('number', '')} "
                                         f"{text.get(request.type, '')}")
        if self.current and self.current.get("status") not in ACTIVE:
            self.current = None
        self._queue_wanted = True

    def _login_reply(self, request: Request, reply: dict[str, Any], ok: bool) -> None:
        relogin = request.relogin
        if ok:
            staff = _staff(reply.get("staff")) or _staff(request.fields.get("staff"))
            self.staff = staff
            self.login_error = None
            if self.counter_status == "closed":
                self.counter_status = "open"
            self._queue_wanted = True
            if not relogin:
                self.message = Message("ok", f"{staff['name'] if staff else ''} 已登录  Logged in")
            return
        code = str(reply.get("code", ""))
        if code in ("timeout", "offline") and relogin:
            self._relogin_wanted = True  # try again on the next connection
            return
        self.staff = None
        self.current = None if relogin else self.current
        self._credentials = None
        self.login_error = ERROR_TEXT.get(code) or str(reply.get("message") or code)
        if relogin:
            self.message = Message("warn", "请重新登录  Please log in again")

    def _error_reply(self, request: Request, reply: dict[str, Any]) -> None:
        code = str(reply.get("code", ""))
        detail = str(reply.get("message") or "")
        text = ERROR_TEXT.get(code, detail or code)
        if code == "conflict" and detail:
            text = f"操作冲突：{detail}（已刷新） Conflict, view refreshed"
        if code == "unauthorized" and request.type != "login":
            if "login" in self._inflight:
                # A request resent before our re-login reached the server:
                # it did nothing; the staff presses again once logged in.
                text = "连接已恢复，请重试  Reconnected: please try again"
            else:
                text = "登录已失效，请重新登录  Session expired, log in again"
                self.staff = None
                self._credentials = None
        level = "warn" if code in ("queue_empty", "conflict") else "error"
        if code == "queue_empty":
            self.waiting = []  # before the message: it talks about this list
        if request.type in ("unmiss", "requeue"):
            self.undo = None if code in ("expired", "conflict", "forbidden") else self.undo
            self._missed_wanted = True
        self.message = Message(level, text)
        # Whatever went wrong, the waiting list may be stale: ask again.
        self._queue_wanted = True

    # ------------------------------------------------------------------
    # today's figures
    def _roll_day(self) -> None:
        today = self.now().astimezone(self.tz).date()
        if self.figures_day != today:
            self.figures_day = today
            self.figures = Figures()
            self.staff_figures = {}

    def _count(self, name: str, data: dict[str, Any], ticket: dict[str, Any] | None,
               counter: int | None, at: dt.datetime) -> None:
        if name not in ("ticket.completed", "ticket.no_show", "ticket.started"):
            return
        if counter != self.counter or ticket is None:
            return
        tid = str(ticket.get("id"))
        if name == "ticket.started":
            self._times.setdefault(tid, {})["started"] = at
            return
        day = at.astimezone(self.tz).date()
        if self.figures_day != day:
            self.figures_day = day
            self.figures = Figures()
            self.staff_figures = {}
        staff = (_staff(data.get("staff")) or _staff(ticket.get("staff")) or self.staff)
        targets = [self.figures]
        if staff:
            targets.append(self.staff_figures.setdefault(staff["id"], Figures()))
        if name == "ticket.no_show":
            for f in targets:
                f.no_shows += 1
            return
        started = (parse_time(ticket.get("started_at"))
                   or self._times.get(tid, {}).get("started")
                   or parse_time(ticket.get("called_at"))
                   or self._times.get(tid, {}).get("called"))
        for f in targets:
            f.served += 1
            if started is not None:
                f.service_s_total += max(0.0, (at - started).total_seconds())
                f.timed += 1

    def _seed_figures(self, reply: dict[str, Any]) -> None:
        """Take this counter's figures from a ``stats`` reply, if offered.

        The server answers ``{"stats": {"served", "no_shows",
        "avg_service_s", ...}}`` for the device's counter; an older server
        may not know ``stats`` at all (the error is ignored). Staff figures
        stay client-side: the server does not split them by staff member.
        """
        data = reply.get("stats") if isinstance(reply.get("stats"), dict) else reply
        if not isinstance(data, dict) or not isinstance(data.get("served"), int):
            return
        if data.get("counter") not in (None, self.counter):
            return
        served = int(data["served"])
        no_shows = data.get("no_shows", data.get("no_show", 0))
        seeded = Figures(served=served, no_shows=int(no_shows or 0))
        avg = data.get("avg_service_s")
        if isinstance(avg, int | float) and served:
            seeded.service_s_total, seeded.timed = float(avg) * served, served
        self.figures = seeded
