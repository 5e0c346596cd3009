"""The kiosk's screen logic in plain Python (no Qt): what to show, what to send.

:class:`KioskState` holds everything the touch screen shows: which screen is
up, the hall (from the server's welcome), live waiting counts and estimates
(from ``queue.changed`` events), which services are closed or sold out and
why, the ticket just issued and whether it printed. User intents (a tap on a
category, on a service, on the keypad) are methods that change the state and
return the :class:`Request` to send, or ``None`` when nothing must be sent
(a second tap while the first is in flight, a disabled tile, no server).
Replies come back through :meth:`KioskState.apply_reply`; the printer's
outcome through :meth:`KioskState.print_finished`.

The rules that keep a citizen from losing anything:

* No server, no ticket: with the link not ``online`` nothing is issued, and
  the screen says so in both languages. A number is only ever shown when the
  server issued it.
* One tap, one ticket: while an ``issue`` or ``check_in`` is in flight every
  further tap on a service is ignored; the link resends an unanswered request
  with the same id after a reconnect, and the server is idempotent per id.
* A failed print still shows the ticket (large, with its QR code) and reports
  the fault to the server (``report_fault``); the next good print clears it.

Time comes from two injected clocks (each returns an aware ``datetime``): the
UI clock runs the screen's timers (idle timeout, the ticket screen's
auto-return, the double-tap guard); the hall clock says what time it is in the
hall (opening hours, "today" for quotas, the clock on screen). They are the
same clock unless told otherwise; the demo runs the hall on a faster clock
while the screen's timers keep real time.

Messages from the link use the apps' one vocabulary: :meth:`KioskState.apply_welcome`,
:meth:`KioskState.apply_event`, :meth:`KioskState.apply_reply`,
:meth:`KioskState.set_status`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kiosk.search import search
from server.wire.estimate import Estimate, ahead_text, estimate
from server.wire.labels import CATEGORIES
from server.wire.readers import parse_time
from server.wire.where import LABEL, where_text

__all__ = [
    "CATEGORIES",
    "CODE_ALPHABET",
    "CODE_MAX",
    "CODE_MIN",
    "LANGS",
    "SCREENS",
    "TEXT",
    "CategoryTile",
    "KioskState",
    "Notice",
    "PrintJob",
    "Request",
    "ServiceTile",
    "parse_hours",
    "read_scan",
    "status_url",
]

LANGS = ("zh", "en")
SCREENS = ("home", "services", "search", "ticket", "checkin", "priority", "requeue")


#: Keys of the on-screen keypad. Booking and check codes are upper-case
#: letters and digits (the server's check codes are base32).
CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
CODE_MIN, CODE_MAX = 4, 12
#: Search: longest query, most results shown; tiles in the 常用业务 row.
SEARCH_MAX, SEARCH_RESULTS, POPULAR = 20, 12, 4

#: Every text the kiosk shows: key -> (Chinese, English). ``{}`` fields are
#: filled by :meth:`KioskState.text`.
TEXT: dict[str, tuple[str, str]] = {
    "choose": ("请选择业务", "Please choose a service"),
    "choose_in": ("请选择具体事项", "Please choose what you need"),
    "waiting_n": ("{n} 人等候", "{n} waiting"),
    "tile_wait": ("等候 {n} 人 · {est}", "{n} waiting · {est}"),
    "appointment": ("预约签到", "Appointment"),
    "priority": ("优先通道", "Priority"),
    "back": ("返回", "Back"),
    "search": ("搜索业务", "Search"),
    "search_title": ("搜索业务", "Search services"),
    "search_hint": ("输入业务名称或拼音首字母，如 gjj = 公积金",
                    "Type a name or pinyin initials, e.g. gjj = 公积金"),
    "search_none": ("未找到相关业务，请换个词或按类别查找",
                    "No matching service: try another word or browse the categories"),
    "popular": ("常用业务", "Busiest today"),
    "home": ("首页", "Home"),
    "connecting": ("正在连接服务器…", "Connecting to the server…"),
    "offline": ("无法连接服务器，暂停取号，请联系工作人员",
                "Cannot reach the server: no tickets can be issued now. Please ask staff."),
    "refused": ("本机未获授权，请联系工作人员",
                "This kiosk is not authorised by the server. Please ask staff."),
    "issuing": ("正在取号…", "Issuing your ticket…"),
    "take": ("请取走号票", "Please take your ticket"),
    "printing": ("正在打印…", "Printing…"),
    "print_failed": ("打印失败，请拍照或联系工作人员",
                     "Printing failed: take a photo of this screen or ask staff"),
    "scan": ("扫码查看排队进度", "Scan to follow your turn"),
    "tap_return": ("轻触屏幕返回首页", "Tap the screen to return"),
    "priority_mark": ("优先", "Priority"),
    "appointment_mark": ("预约", "Appointment"),
    "closed": ("未到办理时间", "Not open now"),
    "closed_hours": ("办理时间 {hours}", "Hours {hours}"),
    "quota": ("已满号", "Fully booked today"),
    "quota_detail": ("今日号源已发完，请明日再来或预约", "All of today's tickets are issued; "
                     "please come back tomorrow or book"),
    "unavailable": ("暂停取号", "Unavailable"),
    "priority_title": ("优先通道", "Priority lane"),
    "priority_who": ("老年人（65 岁以上）、残疾人、孕妇及军人家属等",
                     "For the elderly (65+), disabled and pregnant visitors, "
                     "and military families"),
    "priority_check": ("工作人员可能查验相关证件，请如实选择",
                       "Staff may check your documents. Please choose honestly."),
    "priority_confirm": ("确认，我符合条件  Confirm: I qualify",
                         "Confirm: I qualify  确认，我符合条件"),
    "priority_active": ("优先通道：请选择业务  Priority lane: please choose a service",
                        "Priority lane: please choose a service  优先通道：请选择业务"),
    "checkin_title": ("预约签到", "Appointment check-in"),
    "checkin_hint": ("请输入预约码", "Enter your booking code"),
    "checkin_submit": ("确认签到", "Check in"),
    "clear": ("清除", "Clear"),
    "delete": ("删除", "Delete"),
    "code_short": ("预约码至少 {n} 位", "The booking code has at least {n} characters"),
    "code_not_found": ("未找到该预约码，请核对后重试", "Booking code not found: please check it"),
    "code_expired": ("预约已过签到时间，请联系工作人员",
                     "This booking is outside its check-in time. Please ask staff."),
    "code_early": ("未到签到时间，请于 {when} 起签到",
                   "Check-in is not open yet: please check in from {when}"),
    "code_early_plain": ("未到签到时间，请在预约时段前再来签到",
                         "Check-in is not open yet: please come back closer to your slot"),
    "code_used": ("该预约码已签到或已取消，如有疑问请联系工作人员",
                  "This booking code was already checked in or cancelled. "
                  "Please ask staff if in doubt."),
    "no_answer": ("服务器未响应，未出号，请重试或联系工作人员",
                  "The server did not answer: no ticket was issued. "
                  "Please try again or ask staff."),
    "rate_limited": ("取号过于频繁，请稍候再试", "Too many tickets at once: please wait a moment"),
    "not_found": ("该业务已不存在，请选择其他业务", "This service no longer exists"),
    "failed": ("出号失败：{msg}", "No ticket issued: {msg}"),
    "requeue": ("过号重排", "Missed your call?"),
    "requeue_title": ("过号重排", "Re-queue a missed ticket"),
    "requeue_hint": ("请扫描号票上的二维码，或输入号码（如 A001）",
                     "Scan the QR code on your ticket, or enter its number (e.g. A001)"),
    "requeue_submit": ("重新排队", "Re-queue"),
    "requeue_short": ("请输入完整号码，如 A001", "Enter the whole number, e.g. A001"),
    "requeue_done": ("{number} 已重新排队", "{number} is back in the queue"),
    # A ticket taken on a phone, scanned on arrival: the server marks it present.
    "requeue_arrived": ("{number} 已确认到达", "{number}: arrival confirmed"),
    "requeue_late": ("已超过过号重排时限，请重新取号",
                     "Too late to re-queue this ticket: please take a new one"),
    "requeue_not_missed": ("该号未过号，无需重排，请留意叫号",
                           "This ticket has not missed its call: please watch the board"),
    "requeue_unknown": ("未找到该号票，请核对号码或联系工作人员",
                        "No such ticket today: check the number or ask staff"),
    "requeue_unreadable": ("无法识别该二维码，请输入号码",
                           "That code could not be read: please enter the number"),
}

#: Error codes of a ``requeue`` reply -> text key.
_REQUEUE_ERRORS = {"expired": "requeue_late", "conflict": "requeue_not_missed",
                   "not_found": "requeue_unknown"}
#: A ticket number as printed (service prefix + at least 3 digits).
_TICKET_NUMBER = re.compile(r"^[A-Z]{1,3}\d{3,}$")
_CHECK_CODE = re.compile(r"^[A-Z0-9]{4,32}$")

#: Error codes of ``issue`` / ``check_in`` replies -> text key.
_ERROR_TEXT = {
    "closed": "closed",
    "quota_reached": "quota_detail",
    "rate_limited": "rate_limited",
    "timeout": "no_answer",
    "offline": "offline",
    "internal": "no_answer",
}

_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_NUMBER = re.compile(r"(\d+)$")


# ---------------------------------------------------------------------------
# value types

@dataclass(frozen=True)
class Request:
    """A request to send: ``link.request(type, **fields)``."""

    type: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Notice:
    """A message on the screen. ``level``: ``info``, ``warn`` or ``error``."""

    level: str
    key: str
    args: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class CategoryTile:
    """One home-screen tile."""

    id: str
    name: str
    name_en: str
    waiting: int
    services: int


@dataclass(frozen=True)
class ServiceTile:
    """One service button: its figures, and why it is disabled (``reason``).

    ``reason`` is None (enabled), ``"closed"``, ``"quota"`` or
    ``"unavailable"`` (no server); ``detail`` is a text key with arguments
    for the second line (e.g. the opening hours).
    """

    id: str
    name: str
    name_en: str
    waiting: int
    eta_s: int
    reason: str | None = None
    hours: str = ""
    estimate: Estimate | None = None  # the shared estimate (server/wire/estimate.py)

    @property
    def enabled(self) -> bool:
        return self.reason is None

    @property
    def eta_min(self) -> int:
        return math.ceil(self.eta_s / 60) if self.eta_s > 0 else 0


@dataclass(frozen=True)
class PrintJob:
    """What to print for the ticket on screen (the app renders and prints it)."""

    ticket: dict[str, Any]
    hall_name: str
    service_name: str
    service_name_en: str
    status_url: str
    lang: str
    #: Where to go (zone or counters) in ``lang``; "" when unknown.
    where: str = ""


# ---------------------------------------------------------------------------
# helpers

def parse_hours(items: Any) -> tuple[tuple[dt.time, dt.time], ...]:
    """Parse the welcome's ``["08:30-12:00", ...]``; ``[]`` means always open.

    Raises:
        ValueError: an item is not ``HH:MM-HH:MM`` with start before end.
    """
    if not items:
        return ()
    spans = []
    for item in items:
        match = _HOURS.match(str(item).strip())
        if not match:
            raise ValueError(f"bad service hours {item!r}: expected HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        try:
            start, end = dt.time(h1, m1), dt.time(h2, m2)
        except ValueError:
            raise ValueError(f"bad service hours {item!r}: not a time of day") from None
        if not start < end:
            raise ValueError(f"bad service hours {item!r}: start must be before end")
        spans.append((start, end))
    return tuple(sorted(spans))


def status_url(server_url: str, check: str) -> str:
    """The public status page of a ticket (``/t/<check>``) on the server's HTTP port.

    ``ws://h:p/ws`` -> ``http://h:p/t/CHECK``; ``wss`` -> ``https``.

    Raises:
        ValueError: the URL is not ws/wss/http/https, or ``check`` is empty.
    """
    if not check:
        raise ValueError("ticket has no check code")
    parts = urllib.parse.urlsplit(server_url)
    scheme = {"ws": "http", "wss": "https", "http": "http", "https": "https"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"server URL {server_url!r} is not ws://HOST:PORT/ws")
    return f"{scheme}://{parts.netloc}/t/{urllib.parse.quote(check)}"


def read_scan(text: str) -> dict[str, str] | None:
    """What a scanned or typed ticket reference names: ``{"check": code}`` from
    the ticket's QR (a ``.../t/CODE`` link) or a bare code, ``{"number": "A001"}``
    from a typed number; None when it is neither."""
    raw = text.strip()
    if "/t/" in raw:
        code = urllib.parse.unquote(raw.rsplit("/t/", 1)[1].split("?")[0].split("#")[0])
        code = code.strip("/ ").upper()
        return {"check": code} if _CHECK_CODE.match(code) else None
    upper = raw.upper()
    if _TICKET_NUMBER.match(upper):
        return {"number": upper}
    if _CHECK_CODE.match(upper) and len(upper) == 8:
        return {"check": upper}
    return None


def _number_of(ticket: Mapping[str, Any]) -> int | None:
    match = _NUMBER.search(str(ticket.get("number", "")))
    return int(match.group(1)) if match else None


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _queue(q: Mapping[str, Any]) -> dict[str, Any]:
    """A queue object as the kiosk keeps it: counts plus the estimate's fields."""
    out: dict[str, Any] = {"waiting": _int(q.get("waiting")), "eta_s": _int(q.get("eta_s"))}
    for key in ("eta_low_s", "eta_high_s", "open_counters"):
        if isinstance(q.get(key), int) and not isinstance(q.get(key), bool):
            out[key] = q[key]
    if isinstance(q.get("eta_after"), str):
        out["eta_after"] = q["eta_after"]
    return out


