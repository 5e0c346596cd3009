"""Several halls in one ``qhall serve`` process, and many halls shared by processes.

One process, two halls (``--config-dir``): each hall its own socket
``/ws/<hall-id>``, board and health; no event crosses halls; ``/t/<check>``
finds a ticket of either hall; ``/metrics`` labels by hall. On PostgreSQL two
processes share four halls evenly, and when one dies the other takes them all.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.client
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from server.config import dumps
from server.halls import owner_page_url
from server.reference import demo_token
from server.tools.chaos import Instance, chaos_config
from server.tools.pgcluster import PgCluster, free_port
from tests.conftest import TEST_PII_KEY
from tests.helpers.failover import until
from tests.helpers.server import TOKEN, WsClient, dial, small_config
from tests.helpers.tools import unavailable
from tests.web.test_webboard import CHROMIUM, Cdp, chromium

ROOT = Path(__file__).resolve().parents[2]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def two_halls(tmp_path: Path) -> Iterator[Instance]:
    halls = tmp_path / "halls"
    halls.mkdir()
    database = f"sqlite:///{tmp_path / 'city.db'}"  # two halls, one database
    for hall in ("east", "west"):
        cfg = dataclasses.replace(small_config(database), id=hall, name=f"{hall} hall")
        (halls / f"{hall}.toml").write_text(dumps(cfg), encoding="utf-8")
    proc = Instance("one", ["--config-dir", str(halls)], free_port(), tmp_path / "one.log", 10)
    try:
        yield proc.start()
    finally:
        proc.terminate()


def test_two_halls_in_one_process_never_see_each_others_events(two_halls: Instance) -> None:
    proc = two_halls
    base = f"http://127.0.0.1:{proc.port}"
    with WsClient(proc.url("east"), "board-1", TOKEN("board-1")) as east_board, \
            WsClient(proc.url("west"), "board-1", TOKEN("board-1")) as west_board, \
            WsClient(proc.url("east"), "kiosk-1", TOKEN("kiosk-1")) as east_kiosk, \
            WsClient(proc.url("west"), "kiosk-1", TOKEN("kiosk-1")) as west_kiosk:
        assert east_board.welcome["hall"]["name"] == "east hall"
        assert west_board.welcome["hall"]["name"] == "west hall"
        east = east_kiosk.request("issue", service="gjj")["ticket"]
        west = west_kiosk.request("issue", service="tax")["ticket"]
        assert east_board.wait_event("ticket.issued")["data"]["ticket"]["id"] == east["id"]
        assert west_board.wait_event("ticket.issued")["data"]["ticket"]["id"] == west["id"]
        # Numbers and seqs are per hall: both start at 001 and seq 1.
        assert (east["number"], west["number"]) == ("A001", "B001")
        east_seen = {e["data"].get("ticket", {}).get("id") for e in east_board.drain()}
        west_seen = {e["data"].get("ticket", {}).get("id") for e in west_board.drain()}
        assert west["id"] not in east_seen and east["id"] not in west_seen
        # Check codes resolve across halls, on the one port.
        for ticket in (east, west):
            status, page = _get(f"{base}/t/{ticket['check']}")
            assert status == 200 and ticket["number"] in page
    assert _get(f"{base}/t/nosuchcode")[0] == 404
    assert _get(f"{base}/healthz/east") == (200, "ok\n")
    assert _get(f"{base}/healthz") == (200, "ok\n")
    assert _get(f"{base}/healthz/nowhere")[0] == 404
    assert _get(f"{base}/board/west")[0] == 200
    status, metrics = _get(f"{base}/metrics")
    assert status == 200
    assert re.search(r'qhall_requests_total\{hall="east",outcome="ok",type="issue"\} 1', metrics)
    assert re.search(r'qhall_requests_total\{hall="west",outcome="ok",type="issue"\} 1', metrics)
    assert metrics.count("# TYPE qhall_requests_total counter") == 1
    assert 'qhall_hall_owned{hall="west"} 1' in metrics
    # With several halls a bare /ws names no hall.
    with pytest.raises(InvalidStatus):
        dial(f"ws://127.0.0.1:{proc.port}/ws")


def test_two_configs_with_one_hall_id_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text(dumps(small_config(f"sqlite:///{tmp_path / 'a.db'}")), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "server", "serve", "--config", str(path),
                           "--config", str(path), "--port", str(free_port())],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "same [hall] id" in done.stderr


def _owned(inst: Instance) -> set[str]:
    status, text = _get(f"http://127.0.0.1:{inst.port}/metrics")
    if status != 200:
        return set()
    return set(re.findall(r'qhall_hall_owned\{hall="([^"]+)"\} 1', text))


@pytest.mark.postgres
@pytest.mark.slow
def test_processes_share_halls_evenly_and_take_a_dead_ones_halls(
        pg_cluster: PgCluster, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("QHALL_PII_KEY", TEST_PII_KEY)
    database = pg_cluster.create_database(f"mh{uuid.uuid4().hex[:12]}")
    halls = tmp_path / "halls"
    halls.mkdir()
    names = {f"h{i}" for i in range(1, 5)}
    for hall in names:
        (halls / f"{hall}.toml").write_text(dumps(chaos_config(hall, database)), "utf-8")
    a = Instance("a", ["--config-dir", str(halls)], free_port(), tmp_path / "a.log", 2.0)
    b = Instance("b", ["--config-dir", str(halls)], free_port(), tmp_path / "b.log", 2.0)
    try:
        a.start()
        until(lambda: _owned(a) == names, 30, "a alone should own every hall")
        b.start()
        until(lambda: len(_owned(a)) == 2 and len(_owned(b)) == 2, 60,
               "the halls were not spread over the two processes")
        assert _owned(a) | _owned(b) == names
        moved = _owned(b)
        # A hall a does not own: its standby side names b as the owner.
        hall = sorted(moved)[0]
        assert a.healthz(hall) == (503, "standby\n")
        b.signal(signal.SIGKILL)
        until(lambda: _owned(a) == names, 30, "a did not take the dead process's halls")
    finally:
        a.terminate()
        b.terminate()


@pytest.mark.postgres
@pytest.mark.slow
def test_a_ticket_page_asked_of_a_process_that_does_not_own_the_hall_redirects_to_the_owner(
        pg_cluster: PgCluster, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("QHALL_PII_KEY", TEST_PII_KEY)
    database = pg_cluster.create_database(f"tp{uuid.uuid4().hex[:12]}")
    halls = tmp_path / "halls"
    halls.mkdir()
    for hall in ("n1", "n2"):
        (halls / f"{hall}.toml").write_text(dumps(chaos_config(hall, database)), "utf-8")
    a = Instance("a", ["--config-dir", str(halls)], free_port(), tmp_path / "a.log", 2.0)
    b = Instance("b", ["--config-dir", str(halls)], free_port(), tmp_path / "b.log", 2.0)
    try:
        a.start()
        until(lambda: _owned(a) == {"n1", "n2"}, 30, "a alone should own both halls")
        b.start()
        until(lambda: len(_owned(a)) == 1 and len(_owned(b)) == 1, 60,
              "the halls were not spread over the two processes")
        (hall,) = _owned(b)
        with WsClient(b.url(hall), "kiosk-1", demo_token("kiosk-1")) as kiosk:
            ticket = kiosk.request("issue", service="qydj")["ticket"]
        page = f"/t/{ticket['check']}"
        # a stands by for that hall: it sends the browser to the owner...
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=10)
        conn.request("GET", page)
        reply = conn.getresponse()
        assert reply.status == 307
        assert reply.getheader("Location") == f"http://127.0.0.1:{b.port}{page}"
        conn.close()
        # ...where the page is (urllib follows the redirect).
        status, text = _get(f"http://127.0.0.1:{a.port}{page}")
        assert status == 200 and ticket["number"] in text
        assert _get(f"http://127.0.0.1:{a.port}/t/nosuchcode")[0] == 404
    finally:
        a.terminate()
        b.terminate()


def test_owner_page_url_from_a_lease_row() -> None:
    assert owner_page_url("ws://10.0.0.2:8765/ws/h1", "ab12") == "http://10.0.0.2:8765/t/ab12"
    assert owner_page_url("wss://q.example/hall/ws", "x") == "https://q.example/hall/t/x"
    assert owner_page_url("http://q.example/", "x") is None


@pytest.mark.browser
def test_a_halls_web_board_talks_to_its_own_socket(two_halls: Instance, tmp_path: Path) -> None:
    if not os.path.exists(CHROMIUM):
        unavailable("chromium is not installed (apt install chromium)")
    proc = two_halls

    async def drive(page_ws: str) -> None:
        async with connect(page_ws, max_size=2**26) as ws:
            cdp = Cdp(ws)
            await cdp.send("Page.navigate", url=f"http://127.0.0.1:{proc.port}/board/west"
                                                "#device=board-1&token=tok-board-1&mute=1")
            await cdp.wait_for(
                "document.getElementById('status')?.dataset.state === 'online'", timeout=20)
            assert await cdp.js("window.qhallBoard.server()") == proc.url("west")

    with chromium(tmp_path / "profile") as page_ws:
        asyncio.run(drive(page_ws))
