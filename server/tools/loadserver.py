"""A load run's server side: its hall config, ``qhall serve`` process, port.

Also the percentile the load tools print.

Shared by ``qhall loadtest`` (one hall, :mod:`server.tools.loadtest`), its
city mode (:mod:`server.tools.city`) and ``qhall chaos``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from server.config import HallConfig
from server.reference import demo_config

__all__ = ["free_port", "loadtest_config", "percentile", "start_server", "stop_server"]


def loadtest_config(database: str) -> HallConfig:
    """The demo hall with every service always open and no daily quota."""
    cfg = demo_config(database)
    services = tuple(dataclasses.replace(s, hours=(), daily_quota=None) for s in cfg.services)
    return dataclasses.replace(cfg, services=services)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(config: Path | list[str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """``python -m server serve`` on ``port``; returns once /healthz answers.

    ``config``: the hall's config file, or the serve arguments naming the
    halls (``["--config-dir", DIR]``).
    """
    config_args = ["--config", str(config)] if isinstance(config, Path) else config
    log = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", *config_args,
         "--port", str(port), "--no-limits", "--quiet-requests",
         "--log-level", "WARNING"],
        stdout=log, stderr=subprocess.STDOUT, cwd=os.getcwd(),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.close()
            raise RuntimeError(f"the server exited ({proc.returncode}): "
                               + log_path.read_text(errors="replace")[-2000:])
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    log.close()
                    return proc
        time.sleep(0.1)
    proc.kill()
    log.close()
    raise RuntimeError("the server did not answer /healthz within 60 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))]
