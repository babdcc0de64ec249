"""POST /api/actions/{correlationId}/reminder: Kaizala's reminder, at most once per window.

1. The action must be known (404) and `sent` with a Kaizala action id (409 otherwise: a queued
   action has nothing to remind yet, and a plain message has no action to remind).
2. The reminder slot on the action row decides (`shared.domain.reminders.decide`): inside the
   window the earlier reminder is the answer (200, no call); a reminder under way elsewhere is
   waited for, then answered the same way.
3. Otherwise the slot is claimed with a compare-and-swap on the row's ETag, so of any number of
   simultaneous requests on any number of instances one makes the call. The claim spends one
   unit of the shared Kaizala budget, like a send.
4. One Kaizala call. Confirmed: 201. Refused before anything could be sent (throttled, token,
   404/4xx, no budget): the slot is put back and the error answered. Outcome unknown (timeout,
   5xx): the reminder counts as sent (`unconfirmed`): never a second one inside the window.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from shared.adapters.kaizala import (
    KaizalaClient,
    KaizalaError,
    KaizalaServerError,
    KaizalaTransportError,
)
from shared.clock import Clock, iso_seconds, now_ms, wall
from shared.domain.reminders import ReminderResult, ReminderSlot, decide, shown_state, window_ms
from shared.errors import BridgeError, ConflictError, NotFoundError, UnavailableError
from shared.services.outbound.send import Ready
from shared.stores.actions import ActionRecord, ActionStore, ReminderSlots, reminder_slot
from shared.stores.budget import Budget

# One logger for the whole outbound half (operators filter on it; see docs/troubleshooting.md).
log = logging.getLogger("shared.services.outbound")

IN_FLIGHT_WAIT_SECONDS = 10.0  # how long a request waits for a reminder under way elsewhere
POLL_SECONDS = 0.1

Sleep = Callable[[float], Awaitable[None]]


class ReminderUnconfirmedError(KaizalaError):
    """Kaizala's answer to the reminder was lost: it may have been sent, so it counts."""


@dataclass
class ReminderOutcome:
    http_status: int  # 201: sent now; 200: the earlier reminder (no call)
    body: ReminderResult


class Reminders:
    def __init__(
        self,
        actions: ActionStore,
        slots: ReminderSlots,
        budget: Budget,
        kaizala: KaizalaClient,
        *,
        min_hours: float,
        clock: Clock = wall,
        ready: Ready | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._actions = actions
        self._slots = slots
        self._budget = budget
        self._kaizala = kaizala
        self._window_ms = window_ms(min_hours)
        self._clock = clock
        self._ready = ready  # the access token first: a token failure has sent nothing
        self._sleep = sleep

    async def remind(self, cid: str) -> ReminderOutcome:
        cid = cid.lower()
        deadline = self._clock() + IN_FLIGHT_WAIT_SECONDS
        claim_id = uuid.uuid4().hex
        while True:
            record = await self._sendable(cid)
            previous = reminder_slot(record)
            now = now_ms(self._clock)
            decision = decide(previous, now, self._window_ms)
            if decision == "taken":
                assert previous is not None
                return ReminderOutcome(200, self._result(record, previous))
            if decision == "in-flight":
                if self._clock() > deadline:
                    raise ConflictError(
                        "A reminder for this action is being sent; retry in a few seconds."
                    )
                await self._sleep(POLL_SECONDS)
                continue
            if await self._slots.claim(record, now, claim_id):
                break
            # The row changed since it was read (another request's claim, a status write).
            if self._clock() > deadline:
                raise ConflictError("The action is being updated; retry in a few seconds.")
        return await self._send(record, ReminderSlot(now, "sending", None), claim_id, previous)

    async def _sendable(self, cid: str) -> ActionRecord:
        record = await self._actions.get(cid)
        if record is None:
            raise NotFoundError(f"No action with correlation id {cid}.")
        if record.status != "sent":
            raise ConflictError(
                f"The action is {record.status}, not sent: only a sent action can be reminded."
            )
        if not record.action_id:
            raise ConflictError(
                f"A {record.action_type} has no Kaizala action to remind (only actions do)."
            )
        return record

    async def _send(
        self,
        record: ActionRecord,
        claimed: ReminderSlot,
        claim_id: str,
        previous: ReminderSlot | None,
    ) -> ReminderOutcome:
        cid = record.correlation_id
        assert record.action_id is not None  # checked by _sendable
        try:
            wait = await self._budget.try_acquire()
            if wait > 0:
                raise UnavailableError(
                    "The shared Kaizala call budget is spent for now; retry shortly.",
                    retry_after=wait,
                )
            if self._ready is not None:
                await self._ready()
        except BaseException:
            # Nothing was sent (no budget, no token): the slot goes back as it was.
            await asyncio.shield(self._slots.release(cid, claim_id, previous))
            raise
        try:
            result = await self._kaizala.send_reminder(record.group_id, record.action_id)
        except (KaizalaTransportError, KaizalaServerError) as exc:
            # The POST may have reached Kaizala: the reminder counts, none is sent again early.
            await self._slots.settle(cid, claim_id, "unconfirmed", None)
            log.warning("reminder for action %s: outcome unknown (%s)", cid, type(exc).__name__)
            next_at = iso_seconds(claimed.at_ms + self._window_ms)
            raise ReminderUnconfirmedError(
                f"Kaizala did not confirm the reminder ({type(exc).__name__}); it may have been "
                f"sent, so the next one is allowed from {next_at}",
                upstream_status=exc.upstream_status,
                method=exc.method,
                path=exc.path,
            ) from None
        except BridgeError:
            # Refused (throttled, 404, 4xx, credentials): nothing was reminded.
            await self._slots.release(cid, claim_id, previous)
            raise
        except BaseException:
            # Unexpected (or cancelled) mid-call: whether it was sent is unknown, so it counts.
            await asyncio.shield(self._slots.settle(cid, claim_id, "unconfirmed", None))
            raise
        extra = result.model_extra or {}
        reference = extra.get("referenceId")
        reference_id = reference if isinstance(reference, str) and reference else None
        await self._slots.settle(cid, claim_id, "sent", reference_id)
        log.info("reminder for action %s: sent", cid)
        return ReminderOutcome(
            201, self._result(record, ReminderSlot(claimed.at_ms, "sent", reference_id))
        )

    def _result(self, record: ActionRecord, slot: ReminderSlot) -> ReminderResult:
        return ReminderResult(
            correlationId=record.correlation_id,
            actionId=record.action_id or "",
            status=shown_state(slot),
            referenceId=slot.reference_id,
            remindedAt=iso_seconds(slot.at_ms) or "",
            nextReminderAt=iso_seconds(slot.at_ms + self._window_ms) or "",
        )
