"""Backfill: responses the webhook missed, read from Kaizala (hourly timer; ADMIN for one action).

Both entry points answer, or log, the same counts: actions read, responses seen, new versions
fed to the inbox, versions already held, and the processing outcomes of the new ones.
"""

from __future__ import annotations

import logging
import re

import azure.functions as func

from functions.http import handle_errors, handle_timer, json_response
from shared.domain.actions import GUID_PATTERN
from shared.errors import NotFoundError
from shared.runtime import get_runtime

log = logging.getLogger(__name__)
bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule="%BACKFILL_SCHEDULE%", run_on_startup=False)
@handle_timer
async def backfill_responses(timer: func.TimerRequest) -> None:
    report = await get_runtime().backfill.run()
    log.info("backfill_responses: %s", report.as_dict())


@bp.route(
    route="manage/actions/{correlationId}/backfill",
    methods=["POST"],
    auth_level=func.AuthLevel.ADMIN,
)
@handle_errors
async def backfill_action(req: func.HttpRequest) -> func.HttpResponse:
    cid = req.route_params.get("correlationId", "")
    if not re.fullmatch(GUID_PATTERN, cid):
        raise NotFoundError("No action with that correlation id.")
    report = await get_runtime().backfill.one(cid.lower())
    return json_response(report.as_dict())
