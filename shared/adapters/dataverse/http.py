"""The process-wide httpx client for Dataverse (built once by the runtime)."""

from __future__ import annotations

import httpx


def build_http_client(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The process-wide client for Dataverse: connect 10 s, read 30 s, no redirects.

    Redirects are not followed so the bearer token never goes to another host; at most 50
    connections keep the bridge under Dataverse's 52 concurrent requests per user.
    """
    return httpx.AsyncClient(
        timeout=httpx.Timeout(30.0, connect=10.0),
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        follow_redirects=False,
        transport=transport,
    )
