"""Power Automate trigger subscriptions: subscribe, unsubscribe, the operator's view, delivery.

`POST /api/subscriptions` and `DELETE /api/subscriptions/{id}` are what the custom connector's
trigger "When a Kaizala response arrives" calls (function key); `GET /api/manage/subscriptions`
is the operator's (admin) view; `deliver_flow_responses` POSTs the queued deliveries.
"""

from __future__ import annotations

import azure.functions as func

from functions.http import absolute_location, handle_errors, handle_timer, json_response, parse_body
from shared.domain.flow_subscriptions import SubscribeRequest
from shared.runtime import get_runtime

bp = func.Blueprint()

SUBSCRIBE_MAX_BYTES = 8 * 1024  # a callback URL of at most 2048 characters and two ids


@bp.route(route="subscriptions", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@handle_errors
async def subscribe_flow(req: func.HttpRequest) -> func.HttpResponse:
    body = parse_body(req, SubscribeRequest, max_bytes=SUBSCRIBE_MAX_BYTES)
    sub = await get_runtime().flows.subscribe(body)
    # Power Automate unsubscribes with a DELETE on this Location when the flow is turned off.
    location = absolute_location(req, f"/api/subscriptions/{sub['id']}")
    return json_response(sub, 201, {"Location": location})


@bp.route(
    route="subscriptions/{subscriptionId}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION
)
@handle_errors
async def unsubscribe_flow(req: func.HttpRequest) -> func.HttpResponse:
    # 204 for a second DELETE too: a retried unsubscribe must not fail the flow's turn-off.
    await get_runtime().flows.unsubscribe(req.route_params.get("subscriptionId", ""))
    return func.HttpResponse(status_code=204)


@bp.route(route="manage/subscriptions", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@handle_errors
async def list_flow_subscriptions(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(await get_runtime().flows.overview())


@bp.timer_trigger(arg_name="timer", schedule="*/15 * * * * *", run_on_startup=False)
@handle_timer
async def deliver_flow_responses(timer: func.TimerRequest) -> None:
    await get_runtime().flows.deliver_due(budget=12.0)  # the next run starts in 15 s
