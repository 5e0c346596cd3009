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
