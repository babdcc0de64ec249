"""The connector's trigger over real HTTP: Azurite, the Dataverse simulator, loopback callbacks.

The inbound suite's fixtures (its own tables per test, a settable clock, a valid callback
token) are reused as they are; a `Callbacks` server stands for Power Automate's callback URLs.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devtools.serving import ServerThread
from tests.conftest import register_secret
from tests.inbound.conftest import clock, inbound_env, rt, sim, token

__all__ = ["clock", "inbound_env", "rt", "sim", "token"]

SIGNATURE = "flow-callback-signature-kept-secret"


class Callbacks:
    """Power Automate's side: `/ok/<name>` records bodies (signed URLs only), `/down` is 500."""

    def __init__(self) -> None:
        self.received: dict[str, list[dict[str, Any]]] = {}
        self.down_calls = 0
        self.held: set[str] = set()  # slow callbacks holding a request now
        self.slow_done: list[str] = []
        self.slow_release = threading.Event()
        self.app = Starlette(
            routes=[
                Route("/ok/{name}", self.ok, methods=["POST"]),
                Route("/down", self.down, methods=["POST"]),
                Route("/slow/{name}", self.slow, methods=["POST"]),
            ]
        )
        self.url = ""

    async def ok(self, req: Request) -> Response:
        if req.query_params.get("sig") != SIGNATURE:
            return JSONResponse({"error": "bad signature"}, status_code=401)
        name = req.path_params["name"]
        self.received.setdefault(name, []).append(json.loads(await req.body()))
        return Response(status_code=202)

    async def down(self, req: Request) -> Response:
        self.down_calls += 1
        return JSONResponse({"error": "down"}, status_code=500)

    async def slow(self, req: Request) -> Response:
        """Holds the request until the test releases it (under the callback's 5 s timeout)."""
        name = req.path_params["name"]
        self.held.add(name)
        await asyncio.to_thread(self.slow_release.wait, 4.0)
        self.held.discard(name)
        self.slow_done.append(name)
        return Response(status_code=202)

    def signed(self, name: str) -> str:
        """A callback URL as Power Automate makes it: signed in its query (a secret)."""
        url = f"{self.url}/ok/{name}?api-version=2016-06-01&sp=%2Ftriggers&sig={SIGNATURE}"
        register_secret(url)
        return url

    def bodies(self, name: str) -> list[dict[str, Any]]:
        return self.received.get(name, [])


@pytest.fixture
def callbacks() -> Iterator[Callbacks]:
    register_secret(SIGNATURE)
    server_side = Callbacks()
    server = ServerThread(server_side.app).start()
    server_side.url = server.url
    try:
        yield server_side
    finally:
        server.stop()
