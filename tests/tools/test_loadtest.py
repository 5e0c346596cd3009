"""qhall loadtest: a short day (1,000 tickets) through the real server with
every invariant checked, and the checks themselves catching a broken log."""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

import pytest

from server.tools import loadtest


def _args(**kw: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    loadtest.configure(parser)
    argv: list[str] = []
    for k, v in kw.items():
        argv += ["--" + k.replace("_", "-"), str(v)]
    return parser.parse_args(argv)


@pytest.mark.slow
@pytest.mark.soak  # covered by the command itself; ./run.sh test -m soak
def test_thousand_tickets_keep_every_invariant(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "load.json"
    rc = loadtest.run(_args(tickets=1000, counters=24, boards=4, kiosks=6, json=out,
                            keep=tmp_path / "run"))
    text = capsys.readouterr().out
    assert rc == 0, text
    data = json.loads(out.read_text())
    assert data["ok"] and data["failures"] == [] and data["tickets"] == 1000
    kinds = {r["type"]: r for r in data["latency"]}
    assert {"issue", "call_next", "start", "complete", "no_show", "login"} <= set(kinds)
    assert kinds["issue"]["n"] == 1000
    assert kinds["start"]["n"] + kinds["no_show"]["n"] == 1000  # each ticket ended once
    assert all(r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] <= r["max_ms"] for r in kinds.values())
    assert "PASS no ticket lost or served twice" in text
    assert "tickets/s" in text

    # The event-log check is real: cut one event out of the kept database.
    db = tmp_path / "run" / "loadtest.db"
    assert loadtest.check_event_log(f"sqlite:///{db}") == []
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        events = next(t for t in tables if t.startswith("event"))
        conn.execute(f"delete from {events} where seq = 500")
    failures = loadtest.check_event_log(f"sqlite:///{db}")
    assert failures and "gap" in failures[0] and "500" in failures[0]


def test_config_has_no_hours_or_quotas() -> None:
    cfg = loadtest.loadtest_config("sqlite://")
    assert all(s.hours == () and s.daily_quota is None for s in cfg.services)
    assert len(cfg.counters) == 67


def test_bad_arguments_exit_2(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    assert loadtest.run(_args(tickets=0)) == 2
    assert loadtest.run(_args(tickets=5, counters=99, keep=tmp_path / "k")) == 2
    assert "--counters must be 1..67" in capsys.readouterr().err
