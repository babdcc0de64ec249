"""The Dataverse circuit breaker and request window: pure state machines on an injected clock.

One of each per process (built by `shared.runtime`), shared by the webhook's inline attempt and
the `process_inbox` drain, so that while Dataverse is failing no caller keeps knocking:

- `Circuit`: closed (calls go) → open after `failures` consecutive transient failures (5xx,
  timeouts, connection errors, a caller cancelling a call that hung) or at once on a 429, for
  `open_seconds`, or for a 429's whole Retry-After when longer → half-open once that time has
  passed: ONE probe call goes, its success closes the circuit, its failure opens it again.
  An answer that is not a transient failure (2xx, 404, 412, 400) proves Dataverse is up.
- `RequestWindow`: a sliding-window log of request times, at most `limit` per `window` seconds
  (Dataverse's service protection: 6,000 per 5 minutes per user; the bridge keeps under it).

No I/O and no sleeping here: the Dataverse adapter asks, then waits or refuses.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half-open"]

DEFAULT_FAILURES = 5
DEFAULT_OPEN_SECONDS = 5.0
WINDOW_LIMIT = 5400  # 90 % of 6,000: headroom for the operator's and other tools' calls
WINDOW_SECONDS = 300.0


class Circuit:
    """Closed, open or half-open; see the module doc. `clock` returns seconds (any epoch)."""

    def __init__(
        self,
        failures: int = DEFAULT_FAILURES,
        open_seconds: float = DEFAULT_OPEN_SECONDS,
        *,
        clock: Callable[[], float],
    ) -> None:
        if failures < 1 or not open_seconds > 0:
            raise ValueError("failures >= 1 and open_seconds > 0")
        self._failures = failures
        self._open_seconds = open_seconds
        self._clock = clock
        self._consecutive = 0
        self._open_until: float | None = None  # None: closed
        self._probing = False  # half-open with the probe in flight
        self.opened = 0  # how many times it opened (logs, the bench)
        self.throttled = False  # the last opening was a 429 (not an outage)

    @property
    def state(self) -> State:
        if self._open_until is None:
            return "closed"
        return "half-open" if self._clock() >= self._open_until else "open"

    def blocked(self) -> bool:
        """True when a call now would be refused (open, or half-open with its probe out).
        Asking does not take the probe: callers that can skip the call (the webhook) ask this."""
        state = self.state
        return state == "open" or (state == "half-open" and self._probing)

    def retry_in(self) -> float:
        """Seconds until a probe may go (0 when closed or half-open)."""
        if self._open_until is None:
            return 0.0
        return max(0.0, self._open_until - self._clock())

    def acquire(self) -> bool | None:
        """Before a call: None when refused, else whether this call is the half-open probe."""
        state = self.state
        if state == "closed":
            return False
        if state == "open" or self._probing:
            return None
        self._probing = True
        return True

    def succeeded(self) -> None:
        """Dataverse answered (anything but a transient failure): closed, count reset. While
        open, an answer to a call sent before it opened closes nothing: after a 429 the whole
        Retry-After is waited, whatever the calls already on their way brought back."""
        self._consecutive = 0
        if self.state == "open":
            return
        self._open_until = None
        self._probing = False

    def failed(self, *, retry_after: float | None = None, throttled: bool = False) -> bool:
        """A transient failure; a 429 (`throttled`) opens at once for at least `retry_after`.
        True when this failure opened (or reopened) the circuit."""
        self._consecutive += 1
        half_open = self._probing or self.state == "half-open"
        self._probing = False
        if not (throttled or half_open or self._consecutive >= self._failures):
            return False
        wait = self._open_seconds
        if throttled and retry_after is not None and math.isfinite(retry_after):
            wait = max(retry_after, 0.001)  # Retry-After honoured whole, neither cut nor padded
        until = self._clock() + wait
        if self._open_until is None or half_open or until > self._open_until:
            self._open_until = until
            self.throttled = throttled
        self.opened += 1
        return True

    def released(self) -> None:
        """A probe that ended without an answer either way (a bug, not Dataverse): let the
        next caller probe instead of blocking forever."""
        self._probing = False


class RequestWindow:
    """At most `limit` requests in any `window` seconds (sliding-window log)."""

    def __init__(
        self,
        limit: int = WINDOW_LIMIT,
        window: float = WINDOW_SECONDS,
        *,
        clock: Callable[[], float],
    ) -> None:
        if limit < 1 or not window > 0:
            raise ValueError("limit >= 1 and window > 0")
        self._limit = limit
        self._window = window
        self._clock = clock
        self._sent: deque[float] = deque()

    def reserve(self) -> float:
        """Take a slot now and return 0, or return the seconds to wait before asking again."""
        now = self._clock()
        while self._sent and self._sent[0] <= now - self._window:
            self._sent.popleft()
        if len(self._sent) < self._limit:
            self._sent.append(now)
            return 0.0
        return max(self._sent[0] + self._window - now, 0.001)

    def full(self) -> bool:
        """Whether a request now would have to wait (nothing is reserved)."""
        now = self._clock()
        return sum(1 for t in self._sent if t > now - self._window) >= self._limit

    def in_window(self) -> int:
        now = self._clock()
        return sum(1 for t in self._sent if t > now - self._window)
