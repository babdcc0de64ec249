"""The Dataverse simulator's service protection (`/_sim/limits`): 429 with Retry-After past
the requests in flight or over a rate, and the peak in flight counted."""

from __future__ import annotations

import asyncio

import httpx

from devtools.dataverse_sim import DEFAULT_TOKEN, SimState
from devtools.serving import ServerThread
from tests.drain.conftest import sim_post

TASKS = "/api/data/v9.2/tasks?$top=1"
AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}


async def test_past_the_concurrent_limit_a_call_gets_429_with_retry_after(
    sim: SimState, dv_server: ServerThread
) -> None:
    sim_post(dv_server, "limits", {"maxConcurrent": 2, "retryAfter": 7})
    sim_post(dv_server, "faults", {"delaySeconds": 0.5, "count": 3})
    async with httpx.AsyncClient(base_url=dv_server.url, headers=AUTH, timeout=10) as client:
        answers = await asyncio.gather(*(client.get(TASKS) for _ in range(3)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 200, 429]
    (refused,) = [a for a in answers if a.status_code == 429]
    assert refused.headers["Retry-After"] == "7"
    assert refused.json()["error"]["code"] == "0x80072322"
    stats = sim.stats()
    assert (stats["peakInFlight"], stats["limitRefused"], stats["throttled"]) == (2, 1, 1)


async def test_past_the_rate_a_call_gets_429_until_limits_are_off(
    sim: SimState, dv_server: ServerThread
) -> None:
    sim_post(dv_server, "limits", {"perWindow": 3, "windowSeconds": 300})
    async with httpx.AsyncClient(base_url=dv_server.url, headers=AUTH, timeout=10) as client:
        statuses = [(await client.get(TASKS)).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        assert (await client.delete(f"{dv_server.url}/_sim/limits")).status_code == 204
        assert (await client.get(TASKS)).status_code == 200
