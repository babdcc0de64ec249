"""What a platform route requires of a request before it reads a field: the swagger's required
headers, query parameters and JSON body (see spec.py for how a body is held to its schema)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from devtools.kaizala_sim import spec
from devtools.kaizala_sim.errors import ApiError, bad_request, read_json_object

JSON_TYPE = "application/json"


def require_json(request: Request) -> None:
    """`Content-Type: application/json` is a required header of every JSON-body operation."""
    declared = request.headers.get("content-type", "")
    if declared.split(";", 1)[0].strip().lower() != JSON_TYPE:
        raise ApiError(
            415, "UnsupportedMediaType", "the Content-Type header must be application/json"
        )


async def json_body(
    request: Request, schema: spec.Schema, *, relax: spec.Relax = spec.NO_RELAX
) -> dict[str, Any]:
    """The JSON body, held to `schema` (a swagger body schema or definition)."""
    require_json(request)
    body = await read_json_object(request)
    spec.check(body, schema, relax=relax)
    return body


async def raw_json_body(request: Request) -> dict[str, Any]:
    """The JSON body, for a route that picks its schema from what the body says."""
    require_json(request)
    return await read_json_object(request)


def require_header(request: Request, name: str) -> str:
    value = request.headers.get(name)
    if value is None or not value.strip():
        raise bad_request(f"the {name} header is required")
    return value


def query_flag(request: Request, name: str) -> bool:
    """A required boolean query parameter (`true` or `false`, in any case, as .NET parses it)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        raise bad_request(f"the {name} query parameter is required (true or false)")
    lowered = raw.strip().lower()
    if lowered not in ("true", "false"):
        raise bad_request(f"the {name} query parameter must be true or false")
    return lowered == "true"
