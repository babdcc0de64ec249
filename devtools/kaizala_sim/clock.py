"""The simulator's one clock: epoch seconds that follow real time, moved on by
`POST /_sim/clock/advance`, and frozen by `POST /_sim/clock/freeze` so a test can step it exactly.

Token, PIN and webhook expiries and the throttle windows read it. It follows the monotonic
clock (anchored to the wall clock once), so a wall-clock step never shortens a window.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Ticks = Callable[[], float]


class SimClock:
    def __init__(self, wall: Ticks = time.time, ticks: Ticks = time.monotonic) -> None:
        self._wall = wall
        self._ticks = ticks
        self._epoch_at_tick_zero = wall() - ticks()
        self.offset = 0.0  # seconds added by `advance` (and taken off by a freeze, see resume)
        self._frozen_at: float | None = None  # the tick the clock stopped at

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def now(self) -> float:
        """Epoch seconds on the simulator's clock."""
        tick = self._ticks() if self._frozen_at is None else self._frozen_at
        return self._epoch_at_tick_zero + tick + self.offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def real(self) -> float:
        """The machine's epoch seconds, for timestamps a client compares with its own clock
        (the call and delivery logs)."""
        return self._wall()

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def freeze(self) -> None:
        """Stop following real time; only `advance` moves the clock until `resume`."""
        if self._frozen_at is None:
            self._frozen_at = self._ticks()

    def reset(self) -> None:
        """Back to real time, as at start-up."""
        self.offset = 0.0
        self._frozen_at = None

    def resume(self) -> None:
        """Follow real time again from where the clock stood: frozen time is not made up."""
        if self._frozen_at is not None:
            self.offset -= self._ticks() - self._frozen_at
            self._frozen_at = None
