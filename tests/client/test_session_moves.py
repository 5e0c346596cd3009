"""ClientSession's failover moves: which URL next, for how long one is passed
over, the opening bound and the patience for a welcome; and what each step
leaves for diagnostics (``trail``, the log, ``hello_errors``)."""

from __future__ import annotations

import collections
import json
import logging

import pytest

from server.client.session import (
    AVOID_S,
    GONE_STAY_S,
    HELLO,
    ONLINE,
    OPEN_S,
    OWNER_PATIENCE_S,
    STANDBY_BACKOFF_MAX_S,
    WAITING,
    Answered,
    ClientSession,
    Connect,
    Drop,
    Status,
)
from server.wire.protocol import CLOSE_SERVICE_RESTART, CLOSE_TRY_AGAIN
from tests.client.test_session import (
    A,
    B,
    C,
    Clock,
    hello_error,
    make,
    of,
    online,
    reconnect,
    sent,
    welcome_for,
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _steps(session: ClientSession) -> list[str]:
    return [what for _, what in session.trail]


def _busy(session: ClientSession) -> list:
    """Up at the current URL (it upgraded), then closed as busy (1013)."""
    session.connected()
    return session.lost(CLOSE_TRY_AGAIN)


# -- hello errors other than standby ---------------------------------------------------
def test_a_hello_error_worth_another_try_drops_the_socket_and_moves_to_the_next_url(clock):
    session = make(clock, urls=[A, B])
    session.open()
    assert hello_error(session, "rate_limited") == [Drop(), Status("offline")]
    assert session.state == WAITING
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    steps = _steps(session)
    assert f"hello failed at {A}: rate_limited" in steps, steps
    assert f"next: {B} in 0.5 s" in steps, steps


def test_hello_errors_are_counted_by_code_for_the_load_tools(clock):
    session = make(clock, urls=[A, B])
    session.open()
    hello_error(session, "standby")
    reconnect(session, clock)
    hello_error(session, "standby")
    reconnect(session, clock)
    hello_error(session, "rate_limited")
    reconnect(session, clock)
    hello_error(session, "unauthorized")
    assert session.hello_errors == collections.Counter(
        {"standby": 2, "rate_limited": 1, "unauthorized": 1})


def test_only_a_welcome_or_an_error_answering_our_hello_ends_the_opening(clock):
    # Anything else before the welcome is ignored: an error for another id
    # (or none: the server could not read it), a reply that is not an error.
    session = make(clock, urls=[A, B])
    session.open()
    hello = sent(session.connected())[0]
    for stray in ({"type": "ok", "re": hello["id"]},
                  {"type": "error", "re": "another-id", "code": "standby", "owner": B},
                  {"type": "error", "re": None, "code": "bad_request", "message": "?"}):
        assert session.receive(json.dumps(stray)) == [], stray
        assert session.state == HELLO and session.url == A
    session.receive(welcome_for(session, hello, 4))
    assert session.state == ONLINE and session.url == A


# -- which URL next -----------------------------------------------------------------------
def test_when_every_url_was_found_down_the_one_found_down_longest_ago_is_tried(clock):
    # Found down: C first, then B, then A. Neither the first URL of the list
    # nor the next one in turn: the one most likely back by now.
    session = make(clock, urls=[A, B, C])
    session.open()
    hello_error(session, "standby", owner=C)  # A stands by and names C
    assert of(Connect, reconnect(session, clock)) == [Connect(C)]
    session.lost(None, "connection reset")  # C found down
    assert of(Connect, reconnect(session, clock)) == [Connect(A)]
    _busy(session)  # A up, busy
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    session.lost(None, "connection reset")  # B found down
    assert of(Connect, reconnect(session, clock)) == [Connect(A)]
    session.lost(None, "connection reset")  # A found down: all of them now
    assert of(Connect, reconnect(session, clock)) == [Connect(C)]


def test_a_url_cut_while_connecting_is_passed_over_avoid_s_unless_said_gone(clock):
    # lost() without gone=: the server is down (a cut, a reset after the
    # upgrade...), not known to be dead: AVOID_S, not GONE_STAY_S.
    session = make(clock, urls=[A, B])
    session.open()
    session.lost(None, "connection reset")
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    clock.now += GONE_STAY_S
    _busy(session)
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]  # A: not yet


def test_the_named_owner_closing_as_busy_moves_on_in_turn_not_back_to_the_standby(clock):
    # Only an owner found *gone* sends the device back to the standby that
    # named it; up and busy (1013), it is left like any other server.
    session = make(clock, urls=[A, B, C])
    session.open()
    _busy(session)
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    hello_error(session, "standby", owner=C)
    assert of(Connect, reconnect(session, clock)) == [Connect(C)]
    _busy(session)
    assert of(Connect, reconnect(session, clock)) == [Connect(A)]  # not B


