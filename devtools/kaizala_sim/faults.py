"""Injected failures and slow answers, for testing a client's retry and timeout handling."""

from __future__ import annotations

import re
from typing import Any

from devtools.kaizala_sim.errors import bad_request, get_ci
from devtools.kaizala_sim.models import Fault
from devtools.kaizala_sim.state import new_id

FAULT_STATUSES = (429, 500, 502, 503)


class Faults:
    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.injected = 0

    def add(self, body: dict[str, Any]) -> Fault:
        pattern = get_ci(body, "pathRegex")
        if not isinstance(pattern, str) or not pattern:
            raise bad_request("pathRegex must be a non-empty regular expression")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise bad_request(f"pathRegex does not compile: {exc}") from None
        status = get_ci(body, "status")
        delay = get_ci(body, "delaySeconds") or 0
        if status is not None and status not in FAULT_STATUSES:
            raise bad_request(f"status must be one of {FAULT_STATUSES}")
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= 300:
            raise bad_request("delaySeconds must be a number of seconds between 0 and 300")
        if status is None and not delay:
            raise bad_request("give a status, a delaySeconds, or both")
        count = get_ci(body, "count")
        count = 1 if count is None else count
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise bad_request("count must be a positive integer")
        retry_after = get_ci(body, "retryAfter")
        if retry_after is not None and (
            isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 0
        ):
            raise bad_request("retryAfter must be a whole number of seconds")
        method = get_ci(body, "method")
        if method is not None and not isinstance(method, str):
            raise bad_request("method must be a string")
        fault = Fault(
            new_id(),
            pattern,
            status,
            count,
            retry_after,
            float(delay),
            method.upper() if method else None,
        )
        self.faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching this call, consuming one of its uses."""
        for fault in self.faults:
            if fault.method not in (None, method) or not re.search(fault.path_regex, path):
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self.faults.remove(fault)
            self.injected += 1
            return fault
        return None

    def clear(self) -> int:
        removed = len(self.faults)
        self.faults.clear()
        return removed

    def public(self) -> list[dict[str, Any]]:
        return [
            {
                "id": f.fault_id,
                "pathRegex": f.path_regex,
                "status": f.status,
                "remaining": f.remaining,
                "retryAfter": f.retry_after,
                "delaySeconds": f.delay_seconds,
                "method": f.method,
            }
            for f in self.faults
        ]
