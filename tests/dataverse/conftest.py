"""One Dataverse simulator on 127.0.0.1 for the whole session, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette

from devtools.dataverse_sim import SimState, create_app
from devtools.serving import ServerThread

CONTOSO = "b5e7c3a0-3f1d-4c2b-9a8e-7d6f5e4c3b2a"
FABRIKAM = "2f0c8e4d-6a1b-4c3d-8e9f-0a1b2c3d4e5f"
UNKNOWN_OPPORTUNITY = "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"


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
