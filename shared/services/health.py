"""The health report: GET /api/health shows its status, GET /api/manage/health every check.

Nothing secret is shown in either; the token dates are only in the admin answer.
"""

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

    @property
    def status(self) -> str:
        # "warn" (e.g. refresh token close to expiry) keeps 200 but is visible to monitoring.
        if not self.ok:
            return "fail"
        if any(c["status"] == "warn" for c in self.checks.values()):
            return "warn"
        return "ok"

    def summary(self) -> dict[str, Any]:
        """The anonymous answer: the overall status only (token dates stay behind a key)."""
        return {"status": self.status}

    def body(self) -> dict[str, Any]:
        """The full report, for the admin route: every check with its details."""
        return {"status": self.status, "checks": self.checks}


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
