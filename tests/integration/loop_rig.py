"""The parts tests/integration/test_loop.py drives: the local host on the test's own event
loop, the Dataverse simulator's control API, Kaizala's deliveries, and a few readings.

Why the host runs on the test's loop: Kaizala's real deliveries (the simulator, in its own
thread) must reach the bridge's webhook function, and the bridge's clients (Azure tables,
httpx pools) are bound to the loop they were first used on: the one of the test. So the
host's uvicorn server is a task on that loop, and whatever blocks (a wait for the simulator's
deliveries) runs in a worker thread, leaving the loop free to serve them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from devtools.dataverse_sim import SimState
from devtools.host import create_host_app, index_functions
from devtools.serving import ServerThread, free_port
from tests.bridge_fixtures import KaizalaSim
from tests.support import body_json, call, functions_by_name, request

RESPONSE_EVENTS = ("SurveyResponse", "ActionResponse", "JobResponse")
CHAT_EVENTS = ("TextMessageCreated", "AttachmentCreated")


class _LoopServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # pytest keeps its own signal handlers (uvicorn would take SIGINT/SIGTERM)


@contextlib.asynccontextmanager
async def host_on_this_loop() -> AsyncIterator[str]:
    """The product's functions served like the Functions host (no timers), on this loop."""
    app = create_host_app(index_functions(functions_by_name().values()), timers=False)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = _LoopServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # readiness, not a margin: it binds in a few milliseconds
        if task.done():
            task.result()
            raise RuntimeError("the host did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class Dataverse:
    """The Dataverse simulator: its control API over HTTP and its state for assertions."""

    def __init__(self, server: ServerThread, app: Starlette) -> None:
        self.url = server.url
        self.state: SimState = app.state.sim
        self.http = httpx.Client(base_url=server.url, timeout=15.0)

    def seed(self, kind: str, **row: Any) -> None:
        response = self.http.post(f"/_sim/{kind}", json=row)
        assert response.status_code == 201, response.text

    def tasks(self) -> list[dict[str, Any]]:
        return self.state.activities("tasks")

    def notes(self) -> list[dict[str, Any]]:
        return self.state.annotations()

    def note_writes(self) -> int:
        return int(self.state.stats()["annotationWrites"])

    def activity_writes(self) -> int:
        return int(self.state.stats()["writes"])


async def off_loop(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A blocking call that may make the simulator deliver: in a worker thread, as the loop
    serves the deliveries."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def in_thread(kaizala: KaizalaSim, method: str, path: str, **kwargs: Any) -> Any:
    """A control call of the simulator, off the loop."""
    return await off_loop(kaizala.control, method, path, **kwargs)


async def deliveries_done(kaizala: KaizalaSim) -> None:
    idle = await in_thread(kaizala, "POST", "deliveries/wait", json={"timeoutSeconds": 30})
    assert idle["idle"], idle


def delivered(kaizala: KaizalaSim, event_types: tuple[str, ...]) -> list[dict[str, Any]]:
    """The simulator's successful delivery attempts of these event types (copies included)."""
    made = kaizala.control("GET", "deliveries")["deliveries"]
    return [d for d in made if d["ok"] and d["eventType"] in event_types]


def group_hooks(kaizala: KaizalaSim, group_id: str) -> list[dict[str, Any]]:
    return [h for h in kaizala.state()["webhooks"] if h["objectId"] == group_id]


def group_of(kaizala: KaizalaSim, group_id: str) -> dict[str, Any]:
    [group] = [g for g in kaizala.state()["groups"] if g["groupId"] == group_id]
    return dict(group)


def surveys_in(kaizala: KaizalaSim, group_id: str) -> list[dict[str, Any]]:
    actions = kaizala.state()["actions"]
    return [a for a in actions if a["groupId"] == group_id and a["actionType"] == "Survey"]


def create_context(opportunity: str, name: str) -> dict[str, Any]:
    """What a Dataverse webhook step on Create of opportunity posts (trimmed)."""
    return {
        "MessageName": "Create",
        "PrimaryEntityName": "opportunity",
        "PrimaryEntityId": opportunity,
        "Depth": 1,
        "InputParameters": [
            {
                "key": "Target",
                "value": {
                    "LogicalName": "opportunity",
                    "Id": opportunity,
                    "Attributes": [
                        {"key": "name", "value": name},
                        {"key": "opportunityid", "value": opportunity},
                    ],
                },
            }
        ],
    }


async def dataverse_create(ctx: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    resp = await call(
        "dynamics_opportunities", request("POST", "/api/dynamics/opportunities", body=ctx)
    )
    found: dict[str, Any] = body_json(resp)
    return resp.status_code, found


async def status_of(cid: str) -> dict[str, Any]:
    resp = await call(
        "get_action", request("GET", f"/api/actions/{cid}", route_params={"correlationId": cid})
    )
    assert resp.status_code == 200, resp.get_body()
    found: dict[str, Any] = body_json(resp)
    return found
