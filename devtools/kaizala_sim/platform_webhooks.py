"""Webhook subscriptions: register (after the validation handshake), list, re-activate, delete."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from devtools.kaizala_sim import spec, views, wire
from devtools.kaizala_sim.checks import is_number, req_str
from devtools.kaizala_sim.errors import ApiError, bad_request
from devtools.kaizala_sim.models import EVENT_TYPES, OBJECT_TYPES, Webhook
from devtools.kaizala_sim.platform_common import Caller, caller
from devtools.kaizala_sim.state import new_id

DEFAULT_VALIDITY_SECONDS = 2 * 365 * 86400  # documented default: two years


async def register(request: Request) -> JSONResponse:
    who = caller(request)
    # validity: the project's API notes (epoch ms; the swagger does not list it).
    relax = spec.Relax(extra={"validity": None})
    body = await wire.json_body(request, spec.body_schema("SubscribeToAllEvents"), relax=relax)
    object_id = req_str(body, "objectId", "body")
    object_type = body["objectType"]
    if object_type not in OBJECT_TYPES:
        raise bad_request(f"body.objectType must be one of {', '.join(OBJECT_TYPES)}")
    _check_object(who, object_id, object_type)
    events = body["eventTypes"]
    if not events:
        raise bad_request("body.eventTypes must be a non-empty list")
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise bad_request(f"unknown event type {unknown[0]!r}; supported: {', '.join(EVENT_TYPES)}")
    url = req_str(body, "callBackUrl", "body")
    _check_callback_url(url, who.sim.config.allow_non_loopback_callbacks)
    token = body["callBackToken"]
    context = body["callBackContext"]
    now_ms = who.sim.now_ms()
    validity = body.get("validity")
    if validity is None or validity == "":
        validity = now_ms + DEFAULT_VALIDITY_SECONDS * 1000
    elif isinstance(validity, str) and validity.isdigit():
        validity = int(validity)
    if is_number(validity) and 0 < validity < 10**11:
        validity *= 1000  # epoch seconds ("EPOCH format" in the docs) rather than ms
    if not is_number(validity) or validity <= now_ms:
        raise bad_request("validity must be a future time in epoch milliseconds")
    failure = await who.sim.deliveries.validate_callback(url)
    if failure is not None:
        raise ApiError(400, "WebhookValidationFailed", failure)
    hook = Webhook(
        webhook_id=new_id(),
        object_id=object_id,
        object_type=object_type,
        event_types=list(dict.fromkeys(events)),
        callback_url=url,
        callback_token=token,
        callback_context=context,
        validity=int(validity),
        created_at=who.sim.now(),
        application_id=who.connector.application_id,
    )
    who.sim.state.webhooks[hook.webhook_id] = hook
    return JSONResponse({"webhookId": hook.webhook_id})


def _check_object(who: Caller, object_id: str, object_type: str) -> None:
    state = who.sim.state
    if object_type == "Group":
        who.member_group(object_id)
    elif object_type == "Action":
        action = state.actions.get(object_id)
        if action is None:
            raise ApiError(404, "NotFound", f"action {object_id} not found")
        who.member_group(action.group_id)
    # An ActionPackage id names a package, which the simulator has no catalogue of.


def _check_callback_url(url: str, allow_remote: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("callBackUrl must be an absolute http(s) URL")
    loopback = parts.hostname == "localhost" or _is_loopback_ip(parts.hostname)
    if not loopback and not allow_remote:
        # The simulator runs next to its tests and must never call out of the machine.
        raise bad_request("callBackUrl must point at a loopback host (127.0.0.1, localhost)")
    if not loopback and parts.scheme != "https":
        raise bad_request("callBackUrl must be HTTPS")


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def list_webhooks(request: Request) -> JSONResponse:
    who = caller(request)
    object_id = request.query_params.get("objectId")
    object_type = request.query_params.get("objectType")
    if not object_id or object_type not in OBJECT_TYPES:
        raise bad_request(f"objectId and objectType ({'/'.join(OBJECT_TYPES)}) are required")
    _check_object(who, object_id, object_type)
    hooks = [
        views.webhook_view(h)
        for h in who.sim.state.webhooks.values()
        if h.object_id == object_id and h.object_type == object_type
    ]
    return JSONResponse({"webhooks": hooks})


async def update_webhook(request: Request) -> JSONResponse:
    who = caller(request)
    hook = who.sim.state.webhook(request.path_params["webhookId"])
    # Not in the swagger; the project's API notes document {"Active": "true"}.
    schema = {"type": "object", "properties": {"Active": None}, "required": ["Active"]}
    body = await wire.json_body(request, schema)
    active = body["Active"]
    if isinstance(active, str) and active.lower() in ("true", "false"):
        active = active.lower() == "true"
    if not isinstance(active, bool):
        raise bad_request('give {"Active": "true"} to re-activate (or "false" to pause)')
    hook.active = active
    if active:
        hook.failures = 0
    return JSONResponse({"result": True, "webhookId": hook.webhook_id, "active": hook.active})


async def delete_webhook(request: Request) -> JSONResponse:
    who = caller(request)
    hook = who.sim.state.webhook(request.path_params["webhookId"])
    del who.sim.state.webhooks[hook.webhook_id]
    return JSONResponse({"result": True})


def routes() -> list[BaseRoute]:
    return [
        Route("/webhook", register, methods=["POST"]),
        Route("/webhook", list_webhooks, methods=["GET"]),
        Route("/webhook/{webhookId}", update_webhook, methods=["PUT"]),
        Route("/webhook/{webhookId}", delete_webhook, methods=["DELETE"]),
    ]
