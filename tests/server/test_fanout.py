"""The fan-out (server/fanout.py): one flush's frames serialised once and
written to every open connection.

Pinned here: the bytes are the frames the installed websockets would write
itself (a client parses them), every board gets every event exactly once in
seq order (plain and ``batch`` boards side by side), a closing or closed
connection is skipped without error, a reply and the events it describes
arrive in order, and a flush serialises its frames once, not once per
client. The slow-client close (1013) is tests/server/test_server_rules.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from server import fanout
from tests.helpers.server import RunningServer, small_config

WATCHERS = ("board-1", "board-2", "cdisplay-1", "cdisplay-2", "cdisplay-3")


def _messages(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages in received frames, ``batch`` frames unpacked."""
    out: list[dict[str, Any]] = []
    for f in frames:
        out.extend(f["messages"] if f.get("type") == "batch" else [f])
    return out


def test_the_shared_bytes_are_the_frames_websockets_writes() -> None:
    messages = [b'{"type":"event","seq":1}', "{\"名\":\"é\"}".encode(), b"x" * 70_000]
    expected = b"".join(Frame(Opcode.TEXT, m).serialize(mask=False, extensions=[])
                        for m in messages)
    assert fanout.text_frames(messages) == expected
    assert fanout.text_frames([]) == b""
    assert fanout.Frames(messages).data == expected  # and nothing left over between calls


def test_open_connections_get_the_frames_closing_and_closed_are_skipped(caplog) -> None:
    caplog.set_level(logging.WARNING)

    async def main() -> tuple[list[list[str]], list[State]]:
        conns: list[ServerConnection] = []
        opened = asyncio.Event()

        async def handler(ws: ServerConnection) -> None:
            conns.append(ws)
            if len(conns) == 3:
                opened.set()
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            clients = [await connect(f"ws://127.0.0.1:{port}", compression=None)
                       for _ in range(3)]
            await asyncio.wait_for(opened.wait(), 10)
            by_client = sorted(conns, key=lambda c: c.remote_address[1])
            ordered = sorted(clients, key=lambda c: c.local_address[1])
            closing, closed = by_client[1], by_client[2]
            closing.protocol.send_close(1001, "going")  # CLOSING: the close is on its way
            closing.send_data()
            closed.transport.abort()                    # gone under the server's feet
            await asyncio.wait_for(closed.wait_closed(), 10)
            states = [c.protocol.state for c in by_client]
            fanout.write_all(by_client, fanout.Frames([b'{"n":1}', b'{"n":2}']))
            got = [[str(await asyncio.wait_for(ordered[0].recv(), 10)) for _ in range(2)]]
            with pytest.raises(ConnectionClosed):  # the closing one: its close, no data
                got.append([str(await asyncio.wait_for(ordered[1].recv(), 10))])
            for c in clients:
                await c.close()
            return got, states

    got, states = asyncio.run(main())
    assert states == [State.OPEN, State.CLOSING, State.CLOSED]
    assert got == [['{"n":1}', '{"n":2}']]
    assert not [r for r in caplog.records if r.name == "qhall.fanout"]


def test_every_board_gets_every_event_once_in_seq_order(tmp_path) -> None:
    cfg = small_config(f"sqlite:///{tmp_path / 'f.db'}")
    with RunningServer(cfg) as srv:
        boards = [srv.client(d, batch=(i % 2 == 1)) for i, d in enumerate(WATCHERS)]
        kiosk = srv.client("kiosk-1")
        first = kiosk.request("ping")["seq"]
        # Pipelined: many requests answered in few loop turns (several events a flush).
        ids = [f"k{i}" for i in range(30)]
        for rid in ids:
            kiosk.send_raw(json.dumps({"type": "issue", "id": rid, "service": "gjj"}))
        for rid in ids:
            assert kiosk.wait_reply(rid)["type"] == "ok"
        last = kiosk.request("ping")["seq"]
        assert last > first
        for b in boards:
            seqs: list[int] = []
            while not seqs or seqs[-1] < last:
                got = _messages([json.loads(b.ws.recv(timeout=10))])
                seqs.extend(m["seq"] for m in got if m.get("type") == "event")
            assert seqs == list(range(first + 1, last + 1)), b.device
        for c in [*boards, kiosk]:
            c.close()


