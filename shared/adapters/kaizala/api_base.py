"""The common ground of the platform operation groups (groups, content, webhooks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shared.adapters.kaizala.auth import AccessTokenProvider
from shared.adapters.kaizala.calls import Call, Files

if TYPE_CHECKING:
    import httpx

    from shared.adapters.kaizala.transport import KaizalaTransport


class PlatformApi:
    """Platform calls: `<endpointUrl>/v1/...` with the provider's access token."""

    _transport: KaizalaTransport
    _tokens: AccessTokenProvider

    async def _platform(
        self,
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
        return await self._transport.platform(
            self._tokens,
            method,
            template,
            rel_path,
            params=params,
            json_body=json_body,
            files=files,
            secrets=secrets,
            application_id_header=application_id_header,
        )
