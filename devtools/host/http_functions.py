"""HTTP functions: route matching, the HttpRequest the worker builds, and the response back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from urllib.parse import quote

import azure.functions as func
from azure.functions._abc import HttpResponse as AbstractHttpResponse
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketClose

from devtools.host.errors import HostError
from devtools.host.indexing import IndexedApp, IndexedFunction
from devtools.host.invocation import Invoker, log_invocation, problem
from devtools.host.routes import RouteTemplate, compile_route

# Headers the server computes itself; a function's own values would corrupt the framing.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})
_NO_BODY_STATUSES = frozenset({204, 304})


class HttpFunctions:
    """Every request that is not for the admin API: matched against the functions' routes."""

    def __init__(self, indexed: IndexedApp, invoker: Invoker) -> None:
        self._invoker = invoker
        self._routes = _compile_routes(indexed)

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app of the router's default route."""
        if scope["type"] != "http":
            await WebSocketClose()(scope, receive, send)
            return
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        path = _raw_path(request)
        allowed: set[str] = set()
        for route, function in self._routes:
            values = route.match(path)
            if values is None:
                continue
            if function.methods is not None and request.method not in function.methods:
                allowed.update(function.methods)
                continue
            return await self._invoke(function, request, values)
        if allowed:
            return problem(
                405,
                "Method Not Allowed",
                f"{request.method} is not allowed on this route",
                headers={"Allow": ", ".join(sorted(allowed))},
            )
        return problem(404, "Not Found", "no function serves this route")

    async def _invoke(
        self, function: IndexedFunction, request: Request, route_values: dict[str, str]
    ) -> Response:
        started = time.perf_counter()
        invocation_id = str(uuid.uuid4())
        try:
            http_request = func.HttpRequest(
                method=request.method,
                url=str(request.url),
                headers=_joined(
                    (k.decode("latin-1").lower(), v.decode("latin-1"))
                    for k, v in request.headers.raw
                ),
                params=_joined(request.query_params.multi_items(), separator=","),
                route_params=route_values,
                body=await request.body(),
            )
            result = await self._invoker.call(
                function,
                http_request,
                invocation_id,
                trace_parent=request.headers.get("traceparent", ""),
                trace_state=request.headers.get("tracestate", ""),
            )
            response = to_starlette_response(result)
        except Exception:
            # The traceback goes to the log only: it can quote secrets and internals.
            log_invocation(function.name, "http", "error", started, invocation_id, failed=True)
            return problem(
                500,
                "Internal Server Error",
                "the function failed; see the host log",
                invocation_id=invocation_id,
            )
        log_invocation(
            function.name, "http", f"status={response.status_code}", started, invocation_id
        )
        return response


def to_starlette_response(result: object) -> Response:
    """Convert what an HTTP function returned, as the Python worker's HTTP converter does."""
    if result is None:
        return Response(status_code=204)
    if isinstance(result, str):
        return Response(result, media_type="text/plain; charset=utf-8")
    if not isinstance(result, AbstractHttpResponse):
        raise TypeError(
            "an HTTP function must return func.HttpResponse, str or None, "
            f"not {type(result).__name__}"
        )
    headers = [(str(k), str(v)) for k, v in result.headers.items()]
    if not any(k.lower() == "content-type" for k, _ in headers):
        mimetype = str(result.mimetype)
        charset = str(result.charset)
        headers.append(
            (
                "content-type",
                f"{mimetype}; charset={charset}" if mimetype.startswith("text/") else mimetype,
            )
        )
    status = int(result.status_code)
    body = b"" if status in _NO_BODY_STATUSES or status < 200 else result.get_body()
    response = Response(body, status_code=status)
    response.raw_headers.extend(
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in headers
        if k.lower() not in _FRAMING_HEADERS
    )
    return response


def _compile_routes(indexed: IndexedApp) -> list[tuple[RouteTemplate, IndexedFunction]]:
    routes: list[tuple[RouteTemplate, IndexedFunction]] = []
    for function in indexed.functions:
        template = indexed.full_route(function)
        if template is None:
            continue
        try:
            routes.append((compile_route(template), function))
        except ValueError as e:
            raise HostError(f"function {function.name!r}: {e}") from None
    # Literal segments before constrained parameters before plain ones, as in ASP.NET Core;
    # the sort is stable, so equal routes keep declaration order.
    routes.sort(key=lambda item: item[0].precedence)
    return routes


def _raw_path(request: Request) -> str:
    # Match the still-encoded path so an encoded "/" stays inside its segment.
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes) and raw:
        return raw.decode("latin-1")
    return quote(str(request.scope["path"]))


def _joined(pairs: Iterable[tuple[str, str]], separator: str = ", ") -> dict[str, str]:
    """Repeated names become one joined value, as the Functions host passes them."""
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(name, []).append(value)
    return {name: separator.join(items) for name, items in values.items()}