def test_each_board_sees_exactly_the_events_up_to_its_reply(tmp_path) -> None:
    """A reply carrying ``seq`` comes after every event up to that seq, once each;
    a reply comes before the events its request caused."""
    cfg = small_config(f"sqlite:///{tmp_path / 'o.db'}")
    with RunningServer(cfg) as srv:
        boards = [srv.client(d, batch=(i % 2 == 1)) for i, d in enumerate(WATCHERS)]
        kiosk = srv.client("kiosk-1")
        first = kiosk.request("ping")["seq"]
        for rid in (f"k{i}" for i in range(20)):
            kiosk.send_raw(json.dumps({"type": "issue", "id": rid, "service": "gjj"}))
        for b in boards:  # while the kiosk's issues are being answered
            b.ws.send(json.dumps({"type": "ping", "id": "p"}))
        for b in boards:
            seen: list[dict[str, Any]] = []
            while True:
                seen.extend(_messages([json.loads(b.ws.recv(timeout=10))]))
                if seen[-1].get("type") == "ok":
                    break
            seqs = [m["seq"] for m in seen if m.get("type") == "event"]
            # Gap-free and each once; at least up to the reply's seq (a ping
            # answered inside a group tells the seq before the group, while
            # the group's earlier events are already out ahead of it).
            assert seqs == list(range(first + 1, first + 1 + len(seqs))), b.device
            assert first + len(seqs) >= seen[-1]["seq"], b.device
        # The kiosk (a plain client too): each reply before the events it caused.
        order: list[dict[str, Any]] = []
        while sum(m["type"] == "ok" or m.get("name") == "ticket.issued" for m in order) < 40:
            order.append(json.loads(kiosk.ws.recv(timeout=10)))
        replies = [m for m in order if m["type"] == "ok"]
        for r in replies:
            issued = next(i for i, m in enumerate(order) if m["type"] == "event"
                          and m["name"] == "ticket.issued"
                          and m["data"]["ticket"]["number"] == r["ticket"]["number"])
            assert order.index(r) < issued
        for c in [*boards, kiosk]:
            c.close()


@pytest.fixture
def serialised(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Text frames the server serialised, counted by their message type."""
    counted: Counter[str] = Counter()
    real = Frame.serialize

    def serialize(self: Frame, *, mask: bool, extensions: Any = None) -> bytes:
        if self.opcode is Opcode.TEXT and not mask:  # the server's (clients mask)
            counted[str(json.loads(bytes(self.data)).get("type"))] += 1
        return real(self, mask=mask, extensions=extensions)

    monkeypatch.setattr(Frame, "serialize", serialize)
    return counted


def test_a_flush_serialises_its_frames_once_not_once_per_client(tmp_path, serialised) -> None:
    cfg = small_config(f"sqlite:///{tmp_path / 's.db'}")
    with RunningServer(cfg) as srv:
        plain = [srv.client(d) for d in WATCHERS[:4]]
        batched = srv.client(WATCHERS[4], batch=True)
        kiosk = srv.client("kiosk-1")
        serialised.clear()
        assert kiosk.request("issue", service="gjj")["type"] == "ok"
        for w in plain:
            w.wait_event("ticket.issued")
            w.wait_event("queue.changed")
        batch = json.loads(batched.ws.recv(timeout=10))
        assert [m["name"] for m in batch["messages"]] == ["ticket.issued", "queue.changed"]
        # The reply once; each event's frame once for the five plain clients
        # (the kiosk is one); one batch frame for the batch board.
        assert serialised == {"ok": 1, "event": 2, "batch": 1}
        for c in [*plain, batched, kiosk]:
            c.close()


@pytest.mark.parametrize("batch", [False, True])
def test_a_reply_goes_out_in_the_same_write_as_the_events_it_caused(
        tmp_path, monkeypatch, batch) -> None:
    """The requesting client gets its reply and the flush's events in one
    ``transport.write`` (one send()), the reply first; a reply without events
    of its own is written at once."""
    writes: list[bytes] = []
    real = asyncio.selector_events._SelectorSocketTransport.write  # type: ignore[attr-defined]

    def write(self: Any, data: Any) -> None:
        writes.append(bytes(data))
        real(self, data)

    cfg = small_config(f"sqlite:///{tmp_path / 'w.db'}")
    with RunningServer(cfg) as srv:
        board = srv.client("board-1")
        kiosk = srv.client("kiosk-1", batch=batch)
        monkeypatch.setattr(asyncio.selector_events._SelectorSocketTransport,  # type: ignore[attr-defined]
                            "write", write)
        reply = kiosk.request("issue", id="k1", service="gjj")
        if batch:
            got = json.loads(kiosk.ws.recv(timeout=10))["messages"]
        else:
            got = [kiosk.wait_event("ticket.issued"), kiosk.wait_event("queue.changed")]
        board.wait_event("queue.changed")
        assert kiosk.request("ping", id="k2")["type"] == "ok"
        monkeypatch.undo()
        board.close()
        kiosk.close()
    assert reply["type"] == "ok" and [m["name"] for m in got] == ["ticket.issued", "queue.changed"]
    with_reply = [w for w in writes if b'"re":"k1"' in w]
    assert len(with_reply) == 1
    assert b'"name":"ticket.issued"' in with_reply[0]
    assert with_reply[0].index(b'"re":"k1"') < with_reply[0].index(b'"name":"ticket.issued"')
    ping = [w for w in writes if b'"re":"k2"' in w]
    assert len(ping) == 1 and b'"type":"event"' not in ping[0]
