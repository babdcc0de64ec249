"""A small Functions app for the local host's tests (not the product's function_app.py).

HTTP functions cover sync and async, route constraints, restricted methods, the return types
the worker accepts and a failure; timers take their schedules from %SETTING% placeholders.
`recorder` lets tests observe what ran, from any thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections import Counter
from typing import Any

import azure.functions as func

# The longest slow_timer waits for a test to let it finish.
MAX_WAIT_SECONDS = 5.0
# tick_timer may wait longer: a test holds it through a whole server shutdown.
TICK_WAIT_SECONDS = 30.0


class Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.active: Counter[str] = Counter()
        self.max_active: Counter[str] = Counter()
        self.seen: list[dict[str, Any]] = []
        self.release = threading.Event()  # lets slow_timer finish
        self.tick_permits = threading.Semaphore(0)  # each release lets one tick_timer run end

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.active.clear()
            self.max_active.clear()
            self.seen.clear()
        self.release = threading.Event()
        self.tick_permits = threading.Semaphore(0)

    def release_all(self) -> None:
        """Never leave a function waiting after a test."""
        self.release.set()
        self.tick_permits.release(100)

    def enter(self, name: str, **details: Any) -> None:
        with self._lock:
            self.calls[name] += 1
            self.active[name] += 1
            self.max_active[name] = max(self.max_active[name], self.active[name])
            self.seen.append({"name": name, **details})

    def leave(self, name: str) -> None:
        with self._lock:
            self.active[name] -= 1


recorder = Recorder()
bp = func.Blueprint()


@bp.route(route="hello/{name:alpha}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def hello(req: func.HttpRequest) -> func.HttpResponse:
    greeting = req.params.get("greeting", "hello")
    return func.HttpResponse(
        f"{greeting} {req.route_params['name']} from {threading.current_thread().name}",
        headers={"X-Sample": "sync"},
    )


@bp.route(route="echo", methods=["POST", "PUT"])
async def echo(req: func.HttpRequest) -> func.HttpResponse:
    payload = {
        "method": req.method,
        "url": req.url,
        "params": dict(req.params),
        "route_params": dict(req.route_params),
        "body": req.get_body().decode(),
        "x_sample": req.headers.get("X-Sample"),
        "thread": threading.current_thread().name,
        "in_loop": asyncio.get_running_loop().is_running(),
    }
    return func.HttpResponse(
        json.dumps(payload),
        status_code=201,
        mimetype="application/json",
        headers={"X-Echo": "yes", "Set-Cookie": "a=1"},
    )


@bp.route(route="items/{id:guid}", methods=["GET", "DELETE"], auth_level=func.AuthLevel.ADMIN)
def item_by_id(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"by": "guid", "id": req.route_params["id"], "method": req.method}),
        mimetype="application/json",
    )


@bp.route(route="items/{n:int}", methods=["GET"])
async def item_by_number(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"by": "int", "n": int(req.route_params["n"])}))


@bp.route(route="files/{name?}", auth_level=func.AuthLevel.ANONYMOUS)
def files(req: func.HttpRequest) -> str:
    # No methods declared: every method reaches it. A plain str is a valid return value.
    return f"{req.method} {req.route_params.get('name', '(none)')}"


@bp.route(route="nothing", methods=["POST"])
def nothing(req: func.HttpRequest) -> None:
    return None


@bp.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("exception detail s3cr3t-in-exception")


@bp.route(route="settings", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def settings(req: func.HttpRequest) -> func.HttpResponse:
    names = ("SAMPLE_FROM_FILE", "SAMPLE_OVERRIDDEN")
    return func.HttpResponse(json.dumps({n: os.environ.get(n) for n in names}))


@bp.function_name("context_probe")
@bp.route(route="context", methods=["GET"])
async def context_probe_impl(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"function_name": context.function_name, "id": context.invocation_id})
    )


@bp.timer_trigger(schedule="%SAMPLE_SLOW_SCHEDULE%", arg_name="timer")
def slow_timer(timer: func.TimerRequest) -> None:
    """Sync (thread pool); runs until the test sets `recorder.release` (at most 5 s)."""
    recorder.enter("slow_timer", past_due=timer.past_due, request_type=type(timer).__name__)
    try:
        recorder.release.wait(MAX_WAIT_SECONDS)
    finally:
        recorder.leave("slow_timer")


@bp.timer_trigger(schedule="%SAMPLE_TICK_SCHEDULE%", arg_name="tick")
async def tick_timer(tick: func.TimerRequest, context: func.Context) -> None:
    # schedule_status is on the concrete TimerRequest only, not on the abstract type.
    status = getattr(tick, "schedule_status", None)
    recorder.enter("tick_timer", function_name=context.function_name, status=status)
    try:
        # Async, on the event loop: wait for the test's permit in a thread, not on the loop
        # (the schedule that must see this run as still running shares the loop).
        permits = recorder.tick_permits
        await asyncio.to_thread(permits.acquire, True, TICK_WAIT_SECONDS)
    finally:
        recorder.leave("tick_timer")


@bp.timer_trigger(schedule="%KAIZALA_RENEW_SCHEDULE%", arg_name="timer", run_on_startup=True)
async def startup_timer(timer: func.TimerRequest) -> None:
    # KAIZALA_RENEW_SCHEDULE has a default in shared.config.SETTING_DEFAULTS.
    recorder.enter("startup_timer")
    recorder.leave("startup_timer")


def build_app() -> func.FunctionApp:
    """A fresh app object: azure-functions indexes each app object only once."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    app.register_functions(bp)
    return app


app = build_app()