# ---------------------------------------------------------------------------
# the state

class KioskState:
    """Everything the kiosk screen shows, and the rules for taps and replies.

    Args:
        clock: the UI clock (aware ``datetime``): timers of the screen.
        hall_clock: the hall's time (opening hours, today, the on-screen
            clock); default ``clock``.
        server_url: the dispatch server's websocket URL (for QR status links).
        lang: the default language, restored when the kiosk goes idle.
        idle_s: seconds without a touch before any screen returns home.
        ticket_s: seconds the ticket screen stays up after a good print.
        fail_s: seconds it stays up after a failed print (time for a photo).
        guard_s: taps on the ticket screen sooner than this after it appeared
            are ignored (the second tap of a double tap must not dismiss it).

    Raises:
        ValueError: bad language or timings.
    """

    def __init__(self, clock: Callable[[], dt.datetime] | None = None,
                 server_url: str = "ws://127.0.0.1:8765/ws", lang: str = "zh",
                 idle_s: float = 60.0, ticket_s: float = 8.0, fail_s: float = 30.0,
                 guard_s: float = 1.5,
                 hall_clock: Callable[[], dt.datetime] | None = None) -> None:
        if lang not in LANGS:
            raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
        for name, value in (("idle_s", idle_s), ("ticket_s", ticket_s), ("fail_s", fail_s)):
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        self.clock = clock or (lambda: dt.datetime.now().astimezone())
        self.hall_clock = hall_clock or self.clock
        self.server_url = server_url
        self.default_lang = lang
        self.lang = lang
        self.idle_s, self.ticket_s, self.fail_s, self.guard_s = idle_s, ticket_s, fail_s, guard_s

        self.connection = "offline"  # connecting | online | offline
        self.refused: dict[str, Any] | None = None
        self.hall: dict[str, Any] | None = None
        self.tz: dt.tzinfo = dt.UTC
        self.services: dict[str, dict[str, Any]] = {}
        #: The services the kiosk offers, in hall order (a route's step-only
        #: services not): built by apply_welcome.
        self.offered: dict[str, dict[str, Any]] = {}
        self._hours: dict[str, tuple[tuple[dt.time, dt.time], ...]] = {}
        self.queues: dict[str, dict[str, Any]] = {}
        #: service -> (hall day, highest number issued that day we know of)
        self.issued: dict[str, tuple[dt.date, int]] = {}
        #: service -> hall day the server said its quota was reached
        self._sold_out: dict[str, dt.date] = {}
        #: service -> moment until which a ``closed`` reply keeps it disabled
        self._closed_until: dict[str, dt.datetime] = {}

        self.screen = "home"
        self.category: str | None = None
        self.priority = False
        self.code = ""
        self.query = ""  # the search screen's text
        self.notice: Notice | None = None
        self.pending: Request | None = None
        self.ignored_taps = 0

        self.requeued: dict[str, Any] | None = None  # the ticket 过号重排 put back
        # The scan was a phone ticket's arrival (the reply's ``arrived``), not a 过号重排.
        self.arrived = False
        self.public_url = ""  # the welcome's hall.public_url: what phones reach
        self.ticket: dict[str, Any] | None = None
        self.ticket_note = ""  # the server's message on a check-in (e.g. late)
        self.print_state: str | None = None  # printing | printed | failed
        self.print_error: str | None = None  # PrinterError kind
        self.fault: str | None = None  # the fault kind reported to the server
        self._print_job: PrintJob | None = None
        self._ticket_url = ""

        now = self.clock()
        self._touched = now
        self._shown = self._appeared = now

    # -- language and texts ------------------------------------------------
    def set_lang(self, lang: str) -> None:
        """Switch the language. Raises ValueError for anything but zh/en."""
        if lang not in LANGS:
            raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
        self.lang = lang
        self.touch()

    def toggle_lang(self) -> None:
        self.set_lang("en" if self.lang == "zh" else "zh")

    def text(self, key: str, lang: str | None = None, **args: Any) -> str:
        """The text ``key`` in ``lang`` (default: the current language)."""
        zh, en = TEXT[key]
        return (en if (lang or self.lang) == "en" else zh).format(**args)

    def both(self, key: str, **args: Any) -> tuple[str, str]:
        """The text in the current language first, then the other one."""
        other = "en" if self.lang == "zh" else "zh"
        return self.text(key, **args), self.text(key, other, **args)

    def notice_text(self, lang: str | None = None) -> str:
        if self.notice is None:
            return ""
        return self.text(self.notice.key, lang, **dict(self.notice.args))

    # -- link ---------------------------------------------------------------
    @property
    def online(self) -> bool:
        return self.connection == "online"

    def set_status(self, status: str) -> None:
        """The link's status: ``connecting``, ``online`` or ``offline``."""
        if status not in ("connecting", "online", "offline"):
            raise ValueError(f"unknown link status {status!r}")
        self.connection = status
        if status == "online":
            self.refused = None
            if self.notice is not None and self.notice.key in ("offline", "no_answer"):
                self.notice = None

    def set_refused(self, message: Mapping[str, Any]) -> None:
        self.refused = dict(message)
        self.connection = "offline"

    def apply_welcome(self, welcome: Mapping[str, Any]) -> None:
        """Take the hall and the snapshot as the truth (after every (re)connect).

        Raises:
            ValueError: the welcome has no ``hall`` with ``services``.
        """
        hall = welcome.get("hall")
        if not isinstance(hall, Mapping) or not isinstance(hall.get("services"), list):
            raise ValueError("welcome has no hall.services")
        self.hall = dict(hall)
        try:
            self.tz = ZoneInfo(str(hall.get("timezone") or "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            self.tz = dt.UTC  # a bad zone name must not take the kiosk down
        self.services = {}
        self._hours = {}
        for svc in hall["services"]:
            if not isinstance(svc, Mapping) or "id" not in svc:
                continue
            self.services[str(svc["id"])] = dict(svc)
            try:
                self._hours[str(svc["id"])] = parse_hours(svc.get("hours"))
            except ValueError:
                self._hours[str(svc["id"])] = ()  # let the server decide
        self.offered = {sid: s for sid, s in self.services.items() if s.get("kiosk") is not False}
        self.public_url = str(hall.get("public_url") or "").rstrip("/")
        queues = (welcome.get("snapshot") or {}).get("queues") or {}
        self.queues = {sid: _queue(q) for sid, q in queues.items() if isinstance(q, Mapping)}
        today = self.today()
        for sid, q in queues.items():
            # `issued` (today's tickets so far) seeds the 常用业务 row; the
            # ticket.issued events keep it current from here on.
            if isinstance(q, Mapping) and _int(q.get("issued")) > 0:
                known = self.issued.get(str(sid))
                if known is None or known[0] < today or known[1] < _int(q.get("issued")):
                    self.issued[str(sid)] = (today, _int(q.get("issued")))
        self.set_status("online")
        if self.category is not None and self.category not in self.categories_present():
            self.go_home()

    def apply_event(self, event: Mapping[str, Any]) -> bool:
        """Apply one event; returns whether anything on screen may change."""
        name, data = event.get("name"), event.get("data") or {}
        if name == "queue.changed":
            sid = data.get("service")
            if sid is None:
                return False
            self.queues[str(sid)] = _queue(data)
            return True
        if name == "ticket.issued":
            self._count_issued(data.get("ticket") or {})
            return True
        return False

    def _count_issued(self, ticket: Mapping[str, Any]) -> None:
        """Track the highest number issued today per service (for the quota)."""
        # A joint-approval case is numbered in its route's series (its
        # ``service`` is the step it is on).
        sid, number = ticket.get("route_id") or ticket.get("service"), _number_of(ticket)
        if sid is None or number is None:
            return
        issued = parse_time(ticket.get("issued_at"))  # naive or bad: not placed, today
        day = issued.astimezone(self.tz).date() if issued is not None else self.today()
        known = self.issued.get(str(sid))
        if known is None or known[0] < day or (known[0] == day and known[1] < number):
            self.issued[str(sid)] = (day, number)

    # -- time -------------------------------------------------------------
    def now(self) -> dt.datetime:
        """Hall time in the hall's timezone."""
        return self.hall_clock().astimezone(self.tz)

    def today(self) -> dt.date:
        return self.now().date()

    def touch(self) -> None:
        """A tap anywhere: restarts the idle timeout."""
        self._touched = self.clock()

    def tick(self) -> bool:
        """Run the timers; returns whether the screen changed.

        The ticket screen returns home ``ticket_s`` (``fail_s`` after a failed
        print) after it appeared; any other screen returns home after
        ``idle_s`` without a touch, and the language goes back to the default.
        """
        now = self.clock()
        if self.screen == "ticket":
            wait = self.fail_s if self.print_state == "failed" else self.ticket_s
            if self.print_state != "printing" and (now - self._shown).total_seconds() >= wait:
                self.go_home(reset_lang=True)
                return True
            return False
        if self.screen == "requeue" and self.requeued is not None \
                and (now - self._shown).total_seconds() >= self.ticket_s:
            self.go_home(reset_lang=True)
            return True
        idle = (now - self._touched).total_seconds() >= self.idle_s
        if idle and self.pending is None and (
                self.screen != "home" or self.priority or self.lang != self.default_lang
                or self.notice is not None):
            self.go_home(reset_lang=True)
            return True
        return False

    # -- tiles ------------------------------------------------------------
    def categories_present(self) -> list[str]:
        present = {s.get("category") for s in self.offered.values()}
        return [c for c in CATEGORIES if c in present]

    def category_tiles(self) -> list[CategoryTile]:
        tiles = []
        for cid in self.categories_present():
            members = [sid for sid, s in self.offered.items() if s.get("category") == cid]
            waiting = sum(self.queues.get(sid, {}).get("waiting", 0) for sid in members)
            zh, en = CATEGORIES[cid]
            tiles.append(CategoryTile(cid, zh, en, waiting, len(members)))
        return tiles

    def service_tiles(self, category: str | None = None) -> list[ServiceTile]:
        """The tiles of ``category`` (default: the chosen one), in hall order."""
        cat = category or self.category
        return [self.service_tile(sid) for sid, s in self.offered.items()
                if s.get("category") == cat]

    def service_tile(self, sid: str) -> ServiceTile:
        svc = self.services[sid]
        queue = self.queues.get(sid, {})
        hours = self._hours.get(sid, ())
        return ServiceTile(
            id=sid, name=str(svc.get("name", sid)), name_en=str(svc.get("name_en", "")),
            waiting=queue.get("waiting", 0), eta_s=queue.get("eta_s", 0),
            reason=self.why_disabled(sid),
            hours=", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in hours),
            estimate=estimate(queue, tz=self.tz) if queue else None)

    def why_disabled(self, sid: str) -> str | None:
        """``None`` if ``sid`` can be issued now, else ``unavailable``,
        ``closed`` or ``quota``."""
        if not self.online:
            return "unavailable"
        now = self.now()
        until = self._closed_until.get(sid)
        if until is not None:
            if now < until:
                return "closed"
            del self._closed_until[sid]
        hours = self._hours.get(sid, ())
        if hours and not any(a <= now.time() < b for a, b in hours):
            return "closed"
        today = now.date()
        if self._sold_out.get(sid) == today:
            return "quota"
        quota = self.services[sid].get("daily_quota")
        issued = self.issued.get(sid)
        if isinstance(quota, int) and issued is not None and issued[0] == today \
                and issued[1] >= quota:
            return "quota"
        return None

    # -- navigation ---------------------------------------------------------
    def go_home(self, reset_lang: bool = False) -> None:
        self.screen = "home"
        self.category = None
        self.priority = False
        self.code = ""
        self.query = ""
        self.notice = None
        self.requeued = None
        if self.print_state != "printing":
            self.ticket = None
            self.print_state = self.print_error = None
            self.ticket_note = ""
        if reset_lang:
            self.lang = self.default_lang
        self.touch()

    def choose_category(self, category: str) -> None:
        """Open a category's services. Raises ValueError for an unknown one."""
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}; expected one of "
                             f"{tuple(CATEGORIES)}")
        self.category = category
        self.screen = "services"
        self.notice = None
        self.touch()

    def back(self) -> None:
        """The back button: services/check-in/priority -> home (priority kept
        while choosing its service)."""
        if self.screen in ("services", "search") and self.priority:
            self.screen, self.category, self.notice = "home", None, None
            self.touch()
            return
        self.go_home()

    def open_checkin(self) -> None:
        self.screen = "checkin"
        self.code = ""
        self.notice = None
        self.touch()

    def open_requeue(self) -> None:
        """过号重排: scan the ticket's QR or type its number."""
        self.screen = "requeue"
        self.code = ""
        self.notice = None
        self.requeued = None
        self.touch()

    def open_priority(self) -> None:
        self.screen = "priority"
        self.notice = None
        self.touch()

    def confirm_priority(self) -> None:
        """The citizen confirmed they qualify: the next ticket is a priority one."""
        self.priority = True
        self.screen = "home"
        self.notice = None
        self.touch()

    def ticket_tapped(self) -> bool:
        """A tap on the ticket screen returns home, except right after it
        appeared (the second tap of a double tap) or while printing."""
        now = self.clock()
        if self.screen != "ticket" or self.print_state == "printing" \
                or (now - self._appeared).total_seconds() < self.guard_s:
            return False
        self.go_home(reset_lang=True)
        return True

    # -- search and the busiest services ------------------------------------
    def open_search(self) -> None:
        self.screen = "search"
        self.query = ""
        self.notice = None
        self.touch()

    def type_query(self, text: str) -> None:
        """Add ``text`` (an on-screen key, or what a keyboard/IME typed)."""
        self.set_query(self.query + text)

    def set_query(self, text: str) -> None:
        self.query = " ".join(text.split(" "))[:SEARCH_MAX].lstrip()
        self.notice = None
        self.touch()

    def delete_query(self) -> None:
        self.set_query(self.query[:-1])

    def search_tiles(self) -> list[ServiceTile]:
        """The services matching the query, best first (none for no query)."""
        ids = search(self.query, [{"id": sid, **svc} for sid, svc in self.offered.items()])
        return [self.service_tile(sid) for sid in ids[:SEARCH_RESULTS]]

    def issued_today(self, sid: str) -> int:
        """Tickets of ``sid`` issued today, as far as this kiosk knows."""
        known = self.issued.get(sid)
        return known[1] if known is not None and known[0] == self.today() else 0

    def popular_tiles(self, n: int = POPULAR) -> list[ServiceTile]:
        """常用业务: the ``n`` services with the most tickets issued today (at
        least one each), busiest first; ties keep the hall's order."""
        counts = [(-self.issued_today(sid), i, sid) for i, sid in enumerate(self.offered)]
        return [self.service_tile(sid) for count, _, sid in sorted(counts)[:n] if count < 0]

    # -- keypad -----------------------------------------------------------
    def press(self, key: str) -> None:
        """A keypad key: one of :data:`CODE_ALPHABET`. Raises ValueError otherwise."""
        if len(key) != 1 or key.upper() not in CODE_ALPHABET:
            raise ValueError(f"not a keypad key: {key!r}")
        self.touch()
        if len(self.code) < CODE_MAX:
            self.code += key.upper()
        self.notice = None

    def delete(self) -> None:
        self.code = self.code[:-1]
        self.touch()

    def clear_code(self) -> None:
        self.code = ""
        self.notice = None
        self.touch()

    # -- requests ---------------------------------------------------------
    def issue(self, service: str) -> Request | None:
        """A tap on a service tile: the ``issue`` request, or None.

        None when a request is already in flight (a double tap), when the
        server is unreachable (the notice says so), or when the service is
        disabled (closed, sold out: the notice says why).

        Raises:
            ValueError: unknown service id.
        """
        if service not in self.services:
            raise ValueError(f"unknown service {service!r}")
        self.touch()
        if self.pending is not None:
            self.ignored_taps += 1
            return None
        reason = self.why_disabled(service)
        if reason is not None:
            self.notice = self._reason_notice(service, reason)
            return None
        fields: dict[str, Any] = {"service": service}
        if self.priority:
            fields["priority"] = "priority"
        self.pending = Request("issue", fields)
        self.notice = Notice("info", "issuing")
        return self.pending

    def submit_requeue(self, scanned: str | None = None) -> Request | None:
        """The re-queue button (the typed number) or a scan (the scanner types the
        QR's text and Enter): the ``requeue`` request, or None (the notice says why)."""
        self.touch()
        if self.pending is not None:
            self.ignored_taps += 1
            return None
        if not self.online:
            self.notice = Notice("error", "offline")
            return None
        text = self.code if scanned is None else scanned
        ref = read_scan(text)
        if ref is None:
            key = "requeue_short" if scanned is None else "requeue_unreadable"
            self.notice = Notice("warn", key)
            return None
        self.requeued = None
        self.pending = Request("requeue", ref)
        self.notice = Notice("info", "issuing")
        return self.pending

    def submit_code(self) -> Request | None:
        """The check-in button: the ``check_in`` request, or None (see :meth:`issue`)."""
        self.touch()
        if self.pending is not None:
            self.ignored_taps += 1
            return None
        if not self.online:
            self.notice = Notice("error", "offline")
            return None
        if len(self.code) < CODE_MIN:
            self.notice = Notice("warn", "code_short", (("n", CODE_MIN),))
            return None
        self.pending = Request("check_in", {"code": self.code})
        self.notice = Notice("info", "issuing")
        return self.pending

    def _reason_notice(self, sid: str, reason: str) -> Notice:
        if reason == "unavailable":
            return Notice("error", "offline")
        if reason == "quota":
            return Notice("warn", "quota_detail")
        hours = self.service_tile(sid).hours
        if hours:
            return Notice("warn", "closed_hours", (("hours", hours),))
        return Notice("warn", "closed")

    def apply_reply(self, request: Request, message: Mapping[str, Any]) -> Request | None:
        """Apply the answer to ``request``; returns a follow-up request or None."""
        if request is self.pending:
            self.pending = None
        kind = request.type
        if kind in ("report_fault", "clear_fault"):
            return None  # best effort; the link resends it after a reconnect
        ok = message.get("type") == "ok"
        if kind == "requeue":
            self._requeue_reply(ok, message)
            return None
        if ok and isinstance(message.get("ticket"), Mapping):
            self._show_ticket(dict(message["ticket"]), str(message.get("message") or ""))
            return None
        code = str(message.get("code") or "internal")
        sid = request.fields.get("service")
        if kind == "issue" and sid in self.services:
            if code == "quota_reached":
                self._sold_out[sid] = self.today()
            elif code == "closed":
                # The server's clock is the judge; keep the tile disabled for
                # a minute, then ask again.
                self._closed_until[sid] = self.now() + dt.timedelta(seconds=60)
            if code == "not_found":
                self.notice = Notice("error", "not_found")
                return None
        if kind == "check_in" and code in ("not_found", "expired"):
            self.notice = Notice("error", "code_not_found" if code == "not_found"
                                 else "code_expired")
            return None
        if kind == "check_in" and code == "conflict":
            self.notice = Notice("error", "code_used")
            return None
        if kind == "check_in" and code == "closed":
            # Before the booking's check-in window (the service itself is
            # open): say from when, as the reply's opens_at gives it.
            when = self._opens_text(message.get("opens_at"))
            self.notice = Notice("warn", "code_early", (("when", when),)) if when \
                else Notice("warn", "code_early_plain")
            return None
        key = _ERROR_TEXT.get(code)
        if key is not None:
            self.notice = Notice("error" if code not in ("closed", "quota_reached") else "warn",
                                 key)
        else:
            self.notice = Notice("error", "failed",
                                 (("msg", str(message.get("message") or code)),))
        return None

    def _opens_text(self, opens_at: Any) -> str:
        """A ``closed`` reply's ``opens_at`` in hall time: "09:30" today,
        "2026-11-27 09:30" another day; "" when absent or not a time."""
        opens = parse_time(opens_at)  # the protocol sends an offset; a bare time is ambiguous
        if opens is None:
            return ""
        local = opens.astimezone(self.tz)
        return f"{local:%H:%M}" if local.date() == self.today() else f"{local:%Y-%m-%d %H:%M}"

    def _requeue_reply(self, ok: bool, message: Mapping[str, Any]) -> None:
        if ok and isinstance(message.get("ticket"), Mapping):
            self.requeued = dict(message["ticket"])
            self.arrived = message.get("arrived") is True
            self.code = ""
            self.notice = None
            self._shown = self.clock()  # back home ``ticket_s`` later
            return
        code = str(message.get("code") or "internal")
        key = _REQUEUE_ERRORS.get(code) or _ERROR_TEXT.get(code)
        self.notice = Notice("error", key) if key else Notice(
            "error", "failed", (("msg", str(message.get("message") or code)),))

    def requeue_lines(self) -> list[str]:
        """The re-queued (or, a phone ticket, arrived) ticket's number, people
        ahead and estimate, in the current language."""
        t = self.requeued or {}
        if not t:
            return []
        key = "requeue_arrived" if self.arrived else "requeue_done"
        lines = [self.text(key, number=t.get("number", ""))]
        return lines + self._wait_lines(t)

    def ticket_link(self, check: str) -> str:
        """The ``/t/`` page of a ticket as phones reach it: ``[hall] public_url``
        when the hall sets one, else derived from this kiosk's server URL."""
        if self.public_url:
            if not check:
                raise ValueError("ticket has no check code")
            return f"{self.public_url}/t/{urllib.parse.quote(check)}"
        return status_url(self.server_url, check)

    def _show_ticket(self, ticket: dict[str, Any], note: str) -> None:
        self._count_issued(ticket)
        self.ticket = ticket
        self.ticket_note = note
        self.screen = "ticket"
        self.notice = None
        self.print_state = "printing"
        self.print_error = None
        self._shown = self._appeared = self.clock()
        # A joint-approval case prints the case's name (its route service);
        # where to go and the estimate are its first step's.
        svc = self.services.get(str(ticket.get("route_id") or ticket.get("service")), {})
        # The printed ticket reads the same estimate as the tiles: give it
        # its service's open counters (queue objects carry them, tickets not).
        queue = self.queues.get(str(ticket.get("service")), {})
        if "open_counters" in queue and "open_counters" not in ticket:
            ticket = {**ticket, "open_counters": queue["open_counters"]}
        try:
            url = self.ticket_link(str(ticket.get("check") or ""))
        except ValueError:
            url = self.public_url or self.server_url  # still says where the hall is
        self._ticket_url = url
        self._print_job = PrintJob(
            ticket=ticket, hall_name=str((self.hall or {}).get("name", "")),
            service_name=str(svc.get("name", ticket.get("service", ""))),
            service_name_en=str(svc.get("name_en", "")), status_url=url, lang=self.lang,
            where=self.where(str(ticket.get("service")), self.lang))

    @property
    def ticket_url(self) -> str:
        """The QR code target of the ticket on screen ("" when none)."""
        return self._ticket_url if self.ticket is not None else ""

    def take_print(self) -> PrintJob | None:
        """The print job of the ticket just issued, once (the app prints it)."""
        job, self._print_job = self._print_job, None
        return job

    def print_finished(self, error_kind: str | None = None, message: str = "",
                       ticket: Mapping[str, Any] | None = None) -> Request | None:
        """The printer's outcome.

        Args:
            error_kind: None when it printed, else the ``PrinterError`` kind
                (``offline``, ``paper_out``, ``io``; anything else is sent
                as ``other``).
            message: the printer's error message (sent with the fault).
            ticket: the ticket that was printed (default: the one on screen);
                only that ticket's screen shows the outcome.

        Returns:
            ``report_fault`` on a failure, ``clear_fault`` on the first good
            print after one, else None.
        """
        ticket = ticket if ticket is not None else self.ticket
        on_screen = self.ticket is not None and ticket is not None \
            and self.ticket.get("id") == ticket.get("id")
        if error_kind is None:
            if on_screen:
                self.print_state = "printed"
                self._shown = self.clock()  # the 8 s start when the paper is out
            if self.fault is not None:
                self.fault = None
                return Request("clear_fault")
            return None
        kind = error_kind if error_kind in ("offline", "paper_out", "paper_low", "io") \
            else "other"
        if on_screen:
            self.print_state = "failed"
            self.print_error = kind
            self._shown = self.clock()
        self.fault = kind
        fields: dict[str, Any] = {"kind": kind, "message": message[:200]}
        number = (ticket or {}).get("number")
        if number:
            fields["ticket"] = number
        return Request("report_fault", fields)

    def where(self, sid: str, lang: str | None = None) -> str:
        """Where to go for service ``sid``: its zone, else its counter numbers."""
        svc = dict(self.services.get(sid) or {"id": sid})
        svc.setdefault("id", sid)
        counters = [c for c in (self.hall or {}).get("counters") or () if isinstance(c, Mapping)]
        return where_text(svc, counters, lang or self.lang)

    def where_line(self, sid: str, lang: str | None = None) -> str:
        """"办理地点: A区 1-12号窗口" (or "Go to: ..."), "" when unknown."""
        lang = lang or self.lang
        place = self.where(sid, lang)
        return f"{LABEL[lang]}: {place}" if place else ""

    def ticket_lines(self) -> list[str]:
        """People ahead and the estimated wait of the ticket on screen."""
        return self._wait_lines(self.ticket or {})

    def _wait_lines(self, t: Mapping[str, Any]) -> list[str]:
        lines = []
        ahead = t.get("ahead")
        if isinstance(ahead, int) and not isinstance(ahead, bool):
            lines.append(ahead_text(ahead, self.lang))
        est = estimate(t, self.queues.get(str(t.get("service"))), tz=self.tz)
        if est is not None:
            lines.append(est.line(self.lang))
        return lines

    def clock_text(self) -> str:
        return self.now().strftime("%H:%M")
