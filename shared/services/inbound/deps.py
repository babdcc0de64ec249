"""What the inbound services need, built once per process by the runtime (`Runtime.inbound`)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from shared.adapters.dataverse import DataverseClient
from shared.adapters.retry import RetryPolicy
from shared.clock import Clock, now_ms, wall
from shared.config import Settings
from shared.domain.circuit import Circuit, RequestWindow
from shared.logsafe import log_value
from shared.services.callback_tokens import CallbackTokens
from shared.services.flow_subscriptions import FlowResponses
from shared.stores.correlations import CorrelationStore
from shared.stores.groups import GroupStore
from shared.stores.inbox import InboxStore
from shared.stores.summary_due import SummaryDueStore

INLINE_BUDGET_SECONDS = 4.0  # Kaizala waits for the answer; the rest belongs to the sweeper
EVENT_TIMEOUT_SECONDS = 60.0  # one event in the sweeper: Dataverse retry and the writes
BACKOFF_BASE_SECONDS = 30.0
BACKOFF_MAX_SECONDS = 3600.0
EXPIRY_INTERVAL_SECONDS = 3600.0
# The debounce of an action's summary note: a response marks it due at the end of the next
# window of half this many seconds, so it is written 15-30 s after (then the sweep), at most once
# per window.
SUMMARY_DELAY_SECONDS = 30.0


class ExpirySchedule:
    """When this process last expired old inbox rows: at most once per interval."""

    def __init__(
        self,
        interval: float = EXPIRY_INTERVAL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval
        self._monotonic = monotonic
        self._last: float | None = None

    def due(self) -> bool:
        return self._last is None or self._monotonic() - self._last >= self._interval

    def ran(self) -> None:
        self._last = self._monotonic()


@dataclass
class InboundDeps:
    """The inbound half's stores, adapters and knobs.

    `dataverse` is a factory: accepting an event must not depend on the
    Dataverse settings (the event is stored first, whatever else is misconfigured).
    `monotonic` measures the sweeper's budget; `clock` stamps rows and decides what is due.
    """

    inbox: InboxStore
    correlations: CorrelationStore
    settings: Settings
    callbacks: CallbackTokens
    dataverse: Callable[[], DataverseClient]
    summary_due: SummaryDueStore  # the summary notes due (the figures come from the inbox)
    groups: GroupStore  # the group registry: which groups' chat becomes notes
    flows: FlowResponses | None = None  # the trigger subscriptions' fan-out (none: no forward)
    clock: Clock = wall
    jitter: Callable[[], float] = random.random
    inline_budget: float = INLINE_BUDGET_SECONDS
    event_timeout: float = EVENT_TIMEOUT_SECONDS
    monotonic: Callable[[], float] = time.monotonic
    expiry: ExpirySchedule = field(default_factory=ExpirySchedule)
    summary_delay: float = SUMMARY_DELAY_SECONDS
    # issue 12: drain. The process's Dataverse circuit (the client consults the same one):
    # while it is open the webhook skips its inline attempt and the sweep waits or stops.
    circuit: Circuit | None = None
    window: RequestWindow | None = None  # the process's Dataverse request window
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # the drain's pause on a 429

    def dataverse_blocked(self) -> bool:
        return self.circuit is not None and self.circuit.blocked()

    def inline_blocked(self) -> str | None:
        """Why the webhook must not try Dataverse inline now (None: it may): waiting for the
        circuit or for room in the request window would only spend the caller's budget."""
        if self.dataverse_blocked():
            return "circuit open"
        if self.window is not None and self.window.full():
            return "request window full"
        return None

    def now_ms(self) -> int:
        return now_ms(self.clock)

    def retry_policy(self) -> RetryPolicy:
        """The inbox back-off: full jitter over 30 s doubling to 1 h, bounded by the attempts."""
        return RetryPolicy(
            max_attempts=self.settings.inbox_max_attempts,
            base_delay=BACKOFF_BASE_SECONDS,
            max_delay=BACKOFF_MAX_SECONDS,
            max_retry_after=BACKOFF_MAX_SECONDS,
            jitter=self.jitter,
        )


def short(event_id: str) -> str:
    """An event id for a log line: it comes from outside, so bounded and escaped."""
    return log_value(event_id, 64)
