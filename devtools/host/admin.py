"""The host's admin API: status, the function list, and running a non-HTTP function now."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devtools.host.indexing import IndexedApp, describe_functions
from devtools.host.invocation import problem
from devtools.host.timers import TimerRunner


class AdminApi:
    def __init__(self, indexed: IndexedApp, timers: TimerRunner) -> None:
        self.indexed = indexed
        self._timers = timers

    def routes(self) -> list[Route]:
        return [
            Route("/admin/host/status", self.host_status, methods=["GET"]),
            Route("/admin/functions", self.list_functions, methods=["GET"]),
            Route("/admin/functions/{name}", self.invoke, methods=["POST"]),
        ]

    async def invoke(self, request: Request) -> Response:
        """POST /admin/functions/{name}: run a non-HTTP function now, in the background."""
        name = str(request.path_params["name"])
        function = self.indexed.get(name)
        if function is None:
            return problem(404, "Not Found", f"no function named {name!r}")
        if function.trigger == "http":
            return problem(
                400,
                "Bad Request",
                f"{function.name!r} is HTTP-triggered; call its route "
                f"/{self.indexed.full_route(function)} instead",
            )
        body = await request.body()
        if body.strip():
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                return problem(
                    400, "Bad Request", 'the body must be a JSON object like {"input": ""}'
                )
        self._timers.start_invocation(function, "admin")
        return Response(status_code=202)

    async def host_status(self, _request: Request) -> Response:
        return JSONResponse({"state": "Running", "version": "local"})

    async def list_functions(self, _request: Request) -> Response:
        return JSONResponse(describe_functions(self.indexed))
