"""Reports from the event log: a scripted day with hand-computed figures."""

from __future__ import annotations

import argparse
import base64
import csv
import datetime as dt
import io
import re
from pathlib import Path

import pytest

from server.features import default_features, report
from server.service import HallService, Session
from server.store import Store
from tests.helpers.fakes import FakeClock
from tests.helpers.server import PIN, small_config
from tests.helpers.tools import unavailable

TZ = dt.timezone(dt.timedelta(hours=8))
DAY = dt.date(2026, 11, 26)


class Day:
    """Drive a HallService through the protocol with a hand-moved clock."""

    def __init__(self, db_url: str) -> None:
        self.config = small_config(db_url)
        self.clock = FakeClock(self.at("09:00:00"))
        self.store = Store(self.config.database, clock=self.clock)
        self.service = HallService(self.config, self.store, clock=self.clock,
                                   monotonic=self.clock.monotonic, features=default_features())
        self.n = 0

    @staticmethod
    def at(hms: str, day: dt.date = DAY) -> dt.datetime:
        return dt.datetime.combine(day, dt.time.fromisoformat(hms), TZ).astimezone(dt.UTC)

    def go(self, hms: str, day: dt.date = DAY) -> Day:
        self.clock.now = self.at(hms, day)
        return self

    def req(self, device: str, type: str, **fields) -> dict:
        self.n += 1
        session = Session(self.config.device(device))
        reply = self.service.handle(session, {"type": type, "id": f"r{self.n}", **fields})
        assert reply.message["type"] == "ok", reply.message
        return reply.message

    def issue(self, service: str) -> dict:
        return self.req("kiosk-1", "issue", service=service)["ticket"]

    def report(self, now: dt.datetime | None = None, first: dt.date = DAY,
               last: dt.date = DAY) -> report.Report:
        return report.build(self.config, self.store, first, last, now or self.clock())


@pytest.fixture
def day(db_url):
    """A day on SQLite and on PostgreSQL (the report reads the event log with SQL)."""
    d = Day(db_url)
    yield d
    d.store.close()


@pytest.fixture
def sqlite_day(tmp_path):
    """A day on SQLite only: for the renderings, which do not touch the database."""
    d = Day(f"sqlite:///{tmp_path / 'report.db'}")
    yield d
    d.store.close()


def script(d: Day) -> dict[str, dict]:
    """The scripted day; waits and service times in the comments (seconds)."""
    d.go("08:59:00")
    d.req("counter-1", "login", staff="s001", pin=PIN)
    d.req("counter-2", "login", staff="s002", pin=PIN)
    t = {}
    d.go("09:00:00")
    t["A001"] = d.issue("gjj")
    d.go("09:01:00")
    t["A002"] = d.issue("gjj")
    d.go("09:02:00")
    t["B001"] = d.issue("tax")
    d.go("09:05:00")
    assert d.req("counter-1", "call_next")["ticket"]["number"] == "A001"  # wait 300
    d.go("09:06:00")
    d.req("counter-1", "start")
    d.go("09:07:00")
    assert d.req("counter-2", "call_next")["ticket"]["number"] == "A002"
    d.go("09:08:00")
    d.req("counter-2", "recall")  # the last call counts: wait 420
    d.go("09:09:00")
    d.req("counter-2", "complete")  # never started: service 09:09 - 09:08 = 60
    d.go("09:09:30")
    d.req("evaluator-2", "rate", ticket=t["A002"]["id"], score=2,  # bad: a follow-up
          reason="等候时间长；排了很久")
    d.go("09:16:00")
    d.req("counter-1", "complete")  # service 600
    d.go("09:16:20")
    d.req("evaluator-1", "rate", ticket=t["A001"]["id"], score=5)
    d.go("09:30:00")
    assert d.req("counter-1", "call_next")["ticket"]["number"] == "B001"  # 1680
    d.go("09:31:00")
    d.req("counter-1", "no_show")
    d.go("09:40:00")
    t["A003"] = d.issue("gjj")
    d.go("09:41:00")
    d.req("admin-1", "cancel", ticket=t["A003"]["id"])
    d.go("10:00:00")
    t["A004"] = d.issue("gjj")
    d.go("10:20:00")
    assert d.req("counter-2", "call_next")["ticket"]["number"] == "A004"  # wait 1200
    d.go("10:21:00")
    d.req("counter-2", "start")
    d.go("10:26:00")
    d.req("counter-2", "complete")  # service 300
    d.go("10:27:00")
    d.req("evaluator-2", "rate", ticket=t["A004"]["id"], score=4)
    d.go("11:00:00")
    t["C001"] = d.issue("bdc")  # nobody at counter 4: unserved at close
    return t


