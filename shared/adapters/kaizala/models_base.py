"""The shared ground of the Kaizala models (field names exactly as on the wire).

Requests are exact (`extra="forbid"`): a typo fails here, not as a 400 from Kaizala.
Responses tolerate unknown fields, since Kaizala added fields over time and the published
samples are incomplete. Token and secret fields are `repr=False`, and the models that carry
them ignore unknown fields, so a new secret-bearing field can never reach a repr or a log.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from shared.adapters.kaizala.errors import KaizalaValidationError

INT32_MAX = 2**31 - 1  # the swagger's integers are `format: int32`
MobileNumber = Annotated[str, Field(min_length=3, max_length=20, pattern=r"^\+?[0-9]{3,19}$")]


class RequestModel(BaseModel):
    # defer_build: validators built on first use, not at import (cold start, bench/README.md).
    # hide_input_in_errors: a ValidationError's text must not echo a callBackToken or pin.
    model_config = ConfigDict(
        defer_build=True, extra="forbid", hide_input_in_errors=True, populate_by_name=True
    )


class ResponseModel(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="allow", hide_input_in_errors=True)


class SecretResponseModel(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore", hide_input_in_errors=True)


class OperationResult(ResponseModel):
    """The body of a call whose answer Kaizala never documented (often `{}`)."""


M = TypeVar("M", bound=BaseModel)


def build(model: type[M], data: Any) -> M:
    """A request model from the caller's values, or KaizalaValidationError naming the fields
    (locations, error types and numeric limits only: pydantic's own text would quote the
    input)."""
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        problems = []
        for e in exc.errors(include_input=False, include_url=False)[:5]:
            where = ".".join(str(p) for p in e["loc"]) or "<root>"
            limits = [f"{k}={v}" for k, v in (e.get("ctx") or {}).items() if _is_limit(v)]
            problems.append(f"{where}: {e['type']}" + (f" ({', '.join(limits)})" if limits else ""))
        raise KaizalaValidationError(
            f"{model.__name__} is invalid: {'; '.join(problems)}"
        ) from None


def _is_limit(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
