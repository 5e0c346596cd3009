"""server.client.session.ClientSession as pure unit tests: frames in, actions out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.client.session import (
    AVOID_S,
    CONNECTING,
    GONE_STAY_S,
    HELLO,
    IDLE,
    ONLINE,
    OPEN_S,
    OWNER_PATIENCE_S,
    STANDBY_BACKOFF_MAX_S,
    TRANSITIONS,
    WAITING,
    Answered,
    ClientSession,
    Connect,
    Delivered,
    Drop,
    Refused,
    Send,
    SessionError,
    Status,
    Welcomed,
    reconnect_delay,
)
from server.wire.protocol import CLOSE_SERVICE_RESTART, CLOSE_TRY_AGAIN, PROTOCOL_VERSION

A, B, C = "ws://a:8765/ws", "ws://b:8765/ws", "ws://c:8765/ws"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(clock: Clock, urls: Any = A, **kw: Any) -> ClientSession:
    # rand=0: the lowest jitter, so delays are exact (reconnect_delay * 0.5).
    kw = {"timeout_s": 5.0, "backoff": (1.0, 8.0), **kw}
    return ClientSession(urls, "counter-3", "tok", clock=clock, rand=lambda: 0.0, **kw)


def sent(actions: list) -> list[dict[str, Any]]:
    return [json.loads(a.text) for a in actions if isinstance(a, Send)]


def of(kind: type, actions: list) -> list:
    return [a for a in actions if isinstance(a, kind)]


def welcome_for(session: ClientSession, hello: dict[str, Any], seq: int) -> str:
    return json.dumps({"type": "welcome", "re": hello["id"], "role": "counter", "counter": 3,
                       "seq": seq, "hall": {}, "snapshot": {}})


def event(seq: int, name: str = "queue.changed") -> dict[str, Any]:
    return {"type": "event", "seq": seq, "name": name, "at": "2026-11-30T09:00:00+08:00",
            "data": {}}


def online(session: ClientSession, seq: int = 10) -> tuple[dict[str, Any], list]:
    """Drive an opened (or due) session through hello and welcome."""
    hello = sent(session.connected())[0]
    actions = session.receive(welcome_for(session, hello, seq))
    assert session.state == ONLINE
    return hello, actions


def reconnect(session: ClientSession, clock: Clock) -> list:
    """Let the backoff pass; return the actions of the retry."""
    deadline = session.next_deadline()
    assert session.state == WAITING and deadline is not None
    clock.now = deadline
    return session.tick()


# -- hello and welcome ----------------------------------------------------------
def test_hello_carries_protocol_device_token_since_and_batch(clock):
    session = make(clock)
    assert session.open() == [Status("connecting"), Connect(A)]
    assert session.state == CONNECTING
    hello = sent(session.connected())[0]
    assert {k: hello[k] for k in ("type", "protocol", "device", "token", "since", "batch")} == {
        "type": "hello", "protocol": PROTOCOL_VERSION, "device": "counter-3", "token": "tok",
        "since": None, "batch": True}
    plain = make(clock, batch=False)
    plain.open()
    assert "batch" not in sent(plain.connected())[0]
    actions = session.receive(welcome_for(session, hello, 7))
    assert actions == [Status("online"), Welcomed(json.loads(welcome_for(session, hello, 7)))]
    assert session.last_seq == 7 and session.online


def test_welcome_to_another_hello_is_ignored(clock):
    session = make(clock)
    session.open()
    session.connected()
    assert session.receive(json.dumps({"type": "welcome", "re": "old", "role": "x",
                                       "seq": 1})) == []
    assert session.state == HELLO


def test_illegal_calls_are_errors_of_the_io_layer(clock):
    session = make(clock)
    with pytest.raises(SessionError, match="connected"):
        session.connected()
    # Every transition in the table starts from a state that exists.
    assert {s for s, _ in TRANSITIONS} == {IDLE, WAITING, CONNECTING, HELLO, ONLINE}


# -- events: once, in order -------------------------------------------------------
def test_duplicate_events_are_dropped(clock):
    session = make(clock)
    session.open()
    online(session, seq=10)
    out = session.receive(json.dumps({"type": "batch", "messages": [
        event(9), event(10), event(11), event(11), event(12)]}))
    assert [a.message["seq"] for a in of(Delivered, out)] == [11, 12]
    assert session.last_seq == 12


def test_gap_means_resync_on_the_same_server_with_since(clock):
    session = make(clock, urls=[A, B])
    session.open()
    online(session, seq=10)
    out = session.receive(json.dumps({"type": "batch", "messages": [event(11), event(13),
                                                                    event(14)]}))
    # 11 is delivered, 13 is a gap: the rest of the batch is not.
    assert [a.message["seq"] for a in of(Delivered, out)] == [11]
    assert of(Drop, out) == [Drop()] and session.state == WAITING
    assert reconnect(session, clock) == [Status("connecting"), Connect(A)]  # not B
    hello = sent(session.connected())[0]
    assert hello["since"] == 11


def test_jump_covered_by_the_welcome_snapshot_is_not_a_gap(clock):
    session = make(clock)
    session.open()
    hello = sent(session.connected())[0]
    session.last_seq = 5  # we had seen up to 5; the server sends a snapshot at 20
    session.receive(welcome_for(session, hello, 20))
    out = session.receive(json.dumps(event(21)))
    assert of(Delivered, out) and session.state == ONLINE


def test_filtered_sessions_see_jumps_without_resync(clock):
    session = make(clock, filtered=True)
    session.open()
    online(session, seq=10)
    out = session.receive(json.dumps(event(15)))
    assert of(Delivered, out) and session.state == ONLINE and session.last_seq == 15


def test_events_before_the_welcome_come_after_it(clock):
    session = make(clock)
    session.open()
    hello = sent(session.connected())[0]
    assert session.receive(json.dumps(event(11))) == []
    out = session.receive(welcome_for(session, hello, 10))
    assert [type(a) for a in out] == [Status, Welcomed, Delivered]


# -- requests ------------------------------------------------------------------------
def test_request_in_flight_is_resent_with_the_same_id_after_reconnect(clock):
    session = make(clock, urls=[A, B])
    session.open()
    online(session)
    message = session.make_request("call_next", {})
    first = sent(session.submit(message))
    assert first == [message]
    assert session.lost(CLOSE_SERVICE_RESTART) == [Status("offline")]
    assert reconnect(session, clock) == [Status("connecting"), Connect(B)]
    hello, out = online(session)
    # The resend goes out before the app hears of the welcome.
    assert sent(out) == [message] and isinstance(out[-1], Welcomed)
    reply = {"type": "ok", "re": message["id"], "ticket": {"number": "A001"}}
    assert session.receive(json.dumps(reply)) == [Answered(message["id"], reply)]
    # A second answer (say, from the old server) finds nothing pending.
    assert session.receive(json.dumps(reply)) == [] and session.pending == 0


def test_requests_while_offline_wait_for_the_welcome_and_the_queue_is_bounded(clock):
    session = make(clock, max_queued=1)
    first = session.make_request("ping", {})
    assert session.submit(first) == []
    second = session.make_request("ping", {})
    (refusal,) = session.submit(second)
    assert isinstance(refusal, Answered) and refusal.result["code"] == "offline"
    session.open()
    _, out = online(session)
    assert sent(out) == [first]


def test_unanswered_request_expires_with_timeout(clock):
    session = make(clock)
    session.open()
    online(session)
    message = session.make_request("ping", {})
    session.submit(message)
    assert session.next_deadline() == clock.now + 5.0
    clock.now += 5.0
    (answer,) = session.tick()
    assert answer.id == message["id"] and answer.result["code"] == "timeout"
    # Resubmitting the same message (Link.retry) keeps its id.
    assert sent(session.submit(message)) == [message]


def test_close_fails_pending_with_offline(clock):
    session = make(clock)
    session.open()
    online(session)
    message = session.make_request("ping", {})
    session.submit(message)
    out = session.close()
    assert out[0] == Drop(polite=True)
    assert [a.result["code"] for a in of(Answered, out)] == ["offline"]
    assert session.state == IDLE and session.next_deadline() is None


def test_bad_requests_are_refused_before_anything_is_sent(clock):
    session = make(clock)
    for type_, fields, match in [("", {}, "type"), ("hello", {}, "type"),
                                 ("x", {"id": "mine"}, "assigned"),
                                 ("x", {"when": object()}, "JSON"),
                                 ("x", {"note": "x" * 70_000}, "over the")]:
        with pytest.raises(ValueError, match=match):
            session.make_request(type_, fields)
    message = session.make_request("ping", {})
    session.submit(message)
    with pytest.raises(ValueError, match="still pending"):
        session.submit(message)


# -- failover: which URL next ---------------------------------------------------------
@pytest.mark.parametrize("code", [CLOSE_SERVICE_RESTART, CLOSE_TRY_AGAIN, None])
def test_close_1012_1013_or_dead_socket_moves_to_the_next_url(clock, code):
    session = make(clock, urls=f"{A},{B},{C}")
    session.open()
    online(session)
    session.lost(code)
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    session.lost(code)  # B never answers either
    assert of(Connect, reconnect(session, clock)) == [Connect(C)]
    session.lost(code)
    assert of(Connect, reconnect(session, clock)) == [Connect(A)]  # round and round


def test_standby_naming_an_owner_we_know_sends_us_there(clock):
    session = make(clock, urls=[A, B, C])
    session.open()
    hello = sent(session.connected())[0]
    out = session.receive(json.dumps({"type": "error", "re": hello["id"], "code": "standby",
                                      "owner": C, "message": "standby"}))
    assert out == [Drop(), Status("offline")] and session.state == WAITING
    assert of(Connect, reconnect(session, clock)) == [Connect(C)]  # not B


@pytest.mark.parametrize("owner", [None, "ws://elsewhere:1/ws"])
def test_standby_without_a_known_owner_moves_to_the_next_url(clock, owner):
    session = make(clock, urls=[A, B])
    session.open()
    hello = sent(session.connected())[0]
    session.receive(json.dumps({"type": "error", "re": hello["id"], "code": "standby",
                                "owner": owner, "message": "standby"}))
    # The device token never goes to an address the operator did not configure.
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]


def test_refusal_stops_the_session(clock):
    session = make(clock, urls=[A, B])
    session.open()
    message = session.make_request("ping", {})
    session.submit(message)
    hello = sent(session.connected())[0]
    error = {"type": "error", "re": hello["id"], "code": "unauthorized", "message": "bad token"}
    out = session.receive(json.dumps(error))
    assert out == [Drop(polite=True), Answered(message["id"], {
        "type": "error", "re": message["id"], "code": "offline",
        "message": "server refused this device: unauthorized"}),
        Status("offline"), Refused(error)]
    assert session.state == IDLE and session.next_deadline() is None
    assert session.open()[-1] == Connect(A)  # one more try when asked


def test_no_welcome_in_time_moves_on(clock):
    session = make(clock, urls=[A, B])
    session.open()
    session.connected()
    clock.now += 5.0
    assert session.tick() == [Drop(), Status("offline")]
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]


# -- backoff ----------------------------------------------------------------------------
def test_failed_attempts_back_off_exponentially_and_a_welcome_resets_it(clock):
    session = make(clock, urls=[A, B])
    session.open()
    waits = []
    for _ in range(10):
        session.lost(None, "connection refused")
        deadline = session.next_deadline()
        assert deadline is not None
        waits.append(deadline - clock.now)
        reconnect(session, clock)
    # (1 s, 8 s) at the lowest jitter, growing once per round of the two URLs
    # (the other server may well be up): never more than the 8 s cap.
    assert waits == [0.5, 0.5, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    online(session)
    session.lost(CLOSE_TRY_AGAIN)
    assert session.next_deadline() == clock.now + 0.5


def test_reconnect_delay_is_exponential_jittered_and_bounded():
    low = [reconnect_delay(n, (0.5, 10.0), rand=lambda: 0.0) for n in range(8)]
    high = [reconnect_delay(n, (0.5, 10.0), rand=lambda: 0.999999) for n in range(8)]
    assert low == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert [round(h, 3) for h in high] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert reconnect_delay(10_000, (0.5, 10.0)) <= 10.0


def hello_error(session: ClientSession, code: str, **extra: Any) -> list:
    """Say hello on the open socket; the server answers it with error ``code``."""
    hello = sent(session.connected())[0]
    return session.receive(json.dumps({"type": "error", "re": hello["id"], "code": code,
                                       "message": code, **extra}))


def _standby(session: ClientSession, owner: str | None, **extra: Any) -> list:
    return hello_error(session, "standby", owner=owner, **extra)


def test_a_standby_naming_an_owner_just_found_down_keeps_the_device_on_it(clock):
    # A dies (SIGKILL: its socket is cut); B stands by and names A until A's
    # lease runs out. C's state is unknown (frozen, it costs a whole
    # timeout): the device says hello to B again, within the standby cap, and
    # gives its welcome OWNER_PATIENCE_S (B holds that hello until it has
    # taken the hall or seen who did). Before, it went round to C.
    session = make(clock, urls=[A, B, C])
    session.open()
    online(session)
    session.lost(None, "connection reset")
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    for _ in range(4):
        _standby(session, A)
        deadline = session.next_deadline()
        assert deadline is not None and deadline - clock.now <= STANDBY_BACKOFF_MAX_S
        assert of(Connect, reconnect(session, clock)) == [Connect(B)]  # not C, not A
        assert session.welcome_wait() == OWNER_PATIENCE_S
    hello = sent(session.connected())[0]
    clock.now += OWNER_PATIENCE_S - 0.1
    assert session.tick() == [] and session.state == HELLO  # held: 5 s would have left
    session.receive(welcome_for(session, hello, 12))  # B took the hall
    assert session.state == ONLINE and session.url == B
    steps = [what for _, what in session.trail]
    assert f"standby {B} (owner {A}, found down: staying)" in steps, steps


def test_an_owner_found_down_that_took_the_hall_since_is_tried_at_once(clock):
    # A is killed (found down), restarts and takes the hall back 3 s later.
    # B names A as long as A renews, saying A has held the hall 1 s: A took
    # it after it was found down, so the device goes to A. Before, it stayed
    # on B (which refused again and again) until A's "found down" was
    # AVOID_S old: in chaos runs three quarters of the time spent at standbys.
    session = make(clock, urls=[A, B, C])
    session.open()
    online(session)
    session.lost(None, "connection reset")  # A found down now
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    clock.now += 3.0
    _standby(session, A, owner_for=1.0)
    assert of(Connect, reconnect(session, clock)) == [Connect(A)]
    assert session.welcome_wait() == OWNER_PATIENCE_S  # the owner a standby named
    steps = [what for _, what in session.trail]
    assert f"standby {B} (owner {A}, found down but took the hall since: going)" in steps


@pytest.mark.parametrize("owner_for", [5.0, None, "1", True, -1.0])
def test_an_owner_found_down_that_held_the_hall_before_keeps_the_device_on_the_standby(
        clock, owner_for):
    # A froze holding the hall (its lease still runs): B says A has held it
    # longer than since it was found down, or says nothing (it does not know
    # when A took it), or says nonsense: stay on B, as before.
    session = make(clock, urls=[A, B, C])
    session.open()
    online(session)
    session.lost(None, "connection reset")
    reconnect(session, clock)
    clock.now += 3.0
    _standby(session, A, **({} if owner_for is None else {"owner_for": owner_for}))
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]


def test_a_held_hello_refused_naming_the_new_owner_goes_there(clock):
    # B held the hello and saw C take the hall: C is named, not found down.
    session = make(clock, urls=[A, B, C])
    session.open()
    online(session)
    session.lost(None, "connection reset")
    reconnect(session, clock)
    _standby(session, A)
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    _standby(session, C)
    assert of(Connect, reconnect(session, clock)) == [Connect(C)]
    assert session.welcome_wait() == OWNER_PATIENCE_S


def test_the_dead_owner_is_worth_a_try_again_after_avoid_s(clock):
    session = make(clock, urls=[A, B, C])
    session.open()
    session.lost(None, "connection refused")  # A down
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    clock.now += AVOID_S
    _standby(session, A)  # restarted, A took the hall back
    assert of(Connect, reconnect(session, clock)) == [Connect(A)]


def test_a_frozen_url_no_http_answer_is_passed_over_in_the_round(clock):
    session = make(clock, urls=[A, B, C])
    session.open()
    clock.now += 5.0  # A accepted TCP and never answered: a frozen server
    assert session.tick() == [Drop(), Status("offline")]
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    session.connected()
    session.lost(CLOSE_TRY_AGAIN)  # B upgraded, then closed as busy: up, not down
    assert of(Connect, reconnect(session, clock)) == [Connect(C)]
    session.connected()
    session.lost(CLOSE_TRY_AGAIN)
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]  # not A
    # Every URL found down: the one found down the longest ago.
    only = make(clock, urls=[A, B])
    only.open()
    only.lost(None, "refused")
    assert of(Connect, reconnect(only, clock)) == [Connect(B)]
    only.lost(None, "refused")
    assert of(Connect, reconnect(only, clock)) == [Connect(A)]


def test_a_server_that_answered_slowly_is_not_passed_over(clock):
    # Upgraded, hello sent, no welcome in time: a loaded new owner, alive.
    session = make(clock, urls=[A, B])
    session.open()
    session.connected()
    clock.now += 5.0
    session.tick()
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    _standby(session, A)
    assert of(Connect, reconnect(session, clock)) == [Connect(A)]


def test_standby_refusals_retry_within_the_standby_cap_whatever_the_backoff(clock):
    session = ClientSession([A, B], "counter-3", "tok", clock=clock, rand=lambda: 0.999999,
                            timeout_s=5.0, backoff=(1.0, 30.0))
    session.open()
    for _ in range(12):  # long after the backoff would have grown past the cap
        _standby(session, None)
        deadline = session.next_deadline()
        assert deadline is not None and deadline - clock.now <= STANDBY_BACKOFF_MAX_S
        reconnect(session, clock)
    session.lost(None, "refused")  # a failure of another kind backs off as before
    deadline = session.next_deadline()
    assert deadline is not None and deadline - clock.now > STANDBY_BACKOFF_MAX_S


def test_the_welcome_gets_a_whole_timeout_once_the_socket_is_open(clock):
    # A slow upgrade (a busy new owner) does not eat into the welcome's time.
    session = make(clock, urls=[A, B])
    session.open()
    clock.now += 4.0
    session.connected()
    clock.now += 4.9
    assert session.tick() == [] and session.state == HELLO
    clock.now += 0.1
    assert session.tick() == [Drop(), Status("offline")]


# -- patience with the owner a standby named ---------------------------------------
def test_the_owner_a_standby_named_gets_owner_patience_for_its_welcome(clock):
    # B stands by and names A; A upgrades the socket and is busy (a new owner
    # welcoming the devices of every hall it just took): the device waits for
    # A's welcome instead of going round the standbys again.
    session = make(clock, urls=[A, B])
    session.open()
    session.lost(None, "refused")  # A was down a moment ago (before it took over)
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    clock.now += AVOID_S  # A's takeover: B now names it and it is worth a try
    _standby(session, A)
    assert of(Connect, reconnect(session, clock)) == [Connect(A)]
    assert session.welcome_wait() == OWNER_PATIENCE_S > 5.0
    hello = sent(session.connected())[0]
    clock.now += OWNER_PATIENCE_S - 0.1
    assert session.tick() == [] and session.state == HELLO  # 5 s would have left it
    session.receive(welcome_for(session, hello, 12))
    assert session.state == ONLINE
    assert session.welcome_wait() == 5.0  # the patience was for that one try


def test_owner_patience_ends_at_its_deadline_and_is_not_given_to_other_urls(clock):
    session = make(clock, urls=[A, B, C])
    session.open()
    assert session.welcome_wait() == 5.0  # nobody named A
    _standby(session, C)  # A names C
    assert of(Connect, reconnect(session, clock)) == [Connect(C)]
    session.connected()
    clock.now += OWNER_PATIENCE_S
    assert session.tick() == [Drop(), Status("offline")]  # a silent owner costs this much
    assert of(Connect, reconnect(session, clock)) == [Connect(A)]
    # A was not named: it gets the patience only because C was silent just
    # now (a takeover under way), and only within AVOID_S of that.
    assert session.welcome_wait() == OWNER_PATIENCE_S
    clock.now += AVOID_S
    assert session.welcome_wait() == 5.0


def test_after_a_silent_standby_the_next_server_gets_owner_patience(clock):
    # The chaos run's worst trail (session 7): A (the owner) is killed, B
    # names A found down, the device stays on B, B answers its probes but no
    # welcome comes for 15 s. By then A's "found down" is older than
    # AVOID_S, and the next server (C: likely the one loading the hall) got
    # the 5 s timeout, not the 15 s a takeover under way earns.
    session = make(clock, urls=[A, B, C])
    session.open()
    online(session)
    session.lost(None, "connection reset")  # A killed
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    _standby(session, A)  # found down: stay on B
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    session.connected()
    clock.now += OWNER_PATIENCE_S
    assert session.tick() == [Drop(), Status("offline")]
    assert of(Connect, reconnect(session, clock)) == [Connect(C)]
    assert session.welcome_wait() == OWNER_PATIENCE_S  # before: 5.0
    hello = sent(session.connected())[0]
    clock.now += OWNER_PATIENCE_S - 0.1
    assert session.tick() == [] and session.state == HELLO
    session.receive(welcome_for(session, hello, 12))
    steps = [what for _, what in session.trail]
    assert f"no welcome from {B} within {OWNER_PATIENCE_S:g} s" in steps, steps
    assert (f"open {C}, hello sent (a server gave no welcome: a takeover is under way: "
            f"{OWNER_PATIENCE_S:g} s for a welcome)") in steps, steps
    assert session.welcome_wait() == 5.0  # welcomed: the takeover is over for this device


def test_while_a_url_was_found_down_lately_every_welcome_gets_owner_patience(clock):
    # A's socket was cut: a takeover is under way, and the next server that
    # answers the upgrade is a standby holding the hello or a new owner
    # loading; once AVOID_S has passed, the timeout again.
    session = make(clock, urls=[A, B, C])
    session.open()
    online(session)
    session.lost(None, "connection reset")
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    assert session.welcome_wait() == OWNER_PATIENCE_S
    hello = sent(session.connected())[0]
    clock.now += 5.0
    assert session.tick() == [] and session.state == HELLO
    session.receive(welcome_for(session, hello, 12))
    clock.now += AVOID_S
    session.lost(CLOSE_TRY_AGAIN)  # up, busy: nothing found down
    assert of(Connect, reconnect(session, clock)) == [Connect(C)]
    assert session.welcome_wait() == 5.0


def test_owner_patience_is_for_the_welcome_only_not_the_upgrade(clock):
    # No HTTP answer at all (a frozen owner): the connect timeout as before.
    session = make(clock, urls=[A, B])
    session.open()
    _standby(session, B)
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    clock.now += 5.0
    assert session.tick() == [Drop(), Status("offline")]
    assert of(Connect, reconnect(session, clock)) == [Connect(A)]


# -- opening bounded by OPEN_S; a URL found gone vs found down ----------------------
def test_the_opening_takes_at_most_open_s_whatever_the_request_timeout(clock):
    # A frozen server (SIGSTOP) accepts TCP and never answers the upgrade; a
    # live one answers in milliseconds. The device waited the whole request
    # timeout there (5 s in chaos) before trying the next URL.
    assert OPEN_S < 5.0
    session = make(clock, urls=[A, B])
    session.open()
    assert session.open_wait() == OPEN_S
    due = session.next_deadline()
    assert due == clock.now + OPEN_S
    clock.now = due - 0.01
    assert session.tick() == [] and session.state == CONNECTING
    clock.now = due
    assert session.tick() == [Drop(), Status("offline")]
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    steps = [what for _, what in session.trail]
    assert f"no upgrade from {A} within {OPEN_S:g} s" in steps, steps
    # The welcome still gets the whole timeout once the socket is open.
    hello = sent(session.connected())[0]
    clock.now += 5.0 - 0.01
    assert session.tick() == [] and session.state == HELLO
    session.receive(welcome_for(session, hello, 3))
    # A request timeout shorter than OPEN_S bounds the opening too.
    short = ClientSession(A, "counter-3", "tok", clock=clock, timeout_s=1.0)
    short.open()
    assert short.open_wait() == 1.0 and short.next_deadline() == clock.now + 1.0


def _back_on(session: ClientSession, url: str) -> None:
    """Up at ``url`` (it upgraded, then closed as busy): where next?"""
    assert session.url == url
    session.connected()
    session.lost(CLOSE_TRY_AGAIN)


def test_a_gone_url_is_tried_again_after_gone_stay_s_a_frozen_one_after_avoid_s(clock):
    # Gone (refused or reset at connect): nothing listens, the process is
    # dead; it is restarted within seconds and a refusal costs nothing.
    assert GONE_STAY_S < AVOID_S
    session = make(clock, urls=[A, B])
    session.open()
    session.lost(None, "connection refused", gone=True)
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    _back_on(session, B)
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]  # A: not yet
    clock.now += GONE_STAY_S
    _back_on(session, B)
    assert of(Connect, reconnect(session, clock)) == [Connect(A)]
    steps = [what for _, what in session.trail]
    assert (f"lost {A} (connection refused), gone: passed over {GONE_STAY_S:g} s"
            in steps), steps
    # Silent (no answer to the upgrade within OPEN_S: frozen): AVOID_S.
    clock.now += OPEN_S
    assert session.tick() == [Drop(), Status("offline")]
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    clock.now += GONE_STAY_S
    _back_on(session, B)
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]  # A: not after 2 s
    clock.now = session._unreachable[0] + AVOID_S
    _back_on(session, B)
    assert of(Connect, reconnect(session, clock)) == [Connect(A)]


def test_gone_is_heeded_only_while_connecting(clock):
    # A socket cut once open is found down as before (AVOID_S): only a
    # refused or reset connect says nothing listens there.
    session = make(clock, urls=[A, B])
    session.open()
    online(session)
    session.lost(None, "connection reset", gone=True)
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    clock.now += GONE_STAY_S
    _back_on(session, B)
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]


def test_an_owner_found_gone_is_named_again_after_gone_stay_s_not_avoid_s(clock):
    # A killed: its connect refused. B names A until A's lease runs out:
    # within GONE_STAY_S the device stays on B (as for any owner found down);
    # after it, it goes to A (restarted, or refused again at no cost), and if
    # A is still gone, back to B within the standby cap, not round to C (of
    # unknown state: frozen, it costs OPEN_S).
    session = make(clock, urls=[A, B, C])
    session.open()
    session.lost(None, "connection refused", gone=True)
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    _standby(session, A)
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]  # staying
    clock.now += GONE_STAY_S
    _standby(session, A)
    assert of(Connect, reconnect(session, clock)) == [Connect(A)]
    session.lost(None, "connection refused", gone=True)
    deadline = session.next_deadline()
    assert deadline is not None and deadline - clock.now <= STANDBY_BACKOFF_MAX_S
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]  # not C
    steps = [what for _, what in session.trail]
    assert f"back to the standby {B}" in steps, steps
    # Found down otherwise (no answer to the upgrade: frozen): as before,
    # the device stays on the standby until AVOID_S has passed.
    frozen = make(clock, urls=[A, B, C])
    frozen.open()
    clock.now += OPEN_S
    frozen.tick()
    assert of(Connect, reconnect(frozen, clock)) == [Connect(B)]
    clock.now += GONE_STAY_S
    _standby(frozen, A)
    assert of(Connect, reconnect(frozen, clock)) == [Connect(B)]  # staying
