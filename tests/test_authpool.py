"""The token cache and the bounded auth pool (server/authpool.py)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from server.auth import hash_secret
from server.authpool import AuthPool, PoolBusy, SecretCheck, TokenCache, check_weight

HASH = hash_secret("right", n=2**8)
FULL = hash_secret("right")  # the default cost: one unit of pool work


def test_token_cache_knows_only_the_exact_token_device_and_hash():
    cache = TokenCache()
    assert not cache.known("kiosk-1", HASH, "right")
    cache.remember("kiosk-1", HASH, "right")
    assert cache.known("kiosk-1", HASH, "right")
    assert not cache.known("kiosk-1", HASH, "wrong")  # a changed token still fails
    assert not cache.known("kiosk-1", hash_secret("right", n=2**8), "right")  # new hash
    assert not cache.known("kiosk-2", HASH, "right")
    cache.forget("kiosk-1")
    assert not cache.known("kiosk-1", HASH, "right")


def test_token_cache_keeps_no_token_and_is_bounded():
    cache = TokenCache(max_entries=3)
    for i in range(5):
        cache.remember(f"d{i}", HASH, f"secret-{i}")
    assert len(cache) == 3
    assert not cache.known("d0", HASH, "secret-0")  # oldest forgotten
    assert cache.known("d4", HASH, "secret-4")
    stored = b"".join(cache._known.values())
    assert b"secret" not in stored
    # Another process (another key) cannot reuse these entries.
    other = TokenCache()
    other._known = dict(cache._known)
    assert not other.known("d4", HASH, "secret-4")


def test_pool_verifies_off_the_loop():
    pool = AuthPool(workers=1, queue=0)
    loop_thread: list[int] = []
    worker_thread: list[int] = []

    def verify(secret: str, hashed: str) -> bool:
        worker_thread.append(threading.get_ident())
        return secret == "right"

    pool._verify = verify

    async def main() -> tuple[bool, bool]:
        loop_thread.append(threading.get_ident())
        return await pool.verify("right", HASH), await pool.verify("wrong", HASH)

    assert asyncio.run(main()) == (True, False)
    assert worker_thread and loop_thread[0] not in worker_thread
    assert (pool.checked, pool.refused, pool.in_flight) == (2, 0, 0)
    pool.close()


def test_pool_refuses_at_once_what_does_not_fit_and_frees_places():
    release = threading.Event()
    started = threading.Semaphore(0)

    def slow(secret: str, hashed: str) -> bool:
        started.release()
        release.wait(10)
        return True

    pool = AuthPool(workers=1, queue=2, verify=slow)

    async def main() -> None:
        running = [asyncio.ensure_future(pool.verify("s", FULL)) for _ in range(3)]
        await asyncio.sleep(0)  # let the three submit
        assert pool.in_flight == 3
        with pytest.raises(PoolBusy):
            await pool.verify("s", FULL)  # refused without waiting
        assert pool.refused == 1
        release.set()
        assert await asyncio.gather(*running) == [True, True, True]
        while pool.in_flight:  # places are freed by the worker's completion
            await asyncio.sleep(0)
        assert await pool.verify("s", FULL) is True

    asyncio.run(main())
    pool.close()


def test_a_cancelled_waiter_keeps_its_place_until_the_check_ends():
    release = threading.Event()

    def slow(secret: str, hashed: str) -> bool:
        release.wait(10)
        return True

    pool = AuthPool(workers=1, queue=0, verify=slow)

    async def main() -> None:
        task = asyncio.ensure_future(pool.verify("s", FULL))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(PoolBusy):  # the thread is still busy with it
            await pool.verify("s", FULL)
        release.set()
        while pool.in_flight:
            await asyncio.sleep(0)
        assert await pool.verify("s", FULL) is True

    asyncio.run(main())
    pool.close()


def test_secret_check_runs_inline_for_tools():
    check = SecretCheck("right", HASH, lambda ok: "in" if ok else "out")
    assert check.run_inline() == "in"
    assert SecretCheck("wrong", HASH, lambda ok: ok).run_inline() is False


def test_a_pool_sharing_threads_has_its_own_admission_bound():
    release = threading.Event()

    def slow(secret: str, hashed: str) -> bool:
        release.wait(10)
        return True

    hellos = AuthPool(workers=1, queue=0, verify=slow)
    logins = AuthPool(queue=3, verify=slow, share=hellos)

    async def main() -> None:
        first = asyncio.ensure_future(hellos.verify("s", FULL))
        await asyncio.sleep(0)
        with pytest.raises(PoolBusy):
            await hellos.verify("s", FULL)  # hellos are full ...
        queued = [asyncio.ensure_future(logins.verify("s", FULL)) for _ in range(4)]
        await asyncio.sleep(0)
        assert logins.in_flight == 4  # ... logins still have their own places
        with pytest.raises(PoolBusy):
            await logins.verify("s", FULL)
        release.set()
        assert await asyncio.gather(first, *queued) == [True] * 5

    asyncio.run(main())
    logins.close()  # does not own the threads
    assert not hellos._executor._shutdown
    hellos.close()


def test_cheap_hashes_weigh_less():
    assert check_weight(FULL) == 1.0
    assert check_weight(HASH) == 1 / 64
    assert check_weight("not a hash") == 1.0
    release = threading.Event()

    def slow(secret: str, hashed: str) -> bool:
        release.wait(10)
        return True

    pool = AuthPool(workers=1, queue=1, verify=slow)

    async def main() -> None:
        cheap = [asyncio.ensure_future(pool.verify("s", HASH)) for _ in range(100)]
        await asyncio.sleep(0)
        assert pool.in_flight == 100  # 100/64 of a default check: fits in 2
        with pytest.raises(PoolBusy):
            await pool.verify("s", FULL)
        release.set()
        assert all(await asyncio.gather(*cheap))

    asyncio.run(main())
    pool.close()


def test_a_closed_pool_refuses_as_busy_and_holds_no_place():
    # A hall's server steps down (its pool closes) while a hello waits to be checked.
    pool = AuthPool(workers=1, queue=0)
    pool.close()

    async def main() -> None:
        with pytest.raises(PoolBusy, match="closed"):
            await pool.verify("right", HASH)

    asyncio.run(main())
    assert (pool.refused, pool.in_flight, pool.load) == (1, 0, 0.0)
