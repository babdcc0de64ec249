"""Bearer tokens for Dataverse: a static one for the local simulator, or azure-identity's."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from shared.adapters.dataverse.errors import DataverseUnavailableError
from shared.clock import Clock, wall
from shared.errors import ConfigError

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential


class TokenSource(Protocol):
    async def token(self, scope: str) -> str: ...

    def invalidate(self) -> None: ...

    async def close(self) -> None: ...


class StaticTokenSource:
    """A fixed bearer token, for a local simulator only (DataverseClient enforces loopback)."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ConfigError("DATAVERSE_STATIC_TOKEN", "is empty")
        self._token = token

    def __repr__(self) -> str:
        return "StaticTokenSource(<redacted>)"

    async def token(self, scope: str) -> str:
        return self._token

    def invalidate(self) -> None:
        """Nothing to refresh: a static token stays what it is."""

    async def close(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True)
class _CachedToken:
    token: str
    refresh_at: float


class AzureIdentityTokenSource:
    """Tokens from an azure-identity async credential, cached until shortly before expiry.

    One credential call per token lifetime (about an hour), not one per request: the managed
    identity endpoint is slow and has its own limits.
    """

    def __init__(
        self,
        credential: AsyncTokenCredential,
        *,
        refresh_margin: float = 300.0,
        clock: Clock = wall,
        close_credential: bool = False,
    ) -> None:
        self._credential = credential
        self._margin = refresh_margin
        self._clock = clock
        self._close_credential = close_credential
        self._cache: dict[str, _CachedToken] = {}
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"AzureIdentityTokenSource({type(self._credential).__name__})"

    async def token(self, scope: str) -> str:
        cached = self._cache.get(scope)
        if cached and self._clock() < cached.refresh_at:
            return cached.token
        # One refresh at a time: concurrent callers wait for it instead of all asking.
        async with self._lock:
            cached = self._cache.get(scope)
            now = self._clock()
            if cached and now < cached.refresh_at:
                return cached.token
            try:
                access = await self._credential.get_token(scope)
            except Exception as exc:
                # Managed identity endpoints fail transiently; a misconfiguration also ends up
                # here and surfaces through the caller's attempt limit. Only the type is told:
                # the credential's own text can name endpoints, tenants or claims.
                raise DataverseUnavailableError(
                    None, f"Could not get a Dataverse token ({type(exc).__name__})."
                ) from exc
            refresh_at = access.expires_on - self._margin
            if refresh_at <= now:  # a short-lived token: use it for half its remaining life
                refresh_at = now + max(0.0, access.expires_on - now) / 2
            self._cache[scope] = _CachedToken(access.token, refresh_at)
            return access.token

    def invalidate(self) -> None:
        """Forget cached tokens (after a 401: the token may have been revoked)."""
        self._cache.clear()

    async def close(self) -> None:
        if self._close_credential:
            await self._credential.close()
