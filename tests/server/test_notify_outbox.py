"""Webhook deliveries survive a crash, a restart and a failover (the outbox).

Real ``qhall serve`` processes killed with SIGKILL while a delivery is
pending (the sink answering 500), a real sink on loopback: after the restart
(SQLite) or the takeover (a standby on PostgreSQL) the same delivery (same
``X-Qhall-Delivery`` id, signed) arrives and, once accepted, is gone from
the outbox; ``ticket.soon`` is not told again.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sqlite3
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from server.config import HallConfig, Notify, dumps
from server.tools.chaos import Instance, chaos_config
from server.tools.pgcluster import PgCluster, free_port
from tests.conftest import TEST_PII_KEY
from tests.helpers.failover import LEASE_S, TAKEOVER_DEADLINE_S, serve_pair, until
from tests.helpers.sink import SECRET, ScriptedSink, notify_sink, sink_factory

__all__ = ["sink_factory"]  # a fixture the tests below use

SERVICE = "qydj"


def with_sink(config: HallConfig, sink: ScriptedSink) -> HallConfig:
    return dataclasses.replace(config, soon_ahead=3, notify=(Notify(
        sink.url, ("ticket.soon", "ticket.called"), secret=SECRET.decode()),))


def take(port: int, phone: str) -> dict[str, Any]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/halls/main/tickets",
        json.dumps({"service": SERVICE, "phone": phone}).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 201
        return dict(json.loads(r.read()))


def attempts(sink: ScriptedSink) -> list[tuple[str, dict[str, Any]]]:
    with sink.lock:
        return [(h["X-Qhall-Delivery"], json.loads(raw)) for h, raw in sink.attempts]


def test_a_pending_delivery_arrives_after_a_sigkill_and_restart(tmp_path: Path, sink_factory,
                                                                monkeypatch) -> None:
    monkeypatch.setenv("QHALL_PII_KEY", TEST_PII_KEY)
    sink = sink_factory(fail=10**6)  # 500 until told otherwise
    db = tmp_path / "hall.db"
    path = tmp_path / "hall.toml"
    path.write_text(dumps(with_sink(chaos_config("main", f"sqlite:///{db}"), sink)), "utf-8")
    port = free_port()
    server = Instance("a", ["--config", str(path)], port, tmp_path / "a.log", LEASE_S).start()
    try:
        until(lambda: server.healthz() == (200, "ok\n"), 30, "the hall did not open")
        mine = take(port, "13812345678")  # nobody ahead: ticket.soon at once
        with sink.arrived:
            assert sink.arrived.wait_for(lambda: len(sink.attempts) >= 1, 20)
        server.signal(signal.SIGKILL)
        # Still pending, in the database.
        rows = sqlite3.connect(db).execute("select event, body from notify_outbox").fetchall()
        assert [r[0] for r in rows] == ["ticket.soon"]
        assert json.loads(rows[0][1])["ticket"]["id"] == mine["id"]
        failed = attempts(sink)
        with sink.lock:
            sink.fail = 0  # the gateway is back
        server.start()
        sink.wait_for(lambda: len(sink.received) == 1)
        # A later commit re-checks every phone ticket: ours is not told again.
        other = take(port, "13900001111")
        sink.wait_for(lambda: len(sink.received) == 2)
        until(lambda: not sqlite3.connect(db).execute(
            "select count(*) from notify_outbox").fetchone()[0], 20, "the outbox was not emptied")
    finally:
        server.terminate()
    assert [(b["event"], b["ticket"]["id"], b["phone"]) for b in sink.received] == [
        ("ticket.soon", mine["id"], "13812345678"), ("ticket.soon", other["id"], "13900001111")]
    # The attempts before the crash and the one after are ONE delivery (one id).
    ids = {d for d, body in attempts(sink) if body["ticket"]["id"] == mine["id"]}
    assert len(ids) == 1 and ids == {d for d, _b in failed}
    for headers, raw in sink.attempts:  # every attempt signed with the secret
        assert notify_sink.valid(SECRET, raw, headers["X-Qhall-Signature"])


@pytest.mark.slow
def test_the_new_owner_delivers_what_the_old_one_had_pending(
        pg_cluster: PgCluster, tmp_path: Path, sink_factory, monkeypatch) -> None:
    monkeypatch.setenv("QHALL_PII_KEY", TEST_PII_KEY)
    database = pg_cluster.create_database(f"nb{uuid.uuid4().hex[:12]}")
    sink = sink_factory(fail=10**6)
    with serve_pair(with_sink(chaos_config("main", database), sink), tmp_path) as (a, b):
        mine = take(a.port, "13812345678")
        with sink.arrived:
            assert sink.arrived.wait_for(lambda: len(sink.attempts) >= 1, 20)
        a.signal(signal.SIGKILL)
        with sink.lock:
            sink.fail = 0
        until(lambda: b.healthz() == (200, "ok\n"), TAKEOVER_DEADLINE_S, "b did not take over")
        sink.wait_for(lambda: len(sink.received) == 1, TAKEOVER_DEADLINE_S)
        assert (b.healthz(), a.alive) == ((200, "ok\n"), False)
    body = sink.received[0]
    assert (body["event"], body["ticket"]["id"]) == ("ticket.soon", mine["id"])
    assert len({d for d, _body in attempts(sink)}) == 1
