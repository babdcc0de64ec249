"""Reading Kaizala's answers: a final status as a typed error, a body as a model.

Every error keeps to the log-safe data of its call (see errors.py): pydantic's own error text
is never used, since it would quote the (possibly secret) input.
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from shared.adapters.kaizala.calls import Call, request_id
from shared.adapters.kaizala.errors import (
    KaizalaAuthError,
    KaizalaBadRequestError,
    KaizalaError,
    KaizalaNotFoundError,
    KaizalaServerError,
)
from shared.domain.json_limits import decode  # bounded depth: upstream JSON too

M = TypeVar("M", bound=BaseModel)


def status_error(response: httpx.Response, call: Call) -> KaizalaError:
    """The typed error of a final non-2xx answer."""
    status = response.status_code
    kwargs: dict[str, Any] = {
        "upstream_status": status,
        "body_excerpt": response.text,
        "request_id": request_id(response),
        **call.error_kwargs(),
    }
    if status in (401, 403):
        return KaizalaAuthError("Kaizala refused the credentials", **kwargs)
    if status == 404:
        return KaizalaNotFoundError("Kaizala resource not found", **kwargs)
    if status >= 500:
        return KaizalaServerError("Kaizala server error", **kwargs)
    if 400 <= status < 500:
        return KaizalaBadRequestError("Kaizala refused the request", **kwargs)
    return KaizalaError("unexpected Kaizala status", **kwargs)


def read_json(response: httpx.Response, call: Call) -> Any:
    if not response.content.strip():
        return {}
    try:
        return decode(response.content)
    except ValueError:
        raise KaizalaError(
            "malformed response: not JSON",
            upstream_status=response.status_code,
            body_excerpt=response.text,
            request_id=request_id(response),
            **call.error_kwargs(),
        ) from None


def _shape_error(
    exc: PydanticValidationError, response: httpx.Response, call: Call
) -> KaizalaError:
    # Locations and error types only: pydantic's own text would quote the (secret) input.
    fields = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['type']}"
        for e in exc.errors(include_input=False, include_url=False)[:5]
    )
    return KaizalaError(
        f"malformed response: {fields}",
        upstream_status=response.status_code,
        body_excerpt=response.text,
        request_id=request_id(response),
        **call.error_kwargs(),
    )


def parse(model: type[M], response: httpx.Response, call: Call) -> M:
    data = read_json(response, call)
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise _shape_error(exc, response, call) from None


def parse_list(model: type[M], response: httpx.Response, call: Call, key: str) -> list[M]:
    """A list answer, given bare (`[...]`) or wrapped (`{"<key>": [...]}`)."""
    data = read_json(response, call)
    if isinstance(data, dict) and not data:
        data = []
    elif isinstance(data, dict) and isinstance(data.get(key), list):
        data = data[key]
    try:
        return TypeAdapter(list[model]).validate_python(data)  # type: ignore[valid-type]
    except PydanticValidationError as exc:
        raise _shape_error(exc, response, call) from None


def dump(model: BaseModel) -> dict[str, Any]:
    """A request model as Kaizala's JSON (wire names, no unset optional fields)."""
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)
