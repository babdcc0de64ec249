"""The drain_outbox timer: queued actions sent in arrival order, within the shared budget.

One drainer at a time across instances (a lease). Each run first forgets old correlations
(hourly) and reconciles sends left in doubt, then sends from the head of the outbox until it is
empty, the budget has no room before the run's deadline, or Kaizala refuses to take more.
"""

from __future__ import annotations

import asyncio
import uuid

from shared.clock import Clock, now_ms, wall
from shared.errors import BridgeError
from shared.services.outbound.reconcile import Reconciler
from shared.services.outbound.send import NotSentError, Sender
from shared.stores.actions import ActionStore, OutboxEntry, OutboxStore
from shared.stores.budget import Budget
from shared.stores.correlations import CorrelationStore
from shared.stores.leases import LeaseStore, named

DRAIN_LEASE = named("outbox-drain")
LEASE_SLACK_SECONDS = 30.0  # the lease outlives the run's deadline by this much
BATCH = 50
RETENTION_EVERY_SECONDS = 3600.0  # retention: hourly is plenty
BLOCKED_PAUSE_CAP_SECONDS = 5.0


class Drainer:
    def __init__(
        self,
        sender: Sender,
        reconciler: Reconciler,
        actions: ActionStore,
        outbox: OutboxStore,
        correlations: CorrelationStore,
        leases: LeaseStore,
        budget: Budget,
        *,
        retention_days: int = 30,
        clock: Clock = wall,
    ) -> None:
        self._sender = sender
        self._reconciler = reconciler
        self._actions = actions
        self._outbox = outbox
        self._correlations = correlations
        self._leases = leases
        self._budget = budget
        self._retention_ms = retention_days * 86400 * 1000
        self._clock = clock
        self._expired_at = 0.0

    async def drain(self, max_seconds: float = 50.0, holder: str | None = None) -> dict[str, int]:
        """Send queued actions in arrival order within the budget; one drainer at a time."""
        holder = holder or uuid.uuid4().hex
        report = {"sent": 0, "failed": 0, "requeued": 0, "adopted": 0, "left": 0, "skipped": 0}
        if not await self._leases.take(DRAIN_LEASE, holder, max_seconds + LEASE_SLACK_SECONDS):
            report["skipped"] = 1
            return report
        deadline = self._clock() + max_seconds
        try:
            if self._clock() - self._expired_at > RETENTION_EVERY_SECONDS:
                report["expired"] = await self.expire()
                self._expired_at = self._clock()
            await self._reconciler.reconcile_stale(report)
            while self._clock() < deadline:
                entries = await self._outbox.head(BATCH)
                if not entries:
                    break
                for entry in entries:
                    if not await self._budget.acquire(deadline):
                        report["left"] = len(entries)
                        return report
                    outcome = await self._send_queued(entry)
                    report[outcome] = report.get(outcome, 0) + 1
                    if outcome == "blocked":
                        return report
        finally:
            await self._leases.release(DRAIN_LEASE, holder)
        return report

    async def _send_queued(self, entry: OutboxEntry) -> str:
        record = await self._actions.get(entry.correlation_id)
        if record is None or record.status != "queued":
            await self._outbox.remove(entry)
            return "skipped"
        prepared = record.prepared()
        # Claim with the row's ETag, so a second drainer (after a lease expiry) cannot send it too.
        claim = await self._actions.claim_queued(record, now_ms(self._clock))
        if claim is None:
            return "skipped"
        try:
            outcome = await self._sender.deliver(
                record.correlation_id, prepared, from_outbox=True, claim=claim
            )
        except NotSentError as exc:
            await asyncio.sleep(min(exc.retry_after or 0.0, BLOCKED_PAUSE_CAP_SECONDS))
            return "blocked"
        except BridgeError:
            await self._outbox.remove(entry)
            return "failed"
        await self._outbox.remove(entry)
        return "sent" if outcome.body.status == "sent" else "left"

    async def expire(self) -> int:
        """Forget correlations older than the retention; queued or in-flight ones are kept."""
        cutoff = now_ms(self._clock) - self._retention_ms
        return await self._actions.expire(cutoff) + await self._correlations.expire(cutoff)
