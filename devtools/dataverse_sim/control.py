"""The simulator's `/_sim/` control API: seed, inject faults, go down, reset, read state.

No auth: a loopback-only dev tool (see README.md).
"""

from __future__ import annotations

import re
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devtools.dataverse_sim.faults import Fault
from devtools.dataverse_sim.limits import LimitSpec
from devtools.dataverse_sim.odata import ODataError
from devtools.dataverse_sim.state import SimState


class _OpportunitySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    name: str = Field(min_length=1, max_length=300)
    ownerId: str | None = None  # a systemuser (seed it with POST /_sim/systemusers)
    contactId: str | None = None  # a contact (POST /_sim/contacts)


class _FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    status: Literal[429, 500, 502, 503, 504] | None = None
    count: int = Field(default=1, ge=1, le=100_000)
    retry_after: int | None = Field(default=None, alias="retryAfter", ge=0, le=3600)
    delay_seconds: float = Field(default=0.0, alias="delaySeconds", ge=0, le=120)
    path_regex: str | None = Field(default=None, alias="pathRegex", max_length=500)
    method: Literal["GET", "POST", "PATCH", "DELETE"] | None = None

    @field_validator("path_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value


class _LimitsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    max_concurrent: int | None = Field(default=None, alias="maxConcurrent", ge=1, le=10_000)
    per_window: int | None = Field(default=None, alias="perWindow", ge=1, le=1_000_000)
    window_seconds: float = Field(default=300.0, alias="windowSeconds", gt=0, le=3600)
    retry_after: int = Field(default=5, alias="retryAfter", ge=0, le=3600)


class _DownSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    down: bool


_M = TypeVar("_M", bound=BaseModel)


def _control_error(message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": "sim.bad-request", "message": message}}, 400)


async def _control_body(request: Request, model: type[_M]) -> _M | JSONResponse:
    try:
        return model.model_validate_json(await request.body() or b"{}")
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _control_error(details or "invalid body")


async def _control_state(request: Request) -> Response:
    return JSONResponse(request.app.state.sim.snapshot())


async def _control_stats(request: Request) -> Response:
    return JSONResponse(request.app.state.sim.stats())


async def _control_add_opportunity(request: Request) -> Response:
    spec = await _control_body(request, _OpportunitySpec)
    if isinstance(spec, JSONResponse):
        return spec
    try:
        row = request.app.state.sim.add_opportunity(
            spec.id, spec.name, spec.ownerId, spec.contactId
        )
    except ODataError as exc:
        return _control_error(exc.message)
    return JSONResponse(row, 201)


async def _control_faults(request: Request) -> Response:
    sim: SimState = request.app.state.sim
    if request.method == "DELETE":
        sim.clear_faults()
        return Response(status_code=204)
    spec = await _control_body(request, _FaultSpec)
    if isinstance(spec, JSONResponse):
        return spec
    if spec.status is None and spec.delay_seconds <= 0:
        return _control_error("a fault needs a status, a delaySeconds, or both")
    fault = Fault(
        status=spec.status,
        remaining=spec.count,
        retry_after=spec.retry_after,
        delay_seconds=spec.delay_seconds,
        path_regex=re.compile(spec.path_regex) if spec.path_regex else None,
        method=spec.method,
    )
    sim.add_fault(fault)
    return JSONResponse(fault.describe(), 201)


async def _control_limits(request: Request) -> Response:
    sim: SimState = request.app.state.sim
    if request.method == "DELETE":
        sim.limits.set(LimitSpec())
        return Response(status_code=204)
    spec = await _control_body(request, _LimitsSpec)
    if isinstance(spec, JSONResponse):
        return spec
    sim.limits.set(
        LimitSpec(spec.max_concurrent, spec.per_window, spec.window_seconds, spec.retry_after)
    )
    sim.limits.clear_peak()
    return JSONResponse(sim.limits.stats(), 201)


async def _control_down(request: Request) -> Response:
    spec = await _control_body(request, _DownSpec)
    if isinstance(spec, JSONResponse):
        return spec
    request.app.state.sim.set_down(spec.down)
    return JSONResponse({"down": spec.down})


async def _control_reset(request: Request) -> Response:
    request.app.state.sim.reset()
    return Response(status_code=204)


CONTROL_ROUTES = (
    Route("/_sim/state", _control_state, methods=["GET"]),
    Route("/_sim/stats", _control_stats, methods=["GET"]),
    Route("/_sim/opportunities", _control_add_opportunity, methods=["POST"]),
    Route("/_sim/faults", _control_faults, methods=["POST", "DELETE"]),
    Route("/_sim/down", _control_down, methods=["POST"]),
    Route("/_sim/limits", _control_limits, methods=["POST", "DELETE"]),
    Route("/_sim/reset", _control_reset, methods=["POST"]),
)
