"""Groups over real HTTP: the bridge's functions, the Kaizala simulator, the Dataverse
simulator and Azurite.

Kaizala checks every subscription with its validation handshake, so the product's functions are
served by the local host on loopback and `WEBHOOK_CALLBACK_URL` points there. The bridge runs on
a clock the test moves (a stale claim is one `clock.offset += ...` away, not a wait).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from devtools.dataverse_sim import DEFAULT_TOKEN, SimState
from devtools.dataverse_sim import create_app as create_dataverse
from devtools.host import create_host_app, index_functions
from devtools.serving import ServerThread
from shared.runtime import Runtime
from tests.bridge_fixtures import KaizalaSim, bridge_env
from tests.conftest import installed_runtime, register_secret
from tests.support import body_json, call, functions_by_name, request

OPPORTUNITY = "5d0c2a3b-8e1f-4a6b-9c7d-0e1f2a3b4c5d"
OWNER = "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3"
CONTACT = "1b2c3d4e-5f6a-4b7c-9d8e-9fa0b1c2d3e4"


class ShiftedClock:
    """Real time plus an offset: the runtime's one clock, moved by the test."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture(scope="module")
def host() -> Iterator[ServerThread]:
    app = create_host_app(index_functions(functions_by_name().values()), timers=False)
    server = ServerThread(app).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def dv_app() -> Starlette:
    return create_dataverse()


@pytest.fixture(scope="module")
def dv_server(dv_app: Starlette) -> Iterator[ServerThread]:
    server = ServerThread(dv_app).start()
    yield server
    server.stop()


@pytest.fixture
def dataverse(dv_app: Starlette, dv_server: ServerThread) -> Iterator[DataverseSim]:
    sim = DataverseSim(dv_server, dv_app.state.sim)
    sim.state.reset()
    try:
        yield sim
    finally:
        sim.http.close()


class DataverseSim:
    def __init__(self, server: ServerThread, state: SimState) -> None:
        self.url = server.url
        self.state = state
        self.http = httpx.Client(base_url=server.url, timeout=15.0)

    def seed(self, kind: str, **row: Any) -> Any:
        response = self.http.post(f"/_sim/{kind}", json=row)
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


def groups_env(
    env: dict[str, str],
    kaizala: KaizalaSim,
    tmp_path: Path,
    host: ServerThread,
    dataverse: DataverseSim,
    **extra: str,
) -> dict[str, str]:
    register_secret(DEFAULT_TOKEN)
    return bridge_env(
        env,
        kaizala,
        tmp_path,
        WEBHOOK_CALLBACK_URL=f"{host.url}/api/kaizala/webhook",
        DATAVERSE_URL=dataverse.url,
        DATAVERSE_STATIC_TOKEN=DEFAULT_TOKEN,
        **extra,
    )


@pytest.fixture
async def bridge(
    env: dict[str, str],
    kaizala: KaizalaSim,
    tmp_path: Path,
    host: ServerThread,
    dataverse: DataverseSim,
    clock: ShiftedClock,
) -> AsyncIterator[Runtime]:
    values = groups_env(env, kaizala, tmp_path, host, dataverse)
    async with installed_runtime(values, clock=clock) as rt:
        yield rt


async def create(body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, Any]:
    resp = await call("create_group", request("POST", "/api/groups", body=body, headers=headers))
    return resp.status_code, body_json(resp)


def sim_group(kaizala: KaizalaSim, group_id: str) -> dict[str, Any]:
    [group] = [g for g in kaizala.state()["groups"] if g["groupId"] == group_id]
    return dict(group)


def member_numbers(group: dict[str, Any]) -> set[str]:
    return {m["mobileNumber"] for m in group["members"]}


def hooks_on(kaizala: KaizalaSim, group_id: str) -> list[dict[str, Any]]:
    return [h for h in kaizala.state()["webhooks"] if h.get("objectId") == group_id]
