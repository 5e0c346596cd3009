"""qhall wire protocol, version 1: parse, validate and build messages.

Pure and stdlib-only, so every client and the server share one definition of
the contract (see ``docs/PROTOCOL.md`` and ``../shared/PROTOCOL.md``).

Rules kept here:

* Text frames of UTF-8 JSON objects, at most :data:`MAX_FRAME` bytes.
* Every message has ``type``; a request has ``id`` (a non-empty string of at
  most 128 characters, unique per device).
* Requests are described as data in :data:`REQUESTS`: which roles may send
  them, their fields and types, whether they change state (and so are
  idempotent per ``(device, id)``) and whether a counter needs a logged-in
  staff member for them.
* Unknown fields are ignored (forward compatibility: the contract allows
  new fields); unknown types, missing or mistyped fields are
  ``bad_request``.

Errors: :class:`ProtocolError` carries the wire ``code``, a human message and
the request id when one could be read (``re``), so the server can answer
without ever exposing internals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PROTOCOL_VERSION",
    "MAX_FRAME",
    "ROLES",
    "ERROR_CODES",
    "EVENT_NAMES",
    "REFUSAL_CODES",
    "STANDBY",
    "CLOSE_SERVICE_RESTART",
    "CLOSE_TRY_AGAIN",
    "Field",
    "Request",
    "REQUESTS",
    "ProtocolError",
    "decode",
    "parse_hello",
    "parse_request",
    "encode",
    "ok",
    "error",
    "event",
]

PROTOCOL_VERSION = 1
MAX_FRAME = 64 * 1024
MAX_ID = 128
MAX_TEXT = 500

ROLES = ("kiosk", "counter", "display", "evaluator", "admin", "booking")

ERROR_CODES = (
    "bad_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "queue_empty",
    "closed",
    "quota_reached",
    "expired",
    "rate_limited",
    "unsupported_protocol",
    "internal",
    "standby",
)

EVENT_NAMES = (
    "ticket.issued",
    "ticket.called",
    "ticket.recalled",
    "ticket.started",
    "ticket.completed",
    "ticket.no_show",
    "ticket.transferred",
    "ticket.cancelled",
    "ticket.requeued",
    "ticket.no_show_undone",
    "ticket.rated",
    "counter.opened",
    "counter.closed",
    "counter.paused",
    "counter.resumed",
    "queue.changed",
    "device.fault",
    "followup.opened",
    "followup.closed",
    "booking.made",
    "booking.cancelled",
    "booking.missed",
)

#: Hello error codes after which reconnecting cannot help (a client stops).
REFUSAL_CODES = frozenset({"unauthorized", "unsupported_protocol"})
#: Hello error of a standby instance of the hall (field ``owner``: the
#: owner's URL or null); the standby then closes with :data:`CLOSE_TRY_AGAIN`.
STANDBY = "standby"
#: WebSocket close codes (RFC 6455 registry) after which a client moves to its
#: next server URL: the instance is restarting or stepping down (1012), or is
#: a standby / shed a slow client (1013). Resume there with ``since``.
CLOSE_SERVICE_RESTART = 1012
CLOSE_TRY_AGAIN = 1013


class ProtocolError(Exception):
    """A message the server must refuse: ``code`` goes on the wire."""

    def __init__(self, code: str, message: str, re: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.re = re


@dataclass(frozen=True)
class Field:
    """One request field: its JSON type(s), whether required, its bounds."""

    types: tuple[type, ...]
    required: bool = True
    choices: tuple[Any, ...] | None = None
    min: int | None = None
    max: int | None = None
    max_len: int = MAX_TEXT

    def check(self, name: str, value: Any) -> None:
        # bool is an int in Python; on the wire it is not a number.
        if isinstance(value, bool) and bool not in self.types:
            raise ValueError(f"field {name!r} must be {self._type_names()}")
        if not isinstance(value, self.types):
            raise ValueError(f"field {name!r} must be {self._type_names()}")
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(map(str, self.choices))
            raise ValueError(f"field {name!r} must be one of: {allowed}")
        if isinstance(value, str):
            if len(value) > self.max_len:
                raise ValueError(f"field {name!r} is longer than {self.max_len} characters")
            if self.required and not value.strip():
                raise ValueError(f"field {name!r} must not be empty")
        if isinstance(value, int) and not isinstance(value, bool):
            if self.min is not None and value < self.min:
                raise ValueError(f"field {name!r} must be at least {self.min}")
            if self.max is not None and value > self.max:
                raise ValueError(f"field {name!r} must be at most {self.max}")

    def _type_names(self) -> str:
        names = {str: "a string", int: "an integer", bool: "true or false",
                 dict: "an object", list: "a list", type(None): "null"}
        return " or ".join(names.get(t, t.__name__) for t in self.types)


def _s(required: bool = True, **kw: Any) -> Field:
    return Field((str,), required, **kw)


def _i(required: bool = True, **kw: Any) -> Field:
    return Field((int,), required, **kw)


@dataclass(frozen=True)
class Request:
    """A request type: who may send it and what it carries."""

    roles: tuple[str, ...]
    fields: dict[str, Field] = field(default_factory=dict)
    mutating: bool = True
    needs_staff: bool = False


_COUNTER = ("counter",)
_BOOKING = ("admin", "booking")

#: Every request type of protocol v1 (plus documented additions).
REQUESTS: dict[str, Request] = {
    "ping": Request(ROLES, mutating=False),
    # kiosk
    "issue": Request(("kiosk",), {
        "service": _s(max_len=64),
        "priority": _s(False, choices=("normal", "priority")),
    }),
    "check_in": Request(("kiosk",), {"code": _s(max_len=32)}),
    "report_fault": Request(("kiosk", "display", "evaluator", "counter"), {
        "kind": _s(choices=("offline", "paper_out", "paper_low", "io", "other")),
        "message": _s(False),
        "ticket": _s(False, max_len=64),
    }),
    "clear_fault": Request(("kiosk", "display", "evaluator", "counter"), {
        "kind": _s(False, max_len=32),
    }),
    # counter
    "login": Request(_COUNTER, {"staff": _s(max_len=64), "pin": _s(max_len=128)}),
    "logout": Request(_COUNTER, needs_staff=True),
    "call_next": Request(_COUNTER, needs_staff=True),
    "call": Request(_COUNTER, {"ticket": _s(max_len=64)}, needs_staff=True),
    "recall": Request(_COUNTER, needs_staff=True),
    "start": Request(_COUNTER, needs_staff=True),
    "complete": Request(_COUNTER, needs_staff=True),
    "no_show": Request(_COUNTER, needs_staff=True),
    "transfer": Request(_COUNTER, {
        "service": _s(False, max_len=64),
        "counter": _i(False, min=1, max=100000),
    }, needs_staff=True),
    "requeue": Request(("counter", "kiosk", "admin"), {
        "ticket": _s(False, max_len=64),
        "check": _s(False, max_len=32),
        "number": _s(False, max_len=16),
    }),
    "unmiss": Request(_COUNTER, {"ticket": _s(max_len=64)}, needs_staff=True),
    "missed": Request(_COUNTER, mutating=False, needs_staff=True),
    "pause": Request(_COUNTER, {"reason": _s(False)}, needs_staff=True),
    "resume": Request(_COUNTER, needs_staff=True),
    "queue": Request(_COUNTER, mutating=False, needs_staff=True),
    "stats": Request(("counter", "admin"), mutating=False),
    # evaluator
    "rate": Request(("evaluator",), {
        "ticket": _s(max_len=64),
        "score": _i(min=1, max=5),
        "items": Field((dict,), False),
        # Why a 1 or 2 (不满意): the pad's chosen GB/T 39734 reasons and free text.
        "reason": _s(False, max_len=200),
    }),
    # admin
    "cancel": Request(("admin",), {"ticket": _s(max_len=64)}),
    # The case id is "followup": "id" is every request's own id.
    "followup_close": Request(("admin",), {"followup": _s(max_len=64), "note": _s()}),
    "followups": Request(("admin",), mutating=False),
    # appointments
    "slots": Request(_BOOKING, {"service": _s(max_len=64), "date": _s(max_len=10)},
                     mutating=False),
    "book": Request(_BOOKING, {
        "service": _s(max_len=64),
        "slot": _s(max_len=40),
        "name": _s(max_len=64),
        "phone": _s(max_len=32),
    }),
    "cancel_booking": Request(_BOOKING, {"code": _s(max_len=32)}),
}


def decode(frame: str | bytes) -> dict[str, Any]:
    """Decode one frame into a JSON object (no validation of its type)."""
    if isinstance(frame, bytes):
        if len(frame) > MAX_FRAME:
            raise ProtocolError("bad_request", "frame larger than 64 KiB")
        try:
            frame = frame.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("bad_request", "frame is not valid UTF-8") from None
    if len(frame) > MAX_FRAME:
        raise ProtocolError("bad_request", "frame larger than 64 KiB")
    try:
        message = json.loads(frame)
    except (ValueError, RecursionError):
        raise ProtocolError("bad_request", "frame is not valid JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError("bad_request", "a message must be a JSON object")
    return message


def _request_id(message: dict[str, Any]) -> str | None:
    rid = message.get("id")
    if isinstance(rid, str) and 0 < len(rid) <= MAX_ID:
        return rid
    return None


def parse_hello(message: dict[str, Any]) -> dict[str, Any]:
    """Validate the opening ``hello``; return it with ``since`` normalised."""
    rid = _request_id(message)
    if message.get("type") != "hello":
        raise ProtocolError("bad_request", "the first message must be 'hello'", rid)
    if rid is None:
        raise ProtocolError("bad_request", "hello needs an 'id' string (1-128 chars)")
    version = message.get("protocol")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ProtocolError("bad_request", "hello needs an integer 'protocol'", rid)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            "unsupported_protocol",
            f"protocol {version} is not supported; this server speaks {PROTOCOL_VERSION}",
            rid,
        )
    for name in ("device", "token"):
        value = message.get(name)
        if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
            raise ProtocolError("bad_request", f"hello needs a non-empty string {name!r}", rid)
    since = message.get("since")
    if since is not None and (isinstance(since, bool) or not isinstance(since, int)
                              or since < 0):
        raise ProtocolError("bad_request", "'since' must be null or a seq number >= 0", rid)
    return {**message, "since": since}


def parse_request(message: dict[str, Any]) -> tuple[str, str, Request]:
    """Validate a request; return ``(type, id, spec)``.

    Raises:
        ProtocolError: ``bad_request`` for anything malformed.
    """
    rid = _request_id(message)
    kind = message.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("bad_request", "a message needs a string 'type'", rid)
    if rid is None:
        raise ProtocolError("bad_request", "a request needs an 'id' string (1-128 chars)")
    spec = REQUESTS.get(kind)
    if spec is None:
        raise ProtocolError("bad_request", f"unknown message type {kind[:40]!r}", rid)
    for name, rule in spec.fields.items():
        if name not in message or message[name] is None:
            if rule.required:
                raise ProtocolError("bad_request", f"missing field {name!r}", rid)
            continue
        try:
            rule.check(name, message[name])
        except ValueError as exc:
            raise ProtocolError("bad_request", str(exc), rid) from None
    return kind, rid, spec


def encode(message: dict[str, Any]) -> str:
    """Encode one message as a compact JSON text frame."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def ok(re: str | None, **fields: Any) -> dict[str, Any]:
    """An ``ok`` reply to request ``re``."""
    return {"type": "ok", "re": re, **fields}


def error(re: str | None, code: str, message: str) -> dict[str, Any]:
    """An ``error`` reply; ``code`` must be one of :data:`ERROR_CODES`."""
    assert code in ERROR_CODES, code
    return {"type": "error", "re": re, "code": code, "message": message}


def event(seq: int, name: str, at: str, data: dict[str, Any]) -> dict[str, Any]:
    """An ``event`` message."""
    return {"type": "event", "seq": seq, "name": name, "at": at, "data": data}
