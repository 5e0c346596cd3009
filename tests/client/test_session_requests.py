"""ClientSession's requests, arguments and bookkeeping: what a device sees of them.

Frames in, actions out, on a fake clock (the style of tests/client/test_session.py).
"""

from __future__ import annotations

import json
import logging
import re

import pytest

from server.client.session import (
    IDLE,
    ONLINE,
    TRAIL,
    WAITING,
    Answered,
    ClientSession,
    Connect,
    Delivered,
    Status,
    parse_urls,
)
from server.wire.protocol import CLOSE_SERVICE_RESTART
from tests.client.test_session import A, B, Clock, make, of, sent


@pytest.fixture
def clock() -> Clock:
    return Clock()


def online(session: ClientSession, seq: int = 10) -> list:
    """Drive an opened (or due) session through hello and welcome."""
    hello = sent(session.connected())[0]
    actions = session.receive(json.dumps({"type": "welcome", "re": hello["id"], "role": "counter",
                                          "counter": 3, "seq": seq, "hall": {}, "snapshot": {}}))
    assert session.state == ONLINE
    return actions


def exactly(message: str) -> str:
    """A pytest.raises ``match`` for this whole message, nothing around it."""
    return f"^{re.escape(message)}$"


# -- arguments: a misconfigured device fails at start, saying what is wrong ------------
@pytest.mark.parametrize("urls, message", [
    ("http://a:8765/ws", "server url must be ws://host:port/path or wss://..., "
                         "got 'http://a:8765/ws'"),
    (f"{A},ftp://b/ws", "server url must be ws://host:port/path or wss://..., "
                        "got 'ftp://b/ws'"),
    ("ws:///ws", "server url must be ws://host:port/path or wss://..., got 'ws:///ws'"),
    ("ws://a:99999/ws", "server url must be ws://host:port/path or wss://..., "
                        "got 'ws://a:99999/ws'"),
    ("ws://a:port/ws", "server url must be ws://host:port/path or wss://..., "
                       "got 'ws://a:port/ws'"),
    ([A, 8765], "server url must be ws://host:port/path or wss://..., got 8765"),
    ([A, None], "server url must be ws://host:port/path or wss://..., got None"),
    ([], "at least one server url is needed"),
])
def test_bad_server_urls_are_refused_naming_the_bad_one(urls, message):
    with pytest.raises(ValueError, match=exactly(message)):
        parse_urls(urls)


def test_server_urls_are_trimmed_deduplicated_and_kept_in_order():
    assert parse_urls(f" {B} , {A},{B} ") == (B, A)
    assert parse_urls(["wss://hall.example:443/ws", f" {A}\n"]) == (
        "wss://hall.example:443/ws", A)


def test_the_session_connects_to_the_trimmed_url(clock):
    session = make(clock, urls=f" {A} , {B}")
    assert of(Connect, session.open()) == [Connect(A)]


@pytest.mark.parametrize("device, token, kw, message", [
    ("", "tok", {}, "device must be a non-empty string"),
    (None, "tok", {}, "device must be a non-empty string"),
    ("counter-3", None, {}, "token must be a string"),
    ("counter-3", "tok", {"timeout_s": 0}, "timeout must be positive, got 0"),
    ("counter-3", "tok", {"timeout_s": -1.5}, "timeout must be positive, got -1.5"),
    ("counter-3", "tok", {"timeout_s": True}, "timeout must be positive, got True"),
    ("counter-3", "tok", {"timeout_s": "5"}, "timeout must be positive, got '5'"),
    ("counter-3", "tok", {"backoff": (0, 10.0)},
     "backoff must be (first, max) with 0 < first <= max, got (0, 10.0)"),
    ("counter-3", "tok", {"backoff": (4.0, 2.0)},
     "backoff must be (first, max) with 0 < first <= max, got (4.0, 2.0)"),
    ("counter-3", "tok", {"max_queued": -1}, "max_queued must be an int >= 0, got -1"),
    ("counter-3", "tok", {"max_queued": 2.5}, "max_queued must be an int >= 0, got 2.5"),
    ("counter-3", "tok", {"max_queued": "10"}, "max_queued must be an int >= 0, got '10'"),
    ("counter-3", "tok", {"max_queued": True}, "max_queued must be an int >= 0, got True"),
])
def test_bad_session_arguments_are_refused_saying_which(clock, device, token, kw, message):
    with pytest.raises(ValueError, match=exactly(message)):
        ClientSession(A, device, token, clock=clock, **kw)


