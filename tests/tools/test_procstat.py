"""server/tools/procstat.py against real processes' /proc entries."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from server.tools.procstat import cpu_s, cpu_times, rss_mb

# A child that names itself with ") " in it (the field /proc/<pid>/stat wraps
# in parentheses), spins for a given CPU time, then waits to be killed.
_CHILD = """
import ctypes, sys, time
ctypes.CDLL(None).prctl(15, b"odd) (name", 0, 0, 0)  # PR_SET_NAME
end = time.process_time() + float(sys.argv[1])
while time.process_time() < end:
    pass
print("spun", flush=True)
time.sleep(60)
"""


def test_cpu_times_of_a_child_with_a_parenthesis_in_its_name() -> None:
    with subprocess.Popen([sys.executable, "-c", _CHILD, "0.3"], stdout=subprocess.PIPE,
                          text=True) as child:
        try:
            assert child.stdout is not None and child.stdout.readline() == "spun\n"
            with open(f"/proc/{child.pid}/comm", encoding="utf-8") as comm:
                assert comm.read().strip() == "odd) (name"
            user, system = cpu_times(child.pid)
            # /proc counts 10-ms ticks: the 0.3 s spun (plus start-up), not less
            assert user + system >= 0.25 and system >= 0.0
            assert cpu_s(child.pid) == pytest.approx(user + system, abs=0.05)
            assert rss_mb(child.pid) > 1.0
        finally:
            child.kill()


def test_rss_of_an_exited_process_not_yet_reaped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while True:  # a zombie: /proc/<pid>/status is there, VmRSS is not
        with open(f"/proc/{child.pid}/status", encoding="utf-8") as status:
            if "State:\tZ" in status.read():
                break
        assert time.monotonic() < deadline, "the child never exited"
        time.sleep(0.01)
    try:
        assert rss_mb(child.pid, 0.0) == 0.0
        with pytest.raises(LookupError, match=f"no VmRSS for process {child.pid}"):
            rss_mb(child.pid)
    finally:
        child.wait()


def test_this_process() -> None:
    assert rss_mb(os.getpid()) > 10.0
    before = cpu_s(os.getpid())
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    assert cpu_s(os.getpid()) - before >= 0.1
