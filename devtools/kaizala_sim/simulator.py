"""The running simulator: settings, tenant state, throttle, faults, call log and statistics.

`create_app()` puts one `Simulator` on `app.state.sim`; in-process tests may read it directly.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from devtools.kaizala_sim.clock import SimClock
from devtools.kaizala_sim.config import SimConfig
from devtools.kaizala_sim.delivery import Deliveries
from devtools.kaizala_sim.faults import Faults
from devtools.kaizala_sim.state import SimState
from devtools.kaizala_sim.throttle import Throttle

MAX_CALLS_KEPT = 20000  # the call log keeps the latest calls only


@dataclass
class Counters:
    calls_per_route: Counter[str] = field(default_factory=Counter)
    status_codes: Counter[int] = field(default_factory=Counter)
    pins_generated: int = 0
    refresh_tokens_issued: int = 0
    refresh_token_rotations: int = 0
    access_tokens_issued: int = 0
    redirects_308: int = 0


@dataclass
class Redirect:
    """A one-shot 308 to an arbitrary place, set through the control API."""

    location: str
    append_path: bool
    remaining: int


class Simulator:
    def __init__(
        self,
        config: SimConfig,
        clock: SimClock | None = None,
        max_calls_kept: int = MAX_CALLS_KEPT,
    ) -> None:
        self.startup_config = config.copy()
        self.config = config
        self.clock = clock or SimClock()
        self.state = SimState.seeded(self.now(), config.seed_sample)
        self.throttle = Throttle()
        self.faults = Faults()
        self.counters = Counters()
        self.calls: deque[dict[str, Any]] = deque(maxlen=max_calls_kept)
        self.call_seq = 0
        self.redirects: list[Redirect] = []
        self.deliveries = Deliveries(self)

    def now(self) -> float:
        """Epoch seconds on the simulator's clock (real time plus any `clock/advance`)."""
        return self.clock.now()

    def now_ms(self) -> int:
        return self.clock.now_ms()

    async def reset(self, keep_config: bool = False) -> None:
        await self.deliveries.cancel_all()
        if not keep_config:
            self.config = self.startup_config.copy()
        self.clock.reset()
        self.state = SimState.seeded(self.now(), self.config.seed_sample)
        self.throttle = Throttle()
        self.faults = Faults()
        self.counters = Counters()
        self.calls.clear()
        self.redirects.clear()
        self.deliveries.stats = type(self.deliveries.stats)()
        self.deliveries.log.clear()

    def record_call(
        self, method: str, path: str, route: str, status: int, body: dict[str, Any]
    ) -> None:
        """`body` is the call log's description of the request body (see call_log.py)."""
        self.call_seq += 1
        self.calls.append(
            {
                "seq": self.call_seq,
                "method": method,
                "path": path,
                "status": status,
                "ts": self.clock.real(),
                **body,
            }
        )
        self.counters.calls_per_route[f"{method} {route}"] += 1
        self.counters.status_codes[status] += 1

    def stats(self) -> dict[str, Any]:
        c = self.counters
        return {
            "callsPerRoute": dict(sorted(c.calls_per_route.items())),
            "statusCodes": {str(k): v for k, v in sorted(c.status_codes.items())},
            "throttle": {
                "windowSeconds": self.config.throttle_window_seconds,
                "connectorLimitPerWindow": self.config.connector_limit_per_window,
                "tenantLimitPerWindow": self.config.tenant_limit_per_window,
                **self.throttle.snapshot(self.config.throttle_window_seconds, self.now()),
            },
            "deliveries": {
                **self.deliveries.stats.public(),
                "inFlight": self.deliveries.in_flight,
            },
            "pinsGenerated": c.pins_generated,
            "refreshTokensIssued": c.refresh_tokens_issued,
            "refreshTokenRotations": c.refresh_token_rotations,
            "accessTokensIssued": c.access_tokens_issued,
            "redirects308": c.redirects_308,
            "faultsInjected": self.faults.injected,
        }
