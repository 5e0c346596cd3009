"""ClientSession: the welcome, events, odd frames and request encoding, as pure unit tests.

What a device relies on beyond tests/client/test_session.py: which welcomes
are taken (seq 0 is a new hall; a bad one is dropped like a failed attempt),
what a welcome with a lower seq does, every event held back before the
welcome, the exact edge of a gap, frames that are not messages, error
replies, and the one-frame size budget counted in UTF-8 bytes. Where a frame
is ignored, the log line says which device and which frame (the only trace of
it: chaos's ``--client-log`` and the load tools run many devices at once).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from server.client.session import (
    OWNER_PATIENCE_S,
    WAITING,
    Answered,
    ClientSession,
    Connect,
    Delivered,
    Drop,
    Status,
    Welcomed,
)
from server.wire.protocol import CLOSE_SERVICE_RESTART, CLOSE_TRY_AGAIN, MAX_FRAME
from tests.client.test_session import Clock, event, make, of, online, reconnect, sent

A, B = "ws://a:8765/ws", "ws://b:8765/ws"
DEVICE = "counter-3"  # make()'s device
LOGGER = "server.client.session"


@pytest.fixture
def clock() -> Clock:
    return Clock()


_MISSING = object()  # a field left out of the welcome


def welcome(hello: dict[str, Any], seq: Any = 10, **fields: Any) -> dict[str, Any]:
    msg = {"type": "welcome", "re": hello["id"], "role": "counter", "counter": 3,
           "seq": seq, "hall": {}, "snapshot": {}}
    msg.update(fields)
    return {k: v for k, v in msg.items() if v is not _MISSING}


def logged(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    """The session's log lines at exactly ``level``."""
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == level]


def numbers(line: str) -> list[str]:
    """The numbers a log line names, besides the device's."""
    return re.findall(r"\d+", line.replace(DEVICE, ""))


def steps(session: ClientSession) -> list[str]:
    return [what for _, what in session.trail]


# -- which welcomes are taken -------------------------------------------------------
def test_a_welcome_at_seq_0_is_taken_a_new_hall_has_no_events_yet(clock):
    session = make(clock)
    session.open()
    hello = sent(session.connected())[0]
    msg = welcome(hello, seq=0)
    assert session.receive(json.dumps(msg)) == [Status("online"), Welcomed(msg)]
    assert session.online and session.last_seq == 0 and session.welcome == msg
    assert f"welcome from {A} (seq 0)" in steps(session)
    assert of(Delivered, session.receive(json.dumps(event(1)))) == [Delivered(event(1))]


@pytest.mark.parametrize("fields", [
    {"seq": -1}, {"seq": "7"}, {"seq": True}, {"seq": 7.0}, {"seq": _MISSING},
    {"role": _MISSING}, {"role": 3},
], ids=["seq-negative", "seq-str", "seq-bool", "seq-float", "no-seq", "no-role", "role-int"])
def test_a_malformed_welcome_is_a_failed_attempt_the_next_url_is_tried(clock, caplog, fields):
    session = make(clock, urls=[A, B])
    session.open()
    hello = sent(session.connected())[0]
    bad = welcome(hello, **fields)
    out = session.receive(json.dumps(bad))
    # Not online on a welcome it cannot trust: the socket is dropped, no
    # Welcomed, and the device moves on as after any failed attempt.
    assert out == [Drop(), Status("offline")]
    assert session.state == WAITING and session.welcome is None and session.last_seq is None
    assert f"malformed welcome from {A}" in steps(session)
    (line,) = logged(caplog, logging.WARNING)
    assert DEVICE in line and repr(bad) in line
    assert reconnect(session, clock) == [Status("connecting"), Connect(B)]


