"""Power Automate trigger subscriptions and the durable fan-out of responses to their callbacks.

Subscribing (`POST /api/subscriptions`) stores the callback; unsubscribing (`DELETE`) removes it
and its pending deliveries. `RESPONSE_FORWARD_URL`, when set, is one more subscription with the
id `static` (listed, never deletable).

The fan-out, off the hot path: once an event's activity is written, `enqueue` inserts one
delivery row per matching subscription (insert-only per event and subscription, with a due-index
entry), and the `deliver_flow_responses` timer POSTs them (`deliver_due`), each callback on its
own with a 5 s timeout, bounded concurrency, the inbox's back-off (full jitter over 30 s doubling
to 1 h) and INBOX_MAX_ATTEMPTS, then `dead` (listed by `GET /api/manage/subscriptions`). A slow
or dead callback therefore never holds up the Dataverse write, Kaizala's answer or the other
callbacks, and a crash between the two loses nothing (the event is retried until its rows
exist; the rows stay due until delivered).

Matching reads the subscriptions at most once per `cache_seconds` (30 s) per process, so with
no subscription an event costs no extra table call. A subscription made or removed on another
instance is seen within that period; a removed one's due deliveries are dropped when their
turn comes (a point read of the subscription before each callback).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.adapters.forward import CallbackPoster
from shared.adapters.retry import RetryPolicy
from shared.clock import Clock, now_ms, wall
from shared.domain.flow_subscriptions import (
    STATIC_ID,
    FlowSubscription,
    SubscribeRequest,
    callback_host,
    is_subscription_id,
)
from shared.domain.rendering import forward_body
from shared.domain.responses import NormalisedResponse
from shared.errors import BridgeError, ConflictError, NotFoundError
from shared.logsafe import log_value
from shared.stores.flow_deliveries import Delivery, FlowDeliveryStore
from shared.stores.flow_subscriptions import FlowSubscriptionStore

log = logging.getLogger(__name__)

CACHE_SECONDS = 30.0
CLAIM_MS = 60_000  # a claimed delivery is invisible to other instances for this long
DELIVER_LIMIT = 200
DELIVER_CONCURRENCY = 8
BACKOFF_BASE_SECONDS = 30.0  # the inbox's back-off
BACKOFF_MAX_SECONDS = 3600.0
MIN_RETRY_SECONDS = 1.0
EXPIRY_SECONDS = 3600.0  # old delivered and dead rows removed at most hourly per process
ERROR_CHARS = 300


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


@dataclass
class FlowResponses:
    """Built once per process by the runtime."""

    subscriptions: FlowSubscriptionStore
    deliveries: FlowDeliveryStore
    poster: Callable[[], CallbackPoster]
    static_url: str | None
    max_attempts: int
    retention_days: int
    clock: Clock = wall
    jitter: Callable[[], float] = random.random
    monotonic: Callable[[], float] = time.monotonic
    cache_seconds: float = CACHE_SECONDS
    _cache: tuple[float, list[FlowSubscription]] | None = field(default=None, repr=False)
    _expired_at: float | None = field(default=None, repr=False)

    # ---- subscribe / unsubscribe -------------------------------------------------------------

    async def subscribe(self, request: SubscribeRequest) -> dict[str, Any]:
        sub = await self.subscriptions.add(
            request.callbackUrl, request.groupId, request.regardingId, now_ms(self.clock)
        )
        self._cache = None  # this instance sees it at once
        log.info("flow subscription %s added (callback host %s)", sub.id, _host(sub))
        return _public(sub)

    async def unsubscribe(self, sub_id: str) -> bool:
        """True when removed, False when there was none (a repeated DELETE: still 204)."""
        if sub_id == STATIC_ID:
            raise ConflictError(
                "The static subscription is RESPONSE_FORWARD_URL; unset the setting to remove it."
            )
        if not is_subscription_id(sub_id):
            raise NotFoundError("No subscription with that id.")
        removed = await self.subscriptions.delete(sub_id)
        dropped = await self.deliveries.drop_all(sub_id)
        self._cache = None
        log.info("flow subscription %s removed=%s deliveries dropped=%d", sub_id, removed, dropped)
        return removed

    async def active(self) -> list[FlowSubscription]:
        """The static subscription (when set) and the stored ones, cached per process."""
        cached = self._cache
        if cached is not None and self.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        subs = await self.subscriptions.all()
        if self.static_url:
            subs = [FlowSubscription(STATIC_ID, self.static_url, None, None, 0), *subs]
        self._cache = (self.monotonic(), subs)
        return subs

    # ---- the fan-out -------------------------------------------------------------------------

    async def enqueue(self, response: NormalisedResponse, activity_id: str) -> int:
        """One delivery row per matching subscription; no table call when none matches.

        Raises StorageError (transient): the caller retries the event, and rows already
        inserted are not inserted twice.
        """
        c = response.correlation
        matching = [s for s in await self.active() if s.matches(response.group_id, c.regarding_id)]
        if not matching:
            return 0
        body = json.dumps(forward_body(response, activity_id), ensure_ascii=False).encode()
        now = now_ms(self.clock)
        added = 0
        for sub in matching:
            if await self.deliveries.enqueue(sub.id, response.event_id, body, now):
                added += 1
        return added

    async def deliver_due(
        self, *, budget: float = 45.0, limit: int = DELIVER_LIMIT
    ) -> dict[str, int]:
        """One run of the delivery timer: every due delivery claimed (CAS) and POSTed."""
        started = self.monotonic()
        report = {"found": 0, "delivered": 0, "retried": 0, "dead": 0, "dropped": 0}
        due = await self.deliveries.due(now_ms(self.clock), limit)
        report["found"] = len(due)
        gate = asyncio.Semaphore(DELIVER_CONCURRENCY)

        async def one(delivery: Delivery) -> None:
            async with gate:
                if self.monotonic() - started > budget:
                    return  # still due: the next run
                try:
                    outcome = await self._deliver(delivery)
                except BridgeError as exc:  # storage trouble: the claim expires, retried later
                    log.warning("flow delivery skipped: %s", type(exc).__name__)
                    return
                if outcome:
                    report[outcome] += 1

        await asyncio.gather(*(one(d) for d in due))
        if self._expired_at is None or self.monotonic() - self._expired_at >= EXPIRY_SECONDS:
            self._expired_at = self.monotonic()
            report["expired"] = await self.expire()
        if any(report.values()):
            log.info("deliver_flow_responses %s", json.dumps(report, separators=(",", ":")))
        return report

    async def _deliver(self, found: Delivery) -> str | None:
        sub = await self._subscription(found.subscription_id)
        if sub is None:
            await self.deliveries.drop(found)
            return "dropped"
        now = now_ms(self.clock)
        delivery = await self.deliveries.claim(found, now + CLAIM_MS)
        if delivery is None:
            return None  # another instance has it
        try:
            await self.poster().post(sub.callback_url, json.loads(delivery.body))
        except Exception as exc:  # any failure is this callback's: retried, bounded
            return await self._failed(delivery, exc, now)
        await self.deliveries.record(delivery, "delivered", now)
        return "delivered"

    async def _failed(self, delivery: Delivery, exc: BaseException, now: int) -> str:
        attempts = delivery.attempts + 1
        error = _error_text(exc)
        if attempts >= self.max_attempts:
            await self.deliveries.record(delivery, "dead", now, error=error)
            log.warning(
                "flow delivery event=%s subscription=%s dead after %d attempts: %s",
                log_value(delivery.event_id, 64),
                delivery.subscription_id,
                attempts,
                error,
            )
            return "dead"
        policy = RetryPolicy(
            max_attempts=self.max_attempts,
            base_delay=BACKOFF_BASE_SECONDS,
            max_delay=BACKOFF_MAX_SECONDS,
            max_retry_after=BACKOFF_MAX_SECONDS,
            jitter=self.jitter,
        )
        wait = max(policy.sleep_time(attempts, None), MIN_RETRY_SECONDS)
        next_at = now + int(wait * 1000)
        await self.deliveries.record(delivery, "pending", now, error=error, next_attempt_at=next_at)
        return "retried"

    async def _subscription(self, sub_id: str) -> FlowSubscription | None:
        if sub_id == STATIC_ID:
            url = self.static_url
            return FlowSubscription(STATIC_ID, url, None, None, 0) if url else None
        return await self.subscriptions.get(sub_id)

    # ---- the operator's view -----------------------------------------------------------------

    async def overview(self) -> dict[str, Any]:
        """`GET /api/manage/subscriptions`: every subscription with its delivery counts, and
        the dead deliveries (the subscriptions read afresh, not from the cache)."""
        self._cache = None
        subs = await self.active()
        listed = []
        for sub in subs:
            item = _public(sub)
            item["static"] = sub.static
            item["deliveries"] = await self.deliveries.counts(sub.id)
            listed.append(item)
        dead = [
            {
                "eventId": d.event_id,
                "subscriptionId": d.subscription_id,
                "reason": d.reason,
                "at": _iso(d.at),
            }
            for d in await self.deliveries.dead()
        ]
        return {"subscriptions": listed, "deadDeliveries": dead}

    async def expire(self) -> int:
        cutoff = now_ms(self.clock) - self.retention_days * 86_400_000
        return await self.deliveries.expire(cutoff)


def _public(sub: FlowSubscription) -> dict[str, Any]:
    return {
        "id": sub.id,
        "callbackHost": callback_host(sub.callback_url),
        "groupId": sub.group_id,
        "regardingId": sub.regarding_id,
        "createdAt": _iso(sub.created_at),
    }


def _host(sub: FlowSubscription) -> str:
    return log_value(callback_host(sub.callback_url), 255)


def _error_text(exc: BaseException) -> str:
    """Typed errors carry a caller-safe detail; others only their type (a URL is a secret)."""
    name = type(exc).__name__
    text = f"{name}: {exc.detail}" if isinstance(exc, BridgeError) else name
    return " ".join(text.split())[:ERROR_CHARS]
