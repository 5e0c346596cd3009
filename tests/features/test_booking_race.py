"""Bookings racing for a slot's last places, in separate processes, on both databases.

Six processes book the same slot at the same instant (a shared barrier), as
six ``qhall book`` commands or server processes would. A slot never holds
more than its capacity: exactly ``capacity`` bookings succeed, the others
get ``quota_reached``, and the slot's count, the rows and the events agree.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import pytest
import sqlalchemy as sa

from server.store import Store
from tests.features import _booking_workers as workers
from tests.helpers.procs import barrier_pool

PROCS = 6
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with barrier_pool(PROCS, workers.init) as executor:
        yield executor


@pytest.mark.parametrize("capacity", [1, 3])
def test_concurrent_bookings_never_exceed_the_capacity(pool, db_url, capacity):
    with Store(db_url):  # migrate once, so the race is about the slot alone
        pass
    futures = [pool.submit(workers.book_worker, db_url, capacity, n)
               for n in range(1, PROCS + 1)]
    outcomes = collections.Counter(code for _n, code in (f.result(timeout=120)
                                                         for f in futures))
    assert outcomes == {"ok": capacity, "quota_reached": PROCS - capacity}
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            booked = conn.exec_driver_sql("SELECT booked FROM booking_slots").scalars().all()
            rows = conn.exec_driver_sql(
                "SELECT count(*) FROM bookings WHERE status = 'booked'").scalar()
            made = conn.exec_driver_sql(
                "SELECT count(*) FROM events WHERE name = 'booking.made'").scalar()
            seqs = conn.exec_driver_sql("SELECT seq FROM events ORDER BY seq").scalars().all()
    finally:
        engine.dispose()
    assert booked == [capacity] and rows == capacity and made == capacity
    assert seqs == list(range(1, len(seqs) + 1))