# -- the welcome's seq against ours ---------------------------------------------------
def test_a_welcome_with_a_lower_seq_is_the_truth_the_history_restarted(clock, caplog):
    session = make(clock, urls=[A, B])
    session.open()
    online(session, seq=50)
    session.lost(CLOSE_SERVICE_RESTART)
    reconnect(session, clock)
    hello = sent(session.connected())[0]
    assert hello["since"] == 50
    session.receive(json.dumps(welcome(hello, seq=3)))  # a new database
    assert session.online and session.last_seq == 3
    (line,) = logged(caplog, logging.WARNING)
    assert DEVICE in line and numbers(line) == ["50", "3"]
    # Its events count from there (4 is no duplicate), and so does the next hello.
    assert of(Delivered, session.receive(json.dumps(event(4)))) == [Delivered(event(4))]
    session.lost(CLOSE_TRY_AGAIN)
    reconnect(session, clock)
    assert sent(session.connected())[0]["since"] == 4


def test_a_welcome_at_our_own_seq_is_an_ordinary_reconnect(clock, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    session = make(clock, urls=[A, B])
    session.open()
    online(session, seq=10)
    session.lost(CLOSE_SERVICE_RESTART)
    reconnect(session, clock)
    hello = sent(session.connected())[0]
    session.receive(json.dumps(welcome(hello, seq=10)))  # nothing happened meanwhile
    assert session.online and session.last_seq == 10
    # No "seq went back" alarm for the commonest reconnect there is; the
    # welcome itself is logged (matched with instance failures in chaos runs).
    assert logged(caplog, logging.WARNING) == []
    line = logged(caplog, logging.INFO)[-1]
    assert DEVICE in line and B in line and "seq 10" in line


def test_a_url_that_welcomed_the_device_is_no_longer_found_down(clock):
    # One server: it was down (refused), came back and welcomed the device.
    # Closed later as busy, its next welcome gets the plain timeout: the
    # takeover patience is for while a server is found down.
    session = make(clock)
    session.open()
    session.lost(None, "connection refused")
    reconnect(session, clock)
    assert session.welcome_wait() == OWNER_PATIENCE_S  # found down just now
    online(session, seq=10)
    session.lost(CLOSE_TRY_AGAIN)
    assert reconnect(session, clock) == [Status("connecting"), Connect(A)]
    assert session.welcome_wait() == 5.0


# -- events -----------------------------------------------------------------------------
def test_every_event_held_before_the_welcome_is_delivered_after_it_in_order(clock):
    session = make(clock)
    session.open()
    hello = sent(session.connected())[0]
    for seq in (11, 12, 13):
        assert session.receive(json.dumps(event(seq))) == []
    out = session.receive(json.dumps(welcome(hello, seq=10)))
    assert [a.message["seq"] for a in of(Delivered, out)] == [11, 12, 13]
    assert session.last_seq == 13 and session.online


def test_an_event_two_past_the_last_is_a_gap(clock, caplog):
    session = make(clock, urls=[A, B])
    session.open()
    online(session, seq=10)
    out = session.receive(json.dumps(event(12)))  # 11 is missing
    assert out == [Drop(), Status("offline")] and session.state == WAITING
    assert session.last_seq == 10
    assert f"event gap (12 after 10) on {A}" in steps(session)
    (line,) = logged(caplog, logging.WARNING)
    assert DEVICE in line and numbers(line) == ["12", "10"]
    # Resync on the same server, asking for what follows 10.
    assert reconnect(session, clock) == [Status("connecting"), Connect(A)]
    assert sent(session.connected())[0]["since"] == 10


@pytest.mark.parametrize("bad", [
    {"type": "event", "seq": 11, "at": "x", "data": {}},
    {"type": "event", "seq": 11, "name": 5},
    {"type": "event", "seq": "11", "name": "queue.changed"},
    {"type": "event", "seq": True, "name": "queue.changed"},
    {"type": "event", "seq": None, "name": "queue.changed"},
], ids=["no-name", "name-int", "seq-str", "seq-bool", "seq-null"])
def test_a_malformed_event_is_ignored_and_the_next_good_one_delivered(clock, caplog, bad):
    session = make(clock)
    session.open()
    online(session, seq=10)
    assert session.receive(json.dumps(bad)) == []
    assert session.online and session.last_seq == 10
    (line,) = logged(caplog, logging.WARNING)
    assert DEVICE in line and repr(bad) in line
    assert session.receive(json.dumps(event(11))) == [Delivered(event(11))]


def test_a_duplicate_event_is_dropped_quietly(clock, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    session = make(clock)
    session.open()
    online(session, seq=10)
    caplog.clear()
    assert session.receive(json.dumps(event(10))) == []
    assert session.online and session.last_seq == 10
    assert logged(caplog, logging.WARNING) == []
    (line,) = logged(caplog, logging.DEBUG)
    assert DEVICE in line and numbers(line) == ["10"]


# -- frames that are not messages --------------------------------------------------------
@pytest.mark.parametrize("frame", [
    "not json {", "[1, 2]", '"text"', "null", "{}", '{"type": 5}', '{"kind": "event"}',
])
def test_a_frame_that_is_not_a_message_is_ignored(clock, caplog, frame):
    session = make(clock)
    session.open()
    online(session, seq=10)
    assert session.receive(frame) == []
    assert session.online and session.last_seq == 10
    (line,) = logged(caplog, logging.WARNING)
    assert DEVICE in line and repr(frame) in line
    assert session.receive(json.dumps(event(11))) == [Delivered(event(11))]


def test_a_batch_skips_entries_that_are_not_messages(clock):
    session = make(clock)
    session.open()
    online(session, seq=10)
    out = session.receive(json.dumps({"type": "batch", "messages": [
        1, "x", None, [event(11)], {"seq": 11}, {"type": 7}, event(11), event(12)]}))
    assert out == [Delivered(event(11)), Delivered(event(12))]
    assert session.online and session.last_seq == 12


def test_an_unknown_message_type_is_ignored(clock, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    session = make(clock)
    session.open()
    online(session, seq=10)
    caplog.clear()
    assert session.receive(json.dumps({"type": "notice", "text": "hi"})) == []
    assert session.online
    (line,) = logged(caplog, logging.DEBUG)
    assert DEVICE in line and "'notice'" in line


# -- replies and requests ---------------------------------------------------------------
def test_an_error_reply_answers_its_request(clock):
    session = make(clock)
    session.open()
    online(session)
    message = session.make_request("call_next", {})
    session.submit(message)
    reply = {"type": "error", "re": message["id"], "code": "queue_empty",
             "message": "nobody waiting"}
    assert session.receive(json.dumps(reply)) == [Answered(message["id"], reply)]
    assert session.pending == 0


def _fill(budget: int) -> str:
    """Text of exactly ``budget`` UTF-8 bytes, mostly Chinese (3 bytes a character)."""
    return "公" * (budget // 3) + "x" * (budget % 3)


def test_a_request_of_exactly_max_frame_utf8_bytes_fits_one_more_does_not(clock):
    # A frame may be 64 KiB of UTF-8 (PROTOCOL.md): a Chinese pause reason is
    # counted in bytes as sent, not as \\u escapes, and the limit is inclusive.
    session = make(clock)
    bare = session.make_request("pause", {"reason": ""})
    overhead = len(json.dumps(bare, ensure_ascii=False).encode("utf-8"))
    message = session.make_request("pause", {"reason": _fill(MAX_FRAME - overhead)})
    session.open()
    online(session)
    assert sent(session.submit(message)) == [message]
    with pytest.raises(ValueError, match="over the"):
        session.make_request("pause", {"reason": _fill(MAX_FRAME - overhead + 1)})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_request_with_nan_or_infinity_is_refused_it_is_not_json(clock, value):
    session = make(clock)
    with pytest.raises(ValueError, match="JSON"):
        session.make_request("rate", {"ticket": "t1", "score": value})
    message = {"type": "rate", "id": "r1", "ticket": "t1", "score": value}
    with pytest.raises(ValueError, match="JSON"):
        session.submit(message)
    assert session.pending == 0
