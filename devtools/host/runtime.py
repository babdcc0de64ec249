"""The ASGI app: HTTP functions on their routes, timers on their schedules, the admin API.

This module only puts the parts together (one `FunctionHost` per served app): calling a
function is devtools.host.invocation, HTTP is devtools.host.http_functions, schedules and
admin runs are devtools.host.timers, the admin routes devtools.host.admin.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import azure.functions as func
from starlette.applications import Starlette

from devtools.host.admin import AdminApi
from devtools.host.http_functions import HttpFunctions
from devtools.host.indexing import IndexedApp, index_app
from devtools.host.invocation import Invoker
from devtools.host.timers import TimerRunner
from shared.clock import Clock, wall

logger = logging.getLogger("devtools.host")


def create_host_app(
    app: func.FunctionApp | IndexedApp,
    *,
    base_dir: Path | None = None,
    timers: bool = True,
    shutdown_grace: float = 5.0,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
    clock: Clock = wall,
) -> Starlette:
    """An ASGI app serving `app` like the Functions host.

    `base_dir` is where host.json is read (default: the cwd); ignored for an `IndexedApp`.
    With `timers=False` no schedule runs (admin invoke still works) and schedules are not
    resolved. `clock` is what the schedules are evaluated against. Start-up problems
    raise HostError.
    """
    indexed = app if isinstance(app, IndexedApp) else index_app(app, base_dir=base_dir)
    host = FunctionHost(
        indexed,
        timers=timers,
        shutdown_grace=shutdown_grace,
        on_shutdown=on_shutdown,
        clock=clock,
    )
    asgi = Starlette(routes=host.admin.routes(), lifespan=host.lifespan)
    # Everything else goes to the functions, whatever the method: a Starlette Route would
    # answer methods it does not list itself, and redirect on trailing slashes.
    asgi.router.default = host.http.serve
    asgi.router.redirect_slashes = False
    asgi.state.function_host = host
    return asgi


class FunctionHost:
    """One served app: its HTTP functions, its timer runner and its admin API."""

    def __init__(
        self,
        indexed: IndexedApp,
        *,
        timers: bool,
        shutdown_grace: float,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
        clock: Clock = wall,
    ) -> None:
        self.on_shutdown = on_shutdown
        self.indexed = indexed
        self.shutdown_grace = shutdown_grace
        invoker = Invoker(indexed)
        self.http = HttpFunctions(indexed, invoker)
        self.timers = TimerRunner(
            indexed,
            invoker,
            schedules=timers,
            shutdown_grace=shutdown_grace,
            clock=clock,
        )
        self.admin = AdminApi(indexed, self.timers)

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self.timers.start()
        try:
            yield
        finally:
            await self.timers.stop()
            if self.on_shutdown is not None:
                try:
                    await self.on_shutdown()
                except Exception:  # shutting down anyway; say so, do not crash the exit
                    logger.exception("shutdown hook failed")
