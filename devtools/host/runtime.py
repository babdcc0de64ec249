"""The ASGI app: HTTP functions on their routes, timers on their schedules, the admin API.

Everything here runs on the server's event loop: async functions are awaited on it (the app
keeps loop-bound clients), sync functions go to the thread pool, as in the Python worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import azure.functions as func
from azure.functions._abc import HttpResponse as AbstractHttpResponse
from azure.functions.timer import TimerRequest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketClose

from devtools import ncrontab
from devtools.host.context import InvocationContext
from devtools.host.errors import HostError
from devtools.host.indexing import (
    CONTEXT_PARAMETER,
    IndexedApp,
    IndexedFunction,
    describe_functions,
    index_app,
)
from devtools.host.routes import RouteTemplate, compile_route
from shared.config import SETTING_DEFAULTS

logger = logging.getLogger("devtools.host")

# A timer that fires this much later than its occurrence is reported as past due.
_PAST_DUE_AFTER = timedelta(seconds=1)
# Sleep in bounded steps so a wall-clock change (suspend, NTP step) is noticed.
_MAX_SLEEP_SECONDS = 30.0
# Headers the server computes itself; a function's own values would corrupt the framing.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})
_NO_BODY_STATUSES = frozenset({204, 304})


def create_host_app(
    app: func.FunctionApp | IndexedApp,
    *,
    base_dir: Path | None = None,
    timers: bool = True,
    shutdown_grace: float = 5.0,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> Starlette:
    """An ASGI app serving `app` like the Functions host.

    `base_dir` is where host.json is read (default: the cwd); ignored for an `IndexedApp`.
    With `timers=False` no schedule runs (admin invoke still works) and schedules are not
    resolved. Start-up problems raise HostError.
    """
    indexed = app if isinstance(app, IndexedApp) else index_app(app, base_dir=base_dir)
    host = FunctionHost(
        indexed, timers=timers, shutdown_grace=shutdown_grace, on_shutdown=on_shutdown
    )
    asgi = Starlette(
        routes=[
            Route("/admin/host/status", host.host_status, methods=["GET"]),
            Route("/admin/functions", host.list_functions, methods=["GET"]),
            Route("/admin/functions/{name}", host.admin_invoke, methods=["POST"]),
        ],
        lifespan=host.lifespan,
    )
    # Everything else goes to the functions, whatever the method: a Starlette Route would
    # answer methods it does not list itself, and redirect on trailing slashes.
    asgi.router.default = host.serve_functions
    asgi.router.redirect_slashes = False
    asgi.state.function_host = host
    return asgi


class FunctionHost:
    def __init__(
        self,
        indexed: IndexedApp,
        *,
        timers: bool,
        shutdown_grace: float,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.on_shutdown = on_shutdown
        self.indexed = indexed
        self.shutdown_grace = shutdown_grace
        self._routes = _compile_routes(indexed)
        self._schedules = _resolve_schedules(indexed) if timers else {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._schedulers: list[asyncio.Task[None]] = []
        self._last_run: dict[str, datetime] = {}

    # -- lifespan -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self.start_timers()
        try:
            yield
        finally:
            await self.stop()
            if self.on_shutdown is not None:
                try:
                    await self.on_shutdown()
                except Exception:  # shutting down anyway; say so, do not crash the exit
                    logger.exception("shutdown hook failed")

    def start_timers(self) -> None:
        for function in self.indexed.functions:
            schedule = self._schedules.get(function.name)
            if schedule is None:
                continue
            task = asyncio.get_running_loop().create_task(
                self._run_schedule(function, schedule), name=f"schedule-{function.name}"
            )
            task.add_done_callback(functools.partial(_report_scheduler_end, function.name))
            self._schedulers.append(task)
            if function.run_on_startup:
                self.start_invocation(function, "timer")

    async def stop(self) -> None:
        """Stop the schedules, then give running invocations `shutdown_grace` to finish."""
        for task in self._schedulers:
            task.cancel()
        await asyncio.gather(*self._schedulers, return_exceptions=True)
        self._schedulers.clear()
        running = [task for task in self._running.values() if not task.done()]
        if not running:
            return
        logger.info(
            "waiting up to %.1fs for %d running invocation(s)", self.shutdown_grace, len(running)
        )
        _, pending = await asyncio.wait(running, timeout=self.shutdown_grace)
        for task in pending:
            task.cancel()
        if pending:
            # A sync function's thread cannot be interrupted; do not wait for it for ever.
            await asyncio.wait(pending, timeout=1.0)

    # -- timers and admin invoke ----------------------------------------------------------

    def start_invocation(
        self, function: IndexedFunction, trigger: str, *, past_due: bool = False
    ) -> bool:
        """Start a non-HTTP invocation in the background; False if one is still running."""
        current = self._running.get(function.name)
        if current is not None and not current.done():
            _log_invocation(
                function.name, trigger, "skipped(still-running)", time.perf_counter(), "-"
            )
            return False
        task = asyncio.get_running_loop().create_task(
            self._invoke_timer(function, trigger, past_due), name=f"invoke-{function.name}"
        )
        self._running[function.name] = task
        task.add_done_callback(functools.partial(self._forget, function.name))
        return True

    def _forget(self, name: str, task: asyncio.Task[None]) -> None:
        if self._running.get(name) is task:
            del self._running[name]

    async def _run_schedule(self, function: IndexedFunction, schedule: ncrontab.Schedule) -> None:
        due = schedule.next_after(_utcnow())
        logger.info("timer %s: next run at %s", function.name, due.isoformat())
        while True:
            await _sleep_until(due)
            now = _utcnow()
            self.start_invocation(function, "timer", past_due=now - due > _PAST_DUE_AFTER)
            # From `now` rather than `due`: occurrences missed while the loop was blocked run
            # once (past due), not in a burst.
            due = schedule.next_after(max(due, now))

    async def _invoke_timer(self, function: IndexedFunction, trigger: str, past_due: bool) -> None:
        started = time.perf_counter()
        invocation_id = str(uuid.uuid4())
        now = _utcnow()
        request = TimerRequest(
            past_due=past_due,
            schedule_status=self._schedule_status(function.name, now),
            schedule={"AdjustForDST": True},
        )
        self._last_run[function.name] = now
        try:
            await self._call(function, request, invocation_id)
        except asyncio.CancelledError:
            _log_invocation(function.name, trigger, "cancelled", started, invocation_id)
            raise
        except Exception:
            _log_invocation(function.name, trigger, "error", started, invocation_id, failed=True)
            return
        _log_invocation(function.name, trigger, "ok", started, invocation_id)

    def _schedule_status(self, name: str, now: datetime) -> dict[str, str]:
        status = {"LastUpdated": now.isoformat()}
        if name in self._last_run:
            status["Last"] = self._last_run[name].isoformat()
        if name in self._schedules:
            status["Next"] = self._schedules[name].next_after(now).isoformat()
        return status

    async def admin_invoke(self, request: Request) -> Response:
        """POST /admin/functions/{name}: run a non-HTTP function now, in the background."""
        name = str(request.path_params["name"])
        function = self.indexed.get(name)
        if function is None:
            return _problem(404, "Not Found", f"no function named {name!r}")
        if function.trigger == "http":
            return _problem(
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
                return _problem(
                    400, "Bad Request", 'the body must be a JSON object like {"input": ""}'
                )
        self.start_invocation(function, "admin")
        return Response(status_code=202)

    async def host_status(self, _request: Request) -> Response:
        return JSONResponse({"state": "Running", "version": "local"})

    async def list_functions(self, _request: Request) -> Response:
        return JSONResponse(describe_functions(self.indexed))

    # -- HTTP -----------------------------------------------------------------------------

    async def serve_functions(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await WebSocketClose()(scope, receive, send)
            return
        response = await self.handle_http(Request(scope, receive))
        await response(scope, receive, send)

    async def handle_http(self, request: Request) -> Response:
        path = _raw_path(request)
        allowed: set[str] = set()
        for route, function in self._routes:
            values = route.match(path)
            if values is None:
                continue
            if function.methods is not None and request.method not in function.methods:
                allowed.update(function.methods)
                continue
            return await self._invoke_http(function, request, values)
        if allowed:
            return _problem(
                405,
                "Method Not Allowed",
                f"{request.method} is not allowed on this route",
                headers={"Allow": ", ".join(sorted(allowed))},
            )
        return _problem(404, "Not Found", "no function serves this route")

    async def _invoke_http(
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
            result = await self._call(
                function,
                http_request,
                invocation_id,
                trace_parent=request.headers.get("traceparent", ""),
                trace_state=request.headers.get("tracestate", ""),
            )
            response = to_starlette_response(result)
        except Exception:
            # The traceback goes to the log only: it can quote secrets and internals.
            _log_invocation(function.name, "http", "error", started, invocation_id, failed=True)
            return _problem(
                500,
                "Internal Server Error",
                "the function failed; see the host log",
                invocation_id=invocation_id,
            )
        _log_invocation(
            function.name, "http", f"status={response.status_code}", started, invocation_id
        )
        return response

    async def _call(
        self,
        function: IndexedFunction,
        trigger_value: object,
        invocation_id: str,
        *,
        trace_parent: str = "",
        trace_state: str = "",
    ) -> Any:
        kwargs: dict[str, Any] = {function.trigger_parameter: trigger_value}
        if function.wants_context:
            kwargs[CONTEXT_PARAMETER] = InvocationContext(
                invocation_id,
                function.name,
                str(self.indexed.base_dir),
                trace_parent=trace_parent,
                trace_state=trace_state,
            )
        if function.is_async:
            return await function.user_function(**kwargs)
        result = await run_in_threadpool(function.user_function, **kwargs)
        if inspect.isawaitable(result):  # e.g. a sync wrapper around an async function
            result = await result
        return result


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


def _resolve_schedules(indexed: IndexedApp) -> dict[str, ncrontab.Schedule]:
    schedules: dict[str, ncrontab.Schedule] = {}
    for function in indexed.functions:
        if function.schedule is None:
            continue
        try:
            expression = ncrontab.resolve_placeholders(
                function.schedule, os.environ, SETTING_DEFAULTS
            )
            schedules[function.name] = ncrontab.parse(expression)
        except ValueError as e:
            raise HostError(f"timer {function.name!r}: {e}") from None
    return schedules


def _report_scheduler_end(name: str, task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("timer %s: scheduler stopped", name, exc_info=task.exception())


def _log_invocation(
    name: str,
    trigger: str,
    outcome: str,
    started: float,
    invocation_id: str,
    *,
    failed: bool = False,
) -> None:
    # One line per invocation; never the request's headers or body (keys, tokens).
    logger.log(
        logging.ERROR if failed else logging.INFO,
        "function=%s trigger=%s %s duration_ms=%d id=%s",
        name,
        trigger,
        outcome,
        round((time.perf_counter() - started) * 1000),
        invocation_id,
        exc_info=failed,
    )


def _problem(
    status: int,
    title: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    invocation_id: str | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if invocation_id is not None:
        body["invocation_id"] = invocation_id
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )


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


async def _sleep_until(due: datetime) -> None:
    # A wall-clock deadline, not a poll: asyncio.sleep follows the monotonic clock.
    while True:
        delay = (due - _utcnow()).total_seconds()
        if delay <= 0:
            return
        await asyncio.sleep(min(delay, _MAX_SLEEP_SECONDS))


def _utcnow() -> datetime:
    return datetime.now(UTC)
