"""The load tools' work directory: ``--keep DIR`` stays, a temporary one goes."""

from __future__ import annotations

import contextlib
from pathlib import Path

from server.tools.workdir import workdir


def test_a_kept_directory_is_made_and_left_in_place(tmp_path: Path) -> None:
    keep = tmp_path / "runs" / "city"
    with contextlib.ExitStack() as stack:
        path = workdir(stack, str(keep), "qhall-test-")
        (path / "hall.db").write_text("x")
    assert path == keep and (keep / "hall.db").read_text() == "x"


def test_without_keep_a_temporary_directory_goes_with_the_stack() -> None:
    with contextlib.ExitStack() as stack:
        path = workdir(stack, None, "qhall-test-")
        assert path.is_dir() and path.name.startswith("qhall-test-")
        (path / "server.log").write_text("x")
    assert not path.exists()
