"""One Dataverse simulator on 127.0.0.1 for the whole session, reset before each test.

Also the adapter tests' shared parts: the real HTTP client, a client with the simulator's
token whose in-call waits are recorded instead of slept, and small helpers.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from devtools.dataverse_sim import DEFAULT_TOKEN, SimState, create_app
from devtools.serving import ServerThread
from shared.adapters.dataverse import (
    DEFAULT_RETRY,
    DataverseClient,
    StaticTokenSource,
    activity_id_for,
    build_http_client,
)

CONTOSO = "b5e7c3a0-3f1d-4c2b-9a8e-7d6f5e4c3b2a"
FABRIKAM = "2f0c8e4d-6a1b-4c3d-8e9f-0a1b2c3d4e5f"
UNKNOWN_OPPORTUNITY = "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"

# The default policy with its jitter pinned to the top: every back-off is exactly 0.5 s.
RETRY = dataclasses.replace(DEFAULT_RETRY, jitter=lambda: 1.0)
BACKOFF = RETRY.backoff(1)


@pytest.fixture(scope="session")
def sim_app() -> Starlette:
    return create_app()


@pytest.fixture(scope="session")
def sim_server(sim_app: Starlette) -> Iterator[ServerThread]:
    server = ServerThread(sim_app).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def sim(sim_app: Starlette, sim_server: ServerThread) -> SimState:
    state: SimState = sim_app.state.sim
    state.reset()
    return state


class Sleeps:
    """The client's injected sleep: records each in-call wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with build_http_client() as client:
        yield client


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(http: httpx.AsyncClient, sim_server: ServerThread, sleeps: Sleeps) -> DataverseClient:
    return DataverseClient(
        http, sim_server.url, StaticTokenSource(DEFAULT_TOKEN), retry=RETRY, sleep=sleeps
    )


def fault(sim_server: ServerThread, **spec: Any) -> None:
    response = httpx.post(f"{sim_server.url}/_sim/faults", json=spec, timeout=5)
    assert response.status_code == 201, response.text


def requests_served(sim: SimState) -> int:
    return int(sim.stats()["requests"])


async def upsert(client: DataverseClient, response_id: str = "r-1", **overrides: Any) -> Any:
    args: dict[str, Any] = {
        "entity_set": "tasks",
        "activity_id": activity_id_for(response_id),
        "regarding_entity": "opportunity",
        "regarding_id": CONTOSO,
        "fields": {"subject": "Survey answer", "description": "Budget approved"},
    }
    args.update(overrides)
    return await client.upsert_activity(**args)
