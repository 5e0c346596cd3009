"""What the lobby board and a counter display show, as plain Python (no Qt).

``BoardState`` applies the server's ``welcome`` (hall + snapshot) and then
every ``event`` message, and answers the questions the views ask: the newest
call and whether it is still highlighted, the recent calls newest first, the
waiting counts per category (or per service when there are few services),
the connection status, and for a counter display that counter's screen.

Replays: after a reconnect the link sends the welcome (whose snapshot is
already current) and then the events missed since ``since``, in order. Every
event carries absolute values (a counter's state, a queue's waiting count)
and a call moves its (ticket, counter) pair to the top of the recent list, so
applying the replay on top of the snapshot ends in the same picture, and each
replayed call is still returned to the caller so it can be announced.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from server.wire import lifecycle
from server.wire.labels import CATEGORIES
from server.wire.readers import counter_number, parse_time

__all__ = [
    "CATEGORIES",
    "HIGHLIGHT_S",
    "RECENT_KEEP",
    "PER_SERVICE_MAX",
    "DEFAULT_NOTICE",
    "StateError",
    "Call",
    "CounterInfo",
    "WaitingRow",
    "CounterScreen",
    "BoardState",
    "call_sentence",
]

#: how long the newest call flashes, seconds
HIGHLIGHT_S = 5.0
#: flash half-period: amber for this long, then white, ...
FLASH_HALF_S = 0.5
#: calls kept: the newest (shown large) plus the ones before it; a board shows
#: as many of those as its screen has rows for (a portrait board more)
RECENT_KEEP = 31
#: up to this many services the waiting column lists services, else categories
PER_SERVICE_MAX = 5
DEFAULT_NOTICE = (
    "温馨提示：请留意叫号屏幕与语音提示，过号请到服务台咨询。"
    "  Please watch the board for your number;"
    " if you missed your call, ask at the information desk."
)
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
COUNTER_STATES = ("open", "paused", "closed")


class StateError(ValueError):
    """A server message that cannot be applied (missing or wrong field)."""


@dataclass(frozen=True)
class Call:
    """One call of a ticket to a counter, as the board lists it."""

    number: str
    counter: int
    counter_name: str
    at: dt.datetime | None = None  # when the server called it (None: unknown)
    recall: bool = False
    service: str | None = None


@dataclass
class CounterInfo:
    """One counter as the board knows it."""

    number: int
    name: str
    state: str = "closed"  # open | paused | closed
    staff: str | None = None
    current: str | None = None  # ticket number at this counter, if any
    current_id: str | None = None
    serving: bool = False  # the citizen arrived (ticket.started)
    reason: str = ""  # why it is paused (counter.paused), "" when none given


@dataclass(frozen=True)
class WaitingRow:
    """One row of the waiting column."""

    key: str
    name: str
    name_en: str
    waiting: int


@dataclass(frozen=True)
class CounterScreen:
    """What a counter display shows.

    ``mode`` is ``ticket`` (a called or served ticket), ``paused``,
    ``closed`` or ``idle``.
    """

    mode: str
    counter: int
    counter_name: str
    number: str | None = None
    serving: bool = False
    reason: str = ""  # the pause reason the clerk gave (paused only)


def _reason(value: Any) -> str:
    """A pause reason fit for one line of a display ("" when none)."""
    return " ".join(value.split())[:40] if isinstance(value, str) else ""


def call_sentence(number: str, counter: int, counter_name: str) -> str:
    """The spoken/printed sentence of a call: 请 A012 号到 3 号窗口办理."""
    if counter_name == f"{counter}号窗口":
        return f"请 {number} 号到 {counter} 号窗口办理"
    return f"请 {number} 号到 {counter_name} 办理"


# -- lenient field readers: the snapshot may name a thing by value or object --

def _require(message: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(message, dict):
        raise StateError(f"expected a JSON object, got {type(message).__name__}")
    if key not in message:
        raise StateError(f"{message.get('type', 'message')}: missing field {key!r}")
    value = message[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise StateError(f"{message.get('type', 'message')}: field {key!r} has the wrong type")
    return value


def _ticket_number(value: Any) -> str | None:
    """A ticket's number from a ticket object or a bare number string."""
    if isinstance(value, dict):
        number = value.get("number")
        return number if isinstance(number, str) and number else None
    if isinstance(value, str) and value:
        return value
    return None


