"""Webhook validation handshake and event delivery.

Deliveries run as background tasks on the server's loop and never hold up an API answer. A
failed attempt (connection error, timeout, or a status outside 2xx) is retried with exponential
back-off; after the last retry the webhook is disabled, as Kaizala does. Every copy of an event,
duplicates included, carries the same eventId.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from devtools.kaizala_sim.events import Event
from devtools.kaizala_sim.models import Webhook

if TYPE_CHECKING:
    from devtools.kaizala_sim.simulator import Simulator

log = logging.getLogger("devtools.kaizala_sim")


@dataclass
class DeliveryStats:
    ok: int = 0
    failed_attempts: int = 0
    retries: int = 0
    duplicates: int = 0
    gave_up: int = 0
    webhooks_disabled: int = 0
    events_emitted: int = 0
    skipped_inactive: int = 0

    def public(self) -> dict[str, int]:
        return {
            "ok": self.ok,
            "failed": self.failed_attempts,
            "retries": self.retries,
            "duplicates": self.duplicates,
            "gaveUp": self.gave_up,
            "webhooksDisabled": self.webhooks_disabled,
            "eventsEmitted": self.events_emitted,
            "skippedInactive": self.skipped_inactive,
        }


def validation_token() -> str:
    """A random token that always holds '+', '/' and '=', so a receiver that forgets to
    URL-decode the query string (or decodes '+' as a space) fails the handshake."""
    raw = base64.b64encode(secrets.token_bytes(18)).decode()
    return f"kz+{raw[:12]}/{raw[12:]}=="


class Deliveries:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.stats = DeliveryStats()
        self.log: deque[dict[str, Any]] = deque(maxlen=2000)
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # No proxies from the environment: callbacks go to loopback receivers only.
            self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        return self._client

    async def close(self) -> None:
        await self.cancel_all()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_idle(self, limit: float) -> bool:
        try:
            async with asyncio.timeout(limit):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    # -- handshake ------------------------------------------------------------------------------
    async def validate_callback(self, url: str) -> str | None:
        """None when the receiver echoed the token in time, else why it failed."""
        token = validation_token()
        limit = self.sim.config.webhook_validation_timeout_seconds
        try:
            async with asyncio.timeout(limit):
                response = await self._http().get(
                    url, params={"validationToken": token}, timeout=limit
                )
        except (TimeoutError, httpx.TimeoutException):
            return f"callback did not answer the validation request within {limit:g} s"
        except httpx.HTTPError as exc:
            return f"callback unreachable: {type(exc).__name__}"
        if response.status_code != 200:
            return f"callback answered the validation request with {response.status_code}"
        if response.text != token:
            return "callback did not echo the validationToken as the plain-text body"
        return None

    # -- events ---------------------------------------------------------------------------------
    def emit(self, event: Event, duplicates: int | None = None) -> int:
        """Queue the event for every active, matching webhook; returns how many matched."""
        state = self.sim.state
        now_ms = self.sim.now_ms()
        self.stats.events_emitted += 1
        extra = self.sim.config.duplicate_deliveries if duplicates is None else duplicates
        hooks = [
            h
            for h in state.webhooks.values()
            if h.active and h.validity > now_ms and event.concerns(h)
        ]
        for hook in hooks:
            payload = event.payload(hook)
            for copy in range(1 + extra):
                if copy:
                    self.stats.duplicates += 1
                self._spawn(self._deliver(hook.webhook_id, event, payload, copy))
        return len(hooks)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task failed", exc_info=task.exception())
        if not self._tasks:
            self._idle.set()

    def _usable(self, webhook_id: str) -> Webhook | None:
        hook = self.sim.state.webhooks.get(webhook_id)
        if hook is None or not hook.active or hook.validity <= self.sim.now_ms():
            return None
        return hook

    async def _deliver(
        self, webhook_id: str, event: Event, payload: dict[str, Any], copy: int
    ) -> None:
        attempt = 0
        while True:
            hook = self._usable(webhook_id)
            if hook is None:
                self.stats.skipped_inactive += 1
                self._record(event, webhook_id, attempt, copy, None, "webhook inactive or deleted")
                return
            status, error = await self._post(hook, payload)
            ok = status is not None and 200 <= status < 300
            self._record(event, webhook_id, attempt, copy, status, error)
            if ok:
                self.stats.ok += 1
                hook.failures = 0
                return
            self.stats.failed_attempts += 1
            hook.failures += 1
            config = self.sim.config
            if attempt >= config.delivery_retries:
                self.stats.gave_up += 1
                if hook.active:
                    hook.active = False
                    self.stats.webhooks_disabled += 1
                    log.warning(
                        "webhook %s disabled after %d failed attempts", webhook_id, attempt + 1
                    )
                return
            delay = config.delivery_retry_base_seconds * 2**attempt / config.time_scale
            attempt += 1
            self.stats.retries += 1
            await asyncio.sleep(delay)

    async def _post(self, hook: Webhook, payload: dict[str, Any]) -> tuple[int | None, str | None]:
        headers = {"kz-callback-token": hook.callback_token}
        try:
            response = await self._http().post(
                hook.callback_url,
                json=payload,
                headers=headers,
                timeout=self.sim.config.delivery_timeout_seconds,
            )
        except httpx.HTTPError as exc:
            return None, type(exc).__name__
        return response.status_code, None

    def _record(
        self,
        event: Event,
        webhook_id: str,
        attempt: int,
        copy: int,
        status: int | None,
        error: str | None,
    ) -> None:
        ok = status is not None and 200 <= status < 300
        # The webhook id stands for the callback: its URL may carry a key in the query string.
        log.info(
            "delivery %s %s to webhook %s attempt %d: %s",
            event.event_type,
            event.event_id,
            webhook_id,
            attempt,
            status if status is not None else error,
        )
        self.log.append(
            {
                "eventId": event.event_id,
                "eventType": event.event_type,
                "webhookId": webhook_id,
                "attempt": attempt,
                "copy": copy,
                "status": status,
                "ok": ok,
                "error": error,
                "ts": self.sim.clock.real(),
            }
        )
