"""A pool of spawned worker processes that start each round together."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

__all__ = ["barrier_pool"]


@contextlib.contextmanager
def barrier_pool(procs: int, init: Callable[[Any], None]) -> Iterator[ProcessPoolExecutor]:
    """``procs`` spawned processes; ``init(barrier)`` hands each the shared barrier
    (it can only be inherited), so the ``procs`` tasks of a round start at once."""
    ctx = mp.get_context("spawn")
    executor = ProcessPoolExecutor(procs, mp_context=ctx, initializer=init,
                                   initargs=(ctx.Barrier(procs),))
    try:
        yield executor
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