def _ticket_id(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return value["id"]
    return None


def _staff_name(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("name") or value.get("id")
    return value if isinstance(value, str) and value else None


class BoardState:
    """Everything a lobby board or counter display shows.

    Link messages use the apps' one vocabulary: :meth:`apply_welcome`,
    :meth:`apply_event`, :meth:`set_status` (a board sends no requests, so it
    has no replies to apply).

    Args:
        clock: the UI clock, an aware datetime: how long the newest call
            flashes.
        counter: the counter number for a counter display, None for a board.
        notice: the scrolling notice; overrides the hall's own when given.
        zones: show only services whose ``zone`` is one of these or starts
            with one ("A区" takes "A区 1-12号窗口"); empty = every zone.
        categories: show only services of these categories; empty = all.
            With both, a service must pass both. A counter display ignores them.
        hall_clock: the hall's time (the header clock); default ``clock``.
    """

    def __init__(
        self,
        clock: Callable[[], dt.datetime],
        counter: int | None = None,
        notice: str | None = None,
        zones: Iterable[str] = (),
        categories: Iterable[str] = (),
        hall_clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.clock = clock
        self.hall_clock = hall_clock or clock
        self.counter = counter
        self.zones = tuple(z.strip() for z in zones if z.strip())
        self.categories = tuple(c.strip() for c in categories if c.strip())
        self._notice_override = notice or None
        self.hall_notice: str | None = None
        self.hall_name = ""
        self.tz: dt.tzinfo = dt.UTC
        self.services: dict[str, dict[str, Any]] = {}  # id -> service object, hall order
        self.counters: dict[int, CounterInfo] = {}
        self.waiting: dict[str, int] = {}
        self.eta_s: dict[str, int] = {}
        self.recent: list[Call] = []
        self.status = "connecting"
        self.welcomed = False
        self.last_seq: int | None = None
        self._highlight_from: dt.datetime | None = None

    # -- applying server messages ------------------------------------------

    def apply_welcome(self, message: dict[str, Any]) -> None:
        """Replace everything with the welcome's hall and snapshot.

        Raises:
            StateError: the welcome lacks ``hall`` or ``snapshot``.
        """
        hall = _require(message, "hall", dict)
        snapshot = _require(message, "snapshot", dict)
        self.hall_name = str(hall.get("name") or "")
        self.tz = self._zone(hall.get("timezone"))
        notice = message.get("notice", hall.get("notice"))
        self.hall_notice = notice if isinstance(notice, str) and notice.strip() else None
        self.services = {}
        for service in hall.get("services") or []:
            if isinstance(service, dict) and isinstance(service.get("id"), str):
                self.services[service["id"]] = service
        self.counters = {}
        for counter in hall.get("counters") or []:
            number = counter_number(counter)
            if number is not None:
                name = counter.get("name") or f"{number}号窗口"
                self.counters[number] = CounterInfo(number, str(name))
        if self.counter is None and counter_number(message.get("counter")) is not None:
            # A display device bound to a counter by the hall config.
            self.counter = counter_number(message.get("counter"))
        self._apply_queues(snapshot.get("queues"))
        self._apply_counters(snapshot.get("counters"))
        self.recent = self._snapshot_calls(snapshot.get("recent_calls"))
        # Old calls in the snapshot are not news: no highlight on (re)connect.
        self._highlight_from = None
        seq = message.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool):
            # Keep our own last_seq so replayed events (seq <= welcome seq) apply;
            # a lower server seq means a new event history: start over from it.
            if self.last_seq is None or seq < self.last_seq:
                self.last_seq = seq
        self.welcomed = True

    def apply_event(self, message: dict[str, Any]) -> Call | None:
        """Apply one event message; return the call to announce, if it is one.

        Events already applied (``seq`` not above the last one) are ignored,
        so a duplicate never shows or speaks twice. Unknown event names are
        ignored: the protocol may add events.

        Raises:
            StateError: the message lacks ``name``/``data`` or a call lacks
                its ticket or counter.
        """
        name = _require(message, "name", str)
        data = _require(message, "data", dict)
        seq = message.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool):
            if self.last_seq is not None and seq <= self.last_seq:
                return None
            self.last_seq = seq
        handler = getattr(self, "_on_" + name.replace(".", "_"), None)
        if handler is None and name in lifecycle.LEAVES_COUNTER:
            handler = self._finish  # completed, no-show, cancelled: off its counter
        if handler is None:
            return None
        return handler(data, parse_time(message.get("at")))

    def set_status(self, status: str) -> None:
        """The link's status: ``connecting``, ``online``, ``offline`` or ``refused``."""
        self.status = status

    # -- event handlers ----------------------------------------------------

    def _on_ticket_called(self, data: dict[str, Any], at: dt.datetime | None,
                          recall: bool = False) -> Call | None:
        number = _ticket_number(data.get("ticket"))
        counter = counter_number(data.get("counter"))
        if number is None or counter is None:
            raise StateError("ticket.called: needs a ticket with a number and a counter")
        info = self._counter(counter)
        if isinstance(data.get("counter_name"), str) and data["counter_name"]:
            info.name = data["counter_name"]
        ticket = data.get("ticket")
        service = ticket.get("service") if isinstance(ticket, dict) else None
        call = Call(number, counter, info.name, at, recall, service)
        if info.current != number:
            info.serving = False
        info.current, info.current_id = number, _ticket_id(ticket)
        if info.state == "closed":
            info.state = "open"  # it calls, so it is open
        if not self.shows(service):
            return None  # another zone's board shows (and says) it
        self._push_call(call)
        self._highlight_from = self.clock()
        return call

    def _on_ticket_recalled(self, data: dict[str, Any], at: dt.datetime | None) -> Call | None:
        return self._on_ticket_called(data, at, recall=True)

    def _on_ticket_started(self, data: dict[str, Any], at: dt.datetime | None) -> None:
        info = self._ticket_counter(data)
        if info is not None:
            info.current = _ticket_number(data.get("ticket")) or info.current
            info.current_id = _ticket_id(data.get("ticket")) or info.current_id
            info.serving = True

    def _finish(self, data: dict[str, Any], at: dt.datetime | None) -> None:
        ticket = data.get("ticket")
        tid, number = _ticket_id(ticket), _ticket_number(ticket)
        if tid is None and number is None:
            raise StateError("ticket event: needs a ticket")
        # Clear whichever counter holds this ticket: a transfer's "counter" may
        # name the target, and events of several counters interleave.
        for info in self.counters.values():
            if (tid and tid == info.current_id) or (number and number == info.current):
                info.current = info.current_id = None
                info.serving = False

    def _on_ticket_transferred(self, data: dict[str, Any], at: dt.datetime | None) -> None:
        """The ticket left its counter: off that counter, and off the calls
        listed for it (hero and history), so nobody walks to the old counter."""
        self._finish(data, at)
        number = _ticket_number(data.get("ticket"))
        old = counter_number(data.get("from_counter"))
        if number is not None and old is not None:
            self.recent = [c for c in self.recent if (c.number, c.counter) != (number, old)]

    def _on_ticket_no_show_undone(self, data: dict[str, Any], at: dt.datetime | None) -> None:
        """撤销过号: the ticket is that counter's called ticket again (not re-announced)."""
        info = self._ticket_counter(data)
        number = _ticket_number(data.get("ticket"))
        if info is not None and number is not None:
            info.current, info.current_id = number, _ticket_id(data.get("ticket"))
            info.serving = False

    def _on_queue_changed(self, data: dict[str, Any], at: dt.datetime | None) -> None:
        service, waiting = data.get("service"), data.get("waiting")
        if not isinstance(service, str) or not isinstance(waiting, int) or waiting < 0:
            raise StateError("queue.changed: needs service (string) and waiting (int >= 0)")
        self.waiting[service] = waiting
        if isinstance(data.get("eta_s"), int):
            self.eta_s[service] = data["eta_s"]

    def _set_counter_state(self, data: dict[str, Any], state: str) -> CounterInfo:
        number = counter_number(data.get("counter"))
        if number is None:
            raise StateError("counter event: needs a counter number")
        info = self._counter(number)
        info.state = state
        return info

    def _on_counter_opened(self, data: dict[str, Any], at: dt.datetime | None) -> None:
        info = self._set_counter_state(data, "open")
        info.staff = _staff_name(data.get("staff")) or _staff_name(data.get("staff_name"))

    def _on_counter_closed(self, data: dict[str, Any], at: dt.datetime | None) -> None:
        info = self._set_counter_state(data, "closed")
        info.reason = ""
        info.staff = info.current = info.current_id = None
        info.serving = False

    def _on_counter_paused(self, data: dict[str, Any], at: dt.datetime | None) -> None:
        info = self._set_counter_state(data, "paused")
        info.reason = _reason(data.get("reason"))

    def _on_counter_resumed(self, data: dict[str, Any], at: dt.datetime | None) -> None:
        self._set_counter_state(data, "open").reason = ""

    # -- helpers -----------------------------------------------------------

    @staticmethod
    def _zone(name: Any) -> dt.tzinfo:
        if isinstance(name, str) and name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                pass
        return dt.UTC

    def _counter(self, number: int) -> CounterInfo:
        if number not in self.counters:
            self.counters[number] = CounterInfo(number, f"{number}号窗口")
        return self.counters[number]

    def _ticket_counter(self, data: dict[str, Any]) -> CounterInfo | None:
        number = counter_number(data.get("counter"))
        if number is None and isinstance(data.get("ticket"), dict):
            number = counter_number(data["ticket"].get("counter"))
        return self._counter(number) if number is not None else None

    def _push_call(self, call: Call) -> None:
        # A recall moves the pair to the top instead of listing it twice.
        self.recent = [c for c in self.recent
                       if (c.number, c.counter) != (call.number, call.counter)]
        self.recent.insert(0, call)
        del self.recent[RECENT_KEEP:]

    def _apply_queues(self, queues: Any) -> None:
        self.waiting, self.eta_s = {}, {}
        items: list[tuple[Any, Any]] = []
        if isinstance(queues, dict):
            items = list(queues.items())
        elif isinstance(queues, list):
            items = [(q.get("service"), q) for q in queues if isinstance(q, dict)]
        for service, entry in items:
            if not isinstance(service, str):
                continue
            if isinstance(entry, int):
                entry = {"waiting": entry}
            if isinstance(entry, dict) and isinstance(entry.get("waiting"), int):
                self.waiting[service] = entry["waiting"]
                if isinstance(entry.get("eta_s"), int):
                    self.eta_s[service] = entry["eta_s"]

    def _apply_counters(self, counters: Any) -> None:
        items: list[tuple[Any, Any]] = []
        if isinstance(counters, dict):
            items = list(counters.items())
        elif isinstance(counters, list):
            items = [(c.get("number"), c) for c in counters if isinstance(c, dict)]
        for key, entry in items:
            number = counter_number(key)
            if number is None or not isinstance(entry, dict):
                continue
            info = self._counter(number)
            state = entry.get("state")
            info.state = state if state in COUNTER_STATES else info.state
            info.staff = _staff_name(entry.get("staff"))
            current = entry.get("current")
            info.current, info.current_id = _ticket_number(current), _ticket_id(current)
            info.serving = isinstance(current, dict) and current.get("status") == "serving"
            info.reason = _reason(entry.get("reason")) if info.state == "paused" else ""
            if isinstance(entry.get("name"), str) and entry["name"]:
                info.name = entry["name"]

    def _snapshot_calls(self, calls: Any) -> list[Call]:
        result: list[Call] = []
        for entry in calls if isinstance(calls, list) else []:
            if not isinstance(entry, dict):
                continue
            ticket = entry.get("ticket", entry.get("number"))
            number = _ticket_number(ticket)
            counter = counter_number(entry.get("counter"))
            if counter is None and isinstance(ticket, dict):
                counter = counter_number(ticket.get("counter"))
            if number is None or counter is None:
                continue
            name = entry.get("counter_name")
            if not isinstance(name, str) or not name:
                name = self._counter(counter).name
            at = parse_time(entry.get("at", entry.get("called_at")))
            service = ticket.get("service") if isinstance(ticket, dict) else entry.get("service")
            call = Call(number, counter, name, at, bool(entry.get("recall")), service)
            if not self.shows(service):
                continue
            if all((c.number, c.counter) != (number, counter) for c in result):
                result.append(call)
        return result[:RECENT_KEEP]

    # -- what the views ask ------------------------------------------------

    @property
    def filtered(self) -> bool:
        """True when this board shows only some zones or categories."""
        return bool(self.zones or self.categories) and self.counter is None

    def shows(self, service: Any) -> bool:
        """Whether this board shows the calls and queue of ``service`` (an id)."""
        if not self.filtered:
            return True
        svc = self.services.get(service) if isinstance(service, str) else None
        if svc is None:
            return False  # a filtered board cannot place an unknown service
        zone = str(svc.get("zone") or "")
        if self.zones and not any(zone == z or zone.startswith(z) for z in self.zones):
            return False
        return not self.categories or svc.get("category") in self.categories

    @property
    def newest(self) -> Call | None:
        """The newest call (shown large), or None before any call."""
        return self.recent[0] if self.recent else None

    @property
    def previous(self) -> list[Call]:
        """The calls before the newest one, newest first (the grid)."""
        return self.recent[1:RECENT_KEEP]

    @property
    def notice(self) -> str:
        """The scrolling notice: --notice, else the hall's, else a default."""
        return self._notice_override or self.hall_notice or DEFAULT_NOTICE

    def highlighted(self, now: dt.datetime | None = None) -> bool:
        """True while the newest call is within its highlight time."""
        if self._highlight_from is None:
            return False
        elapsed = ((now or self.clock()) - self._highlight_from).total_seconds()
        return 0 <= elapsed < HIGHLIGHT_S

    def flash_on(self, now: dt.datetime | None = None) -> bool:
        """The flash phase: True = the alternate colour (white number)."""
        if not self.highlighted(now):
            return False
        elapsed = ((now or self.clock()) - self._highlight_from).total_seconds()  # type: ignore[operator]
        return int(elapsed / FLASH_HALF_S) % 2 == 1

    def local_now(self) -> dt.datetime:
        """Hall time in the hall's timezone."""
        return self.hall_clock().astimezone(self.tz)

    def clock_text(self) -> str:
        """Header clock: ``2026-11-26 周四 09:41:07``."""
        now = self.local_now()
        return f"{now:%Y-%m-%d} {WEEKDAYS[now.weekday()]} {now:%H:%M:%S}"

    def waiting_rows(self) -> list[WaitingRow]:
        """Waiting counts: per service when there are few, else per category."""
        services = {sid: s for sid, s in self.services.items() if self.shows(sid)}
        if 0 < len(services) <= PER_SERVICE_MAX:
            return [WaitingRow(sid, str(s.get("name") or sid), str(s.get("name_en") or ""),
                               self.waiting.get(sid, 0))
                    for sid, s in services.items()]
        totals: dict[str, int] = {}
        for sid, count in self.waiting.items():
            if not self.shows(sid):
                continue
            category = (self.services.get(sid) or {}).get("category", "other")
            totals[category] = totals.get(category, 0) + count
        for service in services.values():
            totals.setdefault(service.get("category", "other"), 0)
        rows = [WaitingRow(cat, zh, en, totals.pop(cat))
                for cat, (zh, en) in CATEGORIES.items() if cat in totals]
        rows += [WaitingRow(cat, str(cat), "", n) for cat, n in sorted(totals.items())]
        return rows

    def total_waiting(self) -> int:
        return sum(n for sid, n in self.waiting.items() if self.shows(sid))

    def counter_screen(self, number: int | None = None) -> CounterScreen:
        """What the display above counter ``number`` (default: ours) shows.

        Raises:
            StateError: no counter number given and this is not a counter display.
        """
        number = self.counter if number is None else number
        if number is None:
            raise StateError("counter_screen: this display is not bound to a counter")
        info = self.counters.get(number) or CounterInfo(number, f"{number}号窗口")
        if info.state == "paused":
            return CounterScreen("paused", number, info.name, info.current, reason=info.reason)
        if info.current:
            return CounterScreen("ticket", number, info.name, info.current, info.serving)
        if info.state == "closed" and self.welcomed and number in self.counters:
            return CounterScreen("closed", number, info.name)
        return CounterScreen("idle", number, info.name)
