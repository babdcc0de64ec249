"""Kaizala webhook subscriptions: POST /api/manage/webhooks/sync and the reconcile timer.

Both cover every registered group (the `groups` table) plus `KAIZALA_WEBHOOK_GROUPS`.
"""

from __future__ import annotations

import logging

import azure.functions as func
from pydantic import BaseModel, ConfigDict

from functions.http import handle_errors, handle_timer, json_response, parse_body
from shared.runtime import get_runtime
from shared.services.subscriptions import sync_webhooks

log = logging.getLogger(__name__)
bp = func.Blueprint()


class SyncRequest(BaseModel):
    # Strict: `"recreate": "yes"` (or 1, or "true") is a 400, never a recreation.
    model_config = ConfigDict(defer_build=True, extra="forbid", strict=True)
    recreate: bool = False


@bp.route(route="manage/webhooks/sync", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@handle_errors
async def sync_kaizala_webhooks(req: func.HttpRequest) -> func.HttpResponse:
    body = parse_body(req, SyncRequest) if req.get_body() else SyncRequest()
    rt = get_runtime()
    report = await sync_webhooks(
        rt.kaizala, rt.callbacks, rt.settings, recreate=body.recreate, groups=rt.groups
    )
    return json_response({"groups": report})


@bp.timer_trigger(arg_name="timer", schedule="0 5 * * * *", run_on_startup=False)
@handle_timer
async def reconcile_webhooks(timer: func.TimerRequest) -> None:
    rt = get_runtime()
    report = await sync_webhooks(rt.kaizala, rt.callbacks, rt.settings, groups=rt.groups)
    log.info("reconcile_webhooks: %s", report)
