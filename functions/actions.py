"""Sending actions: POST /api/actions, GET /api/actions/{id}, Dataverse webhook, outbox."""

from __future__ import annotations

import logging
import re

import azure.functions as func

from functions.http import (
    absolute_location,
    handle_errors,
    handle_timer,
    idempotency_key,
    json_response,
    parse_body,
)
from shared.domain.actions import GUID_PATTERN, SendActionRequest
from shared.errors import NotFoundError
from shared.runtime import get_runtime
from shared.services.opportunity_hook import RemoteExecutionContext, handle_context

log = logging.getLogger(__name__)
bp = func.Blueprint()


@bp.route(route="actions", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@handle_errors
async def send_action(req: func.HttpRequest) -> func.HttpResponse:
    key = idempotency_key(req)
    body = parse_body(req, SendActionRequest)
    outcome = await get_runtime().outbound.send(body, key)
    headers = {"Location": absolute_location(req, outcome.location)} if outcome.location else None
    if outcome.http_status == 202 and headers is not None:
        headers["Retry-After"] = "10"
    return json_response(outcome.body.model_dump(exclude_none=True), outcome.http_status, headers)


@bp.route(route="actions/{correlationId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handle_errors
async def get_action(req: func.HttpRequest) -> func.HttpResponse:
    cid = req.route_params.get("correlationId", "")
    if not re.fullmatch(GUID_PATTERN, cid):
        raise NotFoundError("No action with that correlation id.")
    status = await get_runtime().outbound.status(cid)
    if status.status in ("queued", "sending"):
        # Power Automate's asynchronous pattern polls the Location until it gets a non-202.
        location = absolute_location(req, f"/api/actions/{status.correlationId}")
        headers = {"Retry-After": "10", "Location": location}
        return json_response(status.model_dump(exclude_none=True), 202, headers)
    return json_response(status.model_dump(exclude_none=True))


@bp.route(route="dynamics/opportunities", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@handle_errors
async def dynamics_opportunities(req: func.HttpRequest) -> func.HttpResponse:
    # A RemoteExecutionContext can be up to 256 KB (Dataverse trims larger ones).
    ctx = parse_body(req, RemoteExecutionContext, max_bytes=512 * 1024)
    rt = get_runtime()
    status, body, location = await handle_context(
        ctx, rt.outbound, rt.settings, rt.opportunity_groups
    )
    headers = {"Location": absolute_location(req, location)} if location else None
    return json_response(body, status, headers)


@bp.timer_trigger(arg_name="timer", schedule="*/15 * * * * *", run_on_startup=False)
@handle_timer
async def drain_outbox(timer: func.TimerRequest) -> None:
    report = await get_runtime().outbound.drain(max_seconds=50)
    if any(report.values()):
        log.info("drain_outbox: %s", report)