def test_an_owner_found_gone_sends_back_to_the_standby_within_the_standby_cap(clock):
    # Long after the backoff has grown past the standby cap, the way back to
    # the standby that named a gone owner is still short.
    session = make(clock, urls=[A, B, C])
    session.open()
    for _ in range(10):
        _busy(session)
        deadline = session.next_deadline()
        assert deadline is not None
        delay = deadline - clock.now
        reconnect(session, clock)
    assert delay > STANDBY_BACKOFF_MAX_S and session.url == B
    hello_error(session, "standby", owner=C)
    assert of(Connect, reconnect(session, clock)) == [Connect(C)]
    # The socket is already gone: nothing to drop.
    assert session.lost(None, "connection refused", gone=True) == [Status("offline")]
    deadline = session.next_deadline()
    assert deadline is not None and deadline - clock.now <= STANDBY_BACKOFF_MAX_S
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]


def test_the_standby_stayed_on_found_gone_moves_on_in_turn(clock):
    # The device stayed on B (it named A, found down); B's connect is then
    # refused: B is dead too, and C is tried, not B again.
    session = make(clock, urls=[A, B, C])
    session.open()
    online(session)
    session.lost(None, "connection reset")
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    hello_error(session, "standby", owner=A)
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]  # staying
    session.lost(None, "connection refused", gone=True)
    assert of(Connect, reconnect(session, clock)) == [Connect(C)]


@pytest.mark.parametrize("owner_for", [0, 0.5])
def test_an_owner_that_took_the_hall_just_now_is_up(clock, owner_for):
    # The standby says the owner found down has held the hall for (less
    # than) a second: it took it after it was found down, so it is up.
    session = make(clock, urls=[A, B, C])
    session.open()
    online(session)
    session.lost(None, "connection reset")
    reconnect(session, clock)
    clock.now += 3.0
    hello_error(session, "standby", owner=A, owner_for=owner_for)
    assert of(Connect, reconnect(session, clock)) == [Connect(A)]


def test_an_owner_holding_the_hall_since_the_moment_it_was_found_down_is_not_back(clock):
    # Taken at the very moment it was found down is not after it: the lease
    # it held then may be the one running out. The device stays on B.
    session = make(clock, urls=[A, B, C])
    session.open()
    online(session)
    found = clock.now
    session.lost(None, "connection reset")
    reconnect(session, clock)
    clock.now += 3.0
    hello_error(session, "standby", owner=A, owner_for=clock.now - found)
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]


def test_a_welcome_resets_the_backoff_with_a_single_url(clock):
    session = make(clock, urls=[A])
    session.open()
    for _ in range(3):
        session.lost(None, "connection refused")
        reconnect(session, clock)
    online(session)
    session.lost(CLOSE_SERVICE_RESTART)
    assert session.next_deadline() == clock.now + 0.5  # the first delay again


# -- patience for a welcome -----------------------------------------------------------------
def test_patience_after_a_url_found_down_ends_at_exactly_avoid_s(clock):
    session = make(clock, urls=[A, B, C])
    session.open()
    online(session)
    found = clock.now
    session.lost(None, "connection reset")
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    clock.now = found + AVOID_S - 0.5
    assert session.welcome_wait() == OWNER_PATIENCE_S
    clock.now = found + AVOID_S
    assert session.welcome_wait() == 5.0


def test_patience_after_a_silent_server_ends_at_exactly_avoid_s(clock):
    session = make(clock, urls=[A, B])
    session.open()
    session.connected()
    clock.now += 5.0
    silent = clock.now
    assert session.tick() == [Drop(), Status("offline")]
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]
    assert session.welcome_wait() == OWNER_PATIENCE_S
    clock.now = silent + AVOID_S - 0.5
    assert session.welcome_wait() == OWNER_PATIENCE_S
    clock.now = silent + AVOID_S
    assert session.welcome_wait() == 5.0


def test_a_silent_server_tried_again_gets_the_timeout_not_owner_patience(clock):
    # It gave no welcome in its wait: the patience is for the next server
    # (likely the one loading the hall), not for the silent one.
    session = make(clock, urls=[A])
    session.open()
    session.connected()
    clock.now += 5.0
    session.tick()
    assert of(Connect, reconnect(session, clock)) == [Connect(A)]
    assert session.welcome_wait() == 5.0


# -- deadlines falling together -------------------------------------------------------------
def _timeout(rid: str) -> Answered:
    return Answered(rid, {"type": "error", "re": rid, "code": "timeout",
                          "message": "no reply within 5000 ms"})