def test_a_fixed_backoff_and_an_empty_token_are_accepted(clock):
    # first == max: the same wait every time (a valid choice, not an error).
    session = ClientSession(A, "kiosk-1", "", clock=clock, rand=lambda: 0.0, backoff=(2.0, 2.0))
    session.open()
    session.lost(None)
    assert session.next_deadline() == clock.now + 1.0  # 2 s at the lowest jitter


def test_a_session_with_no_offline_queue_answers_offline_at_once(clock):
    session = make(clock, max_queued=0)
    message = session.make_request("ping", {})
    assert session.submit(message) == [Answered(message["id"], {
        "type": "error", "re": message["id"], "code": "offline",
        "message": "link offline and send queue full"})]
    assert session.pending == 0
    session.open()
    assert sent(online(session)) == []  # nothing left to send after the welcome


def test_by_default_a_hundred_requests_wait_offline(clock):
    session = ClientSession(A, "kiosk-1", "tok", clock=clock)
    for _ in range(100):
        assert session.submit(session.make_request("ping", {})) == []
    last = session.make_request("ping", {})
    assert [a.result["code"] for a in session.submit(last)] == ["offline"]
    assert session.pending == 100


# -- a fresh session ------------------------------------------------------------------
def test_a_fresh_session_is_offline_with_nothing_due(clock):
    session = make(clock)
    assert session.state == IDLE and session.status == "offline"
    assert session.welcome is None and session.last_seq is None
    assert session.next_deadline() is None
    assert session.tick() == []
    # Closing what never opened: no socket to drop, no status change to report.
    assert session.close() == []


# -- requests ---------------------------------------------------------------------------
def test_make_request_builds_type_fresh_id_and_fields(clock):
    session = make(clock)
    message = session.make_request("call_next", {"counter": 3, "note": "é"})
    assert message == {"type": "call_next", "id": message["id"], "counter": 3, "note": "é"}
    assert re.fullmatch(r"[0-9a-f]{32}", message["id"])
    assert session.make_request("call_next", {"counter": 3})["id"] != message["id"]
    session.open()
    online(session)
    assert sent(session.submit(message)) == [message]


def test_make_request_refuses_an_id_of_the_callers(clock):
    with pytest.raises(ValueError, match=exactly(
            "request ids are assigned by the link; do not pass id=")):
        make(clock).make_request("call_next", {"id": "mine"})


@pytest.mark.parametrize("rid", [None, "", 7])
def test_submit_needs_a_non_empty_string_id(clock, rid):
    session = make(clock)
    session.open()
    online(session)
    message = {"type": "ping"} if rid is None else {"type": "ping", "id": rid}
    with pytest.raises(ValueError, match=exactly("a request needs a non-empty string id")):
        session.submit(message)
    assert session.pending == 0


def test_a_full_offline_queue_answers_the_request_offline_with_its_id(clock):
    session = make(clock, max_queued=1)
    first = session.make_request("ping", {})
    assert session.submit(first) == []
    second = session.make_request("take", {"service": "gjj"})
    assert session.submit(second) == [Answered(second["id"], {
        "type": "error", "re": second["id"], "code": "offline",
        "message": "link offline and send queue full"})]
    # Once online the queue has room again.
    session.open()
    assert sent(online(session)) == [first]
    assert sent(session.submit(second)) == [second]


def test_requests_are_resent_once_per_connection_with_the_same_text(clock):
    session = make(clock, urls=[A, B])
    first = session.make_request("ping", {})
    session.submit(first)
    session.open()
    assert sent(online(session)) == [first]
    second = session.make_request("take", {"service": "gjj"})
    assert sent(session.submit(second)) == [second]
    session.lost(CLOSE_SERVICE_RESTART)
    clock.now = session.next_deadline() or 0.0
    session.tick()
    # Both unanswered: each goes out again once, same id, in request order.
    assert sent(online(session)) == [first, second]
    reply = {"type": "ok", "re": second["id"]}
    assert session.receive(json.dumps(reply)) == [Answered(second["id"], reply)]
    assert session.pending == 1


