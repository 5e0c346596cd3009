"""``qhall chaos``, small: three halls, two instances, three kills (printed figures);
its outages split by cause (single / overlapping instance failures) on synthetic events;
a counter's refused login asked again and counted (a scripted client)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from server.tools import chaos, outages
from server.tools.chaos import HallLoad, Outage, _report_split
from server.tools.pgcluster import unavailable as pg_unavailable
from tests.helpers.tools import unavailable

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.soak  # covered by the command itself; ./run.sh test -m soak
def test_a_small_chaos_run_reports_every_invariant_holding(tmp_path: Path) -> None:
    reason = pg_unavailable()
    if reason:
        unavailable(reason)
    done = subprocess.run(
        [sys.executable, "-m", "server", "chaos", "--instances", "2", "--halls", "3",
         "--minutes", "0.25", "--kills", "3", "--lease-s", "2", "--keep", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "kills: 3" in out
    assert "takeover s: p50" in out
    assert "all hold" in out, out
    assert "VIOLATED" not in out
    assert "longest a client was offline" in out and "machine load average" in out
    assert "NOTE" not in out, out  # the run itself misbehaved in no way (exit status 0)


# ------------------------------------------- outages by cause (synthetic events)
def test_failures_run_from_the_kill_or_freeze_until_the_instance_is_back() -> None:
    events = [
        (0.0, "i0", "spawn"), (0.5, "i0", "ready"),  # the start: no failure
        (0.0, "i1", "spawn"), (0.6, "i1", "ready"),
        (10.0, "i0", "SIGKILL"), (20.0, "i0", "spawn"), (23.0, "i0", "ready"),
        (15.0, "i1", "SIGSTOP"), (26.0, "i1", "SIGCONT"),
        (40.0, "i1", "exited"), (40.1, "i1", "spawn"), (42.0, "i1", "ready"),
        (50.0, "i0", "SIGSTOP"),  # not woken by the end
    ]
    assert outages.failures(reversed(events)) == [
        outages.Failure("i0", "SIGKILL", 10.0, 23.0),  # back when it answers again
        outages.Failure("i1", "SIGSTOP", 15.0, 26.0),
        outages.Failure("i1", "exited", 40.0, 42.0),
        outages.Failure("i0", "SIGSTOP", 50.0, None),
    ]


def test_an_outage_is_classed_by_the_failures_under_way_during_it() -> None:
    found = [outages.Failure("i0", "SIGKILL", 10.0, 23.0),
             outages.Failure("i1", "SIGSTOP", 15.0, 26.0),
             outages.Failure("i2", "SIGSTOP", 60.0, None)]
    assert outages.classify(11.0, 14.0, found) == outages.SINGLE  # i0 only
    assert outages.classify(11.0, 31.0, found) == outages.OVERLAPPING  # i1 froze meanwhile
    assert outages.classify(24.0, 40.0, found) == outages.SINGLE  # i0 back before it began
    assert outages.classify(27.0, 40.0, found) == outages.NO_FAILURE
    assert outages.classify(50.0, 59.9, found) == outages.NO_FAILURE  # i2 not yet
    assert outages.classify(70.0, 80.0, found) == outages.SINGLE  # i2 never back
    assert outages.overlapping(20.0, 61.0, found) == found
    assert outages.struck(11.0, 31.0, found)  # i1 froze while offline
    assert not outages.struck(16.0, 31.0, found)  # both were down before it began


def test_the_report_splits_the_outages_by_cause(capsys: pytest.CaptureFixture[str]) -> None:
    found = [outages.Failure("i0", "SIGKILL", 10.0, 23.0),
             outages.Failure("i1", "SIGSTOP", 15.0, 26.0)]
    kept = [Outage("hall01 kiosk-1", 25.0, True, ["+0.0 s connect a"], start=12.0),
            Outage("hall02 board-1", 21.0, True, ["+0.0 s connect b"], start=16.0),
            Outage("hall03 counter-1", 12.0, True, ["+0.0 s connect c"], start=24.0),
            Outage("hall01 kiosk-2", 10.5, False, ["+0.0 s connect d"], start=30.0)]
    _report_split(kept, found)
    out = capsys.readouterr().out
    struck = "with an instance failing while the device was already offline"
    assert (f"  {outages.SINGLE}: over 20 s 0 (0 {struck}), 10 s or more 1; "
            "longest 12.0 s") in out, out
    # hall01 kiosk-1 went offline before i1 froze; hall02 board-1 after it.
    assert (f"  {outages.OVERLAPPING}: over 20 s 2 (1 {struck}), 10 s or more 2; "
            "longest 25.0 s") in out, out
    assert (f"  {outages.NO_FAILURE}: over 20 s 0 (0 {struck}), 10 s or more 1; "
            "longest 10.5 s") in out, out
    assert (f"  longest, {outages.OVERLAPPING}: hall01 kiosk-1 offline 25.0 s; failures: "
            "i0 SIGKILL -2.0 s, back +11.0 s, i1 SIGSTOP +3.0 s, back +14.0 s") in out, out
    assert "+0.0 s connect a" in out and "+0.0 s connect b" not in out, out
    assert (f"  longest, {outages.NO_FAILURE}: hall01 kiosk-2 offline 10.5 s "
            "(still offline at the end); failures: none") in out, out


def test_the_longest_offline_counts_an_outage_shorter_than_the_kept_ones() -> None:
    """A run whose every outage is under OUTAGE_KEEP_S printed "longest a
    client was offline: 0.0 s"; the longest now counts every outage, and only
    those of OUTAGE_KEEP_S or more are kept with their steps."""
    from types import SimpleNamespace

    from server.tools.chaos import OUTAGE_KEEP_S, HallLoad

    load = HallLoad("hall01", [])
    short = SimpleNamespace(device="board-1", session=None)
    load._offline(short, 100.0, 106.8, ended=True)  # type: ignore[arg-type]
    assert load.offline_max_s == pytest.approx(6.8)
    assert load.offline_worst == "hall01 board-1"
    assert load.outages == []  # under OUTAGE_KEEP_S: counted, not kept
    longer = SimpleNamespace(device="kiosk-1", session=None)
    load._offline(longer, 200.0, 200.0 + OUTAGE_KEEP_S + 1, ended=False)  # type: ignore[arg-type]
    assert load.offline_max_s == pytest.approx(OUTAGE_KEEP_S + 1)
    assert load.offline_worst == "hall01 kiosk-1 (still offline)"
    assert [o.device for o in load.outages] == ["hall01 kiosk-1"]
    load._offline(short, 300.0, 301.0, ended=True)  # type: ignore[arg-type]
    assert load.offline_max_s == pytest.approx(OUTAGE_KEEP_S + 1)  # a shorter one changes nothing


# ------------------------------------------------- counter logins (fake client)
class _ScriptedClient:
    """Answers each request with the next reply of its script (by kind); once
    the script is done, sets ``stop`` and answers ``queue_empty``."""

    def __init__(self, script: list[tuple[str, dict[str, Any]]], stop: asyncio.Event) -> None:
        self.script = list(script)
        self.stop = stop
        self.asked: list[str] = []

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.asked.append(kind)
        if not self.script:
            self.stop.set()
            return {"type": "error", "code": "queue_empty"}
        expected, reply = self.script.pop(0)
        assert kind == expected, (kind, expected, self.asked)
        return reply


def _refused(code: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": code}


OK = {"type": "ok"}


def _run_counter(load: HallLoad, client: _ScriptedClient) -> None:
    async def main() -> None:
        load.stop = client.stop
        await load._counter(client, 0, client.stop)  # type: ignore[arg-type]

    asyncio.run(main())


def test_a_refused_counter_login_is_asked_again_with_backoff_and_counted(monkeypatch) -> None:
    # unauthorized from a new owner during a failover, then rate_limited: the
    # counter logs in on the third try (the reply was ignored before: the
    # counter went on calling, logged out, every call refused).
    monkeypatch.setattr(chaos, "LOGIN_BACKOFF_S", (0.01, 0.02))
    load = HallLoad("hall01", [])
    client = _ScriptedClient([("login", _refused("unauthorized")),
                              ("login", _refused("rate_limited")),
                              ("login", OK), ("call_next", _refused("queue_empty"))],
                             asyncio.Event())
    _run_counter(load, client)
    assert client.asked[:4] == ["login", "login", "login", "call_next"]
    assert load.logins_refused == {"unauthorized": 1, "rate_limited": 1}
    assert load.logins_given_up == 0


def test_a_counter_login_is_given_up_after_login_tries_and_asked_again_when_logged_out(
        monkeypatch) -> None:
    monkeypatch.setattr(chaos, "LOGIN_BACKOFF_S", (0.01, 0.02))
    load = HallLoad("hall01", [])
    refusals = [("login", _refused("unauthorized"))] * chaos.LOGIN_TRIES
    client = _ScriptedClient([*refusals, ("call_next", _refused("unauthorized")),
                              ("login", OK), ("call_next", _refused("queue_empty"))],
                             asyncio.Event())
    _run_counter(load, client)
    assert client.asked[:chaos.LOGIN_TRIES + 3] == [
        *["login"] * chaos.LOGIN_TRIES, "call_next", "login", "call_next"]
    assert load.logins_refused == {"unauthorized": chaos.LOGIN_TRIES}
    assert load.logins_given_up == 1
    assert load.failed["unauthorized"] == 1  # the call refused, logged out


def test_the_report_prints_refused_counter_logins_by_code(
        capsys: pytest.CaptureFixture[str]) -> None:
    first, second = HallLoad("hall01", []), HallLoad("hall02", [])
    first.logins_refused.update({"unauthorized": 2})
    second.logins_refused.update({"unauthorized": 1, "rate_limited": 1})
    second.logins_given_up = 1
    chaos._report_logins([first, second])
    out = capsys.readouterr().out
    assert ("counter logins refused: 4 by code {'unauthorized': 3, 'rate_limited': 1}; "
            f"given up after {chaos.LOGIN_TRIES} tries: 1") in out, out
