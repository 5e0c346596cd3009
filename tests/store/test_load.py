"""Event reads for reports, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from server.core.model import Event
from server.store import (
    Store,
)
from tests.store.samples import T0


def test_events_by_time_range_in_batches(store: Store) -> None:
    times = [T0 + dt.timedelta(minutes=i) for i in range(10)]
    for i, at in enumerate(times):
        store.commit("main", [Event("ticket.rated", {"score": 5, "i": i})], at=at)
    store.commit("other", [Event("ticket.rated", {"score": 1})], at=times[5])
    got = list(store.events("main", times[2], times[8], batch=2))
    assert [e["data"]["i"] for e in got] == [2, 3, 4, 5, 6, 7]
    assert [e["at"] for e in got] == times[2:8]
    assert list(store.events("main", times[9] + dt.timedelta(seconds=1),
                             times[9] + dt.timedelta(hours=1))) == []