def test_close_answers_every_pending_request_offline(clock):
    session = make(clock)
    queued = session.make_request("ping", {})
    session.submit(queued)
    out = session.close()  # never opened: nothing to drop, still offline
    assert out == [Answered(queued["id"], {"type": "error", "re": queued["id"],
                                           "code": "offline", "message": "link closed"})]


def test_close_drops_only_a_socket_that_exists(clock):
    session = make(clock, urls=[A, B])
    session.open()
    online(session)
    message = session.make_request("ping", {})
    session.submit(message)
    session.lost(CLOSE_SERVICE_RESTART)
    assert session.state == WAITING and session.status == "offline"
    # Between attempts there is no socket, and the app already knows it is offline.
    assert session.close() == [Answered(message["id"], {
        "type": "error", "re": message["id"], "code": "offline", "message": "link closed"})]
    assert session.state == IDLE and session.status == "offline"
    assert session.close() == []


def test_status_is_reported_once_per_change(clock):
    session = make(clock, urls=[A, B])
    assert session.open() == [Status("connecting"), Connect(A)]
    assert session.status == "connecting"
    assert of(Status, online(session)) == [Status("online")]
    assert session.status == "online"
    assert session.lost(CLOSE_SERVICE_RESTART) == [Status("offline")]
    assert session.status == "offline"
    assert session.lost(CLOSE_SERVICE_RESTART) == []  # no socket: nothing new
    assert session.close() == []
    assert session.status == "offline"


# -- frames the session must survive --------------------------------------------------------
@pytest.mark.parametrize("rid", [["x"], {"id": "x"}, 7, None])
def test_a_reply_with_a_malformed_re_is_ignored(clock, rid):
    session = make(clock)
    session.open()
    online(session)
    message = session.make_request("ping", {})
    session.submit(message)
    assert session.receive(json.dumps({"type": "ok", "re": rid})) == []
    assert session.receive(json.dumps({"type": "error", "re": rid, "code": "bad_request",
                                       "message": "x"})) == []
    assert session.pending == 1 and session.state == ONLINE


@pytest.mark.parametrize("seq", ["11", 11.0, None, [11]])
def test_an_event_with_a_malformed_seq_is_ignored(clock, seq):
    session = make(clock)
    session.open()
    online(session, seq=10)
    bad = {"type": "event", "seq": seq, "name": "queue.changed", "data": {}}
    assert session.receive(json.dumps(bad)) == []
    assert session.last_seq == 10 and session.state == ONLINE
    good = {"type": "event", "seq": 11, "name": "queue.changed", "data": {}}
    assert session.receive(json.dumps(good)) == [Delivered(good)]


# -- what an operator reads -------------------------------------------------------------------
def test_a_server_error_for_no_pending_request_is_logged_as_a_warning(clock, caplog):
    session = make(clock)
    session.open()
    online(session)
    caplog.set_level(logging.DEBUG, logger="server.client.session")
    caplog.clear()
    error = {"type": "error", "re": "f00d", "code": "bad_request", "message": "no such counter"}
    assert session.receive(json.dumps(error)) == []
    (record,) = caplog.records
    text = record.getMessage()
    assert record.levelno == logging.WARNING
    assert text.startswith("client counter-3: ")
    assert "bad_request" in text and "no such counter" in text and "'f00d'" in text


def test_a_late_ok_is_only_a_debug_note(clock, caplog):
    session = make(clock)
    session.open()
    online(session)
    message = session.make_request("ping", {})
    session.submit(message)
    clock.now += 5.0
    assert [a.result["code"] for a in session.tick()] == ["timeout"]
    caplog.set_level(logging.DEBUG, logger="server.client.session")
    caplog.clear()
    # The server answered after the device gave up: normal, not a warning.
    assert session.receive(json.dumps({"type": "ok", "re": message["id"]})) == []
    (record,) = caplog.records
    text = record.getMessage()
    assert record.levelno == logging.DEBUG
    assert text.startswith("client counter-3: ") and repr(message["id"]) in text


def test_the_trail_names_each_url_tried_and_keeps_only_the_last_steps(clock):
    session = make(clock, urls=[A, B])
    session.open()
    assert session.trail[-1] == (100.0, f"connect {A}")
    for _ in range(TRAIL):
        session.lost(None)
        clock.now = session.next_deadline() or 0.0
        session.tick()
    # A device up for weeks must not grow its diagnostics without bound.
    assert len(session.trail) == TRAIL
    assert session.trail[-1] == (clock.now, f"connect {session.url}")
