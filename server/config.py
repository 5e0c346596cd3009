"""Hall configuration: frozen dataclasses, the TOML loader and its validation.

A hall is described by one TOML file (see ``docs/CONFIG.md``)::

    [hall]        name, timezone, database, id?, notice?, host?, port?, ...
    [dispatch]    optional tuning of the dispatch order
    [announce]    optional tuning of the voice announcer
    [console]     optional: the supervisor console's idle timeout and alert thresholds
    [failover]    optional: the owner lease on PostgreSQL
    [[services]]  one table per service (with optional [services.appointments])
    [[counters]]  one table per counter
    [[staff]]     one table per staff member (pin_hash only, never a PIN; roles and
                  password_hash for the console)
    [[devices]]   one table per device (token_hash only, never a token)

:func:`parse` checks everything and collects *all* problems before giving
up, each as ``"services[2].prefix (line 14): must be 1-2 uppercase letters,
got 'a1'"`` (indexes count from 0; the line is found by scanning the text,
best effort). Any problem raises :class:`ConfigError`, so a server never
starts on a half-valid hall. :func:`dumps` renders a config back to TOML.

This module imports only the standard library and :mod:`server.auth`
(itself stdlib-only) for the hash format.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import difflib
import json
import re
import sys
import tomllib
import urllib.parse
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from server.auth import parse_hash
from server.wire.labels import CATEGORY_IDS

__all__ = [
    "CATEGORIES",
    "NOTIFY_EVENTS",
    "Notify",
    "COUNTER_MODES",
    "DEVICE_ROLES",
    "TRANSFER_PLACEMENTS",
    "Announce",
    "Appointments",
    "ConfigError",
    "ConfigFileError",
    "Console",
    "STAFF_RESETS",
    "STAFF_ROLES",
    "toml_text",
    "Counter",
    "Device",
    "Dispatch",
    "Failover",
    "HallConfig",
    "Limits",
    "Service",
    "Staff",
    "configure",
    "dumps",
    "load",
    "parse",
    "run",
    "summary",
]

CATEGORIES = CATEGORY_IDS
COUNTER_MODES = ("ordered", "oldest")
DEVICE_ROLES = ("kiosk", "counter", "display", "evaluator", "admin", "booking")
STAFF_ROLES = ("counter", "supervisor", "admin")
#: Secrets a staff member sets at their next login after a reset (``reset``).
STAFF_RESETS = ("pin", "password")
TRANSFER_PLACEMENTS = ("head", "issue_time", "tail")
# Roles bound to one counter: required for these, optional for a display
# (a counter display above the window vs. a lobby board), refused otherwise.
_ROLES_NEED_COUNTER = ("counter", "evaluator")
_TABLES = ("hall", "dispatch", "announce", "limits", "console", "failover")
_ARRAYS = ("services", "counters", "staff", "devices", "notify")
_ROLES_MAY_COUNTER = ("counter", "evaluator", "display")


# ---------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class Appointments:
    """Booking rules of a service that takes appointments (``[services.appointments]``).

    Attributes:
        slot_minutes: length of one bookable slot.
        capacity: bookings per slot.
        book_min_days: earliest booking, days ahead (1 = from tomorrow).
        book_max_days: latest booking, days ahead.
        early_checkin_min: a booking may check in this many minutes before its slot.
        late_checkin_min: ... and this many minutes after the slot starts.
        max_misses: missed bookings that trigger a block ...
        block_days: ... of this many days.
    """

    slot_minutes: int = 30
    capacity: int = 2
    book_min_days: int = 1
    book_max_days: int = 5
    early_checkin_min: int = 30
    late_checkin_min: int = 15
    max_misses: int = 2
    block_days: int = 90


@dataclass(frozen=True)
class Service:
    """One service (事项) citizens take a ticket for.

    Attributes:
        id: stable id used on the wire.
        name: Chinese name.
        name_en: English name.
        prefix: ticket number prefix, 1-2 uppercase letters.
        category: ``approval``, ``public`` or ``intermediary``.
        hours: opening intervals in the hall's timezone, sorted; empty = always open.
        daily_quota: tickets per day, or None for no limit.
        default_service_s: service time assumed for ETAs before there is history.
        appointments: booking rules, or None when the service takes no bookings.
        zone: where to wait (e.g. "A区 1-12号窗口"), printed on tickets and shown
            on boards; empty = clients name the service's counters instead.
        route: a joint-approval route (联合审批): the services a ticket of this
            service goes through in order, one number for the whole case;
            empty for an ordinary service. No counter serves a route itself.
        kiosk: offered at the kiosk (true); false keeps it off the kiosk's
            screens, e.g. a step reached only through a route (its citizens
            take the route's number). Staff and the server still serve it.
    """

    id: str
    name: str
    name_en: str
    prefix: str
    category: str
    hours: tuple[tuple[datetime.time, datetime.time], ...] = ()
    daily_quota: int | None = None
    default_service_s: int = 300
    appointments: Appointments | None = None
    zone: str = ""
    route: tuple[str, ...] = ()
    kiosk: bool = True


@dataclass(frozen=True)
class Counter:
    """One counter (窗口).

    Attributes:
        number: the counter number shown to citizens.
        name: display name, e.g. ``3号窗口``.
        services: service ids in order of preference.
        mode: ``ordered`` (earlier services first) or ``oldest`` (oldest ticket
            of all its services first).
    """

    number: int
    name: str
    services: tuple[str, ...]
    mode: str = "ordered"


@dataclass(frozen=True)
class Staff:
    """A staff member who may log in at a counter (and, with the role
    supervisor or admin and a ``password_hash``, at the console ``/console``).

    ``disabled``: may log in nowhere (kept for reports and the audit trail).
    ``reset``: the secrets (``pin``, ``password``) the person sets at their
    next login: the PIN or password typed then becomes theirs (the old hash
    is no longer accepted).
    """

    id: str
    name: str
    pin_hash: str
    roles: tuple[str, ...] = ("counter",)
    password_hash: str = ""
    disabled: bool = False
    reset: tuple[str, ...] = ()


@dataclass(frozen=True)
class Device:
    """A device allowed to connect; its role and counter come from here, never the client."""

    id: str
    role: str
    token_hash: str
    counter: int | None = None


@dataclass(frozen=True)
class Dispatch:
    """Hall-wide dispatch tuning.

    Attributes:
        priority_per_normal: at most this many priority/appointment calls per normal one.
        transfer_placement: where a transferred ticket goes: ``head``,
            ``issue_time`` or ``tail`` of its new queue.
        requeue_places: 过号重排 puts a no-show back this many places.
        no_show_return_s: a no-show may come back within this many seconds.
        transfer_timeout: seconds a ticket transferred to a counter waits while
            that counter is paused before it returns to the head of its
            service's queue (``"10m"`` style strings are accepted in the file).
    """

    priority_per_normal: int = 2
    transfer_placement: str = "head"
    requeue_places: int = 3
    no_show_return_s: int = 1800
    transfer_timeout: int = 600


@dataclass(frozen=True)
class Limits:
    """Abuse limits: they belong to a device, a staff member or a source
    address, never to one connection (docs/SECURITY.md). 0 = unlimited.

    Attributes:
        kiosk_issues_per_min: tickets per minute per kiosk device, across its connections.
        requests_per_s: requests per second per device, any request type.
        hellos_per_min: failed and unauthenticated hellos (and HTTP requests)
            per minute per source address.
        pin_failures: wrong PINs per staff member and per device, per 5 minutes.
        remote_issues_per_hour: remote tickets (``POST /api/v1/halls/<id>/tickets``)
            per hour per source address.
    """

    kiosk_issues_per_min: int = 60
    requests_per_s: int = 20
    hellos_per_min: int = 120
    pin_failures: int = 5
    remote_issues_per_hour: int = 10

    @classmethod
    def off(cls) -> Limits:
        """Every per-device and per-source limit off (``qhall serve --no-limits``)."""
        return cls(0, 0, 0, 0, 0)


#: What a ``[[notify]]`` webhook may subscribe to (PROTOCOL "Notifications").
NOTIFY_EVENTS = ("ticket.soon", "ticket.called", "ticket.no_show", "rating.bad")


@dataclass(frozen=True)
class Notify:
    """One webhook (``[[notify]]``): signed POSTs of the chosen ``events``.

    Exactly one of ``secret`` (the HMAC key itself) or ``secret_file`` (a
    file holding it, outside the config) is set.
    """

    url: str
    events: tuple[str, ...]
    secret: str = ""
    secret_file: str = ""


@dataclass(frozen=True)
class Console:
    """The supervisor console (``/console``, docs/CONSOLE.md).

    Attributes:
        idle_timeout_s: a console session with no action for this long ends.
        service_level_target: share of served tickets within
            ``service_level_s`` the hall aims at (an alert below it).
        wait_alert_s: a ticket waiting longer than this raises an alert.
        pause_alert_s: a counter paused, or open with nobody called, this long
            raises an alert.
    """

    idle_timeout_s: int = 900
    service_level_target: float = 0.85
    wait_alert_s: int = 1800
    pause_alert_s: int = 900


@dataclass(frozen=True)
class Announce:
    """Voice announcement settings."""

    repeat: int = 2
    english: bool = False
    voice: str = "cmn-latn-pinyin"


@dataclass(frozen=True)
class Failover:
    """Several ``qhall serve`` processes of one hall on PostgreSQL (docs/DEPLOYMENT.md).

    Attributes:
        lease_s: how long the hall's owner lease lives without renewal; a
            standby takes over at most about 1.2x this after the owner
            stops. ``qhall serve --lease-s`` overrides it; the halls of one
            process share one lease length. 5 s: a frozen owner is seen
            only as renewals that stop, so the lease is the detection time
            of a freeze (docs/DEPLOYMENT.md argues the number and when to
            raise it).
    """

    lease_s: float = 5.0


#: [failover] lease_s bounds: under a second renews faster than a busy
#: database answers; over a minute leaves a hall dark that long.
LEASE_S_RANGE = (1.0, 60.0)


@dataclass(frozen=True, kw_only=True)
class HallConfig:
    """A whole hall. Build one with :func:`load` or :func:`parse`.

    Attributes:
        id: hall id (several halls may share one database).
        name: hall name.
        timezone: IANA timezone; the day boundary and hours are in it.
        database: SQLAlchemy URL (``sqlite:///...`` or ``postgresql+psycopg://...``).
        services, counters, staff, devices: the hall's parts, in file order.
        dispatch: dispatch tuning.
        announce: announcer settings.
        notice: text shown on the kiosk and the lobby board.
        host: address the server listens on.
        port: port the server listens on.
        rating_followup_days: a bad rating must be followed up within this many days.
        service_level_s: reports count a wait up to this many seconds as on target.
        limits: abuse limits per device, staff member and source address.
        failover: the owner lease when processes share the hall.
        pii_key_file: file holding the key that hashes phone numbers (outside
            the database); ``QHALL_PII_KEY`` overrides it.
        public_url: the base URL citizens' phones reach (QR codes, ``/t/``
            links); empty: clients fall back to the server URL they use.
        soon_ahead: ``ticket.soon`` fires once when a ticket has this many
            people ahead or fewer.
        notify: the webhooks (``[[notify]]``).
    """

    name: str
    timezone: str
    database: str
    services: tuple[Service, ...]
    counters: tuple[Counter, ...]
    staff: tuple[Staff, ...] = ()
    devices: tuple[Device, ...] = ()
    dispatch: Dispatch = field(default_factory=Dispatch)
    announce: Announce = field(default_factory=Announce)
    limits: Limits = field(default_factory=Limits)
    console: Console = field(default_factory=Console)
    failover: Failover = field(default_factory=Failover)
    id: str = "main"
    notice: str = ""
    host: str = "127.0.0.1"
    port: int = 8765
    rating_followup_days: int = 5
    service_level_s: int = 900
    pii_key_file: str = ""
    public_url: str = ""
    soon_ahead: int = 3
    notify: tuple[Notify, ...] = ()

    @cached_property
    def tz(self) -> zoneinfo.ZoneInfo:
        """The hall's timezone."""
        return zoneinfo.ZoneInfo(self.timezone)

    @cached_property
    def _index(self) -> dict[str, dict[Any, Any]]:
        # Built once: the core looks services and counters up on every command.
        return {
            "service": {s.id: s for s in self.services},
            "counter": {c.number: c for c in self.counters},
            "device": {d.id: d for d in self.devices},
            "staff": {s.id: s for s in self.staff},
        }

    def service(self, service_id: str) -> Service | None:
        """The service with this id, or None."""
        return self._index["service"].get(service_id)

    def counter(self, number: int) -> Counter | None:
        """The counter with this number, or None."""
        return self._index["counter"].get(number)

    def device(self, device_id: str) -> Device | None:
        """The device with this id, or None."""
        return self._index["device"].get(device_id)

    def staff_member(self, staff_id: str) -> Staff | None:
        """The staff member with this id, or None."""
        return self._index["staff"].get(staff_id)


# ---------------------------------------------------------------- errors


class ConfigError(Exception):
    """The configuration is invalid.

    Attributes:
        errors: one line per problem, ``"path (line N): message"``.
        source: the file name (or ``<string>``).
    """

    def __init__(self, errors: list[str], source: str = "<string>") -> None:
        self.errors = list(errors)
        self.source = source
        super().__init__(self.__str__())

    def __str__(self) -> str:
        count = len(self.errors)
        head = f"{self.source}: {count} error{'s' if count != 1 else ''}"
        return head + "".join(f"\n  {e}" for e in self.errors)


class ConfigFileError(ConfigError):
    """The file could not be read or is not valid TOML (nothing was checked)."""


# ---------------------------------------------------------------- line finder

_KeyPath = tuple[str | int, ...]

_ARRAY_HEADER = re.compile(r"\s*\[\[\s*(.+?)\s*\]\]\s*(?:#.*)?$")
_TABLE_HEADER = re.compile(r"\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_KEY_PART = r"(?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')"
_KEY_LINE = re.compile(rf"\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=")


def _split_key(dotted: str) -> list[str]:
    parts = re.findall(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_\-]+)", dotted)
    return [a or b or c for a, b, c in parts]


def _line_index(text: str) -> dict[_KeyPath, int]:
    """Map key paths to the 1-based line where they are written.

    tomllib keeps no positions, so this re-reads the text: table headers,
    array-of-tables headers (counted to give indexes) and ``key =`` lines.
    Best effort: keys inside inline tables or multi-line arrays resolve to
    the line of the enclosing key.
    """
    index: dict[_KeyPath, int] = {}
    counts: dict[_KeyPath, int] = {}
    current: _KeyPath = ()
    in_multiline: str | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        array = _ARRAY_HEADER.match(line)
        table = None if array else _TABLE_HEADER.match(line)
        if array or table:
            parts = _split_key((array or table).group(1))  # type: ignore[union-attr]
            path: list[str | int] = []
            for i, part in enumerate(parts):
                path.append(part)
                last = i == len(parts) - 1
                if array and last:
                    counts[tuple(path)] = counts.get(tuple(path), -1) + 1
                    index.setdefault(tuple(path), lineno)
                    path.append(counts[tuple(path)])
                elif tuple(path) in counts:
                    path.append(counts[tuple(path)])
            current = tuple(path)
            index.setdefault(current, lineno)
            continue
        key = _KEY_LINE.match(line)
        if key:
            index.setdefault(current + tuple(_split_key(key.group(1))), lineno)
            rest = line[key.end() :]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_multiline = quote
    return index


def _format_path(path: _KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if re.fullmatch(r"[A-Za-z0-9_\-]+", part) else json.dumps(part)
            out += f".{name}" if out else name
    return out or "(top level)"


# ---------------------------------------------------------------- checker

_MISSING = object()
_TYPE_NAMES = {
    bool: "boolean",
    int: "integer",
    float: "float",
    str: "string",
    list: "array",
    dict: "table",
    datetime.datetime: "datetime",
    datetime.date: "date",
    datetime.time: "time",
}
_ID_RE = re.compile(r"[a-z0-9][a-z0-9_\-]{0,31}")
_ID_RULE = "must be 1-32 lowercase letters, digits, '-' or '_', starting with a letter or digit"
_PREFIX_RE = re.compile(r"[A-Z]{1,2}")
_HOURS_RE = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
_DB_SCHEMES = ("sqlite:///", "postgresql://", "postgresql+psycopg://")


def _type_name(value: object) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _article(word: str) -> str:
    return "an" if word[:1] in ("a", "e", "i", "o", "u") else "a"


def _show_typed(value: object) -> str:
    """A bad value with its TOML type, for "must be an integer, got string '400'"."""
    shown = _show(value)
    return shown if isinstance(value, list | dict) else f"{_type_name(value)} {shown}"


def _show(value: object) -> str:
    """A short rendering of a bad value for an error message."""
    if isinstance(value, list | dict):
        return _type_name(value)
    if isinstance(value, bool):
        return "true" if value else "false"  # as written in TOML, not Python's True
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Checker:
    """Collects errors while reading the parsed TOML into dataclasses."""

    def __init__(self, text: str) -> None:
        self.errors: list[str] = []
        self._error_lines: list[int] = []
        self._lines = _line_index(text)

    # -- reporting

    def line(self, path: _KeyPath) -> int | None:
        # The exact key, else the closest enclosing key or table header.
        for end in range(len(path), 0, -1):
            found = self._lines.get(path[:end])
            if found is not None:
                return found
        return None

    def where(self, path: _KeyPath) -> str:
        line = self.line(path)
        return _format_path(path) + (f" (line {line})" if line else "")

    def error(self, path: _KeyPath, message: str) -> None:
        self.errors.append(f"{self.where(path)}: {message}")
        self._error_lines.append(self.line(path) or 0)

    def sorted_errors(self) -> list[str]:
        """The errors in file order (those without a line first), stable otherwise."""
        order = sorted(range(len(self.errors)), key=lambda i: self._error_lines[i])
        return [self.errors[i] for i in order]

    # -- structure

    def keys(
        self, path: _KeyPath, table: dict[str, Any], allowed: Iterable[str], required: Iterable[str]
    ) -> None:
        allowed = list(allowed)
        for key in table:
            if key not in allowed:
                if path and key in _ARRAYS:
                    # e.g. `services = [...]` typed under [hall]: a header is missing.
                    hint = f"; [[{key}]] tables belong at the top level"
                elif path and key in _TABLES:
                    hint = f"; [{key}] is a table of its own at the top level"
                else:
                    hint = _did_you_mean(key, allowed)
                self.error(path + (key,), f"unknown key{hint}")
        for key in required:
            if key not in table:
                self.error(path + (key,), "missing required key")

    def table(self, path: _KeyPath, value: object) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.error(path, f"must be a table, got {_show_typed(value)}")
        return None

    def tables(self, data: dict[str, Any], key: str) -> list[tuple[_KeyPath, dict[str, Any]]]:
        """The elements of an array of tables (``[[key]]``), with their paths."""
        value = data.get(key, [])
        if not isinstance(value, list):
            self.error((key,), f"must be an array of tables ([[{key}]]), got {_show_typed(value)}")
            return []
        out: list[tuple[_KeyPath, dict[str, Any]]] = []
        for i, item in enumerate(value):
            table = self.table((key, i), item)
            if table is not None:
                out.append(((key, i), table))
        return out

    # -- scalars: each returns the value, or the default when missing or bad

    def get(
        self,
        path: _KeyPath,
        table: dict[str, Any],
        key: str,
        kind: type,
        default: Any = _MISSING,
        check: Callable[[Any], str | None] | None = None,
    ) -> Any:
        if key not in table:
            return None if default is _MISSING else default
        value = table[key]
        # bool is an int in Python but not in TOML.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            name = _TYPE_NAMES[kind]
            self.error(path + (key,), f"must be {_article(name)} {name}, got {_show_typed(value)}")
            return None if default is _MISSING else default
        if check is not None:
            problem = check(value)
            if problem:
                self.error(path + (key,), problem)
                return None if default is _MISSING else default
        return value

    def text(self, path: _KeyPath, table: dict[str, Any], key: str, default: Any = _MISSING) -> Any:
        return self.get(path, table, key, str, default, _nonempty)

    def integer(
        self,
        path: _KeyPath,
        table: dict[str, Any],
        key: str,
        default: Any = _MISSING,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> Any:
        def check(value: int) -> str | None:
            if minimum is not None and value < minimum:
                return f"must be at least {minimum}, got {value}"
            if maximum is not None and value > maximum:
                return f"must be at most {maximum}, got {value}"
            return None

        return self.get(path, table, key, int, default, check)

    def duration(
        self, path: _KeyPath, table: dict[str, Any], key: str, default: int, minimum: int
    ) -> int:
        """Seconds: an integer, or a string such as ``"90s"``, ``"10m"``, ``"1h"``."""
        value = table.get(key, default)
        if isinstance(value, str):
            seconds = _duration_seconds(value)
            if seconds is None:
                self.error(path + (key,), f"must be seconds (an integer) or a duration such "
                                          f"as \"10m\", \"90s\" or \"1h\"; got {value!r}")
                return default
            table = {key: seconds}
        return int(self.integer(path, table, key, default, minimum))

    def choice(
        self,
        path: _KeyPath,
        table: dict[str, Any],
        key: str,
        choices: tuple[str, ...],
        default: Any,
    ) -> Any:
        def check(value: str) -> str | None:
            if value in choices:
                return None
            return f"must be one of {', '.join(choices)}; got {value!r}"

        return self.get(path, table, key, str, default, check)

    def strings(self, path: _KeyPath, table: dict[str, Any], key: str) -> list[str] | None:
        value = self.get(path, table, key, list)
        if value is None:
            return None
        ok = True
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.error(path + (key, i), f"must be a string, got {_show_typed(item)}")
                ok = False
        return value if ok else None

    def secret_hash(self, path: _KeyPath, table: dict[str, Any], key: str) -> Any:
        def check(value: str) -> str | None:
            if parse_hash(value) is not None:
                return None
            if value.startswith("scrypt$"):
                return "malformed hash; make a new one with qhall hash-secret"
            # Never echo the value: it is probably a real PIN or token.
            return "looks like a plaintext secret; use qhall hash-secret"

        return self.get(path, table, key, str, _MISSING, check)

    def unique(self, seen: dict[Any, _KeyPath], value: Any, path: _KeyPath, what: str) -> None:
        """Report ``value`` if an earlier item already used it."""
        if value is None:
            return
        if value in seen:
            first = seen[value]
            self.error(path, f"duplicate {what} {value!r} (also {self.where(first)})")
        else:
            seen[value] = path


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    # Also catch a shortened key: "pin" for "pin_hash", "token" for "token_hash".
    close = close or [c for c in choices if word and c.startswith(word)][:1]
    return f" (did you mean '{close[0]}'?)" if close else ""


def _nonempty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def _id_check(value: str) -> str | None:
    return None if _ID_RE.fullmatch(value) else f"{_ID_RULE}; got {value!r}"


def _prefix_check(value: str) -> str | None:
    if _PREFIX_RE.fullmatch(value):
        return None
    return f"must be 1-2 uppercase letters, got {value!r}"


def _timezone_check(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
        return None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    close = difflib.get_close_matches(value, zoneinfo.available_timezones(), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown timezone {value!r}{hint}"


def _database_check(value: str) -> str | None:
    for scheme in _DB_SCHEMES:
        if value.startswith(scheme) and len(value) > len(scheme):
            return None
    # Show only the scheme: the rest of a URL may hold a password.
    scheme = value.split(":", 1)[0] if ":" in value else value[:20]
    return (
        "must be a sqlite:///PATH or postgresql+psycopg://... URL, "
        f"got one starting with {scheme!r}"
    )


def _parse_hours(checker: _Checker, path: _KeyPath, value: list[str]) -> tuple[Any, ...]:
    spans: list[tuple[datetime.time, datetime.time, int, str]] = []
    for i, item in enumerate(value):
        match = _HOURS_RE.fullmatch(item.strip())
        times = None
        if match:
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            if h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60:
                times = datetime.time(h1, m1), datetime.time(h2, m2)
        if times is None:
            checker.error(path + (i,), f"must be 'HH:MM-HH:MM' like '08:30-12:00', got {item!r}")
        elif times[0] >= times[1]:
            checker.error(path + (i,), f"start must be before end, got {item!r}")
        else:
            spans.append((times[0], times[1], i, item))
    spans.sort()
    for (_, end, _, before), (start, _, i, item) in zip(spans, spans[1:], strict=False):
        if start < end:
            checker.error(path + (i,), f"{item!r} overlaps {before!r}")
    return tuple((start, end) for start, end, _, _ in spans)


# ---------------------------------------------------------------- readers

_DURATION = re.compile(r"\s*(\d+)\s*(s|m|h|min|sec)?\s*")
_UNIT_S = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}


def _duration_seconds(text: str) -> int | None:
    """``"10m"`` -> 600; None when the text is not a duration."""
    m = _DURATION.fullmatch(text)
    return int(m.group(1)) * _UNIT_S[m.group(2)] if m else None


def _http_url_check(value: str) -> str | None:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an http:// or https:// URL, got {value!r}"
    if parts.query or parts.fragment:
        return f"must be a plain base URL without ? or #, got {value!r}"
    return None



def _read_hall(c: _Checker, data: dict[str, Any]) -> dict[str, Any]:
    if "hall" not in data:
        c.error(("hall",), "missing required table [hall]")
        return {}
    hall = c.table(("hall",), data["hall"])
    if hall is None:
        return {}
    p: _KeyPath = ("hall",)
    c.keys(
        p,
        hall,
        (
            "id", "name", "timezone", "database", "notice", "host", "port",
            "rating_followup_days", "service_level_s", "pii_key_file", "public_url",
            "soon_ahead",
        ),
        ("name", "timezone", "database"),
    )  # fmt: skip
    return {
        "id": c.get(p, hall, "id", str, "main", _id_check),
        "name": c.text(p, hall, "name"),
        "timezone": c.get(p, hall, "timezone", str, check=_timezone_check),
        "database": c.get(p, hall, "database", str, check=_database_check),
        "notice": c.get(p, hall, "notice", str, ""),
        "host": c.text(p, hall, "host", "127.0.0.1"),
        "port": c.integer(p, hall, "port", 8765, 0, 65535),
        "rating_followup_days": c.integer(p, hall, "rating_followup_days", 5, 1, 365),
        "service_level_s": c.integer(p, hall, "service_level_s", 900, 1),
        "pii_key_file": c.get(p, hall, "pii_key_file", str, ""),
        "public_url": c.get(p, hall, "public_url", str, "", _http_url_check).rstrip("/"),
        "soon_ahead": c.integer(p, hall, "soon_ahead", 3, 0, 1000),
    }


def _read_dispatch(c: _Checker, data: dict[str, Any]) -> Dispatch:
    table = c.table(("dispatch",), data["dispatch"]) if "dispatch" in data else {}
    if table is None:
        return Dispatch()
    p: _KeyPath = ("dispatch",)
    d = Dispatch()
    c.keys(p, table, [f.name for f in dataclasses.fields(Dispatch)], ())
    return Dispatch(
        priority_per_normal=c.integer(p, table, "priority_per_normal", d.priority_per_normal, 0),
        transfer_placement=c.choice(
            p, table, "transfer_placement", TRANSFER_PLACEMENTS, d.transfer_placement
        ),
        requeue_places=c.integer(p, table, "requeue_places", d.requeue_places, 0),
        no_show_return_s=c.integer(p, table, "no_show_return_s", d.no_show_return_s, 0),
        transfer_timeout=c.duration(p, table, "transfer_timeout", d.transfer_timeout, 1),
    )


def _read_limits(c: _Checker, data: dict[str, Any]) -> Limits:
    table = c.table(("limits",), data["limits"]) if "limits" in data else {}
    if table is None:
        return Limits()
    p: _KeyPath = ("limits",)
    d = Limits()
    c.keys(p, table, [f.name for f in dataclasses.fields(Limits)], ())
    # Upper bounds catch typos (an extra zero or two) that would disable a limit in effect.
    return Limits(
        kiosk_issues_per_min=c.integer(p, table, "kiosk_issues_per_min",
                                       d.kiosk_issues_per_min, 0, 100_000),
        requests_per_s=c.integer(p, table, "requests_per_s", d.requests_per_s, 0, 100_000),
        hellos_per_min=c.integer(p, table, "hellos_per_min", d.hellos_per_min, 0, 1_000_000),
        pin_failures=c.integer(p, table, "pin_failures", d.pin_failures, 0, 1000),
        remote_issues_per_hour=c.integer(p, table, "remote_issues_per_hour",
                                         d.remote_issues_per_hour, 0, 100_000),
    )


def _webhook_url_check(value: str) -> str | None:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an http:// or https:// URL, got {value!r}"
    return None


def _read_notify(c: _Checker, data: dict[str, Any]) -> list[Notify]:
    out: list[Notify] = []
    for p, table in c.tables(data, "notify"):
        c.keys(p, table, ("url", "secret", "secret_file", "events"), ("url", "events"))
        url = c.get(p, table, "url", str, "", _webhook_url_check)
        secret = c.get(p, table, "secret", str, "")
        secret_file = c.get(p, table, "secret_file", str, "")
        if bool(secret) == bool(secret_file):
            c.error(p, "give exactly one of secret or secret_file (the key that signs "
                       "the webhook's requests)")
        elif secret_file:
            try:
                if not Path(secret_file).read_bytes().strip():
                    c.error(p + ("secret_file",), f"{secret_file} is empty")
            except OSError as exc:
                c.error(p + ("secret_file",), f"cannot read {secret_file}: "
                                              f"{exc.strerror or exc}")
        events = c.strings(p, table, "events") or []
        for i, name in enumerate(events):
            if name not in NOTIFY_EVENTS:
                c.error(p + ("events", i), f"unknown event {name!r}; expected some of "
                                           f"{', '.join(NOTIFY_EVENTS)}")
        if "events" in table and not events:
            c.error(p + ("events",), "must name at least one event")
        out.append(Notify(url, tuple(dict.fromkeys(events)), secret, secret_file))
    return out


def _read_console(c: _Checker, data: dict[str, Any]) -> Console:
    table = c.table(("console",), data["console"]) if "console" in data else {}
    if table is None:
        return Console()
    p: _KeyPath = ("console",)
    d = Console()
    c.keys(p, table, [f.name for f in dataclasses.fields(Console)], ())
    target = c.get(p, table, "service_level_target", float, d.service_level_target,
                   lambda v: None if 0 < v <= 1 else "must be a share above 0 and at most 1")
    return Console(
        idle_timeout_s=c.duration(p, table, "idle_timeout_s", d.idle_timeout_s, 60),
        service_level_target=float(target if target is not None else d.service_level_target),
        wait_alert_s=c.duration(p, table, "wait_alert_s", d.wait_alert_s, 60),
        pause_alert_s=c.duration(p, table, "pause_alert_s", d.pause_alert_s, 60),
    )


def _read_announce(c: _Checker, data: dict[str, Any]) -> Announce:
    table = c.table(("announce",), data["announce"]) if "announce" in data else {}
    if table is None:
        return Announce()
    p: _KeyPath = ("announce",)
    a = Announce()
    c.keys(p, table, [f.name for f in dataclasses.fields(Announce)], ())
    return Announce(
        repeat=c.integer(p, table, "repeat", a.repeat, 1, 5),
        english=c.get(p, table, "english", bool, a.english),
        voice=c.text(p, table, "voice", a.voice),
    )


def _read_failover(c: _Checker, data: dict[str, Any]) -> Failover:
    table = c.table(("failover",), data["failover"]) if "failover" in data else {}
    if table is None:
        return Failover()
    p: _KeyPath = ("failover",)
    c.keys(p, table, [f.name for f in dataclasses.fields(Failover)], ())
    value = table.get("lease_s", Failover.lease_s)
    low, high = LEASE_S_RANGE
    if isinstance(value, bool) or not isinstance(value, int | float):
        c.error(p + ("lease_s",), f"must be a number of seconds, got {_show_typed(value)}")
    elif not low <= value <= high:
        c.error(p + ("lease_s",), f"must be between {low:g} and {high:g} seconds, got {value}")
    else:
        return Failover(lease_s=float(value))
    return Failover()


def _read_appointments(c: _Checker, path: _KeyPath, value: object) -> Appointments | None:
    table = c.table(path, value)
    if table is None:
        return None
    d = Appointments()
    c.keys(path, table, [f.name for f in dataclasses.fields(Appointments)], ())
    result = Appointments(
        slot_minutes=c.integer(path, table, "slot_minutes", d.slot_minutes, 5, 480),
        capacity=c.integer(path, table, "capacity", d.capacity, 1),
        book_min_days=c.integer(path, table, "book_min_days", d.book_min_days, 0),
        book_max_days=c.integer(path, table, "book_max_days", d.book_max_days, 0, 366),
        early_checkin_min=c.integer(path, table, "early_checkin_min", d.early_checkin_min, 0),
        late_checkin_min=c.integer(path, table, "late_checkin_min", d.late_checkin_min, 0),
        max_misses=c.integer(path, table, "max_misses", d.max_misses, 1),
        block_days=c.integer(path, table, "block_days", d.block_days, 0),
    )
    if result.book_max_days < result.book_min_days:
        c.error(
            path + ("book_max_days",),
            f"must be at least book_min_days ({result.book_min_days}), got {result.book_max_days}",
        )
    return result


def _zone_check(value: str) -> str | None:
    # One short line: it is printed on a 58/80 mm ticket and fits a board column.
    if not value.strip():
        return "must not be empty (leave the key out for no zone)"
    if len(value) > 40 or any(ch < " " for ch in value):
        return f"must be one line of at most 40 characters, got {value!r}"
    return None


def _read_services(c: _Checker, data: dict[str, Any]) -> list[Service]:
    services = []
    ids: dict[Any, _KeyPath] = {}
    prefixes: dict[Any, _KeyPath] = {}
    allowed = [f.name for f in dataclasses.fields(Service)]
    routed: list[tuple[_KeyPath, Service]] = []
    if "services" not in data:
        c.error(("services",), "missing required array [[services]]")
    for p, table in c.tables(data, "services"):
        c.keys(p, table, allowed, ("id", "name", "name_en", "prefix", "category"))
        sid = c.get(p, table, "id", str, check=_id_check)
        prefix = c.get(p, table, "prefix", str, check=_prefix_check)
        c.unique(ids, sid, p + ("id",), "service id")
        c.unique(prefixes, prefix, p + ("prefix",), "prefix")
        hours = c.strings(p, table, "hours")
        appointments = table.get("appointments")
        services.append(
            Service(
                id=sid,
                name=c.text(p, table, "name"),
                name_en=c.text(p, table, "name_en"),
                prefix=prefix,
                category=c.choice(p, table, "category", CATEGORIES, None),
                hours=_parse_hours(c, p + ("hours",), hours) if hours else (),
                daily_quota=c.integer(p, table, "daily_quota", None, 1),
                default_service_s=c.integer(p, table, "default_service_s", 300, 1, 86400),
                appointments=(
                    None
                    if appointments is None
                    else _read_appointments(c, p + ("appointments",), appointments)
                ),
                zone=c.get(p, table, "zone", str, "", _zone_check),
                route=tuple(c.strings(p, table, "route") or ()),
                kiosk=c.get(p, table, "kiosk", bool, True),
            )
        )
        if isinstance(table.get("route"), list):
            routed.append((p, services[-1]))
    if "services" in data and isinstance(data["services"], list) and not data["services"]:
        c.error(("services",), "a hall needs at least one service")
    _check_routes(c, routed, services)
    return services


def _check_routes(c: _Checker, routed: list[tuple[_KeyPath, Service]],
                  services: list[Service]) -> None:
    """A route names at least two steps, each an ordinary service of this hall."""
    by_id = {s.id: s for s in services if s.id is not None}
    for p, svc in routed:
        if len(svc.route) < 2:
            c.error(p + ("route",), "a route needs at least 2 steps (services in order), "
                                    f"got {len(svc.route)}")
        for i, step in enumerate(svc.route):
            found = by_id.get(step)
            if step == svc.id:
                c.error(p + ("route", i), f"a route cannot be a step of itself ({step!r})")
            elif found is None:
                hint = _did_you_mean(step, sorted(by_id))
                c.error(p + ("route", i), f"unknown service {step!r}{hint}")
            elif found.route:
                c.error(p + ("route", i), f"{step!r} is a route itself; a step must be an "
                                          "ordinary service")


def _read_counters(c: _Checker, data: dict[str, Any], service_ids: set[str],
                   routes: frozenset[str] = frozenset()) -> list[Counter]:
    counters = []
    numbers: dict[Any, _KeyPath] = {}
    if "counters" not in data:
        c.error(("counters",), "missing required array [[counters]]")
    for p, table in c.tables(data, "counters"):
        c.keys(p, table, ("number", "name", "services", "mode"), ("number", "services"))
        number = c.integer(p, table, "number", None, 1, 9999)
        c.unique(numbers, number, p + ("number",), "counter number")
        names = c.strings(p, table, "services")
        if names is not None and not names:
            c.error(p + ("services",), "must name at least one service")
        names = names or []
        seen: set[str] = set()
        for i, sid in enumerate(names):
            if sid in seen:
                c.error(p + ("services", i), f"service {sid!r} is listed twice")
            elif sid not in service_ids:
                hint = _did_you_mean(sid, sorted(service_ids))
                c.error(p + ("services", i), f"unknown service {sid!r}{hint}")
            elif sid in routes:
                c.error(p + ("services", i), f"{sid!r} is a route: its tickets wait at its "
                                             "steps' services; list those instead")
            seen.add(sid)
        default_name = f"{number}号窗口" if number is not None else ""
        counters.append(
            Counter(
                number=number,
                name=c.text(p, table, "name", default_name),
                services=tuple(names),
                mode=c.choice(p, table, "mode", COUNTER_MODES, "ordered"),
            )
        )
    if "counters" in data and isinstance(data["counters"], list) and not data["counters"]:
        c.error(("counters",), "a hall needs at least one counter")
    return counters


def _read_staff(c: _Checker, data: dict[str, Any]) -> list[Staff]:
    staff = []
    ids: dict[Any, _KeyPath] = {}
    for p, table in c.tables(data, "staff"):
        c.keys(p, table, ("id", "name", "pin_hash", "roles", "password_hash", "disabled",
                          "reset"), ("id", "name", "pin_hash"))
        sid = c.get(p, table, "id", str, check=_id_check)
        c.unique(ids, sid, p + ("id",), "staff id")
        roles = c.strings(p, table, "roles") or ["counter"]
        for i, role in enumerate(roles):
            if role not in STAFF_ROLES:
                c.error(p + ("roles", i), f"unknown role {role!r}; one of "
                        + ", ".join(STAFF_ROLES))
        password = c.secret_hash(p, table, "password_hash") if "password_hash" in table else ""
        resets = c.strings(p, table, "reset") or []
        for i, what in enumerate(resets):
            if what not in STAFF_RESETS:
                c.error(p + ("reset", i), f"unknown secret {what!r}; one of "
                        + ", ".join(STAFF_RESETS))
        staff.append(Staff(sid, c.text(p, table, "name"), c.secret_hash(p, table, "pin_hash"),
                           tuple(dict.fromkeys(roles)), password or "",
                           bool(c.get(p, table, "disabled", bool, False)),
                           tuple(dict.fromkeys(resets))))
    return staff


def _read_devices(c: _Checker, data: dict[str, Any], numbers: set[int]) -> list[Device]:
    devices = []
    ids: dict[Any, _KeyPath] = {}
    for p, table in c.tables(data, "devices"):
        c.keys(p, table, ("id", "role", "token_hash", "counter"), ("id", "role", "token_hash"))
        did = c.get(p, table, "id", str, check=_id_check)
        c.unique(ids, did, p + ("id",), "device id")
        role = c.choice(p, table, "role", DEVICE_ROLES, None)
        counter = c.integer(p, table, "counter", None)
        if role in _ROLES_NEED_COUNTER and "counter" not in table:
            c.error(p + ("counter",), f"{_article(role)} {role} device must name its counter")
        elif role is not None and role not in _ROLES_MAY_COUNTER and "counter" in table:
            c.error(
                p + ("counter",),
                f"{_article(role)} {role} device is not bound to a counter; remove this",
            )
        elif counter is not None and counter not in numbers:
            c.error(p + ("counter",), f"no counter number {counter} in [[counters]]")
        devices.append(Device(did, role, c.secret_hash(p, table, "token_hash"), counter))
    return devices


# ---------------------------------------------------------------- public API


def parse(text: str, source: str = "<string>") -> HallConfig:
    """Parse and validate a hall configuration.

    Args:
        text: the TOML text.
        source: the name used in error messages (usually the file name).

    Returns:
        The validated configuration.

    Raises:
        ConfigFileError: the text is not valid TOML.
        ConfigError: the TOML is valid but the configuration is not; ``errors``
            lists every problem found.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib says "... (at line 3, column 5)": move the place to the front.
        message = str(exc)
        match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
        if match:
            place = f"line {match.group(1)}, column {match.group(2)}"
            message = f"{place}: invalid TOML: {message[: match.start()]}"
        else:
            message = f"invalid TOML: {message}"
        raise ConfigFileError([message], source) from None

    c = _Checker(text)
    c.keys((), data, _TABLES + _ARRAYS, ())
    hall = _read_hall(c, data)
    dispatch = _read_dispatch(c, data)
    announce = _read_announce(c, data)
    limits = _read_limits(c, data)
    console = _read_console(c, data)
    failover = _read_failover(c, data)
    services = _read_services(c, data)
    counters = _read_counters(c, data, {s.id for s in services if s.id is not None},
                              frozenset(s.id for s in services if s.route))
    staff = _read_staff(c, data)
    devices = _read_devices(c, data, {k.number for k in counters if k.number is not None})
    notify = _read_notify(c, data)
    if c.errors:
        raise ConfigError(c.sorted_errors(), source)
    return HallConfig(
        services=tuple(services),
        counters=tuple(counters),
        staff=tuple(staff),
        devices=tuple(devices),
        dispatch=dispatch,
        announce=announce,
        limits=limits,
        notify=tuple(notify),
        console=console,
        failover=failover,
        **hall,
    )


def load(path: str | Path) -> HallConfig:
    """Read and validate a hall configuration file.

    Raises:
        ConfigFileError: the file cannot be read, is not UTF-8 or not TOML.
        ConfigError: the configuration is invalid.
    """
    source = str(path)
    try:
        # utf-8-sig: tolerate the byte-order mark some Windows editors write.
        text = Path(path).read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ConfigFileError([f"cannot read the file: {exc.strerror or exc}"], source) from None
    except UnicodeDecodeError as exc:
        raise ConfigFileError(
            [f"not UTF-8 text (byte {exc.start}); save the file as UTF-8"], source
        ) from None
    return parse(text, source)


# ---------------------------------------------------------------- dumps


def _toml_str(value: str) -> str:
    # A JSON string is a TOML basic string, except that TOML also forbids a raw DEL.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # 10.0, 2.5: TOML floats as Python writes them
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot render {type(value).__name__} as TOML")


def _toml_table(header: str, pairs: Iterable[tuple[str, Any]]) -> list[str]:
    lines = [header]
    lines += [f"{key} = {_toml_value(value)}" for key, value in pairs if value is not None]
    return lines + [""]


_BARE_KEY = re.compile(r"[A-Za-z0-9_\-]+")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_str(key)


def toml_text(data: dict[str, Any]) -> str:
    """Render TOML data (as :func:`tomllib.loads` returns it for a hall
    configuration: tables, arrays of tables, one level of sub-tables such as
    ``[services.appointments]``) back as TOML text. Comments are not kept.

    Raises:
        TypeError: a value TOML cannot hold here (a date, a deeper table).
    """
    out: list[str] = []
    top = [(k, v) for k, v in data.items() if not isinstance(v, dict | list)
           or (isinstance(v, list) and not any(isinstance(i, dict) for i in v))]
    out += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in top]
    if top:
        out.append("")

    def table(header: str, body: dict[str, Any]) -> None:
        subs = [(k, v) for k, v in body.items() if isinstance(v, dict)]
        out.extend(_toml_table(header, ((_toml_key(k), v) for k, v in body.items()
                                        if not isinstance(v, dict))))
        name = header.strip("[]")
        for k, v in subs:
            out.extend(_toml_table(f"[{name}.{_toml_key(k)}]", v.items()))

    for key, value in data.items():
        if isinstance(value, dict):
            table(f"[{_toml_key(key)}]", value)
        elif isinstance(value, list) and any(isinstance(i, dict) for i in value):
            for item in value:
                table(f"[[{_toml_key(key)}]]", item)
    return "\n".join(out).rstrip("\n") + "\n"


def _hours_text(hours: tuple[tuple[datetime.time, datetime.time], ...]) -> list[str]:
    return [f"{a:%H:%M}-{b:%H:%M}" for a, b in hours]


def dumps(config: HallConfig) -> str:
    """Render a configuration as TOML text that :func:`parse` reads back equal.

    Args:
        config: the configuration (it is not re-validated here).

    Returns:
        The TOML text.
    """
    out: list[str] = []
    out += _toml_table(
        "[hall]",
        [
            ("id", config.id),
            ("name", config.name),
            ("timezone", config.timezone),
            ("database", config.database),
            ("notice", config.notice),
            ("host", config.host),
            ("port", config.port),
            ("rating_followup_days", config.rating_followup_days),
            ("service_level_s", config.service_level_s),
            ("pii_key_file", config.pii_key_file or None),
            ("public_url", config.public_url or None),
            ("soon_ahead", config.soon_ahead),
        ],
    )
    out += _toml_table("[dispatch]", dataclasses.asdict(config.dispatch).items())
    out += _toml_table("[limits]", dataclasses.asdict(config.limits).items())
    out += _toml_table("[announce]", dataclasses.asdict(config.announce).items())
    out += _toml_table("[console]", dataclasses.asdict(config.console).items())
    out += _toml_table("[failover]", dataclasses.asdict(config.failover).items())
    for s in config.services:
        out += _toml_table(
            "[[services]]",
            [
                ("id", s.id),
                ("name", s.name),
                ("name_en", s.name_en),
                ("prefix", s.prefix),
                ("category", s.category),
                ("hours", _hours_text(s.hours) if s.hours else None),
                ("daily_quota", s.daily_quota),
                ("default_service_s", s.default_service_s),
                ("zone", s.zone or None),
                ("route", s.route or None),
                ("kiosk", None if s.kiosk else False),
            ],
        )
        if s.appointments is not None:
            out += _toml_table(
                "[services.appointments]", dataclasses.asdict(s.appointments).items()
            )
    for k in config.counters:
        out += _toml_table(
            "[[counters]]",
            [("number", k.number), ("name", k.name), ("services", k.services), ("mode", k.mode)],
        )
    for m in config.staff:
        out += _toml_table("[[staff]]", [
            ("id", m.id), ("name", m.name), ("pin_hash", m.pin_hash),
            ("roles", list(m.roles) if m.roles != ("counter",) else None),
            ("password_hash", m.password_hash or None),
            ("disabled", True if m.disabled else None), ("reset", list(m.reset) or None)])
    for d in config.devices:
        out += _toml_table(
            "[[devices]]",
            [("id", d.id), ("role", d.role), ("token_hash", d.token_hash), ("counter", d.counter)],
        )
    for n in config.notify:
        out += _toml_table("[[notify]]", [
            ("url", n.url), ("secret", n.secret or None),
            ("secret_file", n.secret_file or None), ("events", n.events)])
    return "\n".join(out).rstrip("\n") + "\n"


# ---------------------------------------------------------------- CLI


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``qhall check-config``."""
    parser.description = (
        "Validate a hall configuration file. Exit 0 when valid, 1 when the "
        "configuration has errors (all listed), 2 when the file cannot be read "
        "or is not TOML."
    )
    parser.add_argument("file", help="the hall configuration (TOML)")


def summary(config: HallConfig) -> str:
    """One line describing a valid configuration."""
    return (
        f"{config.name}: {len(config.services)} services, {len(config.counters)} counters, "
        f"{len(config.staff)} staff, {len(config.devices)} devices"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``qhall check-config``."""
    try:
        config = load(args.file)
    except ConfigFileError as exc:
        print(f"qhall check-config: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"qhall check-config: {exc}", file=sys.stderr)
        return 1
    print(f"ok: {summary(config)}")
    return 0
