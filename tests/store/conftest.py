"""Store fixtures: every store test runs on a SQLite file and on PostgreSQL.

``db_url`` and ``pg_cluster`` live in tests/conftest.py (the service,
booking, ratings and report tests use them too): one throwaway cluster per
session, a fresh database per test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.store import Store


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.close()
