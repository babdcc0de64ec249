"""Helpers to call the product's functions as the Functions host would: real request objects.

`app.get_functions()` may only run once per app object, so the index is built once here.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import azure.functions as func


@cache
def functions_by_name() -> dict[str, Any]:
    import function_app

    return {f.get_function_name(): f for f in function_app.app.get_functions()}


def request(
    method: str,
    path: str,
    *,
    body: bytes | str | dict[str, Any] | list[Any] | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    route_params: dict[str, str] | None = None,
) -> func.HttpRequest:
    if isinstance(body, dict | list):
        raw = json.dumps(body).encode()
        headers = {"content-type": "application/json", **(headers or {})}
    elif isinstance(body, str):
        raw = body.encode()
    else:
        raw = body or b""
    return func.HttpRequest(
        method=method,
        url=f"http://localhost:7071{path}",
        headers=headers or {},
        params=params or {},
        route_params=route_params or {},
        body=raw,
    )


async def call(name: str, req: func.HttpRequest) -> func.HttpResponse:
    fn = functions_by_name()[name].get_user_function()
    result = fn(req)
    if inspect.isawaitable(result):
        result = await result
    assert isinstance(result, func.HttpResponse)
    return result


async def run_timer(name: str) -> None:
    from azure.functions.timer import TimerRequest

    fn = functions_by_name()[name].get_user_function()
    result = fn(TimerRequest(past_due=False))
    if inspect.isawaitable(result):
        await result


def body_json(resp: func.HttpResponse) -> Any:
    return json.loads(resp.get_body())


ROOT = Path(__file__).resolve().parents[1]


def fresh_python(script: str, env: Mapping[str, str] | None = None) -> str:
    """Run `script` in a new interpreter of this venv at the repository root (what a new worker
    process imports); the last line it printed. `env` defaults to ours with the root on the path.
    """
    done = subprocess.run(  # noqa: S603 - our own interpreter, our own script
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=dict(env) if env is not None else {**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]
