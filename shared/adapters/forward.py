"""The second sink: each written response POSTed as JSON to a callback URL (a Power Automate
trigger subscription's, or `RESPONSE_FORWARD_URL`, the `static` one).

The URL is usually a Power Automate trigger signed in its query string, so it is a secret: it
never appears in an error, and redirects are not followed (a signed URL is not handed on).
Transport errors and non-2xx answers become `ForwardError`, a transient failure the delivery
timer retries with back-off (shared/services/flow_subscriptions.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from shared.errors import UnavailableError

FORWARD_TIMEOUT_SECONDS = 5.0


class ForwardError(UnavailableError):
    """The forward sink did not take the response (unreachable, or a non-2xx answer)."""


def build_http_client(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The process-wide pool of the forward sink: bounded, no redirects."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(FORWARD_TIMEOUT_SECONDS),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        follow_redirects=False,
        transport=transport,
    )


class CallbackPoster:
    """POSTs a body to any callback URL (the trigger subscriptions' and the static forward's).

    Built once per process (the runtime); owns its HTTP pool. URLs are secrets (signed): they
    never appear in an error.
    """

    def __init__(
        self, http: httpx.AsyncClient | None = None, timeout: float = FORWARD_TIMEOUT_SECONDS
    ) -> None:
        self._http = http or build_http_client()
        self._timeout = timeout

    def __repr__(self) -> str:
        return "CallbackPoster()"

    async def post(self, url: str, body: Mapping[str, Any]) -> None:
        """Deliver one body; raises ForwardError unless the callback answers 2xx."""
        await _post(self._http, url, body, self._timeout)

    async def aclose(self) -> None:
        await self._http.aclose()


async def _post(http: httpx.AsyncClient, url: str, body: Mapping[str, Any], seconds: float) -> None:
    try:
        answer = await http.post(
            url,
            content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=seconds,
        )
    except httpx.HTTPError as exc:
        # Type only: httpx messages can include the URL, which is a secret (signed).
        raise ForwardError(f"forward sink unreachable ({type(exc).__name__})") from None
    if not answer.is_success:
        raise ForwardError(f"forward sink answered {answer.status_code}")
