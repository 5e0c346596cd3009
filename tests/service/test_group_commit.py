"""Group commit: requests of one loop turn decided in order, committed in ONE
transaction, answered only once it committed (HallService.handle_group)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from server.features import default_features
from server.service import GROUP_FAILED, HallService, Session
from server.store import Store
from tests.helpers.server import PIN, small_config

NOW = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)  # 10:00 in the hall


def _service(url: str) -> tuple[HallService, Store, Session, Session]:
    cfg = small_config(url)
    store = Store(cfg.database, clock=lambda: NOW)
    svc = HallService(cfg, store, clock=lambda: NOW, features=default_features())
    return svc, store, Session(cfg.device("kiosk-1")), Session(cfg.device("kiosk-2"))


def _issue(rid: str, service: str = "gjj") -> dict[str, Any]:
    return {"type": "issue", "id": rid, "service": service}


def _refuse_ticket(store: Store, number: str) -> None:
    """A trigger that makes the store refuse the transaction writing ``number``."""
    with store.transaction(write=True) as conn:
        conn.execute(sa.text(
            "CREATE TRIGGER refuse AFTER INSERT ON tickets "
            f"WHEN NEW.number = '{number}' BEGIN SELECT RAISE(ABORT, 'refused'); END"))


def _allow(store: Store) -> None:
    with store.transaction(write=True) as conn:
        conn.execute(sa.text("DROP TRIGGER refuse"))


def test_a_group_is_numbered_in_arrival_order_and_committed_together(tmp_path):
    svc, store, k1, k2 = _service(f"sqlite:///{tmp_path / 'g.db'}")
    with store:
        before = svc.last_seq
        replies = svc.handle_group([(k1, _issue("a")), (k2, _issue("b")), (k1, _issue("c")),
                                    (k2, _issue("d", "tax"))])
        assert [r.message["ticket"]["number"] for r in replies] == ["A001", "A002", "A003",
                                                                    "B001"]
        # Every event is stored, with gap-free seqs in the replies' order.
        seqs = [e["seq"] for r in replies for e in r.events]
        assert seqs == list(range(before + 1, svc.last_seq + 1))
        stored = [e["name"] for e in store.events_since(svc.config.id, before)]
        assert stored == [e["name"] for r in replies for e in r.events]


def test_queue_changed_is_coalesced_per_service_within_a_group(tmp_path):
    svc, store, k1, _ = _service(f"sqlite:///{tmp_path / 'g.db'}")
    with store:
        replies = svc.handle_group([(k1, _issue(f"i{n}")) for n in range(5)]
                                   + [(k1, _issue("t", "tax"))])
        names = [(e["name"], e["data"].get("service")) for r in replies for e in r.events]
        assert names.count(("queue.changed", "gjj")) == 1
        assert names.count(("queue.changed", "tax")) == 1
        assert sum(1 for n, _ in names if n == "ticket.issued") == 6
        # The one left says what the five did: the queue's state after the group.
        last = next(e for r in replies for e in r.events
                    if e["name"] == "queue.changed" and e["data"]["service"] == "gjj")
        queue = svc.snapshot()["queues"]["gjj"]
        assert {k: v for k, v in last["data"].items() if k != "service"} == {
            k: v for k, v in queue.items() if k != "issued"}
        assert last["data"]["waiting"] == 5


def test_a_failing_group_commit_answers_every_request_alike_and_changes_nothing(tmp_path):
    svc, store, k1, k2 = _service(f"sqlite:///{tmp_path / 'g.db'}")
    with store:
        first = svc.handle(k1, _issue("warm"))  # A001, committed alone
        assert first.message["type"] == "ok"
        seq, snapshot = svc.last_seq, svc.snapshot()
        _refuse_ticket(store, "A003")  # the group's second ticket: the whole group fails
        group = [(k1, _issue("x")), (k2, _issue("y")), (k1, {"type": "queue", "id": "q"}),
                 (k2, _issue("z", "tax"))]
        replies = svc.handle_group(group)
        assert [r.message for r in replies] == [
            {"type": "error", "re": rid, "code": "internal", "message": GROUP_FAILED}
            for rid in ("x", "y", "q", "z")]
        assert all(r.events == [] for r in replies)
        assert svc.last_seq == seq and svc.snapshot() == snapshot
        assert [(d, r) for d, r, _ in store.live_replies(svc.config.id)] == [("kiosk-1", "warm")]
        # Nothing was remembered: once the store takes them, a resend is new work.
        _allow(store)
        again = svc.handle_group(group[:2])
        assert [r.message["ticket"]["number"] for r in again] == ["A002", "A003"]


def test_resends_inside_and_across_groups_get_the_first_reply(tmp_path):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    svc, store, k1, k2 = _service(url)
    with store:
        one = svc.handle_group([(k1, _issue("r1")), (k1, _issue("r1")), (k2, _issue("r1")),
                                (k1, _issue("r2"))])
        assert one[0].message == one[1].message  # the resend inside its group
        assert one[1].events == []  # its events went out once, with the first
        numbers = [r.message["ticket"]["number"] for r in one]
        assert numbers == ["A001", "A001", "A002", "A003"]  # kiosk-2's r1 is its own
        # ... and the group stayed one transaction: one queue.changed for its end state.
        assert [e["name"] for r in one for e in r.events].count("queue.changed") == 1
        two = svc.handle_group([(k1, _issue("r2")), (k2, _issue("r1")), (k1, _issue("r3"))])
        assert [r.message["ticket"]["number"] for r in two] == ["A003", "A002", "A004"]
        assert two[0].events == [] and two[1].events == []
        # A refusal is remembered too, once its group committed.
        shut = svc.handle_group([(k1, _issue("bad", "nope")), (k1, _issue("r5"))])
        assert shut[0].message["code"] == "not_found"
        assert svc.handle_group([(k1, _issue("bad"))])[0].message == shut[0].message
    # Across a restart: the replies were stored with the group's transaction.
    cfg = small_config(url)
    with Store(url, clock=lambda: NOW) as store2:
        again = HallService(cfg, store2, clock=lambda: NOW, features=default_features())
        assert again.handle(k1, _issue("r3")).message["ticket"]["number"] == "A004"


def test_requests_that_cannot_join_a_group_are_refused(tmp_path):
    svc, store, k1, _ = _service(f"sqlite:///{tmp_path / 'g.db'}")
    with store:
        assert not svc.groupable("login") and not svc.groupable("book")
        assert svc.groupable("issue") and svc.groupable("call_next")
        with pytest.raises(ValueError, match="login"):
            svc.handle_group([(k1, {"type": "login", "id": "l", "staff": "s001",
                                    "pin": "1234"})])


class _Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


def _counter_service(url: str, clock: _Clock) -> tuple[HallService, Store, dict[str, Session]]:
    cfg = small_config(url)
    store = Store(cfg.database, clock=clock)
    svc = HallService(cfg, store, clock=clock, features=default_features())
    sessions = {d: Session(cfg.device(d)) for d in ("kiosk-1", "kiosk-2", "counter-1",
                                                      "counter-2", "counter-3", "counter-4")}
    for n in range(1, 5):
        reply = svc.handle(sessions[f"counter-{n}"],
                           {"type": "login", "id": f"l{n}", "staff": f"s00{n}", "pin": PIN})
        assert reply.message["type"] == "ok", reply.message
    return svc, store, sessions


def test_a_group_s_queue_changed_equals_the_last_of_the_same_requests_one_by_one(tmp_path):
    clocks = (_Clock(), _Clock())
    alone, alone_store, s1 = _counter_service(f"sqlite:///{tmp_path / 'a.db'}", clocks[0])
    grouped, group_store, s2 = _counter_service(f"sqlite:///{tmp_path / 'g.db'}", clocks[1])
    history = [("kiosk-1", _issue(f"h{n}", ("gjj", "tax", "bdc")[n % 3])) for n in range(9)]
    history += [(f"counter-{n}", {"type": kind, "id": f"{kind}{n}"})
                for n in (1, 2, 4) for kind in ("call_next", "complete")]
    batch = [("kiosk-1", _issue("b1")), ("counter-1", {"type": "call_next", "id": "b2"}),
             ("kiosk-2", _issue("b3", "tax")), ("counter-3", {"type": "call_next", "id": "b4"}),
             ("counter-2", {"type": "call_next", "id": "b5"}), ("kiosk-1", _issue("b6", "bdc")),
             ("counter-1", {"type": "complete", "id": "b7"}),
             ("counter-4", {"type": "pause", "id": "b8", "reason": "break"}),
             ("kiosk-2", _issue("b9"))]
    with alone_store, group_store:
        for svc, sessions, clock in ((alone, s1, clocks[0]), (grouped, s2, clocks[1])):
            for i, (device, message) in enumerate(history):  # cycle times of 2-9 minutes
                clock.now = NOW + dt.timedelta(minutes=i * 3 + (i % 4))
                assert svc.handle(sessions[device], message).message["type"] == "ok"
            clock.now += dt.timedelta(minutes=5)
        one_by_one = [alone.handle(s1[d], m) for d, m in batch]
        together = grouped.handle_group([(s2[d], m) for d, m in batch])
        assert [r.message["type"] for r in together] == [r.message["type"] for r in one_by_one]
        assert all(r.message["type"] == "ok" for r in together), [r.message for r in together]

        def queues(replies: list) -> list[tuple[str, dict[str, Any]]]:
            return [(e["data"]["service"], e["data"]) for r in replies for e in r.events
                    if e["name"] == "queue.changed"]

        each, once = queues(one_by_one), queues(together)
        assert len(each) > len(once) == len(dict(once))  # one per service in the group
        assert dict(once) == dict(each)  # the same last word for every service
        assert {s for s, _ in once} == {"gjj", "tax", "bdc"}
        # Every other event is the same, in the same order.
        others = [[e["name"] for r in replies for e in r.events if e["name"] != "queue.changed"]
                  for replies in (one_by_one, together)]
        assert others[0] == others[1]
        # And a board fed by the group's events shows the snapshot.
        snapshot = grouped.snapshot()["queues"]
        for sid, data in once:
            assert {k: v for k, v in data.items() if k != "service"} == {
                k: v for k, v in snapshot[sid].items() if k != "issued"}
        stored = [e["name"] for e in group_store.events_since(grouped.config.id, 0)]
        assert stored[-len(once):] == ["queue.changed"] * len(once)
def test_a_group_that_lost_a_race_is_answered_again_one_by_one(tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    svc, store, k1, k2 = _service(url)
    other, other_store, o1, _ = _service(url)     # another writer of the same hall
    with store, other_store:
        assert other.handle(o1, _issue("x")).message["ticket"]["number"] == "A001"
        with caplog.at_level("WARNING", logger="qhall.service"):
            replies = svc.handle_group([(k1, _issue("a")), (k2, _issue("b", "tax"))])
        assert "stale state in a group of 2" in caplog.text
        # decided again on the state as stored: after the other writer's A001
        assert [r.message["re"] for r in replies] == ["a", "b"]
        assert [r.message["ticket"]["number"] for r in replies] == ["A002", "B001"]
        assert [e["name"] for e in replies[0].events][0] == "ticket.issued"
        stored = [e["data"]["ticket"]["number"] for e in store.events_since(svc.config.id, 0)
                  if e["name"] == "ticket.issued"]
        assert stored == ["A001", "A002", "B001"]


def test_a_group_whose_memory_was_rebuilt_midway_commits_none_of_it(tmp_path, monkeypatch):
    svc, store, k1, k2 = _service(f"sqlite:///{tmp_path / 'g.db'}")
    with store:
        before = svc.last_seq

        def broken(service: str, priority: str = "normal", **kw):
            raise RuntimeError("a bug in the middle of a group")

        monkeypatch.setattr(svc.hall, "issue", broken)     # this core only: reload drops it
        replies = svc.handle_group([(k1, _issue("a")), (k2, _issue("b")), (k1, _issue("c"))])
        # the first decision was made on memory that is gone: none of the group stands
        assert [(r.message["type"], r.message["code"]) for r in replies] == [
            ("error", "internal")] * 3
        assert {r.message["message"] for r in replies} == {GROUP_FAILED}
        assert svc.last_seq == before and store.events_since(svc.config.id, before) == []
        again = svc.handle(k1, _issue("a"))                # not remembered: a resend runs
        assert again.message["ticket"]["number"] == "A001"


def test_a_group_s_queue_changed_goes_with_the_last_answer_that_has_events(tmp_path):
    """A refused request after the winner (two counters race for the last
    ticket) carries no events: the server sends the new queue before the
    refusal, so the loser's "conflict" is not overwritten by it."""
    svc, store, sessions = _counter_service(f"sqlite:///{tmp_path / 'g.db'}", _Clock())
    with store:
        assert svc.handle(sessions["kiosk-1"], _issue("i1")).message["type"] == "ok"
        first, second = svc.handle_group([
            (sessions["counter-2"], {"type": "call_next", "id": "c2"}),
            (sessions["counter-1"], {"type": "call_next", "id": "c1"}),
        ])
        assert first.message["type"] == "ok"
        assert second.message["type"] == "error"
        assert second.events == []
        names = [e["name"] for e in first.events]
        assert names[0] == "ticket.called" and names[-1] == "queue.changed"


def test_the_groups_queue_changed_goes_with_the_last_answer_that_has_events(tmp_path):
    # After every other event, and never on a refusal or a query that comes
    # later in the group (serve.py sends those after the events go out).
    svc, store, k1, k2 = _service(f"sqlite:///{tmp_path / 'g.db'}")
    counter = Session(svc.config.device("counter-2"))
    with store:
        replies = svc.handle_group([
            (k1, _issue("a")), (k2, _issue("b")),
            (counter, {"type": "call_next", "id": "c"}),   # not logged in: refused
            (k1, {"type": "ping", "id": "q"})])
        assert [r.message["type"] for r in replies] == ["ok", "ok", "error", "ok"]
        names = [[e["name"] for e in r.events] for r in replies]
        assert names == [["ticket.issued"], ["ticket.issued", "queue.changed"], [], []]
        # A group with no events of its own sends none.
        quiet = svc.handle_group([(k1, {"type": "ping", "id": "q2"})])
        assert quiet[0].events == []
