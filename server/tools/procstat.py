"""What Linux's /proc says of a process: its CPU time and resident memory.

One reader for the load tools and benchmarks (``qhall loadtest --halls``,
``bench.wire``, ``bench.abuse``, ``bench.phone``), which measure a server
they started as a child process.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cpu_times", "cpu_s", "rss_mb"]


def cpu_times(pid: int) -> tuple[float, float]:
    """CPU seconds a process has used so far: (user, system)."""
    # The command name (field 2) may hold spaces or ")": split after its last ")".
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    user, system = cpu_times(pid)
    return user + system


def rss_mb(pid: int, missing: float | None = None) -> float:
    """A process's resident memory in MB; ``missing`` when /proc shows none
    (a process that has exited but is not reaped yet), else LookupError."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    if missing is None:
        raise LookupError(f"no VmRSS for process {pid} in /proc")
    return missing
