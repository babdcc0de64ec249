"""POST /api/actions: claim the request's identity, then one Kaizala call or the outbox.

Also the delivery step the drainer reuses for queued actions (`Sender.deliver`), and the write
that records a sent action (the correlation first, then the action row).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from shared import telemetry
from shared.adapters.kaizala import (
    KaizalaAuthError,
    KaizalaClient,
    KaizalaError,
    KaizalaRateLimitedError,
    KaizalaServerError,
    KaizalaTransportError,
    KaizalaValidationError,
)
from shared.clock import Clock, now_ms, wall
from shared.domain.action_request import Prepared, identity, prepare
from shared.domain.actions import ActionAccepted, SendActionRequest
from shared.errors import BridgeError, ConflictError, UnavailableError, UpstreamError
from shared.services.tokens import NotOnboardedError
from shared.stores.actions import ActionRecord, ActionStore, OutboxStore
from shared.stores.budget import Budget
from shared.stores.correlations import Correlation, CorrelationStore
from shared.stores.due_index import DueEntry

# One logger for the whole outbound half (operators filter on it; see docs/troubleshooting.md).
log = logging.getLogger("shared.services.outbound")

DUPLICATE_WAIT_SECONDS = 10.0
IN_FLIGHT_SECONDS = 30.0  # a `sending` row younger than this is a send still under way
DUPLICATE_POLL_SECONDS = 0.1

Ready = Callable[[], Awaitable[object]]


class ActionFailedError(UpstreamError):
    slug = "action-failed"
    title = "Kaizala refused the action"


class NotSentError(UnavailableError):
    """Raised to the drainer: the action was certainly not created; it stays queued."""

    def __init__(self, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason, retry_after=retry_after)


@dataclass
class SendOutcome:
    http_status: int
    body: ActionAccepted
    location: str | None = None


def _location(cid: str) -> str:
    return f"/api/actions/{cid}"


def _short(exc: BaseException) -> str:
    # KaizalaError's text is built to exclude tokens; still keep it short for the status API.
    return f"{type(exc).__name__}: {exc}"[:300]


class Sender:
    def __init__(
        self,
        actions: ActionStore,
        outbox: OutboxStore,
        correlations: CorrelationStore,
        budget: Budget,
        kaizala: KaizalaClient,
        *,
        clock: Clock = wall,
        ready: Ready | None = None,
    ) -> None:
        self._actions = actions
        self._outbox = outbox
        self._correlations = correlations
        self._budget = budget
        self._kaizala = kaizala
        self._clock = clock
        # Obtains the access token before a send, so that a token-service failure is known to
        # have created nothing (and the action is queued, not left in doubt).
        self._ready = ready

    async def send(self, req: SendActionRequest, idempotency_key: str | None) -> SendOutcome:
        prepared = prepare(req)
        cid, rhash = identity(req, idempotency_key)
        telemetry.set_ids(correlationId=cid, groupId=prepared.group_id)
        now = now_ms(self._clock)
        order = int(self._clock() * 1_000_000)  # arrival order in the outbox, microseconds
        claim = await self._actions.claim(cid, rhash, prepared, now, order)
        if claim is None:
            return await self._existing(cid, rhash, explicit_key=idempotency_key is not None)
        if await self._outbox.busy() or await self._budget.try_acquire() > 0:
            outcome = await self.enqueue(cid, order)
            await self._actions.release(claim)
            return outcome
        return await self.deliver(cid, prepared, from_outbox=False, claim=claim)

    async def _existing(self, cid: str, rhash: str, *, explicit_key: bool) -> SendOutcome:
        deadline = self._clock() + DUPLICATE_WAIT_SECONDS
        while True:
            record = await self._actions.get(cid)
            if record is None:  # expired between the insert attempt and now: treat as conflict
                raise ConflictError("The request is being processed; retry shortly.")
            if explicit_key and record.request_hash != rhash:
                raise ConflictError(
                    "This Idempotency-Key was already used with a different request."
                )
            in_flight = (
                record.status == "sending"
                and self._clock() - record.sending_ms / 1000 < IN_FLIGHT_SECONDS
            )
            if not in_flight or self._clock() > deadline:
                return self._replay(record)
            await asyncio.sleep(DUPLICATE_POLL_SECONDS)

    @staticmethod
    def _replay(record: ActionRecord) -> SendOutcome:
        cid = record.correlation_id
        body = ActionAccepted(
            correlationId=cid,
            status=record.status,
            actionId=record.action_id,
            referenceId=record.reference_id,
        )
        if record.status == "failed":
            raise ActionFailedError(
                f"Kaizala refused the action: {record.last_error or 'unknown error'}",
                extra={"correlationId": cid},
            )
        if record.status == "sent":
            return SendOutcome(200, body)
        return SendOutcome(202, body, _location(cid))

    async def enqueue(self, cid: str, order: int, error: str = "") -> SendOutcome:
        await self._outbox.push(cid, order)
        await self._actions.mark_queued(cid, now_ms(self._clock), error)
        telemetry.count(telemetry.SENDS, outcome="queued")
        return SendOutcome(202, ActionAccepted(correlationId=cid, status="queued"), _location(cid))

    async def deliver(
        self, cid: str, p: Prepared, *, from_outbox: bool, claim: DueEntry | None = None
    ) -> SendOutcome:
        """One Kaizala call and the writes that record it. Never retries a POST blindly.

        `claim`: the due-index entry of the `sending` row, released once the action has left
        `sending` (sent, queued or failed); kept while the outcome is unknown, for the
        reconciliation. A storage error on the way keeps it too: the row may still be `sending`.
        """
        try:
            outcome = await self._deliver(cid, p, from_outbox=from_outbox)
        except (ActionFailedError, NotSentError):
            await self._actions.release(claim)
            raise
        if outcome.body.status != "sending":
            await self._actions.release(claim)
        return outcome

    async def _deliver(self, cid: str, p: Prepared, *, from_outbox: bool) -> SendOutcome:
        if self._ready is not None:
            try:
                await self._ready()
            except (KaizalaError, BridgeError) as exc:
                return await self._not_sent(cid, exc, from_outbox=from_outbox)
        try:
            if p.action_type == "Message":
                message = await self._kaizala.send_message(p.group_id, str(p.body["message"]))
                action_id, reference_id = "", message.referenceId
            else:
                result = await self._kaizala.send_action(
                    p.group_id,
                    action_type=None if p.action_type == "Custom" else p.action_type,
                    action_package_id=p.action_package_id,
                    action_body=p.body,
                )
                action_id, reference_id = result.actionId, result.referenceId
        except (KaizalaRateLimitedError, KaizalaAuthError, NotOnboardedError) as exc:
            # Nothing was created (throttled, or the connector cannot authenticate): queue it.
            return await self._not_sent(cid, exc, from_outbox=from_outbox)
        except (KaizalaTransportError, KaizalaServerError) as exc:
            # The POST may have reached Kaizala: leave it `sending` for reconciliation.
            await self._actions.mark(cid, "sending", _short(exc))
            log.warning("action %s: outcome unknown (%s); will reconcile", cid, type(exc).__name__)
            return SendOutcome(
                202, ActionAccepted(correlationId=cid, status="sending"), _location(cid)
            )
        except (KaizalaError, KaizalaValidationError) as exc:
            # Refused (by Kaizala, or by the client before sending): final, never retried.
            await self._actions.mark(cid, "failed", _short(exc))
            telemetry.count(telemetry.SENDS, outcome="failed")
            raise ActionFailedError(
                f"Kaizala refused the action: {_short(exc)}", extra={"correlationId": cid}
            ) from None
        await self.record_sent(cid, p, action_id, reference_id)
        telemetry.count(telemetry.SENDS, outcome="sent")
        telemetry.set_ids(actionId=action_id or None)
        body = ActionAccepted(
            correlationId=cid, status="sent", actionId=action_id or None, referenceId=reference_id
        )
        return SendOutcome(201, body)

    async def _not_sent(self, cid: str, exc: BaseException, *, from_outbox: bool) -> SendOutcome:
        reason = _short(exc)
        if from_outbox:
            await self._actions.mark(cid, "queued", reason)
            retry_after = getattr(exc, "retry_after", None) or 0.0
            raise NotSentError(reason, float(retry_after))
        record = await self._actions.get(cid)
        order = record.created_us if record else int(self._clock() * 1e6)
        return await self.enqueue(cid, order, reason)

    async def record_sent(self, cid: str, p: Prepared, action_id: str, reference_id: str) -> None:
        if action_id:
            # The correlation first: a response can arrive within milliseconds of the send.
            correlation = Correlation(
                action_id=action_id,
                correlation_id=cid,
                group_id=p.group_id,
                regarding_entity=p.regarding.entityType,
                regarding_id=p.regarding.id.lower(),
                regarding_name=p.regarding.name,
                title=p.title,
                action_type=p.action_type,
            )
            await self._correlations.record(correlation, now_ms(self._clock))
        await self._actions.mark_sent(cid, action_id, reference_id, now_ms(self._clock))
