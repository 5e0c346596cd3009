"""Generated raw JSON text against a real ``qhall serve``: 10,000 frames.

The machinery is ``bench/fuzz.py`` (``python -m bench.fuzz`` is the 100,000
frame soak); here hypothesis drives its choices. Every request type of every
role and hello frames; hostile batches must leave the hall's snapshot digest
unchanged, and after every batch a fresh kiosk connects and issues and a
citizen takes a remote ticket (whose QR code a kiosk's ``requeue`` then
reads: the arrival path). The console's configuration and assignment
requests get the same treatment on ``/console/ws``.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.fuzz import ConsoleFuzzer, FrameMaker, Fuzzer, Hall, console_session, remote_taker
from server.config import dumps
from server.wire import protocol
from tests.console.client import PASSWORD, admin_config
from tests.helpers.server import PIN, TOKEN, free_port
from tests.server.test_process import Proc

# CI's share; `python -m bench.fuzz --frames 100000 --console-frames 10000` runs
# the long form (CI is near its 20-minute budget: docs/TESTING.md "Markers").
FRAMES = 5_000
RUNS = 5
CONSOLE_FRAMES = 1_000


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    # The small hall; s005 is an admin with a console password.
    cfg = admin_config(f"sqlite:///{tmp / 'fuzz.db'}")
    path = tmp / "hall.toml"
    path.write_text(dumps(cfg), encoding="utf-8")
    proc = Proc(path, free_port())
    yield proc
    proc.p.terminate()
    proc.p.wait(15)


def _hall(url: str, remote: bool = False) -> Hall:
    http = url.replace("ws://", "http://").removesuffix("/ws")
    return Hall(url=url, token=TOKEN, pin=PIN, services=("gjj", "tax", "bdc", "nope"),
                staff=("s001", "s002", "s999"),
                devices={"kiosk": "kiosk-1", "counter": "counter-1", "display": "board-1",
                         "evaluator": "evaluator-1", "admin": "admin-1"},
                probe="kiosk-2", probe_service="gjj", watcher="board-2",
                remote=remote_taker(http, "main", "tax") if remote else None)


def test_frame_maker_covers_every_request_type_and_defect():
    """The generator really writes what the fuzzer claims: every type, hostile escapes."""
    maker = FrameMaker(random.Random(7), _hall("ws://unused"))
    for kind in protocol.REQUESTS:
        good = maker.request(kind, hostile=False)
        assert protocol.decode(good)["type"] == kind
    hostile = [maker.request("report_fault", hostile=True) for _ in range(400)]
    for needle in ("\\ud800", "\\u0000", "1e999", "123456789012345678901234567890"):
        assert any(needle in frame for frame in hostile), needle
    for frame in hostile:
        with pytest.raises(protocol.ProtocolError):
            protocol.parse_request(protocol.decode(frame))


def test_hellos_carry_a_resume_of_every_shape():
    """Own, spoiled and other devices' tickets and values of every JSON type:
    none of them makes a hello that is otherwise good invalid."""
    maker = FrameMaker(random.Random(11), _hall("ws://unused"))
    mine, theirs = "r1.1800000000." + "A" * 43, "r1.1800000000." + "B" * 43
    maker.resumes = {"kiosk-1": mine, "board-1": theirs}
    hellos = [protocol.decode(maker.hello("kiosk-1", hostile=False)) for _ in range(400)]
    resumes = [h["resume"] for h in hellos if "resume" in h]
    assert {type(r).__name__ for r in resumes} == {
        "str", "int", "float", "bool", "NoneType", "list", "dict"}
    texts = {r for r in resumes if isinstance(r, str)}
    assert {mine, theirs} <= texts
    assert any(t != mine and t.startswith("r1.18") and len(t) == len(mine) for t in texts)
    for hello in hellos:
        assert protocol.parse_hello(hello)["device"] == "kiosk-1"
    hostile = [maker.hello("kiosk-1", hostile=True) for _ in range(400)]
    assert any('"resume":"\\ud' in frame or '"resume":"\\u00' in frame for frame in hostile)


@settings(max_examples=RUNS, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_generated_frames(served, seed):
    # Hypothesis picks the seeds (and reports the failing one); the frames
    # come from FrameMaker's own choices, thousands per run.
    fuzzer = Fuzzer(_hall(served.url, remote=True), random.Random(seed))
    outcome = fuzzer.run(FRAMES // RUNS, batch=100)
    assert outcome.failures == []
    assert outcome.refused > outcome.accepted > 0
    # Kiosk requeues of remote tickets' codes took the arrival path.
    assert outcome.arrivals > 0
    assert "Traceback" not in served.output()


def test_console_frames_are_refused_and_change_nothing(served):
    """config / config_edit / config_undo / assign on /console/ws as raw JSON
    text from a logged-in admin: every hostile frame an error reply on a
    connection that stays open, the configuration version, the audit log
    and the hall's snapshot unchanged by a hostile batch."""
    port = int(served.url.split(":")[2].split("/")[0])
    session = console_session(port, "s005", PASSWORD, ("gjj", "tax", "bdc"), (1, 2, 3, 4))
    watcher = Fuzzer(_hall(served.url), random.Random(0))
    fuzzer = ConsoleFuzzer(session, random.Random(20), watcher.digest)
    outcome = fuzzer.run(CONSOLE_FRAMES, batch=100)
    assert outcome.failures == []
    # Mixed batches' valid edits and assignments went through too.
    assert outcome.refused > outcome.accepted > 0
    assert "Traceback" not in served.output()
