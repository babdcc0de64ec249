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
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from shared.adapters.kaizala import AccessToken, AccessTokenResponse
from shared.adapters.secrets import (
    ACCESS_TOKEN,
    APPLICATION_ID,
    APPLICATION_SECRET,
    REFRESH_TOKEN,
    SecretStore,
)
from shared.adapters.tables import Stored, TableStore
from shared.errors import UnavailableError, UpstreamError

log = logging.getLogger(__name__)

LEASE_TABLE = "leases"
LEASE_PK = "kaizala"
LEASE_RK = "access-token"
LEASE_SECONDS = 60.0
REFRESH_MARGIN_SECONDS = 300.0
REFRESH_TOKEN_LIFETIME_MS = 365 * 24 * 3600 * 1000
REFRESH_WARNING_MS = 30 * 24 * 3600 * 1000

Fetcher = Callable[[str, str, str], Awaitable[AccessTokenResponse]]
Clock = Callable[[], float]


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
        tables: TableStore,
        *,
        clock: Clock = time.time,
        instance_id: str | None = None,
        poll_seconds: float = 0.25,
        max_wait_seconds: float = 30.0,
    ) -> None:
        self._fetch = fetch
        self._store = store
        self._tables = tables
        self._clock = clock
        self.instance_id = instance_id or uuid.uuid4().hex[:12]
        self._poll = poll_seconds
        self._max_wait = max_wait_seconds
        self._cached: _Cached | None = None
        self._lock = asyncio.Lock()
        self.refresh_count = 0  # /accessToken calls made by this instance (for tests, bench)
        self.store_reads = 0  # secret-store reads of the access token (for tests, bench)

    # --- AccessTokenProvider ------------------------------------------------------------------

    async def current(self) -> AccessToken:
        cached = self._cached
        if cached and self._clock() < cached.state.refresh_at():
            return cached.token
        async with self._lock:
            cached = self._cached
            if cached and self._clock() < cached.state.refresh_at():
                return cached.token
            return await self._obtain(rejected_generation=None)

    async def refresh(self, rejected: AccessToken) -> AccessToken:
        async with self._lock:
            cached = self._cached
            if cached and cached.token.value != rejected.value:
                return cached.token  # another caller already replaced it
            gen = cached.state.generation if cached else -1
            return await self._obtain(rejected_generation=gen)

    async def endpoint_moved(self, token: AccessToken, new_endpoint_url: str) -> AccessToken:
        async with self._lock:
            cached = self._cached
            if cached is None or cached.token.value != token.value:
                cached = _Cached(token, TokenState(0, 0, _ms(token.expires_on), new_endpoint_url))
            moved = replace(cached.token, endpoint_url=new_endpoint_url)
            state = replace(cached.state, endpoint_url=new_endpoint_url)
            await self._store.set(ACCESS_TOKEN, moved.value, self._tags(state))
            row = await self._tables.get(LEASE_TABLE, LEASE_PK, LEASE_RK)
            if row is not None and int(row.entity.get("generation", -1)) == state.generation:
                await self._tables.update(
                    LEASE_TABLE,
                    {"PartitionKey": LEASE_PK, "RowKey": LEASE_RK, "endpointUrl": new_endpoint_url},
                    row.etag,
                )
            self._cached = _Cached(moved, state)
            log.info("Kaizala endpoint moved; new endpoint persisted")
            return moved

    # --- timer and onboarding -----------------------------------------------------------------

    async def renew_if_due(self) -> str:
        """For the timer: 'renewed' after a refresh, 'fresh' when nothing was due (no call)."""
        async with self._lock:
            row = await self._tables.get(LEASE_TABLE, LEASE_PK, LEASE_RK)
            state = _state(row)
            if state and self._clock() < state.refresh_at():
                outcome = "fresh"
            else:
                before = self.refresh_count
                await self._obtain(rejected_generation=None, row=row)
                outcome = "renewed" if self.refresh_count > before else "fresh"
        status = await self.status()
        if status.get("refreshTokenExpiring"):
            log.warning("Kaizala %s", status["detail"])
        return outcome

    async def refresh_token_changed(self, expires_ms: int | None) -> None:
        """After PIN onboarding: the next use must fetch a token with the new refresh token."""
        async with self._lock:
            self._cached = None
            fields: dict[str, Any] = {
                "PartitionKey": LEASE_PK,
                "RowKey": LEASE_RK,
                "expiresOn": 0,
                "issuedOn": 0,
                "refreshExpiresOn": expires_ms or 0,
                "refreshIssuedOn": _ms_now(self._clock),
                "rotatedOn": 0,
            }
            row = await self._tables.get(LEASE_TABLE, LEASE_PK, LEASE_RK)
            if row is None:
                await self._tables.insert(LEASE_TABLE, {**fields, "generation": 0})
            else:
                await self._tables.upsert(LEASE_TABLE, fields)

    async def status(self) -> dict[str, Any]:
        """Token facts for /api/health (from the lease row; never a token value)."""
        row = await self._tables.get(LEASE_TABLE, LEASE_PK, LEASE_RK)
        now_ms = _ms_now(self._clock)
        if row is None:
            return {"status": "warn", "detail": "no access token yet (connector not onboarded?)"}
        e = row.entity
        result: dict[str, Any] = {"status": "ok"}
        expires = int(e.get("expiresOn", 0))
        result["accessTokenExpiresOn"] = _iso(expires) if expires else None
        if expires <= now_ms:
            result["status"] = "warn"
            result["detail"] = "access token expired or not yet obtained"
        refresh_expires = int(e.get("refreshExpiresOn", 0))
        # Unknown for a token handed over in settings (its issue date is not known).
        result["refreshTokenExpiresOn"] = _iso(refresh_expires) if refresh_expires else None
        if refresh_expires:
            rotated = int(e.get("rotatedOn", 0))
            if refresh_expires - now_ms < REFRESH_WARNING_MS and not rotated:
                result["status"] = "warn"
                result["refreshTokenExpiring"] = True
                result["detail"] = (
                    "the refresh token expires within 30 days and no rotation has been seen: "
                    "onboard again with the PIN flow"
                )
        if e.get("rotatedOn"):
            result["refreshTokenRotatedOn"] = _iso(int(e["rotatedOn"]))
        return result

    # --- the refresh protocol -----------------------------------------------------------------

    async def _obtain(
        self, rejected_generation: int | None, row: Stored | None = None
    ) -> AccessToken:
        deadline = self._clock() + self._max_wait
        first = True
        while True:
            if not first or row is None:
                row = await self._tables.get(LEASE_TABLE, LEASE_PK, LEASE_RK)
            first = False
            state = _state(row)
            now = self._clock()
            usable = (
                state is not None
                and state.generation != rejected_generation
                and now < state.refresh_at()
            )
            if usable and state is not None:
                cached = self._cached
                if cached and cached.state.generation == state.generation:
                    return cached.token
                token = await self._read_published(state)
                if token is not None:
                    return token
            lease_free = row is None or float(row.entity.get("leaseUntil", 0)) < now
            if lease_free and await self._take_lease(row, now):
                return await self._refresh_as_leader()
            if self._clock() > deadline:
                raise UnavailableError(
                    "Kaizala token refresh is held by another instance; try again shortly.",
                    retry_after=5,
                )
            await asyncio.sleep(self._poll)

    async def _read_published(self, state: TokenState) -> AccessToken | None:
        secret = await self._store.get(ACCESS_TOKEN)
        self.store_reads += 1
        if secret is None or secret.tags.get("generation") != str(state.generation):
            return None  # the leader has not published yet (or died before): keep polling
        token = AccessToken(secret.value, state.endpoint_url, _dt(state.expires_ms))
        self._cached = _Cached(token, state)
        return token

    async def _take_lease(self, row: Stored | None, now: float) -> bool:
        lease = {
            "PartitionKey": LEASE_PK,
            "RowKey": LEASE_RK,
            "holder": self.instance_id,
            "leaseUntil": now + LEASE_SECONDS,
        }
        if row is None:
            return await self._tables.insert(
                LEASE_TABLE, {**lease, "generation": 0, "expiresOn": 0, "issuedOn": 0}
            )
        return await self._tables.update(LEASE_TABLE, lease, row.etag)

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
            self.refresh_count += 1
            response = await self._fetch(app_id.value, app_secret.value, refresh.value)
            now_ms = _ms_now(self._clock)
            rotated = bool(response.refreshToken) and response.refreshToken != refresh.value
            row = await self._tables.get(LEASE_TABLE, LEASE_PK, LEASE_RK)
            if rotated and response.refreshToken:
                # Persist the rotated refresh token before anything uses the new access token:
                # losing it would kill the connector on day 365.
                await self._store.set(
                    REFRESH_TOKEN,
                    response.refreshToken,
                    {
                        "source": "rotation",
                        "issuedOn": str(now_ms),
                        "expiresOn": str(now_ms + REFRESH_TOKEN_LIFETIME_MS),
                    },
                )
                log.info("Kaizala refresh token rotated; the new one is stored")
            generation = int(row.entity.get("generation", 0)) + 1 if row else 1
            state = TokenState(
                generation, now_ms, int(response.accessTokenExpiry), response.endpointUrl
            )
            await self._store.set(ACCESS_TOKEN, response.accessToken, self._tags(state))
            fields: dict[str, Any] = {
                "PartitionKey": LEASE_PK,
                "RowKey": LEASE_RK,
                "generation": generation,
                "issuedOn": now_ms,
                "expiresOn": state.expires_ms,
                "endpointUrl": state.endpoint_url,
                "holder": "",
                "leaseUntil": 0.0,
            }
            if rotated:
                fields["rotatedOn"] = now_ms
                fields["refreshIssuedOn"] = now_ms
                fields["refreshExpiresOn"] = now_ms + REFRESH_TOKEN_LIFETIME_MS
            else:
                # Track the stored refresh token's expiry (it changes when an admin onboards
                # again, e.g. from the command line, without going through this instance).
                expires_tag = refresh.tags.get("expiresOn")
                if expires_tag and expires_tag.isdigit():
                    fields["refreshExpiresOn"] = int(expires_tag)
                    if refresh.tags.get("source") != "rotation":
                        fields["rotatedOn"] = 0
            if row is None or not await self._tables.update(LEASE_TABLE, fields, row.etag):
                await self._tables.upsert(LEASE_TABLE, fields)
            token = AccessToken(response.accessToken, state.endpoint_url, _dt(state.expires_ms))
            self._cached = _Cached(token, state)
            log.info(
                "Kaizala access token renewed (generation %d, expires %s)",
                generation,
                _iso(state.expires_ms),
            )
            return token
        except BaseException:
            await self._release_lease()
            raise

    async def _release_lease(self) -> None:
        try:
            row = await self._tables.get(LEASE_TABLE, LEASE_PK, LEASE_RK)
            if row is not None and row.entity.get("holder") == self.instance_id:
                await self._tables.update(
                    LEASE_TABLE,
                    {"PartitionKey": LEASE_PK, "RowKey": LEASE_RK, "holder": "", "leaseUntil": 0.0},
                    row.etag,
                )
        except Exception:  # the lease expires by itself; the original error matters more
            log.warning("could not release the token lease")

    @staticmethod
    def _tags(state: TokenState) -> dict[str, str]:
        return {
            "endpointUrl": state.endpoint_url,
            "expiresOn": str(state.expires_ms),
            "issuedOn": str(state.issued_ms),
            "generation": str(state.generation),
        }


def _state(row: Stored | None) -> TokenState | None:
    if row is None:
        return None
    e = row.entity
    expires = int(e.get("expiresOn", 0))
    if not expires or not e.get("endpointUrl"):
        return None
    return TokenState(
        int(e.get("generation", 0)), int(e.get("issuedOn", 0)), expires, str(e["endpointUrl"])
    )


def _ms_now(clock: Clock) -> int:
    return int(clock() * 1000)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _iso(ms: int) -> str:
    return _dt(ms).isoformat(timespec="seconds")
