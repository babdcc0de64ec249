"""Test doubles for the Kaizala client: a transport-level fake Kaizala, tokens, and time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shared.adapters.kaizala import (
    AccessToken,
    KaizalaClient,
    KaizalaTransport,
    RateLimiter,
    build_http_client,
)
from shared.adapters.retry import RetryPolicy
from tests.conftest import register_secret

# Short, context-free values: the exact-value redaction (not the token-shape heuristics) must
# be what hides them, so a test fails if that mechanism breaks.
ACCESS = "AT-quokka-7731"
ACCESS_2 = "AT-wombat-9902"
APP_SECRET = "AS-platypus-55"
REFRESH = "RT-echidna-3141"
CALLBACK_TOKEN = "CB-numbat-2718"
APP_ID = "app-1234"
ENDPOINT = "https://kms2.kaiza.la/"
API_ROOT = "https://api.kaiza.la/v1"
GROUP = "8c291050-9be8-45d6-97f5-bb7013930027"
ACTION = "920f9802-62da-4dfb-9bc2-8d3ba5c43609"
WEBHOOK = "wh-5f2a"
ALL_SECRETS = (ACCESS, ACCESS_2, APP_SECRET, REFRESH, CALLBACK_TOKEN)
for _value in ALL_SECRETS:
    register_secret(_value)  # the suite-wide log scan fails the run if one is ever logged

Reply = httpx.Response | Exception
Handler = Callable[[httpx.Request], Reply]


def reply(status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
    if body is None:
        return httpx.Response(status, headers=headers)
    if isinstance(body, str | bytes):
        return httpx.Response(status, content=body, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


class FakeTime:
    """A clock and a sleep that advances it at once, so waits cost no wall time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


class FakeKaizala:
    """Answers every request from `handler` (or a script of replies) and records it.

    Plugged in as an `httpx.MockTransport`: the client's real HTTP stack runs, only the
    network is replaced, so the recorded requests are exactly what would go on the wire.
    """

    def __init__(
        self, handler: Handler | Sequence[Reply] | None = None, time: FakeTime | None = None
    ) -> None:
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []
        self._time = time
        if handler is None:
            handler = lambda request: reply(200, {})  # noqa: E731
        if not callable(handler):
            script = list(handler)

            def scripted(request: httpx.Request) -> Reply:
                return script.pop(0)

            self._handler: Handler = scripted
        else:
            self._handler = handler

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(self._time.now if self._time else 0.0)
        result = self._handler(request)
        if isinstance(result, Exception):
            raise result
        return result

    @property
    def hosts(self) -> list[str]:
        return [r.url.host for r in self.requests]

    def json(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


class FakeTokens:
    """An AccessTokenProvider that behaves like the real one (cache, refresh, persist)."""

    def __init__(
        self,
        endpoint: str = ENDPOINT,
        value: str = ACCESS,
        *,
        refreshed_endpoint: str | None = None,
    ) -> None:
        self.token = AccessToken(
            value, endpoint, datetime.now(UTC) + timedelta(hours=24), application_id=APP_ID
        )
        # The endpointUrl the token service names with a refreshed token (None: unchanged).
        self.refreshed_endpoint = refreshed_endpoint
        self.refresh_calls: list[AccessToken] = []
        self.moved: list[tuple[AccessToken, str]] = []
        self.current_calls = 0

    async def current(self) -> AccessToken:
        self.current_calls += 1
        return self.token

    async def refresh(self, rejected: AccessToken) -> AccessToken:
        self.refresh_calls.append(rejected)
        if self.token == rejected:
            endpoint = self.refreshed_endpoint or self.token.endpoint_url
            self.token = replace(self.token, value=ACCESS_2, endpoint_url=endpoint)
        return self.token

    async def endpoint_moved(self, token: AccessToken, new_endpoint_url: str) -> AccessToken:
        self.moved.append((token, new_endpoint_url))
        self.token = replace(token, endpoint_url=new_endpoint_url)
        return self.token


def make_transport(
    kaizala: FakeKaizala,
    *,
    time: FakeTime | None = None,
    limiter: RateLimiter | None = None,
    allowed_hosts: tuple[str, ...] = ("*.kaiza.la",),
    api_root: str = API_ROOT,
    max_attempts: int = 3,
    backoff_base: float = 0.5,
    backoff_cap: float = 8.0,
    retry_after_cap: float = 120.0,
    jitter: Callable[[], float] = lambda: 1.0,  # back-off delays become exactly base * 2**n
    **tuning: Any,
) -> KaizalaTransport:
    """The real transport over the fake Kaizala, with fake time (waits cost no wall time)."""
    time = time or FakeTime()
    limiter = limiter or RateLimiter(1000, 60, clock=time.clock, sleep=time.sleep)
    retry = RetryPolicy(
        max_attempts=max_attempts,
        base_delay=backoff_base,
        max_delay=backoff_cap,
        max_retry_after=retry_after_cap,
        jitter=jitter,
    )
    return KaizalaTransport(
        build_http_client(httpx.MockTransport(kaizala)),
        api_root,
        allowed_hosts,
        limiter,
        retry=retry,
        sleep=time.sleep,
        clock=time.clock,
        **tuning,
    )


def make_client(
    kaizala: FakeKaizala, tokens: FakeTokens | None = None, **options: Any
) -> KaizalaClient:
    """A client over `make_transport(kaizala, **options)`."""
    return KaizalaClient(make_transport(kaizala, **options), tokens or FakeTokens())
