"""The webhook callback token: created once, rotated with a grace period, checked per request.

Kaizala sends the `callBackToken` given at subscription time in the `kz-callback-token` header of
every callback. The token lives in the secret store (`kaizala-callback-token`); its versions give
the rotation history: the newest version is current, and an older one stays accepted until
`CALLBACK_TOKEN_GRACE_HOURS` after the version that replaced it was created, so subscriptions
still carrying it keep working while they are re-registered.

The accepted values are cached in memory, so the webhook hot path does not read the store. A
mismatch may reload them, at most once per `reload_interval`: a token rotated by another
instance is picked up within seconds, yet a stream of forged tokens cannot drive store reads.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import secrets
from dataclasses import dataclass, field

from shared.adapters.secrets import CALLBACK_TOKEN, SecretStore
from shared.clock import Clock, wall

log = logging.getLogger(__name__)

CACHE_SECONDS = 300.0
RELOAD_INTERVAL_SECONDS = 30.0
# Far above token_urlsafe(32) (43 chars); anything longer is rejected before any comparison.
MAX_TOKEN_LENGTH = 512
VERSIONS_KEPT = 3


@dataclass(frozen=True)
class _Accepted:
    value: bytes = field(repr=False)
    until: float  # epoch seconds; math.inf for the current version


class CallbackTokens:
    """Per-process holder of the accepted callback tokens (see the module docstring)."""

    def __init__(
        self,
        store: SecretStore,
        grace_hours: float,
        clock: Clock = wall,
        *,
        cache_seconds: float = CACHE_SECONDS,
        reload_interval: float = RELOAD_INTERVAL_SECONDS,
    ) -> None:
        self._store = store
        self._grace = grace_hours * 3600.0
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._reload_interval = reload_interval
        self._accepted: tuple[_Accepted, ...] = ()
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"CallbackTokens(accepted={len(self._accepted)})"

    async def ensure(self) -> str:
        """The current token, created (token_urlsafe(32)) when the store has none."""
        async with self._lock:
            current = await self._store.get(CALLBACK_TOKEN)
            if current is None:
                await self._store.set(CALLBACK_TOKEN, secrets.token_urlsafe(32))
                log.info("callback token created")
                # Read back rather than trust our own value: with Key Vault two instances may
                # race here, and the newest version is the one every instance will use.
                current = await self._store.get(CALLBACK_TOKEN)
                if current is None:  # pragma: no cover - a store that loses writes
                    raise RuntimeError("the secret store did not keep the callback token")
            await self._load()
            return current.value

    async def rotate(self) -> str:
        """A new current token; the replaced one stays accepted for the grace period."""
        async with self._lock:
            created = await self._store.set(CALLBACK_TOKEN, secrets.token_urlsafe(32))
            log.info("callback token rotated")
            await self._load()
            return created.value

    async def verify(self, presented: str | None) -> bool:
        """True if `presented` is the current token or a replaced one still in its grace period."""
        if not isinstance(presented, str) or not presented or len(presented) > MAX_TOKEN_LENGTH:
            return False
        try:
            candidate = presented.encode("ascii")
        except UnicodeEncodeError:
            return False
        now = self._clock()
        if self._loaded_at is None or now - self._loaded_at >= self._cache_seconds:
            await self._reload(now, min_age=self._cache_seconds)
        if self._matches(candidate, now):
            return True
        if self._loaded_at is not None and now - self._loaded_at < self._reload_interval:
            return False
        # A mismatch after the reload interval: perhaps rotated elsewhere; look once.
        await self._reload(now, min_age=self._reload_interval)
        return self._matches(candidate, now)

    def _matches(self, candidate: bytes, now: float) -> bool:
        found = False
        # Every accepted value is compared (no early exit), each in constant time.
        for accepted in self._accepted:
            if hmac.compare_digest(candidate, accepted.value) and now < accepted.until:
                found = True
        return found

    async def _reload(self, now: float, min_age: float) -> None:
        async with self._lock:
            # Another caller may have reloaded while this one waited for the lock.
            if self._loaded_at is not None and now - self._loaded_at < min_age:
                return
            await self._load()

    async def _load(self) -> None:
        """Read the versions (newest first) and keep those still accepted. Call with the lock."""
        versions = await self._store.versions(CALLBACK_TOKEN, VERSIONS_KEPT)
        now = self._clock()
        accepted: list[_Accepted] = []
        for i, secret in enumerate(versions):
            # A replaced version is accepted until grace after its successor was created.
            until = math.inf if i == 0 else versions[i - 1].created_on + self._grace
            if until > now and secret.value:
                accepted.append(_Accepted(secret.value.encode("utf-8"), until))
        self._accepted = tuple(accepted)
        self._loaded_at = now
