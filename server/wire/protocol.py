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
* Input is validated to the end at decode time, before anything else sees
  it (:func:`decode` / :func:`check_value`): every string anywhere in a
  frame, keys included, must be encodable as UTF-8 (no lone surrogates from
  ``\\ud800`` escapes), hold no control character but tab and line breaks
  (which only fields declared ``multiline`` accept), and be at most
  :data:`MAX_STRING` characters; nesting is at most :data:`MAX_DEPTH` deep;
  numbers are finite and within +-:data:`MAX_INT`; ``NaN``/``Infinity`` and
  duplicate keys are refused. So a field another module adds later is
  covered without any code of its own.
* :func:`encode` never produces text that cannot be written as UTF-8, so
  encoding a message for one client can never fail (for it or the others).

Errors: :class:`ProtocolError` (defined with the whole error tree in
``server/wire/errors.py``) carries the wire ``code``, a human message and
the request id when one could be read (``re``), so the server can answer
without ever exposing internals.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from server.wire.errors import ProtocolError

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
    "check_value",
    "encode_bytes",
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
#: Longest string accepted anywhere in a frame (declared fields are tighter).
MAX_STRING = 4096
#: Deepest nesting of objects and lists (the message object itself is 1).
MAX_DEPTH = 8
#: Largest integer magnitude (what a JavaScript client reads exactly).
MAX_INT = 2**53 - 1
_MAX_INT_DIGITS = len(str(MAX_INT))

#: Never acceptable in a string: C0/C1 controls (tab and line breaks aside)
#: and the surrogate code points JSON escapes can smuggle in.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
#: Only accepted in fields declared ``multiline``.
_LINE_BREAKS = re.compile("[\t\n\r\u2028\u2029]")

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
    "ticket.deferred",
    "ticket.arrived",
    "ticket.rated",
    "ticket.routed",
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


@dataclass(frozen=True)
class Field:
    """One request field: its JSON type(s), whether required, its bounds."""

    types: tuple[type, ...]
    required: bool = True
    choices: tuple[Any, ...] | None = None
    min: int | None = None
    max: int | None = None
    max_len: int = MAX_TEXT
    multiline: bool = False

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
            if not self.multiline and _LINE_BREAKS.search(value):
                raise ValueError(f"field {name!r} must be one line (no tab or line break)")
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
        "message": _s(False, multiline=True),
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
    # joint-approval routes (联合审批): 材料补正 back to an earlier step, or end early
    "route_back": Request(_COUNTER, {"step": _i(min=0, max=99), "reason": _s(max_len=200)},
                          needs_staff=True),
    "route_end": Request(_COUNTER, {"reason": _s(max_len=200)}, needs_staff=True),
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
    "followup_close": Request(("admin",), {"followup": _s(max_len=64), "note": _s(multiline=True)}),
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


class _Refused(ValueError):
    """Raised from inside the JSON parser's hooks: a clean ``bad_request``."""


def _parse_int(text: str) -> int:
    # Checked on the digits before int() runs: a 60,000-digit number would
    # cost quadratic time to convert.
    if len(text.lstrip("-")) > _MAX_INT_DIGITS or abs(int(text)) > MAX_INT:
        raise _Refused(f"a number must be between -{MAX_INT} and {MAX_INT}")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or abs(value) > MAX_INT:
        raise _Refused(f"a number must be between -{MAX_INT} and {MAX_INT}")
    return value


def _parse_constant(text: str) -> Any:
    raise _Refused(f"{text} is not a JSON number")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Refused("an object has a key twice")
    return result


#: The one decoder of frames (``json.loads`` with hooks builds a new one per call).
_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_int=_parse_int,
                            parse_float=_parse_float, parse_constant=_parse_constant)


def _text_problem(text: str) -> str | None:
    if len(text) > MAX_STRING:
        return f"is longer than {MAX_STRING} characters"
    bad = _FORBIDDEN.search(text)
    if bad is None:
        return None
    if "\ud800" <= bad.group() <= "\udfff":
        return f"is not valid text (a lone surrogate U+{ord(bad.group()):04X})"
    return f"holds a control character (U+{ord(bad.group()):04X})"


def check_value(value: Any) -> None:
    """Check a decoded JSON value to the end: every string, key, number, depth.

    Raises:
        ValueError: says what is wrong and where (``field 'x'``), without
            echoing the offending text.
    """
    # Iterative, so no input can exhaust the Python stack.
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem:
                raise ValueError(f"field {where or 'value'!r} {problem}")
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise ValueError(f"nesting deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                for key, sub in item.items():
                    problem = _text_problem(key) if isinstance(key, str) else "is not text"
                    if problem:
                        raise ValueError(f"a key in {where or 'the message'!r} {problem}")
                    stack.append((sub, key if depth == 1 else where, depth + 1))
            else:
                stack.extend((sub, where, depth + 1) for sub in item)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int | float):
            if not math.isfinite(item) or abs(item) > MAX_INT:
                raise ValueError(f"field {where or 'value'!r}: a number must be between "
                                 f"-{MAX_INT} and {MAX_INT}")
        else:
            raise ValueError(f"field {where or 'value'!r} is not a JSON value")


def _clean_text(value: Any) -> bool:
    """A string fit for an id, a device name or a token: clean and one line."""
    return isinstance(value, str) and _text_problem(value) is None and not (
        _LINE_BREAKS.search(value))


