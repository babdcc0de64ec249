"""ASGI middleware: the per-request log line and call log, injected faults, and the endpoint
gate (moved endpoints answer 308; unknown ones 404)."""

from __future__ import annotations

import asyncio
import logging
import re

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from devtools.kaizala_sim.call_log import BodyCapture
from devtools.kaizala_sim.errors import error_response
from devtools.kaizala_sim.simulator import Simulator

log = logging.getLogger("devtools.kaizala_sim")

CONTROL_PREFIX = "/_sim"
ENDPOINT_PREFIX = "/ep/"
_ID_SEGMENT = re.compile(r"/[0-9a-fA-F]{8}-[0-9a-fA-F-]{27,}(?=/|$)")


class CallLog:
    """One log line per request (method, path without query, status): never headers or query
    strings, which carry tokens and secrets. Kaizala calls (not /_sim) also go to the call log,
    with what their body held (see call_log.py)."""

    def __init__(self, app: ASGIApp, sim: Simulator) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        status = 500
        body = None if path.startswith(CONTROL_PREFIX) else BodyCapture(scope, receive)

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if body is not None:
                    await body.drain()  # before answering: the server stops reading after
            await send(message)

        try:
            await self.app(scope, receive if body is None else body.receive, capture)
        finally:
            log.info("%s %s %s", method, path, status)
            if body is not None:
                route = route_template(scope, path)
                self.sim.record_call(method, path, route, status, body.describe())


def route_template(scope: Scope, path: str) -> str:
    """The path with its ids replaced by their parameter names, for per-route counts."""
    if len(path) > 1:
        path = path.rstrip("/")
    params = scope.get("path_params") or {}
    if params:
        names = {str(value): name for name, value in params.items()}
        return "/".join(f"{{{names[s]}}}" if s in names else s for s in path.split("/"))
    if path.startswith(ENDPOINT_PREFIX):
        path = re.sub(r"^/ep/[^/]+", "/ep/{endpoint}", path)
    return _ID_SEGMENT.sub("/{id}", path)


class Gate:
    def __init__(self, app: ASGIApp, sim: Simulator) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        sim = self.sim
        fault = sim.faults.take(scope["method"], scope["path"])
        if fault is not None:
            if fault.delay_seconds:
                await asyncio.sleep(fault.delay_seconds)
            if fault.status is not None:
                headers = {}
                if fault.status == 429 or fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after or 1)
                message = f"injected fault {fault.fault_id}"
                response = error_response(fault.status, "InjectedFault", message, headers)
                await response(scope, receive, send)
                return
        path: str = scope["path"]
        if path.startswith(ENDPOINT_PREFIX):
            name, _, rest = path[len(ENDPOINT_PREFIX) :].partition("/")
            if len(rest) > 1 and rest.endswith("/"):
                # The docs write some paths with a trailing slash (actions/{actionId}/).
                scope["path"] = path.rstrip("/")
                rest = rest.rstrip("/")
            redirect = self._redirect(scope, name, rest)
            if redirect is not None:
                await redirect(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _redirect(self, scope: Scope, name: str, rest: str) -> JSONResponse | None:
        sim = self.sim
        query = scope.get("query_string", b"").decode("latin-1")
        suffix = rest + (f"?{query}" if query else "")
        if sim.redirects:
            pending = sim.redirects[0]
            pending.remaining -= 1
            if pending.remaining <= 0:
                sim.redirects.pop(0)
            location = pending.location
            if pending.append_path:
                location = f"{location.rstrip('/')}/{suffix}"
            return self._moved(location)
        current = sim.state.endpoint_name
        if name == current:
            return None
        if name in sim.state.endpoint_names:
            base = str(Request(scope).base_url)
            return self._moved(f"{base}ep/{current}/{suffix}")
        return error_response(404, "NotFound", f"no endpoint named {name!r}")

    def _moved(self, location: str) -> JSONResponse:
        self.sim.counters.redirects_308 += 1
        return JSONResponse(
            {"code": "EndpointMoved", "message": "the endpoint URL of this user changed"},
            status_code=308,
            headers={"Location": location},
        )
