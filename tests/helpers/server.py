"""A real qhall server for tests: a small hall, run in a thread or a subprocess.

``small_config(db_url)`` is a four-counter hall with always-open services
(so tests do not depend on the time of day). ``RunningServer`` runs the real
:class:`server.serve.Server` on a free loopback port in a background thread;
``WsClient`` is a blocking websockets client that speaks protocol v1.

Secrets: every device token is ``"tok-" + device id``, every staff PIN
``"1234"`` (hashed once per test session, with a cheap scrypt cost).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import itertools
import json
import socket
import threading
from collections.abc import Callable
from typing import Any

from websockets.sync.client import ClientConnection, connect

from server.auth import hash_secret
from server.config import Counter, Device, Dispatch, HallConfig, Limits, Service, Staff

__all__ = ["small_config", "RunningServer", "WsClient", "TOKEN", "PIN", "dial", "free_port",
           "healthz"]

PIN = "1234"


def TOKEN(device: str) -> str:  # noqa: N802 - reads like a constant table
    return f"tok-{device}"


@functools.cache
def _hash(secret: str) -> str:
    # Low cost: tests hash and verify many times; production uses the default.
    return hash_secret(secret, n=2**10)


def small_config(database: str, *, hours: tuple = (), quota: int | None = None,
                 dispatch: Dispatch | None = None) -> HallConfig:
    """A small hall: 3 services, 4 counters, kiosk, board, evaluators, admin."""
    services = (
        Service("gjj", "公积金业务", "Housing provident fund", "A", "public",
                hours=hours, daily_quota=quota, default_service_s=300),
        Service("tax", "税务综合", "Tax services", "B", "public", default_service_s=240),
        Service("bdc", "不动产登记", "Real estate registration", "C", "approval",
                default_service_s=900),
    )
    counters = (
        Counter(1, "1号窗口", ("gjj", "tax")),
        Counter(2, "2号窗口", ("gjj",)),
        Counter(3, "3号窗口", ("tax", "gjj"), mode="oldest"),
        Counter(4, "4号窗口", ("bdc",)),
    )
    staff = tuple(Staff(f"s00{i}", name, _hash(PIN))
                  for i, name in enumerate(["王芳", "李强", "张伟", "刘洋", "陈静"], 1))
    devices = [Device("kiosk-1", "kiosk", _hash(TOKEN("kiosk-1"))),
               Device("kiosk-2", "kiosk", _hash(TOKEN("kiosk-2"))),
               Device("board-1", "display", _hash(TOKEN("board-1"))),
               Device("board-2", "display", _hash(TOKEN("board-2"))),
               Device("admin-1", "admin", _hash(TOKEN("admin-1")))]
    for n in range(1, 5):
        devices.append(Device(f"counter-{n}", "counter", _hash(TOKEN(f"counter-{n}")), n))
        devices.append(Device(f"evaluator-{n}", "evaluator", _hash(TOKEN(f"evaluator-{n}")), n))
        devices.append(Device(f"cdisplay-{n}", "display", _hash(TOKEN(f"cdisplay-{n}")), n))
    return HallConfig(
        name="测试政务服务中心", timezone="Asia/Shanghai", database=database,
        services=services, counters=counters, staff=staff, devices=tuple(devices),
        dispatch=dispatch or Dispatch(), notice="测试通知 test notice",
    )


class RunningServer:
    """The real server in a background thread with its own event loop.

    Args:
        config: the hall.
        clock: injected clock for the hall service (default: real time).
        kiosk_rate: issue limit per kiosk per minute (0: none).
        limits: the hall's limits; default: only the kiosk rate and 5 wrong
            PINs (tests send requests back to back from one device).
    """

    def __init__(self, config: HallConfig, *, clock: Callable[[], dt.datetime] | None = None,
                 kiosk_rate: int = 0, port: int = 0, limits: Limits | None = None) -> None:
        if limits is None:
            limits = Limits(kiosk_issues_per_min=kiosk_rate, requests_per_s=0,
                            hellos_per_min=0, pin_failures=5)
        self.config = dataclasses.replace(config, limits=limits)
        self.clock = clock
        self.kiosk_rate = kiosk_rate
        self.port = port
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: Any = None
        self.store: Any = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RunningServer:
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="qhall-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("server did not start in 30 s")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        from server.features import default_features
        from server.serve import Server
        from server.service import HallService
        from server.store import Store

        async def main() -> None:
            self.store = Store(self.config.database)
            kwargs: dict[str, Any] = {"clock": self.clock} if self.clock else {}
            service = HallService(self.config, self.store, **kwargs, features=default_features())
            self.server = Server(service)
            self.port = await self.server.start("127.0.0.1", self.port)
            self._stopped = asyncio.Event()
            self.loop = asyncio.get_running_loop()
            self._ready.set()
            await self._stopped.wait()
            await self.server.stop()
            self.store.close()

        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced to the test thread
            self._error = exc
            self._ready.set()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the server's loop thread and return its result."""
        assert self.loop is not None
        fut = asyncio.run_coroutine_threadsafe(_wrap(fn), self.loop)
        return fut.result(10)

    def stop(self) -> None:
        if self.loop is not None and self._stopped is not None:
            self.loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(15)
        self.loop = None

    def __enter__(self) -> RunningServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, device: str, token: str | None = None, since: int | None = None,
               **hello: Any) -> WsClient:
        return WsClient(self.url, device, TOKEN(device) if token is None else token,
                        since=since, **hello)


