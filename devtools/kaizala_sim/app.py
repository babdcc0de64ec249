"""Assembles the Starlette application."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from devtools.kaizala_sim import (
    auth_routes,
    control_routes,
    persist,
    platform_content,
    platform_groups,
    platform_webhooks,
)
from devtools.kaizala_sim.config import SimConfig
from devtools.kaizala_sim.errors import ApiError, error_response
from devtools.kaizala_sim.middleware import CallLog, Gate
from devtools.kaizala_sim.simulator import Simulator
from devtools.snapshot import Snapshot

log = logging.getLogger("devtools.kaizala_sim")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", "error")
    code = {404: "NotFound", 405: "MethodNotAllowed"}.get(status, "Error")
    return error_response(status, code, str(detail))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "InternalError", "the simulator failed; see its log")


def create_app(config: SimConfig | None = None, state_path: Path | None = None) -> Starlette:
    """A fresh simulator; `app.state.sim` is its `Simulator` (state, config, stats). With
    `state_path`, the tenant is restored from that snapshot and saved there while it runs."""
    sim = Simulator(config or SimConfig())
    snapshot = None
    if state_path is not None:
        snapshot = Snapshot(state_path, persist.KIND, persist.VERSION, log)
        snapshot.load(lambda data: persist.restore(sim, data))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if snapshot is None:
            yield
        else:
            async with snapshot.autosaving(lambda: persist.dump(sim)):
                yield
        await sim.deliveries.close()

    platform = [*platform_groups.routes(), *platform_content.routes(), *platform_webhooks.routes()]
    app = Starlette(
        routes=[
            Mount("/v1", routes=auth_routes.routes()),
            Mount("/ep/{endpoint}/v1", routes=platform),
            Route("/media/{mediaId}/{fileName}", platform_content.download_media, methods=["GET"]),
            Mount("/_sim", routes=control_routes.routes()),
            Route("/", _index, methods=["GET"]),
        ],
        middleware=[Middleware(CallLog, sim=sim), Middleware(Gate, sim=sim)],
        exception_handlers={
            ApiError: _api_error,
            404: _http_error,
            405: _http_error,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    app.state.sim = sim
    return app


async def _index(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "service": "Kaizala simulator",
            "tokenRoot": f"{request.base_url}v1",
            "control": f"{request.base_url}_sim/state",
        }
    )
