"""Console login, sessions, CSRF, lockout, idle timeout and the audit log,
against the real server (a thread) and a real SQLite file."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from server.authpool import DUMMY_HASH
from server.store import ConsoleSessionRow
from tests.console.client import (
    PASSWORD,
    ConsoleClient,
    console_config,
    get,
    login,
    open_socket,
    try_login,
)
from tests.helpers.server import PIN, TOKEN, RunningServer, dial


@pytest.fixture
def srv(tmp_path):
    with RunningServer(console_config(f"sqlite:///{tmp_path / 'hall.db'}")) as server:
        yield server


def _audit(srv: RunningServer) -> list[tuple[str, str, str]]:
    rows = srv.store.console.audit_log(srv.config.id)
    return [(r.staff, r.action, r.target) for r in reversed(rows)]


def test_login_sets_a_strict_httponly_cookie_and_the_page_carries_csrf(srv):
    status, _, page = get(srv.port, "/console")
    assert status == 200 and 'name="qhall-csrf"' not in page  # the login form
    cookie = login(srv.port)
    client = ConsoleClient(srv.port, cookie)
    first = client.recv()
    assert first["type"] == "floor"
    assert [c["number"] for c in first["floor"]["counters"]] == [1, 2, 3, 4]
    client.close()
    assert ("s005", "login", "staff:s005") in _audit(srv)
    # A grant is good once.
    reply = try_login(srv.port, "s005", PASSWORD)
    assert get(srv.port, f"/console/session?grant={reply['grant']}")[1].get("set-cookie")
    assert "set-cookie" not in get(srv.port, f"/console/session?grant={reply['grant']}")[1]


def test_a_request_without_the_csrf_token_is_refused_and_changes_nothing(srv):
    with srv.client("counter-1") as counter:
        assert counter.request("login", staff="s001", pin=PIN)["type"] == "ok"
    client = ConsoleClient(srv.port, login(srv.port))
    refused = client.request("pause", csrf=False, counter=1)
    assert refused["type"] == "error" and refused["code"] == "forbidden"
    wrong = client.request("pause", counter=1, csrf="x" * 32)
    assert wrong["code"] == "forbidden"
    assert srv.call(lambda: srv.server.service.hall.counter_state(1).state) == "open"
    assert not [a for a in _audit(srv) if a[1] == "pause"]
    # With the token: done through the core, broadcast, audited.
    done = client.request("pause", counter=1)
    assert done["type"] == "ok", done
    assert srv.call(lambda: srv.server.service.hall.counter_state(1).state) == "paused"
    assert ("s005", "pause", "counter:1") in _audit(srv)
    client.wait_floor(lambda f: f["floor"]["counters"][0]["state"] == "paused")
    client.close()


def test_a_board_token_opens_nothing(srv):
    board = TOKEN("board-1")
    for cookie in (f"qhall_console={board}", f"qhall_console={board}; device=board-1"):
        status, _, page = get(srv.port, "/console", cookie)
        assert 'name="qhall-csrf"' not in page
        assert get(srv.port, "/console/report.csv", cookie)[0] == 401
    # The console socket without a session answers only a staff login.
    with open_socket(srv.port, f"qhall_console={board}") as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "device": "board-1",
                            "token": board}))
        reply = json.loads(ws.recv(timeout=10))
        assert reply["code"] == "unauthorized"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    # Device credentials as a staff login fail too (no such staff, no console role).
    assert try_login(srv.port, "board-1", board)["code"] == "unauthorized"
    assert try_login(srv.port, "s001", PIN)["code"] == "unauthorized"  # counter staff, PIN
    assert try_login(srv.port, "s004", PIN)["code"] == "unauthorized"  # admin, no password


def test_the_console_socket_refuses_another_origin(srv):
    with pytest.raises(InvalidStatus) as exc:
        dial(f"ws://127.0.0.1:{srv.port}/console/ws", origin="http://evil.example")
    assert exc.value.response.status_code == 403


def test_wrong_passwords_lock_the_login_like_pins(srv):
    for _ in range(5):
        assert try_login(srv.port, "s005", "wrong")["code"] == "unauthorized"
    locked = try_login(srv.port, "s005", PASSWORD)
    assert locked["code"] == "rate_limited", locked


def test_an_idle_session_expires(tmp_path):
    now = [dt.datetime.now(dt.UTC)]
    cfg = console_config(f"sqlite:///{tmp_path / 'hall.db'}", idle_timeout_s=120)
    with RunningServer(cfg, clock=lambda: now[0]) as srv:
        cookie = login(srv.port)
        client = ConsoleClient(srv.port, cookie)
        assert client.request("audit")["type"] == "ok"
        now[0] += dt.timedelta(seconds=100)
        assert client.request("audit")["type"] == "ok"  # used: the idle time starts again
        now[0] += dt.timedelta(seconds=100)
        assert client.request("audit")["type"] == "ok"
        now[0] += dt.timedelta(seconds=121)
        # Refused, or the socket is closed 4401 first (it checks on its own too).
        try:
            assert client.request("audit")["code"] == "unauthorized"
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 4401
        client.close()
        assert 'name="qhall-csrf"' not in get(srv.port, "/console", cookie)[2]


def test_logout_ends_the_session(srv):
    cookie = login(srv.port)
    client = ConsoleClient(srv.port, cookie)
    assert client.request("logout")["type"] == "ok"
    client.close()
    assert 'name="qhall-csrf"' not in get(srv.port, "/console", cookie)[2]
    assert ("s005", "logout", "staff:s005") in _audit(srv)


def test_every_login_costs_one_scrypt_check_known_id_or_not(srv):
    # No timing oracle: an unknown id, a counter clerk without console access
    # and a supervisor with a wrong password all cost the same check.
    checked: list[str] = []
    pool = srv.server.console.pool
    verify = pool.verify

    async def counting(secret: str, hashed: str) -> bool:
        checked.append(hashed)
        return await verify(secret, hashed)

    pool.verify = counting
    for staff in ("s999", "s001", "s005"):
        assert try_login(srv.port, staff, "wrong password")["code"] == "unauthorized"
    assert len(checked) == 3
    assert checked[0] == checked[1] == DUMMY_HASH != checked[2]


def test_ended_and_idle_sessions_are_purged(srv):
    ended = ConsoleClient(srv.port, login(srv.port))
    assert ended.request("logout")["type"] == "ok"
    live = login(srv.port)
    rows = srv.store.console
    hall = srv.config.id
    idle_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    rows.open_session(ConsoleSessionRow(hall, "f" * 64, "s005", "c" * 24, idle_at, idle_at))
    assert srv.call(srv.server.console.sessions.purge) == 2  # the ended and the idle one
    assert rows.session(hall, "f" * 64) is None
    assert ConsoleClient(srv.port, live).recv()["type"] == "floor"  # the live one stays