def test_a_request_expiring_as_the_retry_is_due_is_answered(clock):
    session = make(clock, urls=[A, B])
    session.open()
    message = session.make_request("ping", {})
    session.submit(message)  # due at 105
    clock.now += 1.0
    session.connected()
    clock.now += 3.5
    session.lost(CLOSE_TRY_AGAIN)  # retry due at 105 too
    assert session.next_deadline() == 105.0
    clock.now = 105.0
    assert session.tick() == [_timeout(message["id"]), Status("connecting"), Connect(B)]
    assert session.pending == 0


def test_a_request_expiring_as_the_welcome_is_due_is_answered(clock):
    session = make(clock, urls=[A, B])
    session.open()
    message = session.make_request("ping", {})
    session.submit(message)
    session.connected()
    clock.now += 5.0
    assert session.tick() == [_timeout(message["id"]), Drop(), Status("offline")]
    assert session.pending == 0
    assert of(Connect, reconnect(session, clock)) == [Connect(B)]


# -- what each step leaves for diagnostics ------------------------------------------------
def test_the_trail_names_each_move_and_its_cause(clock):
    session = make(clock, urls=[A, B, C])
    session.open()
    session.lost()  # no code, no reason
    reconnect(session, clock)
    hello_error(session, "standby", owner=C)
    reconnect(session, clock)
    hello = sent(session.connected())[0]
    session.receive(welcome_for(session, hello, 3))
    session.lost(CLOSE_SERVICE_RESTART)
    reconnect(session, clock)  # A found down lately: B
    _busy(session)
    steps = _steps(session)
    for step in [f"connect {A}", f"lost {A} (closed)", f"next: {B} in 0.5 s",
                 f"open {B}, hello sent (a server was found down: a takeover is under way: "
                 f"{OWNER_PATIENCE_S:g} s for a welcome)",
                 f"standby {B} (owner {C})",
                 f"open {C}, hello sent (the owner named by a standby: "
                 f"{OWNER_PATIENCE_S:g} s for a welcome)",
                 f"lost {C} (1012: server restarting or stepping down)",
                 f"lost {B} (1013: server busy or standby)"]:
        assert step in steps, (step, steps)


def test_the_trail_says_when_the_device_stays_on_a_standby_and_when_no_patience(clock):
    plain = make(clock, urls=[A])
    plain.open()
    plain.connected()
    assert _steps(plain)[-1] == f"open {A}, hello sent"
    refused = make(clock, urls=[A])
    refused.open()
    hello_error(refused, "unauthorized")
    assert f"refused by {A}: unauthorized" in _steps(refused)
    session = make(clock, urls=[A, B, C])
    session.open()
    online(session)
    session.lost(None, "connection reset")
    reconnect(session, clock)
    hello_error(session, "standby", owner=A)
    reconnect(session, clock)
    session.connected()
    assert _steps(session)[-1] == (f"open {B}, hello sent (the standby stayed on: "
                                   f"{OWNER_PATIENCE_S:g} s for a welcome)")


def test_failover_steps_are_logged_with_the_device_the_url_and_the_cause(clock, caplog):
    # The client log (chaos --client-log) matches each outage with the
    # failures under way: every line names the device, the server and why.
    caplog.set_level(logging.DEBUG, logger="server.client.session")
    frozen = make(clock, urls=[A, B])
    frozen.open()
    clock.now += OPEN_S
    frozen.tick()
    silent = make(clock, urls=[A, B])
    silent.open()
    silent.connected()
    clock.now += 5.0
    silent.tick()
    session = make(clock, urls=[A, B, C])
    session.open()
    hello = sent(session.connected())[0]
    session.receive(json.dumps({"type": "pong", "re": "p1"}))
    session.receive(json.dumps({"type": "error", "re": hello["id"], "code": "standby",
                                "owner": C, "message": "standby"}))
    reconnect(session, clock)
    hello_error(session, "rate_limited", message="slow down")
    reconnect(session, clock)
    online(session)
    session.lost(CLOSE_SERVICE_RESTART)
    reconnect(session, clock)
    session.lost(None, "connection reset")
    reconnect(session, clock)
    hello_error(session, "unauthorized", message="bad token")
    lines = "\n".join(r.getMessage() for r in caplog.records)
    for line in [f"client counter-3: no upgrade from {A} within {OPEN_S:.1f} s",
                 f"client counter-3: no welcome from {A} within 5.0 s",
                 "client counter-3: ignoring 'pong' before the welcome",
                 f"client counter-3: {A} is a standby (owner {C!r}); trying {C}",
                 "client counter-3: hello failed: rate_limited (slow down)",
                 f"client counter-3: connection to {A} lost "
                 f"(1012: server restarting or stepping down)",
                 f"client counter-3: connection to {B} lost (connection reset)",
                 "client counter-3: server refused hello: unauthorized (bad token)"]:
        assert line in lines, (line, lines)
