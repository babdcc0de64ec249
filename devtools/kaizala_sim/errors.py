"""Error answers and request-body helpers shared by every route.

Errors are JSON `{"code": "...", "message": "..."}` with the HTTP status; Kaizala's own error
bodies were never documented, so the shape only needs to be stable.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message, self.headers)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def not_found(what: str) -> ApiError:
    return ApiError(404, "NotFound", f"{what} not found")


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "Unauthorized", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "Forbidden", message)


async def read_json_object(request: Request, *, optional: bool = False) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        if optional:
            return {}
        raise bad_request("a JSON object body is required")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    return body


def get_ci(body: dict[str, Any], key: str) -> Any:
    """Look a key up ignoring case: for the control API (`/_sim/`) only, which is the
    simulator's own. Kaizala routes read exact names (spec.py): a case-insensitive lookup there
    hid a client's misspelt fields."""
    if key in body:
        return body[key]
    lowered = key.lower()
    for name, value in body.items():
        if name.lower() == lowered:
            return value
    return None
