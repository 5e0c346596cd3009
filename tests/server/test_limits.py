"""server/limits.py buckets and the bounded reply cache of the hall service."""

from __future__ import annotations

import datetime as dt

from server import service as service_mod
from server.config import Limits
from server.features import default_features
from server.limits import Buckets, HallLimits
from server.service import HallService, Session
from server.store import Store
from tests.helpers.server import small_config


class Ticking:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_starts_full_refills_and_is_kept_per_key():
    clock = Ticking()
    b = Buckets(per_s=1.0, burst=3, monotonic=clock)
    assert [b.take("a") for _ in range(4)] == [True, True, True, False]
    assert b.take("b")  # another key, its own bucket
    assert b.wait_s("a") == 1
    clock.now += 1.0
    assert b.take("a") and not b.take("a")
    b.give_back("a")
    assert b.take("a")


def test_zero_rate_means_unlimited():
    b = Buckets(per_s=0, burst=0)
    assert all(b.take("x") for _ in range(10_000)) and b.has("x")


def test_bucket_table_is_bounded(monkeypatch):
    import server.limits as limits_mod

    monkeypatch.setattr(limits_mod, "MAX_KEYS", 100)
    b = Buckets(per_s=1.0, burst=1)
    for i in range(1000):
        b.take(f"10.0.{i // 256}.{i % 256}")
    assert len(b._buckets) == 100


def test_pin_failures_count_per_device_and_staff_and_are_stored(tmp_path):
    now = [dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)]
    with Store(f"sqlite:///{tmp_path / 'pins.db'}") as store:
        lim = HallLimits(Limits(pin_failures=3), store, "main", lambda: now[0])
        for staff in ("s1", "s2", "s3"):
            assert lim.pin_locked("c-1", staff) is None
            lim.pin_failed("c-1", staff)
        assert "this counter" in (lim.pin_locked("c-1", "s9") or "")
        assert lim.pin_locked("c-2", "s1") is None
        again = HallLimits(Limits(pin_failures=3), store, "main", lambda: now[0])
        assert again.pin_locked("c-1", "s9") is not None  # kept across a restart
        now[0] += dt.timedelta(seconds=301)
        assert again.pin_locked("c-1", "s9") is None  # the 5-minute window passed
        assert store.login_failures("main", now[0] - dt.timedelta(seconds=300)) == []


def test_reply_cache_is_bounded_per_device_and_pings_are_not_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(service_mod, "REPLIES_PER_DEVICE", 50)
    monkeypatch.setattr(service_mod, "REPLIES_MAX", 120)
    with Store(f"sqlite:///{tmp_path / 'cache.db'}") as store:
        svc = HallService(small_config("sqlite://"), store, features=default_features())
        kiosk1 = Session(svc.config.device("kiosk-1"))
        kiosk2 = Session(svc.config.device("kiosk-2"))
        first = svc.handle(kiosk2, {"type": "issue", "id": "keep", "service": "nope"}).message
        for i in range(1000):
            svc.handle(kiosk1, {"type": "ping", "id": f"ping-{i}"})
        assert svc.remembered_replies == 1
        for i in range(300):  # misses: mutating requests' errors are remembered
            svc.handle(kiosk1, {"type": "issue", "id": f"miss-{i}", "service": "nope"})
        assert svc.remembered_replies == 51
        # the flooding device lost its oldest, the other device kept its reply
        again = svc.handle(kiosk2, {"type": "issue", "id": "keep", "service": "gjj"}).message
        assert again == first and again["code"] == "not_found"
        recent = svc.handle(kiosk1, {"type": "issue", "id": "miss-299", "service": "gjj"})
        assert recent.message["code"] == "not_found"
        for device in ("board-1", "board-2", "admin-1"):
            session = Session(svc.config.device(device))
            for i in range(50):
                svc.handle(session, {"type": "report_fault", "id": f"f{i}", "kind": "other",
                                     "message": "x"})
        assert svc.remembered_replies <= 120


def test_no_limits_and_kiosk_rate_flags(tmp_path):
    import argparse

    from server import serve
    from server.config import dumps

    path = tmp_path / "hall.toml"
    path.write_text(dumps(small_config(f"sqlite:///{tmp_path / 'h.db'}")), encoding="utf-8")
    parser = argparse.ArgumentParser()
    serve.configure(parser)

    def limits(*argv: str) -> Limits:
        return serve.load_config(parser.parse_args(["--config", str(path), *argv])).limits

    assert limits() == Limits()
    assert limits("--no-limits") == Limits(0, 0, 0, 0, 0)
    assert limits("--kiosk-rate", "7") == Limits(kiosk_issues_per_min=7)
    assert limits("--no-limits", "--kiosk-rate", "30") == Limits(30, 0, 0, 0, 0)
