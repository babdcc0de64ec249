"""Kaizala token lifecycle: a per-process cache, refresh-ahead, one refresh across instances.

The rule (documented in the README):
- An access token is refreshed when half of its lifetime has passed, and never later than
  5 minutes before it expires. Kaizala issues 24 h tokens, so a token is renewed after ~12 h,
  and the hourly `renew_kaizala_token` timer renews it long before a request would find it stale.
- Within a process an asyncio lock makes concurrent callers share one refresh. Across instances
  a lease row in table storage (compare-and-swap on its ETag) elects one refresher; the others
  poll the row and then read the new token from the secret store.
- A non-empty `refreshToken` in the access-token response (rotation, from day 328) is written to
  the secret store *before* the new access token is used or published.
- The lease row also carries non-secret metadata (expiry, endpoint, generation, refresh-token
  expiry and rotation), so the hot path and /api/health never read Key Vault: the secret store
  is read once per token generation per instance.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from shared import telemetry
from shared.adapters.kaizala import AccessToken, AccessTokenResponse
from shared.adapters.secrets import (
    ACCESS_TOKEN,
    APPLICATION_ID,
    APPLICATION_SECRET,
    REFRESH_TOKEN,
    SecretStore,
)
from shared.clock import Clock, from_ms, iso_seconds, now_ms, to_ms, wall
from shared.errors import UnavailableError, UpstreamError
from shared.stores.kaizala_token import RefreshFacts, TokenRow, TokenRowStore

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0
REFRESH_MARGIN_SECONDS = 300.0
REFRESH_TOKEN_LIFETIME_MS = 365 * 24 * 3600 * 1000
REFRESH_WARNING_MS = 30 * 24 * 3600 * 1000

Fetcher = Callable[[str, str, str], Awaitable[AccessTokenResponse]]
Sleep = Callable[[float], Awaitable[None]]


class NotOnboardedError(UpstreamError):
    status = 503
    slug = "not-onboarded"
    title = "Kaizala connector not onboarded"


@dataclass(frozen=True)
class TokenState:
    """Non-secret facts about the current access token, as kept in the lease row."""

    generation: int
    issued_ms: int
    expires_ms: int
    endpoint_url: str

    def refresh_at(self) -> float:
        """Epoch seconds at which this token is due: half-life, or 5 min before expiry."""
        lifetime = (self.expires_ms - self.issued_ms) / 1000
        half = self.issued_ms / 1000 + lifetime / 2
        return min(half, self.expires_ms / 1000 - min(REFRESH_MARGIN_SECONDS, lifetime / 2))


@dataclass(frozen=True)
class _Cached:
    token: AccessToken
    state: TokenState


class TokenManager:
    def __init__(
        self,
        fetch: Fetcher,
        store: SecretStore,
        rows: TokenRowStore,
        *,
        clock: Clock = wall,
        sleep: Sleep = asyncio.sleep,
        instance_id: str | None = None,
        poll_seconds: float = 0.25,
        max_wait_seconds: float = 30.0,
    ) -> None:
        self._fetch = fetch
        self._store = store
        self._rows = rows
        self._clock = clock
        self._sleep = sleep  # injectable with the clock: a test waits out a lease instantly
        self.instance_id = instance_id or uuid.uuid4().hex[:12]
        self._poll = poll_seconds
        self._max_wait = max_wait_seconds
        self._cached: _Cached | None = None
        self._lock = asyncio.Lock()

    # --- AccessTokenProvider ------------------------------------------------------------------

    async def current(self) -> AccessToken:
        cached = self._cached
        if cached and self._clock() < cached.state.refresh_at():
            return cached.token
        async with self._lock:
            cached = self._cached
            if cached and self._clock() < cached.state.refresh_at():
                return cached.token
            token, _ = await self._obtain(rejected_generation=None)
            return token

    async def refresh(self, rejected: AccessToken) -> AccessToken:
        async with self._lock:
            cached = self._cached
            if cached and cached.token.value != rejected.value:
                return cached.token  # another caller already replaced it
            gen = cached.state.generation if cached else -1
            token, _ = await self._obtain(rejected_generation=gen)
            return token

    async def endpoint_moved(self, token: AccessToken, new_endpoint_url: str) -> AccessToken:
        async with self._lock:
            cached = self._cached
            if cached is None or cached.token.value != token.value:
                state = TokenState(0, 0, to_ms(token.expires_on), new_endpoint_url)
                cached = _Cached(token, state)
            moved = replace(cached.token, endpoint_url=new_endpoint_url)
            state = replace(cached.state, endpoint_url=new_endpoint_url)
            await self._store.set(ACCESS_TOKEN, moved.value, self._tags(state, moved))
            await self._rows.move_endpoint(state.generation, new_endpoint_url)
            self._cached = _Cached(moved, state)
            log.info("Kaizala endpoint moved; new endpoint persisted")
            return moved

    # --- timer and onboarding -----------------------------------------------------------------

    async def renew_if_due(self) -> str:
        """For the timer: 'renewed' after a refresh, 'fresh' when nothing was due (no call)."""
        async with self._lock:
            row = await self._rows.read()
            state = _state(row)
            if state and self._clock() < state.refresh_at():
                outcome = "fresh"
            else:
                _, refreshed = await self._obtain(rejected_generation=None, row=row)
                outcome = "renewed" if refreshed else "fresh"
        status = await self.status()
        if status.get("refreshTokenExpiring"):
            log.warning("Kaizala %s", status["detail"])
        return outcome

    async def refresh_token_changed(self, expires_ms: int | None) -> None:
        """After PIN onboarding: the next use must fetch a token with the new refresh token."""
        async with self._lock:
            self._cached = None
            await self._rows.refresh_token_changed(expires_ms or 0, now_ms(self._clock))

    async def status(self) -> dict[str, Any]:
        """Token facts for /api/health (from the lease row; never a token value)."""
        row = await self._rows.read()
        now = now_ms(self._clock)
        if row is None:
            return {"status": "warn", "detail": "no access token yet (connector not onboarded?)"}
        result: dict[str, Any] = {"status": "ok"}
        expires = row.expires_ms
        result["accessTokenExpiresOn"] = iso_seconds(expires) if expires else None
        if expires <= now:
            result["status"] = "warn"
            result["detail"] = "access token expired or not yet obtained"
        refresh_expires = row.refresh_expires_ms
        # Unknown for a token handed over in settings (its issue date is not known).
        result["refreshTokenExpiresOn"] = iso_seconds(refresh_expires) if refresh_expires else None
        if refresh_expires:
            # For the alert "refresh token expiring within 30 days" (renewal timer and health).
            days_left = round((refresh_expires - now) / 86_400_000, 2)
            telemetry.gauge(telemetry.REFRESH_TOKEN_DAYS_LEFT, days_left)
        if refresh_expires and refresh_expires - now < REFRESH_WARNING_MS and not row.rotated_ms:
            result["status"] = "warn"
            result["refreshTokenExpiring"] = True
            result["detail"] = (
                "the refresh token expires within 30 days and no rotation has been seen: "
                "onboard again with the PIN flow"
            )
        if row.rotated_ms:
            result["refreshTokenRotatedOn"] = iso_seconds(row.rotated_ms)
        return result

    # --- the refresh protocol -----------------------------------------------------------------

    async def _obtain(
        self, rejected_generation: int | None, row: TokenRow | None = None
    ) -> tuple[AccessToken, bool]:
        """A usable token, and whether this instance fetched it (rather than a peer)."""
        deadline = self._clock() + self._max_wait
        first = True
        while True:
            if not first or row is None:
                row = await self._rows.read()
            first = False
            state = _state(row)
            usable = (
                state is not None
                and state.generation != rejected_generation
                and self._clock() < state.refresh_at()
            )
            if usable and state is not None:
                cached = self._cached
                if cached and cached.state.generation == state.generation:
                    return cached.token, False
                token = await self._read_published(state)
                if token is not None:
                    return token, False
            if await self._rows.take_lease(row, self.instance_id, LEASE_SECONDS):
                return await self._refresh_as_leader(), True
            # Held by a peer (or the row moved under us): wait for it to publish, at most
            # max_wait. The wait is shorter than the lease, so behind a leader that died the
            # callers get a 503 to retry rather than a request held for the whole lease.
            if self._clock() > deadline:
                raise UnavailableError(
                    "Kaizala token refresh is held by another instance; try again shortly.",
                    retry_after=5,
                )
            await self._sleep(self._poll)

    async def _read_published(self, state: TokenState) -> AccessToken | None:
        secret = await self._store.get(ACCESS_TOKEN)
        if secret is None or secret.tags.get("generation") != str(state.generation):
            return None  # the leader has not published yet (or died before): keep polling
        application_id = secret.tags.get("applicationId")
        if not application_id:
            # Published before the tag existed: the connector's id from its own secret.
            stored = await self._store.get(APPLICATION_ID)
            application_id = stored.value if stored else ""
        token = AccessToken(
            secret.value, state.endpoint_url, from_ms(state.expires_ms), application_id
        )
        self._cached = _Cached(token, state)
        return token

    async def _refresh_as_leader(self) -> AccessToken:
        try:
            app_id = await self._store.get(APPLICATION_ID)
            app_secret = await self._store.get(APPLICATION_SECRET)
            refresh = await self._store.get(REFRESH_TOKEN)
            if app_id is None or app_secret is None or refresh is None:
                raise NotOnboardedError(
                    "The Kaizala connector is not onboarded: store the application id and secret "
                    "and obtain a refresh token with the PIN flow (see README)."
                )
            response = await self._fetch(app_id.value, app_secret.value, refresh.value)
            issued = now_ms(self._clock)
            rotated = bool(response.refreshToken) and response.refreshToken != refresh.value
            row = await self._rows.read()
            if rotated and response.refreshToken:
                # Persist the rotated refresh token before anything uses the new access token:
                # losing it would kill the connector on day 365.
                await self._store.set(
                    REFRESH_TOKEN,
                    response.refreshToken,
                    {
                        "source": "rotation",
                        "issuedOn": str(issued),
                        "expiresOn": str(issued + REFRESH_TOKEN_LIFETIME_MS),
                    },
                )
                log.info("Kaizala refresh token rotated; the new one is stored")
            generation = row.generation + 1 if row else 1
            state = TokenState(
                generation, issued, int(response.accessTokenExpiry), response.endpointUrl
            )
            token = AccessToken(
                response.accessToken, state.endpoint_url, from_ms(state.expires_ms), app_id.value
            )
            await self._store.set(ACCESS_TOKEN, token.value, self._tags(state, token))
            if rotated:
                facts = RefreshFacts(issued + REFRESH_TOKEN_LIFETIME_MS, issued, issued)
            else:
                # Track the stored refresh token's expiry (it changes when an admin onboards
                # again, e.g. from the command line, without going through this instance).
                facts = RefreshFacts()
                expires_tag = refresh.tags.get("expiresOn")
                if expires_tag and expires_tag.isdigit():
                    rotation = refresh.tags.get("source") == "rotation"
                    facts = RefreshFacts(int(expires_tag), rotated_ms=None if rotation else 0)
            await self._rows.publish(
                row,
                generation=generation,
                issued_ms=issued,
                expires_ms=state.expires_ms,
                endpoint_url=state.endpoint_url,
                refresh=facts,
            )
            self._cached = _Cached(token, state)
            telemetry.count(telemetry.TOKEN_REFRESHES, outcome="ok")
            log.info(
                "Kaizala access token renewed (generation %d, expires %s)",
                generation,
                iso_seconds(state.expires_ms),
            )
            return token
        except BaseException as exc:
            if isinstance(exc, Exception):  # a cancelled run is not a refused refresh
                telemetry.count(telemetry.TOKEN_REFRESHES, outcome="failed")
            await self._release_lease()
            raise

    async def _release_lease(self) -> None:
        try:
            await self._rows.release_lease(self.instance_id)
        except Exception:  # the lease expires by itself; the original error matters more
            log.warning("could not release the token lease")

    @staticmethod
    def _tags(state: TokenState, token: AccessToken) -> dict[str, str]:
        return {
            "endpointUrl": state.endpoint_url,
            "expiresOn": str(state.expires_ms),
            "issuedOn": str(state.issued_ms),
            "generation": str(state.generation),
            # Not secret; a peer instance reading the token needs it (FetchGroupDetails).
            "applicationId": token.application_id,
        }


def _state(row: TokenRow | None) -> TokenState | None:
    if row is None or not row.expires_ms or not row.endpoint_url:
        return None
    return TokenState(row.generation, row.issued_ms, row.expires_ms, row.endpoint_url)
