"""The resume tickets' per-hall key (server/store/resumekeys.py): made once,
32 random bytes, stamped with the time it was made, one per hall and the
same for every instance on the database; bad input is refused and stores
nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from server.store import Store
from server.store.resumekeys import KEY_BYTES
from server.store.schema import resume_keys_t
from tests.helpers.pg import PgCluster

NOW = dt.datetime(2026, 11, 30, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def _rows(store: Store) -> list[tuple[str, str, dt.datetime]]:
    t = resume_keys_t
    with store.transaction() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(t.c.hall, t.c.key, t.c.created_at).order_by(t.c.hall))]


def test_one_key_per_hall_made_once_and_shared_by_every_instance(
        store: Store, db_url: str) -> None:
    key = store.resume_keys.key("h1", NOW)
    assert isinstance(key, bytes) and len(key) == KEY_BYTES == 32
    # Asked again (later), or by another instance on the same database: the same key.
    assert store.resume_keys.key("h1", NOW + dt.timedelta(hours=5)) == key
    with Store(db_url) as other:
        assert other.resume_keys.key("h1", NOW) == key
        other_hall = other.resume_keys.key("h2", NOW)
    assert other_hall != key and len(other_hall) == KEY_BYTES
    # Kept as hex, stamped (naive UTC) with the moment it was first made.
    made = dt.datetime(2026, 11, 29, 17, 30)
    assert _rows(store) == [("h1", key.hex(), made), ("h2", other_hall.hex(), made)]


@pytest.mark.parametrize("hall", ["", "x" * 65, None])
def test_a_bad_hall_id_is_refused_and_stores_nothing(store: Store, hall: object) -> None:
    with pytest.raises(ValueError, match="^hall_id must be"):
        store.resume_keys.key(hall, NOW)  # type: ignore[arg-type]
    assert _rows(store) == []
    assert len(store.resume_keys.key("x" * 64, NOW)) == KEY_BYTES  # the longest id is fine


def test_a_naive_time_is_refused_and_stores_nothing(store: Store) -> None:
    with pytest.raises(ValueError, match="^now must be timezone-aware"):
        store.resume_keys.key("h1", dt.datetime(2026, 11, 30, 9, 0))
    assert _rows(store) == []


@pytest.mark.postgres
def test_the_instance_that_loses_the_race_for_a_new_key_reads_the_winners(
        pg_cluster: PgCluster) -> None:
    # Two instances make the hall's first key at the same moment: the other
    # one's row lands between this one's look and its insert (PostgreSQL: no
    # write lock up front). The loser answers with the winner's key.
    url = pg_cluster.create_database(f"keys{uuid.uuid4().hex[:12]}")
    with Store(url) as store, Store(url) as other:
        won: list[bytes] = []

        def other_first(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            if statement.startswith("INSERT INTO resume_keys") and not won:
                won.append(other.resume_keys.key("h1", NOW))

        sa.event.listen(store._engine, "before_cursor_execute", other_first)
        assert store.resume_keys.key("h1", NOW) == won[0]
        assert _rows(store) == [("h1", won[0].hex(), dt.datetime(2026, 11, 29, 17, 30))]
