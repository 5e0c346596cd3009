"""Test helpers for the console: a hall with a supervisor, login, a session socket."""

from __future__ import annotations

import dataclasses
import http.client
import json
import time
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from server.config import HallConfig
from tests.helpers.server import WsClient, _hash, dial, small_config

__all__ = ["PASSWORD", "ConsoleClient", "admin_config", "closed_with", "console_config", "get",
           "login", "open_socket", "try_login"]

PASSWORD = "correct horse 7"


def console_config(database: str, **console: Any) -> HallConfig:
    """The small test hall; s005 陈静 is a supervisor with :data:`PASSWORD`,
    s004 an admin without one (cannot log in), the rest counter staff."""
    cfg = small_config(database)
    staff = list(cfg.staff)
    staff[4] = dataclasses.replace(staff[4], roles=("counter", "supervisor"),
                                   password_hash=_hash(PASSWORD))
    staff[3] = dataclasses.replace(staff[3], roles=("admin",))
    changes: dict[str, Any] = {"staff": tuple(staff)}
    if console:
        changes["console"] = dataclasses.replace(cfg.console, **console)
    return dataclasses.replace(cfg, **changes)


def admin_config(database: str) -> HallConfig:
    """:func:`console_config` where s005 陈静 is also an admin (configuration pages)."""
    cfg = console_config(database)
    staff = list(cfg.staff)
    staff[4] = dataclasses.replace(staff[4], roles=("counter", "supervisor", "admin"))
    return dataclasses.replace(cfg, staff=tuple(staff))


def closed_with(client: WsClient, timeout: float = 10) -> int | None:
    """Read a device's connection until the server closes it; the close code."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            client.recv(timeout=max(0.1, deadline - time.monotonic()))
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    raise AssertionError("the connection stayed open")


def get(port: int, path: str, cookie: str | None = None) -> tuple[int, dict[str, str], str]:
    """A plain GET (no redirect followed): status, headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    resp = conn.getresponse()
    body = resp.read().decode("utf-8", "replace")
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body


def open_socket(port: int, cookie: str | None = None,
                path: str = "/console/ws") -> ClientConnection:
    headers = {"Cookie": cookie} if cookie else None
    return dial(f"ws://127.0.0.1:{port}{path}", origin=f"http://127.0.0.1:{port}",
                additional_headers=headers)


def try_login(port: int, staff: str, password: str) -> dict[str, Any]:
    with open_socket(port) as ws:
        ws.send(json.dumps({"type": "login", "staff": staff, "password": password}))
        return dict(json.loads(ws.recv(timeout=20)))


def login(port: int, staff: str = "s005", password: str = PASSWORD) -> str:
    """Log in; returns the ``Cookie`` header value of the new session."""
    reply = try_login(port, staff, password)
    assert reply["type"] == "ok", reply
    status, headers, _ = get(port, f"/console/session?grant={reply['grant']}")
    assert status == 303 and headers["location"] == "/console"
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return cookie.split(";")[0]


class ConsoleClient:
    """A logged-in console socket: the floor pushes and requests with the CSRF token."""

    def __init__(self, port: int, cookie: str) -> None:
        status, _, page = get(port, "/console", cookie)
        assert status == 200
        marker = 'name="qhall-csrf" content="'
        assert marker in page, "the page of a session carries its CSRF token"
        self.csrf = page.split(marker, 1)[1].split('"', 1)[0]
        self.ws = open_socket(port, cookie)
        self.floor: dict[str, Any] = {}
        self.next = 0

    def recv(self, timeout: float = 10) -> dict[str, Any]:
        msg = dict(json.loads(self.ws.recv(timeout=timeout)))
        if msg.get("type") == "floor":
            self.floor = msg
        return msg

    def request(self, do: str, csrf: bool | str = True, **fields: Any) -> dict[str, Any]:
        """Send one request (``csrf``: True = the page's token, a string = that
        one, False = none) and return its reply."""
        self.next += 1
        rid = f"r{self.next}"
        body = {"id": rid, "do": do, **fields}
        if csrf is not False:
            body["csrf"] = self.csrf if csrf is True else csrf
        self.ws.send(json.dumps(body))
        while True:
            msg = self.recv()
            if msg.get("re") == rid:
                return msg

    def wait_floor(self, test: Any, timeout: float = 10) -> dict[str, Any]:
        import time

        deadline = time.monotonic() + timeout
        while not (self.floor and test(self.floor)):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("the floor never showed it")
            self.recv(timeout=left)
        return self.floor

    def close(self) -> None:
        self.ws.close()
