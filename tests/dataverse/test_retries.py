"""The Dataverse client's failures: in-call retries by the one policy, throttling, transport."""

from __future__ import annotations

import logging
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devtools.dataverse_sim import DEFAULT_TOKEN, SimState
from devtools.serving import ServerThread, free_port, serve
from shared.adapters import retry
from shared.adapters.dataverse import (
    DataverseClient,
    DataversePermanentError,
    DataverseThrottledError,
    DataverseTransientError,
    DataverseUnavailableError,
    StaticTokenSource,
    build_http_client,
    parse_retry_after,
)
from tests.dataverse.conftest import (
    BACKOFF,
    RETRY,
    UNKNOWN_OPPORTUNITY,
    Sleeps,
    fault,
    requests_served,
    upsert,
)

# ---- in-call retries ---------------------------------------------------------------------------


class FailFirst(httpx.AsyncBaseTransport):
    """The HTTP boundary: the first `failures` requests raise `error`, the others go through."""

    def __init__(self, error: type[httpx.TransportError], failures: int = 1) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._error = error
        self._failures = failures
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.requests <= self._failures:
            raise self._error("injected transport failure", request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_long_throttle_raises_at_once_with_retry_after(
    client: DataverseClient, sim: SimState, sim_server: ServerThread, sleeps: Sleeps
) -> None:
    fault(sim_server, status=429, retryAfter=30, count=1)

    with pytest.raises(DataverseThrottledError) as caught:
        await upsert(client)

    assert caught.value.retry_after == 30
    assert caught.value.headers() == {"Retry-After": "30"}
    assert requests_served(sim) == 1  # no in-call wait for 30 s
    assert sleeps.waits == []
    assert sim.activities("tasks") == []


async def test_short_throttle_is_waited_out_once(
    client: DataverseClient, sim: SimState, sim_server: ServerThread, sleeps: Sleeps
) -> None:
    fault(sim_server, status=429, retryAfter=1, count=1)

    result = await upsert(client)

    assert result.attempts == 2
    assert sleeps.waits == [1.0]  # the server's wait, not the back-off
    assert len(sim.activities("tasks")) == 1


@pytest.mark.parametrize(("retry_after", "waited"), [(5, True), (6, False)])
async def test_throttle_is_waited_in_call_only_up_to_max_throttle_wait(
    http: httpx.AsyncClient,
    sim_server: ServerThread,
    sim: SimState,
    sleeps: Sleeps,
    retry_after: int,
    waited: bool,
) -> None:
    client = DataverseClient(
        http,
        sim_server.url,
        StaticTokenSource(DEFAULT_TOKEN),
        retry=RETRY,
        max_throttle_wait=5.0,
        sleep=sleeps,
    )
    fault(sim_server, status=429, retryAfter=retry_after, count=1)

    if waited:
        assert (await upsert(client)).attempts == 2
        assert sleeps.waits == [5.0]
    else:
        with pytest.raises(DataverseThrottledError) as caught:
            await upsert(client)
        assert caught.value.retry_after == 6  # raised at once, with the server's wait
        assert sleeps.waits == []
        assert requests_served(sim) == 1


async def test_a_retry_after_date_is_read_with_the_injected_clock(
    http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    now = 1_000_000.0

    async def throttle(request: Request) -> JSONResponse:
        error = {"code": "0x80072322", "message": "Number of requests exceeded the limit."}
        retry_at = formatdate(now + 30, usegmt=True)
        return JSONResponse({"error": error}, status_code=429, headers={"Retry-After": retry_at})

    app = Starlette(routes=[Route("/api/data/v9.2/{path:path}", throttle, methods=["PATCH"])])
    with serve(app) as server:
        client = DataverseClient(
            http, server.url, StaticTokenSource("t"), clock=lambda: now, sleep=sleeps
        )
        with pytest.raises(DataverseThrottledError) as caught:
            await upsert(client)

    assert caught.value.retry_after == 30.0  # the date minus the client's clock, not the wall's
    assert sleeps.waits == []


async def test_one_server_error_is_retried_after_the_policys_back_off(
    client: DataverseClient, sim: SimState, sim_server: ServerThread, sleeps: Sleeps
) -> None:
    fault(sim_server, status=500, count=1)

    result = await upsert(client)

    assert result.attempts == 2
    assert sim.stats()["byMethodStatus"] == {"PATCH 500": 1, "PATCH 204": 1}
    assert sleeps.waits == [BACKOFF] == [0.5]  # DEFAULT_RETRY at full jitter


async def test_down_raises_unavailable_after_a_bounded_retry(
    client: DataverseClient, sim: SimState, sleeps: Sleeps
) -> None:
    sim.set_down(True)

    with pytest.raises(DataverseUnavailableError) as caught:
        await upsert(client)

    assert isinstance(caught.value, DataverseTransientError)
    assert caught.value.retry_after is None
    assert requests_served(sim) == 2
    assert sleeps.waits == [BACKOFF]


async def test_503_with_a_long_retry_after_is_left_to_the_caller(
    client: DataverseClient, sim: SimState, sim_server: ServerThread, sleeps: Sleeps
) -> None:
    fault(sim_server, status=503, retryAfter=60, count=5)

    with pytest.raises(DataverseUnavailableError) as caught:
        await upsert(client)

    assert caught.value.retry_after == 60
    assert requests_served(sim) == 1
    assert sleeps.waits == []


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ReadError])
async def test_a_transport_error_is_retried_once(
    sim_server: ServerThread, sim: SimState, sleeps: Sleeps, error: type[httpx.TransportError]
) -> None:
    # ConnectError: the request never left; ReadError: it may have acted. The upsert by a
    # deterministic id is idempotent, so both are retried.
    transport = FailFirst(error)
    async with build_http_client(transport) as http:
        client = DataverseClient(
            http, sim_server.url, StaticTokenSource(DEFAULT_TOKEN), retry=RETRY, sleep=sleeps
        )
        result = await upsert(client)

    assert (result.status, result.attempts, transport.requests) == (204, 2, 2)
    assert requests_served(sim) == 1  # the failed attempt never reached the simulator
    assert sleeps.waits == [BACKOFF]
    assert len(sim.activities("tasks")) == 1


