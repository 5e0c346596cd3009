"""Waiting on a running ``qhall demo`` from outside: its /metrics page."""

from __future__ import annotations

import re
import time
import urllib.request

__all__ = ["metric", "wait_for_metric"]


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text page (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(r"([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = ",".join(sorted(p for p in (m.group(2) or "").split(",") if p))
        if got == want:
            return float(m.group(3))
    return 0.0


def wait_for_metric(metrics_url: str, name: str, at_least: float, timeout: float = 60.0,
                    **labels: str) -> float:
    """Poll ``metrics_url`` until the sample reaches ``at_least``; its value."""
    deadline = time.monotonic() + timeout
    value = 0.0
    while True:
        with urllib.request.urlopen(metrics_url, timeout=10) as resp:
            value = metric(resp.read().decode("utf-8"), name, **labels)
        if value >= at_least:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}{labels} stayed at {value} < {at_least}")
        time.sleep(0.1)
