"""Store fixtures: every store test runs on a SQLite file and on PostgreSQL.

The PostgreSQL cluster is one throwaway cluster per test session
(``tests/helpers/pg.py``); each test gets a fresh database in it. Where the
server binaries are missing the ``postgres`` cases skip with the reason.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from server.store import Store
from tests.helpers.pg import PgCluster, unavailable

_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """URL of a fresh, empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database(f"t{next(_names)}")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.close()
