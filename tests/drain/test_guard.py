"""The guard in the Dataverse adapter, over real HTTP to the simulator: a refused call sends
nothing, a 429 opens the circuit at once, a call cancelled while it hangs counts as a failure,
and the request window makes the next request wait."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from devtools.dataverse_sim import DEFAULT_TOKEN, SimState
from devtools.serving import ServerThread
from shared.adapters.dataverse import (
    DataverseCircuitOpenError,
    DataverseClient,
    DataverseGuard,
    DataverseThrottledError,
    StaticTokenSource,
    build_http_client,
)
from shared.domain.circuit import Circuit, RequestWindow
from tests.drain.conftest import sim_post
from tests.inbound.conftest import Clock

CONTOSO = "b5e7c3a0-3f1d-4c2b-9a8e-7d6f5e4c3b2a"


def guarded(
    server: ServerThread, at: Clock, *, failures: int = 5, window: int = 100
) -> tuple[DataverseClient, DataverseGuard, list[float]]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        at.advance(seconds)

    guard = DataverseGuard(
        Circuit(failures, 5, clock=at), RequestWindow(window, 300, clock=at), sleep
    )
    client = DataverseClient(
        build_http_client(),
        server.url,
        StaticTokenSource(DEFAULT_TOKEN),
        clock=at,
        sleep=sleep,
        guard=guard,
    )
    return client, guard, waits


async def read(client: DataverseClient) -> object:
    return await client.get_activity("tasks", uuid.uuid4())


async def test_a_429_opens_the_circuit_and_a_refused_call_sends_nothing(
    sim: SimState, dv_server: ServerThread
) -> None:
    at = Clock()
    client, guard, _ = guarded(dv_server, at)
    sim_post(dv_server, "faults", {"status": 429, "retryAfter": 30, "count": 1})
    with pytest.raises(DataverseThrottledError):
        await read(client)  # 30 s is longer than the in-call wait: raised, and open
    assert guard.circuit.state == "open" and guard.circuit.retry_in() == 30
    with pytest.raises(DataverseCircuitOpenError):
        await read(client)
    assert sim.stats()["requests"] == 1  # the refused call never left
    at.advance(30)
    assert await read(client) is None  # the probe: answered (404), closed
    assert guard.circuit.state == "closed"
    assert sim.stats()["requests"] == 2


async def test_a_call_cancelled_while_it_hangs_is_a_failure(
    sim: SimState, dv_server: ServerThread
) -> None:
    at = Clock()
    client, guard, _ = guarded(dv_server, at, failures=1)
    sim_post(dv_server, "faults", {"delaySeconds": 5, "count": 1})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(read(client), 0.3)  # the caller's budget, as inline
    assert guard.circuit.state == "open"


async def test_the_request_window_makes_the_next_request_wait(
    sim: SimState, dv_server: ServerThread
) -> None:
    at = Clock()
    client, _, waits = guarded(dv_server, at, window=2)
    for _ in range(3):
        await read(client)
    assert waits == [pytest.approx(300)]  # the third waited for the first to leave the window
    assert sim.stats()["requests"] == 3