def test_scripted_day_gives_the_hand_computed_figures(day):
    script(day)
    # midnight: the close-out the server's upkeep (HallService.tick) does
    day.go("00:00:05", DAY + dt.timedelta(days=1))
    closed = day.service.hall.close_day()
    day.store.commit(day.config.id, closed, at=day.clock())
    assert any(e.name == "ticket.cancelled" and e.data["reason"] == "close_day"
               for e in closed)
    rep = day.report()
    hall = rep.total.row()
    assert {k: hall[k] for k in ("issued", "served", "no_show", "cancelled", "unserved",
                                 "waiting")} == {"issued": 6, "served": 3, "no_show": 1,
                                                 "cancelled": 1, "unserved": 1, "waiting": 0}
    # waits 300, 420, 1200
    assert hall["avg_wait_s"] == 640.0
    assert hall["p90_wait_s"] == 1200.0
    assert hall["service_level"] == round(2 / 3, 4)  # two of three within 15 min
    assert hall["avg_service_s"] == 320.0  # (600 + 60 + 300) / 3
    assert (hall["ratings"], hall["bad_ratings"]) == (3, 1)
    assert hall["satisfaction_rate"] == round(2 / 3, 4)
    assert hall["complaint_rate"] == round(10000 / 3, 2)
    assert hall["open_followups"] == 1

    gjj, tax, bdc = (rep.rows["service"][s].row() for s in ("gjj", "tax", "bdc"))
    assert (gjj["issued"], gjj["served"], gjj["cancelled"]) == (4, 3, 1)
    assert (tax["issued"], tax["no_show"], tax["served"]) == (1, 1, 0)
    assert (bdc["issued"], bdc["unserved"], bdc["avg_wait_s"]) == (1, 1, None)

    c1, c2 = rep.rows["counter"]["1"].row(), rep.rows["counter"]["2"].row()
    assert (c1["served"], c1["no_show"], c1["avg_wait_s"], c1["avg_service_s"]) == \
        (1, 1, 300.0, 600.0)
    assert (c1["ratings"], c1["satisfaction_rate"], c1["issued"]) == (1, 1.0, None)
    assert (c2["served"], c2["avg_wait_s"], c2["p90_wait_s"], c2["service_level"]) == \
        (2, 810.0, 1200.0, 0.5)
    assert (c2["avg_service_s"], c2["satisfaction_rate"], c2["complaint_rate"]) == \
        (180.0, 0.5, 5000.0)
    assert c2["open_followups"] == 1
    s1, s2 = rep.rows["staff"]["s001"], rep.rows["staff"]["s002"]
    assert (s1.name, s1.served, s1.no_show) == ("王芳", 1, 1)
    assert (s2.name, s2.served, s2.bad_ratings) == ("李强", 2, 1)

    hours = {h["hour"]: h for h in rep.hours}
    assert (hours[9]["arrivals"], hours[10]["arrivals"], hours[11]["arrivals"]) == (4, 1, 1)
    assert (hours[9]["served"], hours[10]["served"]) == (2, 1)
    assert hours[9]["avg_wait_s"] == 360.0 and hours[10]["avg_wait_s"] == 1200.0
    assert rep.scores == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}
    assert [(c["number"], c["reason"]) for c in rep.followups] == [("A002", "等候时间长；排了很久")]
    assert "reason: 等候时间长；排了很久" in report.to_text(rep, day.config)


def test_csv_columns_and_rows(sqlite_day):
    script(sqlite_day)
    text = report.to_csv(sqlite_day.report())
    rows = list(csv.DictReader(io.StringIO(text)))
    for column in ("scope", "key", "issued", "served", "no_show", "cancelled", "unserved",
                   "avg_wait_s", "p90_wait_s", "avg_service_s", "service_level", "ratings",
                   "satisfaction_rate", "bad_ratings"):
        assert column in rows[0]
    assert [(r["scope"], r["key"]) for r in rows] == [
        ("hall", "hall"), ("service", "gjj"), ("service", "tax"), ("service", "bdc"),
        ("counter", "1"), ("counter", "2"), ("counter", "3"), ("counter", "4"),
        ("staff", "s001"), ("staff", "s002")]
    hall = rows[0]
    assert (hall["issued"], hall["served"], hall["avg_wait_s"], hall["service_level"]) == \
        ("6", "3", "640.0", "0.6667")
    # live, before the close-out: C001 is still waiting, not unserved
    assert (hall["waiting"], hall["unserved"]) == ("1", "0")
    assert rows[6]["served"] == "0" and rows[6]["avg_wait_s"] == ""  # counter 3: no data


def test_unserved_when_the_day_was_never_closed(day):
    script(day)
    # the server was down at midnight: no close-out events, the report decides
    rep = day.report(now=day.at("08:00:00", DAY + dt.timedelta(days=1)))
    assert (rep.total.unserved, rep.total.waiting) == (1, 0)
    assert rep.rows["service"]["bdc"].unserved == 1