async def test_connection_refused_is_unavailable(http: httpx.AsyncClient, sleeps: Sleeps) -> None:
    closed = DataverseClient(
        http, f"http://127.0.0.1:{free_port()}", StaticTokenSource("t"), retry=RETRY, sleep=sleeps
    )

    with pytest.raises(DataverseUnavailableError, match="ConnectError"):
        await upsert(closed)
    assert sleeps.waits == [BACKOFF]  # tried twice


async def test_read_timeout_is_unavailable(
    sim_server: ServerThread, sim: SimState, sleeps: Sleeps
) -> None:
    fault(sim_server, delaySeconds=1.0, count=2)
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.2)) as short:
        impatient = DataverseClient(
            short, sim_server.url, StaticTokenSource(DEFAULT_TOKEN), retry=RETRY, sleep=sleeps
        )
        with pytest.raises(DataverseUnavailableError, match="ReadTimeout"):
            await upsert(impatient)
    assert sleeps.waits == [BACKOFF]


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"fields": {"nosuchcolumn": 1}}, 400, "0x80060888"),
        ({"regarding_id": UNKNOWN_OPPORTUNITY}, 404, "0x80040217"),
        ({"fields": {"statecode": 1, "statuscode": 2}}, 400, "0x80040203"),
    ],
)
async def test_rejections_are_permanent_and_not_retried(
    client: DataverseClient, sim: SimState, overrides: dict[str, Any], status: int, code: str
) -> None:
    with pytest.raises(DataversePermanentError) as caught:
        await upsert(client, **overrides)

    assert (caught.value.upstream_status, caught.value.code) == (status, code)
    assert caught.value.status == 502  # the bridge's own answer to its caller
    assert requests_served(sim) == 1


async def test_one_log_line_per_call(
    client: DataverseClient, sim_server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shared.adapters.dataverse")
    fault(sim_server, status=500, count=1)

    await upsert(client)

    lines = [r.getMessage() for r in caplog.records if r.name == "shared.adapters.dataverse"]
    assert len(lines) == 1
    assert lines[0].startswith("dataverse PATCH tasks status=204 attempts=2 duration_ms=")


def test_retry_after_parsing() -> None:
    assert parse_retry_after is retry.parse_retry_after  # the one parser
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(formatdate(1_000_030, usegmt=True), now=1_000_000) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-5") == 0.0
