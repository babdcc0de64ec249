"""Sliding-window rate limits: per connector and per tenant (all connectors of one tenant).

A call is admitted when both windows have room; rejected calls are not counted, so a client
that waits `Retry-After` seconds gets through. The maximum number of admitted calls seen in any
window is kept so tests can prove a client never exceeded its budget.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ThrottleStats:
    throttled: int = 0
    max_per_connector: dict[str, int] = field(default_factory=dict)
    max_per_tenant: dict[str, int] = field(default_factory=dict)
    admitted_per_connector: dict[str, int] = field(default_factory=dict)


class Throttle:
    def __init__(self) -> None:
        self._connector_calls: dict[str, deque[float]] = {}
        self._tenant_calls: dict[str, deque[float]] = {}
        self.stats = ThrottleStats()

    def admit(
        self,
        application_id: str,
        tenant_id: str,
        window: float,
        connector_limit: int,
        tenant_limit: int,
        now: float,
    ) -> int | None:
        """None when the call may proceed, else the whole seconds to wait (>= 1); `now` is the
        simulator's clock, so a frozen or advanced clock moves the windows too."""
        mine = self._connector_calls.setdefault(application_id, deque())
        tenant = self._tenant_calls.setdefault(tenant_id, deque())
        for calls in (mine, tenant):
            while calls and calls[0] <= now - window:
                calls.popleft()
        waits = [
            calls[-limit] + window - now
            for calls, limit in ((mine, connector_limit), (tenant, tenant_limit))
            if len(calls) >= limit
        ]
        if waits:
            self.stats.throttled += 1
            return max(1, math.ceil(max(waits)))
        mine.append(now)
        tenant.append(now)
        s = self.stats
        s.max_per_connector[application_id] = max(
            s.max_per_connector.get(application_id, 0), len(mine)
        )
        s.max_per_tenant[tenant_id] = max(s.max_per_tenant.get(tenant_id, 0), len(tenant))
        s.admitted_per_connector[application_id] = (
            s.admitted_per_connector.get(application_id, 0) + 1
        )
        return None

    def snapshot(self, window: float, now: float) -> dict[str, Any]:
        current = {
            app_id: sum(1 for t in calls if t > now - window)
            for app_id, calls in self._connector_calls.items()
        }
        return {
            "throttled429": self.stats.throttled,
            "maxCallsPerWindowByConnector": dict(self.stats.max_per_connector),
            "maxCallsPerWindowByTenant": dict(self.stats.max_per_tenant),
            "admittedCallsByConnector": dict(self.stats.admitted_per_connector),
            "callsInCurrentWindowByConnector": current,
        }
