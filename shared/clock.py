"""The one clock: a callable returning epoch seconds, injected everywhere time matters.

Rows, tokens and back-off store epoch milliseconds; these helpers are the only conversions.
Nothing reads the wall clock except through a `Clock` passed in (the runtime's, or a test's).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]

wall: Clock = time.time  # the default; a constant, never reassigned (tests inject their own)


def now_ms(clock: Clock) -> int:
    """The clock's time in epoch milliseconds."""
    return int(clock() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def iso_seconds(ms: object) -> str | None:
    """`2026-01-01T00:00:00+00:00` (API answers, token status); None for no time (0, None)."""
    moment = _moment(ms)
    return None if moment is None else moment.isoformat(timespec="seconds")


def iso_z(ms: object) -> str | None:
    """`2026-01-01T00:00:00Z` (what Dynamics users read in a task); None for a non-time."""
    moment = _moment(ms)
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _moment(ms: object) -> datetime | None:
    if isinstance(ms, bool) or not isinstance(ms, int | float) or not ms:
        return None
    try:
        return from_ms(int(ms))
    except (OverflowError, OSError, ValueError):
        return None
