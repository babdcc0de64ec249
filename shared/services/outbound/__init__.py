"""Sending actions to Kaizala: exactly once, never lost, within the throttle, in order.

The life of one request (`send`, in `send.py`):
1. Validate and render (template) the Kaizala request; derive the correlation id from the
   idempotency key (the `Idempotency-Key` header, else a hash of the request content).
2. Claim: an insert-only row in `actions` keyed by the correlation id, status `sending`. A repeat
   (or a concurrent duplicate) loses the insert and is answered from that row instead.
3. If the outbox holds older work, or the shared budget has no room, the request joins the
   outbox (`queued`, 202). Otherwise one Kaizala call; on success the `actionindex` row (actionId
   → correlation, read by the webhook side) is written first, then the action row (`sent`, 201).

The outbox is drained by a timer (`drain.py`, one drainer across instances). The crash window
between the Kaizala call and the status write is closed by reconciliation (`reconcile.py`).
`GET /api/actions/{id}` is answered by `status.py`.
"""

from __future__ import annotations

from shared.adapters.kaizala import KaizalaClient
from shared.clock import Clock, wall
from shared.domain.actions import ActionStatus, SendActionRequest
from shared.services.outbound.drain import Drainer
from shared.services.outbound.reconcile import STALE_SENDING_SECONDS, Reconciler
from shared.services.outbound.send import (
    DUPLICATE_WAIT_SECONDS,
    ActionFailedError,
    NotSentError,
    Ready,
    Sender,
    SendOutcome,
)
from shared.services.outbound.status import action_status
from shared.stores.actions import ActionRecord, ActionStore, OutboxStore
from shared.stores.budget import Budget
from shared.stores.correlations import CorrelationStore
from shared.stores.groups import GroupStore
from shared.stores.inbox import InboxStore
from shared.stores.leases import LeaseStore

__all__ = [
    "DUPLICATE_WAIT_SECONDS",
    "STALE_SENDING_SECONDS",
    "ActionFailedError",
    "NotSentError",
    "Outbound",
    "SendOutcome",
]


class Outbound:
    """The outbound half as the triggers see it: send, status, drain (and retention)."""

    def __init__(
        self,
        *,
        actions: ActionStore,
        outbox: OutboxStore,
        correlations: CorrelationStore,
        inbox: InboxStore,
        leases: LeaseStore,
        budget: Budget,
        kaizala: KaizalaClient,
        retention_days: int = 30,
        clock: Clock = wall,
        ready: Ready | None = None,
        groups: GroupStore | None = None,
    ) -> None:
        self._actions = actions
        self._inbox = inbox
        self._groups = groups  # for the status: people left out of a per-opportunity group
        self._sender = Sender(
            actions, outbox, correlations, budget, kaizala, clock=clock, ready=ready
        )
        self._reconciler = Reconciler(
            self._sender, actions, correlations, inbox, kaizala, clock=clock
        )
        self._drainer = Drainer(
            self._sender,
            self._reconciler,
            actions,
            outbox,
            correlations,
            leases,
            budget,
            retention_days=retention_days,
            clock=clock,
        )

    async def send(self, req: SendActionRequest, idempotency_key: str | None) -> SendOutcome:
        """POST /api/actions."""
        return await self._sender.send(req, idempotency_key)

    async def status(self, cid: str) -> ActionStatus:
        """GET /api/actions/{correlationId}."""
        return await action_status(self._actions, self._inbox, cid, self._groups)

    async def drain(self, max_seconds: float = 50.0, holder: str | None = None) -> dict[str, int]:
        """The drain_outbox timer: queued actions, in order, within the budget."""
        return await self._drainer.drain(max_seconds, holder)

    async def reconcile(self, record: ActionRecord) -> str:
        """Settle one action whose send outcome is unknown (the drainer does it for stale ones)."""
        return await self._reconciler.reconcile(record)

    async def expire(self) -> int:
        """Retention: forget sent/failed actions and their correlations past the retention."""
        return await self._drainer.expire()