def test_empty_day(day):
    rep = day.report(first=DAY - dt.timedelta(days=1), last=DAY - dt.timedelta(days=1))
    row = rep.total.row()
    assert (row["issued"], row["served"], row["ratings"]) == (0, 0, 0)
    assert row["avg_wait_s"] is None and row["service_level"] is None
    assert row["satisfaction_rate"] is None and row["complaint_rate"] is None
    text = report.to_text(rep, day.config)
    assert "issued 0" in text and "(no tickets)" in text
    assert report.to_csv(rep).count("\n") == 1 + 1 + 3 + 4  # header, hall, services, counters
    html = report.to_html(rep, day.config)
    assert html.count("data:image/png;base64,") == 3


def test_a_period_adds_days(day):
    script(day)
    day.go("09:00:00", DAY + dt.timedelta(days=1))
    day.store.commit(day.config.id, day.service.hall.close_day(), at=day.clock())
    day.issue("gjj")
    two = day.report(first=DAY, last=DAY + dt.timedelta(days=1))
    assert (two.total.issued, two.total.served, two.total.waiting) == (7, 3, 1)


def test_admin_stats_are_live(day):
    script(day)
    day.go("11:30:00")
    stats = day.req("admin-1", "stats")["stats"]
    assert stats["date"] == "2026-11-26"
    assert (stats["hall"]["served"], stats["hall"]["waiting"]) == (3, 1)
    assert stats["open_followups"] == 1 and stats["waiting"]["bdc"] == 1
    assert {c["key"]: c["served"] for c in stats["counters"]}["2"] == 2
    # a counter keeps its own figures from the core
    own = day.req("counter-2", "stats")["stats"]
    assert own["counter"] == 2 and own["served"] == 2


def test_html_is_self_contained(sqlite_day):
    script(sqlite_day)
    html = report.to_html(sqlite_day.report(), sqlite_day.config)
    assert "<script" not in html and "http://" not in html and "https://" not in html
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert len(images) == 3
    assert all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for b in images)
    assert "10:40" in html and "66.7%" in html and "A002" in html
    assert "<td>等候时间长；排了很久</td>" in html  # the follow-up's reason


@pytest.mark.browser
def test_html_renders_in_chromium(sqlite_day, tmp_path):
    """Headless Chromium draws the report (``QHALL_SCREENS=DIR`` keeps report.png there)."""
    import os
    import shutil
    import subprocess

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        unavailable("chromium is not installed (apt-get install chromium)")
    script(sqlite_day)
    page = tmp_path / "report.html"
    page.write_text(report.to_html(sqlite_day.report(), sqlite_day.config), encoding="utf-8")
    shot = Path(os.environ.get("QHALL_SCREENS", tmp_path)) / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", f"--screenshot={shot}", "--window-size=1280,2000",
                    page.as_uri()], check=True, timeout=60, capture_output=True)
    from PySide6.QtGui import QImage

    image = QImage(str(shot))
    assert (image.width(), image.height()) == (1280, 2000)
    # the blue header is drawn: the page rendered, not a blank screen
    assert image.pixelColor(200, 40).name().lower() == "#0b4f9c"


def test_cli(sqlite_day, tmp_path, capsys, monkeypatch):
    script(sqlite_day)
    monkeypatch.setattr(report, "hall_config", lambda _args: sqlite_day.config)
    out = tmp_path / "r.csv"
    args = argparse.Namespace(config=None, database=None, date="2026-11-26", first=None,
                              last=None, format="csv", out=str(out))
    assert report.run(args, clock=sqlite_day.clock) == 0
    assert out.read_text(encoding="utf-8").startswith("scope,key,name,issued,served")
    args.format, args.out = "text", None
    assert report.run(args, clock=sqlite_day.clock) == 0
    assert "served 3" in capsys.readouterr().out
    args.first, args.last = "2026-11-27", "2026-11-26"
    args.date = None
    assert report.run(args, clock=sqlite_day.clock) == 2
    assert "before" in capsys.readouterr().err
    args.first, args.last, args.date = None, None, "26.11.2026"
    assert report.run(args, clock=sqlite_day.clock) == 2


def test_service_level_counts_a_wait_exactly_at_the_limit(day):
    """``service_level`` is the share of waits ``<= service_level_s`` (900 s here)."""
    day.go("08:59:00")
    day.req("counter-1", "login", staff="s001", pin=PIN)
    day.req("counter-2", "login", staff="s002", pin=PIN)
    day.go("09:00:00")
    day.issue("gjj")                                   # A001
    day.issue("gjj")                                   # A002
    day.go("09:15:00")
    assert day.req("counter-1", "call_next")["ticket"]["number"] == "A001"  # wait 900
    day.go("09:15:01")
    assert day.req("counter-2", "call_next")["ticket"]["number"] == "A002"  # wait 901
    day.go("09:20:00")
    day.req("counter-1", "complete")
    day.req("counter-2", "complete")
    row = day.report().total.row()
    assert (row["served"], row["avg_wait_s"]) == (2, 900.5)
    assert row["service_level"] == 0.5


