"""Backfill: responses the webhook never delivered, read from Kaizala into the same inbox path.

A response is lost for good when Kaizala cannot deliver it (the subscription made late,
deleted or disabled for a while, the bridge down past Kaizala's two days of retries). The
`backfill_responses` timer, and an operator for one action, read each recent action's
responses (`GET groups/{g}/actions/{a}?getDetails=true`: one Kaizala call per action) and feed
each version the inbox does not hold yet through intake's insert and the usual processing:

- Which actions: sent within BACKFILL_DAYS, of a type that takes responses, and not past their
  due date plus a day (`shared.domain.backfill.in_window`); least recently backfilled first,
  so a run cut short is continued by the next one.
- Exactly one task per response, whichever path comes first: the activity id comes from the
  response id and the write is ordered by answer time (processing), so a webhook delivery after
  a backfill, or the other way round, updates the same task, and only a newer answer changes it.
- Quiet repeats: one query of the action's inbox partition gives the newest answer time held
  per response (webhook or backfill rows alike); a version already held is not inserted. The
  event id of a backfilled version is derived from responseId + answer time, so two runs at
  once insert it once (insert-only row).
- Sends first: each call takes from the shared budget's spare share (`Budget.try_acquire_spare`:
  only while the current slot has at least half its calls left), and none at all while the
  outbox holds queued sends. A run that finds no room before its deadline stops; the rest is
  read by the next run.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from shared.adapters.kaizala import KaizalaAuthError, KaizalaClient
from shared.clock import Clock, now_ms, wall
from shared.domain.backfill import RESPONSE_ACTION_TYPES, ReadResponse, in_window, read_response
from shared.errors import BridgeError, ConflictError, NotFoundError, UnavailableError
from shared.logsafe import log_value
from shared.services.inbound.deps import InboundDeps
from shared.services.inbound.intake import store_event
from shared.services.inbound.processing import process_event
from shared.stores.actions import ActionRecord, ActionStore, OutboxStore
from shared.stores.budget import Budget

log = logging.getLogger(__name__)

RUN_SECONDS = 240.0  # the hourly timer's run; what it does not reach, the next run reads
ONE_SECONDS = 20.0  # an operator's request for one action waits this long for budget
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class BackfillReport:
    """What a run did. `seen`: responses Kaizala listed; `new`: versions inserted into the
    inbox; `already`: versions the inbox held (written, or on their way)."""

    actions: int = 0  # actions whose responses were read
    skipped: int = 0  # sent actions outside the window (not read)
    deferred: int = 0  # in the window but not reached: no budget, sends queued, out of time
    failed: int = 0  # Kaizala refused or failed the read
    seen: int = 0
    new: int = 0
    already: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # processing of the new ones

    def as_dict(self) -> dict[str, Any]:
        return {
            "actions": self.actions,
            "skipped": self.skipped,
            "deferred": self.deferred,
            "failed": self.failed,
            "seen": self.seen,
            "new": self.new,
            "already": self.already,
            "outcomes": dict(self.outcomes),
        }


class Backfill:
    def __init__(
        self,
        deps: InboundDeps,
        *,
        actions: ActionStore,
        outbox: OutboxStore,
        budget: Budget,
        kaizala: KaizalaClient,
        days: int,
        clock: Clock = wall,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._deps = deps
        self._actions = actions
        self._outbox = outbox
        self._budget = budget
        self._kaizala = kaizala
        self._days = days
        self._clock = clock
        self._sleep = sleep  # injectable with the clock, so a test can run on virtual time

    async def run(self, max_seconds: float = RUN_SECONDS) -> BackfillReport:
        """The timer: every action in the window, within the spare budget and `max_seconds`."""
        deadline = self._clock() + max_seconds
        now = now_ms(self._clock)
        report = BackfillReport()
        due: list[tuple[int, int, ActionRecord, str]] = []
        for record, backfilled in await self._actions.sent_since(now - self._days * 86_400_000):
            sent = record.sent_ms or 0
            body = record.prepared().body
            if record.action_id and in_window(record.action_type, body, sent, now, self._days):
                due.append((backfilled, sent, record, record.action_id))
            else:
                report.skipped += 1
        due.sort(key=lambda d: d[:2])  # never read first, then the least recently read
        for index, (_, _, record, action_id) in enumerate(due):
            if not await self._room(deadline):
                report.deferred += len(due) - index
                break
            try:
                await self._read(record, action_id, report)
            except BridgeError as exc:
                report.failed += 1
                if exc.status == 503 or isinstance(exc, KaizalaAuthError):
                    # Throttled, not onboarded, no token, storage down: the other actions would
                    # fail the same way; the next run starts with them.
                    report.deferred += len(due) - index - 1
                    log.warning("backfill stopped: %s", type(exc).__name__)
                    break
                # This action only (deleted in Kaizala, refused, ...).
                name = type(exc).__name__
                log.warning("backfill action=%s failed: %s", log_value(action_id), name)
        return report

    async def one(self, correlation_id: str, max_seconds: float = ONE_SECONDS) -> BackfillReport:
        """An operator's request for one action: read whatever its age or due date.

        Raises NotFoundError (no such action), ConflictError (not sent, or a type that takes no
        responses), UnavailableError (no spare budget within `max_seconds`: retry), and the
        Kaizala client's errors.
        """
        record = await self._actions.get(correlation_id)
        if record is None:
            raise NotFoundError("No action with that correlation id.")
        if record.status != "sent" or not record.action_id:
            raise ConflictError(f"The action is {record.status}, not sent: nothing to backfill.")
        if record.action_type not in RESPONSE_ACTION_TYPES:
            raise ConflictError(f"A {record.action_type} action takes no responses.")
        if not await self._room(self._clock() + max_seconds):
            raise UnavailableError(
                "The Kaizala budget is in use by sends; retry shortly.",
                retry_after=self._budget.slot_seconds,
            )
        report = BackfillReport()
        await self._read(record, record.action_id, report)
        log.info("backfill action=%s %s", log_value(record.action_id), report.as_dict())
        return report

    async def _room(self, deadline: float) -> bool:
        """Take one call of the spare budget, waiting (until `deadline`) while sends need it."""
        while True:
            if await self._outbox.busy():
                wait = self._budget.slot_seconds  # queued sends: theirs until the outbox drains
            else:
                wait = await self._budget.try_acquire_spare()
                if wait == 0:
                    return True
            if self._clock() + wait > deadline:
                return False
            await self._sleep(wait)

    async def _read(self, record: ActionRecord, action_id: str, report: BackfillReport) -> None:
        """One Kaizala call: the action's responses; each version not held goes to the inbox."""
        details = await self._kaizala.get_action(record.group_id, action_id, details=True)
        held = await self._deps.inbox.response_versions(action_id)
        report.actions += 1
        sender = (details.model_extra or {}).get("sender")
        for item in details.responses:
            read = read_response(
                item,
                action_id=action_id,
                group_id=record.group_id,
                action_type=record.action_type,
                sender=sender if isinstance(sender, str) else None,
            )
            if read is None:
                continue
            report.seen += 1
            if not read.is_new(held) or not await self._feed(read, report):
                report.already += 1
        await self._actions.mark_backfilled(record.correlation_id, now_ms(self._clock))

    async def _feed(self, read: ReadResponse, report: BackfillReport) -> bool:
        """Insert the version (False: another run did), then process it as the webhook does."""
        deps = self._deps
        now = deps.now_ms()
        raw = json.dumps(read.event, separators=(",", ":")).encode("utf-8")
        item, inserted = await store_event(deps, raw, read.event, now, read.answer_time or now)
        if not inserted:
            return False
        report.new += 1
        try:
            outcome: str = await asyncio.wait_for(process_event(deps, item), deps.event_timeout)
        except Exception as exc:  # stored: the sweeper finishes it
            outcome = "pending"
            log.warning("backfill event left to the sweeper: %s", type(exc).__name__)
        report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
        return True