def decode(frame: str | bytes) -> dict[str, Any]:
    """Decode one frame into a JSON object, validated to the end (not its type).

    Raises:
        ProtocolError: ``bad_request`` for anything not acceptable; ``re`` is
            the request id when that one could be read cleanly.
    """
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
        message = _DECODER.decode(frame)
    except _Refused as exc:
        raise ProtocolError("bad_request", str(exc)) from None
    except (ValueError, RecursionError):
        raise ProtocolError("bad_request", "frame is not valid JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError("bad_request", "a message must be a JSON object")
    _check_message(message)
    return message


def _request_id(message: dict[str, Any]) -> str | None:
    rid = message.get("id")
    if isinstance(rid, str) and _clean_text(rid) and 0 < len(rid) <= MAX_ID:
        return rid
    return None


def _check_message(message: dict[str, Any]) -> None:
    # decode() has done this for frames; in-process callers (tests, the
    # simulator) hand dicts in directly and get the same rules.
    try:
        check_value(message)
    except ValueError as exc:
        raise ProtocolError("bad_request", str(exc), _request_id(message)) from None


def parse_hello(message: dict[str, Any]) -> dict[str, Any]:
    """Validate the opening ``hello``; return it with ``since`` and ``resume``
    (a string, else None) normalised."""
    _check_message(message)
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
        if not _clean_text(value) or not value or len(value) > MAX_TEXT:
            raise ProtocolError("bad_request", f"hello needs a non-empty string {name!r}", rid)
    since = message.get("since")
    if since is not None and (isinstance(since, bool) or not isinstance(since, int)
                              or since < 0):
        raise ProtocolError("bad_request", "'since' must be null or a seq number >= 0", rid)
    # A resume ticket is a shortcut, never a requirement: any other value is
    # as good as none (the token is checked), never an error.
    resume = message.get("resume")
    if not isinstance(resume, str) or not resume or len(resume) > MAX_TEXT:
        resume = None
    return {**message, "since": since, "resume": resume}


def parse_request(message: dict[str, Any]) -> tuple[str, str, Request]:
    """Validate a request; return ``(type, id, spec)``.

    Raises:
        ProtocolError: ``bad_request`` for anything malformed.
    """
    _check_message(message)
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
    """Encode one message as a compact JSON text frame.

    The text is always encodable as UTF-8: should a string in ``message``
    hold a lone surrogate (it cannot come from a validated request, but a
    message is built in many places), the frame falls back to ``\\u``
    escapes instead of failing later for whoever receives it.
    """
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(message, ensure_ascii=True, separators=(",", ":"))
    return text


_json_str = json.encoder.encode_basestring  # a str as json.dumps(..., ensure_ascii=False) writes it


def encode_bytes(message: dict[str, Any]) -> bytes:
    """:func:`encode` as the UTF-8 bytes of a text frame (never fails on text).

    An :class:`EventMessage` carrying its data's JSON text (the store's) is
    assembled around that text: the same bytes, the data not encoded again.
    """
    if type(message) is EventMessage and message.encoded_data():
        seq, name, at = message["seq"], message["name"], message["at"]
        if type(seq) is int and type(name) is str and type(at) is str:
            # What json.dumps writes for this dict, key by key (ensure_ascii=False).
            text = (f'{{"type":"event","seq":{seq},"name":{_json_str(name)},'
                    f'"at":{_json_str(at)},"data":{message.data_text}}}')
            try:
                return text.encode("utf-8")
            except UnicodeEncodeError:
                pass  # a lone surrogate: the whole frame in \u escapes, as below
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(message, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def ok(re: str | None, **fields: Any) -> dict[str, Any]:
    """An ``ok`` reply to request ``re``."""
    return {"type": "ok", "re": re, **fields}


def error(re: str | None, code: str, message: str, **details: Any) -> dict[str, Any]:
    """An ``error`` reply; ``code`` must be one of :data:`ERROR_CODES`.

    ``details`` are structured fields beside the text (a ``closed`` check-in's
    ``opens_at``); they never replace ``type``, ``re``, ``code`` or ``message``.
    """
    assert code in ERROR_CODES, code
    return {**details, "type": "error", "re": re, "code": code, "message": message}


class EventMessage(dict[str, Any]):
    """An ``event`` message that may carry ``data`` already as JSON text.

    ``data_text`` is ``json.dumps(data, ensure_ascii=False, separators=(",", ":"))``
    (what the store wrote for the event row); :func:`encode_bytes` builds the
    frame around it. Nothing changes a committed event's data, so the text
    stays true; a message given another key or another ``data`` object is
    encoded in full.
    """

    __slots__ = ("data_text", "_data")
    data_text: str | None
    _data: dict[str, Any]  # the data object the text was made of

    def encoded_data(self) -> bool:
        """Whether ``data_text`` still stands for this message's ``data``."""
        return self.data_text is not None and len(self) == 5 and self.get("data") is self._data


def event(seq: int, name: str, at: str, data: dict[str, Any],
          data_text: str | None = None) -> dict[str, Any]:
    """An ``event`` message (``data_text``: ``data`` already encoded, see
    :class:`EventMessage`)."""
    # dict's own constructor (no Python __init__: this runs for every event).
    message = EventMessage(type="event", seq=seq, name=name, at=at, data=data)
    message.data_text, message._data = data_text, data
    return message
