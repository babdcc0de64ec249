"""The sliding-window limiter: budget per window, pause, fairness, concurrency."""

from __future__ import annotations

import asyncio
import time as real_time
from collections import deque

import httpx
import pytest

from shared.adapters.kaizala import RateLimiter
from tests.kaizala_client.fakes import GROUP, FakeKaizala, FakeTime, make_client, reply


def max_in_any_window(stamps: list[float], window: float) -> int:
    """The largest number of stamps inside any half-open window [t, t + window)."""
    ordered = sorted(stamps)
    return max(sum(1 for s in ordered if start <= s < start + window) for start in ordered)


async def test_keeps_at_most_n_per_window_with_a_fake_clock() -> None:
    time = FakeTime()
    limiter = RateLimiter(3, 10, clock=time.clock, sleep=time.sleep)
    stamps = []

    for _ in range(8):
        await limiter.acquire()
        stamps.append(time.now)

    assert stamps == [0, 0, 0, 10, 10, 10, 20, 20]
    assert max_in_any_window(stamps, 10) == 3


async def test_sliding_not_fixed_window() -> None:
    # Calls at 0, 5, 9 (N=3, W=10): the 4th may go at 10 (the 0 expired), the 5th only at 15.
    time = FakeTime()
    limiter = RateLimiter(3, 10, clock=time.clock, sleep=time.sleep)
    stamps = []
    for at in (0, 5, 9, 9, 9):
        time.now = max(time.now, at)
        await limiter.acquire()
        stamps.append(time.now)

    assert stamps == [0, 5, 9, 10, 15]


def test_try_acquire_never_waits() -> None:
    time = FakeTime()
    limiter = RateLimiter(2, 1, clock=time.clock, sleep=time.sleep)

    assert [limiter.try_acquire() for _ in range(3)] == [True, True, False]
    time.now = 0.999
    assert limiter.try_acquire() is False
    time.now = 1.0
    assert limiter.try_acquire() is True


async def test_pause_holds_everyone_until_the_given_time() -> None:
    time = FakeTime()
    limiter = RateLimiter(100, 60, clock=time.clock, sleep=time.sleep)

    limiter.pause_for(30)
    assert limiter.paused_until == 30
    assert limiter.try_acquire() is False
    limiter.pause_until(10)  # an earlier pause never shortens the current one
    await limiter.acquire()

    assert time.now == 30
    assert limiter.paused_until is None
    assert limiter.try_acquire() is True


async def test_concurrent_waiters_share_the_budget_with_a_fake_clock() -> None:
    time = FakeTime()
    limiter = RateLimiter(2, 1, clock=time.clock, sleep=time.sleep)
    stamps: list[float] = []

    async def worker() -> None:
        await limiter.acquire()
        stamps.append(time.now)

    await asyncio.gather(*(worker() for _ in range(9)))

    assert len(stamps) == 9
    assert max_in_any_window(stamps, 1) == 2
    assert stamps == sorted(stamps)  # served in arrival order
    assert time.now == 4  # and no later than necessary


async def test_concurrent_waiters_with_the_real_clock() -> None:
    calls, window = 4, 0.15
    limiter = RateLimiter(calls, window)
    taken: list[float] = []

    class Recording(deque[float]):
        # The limiter's own acquisition times: exact, unlike a timestamp taken after the wake-up.
        def append(self, value: float) -> None:
            taken.append(value)
            super().append(value)

    limiter._stamps = Recording()
    started = real_time.monotonic()

    # No deadline of our own: a hang is caught by the suite's timeout, not by a guess at speed.
    await asyncio.gather(*(limiter.acquire() for _ in range(12)))

    assert len(taken) == 12
    # Any `calls + 1` consecutive acquisitions span at least one whole window.
    assert min(taken[i + calls] - taken[i] for i in range(len(taken) - calls)) >= window
    assert taken[-1] - started >= 2 * window


async def test_a_cancelled_waiter_does_not_block_the_others() -> None:
    time = FakeTime()
    gate = asyncio.Event()

    async def slow_sleep(seconds: float) -> None:
        await gate.wait()
        await time.sleep(seconds)

    limiter = RateLimiter(1, 5, clock=time.clock, sleep=slow_sleep)
    await limiter.acquire()
    blocked = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked

    gate.set()
    await limiter.acquire()  # would hang (the suite's timeout) if the cancelled one held on
    assert time.now == 5


async def test_try_acquire_does_not_jump_the_queue() -> None:
    time = FakeTime()
    gate = asyncio.Event()

    async def held_sleep(seconds: float) -> None:
        await gate.wait()
        await time.sleep(seconds)

    limiter = RateLimiter(1, 5, clock=time.clock, sleep=held_sleep)
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    time.now = 5  # a slot is free again, but a waiter was first

    assert limiter.try_acquire() is False
    gate.set()
    await waiter


@pytest.mark.parametrize(("calls", "window"), [(0, 1), (1, 0), (1, -1)])
def test_invalid_configuration(calls: int, window: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        RateLimiter(calls, window)


async def test_every_client_call_goes_through_the_limiter() -> None:
    time = FakeTime()
    limiter = RateLimiter(5, 60, clock=time.clock, sleep=time.sleep)
    kaizala = FakeKaizala(lambda request: reply(200, {"referenceId": "r"}), time=time)
    client = make_client(kaizala, time=time, limiter=limiter)

    await asyncio.gather(*(client.send_message(GROUP, f"m{i}") for i in range(12)))

    assert len(kaizala.requests) == 12
    assert max_in_any_window(kaizala.times, 60) == 5
    assert sorted(kaizala.times) == [0] * 5 + [60] * 5 + [120] * 2


async def test_retries_also_go_through_the_limiter() -> None:
    time = FakeTime()
    limiter = RateLimiter(1, 10, clock=time.clock, sleep=time.sleep)
    kaizala = FakeKaizala([httpx.ConnectError("x"), reply(200, [])], time=time)
    client = make_client(kaizala, time=time, limiter=limiter, backoff_base=0.5)

    await client.list_groups()

    assert kaizala.times == [0, 10]  # back-off 0.5 s, then the window still had to pass
