"""The Kaizala request loop: one per process, around one pooled `httpx.AsyncClient`.

Every call goes through `KaizalaTransport`, whose steps keep the connector healthy and its
token safe:
- `_check_destination`: the access token only goes to https hosts matching `allowed_hosts` or
  the token's own endpoint host (plain http only on loopback), checked before every send;
- `_follow_move`: 308 is followed (at most `max_redirects` times, each hop checked before the
  token goes there) and the moved base URL is persisted;
- `_refresh_once`: 401 on a platform call refreshes the token once and retries once;
- `_throttled`: 429 pauses the shared limiter for Retry-After (the configured default when it
  is unusable, every wait capped), then retries a bounded number of times;
- `_backed_off`, `_after_transport_error`: failures are retried with full-jitter back-off as
  `RetryPolicy` decides: idempotent calls only, a POST only when the request cannot have
  reached Kaizala (retrying a POST could post a survey twice).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from shared import telemetry
from shared.adapters.kaizala.answers import status_error
from shared.adapters.kaizala.auth import AccessToken, AccessTokenProvider
from shared.adapters.kaizala.calls import Call, Files, SecretMemory, request_id
from shared.adapters.kaizala.endpoints import (
    base_from_location,
    host_of,
    is_token_destination,
    platform_url,
)
from shared.adapters.kaizala.errors import (
    KaizalaEndpointRefusedError,
    KaizalaRateLimitedError,
    KaizalaRedirectRefusedError,
    KaizalaTransportError,
    KaizalaValidationError,
)
from shared.adapters.kaizala.limiter import RateLimiter
from shared.adapters.kaizala.pool import build_http_client, send_attempt
from shared.adapters.retry import RetryPolicy, parse_retry_after
from shared.clock import Clock, wall
from shared.logsafe import redact

if TYPE_CHECKING:
    from shared.config import Settings

logger = logging.getLogger("shared.adapters.kaizala")

# Failures that happen before a byte of the request left: safe to retry even for a POST.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

Sleep = Callable[[float], Awaitable[None]]


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class KaizalaTransport:
    """Sends Kaizala calls under the rules above. Built once per process; safe for concurrent use.

    Shared by the token-service client and the platform client, so both use one pool, one
    limiter and one memory of the secrets to hide.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_root: str,
        allowed_hosts: Sequence[str],
        limiter: RateLimiter,
        *,
        retry: RetryPolicy | None = None,
        rate_limit_attempts: int = 3,
        max_redirects: int = 3,
        retry_after_default: float = 60.0,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = wall,
    ) -> None:
        root = api_root.rstrip("/")
        if not is_token_destination(root, (), host_of(root)):
            raise ValueError("api_root must be an https URL (plain http only for loopback hosts)")
        self._http = http
        self.api_root = root
        self._allowed_hosts = tuple(h for h in allowed_hosts if h.strip())
        self._limiter = limiter
        self._retry = retry or RetryPolicy()
        # 429s have their own budget: a throttled call was not processed, even a POST.
        self._throttle = replace(self._retry, max_attempts=max(1, rate_limit_attempts))
        self._max_redirects = max_redirects
        self._retry_after_default = retry_after_default
        self._sleep = sleep
        self._clock = clock  # for Retry-After given as an HTTP date
        self._memory = SecretMemory()  # the secrets every error of both clients hides

    @classmethod
    def from_settings(
        cls, settings: Settings, http: httpx.AsyncClient | None = None, *, clock: Clock = wall
    ) -> KaizalaTransport:
        limiter = RateLimiter(
            settings.kaizala_calls_per_minute, settings.kaizala_throttle_window_seconds
        )
        return cls(
            http or build_http_client(),
            settings.kaizala_api_root,
            settings.kaizala_allowed_hosts,
            limiter,
            clock=clock,
        )

    @property
    def limiter(self) -> RateLimiter:
        return self._limiter

    async def aclose(self) -> None:
        """Close the pooled HTTP client (process shutdown)."""
        await self._http.aclose()

    # --- the two kinds of call ---------------------------------------------------------------

    async def service(
        self,
        method: str,
        rel_path: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        secrets: Sequence[str],
        local_secrets: tuple[str, ...] = (),
    ) -> tuple[Call, httpx.Response]:
        """A token-service call (`<api_root>/<rel_path>`): credentials in headers, no token."""
        call = Call(
            method,
            rel_path,
            rel_path,
            self._memory,
            local_secrets=local_secrets,
            headers=dict(headers or {}),
            json_body=json_body,
        )
        call.learn(*secrets)
        call.url = f"{self.api_root}/{rel_path}"
        return call, await self._execute(call, None)

    async def platform(
        self,
        tokens: AccessTokenProvider,
        method: str,
        template: str,
        rel_path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        files: Files | None = None,
        secrets: Sequence[str] = (),
        application_id_header: bool = False,
    ) -> tuple[Call, httpx.Response]:
        """A platform call (`<endpointUrl>/v1/<rel_path>`) with the provider's access token
        (and, with `application_id_header`, the token's connector as `applicationId`)."""
        call = Call(
            method,
            template,
            rel_path,
            self._memory,
            json_body=json_body,
            files=files,
            params=params or None,
            application_id_header=application_id_header,
        )
        call.learn(*secrets)
        call.token = token = await tokens.current()
        call.learn(token.value)
        if application_id_header and not token.application_id:
            raise KaizalaValidationError(
                f"{template} needs the connector's applicationId, which the token lacks"
            )
        call.url = self._platform_target(call, token)
        return call, await self._execute(call, tokens)

    # --- the loop ----------------------------------------------------------------------------

    async def _execute(self, call: Call, tokens: AccessTokenProvider | None) -> httpx.Response:
        """Send `call` until it succeeds or a rule says stop; raise the typed error."""
        name = f"kaizala {call.method} {call.template}"
        attributes = {"http.request.method": call.method, "url.template": call.template}
        with telemetry.span(name, "client", **attributes) as scope:
            status: int | str = "-"
            try:
                while True:
                    self._check_destination(call)
                    await self._limiter.acquire()
                    call.attempts += 1
                    try:
                        response = await send_attempt(self._http, call)
                    except httpx.RequestError as exc:
                        status = type(exc).__name__
                        await self._after_transport_error(call, exc)
                        continue
                    status = response.status_code
                    if 200 <= status < 300:
                        return response
                    if not await self._handled(call, response, tokens):
                        raise status_error(response, call)
            finally:
                # The URL as last sent, without its query; never a header.
                scope.set(
                    **{"url.full": _without_query(call.url), "http.response.status_code": status},
                    attempts=call.attempts,
                )
                elapsed_ms = (time.perf_counter() - call.started) * 1000
                level = (
                    logging.INFO if isinstance(status, int) and status < 300 else logging.WARNING
                )
                logger.log(
                    level,
                    "kaizala %s %s status=%s attempts=%d duration_ms=%.0f",
                    call.method,
                    call.template,
                    status,
                    call.attempts,
                    elapsed_ms,
                )

    async def _handled(
        self, call: Call, response: httpx.Response, tokens: AccessTokenProvider | None
    ) -> bool:
        """Apply the rule for a non-2xx answer: True to send again, False to fail with it."""
        status = response.status_code
        if status == 308 and response.headers.get("location"):
            await self._follow_move(call, response, tokens)
            return True
        if status == 401 and tokens is not None and call.token is not None and not call.refreshed:
            await self._refresh_once(call, call.token, tokens)
            return True
        if status == 429:
            self._throttled(call, response)
            return True
        return await self._backed_off(call, response)

    # --- the steps ---------------------------------------------------------------------------

    def _endpoint_host(self, call: Call) -> str | None:
        return host_of(call.token.endpoint_url if call.token else self.api_root)

    def _platform_target(self, call: Call, token: AccessToken) -> str:
        url = platform_url(token.endpoint_url, call.rel_path)
        # The query is fixed into the URL once, so a redirect's Location replaces it whole.
        return str(httpx.URL(url, params=dict(call.params))) if call.params else url

    def _check_destination(self, call: Call) -> None:
        if not is_token_destination(call.url, self._allowed_hosts, self._endpoint_host(call)):
            raise KaizalaEndpointRefusedError(
                "refusing to send credentials to this endpoint "
                "(https on an allowed host required; http only on loopback)",
                **call.error_kwargs(),
            )

    async def _follow_move(
        self, call: Call, response: httpx.Response, tokens: AccessTokenProvider | None
    ) -> None:
        """308: check the new host before anything goes there; persist a moved endpoint."""
        call.redirects += 1
        target = urljoin(call.url, response.headers["location"])
        if call.redirects > self._max_redirects:
            raise KaizalaRedirectRefusedError(
                f"more than {self._max_redirects} redirects",
                upstream_status=response.status_code,
                **call.error_kwargs(),
            )
        if not is_token_destination(target, self._allowed_hosts, self._endpoint_host(call)):
            raise KaizalaRedirectRefusedError(
                f"308 to a host that is not allowed ({host_of(target) or '?'}); "
                "nothing was sent there",
                upstream_status=response.status_code,
                **call.error_kwargs(),
            )
        if call.token is not None and tokens is not None:
            new_base = base_from_location(target, call.rel_path)
            if new_base is not None:
                logger.info("kaizala endpoint moved to host %s (persisting)", host_of(new_base))
                call.token = await tokens.endpoint_moved(call.token, new_base)
        call.url = target

    async def _refresh_once(
        self, call: Call, rejected: AccessToken, tokens: AccessTokenProvider
    ) -> None:
        """401: one new token (or the one another caller already got), then one more try."""
        call.refreshed = True
        call.token = token = await tokens.refresh(rejected)
        call.learn(token.value)
        if token.endpoint_url != rejected.endpoint_url:
            # The retry goes to the new token's endpoint (and is checked there first).
            call.url = self._platform_target(call, token)

    def _throttled(self, call: Call, response: httpx.Response) -> None:
        """429: everyone waits, not just this caller (the budget is per connector)."""
        call.throttled += 1
        telemetry.count(telemetry.KAIZALA_THROTTLED)
        parsed = parse_retry_after(response.headers.get("retry-after"), now=self._clock())
        retry_after = self._throttle.sleep_time(
            call.throttled, self._retry_after_default if parsed is None else parsed
        )
        self._limiter.pause_for(retry_after)
        logger.warning(
            "kaizala throttled (429) on %s %s: pausing all calls for %.1fs",
            call.method,
            call.template,
            retry_after,
        )
        if self._throttle.should_retry(call.throttled, method=call.method, status=429):
            return  # the limiter holds the retry until the pause is over
        raise KaizalaRateLimitedError(
            "Kaizala rate limit",
            retry_after=retry_after,
            upstream_status=response.status_code,
            body_excerpt=response.text,
            request_id=request_id(response),
            **call.error_kwargs(),
        )

    async def _backed_off(self, call: Call, response: httpx.Response) -> bool:
        """A retryable status of an idempotent call: wait (a 503's Retry-After, else back-off)."""
        attempt = call.failures + 1
        if not self._retry.should_retry(attempt, method=call.method, status=response.status_code):
            return False
        call.failures = attempt
        retry_after = None
        if response.status_code == 503:
            retry_after = parse_retry_after(response.headers.get("retry-after"), now=self._clock())
        await self._sleep(self._retry.sleep_time(attempt, retry_after))
        return True

    async def _after_transport_error(self, call: Call, exc: httpx.RequestError) -> None:
        """No answer: wait and retry if the policy allows (a POST only if it never left)."""
        attempt = call.failures + 1
        sent = not isinstance(exc, _NOT_SENT)
        if self._retry.should_retry(attempt, method=call.method, status=None, sent=sent):
            call.failures = attempt
            await self._sleep(self._retry.sleep_time(attempt))
            return
        detail = redact(str(exc)[:200], call.secrets())
        # `from None`: the httpx error holds the request, headers and all.
        raise KaizalaTransportError(
            f"transport error: {type(exc).__name__}: {detail}", **call.error_kwargs()
        ) from None
