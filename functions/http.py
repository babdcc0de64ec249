"""Trigger-side glue: JSON and problem+json responses, and the mapping of typed errors.

Every HTTP trigger wraps its body with `@handle_errors`, so a BridgeError becomes its
problem+json answer and anything unexpected becomes a generic 500 (details only in the log).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func

from shared.errors import BridgeError

log = logging.getLogger("functions")

PROBLEM_JSON = "application/problem+json"


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, separators=(",", ":"), default=str),
        status_code=status,
        mimetype="application/json",
        charset="utf-8",
        headers=headers,
    )


def problem_response(err: BridgeError, req: func.HttpRequest | None = None) -> func.HttpResponse:
    instance = _path(req.url) if req is not None else None
    return func.HttpResponse(
        json.dumps(err.problem(instance), separators=(",", ":")),
        status_code=err.status,
        mimetype=PROBLEM_JSON,
        charset="utf-8",
        headers=err.headers(),
    )


def _path(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path


Handler = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]


def handle_errors(fn: Handler) -> Handler:
    @functools.wraps(fn)
    async def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return await fn(req)
        except BridgeError as err:
            if err.status >= 500:
                log.warning("%s failed: %s %s", fn.__name__, type(err).__name__, err.detail)
            return problem_response(err, req)
        except Exception:
            log.exception("%s failed unexpectedly", fn.__name__)
            return problem_response(BridgeError("An unexpected error occurred."), req)

    return wrapper
