"""The process-wide guard in front of every Dataverse call: the circuit and the request window.

`DataverseClient._call` asks `admit()` once per call (refused: `DataverseCircuitOpenError`, no
request leaves), `pace()` before each request (waits while the window is full) and `record()`
after each answer or failure. The states live in `shared.domain.circuit`; the runtime builds
one guard per process and hands it to every Dataverse client it builds, so the webhook's inline
attempts and the sweeper see the same circuit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from shared.adapters.dataverse.errors import (
    DataverseCircuitOpenError,
    DataverseError,
    DataverseTransientError,
)
from shared.domain.circuit import Circuit, RequestWindow

log = logging.getLogger("shared.adapters.dataverse")


@dataclass
class DataverseGuard:
    circuit: Circuit
    window: RequestWindow
    sleep: Callable[[float], Awaitable[None]]

    def admit(self) -> bool:
        """Before a call: whether it is the half-open probe; raises when the circuit refuses."""
        ticket = self.circuit.acquire()
        if ticket is None:
            raise DataverseCircuitOpenError(self.circuit.retry_in())
        if ticket:
            log.info("dataverse circuit half-open: one probe call")
        return ticket

    def may_retry(self, probe: bool) -> bool:
        """An in-call retry goes only while the circuit is closed (a probe never retries)."""
        return not probe and self.circuit.state == "closed"

    async def pace(self) -> None:
        """Wait until the request window has room (Dataverse's 6,000 per 5 minutes)."""
        while (wait := self.window.reserve()) > 0:
            log.info("dataverse request window full: waiting %.1f s", wait)
            await self.sleep(wait)

    def record(self, status: int | None, retry_after: float | None = None) -> None:
        """After a request: `status` None for no answer (transport error, timeout, cancelled).
        A 5xx or no answer is a failure, a 429 opens at once; anything else proves Dataverse up."""
        if status is None or status >= 500 or status == 429:
            throttled = status == 429
            if self.circuit.failed(retry_after=retry_after, throttled=throttled):
                log.warning(
                    "dataverse circuit open for %.1f s (%s)",
                    self.circuit.retry_in(),
                    "throttled" if throttled else "consecutive failures",
                )
        else:
            if self.circuit.state != "closed":
                log.info("dataverse circuit closed: Dataverse answered")
            self.circuit.succeeded()

    def mark(self, error: DataverseError) -> DataverseError:
        """Say on a transient error whether the circuit is open after it (the outage's fault,
        not the event's: the inbox counts no attempt for it)."""
        if isinstance(error, DataverseTransientError):
            error.circuit_open = self.circuit.state != "closed"
        return error

    def released(self) -> None:
        self.circuit.released()
