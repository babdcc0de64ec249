"""The health report behind GET /api/health: each dependency checked, nothing secret shown."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from shared.errors import BridgeError

CHECK_TIMEOUT_SECONDS = 5.0


@dataclass
class HealthReport:
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c["status"] != "fail" for c in self.checks.values())

    def body(self) -> dict[str, Any]:
        # "warn" (e.g. refresh token close to expiry) keeps 200 but is visible to monitoring.
        if not self.ok:
            status = "fail"
        elif any(c["status"] == "warn" for c in self.checks.values()):
            status = "warn"
        else:
            status = "ok"
        return {"status": status, "checks": self.checks}


async def check_health(
    ping_storage: Callable[[], Awaitable[None]],
    token_status: Callable[[], Awaitable[dict[str, Any]]],
) -> HealthReport:
    """`ping_storage` and `token_status` come from the composition root (tables, token manager)."""
    report = HealthReport()
    try:
        await asyncio.wait_for(ping_storage(), CHECK_TIMEOUT_SECONDS)
        report.checks["storage"] = {"status": "ok"}
    except (BridgeError, TimeoutError, OSError):
        report.checks["storage"] = {"status": "fail", "detail": "table storage unreachable"}
        return report
    try:
        # From the lease row only: /api/health never reads Key Vault or calls Kaizala.
        report.checks["kaizalaToken"] = await asyncio.wait_for(
            token_status(), CHECK_TIMEOUT_SECONDS
        )
    except (BridgeError, TimeoutError, OSError):
        report.checks["kaizalaToken"] = {"status": "warn", "detail": "token state unreadable"}
    return report
