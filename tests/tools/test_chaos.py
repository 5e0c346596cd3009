"""``qhall chaos``, small: three halls, two instances, three kills (printed figures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
