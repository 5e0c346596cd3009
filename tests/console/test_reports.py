"""Console reports: the same figures as ``qhall report``, in the page and as CSV."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io

from server import config as config_mod
from server.features import report
from tests.console.client import ConsoleClient, console_config, get, login
from tests.helpers.server import PIN, RunningServer


def test_report_csv_and_rows_match_qhall_report(tmp_path):
    cfg = console_config(f"sqlite:///{tmp_path / 'hall.db'}")
    with RunningServer(cfg) as srv:
        with srv.client("counter-1") as counter, srv.client("kiosk-1") as kiosk:
            assert counter.request("login", staff="s001", pin=PIN)["type"] == "ok"
            for service in ("gjj", "tax", "gjj"):
                assert kiosk.request("issue", service=service)["type"] == "ok"
            for _ in range(2):
                assert counter.request("call_next")["type"] == "ok"
                assert counter.request("complete")["type"] == "ok"
        cookie = login(srv.port)
        today = dt.datetime.now(cfg.tz).date().isoformat()
        assert get(srv.port, "/console/report.csv")[0] == 401  # no session, no report
        status, headers, body = get(srv.port, f"/console/report.csv?from={today}&to={today}",
                                    cookie)
        assert status == 200 and headers["content-type"].startswith("text/csv")
        assert "attachment" in headers["content-disposition"]
        assert get(srv.port, "/console/report.csv?from=2026-12-02&to=2026-12-01", cookie)[0] == 400
        client = ConsoleClient(srv.port, cookie)
        rows = client.request("report", **{"from": today, "to": today})
        yesterday = (dt.date.fromisoformat(today) - dt.timedelta(days=1)).isoformat()
        two = client.request("report", **{"from": yesterday, "to": today})
        client.close()
        assert [(d["date"], d["served"], d["ratings"]) for d in two["days"]] == [
            (yesterday, 0, 0), (today, 2, 0)]
        assert ("s005", "report_csv") in [(r.staff, r.action) for r in
                                         srv.store.console.audit_log(cfg.id)]
    # The command line on the same database, after the server has stopped.
    path = tmp_path / "hall.toml"
    path.write_text(config_mod.dumps(srv.config), encoding="utf-8")
    out = tmp_path / "report.csv"
    args = argparse.Namespace(config=str(path), database=None, date=today, first=None,
                              last=None, format="csv", out=str(out))
    assert report.run(args) == 0
    assert body == out.read_text(encoding="utf-8")
    hall = next(csv.DictReader(io.StringIO(body)))
    assert (hall["scope"], hall["issued"], hall["served"]) == ("hall", "3", "2")
    assert rows["type"] == "ok"
    assert [(r["scope"], r["key"], r["served"]) for r in rows["rows"]] == [
        (r["scope"], r["key"], int(r["served"])) for r in csv.DictReader(io.StringIO(body))]
