"""Wrong PINs (store side), on SQLite and PostgreSQL: rows per key, per hall,
the window's start included, older rows deleted, one key cleared."""

from __future__ import annotations

import datetime as dt

import pytest

from server.store import Store
from tests.store.samples import T0


def test_failures_counted_per_key_and_hall_oldest_first(store: Store) -> None:
    later = T0 + dt.timedelta(seconds=30)
    store.add_login_failure("main", ["staff:s1", "device:counter-1"], later)
    store.add_login_failure("main", ["staff:s1"], T0)
    store.add_login_failure("east", ["staff:s1"], T0)
    got = store.login_failures("main", T0)
    utc = dt.UTC
    assert got == [("staff:s1", T0.astimezone(utc)),
                   ("staff:s1", later.astimezone(utc)),
                   ("device:counter-1", later.astimezone(utc))]
    assert all(at.tzinfo is dt.UTC for _, at in got)  # aware UTC back
    assert store.login_failures("east", T0) == [("staff:s1", T0.astimezone(utc))]


def test_the_window_includes_its_start_and_forgets_what_is_older(store: Store) -> None:
    store.add_login_failure("main", ["staff:s1"], T0)
    store.add_login_failure("main", ["staff:s2"], T0 + dt.timedelta(seconds=1))
    store.add_login_failure("east", ["staff:s1"], T0)
    start = T0 + dt.timedelta(seconds=1)
    assert [k for k, _ in store.login_failures("main", start)] == ["staff:s2"]
    # the older row is gone: a wider window does not bring it back
    assert [k for k, _ in store.login_failures("main", T0)] == ["staff:s2"]
    # another hall's rows are not touched by this hall's window
    assert [k for k, _ in store.login_failures("east", T0)] == ["staff:s1"]


def test_clearing_one_key_keeps_the_others(store: Store) -> None:
    store.add_login_failure("main", ["staff:s1", "device:counter-1"], T0)
    store.add_login_failure("east", ["staff:s1"], T0)
    store.clear_login_failures("main", "staff:s1")
    assert [k for k, _ in store.login_failures("main", T0)] == ["device:counter-1"]
    assert [k for k, _ in store.login_failures("east", T0)] == ["staff:s1"]


def test_bad_keys_and_naive_times_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="hall_id"):
        store.add_login_failure("", ["staff:s1"], T0)
    with pytest.raises(ValueError, match="key"):
        store.add_login_failure("main", ["x" * 201], T0)
    store.add_login_failure("main", ["k" * 200], T0)  # 200 characters is still a key
    with pytest.raises(ValueError, match="at must be timezone-aware"):
        store.add_login_failure("main", ["staff:s1"], T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="since must be timezone-aware"):
        store.login_failures("main", T0.replace(tzinfo=None))
    assert [k for k, _ in store.login_failures("main", T0)] == ["k" * 200]
