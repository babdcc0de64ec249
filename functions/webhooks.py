"""Kaizala webhooks: validation handshake, event intake, the inbox sweeper and replay (ADMIN).

`POST /api/kaizala/webhook` is anonymous at the host (Kaizala cannot send a function key) and
authenticated in code with the `kz-callback-token` header, before anything is stored.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import azure.functions as func

from functions.http import handle_errors, handle_timer, json_response, parse_body
from shared.errors import ValidationError
from shared.runtime import get_runtime
from shared.services import inbound

log = logging.getLogger(__name__)
bp = func.Blueprint()

CALLBACK_TOKEN_HEADER = "kz-callback-token"  # noqa: S105 - a header name
VALIDATION_PARAM = "validationToken"
REPLAY_BUDGET_SECONDS = 20.0


@bp.route(route="kaizala/webhook", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@handle_errors
async def kaizala_webhook_validate(req: func.HttpRequest) -> func.HttpResponse:
    raw = _raw_query_value(req.url, VALIDATION_PARAM)
    # The raw query is decoded exactly once here; hosts that hand over no query string in the
    # URL give the parameter already decoded.
    token = inbound.validation_echo(raw) if raw is not None else req.params.get(VALIDATION_PARAM)
    if not token:
        raise ValidationError(f"The {VALIDATION_PARAM} query parameter is required.")
    # Exactly the token, as plain text: never HTML, and no sniffing it into something else.
    return func.HttpResponse(
        token,
        status_code=200,
        mimetype="text/plain",
        charset="utf-8",
        headers={
            "Content-Type": "text/plain; charset=utf-8",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


def _raw_query_value(url: str, name: str) -> str | None:
    for part in urlsplit(url).query.split("&"):
        key, sep, value = part.partition("=")
        if sep and key == name:
            return value
    return None


@bp.route(route="kaizala/webhook", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@handle_errors
async def kaizala_webhook(req: func.HttpRequest) -> func.HttpResponse:
    result = await inbound.receive_event(
        get_runtime().inbound, req.get_body() or b"", req.headers.get(CALLBACK_TOKEN_HEADER)
    )
    return json_response({"status": result.status, "eventId": result.event_id})


# Every 10 s, not every minute: an idle sweep costs two table requests, and a backlog starts
# draining within seconds of Dataverse answering again (docs/runbook.md, after an outage).
@bp.timer_trigger(arg_name="timer", schedule="*/10 * * * * *", run_on_startup=False)
@handle_timer
async def process_inbox(timer: func.TimerRequest) -> None:
    await inbound.sweep_inbox(get_runtime().inbound)


@bp.route(route="manage/inbox/replay", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@handle_errors
async def inbox_replay(req: func.HttpRequest) -> func.HttpResponse:
    body = parse_body(req, inbound.ReplayRequest, max_bytes=4096)
    deps = get_runtime().inbound
    requeued = await inbound.replay(deps, body.eventId, body.status)
    result: dict[str, object] = {"requeued": requeued}
    if requeued:
        # Process them now rather than at the next timer run; expiry stays the timer's job.
        report = await inbound.sweep_inbox(deps, budget=REPLAY_BUDGET_SECONDS, expire=False)
        result["processed"] = report.outcomes
    return json_response(result)
