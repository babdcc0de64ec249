"""A process-wide sliding-window rate limiter for Kaizala calls.

Kaizala allows 100 calls/min per connector; going over costs a 429 and a wait of up to a
minute, so the process stays under its budget instead of discovering the limit. A sliding log
(not a fixed window) is used because a fixed window lets 2N calls through across a boundary.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """At most `calls` acquisitions in any `window` seconds, plus a shared pause (429)."""

    def __init__(
        self,
        calls: int,
        window: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if calls < 1:
            raise ValueError("calls must be at least 1")
        if window <= 0:
            raise ValueError("window must be positive")
        self.calls = calls
        self.window = float(window)
        self._clock = clock
        self._sleep = sleep
        self._stamps: deque[float] = deque()
        self._paused_until = float("-inf")
        # Waiters queue on the lock, so they are served in arrival order (no starvation).
        self._lock = asyncio.Lock()

    @property
    def paused_until(self) -> float | None:
        """The clock time until which everyone waits, or None when not paused."""
        return self._paused_until if self._paused_until > self._clock() else None

    def _delay(self, now: float) -> float:
        horizon = now - self.window
        while self._stamps and self._stamps[0] <= horizon:
            self._stamps.popleft()
        if now < self._paused_until:
            return self._paused_until - now
        if len(self._stamps) < self.calls:
            return 0.0
        return self._stamps[0] + self.window - now

    def try_acquire(self) -> bool:
        """Take a slot now if one is free; never waits, never jumps the queue."""
        if self._lock.locked():
            return False
        now = self._clock()
        if self._delay(now) > 0:
            return False
        self._stamps.append(now)
        return True

    async def acquire(self) -> None:
        """Wait for a slot (and for any pause to end), then take it."""
        async with self._lock:
            while True:
                now = self._clock()
                delay = self._delay(now)
                if delay <= 0:
                    self._stamps.append(now)
                    return
                await self._sleep(delay)

    def pause_until(self, when: float) -> None:
        """Hold every caller until clock time `when`; an earlier pause never shortens one."""
        self._paused_until = max(self._paused_until, when)

    def pause_for(self, seconds: float) -> None:
        self.pause_until(self._clock() + max(0.0, seconds))
