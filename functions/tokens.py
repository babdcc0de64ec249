"""Kaizala token renewal (timer) and connector onboarding through the PIN flow (ADMIN)."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.http import handle_errors, handle_timer, json_response, parse_body
from shared.logsafe import log_value
from shared.runtime import get_runtime
from shared.services import onboarding
from shared.services.tokens import NotOnboardedError

log = logging.getLogger(__name__)
bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule="%KAIZALA_RENEW_SCHEDULE%", run_on_startup=False)
@handle_timer
async def renew_kaizala_token(timer: func.TimerRequest) -> None:
    try:
        outcome = await get_runtime().tokens.renew_if_due()
    except NotOnboardedError as exc:
        # Expected until an admin completes the PIN flow: a warning, not a failure to page on.
        log.warning("renew_kaizala_token: %s", log_value(exc.detail, 500))
        return
    log.info("renew_kaizala_token: %s", outcome)


@bp.route(route="manage/kaizala/pin", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@handle_errors
async def kaizala_pin(req: func.HttpRequest) -> func.HttpResponse:
    body = parse_body(req, onboarding.PinRequest, max_bytes=4096)
    rt = get_runtime()
    await onboarding.request_pin(rt.kaizala, rt.secrets, body)
    return json_response({"status": "pin-sent"}, status=202)


@bp.route(route="manage/kaizala/login", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@handle_errors
async def kaizala_login(req: func.HttpRequest) -> func.HttpResponse:
    body = parse_body(req, onboarding.LoginRequest, max_bytes=4096)
    rt = get_runtime()
    result = await onboarding.login(rt.kaizala, rt.secrets, rt.tokens, body, clock=rt.clock)
    return json_response(result)