def free_port() -> int:
    """A loopback TCP port free right now (for a server in another process)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dial(url: str, **kwargs: Any) -> ClientConnection:
    """Open a sync websocket connection outside a ``with`` block.

    websockets >= 17.1 warns when ``connect()`` is not used as a context
    manager; entering it by hand is the supported equivalent.
    """
    return connect(url, open_timeout=10, **kwargs).__enter__()


async def _wrap(fn: Callable[[], Any]) -> Any:
    return fn()


class WsClient:
    """A blocking protocol-v1 client: ``request()`` waits for its reply and
    keeps the events that arrive meanwhile in ``events``."""

    _ids = itertools.count(1)

    def __init__(self, url: str, device: str, token: str, since: int | None = None,
                 expect_welcome: bool = True, **hello: Any) -> None:
        self.device = device
        self.events: list[dict[str, Any]] = []
        self.replies: dict[str, dict[str, Any]] = {}
        for _attempt in range(100):
            self.ws: ClientConnection = dial(url, max_size=2**20)
            self.ws.send(json.dumps({"type": "hello", "id": "hello", "protocol": 1,
                                     "device": device, "token": token, "since": since,
                                     **hello}))
            first = json.loads(self.ws.recv(timeout=10))
            # The server's token checks were all busy (many clients at once):
            # reconnect, as a real device does.
            if first.get("code") != "rate_limited":
                break
            self.ws.close()
        self.welcome = first
        if expect_welcome and first.get("type") != "welcome":
            raise AssertionError(f"expected welcome, got {first}")

    def send_raw(self, frame: str | bytes) -> None:
        self.ws.send(frame)

    def recv(self, timeout: float = 5) -> dict[str, Any]:
        msg = json.loads(self.ws.recv(timeout=timeout))
        if msg.get("type") == "event":
            self.events.append(msg)
        elif msg.get("type") in ("ok", "error"):
            self.replies[msg.get("re")] = msg
        return msg

    def request(self, type: str, id: str | None = None, timeout: float = 10,
                **fields: Any) -> dict[str, Any]:
        rid = id or f"{self.device}-{next(self._ids)}"
        self.ws.send(json.dumps({"type": type, "id": rid, **fields}))
        return self.wait_reply(rid, timeout)

    def wait_reply(self, rid: str | None, timeout: float = 10) -> dict[str, Any]:
        if rid in self.replies:
            return self.replies.pop(rid)
        while True:
            msg = self.recv(timeout)
            if msg.get("type") in ("ok", "error") and msg.get("re") == rid:
                if rid is not None:
                    self.replies.pop(rid, None)
                return msg

    def wait_event(self, name: str, timeout: float = 5,
                   where: Callable[[dict], bool] | None = None) -> dict[str, Any]:
        for ev in self.events:
            if ev["name"] == name and (where is None or where(ev)):
                self.events.remove(ev)
                return ev
        while True:
            msg = self.recv(timeout)
            if msg.get("type") == "event" and msg["name"] == name and (
                    where is None or where(msg)):
                self.events.remove(msg)
                return msg

    def drain(self, quiet: float = 0.2) -> list[dict[str, Any]]:
        """Read until nothing arrives for ``quiet`` seconds; return all events seen."""
        try:
            while True:
                self.recv(quiet)
        except TimeoutError:
            pass
        return self.events

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> WsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def healthz(port: int) -> tuple[int, str]:
    """``GET /healthz`` of the server on ``port``: (status, body), 5xx included."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