def test_the_report_day_is_the_local_day(day):
    """A ticket at 23:59:59 local belongs to that day, one at 00:00:00 to the next,
    although both are the same UTC date (15:59:59 and 16:00:00 UTC)."""
    day.go("23:59:59")
    day.issue("gjj")
    day.go("00:00:00", DAY + dt.timedelta(days=1))
    day.issue("gjj")
    day.go("12:00:00", DAY + dt.timedelta(days=1))
    first = day.report(first=DAY, last=DAY).total
    second = day.report(first=DAY + dt.timedelta(days=1), last=DAY + dt.timedelta(days=1)).total
    assert (first.issued, second.issued) == (1, 1)


def test_eta_accuracy_of_the_printed_estimates(day):
    # Only counter 2 (gjj only) works; no history yet, so 300 s a ticket.
    day.go("08:59:00")
    day.req("counter-2", "login", staff="s002", pin=PIN)
    day.go("09:00:00")
    a1 = day.issue("gjj")                 # counter 2 free: printed 0
    day.req("counter-2", "call_next")     # wait 0, error 0
    day.go("09:01:00")
    a2 = day.issue("gjj")                 # 0 ahead + itself, counter busy: 300
    day.go("09:02:00")
    a3 = day.issue("gjj")                 # 1 ahead + itself: 600
    assert [a1["eta_s"], a2["eta_s"], a3["eta_s"]] == [0, 300, 600]
    assert [a1["ahead"], a2["ahead"], a3["ahead"]] == [0, 0, 1]
    day.go("09:10:00")
    day.req("counter-2", "complete")
    day.req("counter-2", "call_next")     # A002: wait 540, error 300 - 540 = -240
    day.go("09:15:00")
    day.req("counter-2", "no_show")
    day.req("counter-2", "call_next")     # A003: wait 780, error 600 - 780 = -180
    day.go("09:16:00")
    day.req("kiosk-1", "requeue", ticket=a2["id"])  # back: its first call still counts
    day.go("09:20:00")
    day.req("counter-2", "complete")
    day.req("counter-2", "call_next")     # A002 again: not a second sample
    rep = day.report()
    hall = rep.eta["hall"]
    assert hall["n"] == 3 and hall["mean_wait_min"] == pytest.approx(440 / 60, abs=1e-3)
    # errors 0, -240, -180 s over waits 0, 540, 780 s
    assert hall["eta"]["qhall"] == {
        "mae_min": pytest.approx(140 / 60, abs=1e-3), "bias_min": pytest.approx(-140 / 60,
                                                                                abs=1e-3),
        "mae_pct": pytest.approx(100 * 140 / 440, abs=0.01),
        "bias_pct": pytest.approx(-100 * 140 / 440, abs=0.01),
        "within_5min": 1.0, "mae_pct_5ahead": None,
        "mse": pytest.approx((0 + 16 + 9) / 3, abs=1e-3)}
    assert rep.eta["gjj"] == hall
    text = report.to_text(rep, day.config)
    assert "ETA accuracy" in text
    assert re.search(r"hall\s+3\s+7\.3 min\s+2\.3 min\s+-2\.3 min\s+31\.8%\s+-31\.8%\s+100\.0%",
                     text)
    rows = {r["key"]: r for r in csv.DictReader(io.StringIO(report.to_csv(rep)))}
    assert rows["hall"]["eta_called"] == "3" and rows["gjj"]["eta_mse"] == "8.333"
    assert rows["tax"]["eta_called"] == "" and rows["1"]["eta_mae_min"] == ""
    page = report.to_html(rep, day.config)
    assert "ETA accuracy" in page and "31.8%" in page


def test_an_undone_no_show_is_not_counted_as_one(day):
    # 撤销过号: the lifecycle table puts the ticket back to called at its counter.
    day.go("08:59:00")
    day.req("counter-1", "login", staff="s001", pin=PIN)
    day.go("09:00:00")
    ticket = day.issue("gjj")
    day.go("09:01:00")
    day.req("counter-1", "call_next")
    day.go("09:02:00")
    day.req("counter-1", "no_show")
    assert day.report().total.no_show == 1
    day.go("09:02:10")
    day.req("counter-1", "unmiss", ticket=ticket["id"])
    rep = day.report()
    assert (rep.total.no_show, rep.total.waiting, rep.total.served) == (0, 1, 0)
    day.go("09:05:00")
    day.req("counter-1", "complete")
    rep = day.report()
    assert (rep.total.no_show, rep.total.served) == (0, 1)
    assert rep.rows["counter"]["1"].served == 1
