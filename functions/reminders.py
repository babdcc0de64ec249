"""Reminders: POST /api/actions/{correlationId}/reminder (Kaizala's reminder, once a window)."""

from __future__ import annotations

import re

import azure.functions as func

from functions.http import handle_errors, json_response, parse_body
from shared.domain.actions import GUID_PATTERN
from shared.domain.reminders import ReminderRequest
from shared.errors import NotFoundError
from shared.runtime import get_runtime

bp = func.Blueprint()

MAX_BODY = 4096


@bp.route(
    route="actions/{correlationId}/reminder", methods=["POST"], auth_level=func.AuthLevel.FUNCTION
)
@handle_errors
async def send_reminder(req: func.HttpRequest) -> func.HttpResponse:
    cid = req.route_params.get("correlationId", "")
    if not re.fullmatch(GUID_PATTERN, cid):
        raise NotFoundError("No action with that correlation id.")
    if req.get_body():
        parse_body(req, ReminderRequest, max_bytes=MAX_BODY)  # `{}`: nothing else to say
    outcome = await get_runtime().reminders.remind(cid)
    return json_response(outcome.body.model_dump(), outcome.http_status)
