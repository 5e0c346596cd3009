"""The application ``ping`` before the welcome: the web board's probe of a frozen server.

A server frozen (SIGSTOP) after it upgraded a socket keeps it open and
answers nothing. The asyncio client and the Qt link find it with a
websocket ping (answered below the application); a browser has none, so
the server now answers the application ``ping`` before the welcome too
(``server/prewelcome.py``): before the hello, between the hello and the
welcome, and while a standby holds the hello. Before, a ping as the first
frame was "not a hello" (``bad_request``, close 1008) and one after the
hello waited for the welcome, so the board could only wait out its welcome
patience (15 s) at a frozen server. The web board now probes every 1 s and
leaves a server whose answer has not come within 2 s (was every 3 s, left at
the next: a freeze late in a 15 s wait went unseen; headless Chromium below).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect as aconnect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from server.halls import Halls
from server.prewelcome import EARLY_PINGS, early, welcomed
from server.store.lease import LeaseBook
from tests.helpers.server import TOKEN, RunningServer, free_port, small_config
from tests.helpers.tools import unavailable
from tests.server import test_failover_hold as hold
from tests.server.test_failover_clients import open_board
from tests.web.test_webboard import CHROMIUM, Cdp, chromium

#: The throwaway PostgreSQL database of the standby tests (test_failover_hold's).
database = hold.database


@pytest.fixture
def hall(tmp_path: Path):
    with RunningServer(small_config(f"sqlite:///{tmp_path / 'hall.db'}")) as srv:
        yield srv


def _hello(rid: str = "h1", device: str = "board-1") -> str:
    return json.dumps({"type": "hello", "id": rid, "protocol": 1, "device": device,
                       "token": TOKEN(device), "since": None})


def _recv(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(ws.recv(30))


def test_a_ping_before_the_hello_is_answered_and_the_hello_still_welcomed(hall) -> None:
    with connect(hall.url) as ws:
        ws.send(json.dumps({"type": "ping", "id": "p1"}))
        # Before: bad_request "the first message must be 'hello'", close 1008.
        assert _recv(ws) == {"type": "ok", "re": "p1"}  # no seq: no hall state yet
        ws.send(_hello())
        welcome = _recv(ws)
        assert welcome["type"] == "welcome" and welcome["re"] == "h1", welcome
        ws.send(json.dumps({"type": "ping", "id": "p2"}))
        assert _recv(ws) == {"type": "ok", "re": "p2", "seq": welcome["seq"]}


#: Pings the decoder or the request rules refuse, as raw JSON text.
BAD_PINGS = [
    '{"type": "ping"}',
    '{"type": "ping", "id": ""}',
    '{"type": "ping", "id": 7}',
    '{"type": "ping", "id": "%s"}' % ("x" * 129),
    '{"type": "ping", "id": "\\ud800"}',
    '{"type": "ping", "id": "p", "note": "\\udfff"}',
    '{"type": "ping", "id": "a\\u0007b"}',
    '{"type": "ping", "id": "p", "id": "q"}',
    '{"type": "ping", "id": "p", "n": 1e999}',
    '{"type": "ping", "id": "p", "deep": [[[[[[[[[1]]]]]]]]]}',
]


def test_bad_pings_before_the_welcome_get_the_same_errors_as_after(hall) -> None:
    with connect(hall.url) as after:
        after.send(_hello("h0"))
        assert _recv(after)["type"] == "welcome"
        for text in BAD_PINGS:
            after.send(text)
            expected = _recv(after)
            assert expected["type"] == "error" and expected["code"] == "bad_request", expected
            with connect(hall.url) as before:
                before.send(text)
                assert _recv(before) == expected, text
                # The connection stays open for its hello, as after the welcome.
                before.send(_hello())
                assert _recv(before)["type"] == "welcome", text
    # A ping with fields the request does not know is a ping (unknown fields are ignored).
    with connect(hall.url) as ws:
        ws.send(json.dumps({"type": "ping", "id": "p", "extra": {"a": [1, "b"]}}))
        assert _recv(ws) == {"type": "ok", "re": "p"}


def test_pings_do_not_stand_in_for_the_hello(hall, monkeypatch: pytest.MonkeyPatch) -> None:
    import server.serve

    # Budget: past EARLY_PINGS answers, a ping is the (bad) hello.
    with connect(hall.url) as ws:
        for n in range(EARLY_PINGS):
            ws.send(json.dumps({"type": "ping", "id": f"p{n}"}))
            assert _recv(ws) == {"type": "ok", "re": f"p{n}"}
        ws.send(json.dumps({"type": "ping", "id": "one-more"}))
        reply = _recv(ws)
        assert (reply["code"], reply["re"]) == ("bad_request", "one-more"), reply
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(30)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    # The hello deadline counts from the upgrade, pings or not.
    monkeypatch.setattr(server.serve, "HELLO_TIMEOUT_S", 2.0)
    with connect(hall.url) as ws:
        ws.send(json.dumps({"type": "ping", "id": "p"}))
        assert _recv(ws) == {"type": "ok", "re": "p"}
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(30)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
        assert "no hello" in info.value.rcvd.reason


def test_short_waits_lose_no_frame_and_keep_the_order() -> None:
    """A hold wakes at every lease pass, ending a wait while a frame may be on
    its way (a read cancelled): nothing is lost, nothing is reordered."""
    seen: dict[str, Any] = {}

    async def handler(ws: ServerConnection) -> None:
        reader = early(ws, 30.0)
        turns = 0
        while reader.reading:  # many short waits until a request stops the reading
            await reader.during(asyncio.sleep(0))  # ends at the next loop turn
            turns += 1
        seen["turns"] = turns
        seen["hello"] = json.loads(await reader.hello())
        after = welcomed(ws)
        seen["after"] = json.loads(after) if after is not None else None
        seen["rest"] = [json.loads(frame) async for frame in ws]

    async def main() -> list[dict[str, Any]]:
        async with serve(handler, "127.0.0.1", 0) as server:
            port = int(next(iter(server.sockets)).getsockname()[1])
            async with aconnect(f"ws://127.0.0.1:{port}") as ws:
                await ws.send(_hello())
                pongs = []
                for n in range(5):
                    await ws.send(json.dumps({"type": "ping", "id": f"p{n}"}))
                    pongs.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
                for frame in ({"type": "nonsense", "id": "r1"}, {"type": "ping", "id": "p5"},
                              {"type": "nonsense", "id": "r2"}):
                    await ws.send(json.dumps(frame))
            async with asyncio.timeout(30):
                while "rest" not in seen:
                    await asyncio.sleep(0.01)
            return pongs

    pongs = asyncio.run(main())
    assert pongs == [{"type": "ok", "re": f"p{n}"} for n in range(5)]
    assert seen["hello"]["type"] == "hello" and seen["after"]["id"] == "r1", seen
    assert [m["id"] for m in seen["rest"]] == ["p5", "r2"], seen
    assert seen["turns"] > 5, seen  # waits did end with reads under way


# --------------------------------------------------------- while held (PostgreSQL)
@pytest.mark.postgres
def test_a_standby_answers_pings_while_it_holds_the_hello(database: str) -> None:
    """Held, the hello is read but kept: pings are answered at once, a request
    sent before the welcome waits for it (and what follows it), as before."""
    async def scenario(halls: Halls, dead: LeaseBook) -> list[dict[str, Any]]:
        renewing = True

        async def renew() -> None:
            # The dead owner's lease keeps reading as running out (5 s, within
            # the hold's 6 s), so the hello stays held until we let it go.
            while renewing:
                await asyncio.to_thread(dead.renew, hold.HALL)
                await asyncio.sleep(0.5)

        renewer = asyncio.ensure_future(renew())
        ws = await hold._held_hello(halls)
        got: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(60):
                await ws.send(json.dumps({"type": "ping", "id": "p1"}))
                got.append(json.loads(await ws.recv()))
                assert halls.slots[hold.HALL].server is None and halls.held == 1
                await ws.send(json.dumps({"type": "nonsense", "id": "n1"}))
                await ws.send(json.dumps({"type": "ping", "id": "p2"}))
                renewing = False
                await renewer
                await asyncio.to_thread(dead.release, hold.HALL)  # the standby takes over
                while len(got) < 4:
                    message = json.loads(await ws.recv())
                    if message["type"] != "event":  # none expected; not what is tested
                        got.append(message)
        finally:
            renewing = False
            await ws.close()
            await renewer
        return got

    pong, welcome, refused, ping = hold._on_a_standby(database, scenario)
    # Before: nothing until the welcome (the hello was not even read).
    assert pong == {"type": "ok", "re": "p1"}
    assert (welcome["type"], welcome["re"]) == ("welcome", "h1"), welcome
    assert (refused["type"], refused["re"], refused["code"]) == ("error", "n1", "bad_request")
    assert ping == {"type": "ok", "re": "p2", "seq": welcome["seq"]}


# ------------------------------------------------------------- the web board
class Silent:
    """A server that upgrades every socket and then answers nothing (frozen
    after the upgrade); it keeps what each socket sent."""

    def __init__(self) -> None:
        self.url = ""
        self.sockets: list[list[dict[str, Any]]] = []
        self.closed = 0

    async def _serve(self, ws: ServerConnection) -> None:
        frames: list[dict[str, Any]] = []
        self.sockets.append(frames)
        try:
            async for frame in ws:
                frames.append(json.loads(frame))
        except ConnectionClosed:
            pass
        self.closed += 1


@pytest.mark.browser
def test_the_web_board_leaves_a_server_that_answers_no_ping(hall, tmp_path: Path) -> None:
    # The board reaches a refused URL first (found down: a takeover under
    # way), so the silent one earns the whole OWNER_PATIENCE_MS (15 s) for
    # its welcome. Before, it waited that out; now its unanswered probe
    # sends it on to the hall's real server.
    if not os.path.exists(CHROMIUM):
        unavailable("chromium is not installed (apt install chromium)")
    refused = f"ws://127.0.0.1:{free_port()}/ws"
    silent = Silent()

    async def main(page_ws: str) -> list[str]:
        async with serve(silent._serve, "127.0.0.1", 0) as listener, \
                aconnect(page_ws, max_size=2**26) as ws:
            port = int(next(iter(listener.sockets)).getsockname()[1])
            silent.url = f"ws://127.0.0.1:{port}/ws"
            cdp = Cdp(ws)
            on = await open_board(cdp, hall.http, [refused, silent.url, hall.url], timeout=60)
            assert on == hall.url
            async with asyncio.timeout(30):  # its close reached the silent server
                while silent.closed < 1:
                    await asyncio.sleep(0.05)
            return [str(what) for _, what in await cdp.js("window.qhallBoard.trail")]

    with chromium(tmp_path / "profile") as page_ws:
        steps = asyncio.run(main(page_ws))
    assert len(silent.sockets) == 1 and silent.closed == 1, steps  # left, not revisited
    hello, *probes = silent.sockets[0]
    assert hello["type"] == "hello"
    # One probe, unanswered, and it left: not a wait for the welcome.
    assert [p["type"] for p in probes] == ["ping"], probes
    mine = [s for s in steps if silent.url in s or hall.url in s]
    assert mine[:3] == [f"connect {silent.url}",
                        f"open {silent.url}, hello sent (a server was found down: 15 s for "
                        "a welcome)",
                        f"no pong from {silent.url} within 2 s"], steps
    assert f"connect {hall.url}" in mine and mine[-1].startswith(f"welcome from {hall.url}"), steps
    assert not any(s.startswith(f"no welcome from {silent.url}") for s in steps), steps
