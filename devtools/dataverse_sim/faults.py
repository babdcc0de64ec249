"""Injected faults: a status (throttling, server errors), a delay, or both, for matching calls."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from devtools.dataverse_sim.odata import (
    CODE_THROTTLED,
    CODE_UNAVAILABLE,
    CODE_UNEXPECTED,
    ODataError,
)


@dataclass
class Fault:
    status: int | None  # None: only slow the request down
    remaining: int
    retry_after: int | None
    delay_seconds: float
    path_regex: re.Pattern[str] | None
    method: str | None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method != method:
            return False
        return self.path_regex is None or self.path_regex.search(path) is not None

    def error(self) -> ODataError:
        assert self.status is not None
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        if self.status == 429:
            message = (
                "Number of requests exceeded the limit of 6000 over time window of 300 seconds."
            )
            return ODataError(429, CODE_THROTTLED, message, headers)
        code = CODE_UNEXPECTED if self.status == 500 else CODE_UNAVAILABLE
        return ODataError(self.status, code, "Injected fault (simulator).", headers)

    def describe(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "remaining": self.remaining,
            "retryAfter": self.retry_after,
            "delaySeconds": self.delay_seconds,
            "pathRegex": self.path_regex.pattern if self.path_regex else None,
            "method": self.method,
        }
