"""The async Kaizala v1 client: every documented operation, over one shared transport.

The operations live in one module per API group (`groups_api`, `content_api`, `webhooks_api`,
and `auth_api` for the token service); `KaizalaClient` gathers them under one object. The rules
every request obeys (host allow-list, 308, 401, 429, back-off) are in `transport`.
"""

from __future__ import annotations

from shared.adapters.kaizala.auth import AccessTokenProvider
from shared.adapters.kaizala.auth_api import KaizalaAuthClient
from shared.adapters.kaizala.content_api import ContentApi
from shared.adapters.kaizala.groups_api import GroupsApi
from shared.adapters.kaizala.limiter import RateLimiter
from shared.adapters.kaizala.models_auth import AccessTokenResponse, RefreshTokenResponse
from shared.adapters.kaizala.transport import KaizalaTransport
from shared.adapters.kaizala.webhooks_api import WebhooksApi


class KaizalaClient(GroupsApi, ContentApi, WebhooksApi):
    """Kaizala v1 operations. Built once per process; safe for concurrent use.

    `auth` is the process's token-service client (the one the token manager fetches through);
    without it one is made over the same transport.
    """

    def __init__(
        self,
        transport: KaizalaTransport,
        tokens: AccessTokenProvider,
        *,
        auth: KaizalaAuthClient | None = None,
    ) -> None:
        self._transport = transport
        self._tokens = tokens
        self._auth = auth or KaizalaAuthClient(transport)

    @property
    def limiter(self) -> RateLimiter:
        return self._transport.limiter

    async def aclose(self) -> None:
        """Close the pooled HTTP client (process shutdown)."""
        await self._transport.aclose()

    # --- token service (delegated: onboarding calls these on the client) ----------------------

    async def generate_pin(self, mobile: str, application_id: str) -> None:
        await self._auth.generate_pin(mobile, application_id)

    async def login_with_pin(
        self, mobile: str, application_id: str, pin: int | str
    ) -> RefreshTokenResponse:
        return await self._auth.login_with_pin(mobile, application_id, pin)

    async def fetch_access_token(
        self, application_id: str, application_secret: str, refresh_token: str
    ) -> AccessTokenResponse:
        return await self._auth.fetch_access_token(
            application_id, application_secret, refresh_token
        )
