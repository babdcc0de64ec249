"""The drain's tests use the inbound suite's wiring: Azurite, the Dataverse simulator over real
HTTP, a settable clock. Fixtures imported here are registered for tests/drain."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx

from devtools.serving import ServerThread
from shared.runtime import Runtime
from shared.services.inbound import InboundDeps
from tests.conftest import installed_runtime, register_secret
from tests.inbound.conftest import Clock
from tests.inbound.conftest import clock as clock
from tests.inbound.conftest import inbound_env as inbound_env
from tests.inbound.conftest import sim as sim


@contextlib.asynccontextmanager
async def drain_runtime(
    values: dict[str, str], at: Clock, **settings: str
) -> AsyncIterator[tuple[Runtime, str]]:
    """An installed runtime with these settings, and a valid callback token."""
    async with installed_runtime({**values, **settings}, clock=at) as runtime:
        token = await runtime.callbacks.ensure()
        register_secret(token)
        yield runtime, token


def paused_by_clock(deps: InboundDeps, at: Clock, waits: list[float]) -> InboundDeps:
    """The deps with a sleep that moves the test's clock (the drain's pause is exact)."""

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        at.advance(seconds)

    return dataclasses.replace(deps, sleep=sleep)


def sim_post(server: ServerThread, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/_sim/{path}", json=body, timeout=10)
    assert response.status_code < 300, response.text
    result: dict[str, Any] = response.json()
    return result
