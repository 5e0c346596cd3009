"""An event message built around its data's stored JSON text encodes to the
same bytes as the message encoded in full (protocol.EventMessage)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.wire import protocol

AT = "2026-11-30T10:00:00+08:00"
DATA: list[dict[str, Any]] = [
    {},
    {"ticket": {"id": "t-1", "number": "A001", "eta_s": 120, "remote": True, "present": None}},
    {"name": "张三 · 窗口 3", "emoji": "🎫", "quote": 'a "b" \\ c\n', "ratio": 0.1 + 0.2},
    {"nested": [[1, 2.5, -3e-7], {"k": [None, False, "é"]}], "big": 2**53},
    {"surrogate": "x\ud800y"},  # the whole frame falls back to \u escapes
]


def _text(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("data", DATA)
def test_the_frame_is_the_full_encoding(data: dict[str, Any]) -> None:
    full = protocol.encode_bytes({"type": "event", "seq": 42, "name": "ticket.called", "at": AT,
                                  "data": data})
    message = protocol.event(42, "ticket.called", AT, data, _text(data))
    assert protocol.encode_bytes(message) == full
    assert protocol.encode(message) == full.decode()
    assert protocol.encode_bytes(protocol.event(42, "ticket.called", AT, data)) == full


def test_the_text_is_used_not_the_data() -> None:
    # Proof the data is not encoded again: a text that differs from the data shows.
    message = protocol.event(1, "x.y", AT, {"a": 1}, '{"a":2}')
    assert json.loads(protocol.encode_bytes(message))["data"] == {"a": 2}


def test_a_changed_message_is_encoded_in_full() -> None:
    message = protocol.event(1, "x.y", AT, {"a": 1}, _text({"a": 1}))
    message["data"] = {"a": 3}  # another data object: its text no longer stands
    assert json.loads(protocol.encode_bytes(message))["data"] == {"a": 3}
    message = protocol.event(1, "x.y", AT, {"a": 1}, '{"a":1}')
    message["extra"] = True  # a sixth key is encoded too
    assert json.loads(protocol.encode_bytes(message)) == {
        "type": "event", "seq": 1, "name": "x.y", "at": AT, "data": {"a": 1}, "extra": True}


@pytest.mark.parametrize("seq, name, at", [("42", "x.y", AT), (42, 7, AT), (42, "x.y", 7),
                                           (None, "x.y", AT)])
def test_a_field_of_another_type_is_encoded_in_full(seq: Any, name: Any, at: Any) -> None:
    # The stored text is spliced in only around an int seq and str name and at:
    # any other is JSON-encoded as it is ("42" stays a string, not a number).
    message = protocol.event(seq, name, at, {"a": 1}, '{"a":1}')
    full = {"type": "event", "seq": seq, "name": name, "at": at, "data": {"a": 1}}
    assert protocol.encode_bytes(message) == protocol.encode_bytes(dict(full))
    assert json.loads(protocol.encode_bytes(message)) == full
