"""Store fixtures: every store test runs on a SQLite file and on PostgreSQL.

``db_url`` and ``pg_cluster`` live in tests/conftest.py (the service,
booking, ratings and report tests use them too): one throwaway cluster per
session, a fresh database per test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from server.store import Store
from tests.helpers.pg import PgCluster


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.close()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """A fresh database of the session's cluster, for the PostgreSQL-only tests (leases)."""
    return pg_cluster.create_database(f"pg{uuid.uuid4().hex[:12]}")
