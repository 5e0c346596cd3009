"""Shared test set-up: headless Qt, CJK fonts, and the shared fixtures."""

from __future__ import annotations

import os
import shutil

# Before any Qt import: no display on CI.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Keep Qt from complaining about XDG_RUNTIME_DIR on root machines.
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp/qhall-xdg-runtime")
os.makedirs(os.environ["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)

# SQLite: the store syncs its WAL at every commit by default (synchronous=FULL,
# server/store/engine.py sqlite_sync, docs/DEPLOYMENT.md). That made a
# commit-heavy subset of the tests ~40% slower, and no test is about power
# loss, so the tests run synchronous=NORMAL (child processes inherit it). Set
# QHALL_SQLITE_SYNC=full to run them as shipped; tests/store/test_engine.py
# checks the default itself.
os.environ.setdefault("QHALL_SQLITE_SYNC", "normal")

# --------------------------------------------------------------- databases
# Every test that takes ``db_url`` runs twice: on a SQLite file and on a
# fresh database of one throwaway PostgreSQL cluster per session
# (tests/helpers/pg.py). Without the server binaries the PostgreSQL cases
# skip, or fail under QHALL_REQUIRE_TOOLS (tests/helpers/tools.py).
import itertools  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

from tests.helpers.pg import PgCluster  # noqa: E402
from tests.helpers.pg import unavailable as pg_unavailable  # noqa: E402
from tests.helpers.tools import unavailable  # noqa: E402

_db_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    reason = pg_unavailable()
    if reason:
        unavailable(reason)
    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop(remove_later=True)


#: The personal-data key of test halls on PostgreSQL (64 hex digits; public).
TEST_PII_KEY = "5e" * 32


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """URL of a fresh, empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    # A PostgreSQL hall that takes bookings needs its personal-data key from
    # outside the database (docs/SECURITY.md); child processes inherit it.
    request.getfixturevalue("monkeypatch").setenv("QHALL_PII_KEY", TEST_PII_KEY)
    return cluster.create_database(f"t{next(_db_names)}")


@pytest.fixture(autouse=True)
def _browser_needs_chromium(request: pytest.FixtureRequest) -> None:
    """Tests marked ``browser`` need headless Chromium: a skip locally, a failure
    under ``QHALL_REQUIRE_TOOLS`` (never a silent ``skipif``)."""
    if request.node.get_closest_marker("browser") is not None and not (
            shutil.which("chromium") or os.path.exists("/usr/bin/chromium")):
        unavailable("chromium is not installed (apt-get install chromium)")
