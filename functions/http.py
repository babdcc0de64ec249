"""Trigger-side glue: JSON and problem+json responses, and the mapping of typed errors.

Every HTTP trigger wraps its body with `@handle_errors`, so a BridgeError becomes its
problem+json answer and anything unexpected becomes a generic 500 (details only in the log).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import azure.functions as func
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from shared import telemetry
from shared.domain import json_limits
from shared.errors import (
    BridgeError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from shared.logsafe import log_value

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
    return urlsplit(url).path


def absolute_location(req: func.HttpRequest, location: str) -> str:
    """A root-relative Location made absolute with the request's scheme and host.

    A custom connector calls through its own runtime URL and Microsoft's asynchronous pattern
    uses absolute URLs, so a client must not have to resolve `/api/...` itself. The host is the
    one the request reached (the app's own name behind the Functions front end).
    """
    if not location.startswith("/"):
        return location
    parts = urlsplit(req.url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return location
    return f"{parts.scheme}://{parts.netloc}{location}"


_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")


def idempotency_key(req: func.HttpRequest) -> str | None:
    """The `Idempotency-Key` header, checked (400 when malformed), or None without one."""
    key: str | None = req.headers.get("idempotency-key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise ValidationError(
            "Idempotency-Key must be 1 to 128 visible ASCII characters.",
            [{"field": "Idempotency-Key", "message": "malformed"}],
        )
    return key


DEFAULT_MAX_BODY = 64 * 1024
M = TypeVar("M", bound=BaseModel)


def parse_body(req: func.HttpRequest, model: type[M], max_bytes: int = DEFAULT_MAX_BODY) -> M:
    """Validate a JSON body against a model; errors name the field, never echo the input."""
    raw = req.get_body() or b""
    if len(raw) > max_bytes:
        raise PayloadTooLargeError(f"The body is larger than {max_bytes} bytes.")
    ctype = (req.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise UnsupportedMediaTypeError("Send the body as application/json.")
    data = json_limits.loads(raw or b"null")  # 400 when not JSON or nested too deep
    if not isinstance(data, dict):
        raise ValidationError("The body must be a JSON object.")
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise validation_error(exc) from None


def validation_error(exc: PydanticValidationError) -> ValidationError:
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]}
        for e in exc.errors(include_input=False, include_url=False)
    ]
    first = errors[0]
    return ValidationError(f"Invalid field {first['field']}: {first['message']}", errors)


Handler = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]
TimerHandler = Callable[[func.TimerRequest], Awaitable[None]]

# Route parameters that are ids worth a span attribute (never a query value: `code` is a key).
_ROUTE_IDS = ("correlationId", "groupId")


def handle_errors(fn: Handler) -> Handler:
    """The HTTP trigger's span (ids as attributes) and its error mapping.

    Expected failures (a BridgeError) are one log line with their problem type and no
    traceback; only the unexpected is logged with one.
    """

    @functools.wraps(fn)
    async def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        ids = {k: req.route_params.get(k) for k in _ROUTE_IDS}
        attributes = {"faas.trigger": "http", "http.request.method": req.method}
        with telemetry.span(fn.__name__, "internal", **attributes) as scope:
            telemetry.set_ids(**ids)
            try:
                response = await fn(req)
            except BridgeError as err:
                scope.fail(err.slug)
                response = problem_response(err, req)
                _log_expected(fn.__name__, err)
            except Exception as exc:
                scope.fail(type(exc).__name__)
                log.exception("%s failed unexpectedly", fn.__name__)
                response = problem_response(BridgeError("An unexpected error occurred."), req)
            scope.set(**{"http.response.status_code": response.status_code})
            return response

    return wrapper


def handle_timer(fn: TimerHandler) -> TimerHandler:
    """The timer trigger's span, and the same rule for logs as `handle_errors`.

    An expected failure (a BridgeError: Kaizala refused the refresh token, Dataverse is down)
    ends the run with one line; the next run tries again. The unexpected is logged with its
    traceback and raised, so the host records the run as failed.
    """

    @functools.wraps(fn)
    async def wrapper(timer: func.TimerRequest) -> None:
        with telemetry.span(fn.__name__, "internal", **{"faas.trigger": "timer"}) as scope:
            try:
                await fn(timer)
            except BridgeError as err:
                scope.fail(err.slug)
                _log_expected(fn.__name__, err)
            except Exception as exc:
                scope.fail(type(exc).__name__)
                log.exception("%s failed unexpectedly", fn.__name__)
                raise

    return wrapper


def _log_expected(name: str, err: BridgeError) -> None:
    if err.status >= 500:
        # A Kaizala error's detail is "Kaizala call failed: <its log-safe text>"; any detail
        # may quote upstream text, so it is escaped and bounded like a value.
        detail = log_value(err.detail, 500)
        log.warning("%s failed: %s %s problem=%s", name, type(err).__name__, detail, err.slug)
    else:
        log.info("%s answered %d problem=%s", name, err.status, err.slug)
