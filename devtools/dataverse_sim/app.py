"""The Dataverse simulator's HTTP surface: the Web API subset, its request log, the app.

The `/_sim/` control API is in `control`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from devtools.dataverse_sim import persist
from devtools.dataverse_sim.control import CONTROL_ROUTES
from devtools.dataverse_sim.notes import NOTE_COLUMNS, NOTE_SET
from devtools.dataverse_sim.odata import (
    CODE_PAYLOAD,
    CODE_QUERY,
    CODE_SEGMENT,
    CODE_THROTTLED,
    CODE_UNAUTHORIZED,
    CODE_UNAVAILABLE,
    ODataError,
    parse_guid,
)
from devtools.dataverse_sim.people import PEOPLE_CONTROL_ROUTES, PEOPLE_SETS, read_only_error
from devtools.dataverse_sim.state import SimState
from devtools.dataverse_sim.tables import DEFAULT_OPPORTUNITIES, OPPORTUNITY_COLUMNS, TABLES
from devtools.snapshot import Snapshot

API_PREFIX = "/api/data/v9.2"
DEFAULT_TOKEN = "dev-dataverse-token"  # noqa: S105 - a well-known local-only token
ODATA_JSON = "application/json; odata.metadata=minimal"

log = logging.getLogger("devtools.dataverse_sim")

_SEGMENT_RE = re.compile(r"^(?P<set>[A-Za-z_]+)(?:\((?P<key>[^()]*)\))?$")


@dataclass(frozen=True)
class SimConfig:
    token: str = DEFAULT_TOKEN
    opportunities: tuple[tuple[str, str], ...] = DEFAULT_OPPORTUNITIES


def create_app(config: SimConfig | None = None, state_path: Path | None = None) -> Starlette:
    """With `state_path`, the records are restored from that snapshot and saved there."""
    config = config or SimConfig()
    sim = SimState(config.opportunities)
    snapshot = None
    if state_path is not None:
        snapshot = Snapshot(state_path, persist.KIND, persist.VERSION, log)
        snapshot.load(lambda data: persist.restore(sim, data))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if snapshot is None:
            yield
            return
        async with snapshot.autosaving(lambda: persist.dump(sim)):
            yield

    app = Starlette(
        routes=[
            Route(
                API_PREFIX + "/{path:path}", _web_api, methods=["GET", "POST", "PATCH", "DELETE"]
            ),
            *CONTROL_ROUTES,
            *PEOPLE_CONTROL_ROUTES,
        ],
        middleware=[Middleware(_RequestLog, sim=sim)],
        lifespan=lifespan,
    )
    app.state.sim = sim
    app.state.config = config
    return app


class _RequestLog:
    """One log line per request, and the Web API request counters.

    Both happen before the status line goes out, so a client holding its answer always finds
    the request counted and logged (tests rely on that; a 204 is complete with its headers).
    """

    def __init__(self, app: ASGIApp, sim: SimState) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method, path = scope["method"], scope["path"]
        status = 500
        logged = False

        def log_line() -> None:
            nonlocal logged
            logged = True
            # Path only: no query string, and never a header (the bearer token lives there).
            elapsed = (time.perf_counter() - started) * 1000
            log.info("%s %s %d %.1fms", method, path, status, elapsed)

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if path.startswith(API_PREFIX + "/"):
                    self.sim.record_request(method, status)
                log_line()
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if not logged:
                log_line()


# ---- Web API ----------------------------------------------------------------------------------


async def _web_api(request: Request) -> Response:
    sim: SimState = request.app.state.sim
    config: SimConfig = request.app.state.config
    try:
        if sim.down:
            raise ODataError(503, CODE_UNAVAILABLE, "The service is unavailable (simulator down).")
        _check_auth(request, config.token)
        # Limits and faults apply after authentication: the real service throttles per user.
        refused = sim.limits.enter()
        if refused is not None:
            raise ODataError(
                429,
                CODE_THROTTLED,
                "Number of concurrent requests or requests over time exceeded the limit.",
                {"Retry-After": str(refused)},
            )
        try:
            fault = sim.take_fault(request.method, request.url.path)
            if fault is not None:
                if fault.delay_seconds:
                    await asyncio.sleep(fault.delay_seconds)
                if fault.status is not None:
                    raise fault.error()
            return await _dispatch(request, sim)
        finally:
            sim.limits.leave()
    except ODataError as exc:
        return JSONResponse(
            exc.body(),
            status_code=exc.status,
            headers={"OData-Version": "4.0", **exc.headers},
            media_type=ODATA_JSON,
        )


def _check_auth(request: Request, token: str) -> None:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        presented.strip().encode(), token.encode()
    ):
        raise ODataError(
            401,
            CODE_UNAUTHORIZED,
            "The request has no valid bearer token.",
            {"WWW-Authenticate": "Bearer"},
        )


async def _dispatch(request: Request, sim: SimState) -> Response:
    segment = request.path_params["path"]
    base = str(request.base_url).rstrip("/") + API_PREFIX
    if segment == "":
        sets = [*TABLES, "opportunities", *PEOPLE_SETS, NOTE_SET]
        return _json(
            {"@odata.context": f"{base}/$metadata", "value": [{"name": s, "url": s} for s in sets]}
        )
    match = _SEGMENT_RE.match(segment)
    entity_set = match["set"] if match else segment
    if match is not None and entity_set == NOTE_SET:
        key = parse_guid(match["key"]) if match["key"] is not None else None
        return await _notes(request, sim, key, base)
    served = entity_set in TABLES or entity_set == "opportunities" or entity_set in PEOPLE_SETS
    if match is None or not served:
        raise ODataError(404, CODE_SEGMENT, f"Resource not found for the segment '{segment[:80]}'.")
    key = parse_guid(match["key"]) if match["key"] is not None else None
    method = request.method
    params = request.query_params

    if method == "GET":
        columns = _columns(entity_set)
        select = _parse_select(params.get("$select"), columns, entity_set)
        if key is not None:
            row = _project(sim.get(entity_set, key), select, entity_set)
            context = f"{base}/$metadata#{entity_set}/$entity"
            return _json({"@odata.context": context, **row})
        rows = sim.query(entity_set, params.get("$filter"), params.get("$orderby"), _top(params))
        shown = f"({','.join(select)})" if select else ""
        return _json(
            {
                "@odata.context": f"{base}/$metadata#{entity_set}{shown}",
                "value": [_project(r, select, entity_set) for r in rows],
            }
        )
    if entity_set == "opportunities":
        raise ODataError(
            405,
            CODE_QUERY,
            "The simulator serves opportunities read-only (POST /_sim/opportunities).",
        )
    if entity_set in PEOPLE_SETS:
        raise read_only_error(entity_set)
    entity_id = f"{base}/{entity_set}({{}})"
    representation = "return=representation" in request.headers.get("prefer", "")
    if method == "POST":
        if key is not None:
            raise ODataError(405, CODE_QUERY, "POST is not allowed on a single record.")
        row = sim.create(entity_set, await _json_body(request))
        return _written(row, 201, representation, entity_id.format(row["activityid"]))
    if key is None:
        raise ODataError(405, CODE_QUERY, f"{method} needs a record key.")
    if method == "DELETE":
        sim.delete(entity_set, key)
        return Response(status_code=204, headers={"OData-Version": "4.0"})
    row, _created = sim.upsert(
        entity_set,
        key,
        await _json_body(request),
        if_match=request.headers.get("if-match"),
        if_none_match=request.headers.get("if-none-match"),
    )
    return _written(row, 200, representation, entity_id.format(key))


async def _notes(request: Request, sim: SimState, key: str | None, base: str) -> Response:
    """`annotations`: the same verbs, conditions and answers as the activity tables."""
    method, params = request.method, request.query_params
    if method == "GET":
        select = _parse_select(params.get("$select"), NOTE_COLUMNS, NOTE_SET)
        if key is not None:
            row = _project(sim.get_annotation(key), select, NOTE_SET)
            return _json({"@odata.context": f"{base}/$metadata#{NOTE_SET}/$entity", **row})
        rows = sim.query_annotations(params.get("$filter"), params.get("$orderby"), _top(params))
        shown = f"({','.join(select)})" if select else ""
        return _json(
            {
                "@odata.context": f"{base}/$metadata#{NOTE_SET}{shown}",
                "value": [_project(r, select, NOTE_SET) for r in rows],
            }
        )
    representation = "return=representation" in request.headers.get("prefer", "")
    if method == "POST":
        if key is not None:
            raise ODataError(405, CODE_QUERY, "POST is not allowed on a single record.")
        row = sim.create_annotation(await _json_body(request))
        url = f"{base}/{NOTE_SET}({row['annotationid']})"
        return _written(row, 201, representation, url)
    if key is None:
        raise ODataError(405, CODE_QUERY, f"{method} needs a record key.")
    if method == "DELETE":
        sim.delete_annotation(key)
        return Response(status_code=204, headers={"OData-Version": "4.0"})
    row = sim.upsert_annotation(
        key,
        await _json_body(request),
        if_match=request.headers.get("if-match"),
        if_none_match=request.headers.get("if-none-match"),
    )
    return _written(row, 200, representation, f"{base}/{NOTE_SET}({key})")


def _written(row: dict[str, Any], status: int, representation: bool, entity_id: str) -> Response:
    headers = {"OData-Version": "4.0", "OData-EntityId": entity_id}
    if representation:
        return JSONResponse(row, status_code=status, headers=headers, media_type=ODATA_JSON)
    return Response(status_code=204, headers=headers)


def _json(body: Mapping[str, Any]) -> Response:
    return JSONResponse(dict(body), headers={"OData-Version": "4.0"}, media_type=ODATA_JSON)


async def _json_body(request: Request) -> dict[str, Any]:
    if not request.headers.get("content-type", "").lower().startswith("application/json"):
        raise ODataError(415, CODE_PAYLOAD, "Content-Type must be application/json.")
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise ODataError(400, CODE_PAYLOAD, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ODataError(400, CODE_PAYLOAD, "The request body must be a JSON object.")
    return body


def _columns(entity_set: str) -> frozenset[str]:
    if entity_set == "opportunities":
        return OPPORTUNITY_COLUMNS
    if entity_set in PEOPLE_SETS:
        return PEOPLE_SETS[entity_set].columns
    return TABLES[entity_set].readable


def _primary_key(entity_set: str) -> str:
    if entity_set in PEOPLE_SETS:
        return PEOPLE_SETS[entity_set].key
    if entity_set == NOTE_SET:
        return "annotationid"
    return "opportunityid" if entity_set == "opportunities" else "activityid"


def _parse_select(text: str | None, columns: frozenset[str], entity_set: str) -> list[str]:
    if not text:
        return []
    names = [part.strip() for part in text.split(",") if part.strip()]
    for name in names:
        if name not in columns:
            raise ODataError(
                400, CODE_QUERY, f"Could not find a property named '{name[:80]}' on '{entity_set}'."
            )
    return names


def _project(row: Mapping[str, Any], select: list[str], entity_set: str) -> dict[str, Any]:
    if not select:
        return dict(row)
    # The service always returns the etag and the primary key alongside the selected columns.
    keep = {"@odata.etag", _primary_key(entity_set), *select}
    return {k: v for k, v in row.items() if k in keep}


def _top(params: Mapping[str, str]) -> int | None:
    text = params.get("$top")
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ODataError(400, CODE_QUERY, "$top must be a positive integer.")
    return int(text)
