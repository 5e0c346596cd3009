"""How honest the estimates were: qhall's ETA against two baselines, same day.

For every ticket that was called, three estimates made at issue are set
against its real wait (called - issued):

* ``qhall``: the ETA printed on the ticket (``server/core/eta.py``);
* ``les``: last-to-enter-service delay, the wait of the last ticket of the
  same service to be called before this one was issued (0 before any call):
  the classic delay-history predictor (Ibrahim & Whitt);
* ``previous``: the estimator qhall printed before issue #17
  (``Hall.previous_eta_s``: people ahead over the counters open now, no clock).

Figures per estimator (:func:`accuracy`), error = estimate - wait:

* ``mae_min``, ``bias_min``: mean |error| and mean error, minutes (negative
  bias: too optimistic);
* ``mae_pct``, ``bias_pct``: the same as a percentage of the mean real wait;
* ``within_5min``: share (0..1) of tickets whose error is within +-5 minutes;
* ``mae_pct_5ahead``: MAE as a percentage of the mean wait, over the tickets
  with at least 5 people ahead at issue (where a range is worth planning on);
* ``mse``: mean squared error, minutes squared.

The same functions serve ``qhall report`` (printed ETA vs real wait from the
event log), with ``qhall`` as the only estimator.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["METHODS", "FIELDS", "Sample", "accuracy", "mean_wait_min", "compare"]

METHODS = ("qhall", "les", "previous")
FIELDS = ("mae_min", "bias_min", "mae_pct", "bias_pct", "within_5min", "mae_pct_5ahead", "mse")
_FIVE_MIN = 300.0


@dataclass(frozen=True)
class Sample:
    """One called ticket: its real wait, people ahead at issue, the estimates (s)."""

    wait_s: float
    ahead: int
    estimates: dict[str, float]


def accuracy(samples: Sequence[Sample], method: str) -> dict[str, float | None]:
    """The :data:`FIELDS` of one estimator over ``samples`` (None when undefined)."""
    pairs = [(s.estimates[method] - s.wait_s, s) for s in samples if method in s.estimates]
    out: dict[str, float | None] = dict.fromkeys(FIELDS)
    if not pairs:
        return out
    n = len(pairs)
    mean_wait = sum(s.wait_s for _e, s in pairs) / n
    mae = sum(abs(e) for e, _s in pairs) / n
    bias = sum(e for e, _s in pairs) / n
    out["mae_min"] = round(mae / 60, 3)
    out["bias_min"] = round(bias / 60, 3)
    out["mae_pct"] = _pct(mae, mean_wait)
    out["bias_pct"] = _pct(bias, mean_wait)
    out["within_5min"] = round(sum(1 for e, _s in pairs if abs(e) <= _FIVE_MIN) / n, 4)
    far = [(e, s) for e, s in pairs if s.ahead >= 5]
    if far:
        out["mae_pct_5ahead"] = _pct(sum(abs(e) for e, _s in far) / len(far),
                                     sum(s.wait_s for _e, s in far) / len(far))
    out["mse"] = round(sum((e / 60) ** 2 for e, _s in pairs) / n, 3)
    return out


def mean_wait_min(samples: Iterable[Sample]) -> float | None:
    waits = [s.wait_s for s in samples]
    return round(sum(waits) / len(waits) / 60, 3) if waits else None


def compare(samples: Sequence[Sample], methods: Sequence[str] = METHODS) -> dict[str, Any]:
    """``{"eta": {method: figures}, "mean_wait_min": m, "n": count}``."""
    return {"eta": {m: accuracy(samples, m) for m in methods},
            "mean_wait_min": mean_wait_min(samples), "n": len(samples)}


def _pct(value: float, of: float) -> float | None:
    if of <= 0 or math.isnan(of):
        return None
    return round(100 * value / of, 2)
