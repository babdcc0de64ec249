"""The one retry policy, and the one Retry-After parser.

In the style of stripe-python's `_should_retry` / `_sleep_time_seconds`: a small frozen object
that answers two questions, so every loop that retries (the Kaizala transport, the Dataverse
client, the inbox sweeper's back-off) applies the same rules:

- bounded: `max_attempts` counts every try, the first included;
- full jitter: a wait is uniform in [0, min(max_delay, base_delay * 2**(n-1))], which spreads
  the retries of many instances hit by the same outage;
- Retry-After honoured: a server's wait replaces the back-off (capped, never shortened);
- POST retried only when provably not sent: a connection that never opened, or a 429 (the
  server refused the request unprocessed). A read timeout or 5xx after a POST may have acted.

Why not tenacity: each loop also reacts to answers that are not failures (a 308 move, a 401
that refreshes the token once, a 412 that re-reads): tenacity would need a custom `retry`
predicate and `wait` callback reading those outcomes, the same rules spread over callbacks plus
a dependency. The rules fit in this object, which is tested on its own.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRYABLE_STATUSES = frozenset({408, 500, 502, 503, 504})

_SYSTEM_RANDOM = random.SystemRandom()  # jitter only; not a security use of randomness


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None.

    None when absent or unusable (garbage, NaN, infinite): the caller falls back to its own
    back-off. A date in the past is a wait of 0. `now` is epoch seconds (the injected clock).
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        reference = datetime.now(UTC).timestamp() if now is None else now
        seconds = when.timestamp() - reference
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 120.0  # a longer server wait is the caller's (queue, sweeper)
    jitter: Callable[[], float] = field(default=_SYSTEM_RANDOM.random, compare=False)

    def should_retry(
        self,
        attempt: int,
        *,
        method: str = "GET",
        status: int | None = None,
        sent: bool = True,
    ) -> bool:
        """After try number `attempt` (1-based) failed, may the same request go again?

        `status` is the HTTP status, or None when no answer came (a transport error); `sent` is
        False only when the request provably never left (connect error, pool timeout).
        """
        if attempt >= self.max_attempts:
            return False
        if not sent or status == 429:
            return True
        if method.upper() not in IDEMPOTENT_METHODS:
            return False
        return status is None or status in RETRYABLE_STATUSES

    def backoff(self, attempt: int) -> float:
        """The jittered exponential wait after try number `attempt` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** max(0, attempt - 1))
        return self.jitter() * ceiling

    def sleep_time(self, attempt: int, retry_after: float | None = None) -> float:
        """How long to wait before the next try: the server's word if it gave one, else back-off."""
        if retry_after is not None and math.isfinite(retry_after):
            return min(max(0.0, retry_after), self.max_retry_after)
        return self.backoff(attempt)
