"""Idempotency replies, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from server.store import (
    REPLY_TTL_S,
    StaleState,
    Store,
)
from tests.store.samples import T0, issued, new_ticket, snapshot

# --------------------------------------------------------------------------- replies


def test_idempotent_replies(db_url: str) -> None:
    now = [T0]
    store = Store(db_url, clock=lambda: now[0])
    try:
        reply = json.dumps({"type": "ok", "re": "r1", "ticket": {"number": "A001"}})
        store.commit("main", issued(new_ticket(1)), reply=("kiosk-1", "r1", reply))
        assert store.recall_reply("main", "kiosk-1", "r1") == reply
        assert store.recall_reply("main", "kiosk-2", "r1") is None
        assert store.recall_reply("east", "kiosk-1", "r1") is None

        # the same request handled twice (two processes): the second rolls back
        before = snapshot(store)
        with pytest.raises(StaleState):
            store.commit("main", issued(new_ticket(2)), reply=("kiosk-1", "r1", "{}"))
        assert snapshot(store) == before
        assert store.recall_reply("main", "kiosk-1", "r1") == reply

        # remembered outside a commit: the first reply stands
        expires = T0 + dt.timedelta(seconds=60)
        assert store.remember_reply("main", "counter-3", "x", '{"a":1}', expires) is True
        assert store.remember_reply("main", "counter-3", "x", '{"a":2}', expires) is False
        assert store.recall_reply("main", "counter-3", "x") == '{"a":1}'

        now[0] = T0 + dt.timedelta(seconds=61)
        assert store.recall_reply("main", "counter-3", "x") is None
        assert store.recall_reply("main", "kiosk-1", "r1") == reply  # kept REPLY_TTL_S
        assert store.purge_replies() == 1
        now[0] = T0 + dt.timedelta(seconds=REPLY_TTL_S + 1)
        assert store.recall_reply("main", "kiosk-1", "r1") is None
        assert store.purge_replies() == 1 and store.purge_replies() == 0
    finally:
        store.close()


def test_live_replies_are_the_unexpired_ones_of_the_hall(db_url: str) -> None:
    now = [T0]
    store = Store(db_url, clock=lambda: now[0])
    try:
        ends = T0 + dt.timedelta(seconds=60)
        assert store.remember_reply("main", "kiosk-1", "a", '{"n":1}', ends)
        assert store.remember_reply("main", "kiosk-1", "b", '{"n":2}', ends
                                    + dt.timedelta(seconds=1))
        assert store.remember_reply("east", "kiosk-1", "a", '{"n":3}', ends)
        assert sorted(store.live_replies("main")) == [("kiosk-1", "a", '{"n":1}'),
                                                      ("kiosk-1", "b", '{"n":2}')]
        now[0] = ends  # a reply expires at its expiry instant, not a moment later
        assert store.live_replies("main") == [("kiosk-1", "b", '{"n":2}')]
        assert store.recall_reply("main", "kiosk-1", "a") is None
        assert store.recall_reply("main", "kiosk-1", "b") == '{"n":2}'
        # purge removes what expired before now (at the instant itself: the next purge)
        assert store.purge_replies() == 0
        assert store.purge_replies(ends + dt.timedelta(seconds=1)) == 2  # of every hall
        assert store.live_replies("main") == [("kiosk-1", "b", '{"n":2}')]
        assert store.live_replies("east") == []
    finally:
        store.close()


def test_bad_reply_rows_are_refused(store: Store) -> None:
    ends = T0 + dt.timedelta(seconds=60)
    with pytest.raises(ValueError, match="device"):
        store.remember_reply("main", "d" * 129, "a", "{}", ends)
    with pytest.raises(ValueError, match="request_id"):
        store.remember_reply("main", "kiosk-1", "", "{}", ends)
    with pytest.raises(TypeError, match="reply_json"):
        store.remember_reply("main", "kiosk-1", "a", {"type": "ok"}, ends)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hall_id"):
        store.remember_reply("", "kiosk-1", "a", "{}", ends)
    with pytest.raises(ValueError, match="expires_at must be timezone-aware"):
        store.remember_reply("main", "kiosk-1", "a", "{}", ends.replace(tzinfo=None))
    assert store.remember_reply("main", "d" * 128, "r" * 128, "{}", ends)  # 128 is allowed
    with pytest.raises(ValueError, match="request_id"):  # one more is not
        store.remember_reply("main", "kiosk-1", "r" * 129, "{}", ends)


def test_a_request_id_whose_reply_expired_can_be_committed_again(db_url: str) -> None:
    # The service forgets a reply after its own time and takes a resend as a new
    # request; the store must not refuse it forever for the expired row (the
    # purge follows the store's clock, not this process's).
    now = [T0]
    store = Store(db_url, clock=lambda: now[0])
    try:
        store.commit("main", issued(new_ticket(1)), reply=("kiosk-1", "r1", '{"n":1}'))
        now[0] = T0 + dt.timedelta(seconds=REPLY_TTL_S + 61)
        assert store.recall_reply("main", "kiosk-1", "r1") is None
        store.commit("main", issued(new_ticket(2)), reply=("kiosk-1", "r1", '{"n":2}'))
        assert store.recall_reply("main", "kiosk-1", "r1") == '{"n":2}'
        # while it is remembered, it stands
        with pytest.raises(StaleState):
            store.commit("main", issued(new_ticket(3)), reply=("kiosk-1", "r1", '{"n":3}'))
    finally:
        store.close()


def test_an_explicit_purge_counts_as_the_commits_last_purge(store: Store) -> None:
    # purge_replies deletes the expired rows of every hall and starts the
    # commits' purge interval again: the next commit with a reply, a second
    # later by the same clock, does not purge a second time (and must work).
    ends = T0 + dt.timedelta(seconds=1)
    assert store.remember_reply("main", "kiosk-1", "old", "{}", ends)
    assert store.purge_replies(T0 + dt.timedelta(seconds=2)) == 1
    assert store.remember_reply("main", "kiosk-1", "old2", "{}", ends)
    store.commit("main", issued(new_ticket(1)), reply=("kiosk-1", "r1", "{}"),
                 at=T0 + dt.timedelta(seconds=3))
    with store.transaction() as conn:
        kept = {r[0] for r in conn.exec_driver_sql("SELECT request_id FROM replies").all()}
    assert kept == {"old2", "r1"}  # within the interval: the expired row waits
