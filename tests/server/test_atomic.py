"""A failed commit changes nothing in memory; a hall that cannot serve says so.

Real failures, no fakes: another connection holds SQLite's write lock (the
store's commit fails as "database is busy"), and a PostgreSQL server stopped
under a running hall (its store is unreachable).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time

from server.features import default_features
from server.service import HallService, Session
from server.store import Store
from tests.helpers import pg
from tests.helpers.server import PIN, RunningServer, healthz, small_config
from tests.helpers.tools import unavailable


def _digest(svc: HallService) -> str:
    """Everything a request could change in memory, as one digest."""
    state = {
        "snapshot": svc.snapshot(),
        "tickets": sorted((svc.hall.wire_ticket(t) for t in svc.hall.tickets()),
                          key=lambda t: t["id"]),
        "faults": svc.faults,
        "replies": sorted(svc._replies),
        "seq": svc.last_seq,
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()


def _req(svc: HallService, session: Session, type_: str, rid: str, **fields) -> dict:
    return svc.handle(session, {"type": type_, "id": rid, **fields}).message


def test_a_failed_commit_leaves_the_service_exactly_as_it_was(tmp_path):
    path = tmp_path / "svc.db"
    cfg = small_config(f"sqlite:///{path}")
    kiosk, desk = Session(cfg.device("kiosk-1")), Session(cfg.device("counter-1"))
    pad, board = Session(cfg.device("evaluator-1")), Session(cfg.device("board-1"))
    admin, desk2 = Session(cfg.device("admin-1")), Session(cfg.device("counter-2"))
    with Store(cfg.database, busy_timeout_s=0.05) as store:
        svc = HallService(cfg, store, features=default_features())
        # A hall in mid-day: tickets waiting, one served and one being served, a fault.
        assert _req(svc, desk, "login", "l1", staff="s001", pin=PIN)["type"] == "ok"
        for i in range(4):
            assert _req(svc, kiosk, "issue", f"i{i}", service="gjj")["type"] == "ok"
        served = _req(svc, desk, "call_next", "c1")["ticket"]
        _req(svc, desk, "start", "s1")
        _req(svc, desk, "complete", "d1")
        _req(svc, desk, "call_next", "c2")
        fault = _req(svc, board, "report_fault", "f1", kind="paper_low")
        assert fault["type"] == "ok"
        waiting = _req(svc, desk, "queue", "q1")["waiting"][0]
        attempts = [
            (kiosk, "issue", {"service": "gjj"}),
            (board, "report_fault", {"kind": "other", "message": "第二个故障"}),
            (board, "clear_fault", {}),
            (desk2, "login", {"staff": "s002", "pin": PIN}),
            (desk, "recall", {}),
            (desk, "start", {}),
            (desk, "no_show", {}),
            (desk, "transfer", {"service": "tax"}),
            (desk, "pause", {"reason": "午休"}),
            (pad, "rate", {"ticket": served["id"], "score": 1}),
            (admin, "cancel", {"ticket": waiting["id"]}),
        ]
        before = _digest(svc)
        locker = sqlite3.connect(path, isolation_level=None)
        try:
            locker.execute("BEGIN IMMEDIATE")  # another writer holds the database
            for n, (session, kind, fields) in enumerate(attempts):
                reply = _req(svc, session, kind, f"x{n}", **fields)
                assert (reply["type"], reply["code"]) == ("error", "internal"), (kind, reply)
                assert _digest(svc) == before, kind
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert svc.failed is None  # the store could still be read: memory was rebuilt
        # The same requests now succeed: nothing was remembered as answered.
        reply = _req(svc, board, "report_fault", "x1", kind="other", message="第二个故障")
        assert reply["type"] == "ok"
        assert svc.faults["board-1"]["kind"] == "other"


def test_an_unreachable_store_makes_healthz_fail_and_the_hall_recovers():
    # Its own cluster: the test stops the database server under a running hall.
    if pg.unavailable() is not None:
        unavailable(str(pg.unavailable()))
    with pg.PgCluster() as cluster:
        url = cluster.create_database("hall")
        with RunningServer(small_config(url)) as srv:
            with srv.client("kiosk-1") as kiosk:
                assert kiosk.request("issue", service="gjj")["type"] == "ok"
                assert healthz(srv.port) == (200, "ok\n")
                data = str(cluster.dir / "data")
                cluster._run("pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
                reply = kiosk.request("issue", service="gjj", timeout=30)
                assert (reply["type"], reply["code"]) == ("error", "internal")
                assert srv.call(lambda: srv.server.service.failed) is not None
                assert healthz(srv.port)[0] == 503
                # A new device is refused cleanly (no welcome from a hall that may
                # hold an uncommitted change), not closed 1011.
                refused = srv.client("board-1", expect_welcome=False)
                assert refused.welcome["code"] == "internal"
                refused.close()
                options = (f"-p {cluster.port} -k {cluster.dir} -c listen_addresses=127.0.0.1 "
                           "-c fsync=off")
                cluster._run("pg_ctl", "-D", data, "-l", str(cluster.dir / "server.log"),
                             "-o", options, "-w", "-t", "60", "start")
                # The hall rebuilds itself from the store on the next use.
                # (it retries at most once a second: poll with a deadline)
                deadline = time.monotonic() + 30
                health = healthz(srv.port)
                while health[0] != 200 and time.monotonic() < deadline:
                    health = healthz(srv.port)
                assert health == (200, "ok\n")
                again = kiosk.request("issue", service="gjj")
                assert again["type"] == "ok" and again["ticket"]["number"] == "A002"
