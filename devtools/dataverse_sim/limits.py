"""Service protection, as Dataverse applies it per user: concurrent requests and a request rate.

Off until set with `POST /_sim/limits`. While on, a Web API call past `maxConcurrent` requests
in flight, or past `perWindow` requests in the last `windowSeconds`, is answered 429
`0x80072322` with `Retry-After: retryAfter` (the real limits: 52 concurrent, 6,000 per 300 s).
Requests in flight are always counted, limits or not: `stats()` gives the peak, which tests and
the bench read to check a client's bounded concurrency.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LimitSpec:
    max_concurrent: int | None = None
    per_window: int | None = None
    window_seconds: float = 300.0
    retry_after: int = 5


class Limits:
    """In-flight requests and recent request times, behind one lock (the app runs threaded)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._spec = LimitSpec()
            self._in_flight = 0
            self._peak = 0
            self._recent: deque[float] = deque()
            self._refused = 0

    def set(self, spec: LimitSpec) -> None:
        with self._lock:
            self._spec = spec
            self._recent.clear()

    def enter(self) -> int | None:
        """A request arrives: None when admitted (count it in flight until `leave`), else the
        Retry-After of the 429 it gets (not counted in flight)."""
        now = time.monotonic()
        with self._lock:
            spec = self._spec
            window = self._recent
            while window and window[0] <= now - spec.window_seconds:
                window.popleft()
            over_rate = spec.per_window is not None and len(window) >= spec.per_window
            busy = spec.max_concurrent is not None and self._in_flight >= spec.max_concurrent
            if over_rate or busy:
                self._refused += 1
                return spec.retry_after
            window.append(now)
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            return None

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def clear_peak(self) -> None:
        with self._lock:
            self._peak = self._in_flight

    def stats(self) -> dict[str, Any]:
        with self._lock:
            spec = self._spec
            return {
                "inFlight": self._in_flight,
                "peakInFlight": self._peak,
                "limitRefused": self._refused,
                "limits": {
                    "maxConcurrent": spec.max_concurrent,
                    "perWindow": spec.per_window,
                    "windowSeconds": spec.window_seconds,
                    "retryAfter": spec.retry_after,
                },
            }
