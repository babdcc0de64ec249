"""The pooled HTTP client of the Kaizala adapter, and one attempt of a call over it."""

from __future__ import annotations

import logging
import time

import httpx

from shared.adapters.kaizala.calls import Call

logger = logging.getLogger("shared.adapters.kaizala")

AUTH_HEADER = "accessToken"  # Kaizala's own header, not `Authorization`
APPLICATION_HEADER = "applicationId"


def build_http_client(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The one pooled HTTP client of the process (pass a transport only in tests)."""
    return httpx.AsyncClient(
        transport=transport,
        # Kaizala documents a 1 min client timeout; connect/pool fail fast so a retry can run.
        timeout=httpx.Timeout(connect=10.0, read=60.0, write=30.0, pool=10.0),
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        # Redirects are followed by hand: each hop is checked before the token goes there.
        follow_redirects=False,
        headers={"User-Agent": "kaizala-bridge/0.1"},
    )


async def send_attempt(http: httpx.AsyncClient, call: Call) -> httpx.Response:
    """One HTTP attempt of `call`, as it stands now (URL, token), logged at debug level."""
    headers = dict(call.headers)
    if call.token is not None:
        headers[AUTH_HEADER] = call.token.value
        if call.application_id_header:
            headers[APPLICATION_HEADER] = call.token.application_id
    started = time.perf_counter()
    outcome: int | str = "error"
    try:
        if call.files is not None:
            response = await http.request(
                call.method, call.url, headers=headers, files=dict(call.files)
            )
        else:
            response = await http.request(
                call.method, call.url, headers=headers, json=call.json_body
            )
        outcome = response.status_code
        return response
    except httpx.RequestError as exc:
        outcome = type(exc).__name__
        raise
    finally:
        logger.debug(
            "kaizala attempt %s %s -> %s in %.0f ms (attempt %d)",
            call.method,
            call.template,
            outcome,
            (time.perf_counter() - started) * 1000,
            call.attempts,
        )
