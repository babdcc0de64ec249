"""The control API under /_sim/: not part of Kaizala, no auth; for tests and demos."""

from __future__ import annotations

import random
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from devtools.kaizala_sim import domain, tokens, views
from devtools.kaizala_sim.errors import bad_request, get_ci, not_found, read_json_object
from devtools.kaizala_sim.models import Action, Connector, Question
from devtools.kaizala_sim.platform_common import base_url, sim_of
from devtools.kaizala_sim.simulator import Redirect, Simulator
from devtools.kaizala_sim.state import (
    SAMPLE_ADMIN,
    SAMPLE_APPLICATION_ID,
    SAMPLE_TENANT_ID,
    check_mobile,
    new_id,
)
from devtools.kaizala_sim.validation import is_number, location, normalize_answers

MAX_WAIT_SECONDS = 120.0
MAX_RANDOM_RESPONSES = 1000


async def get_state(request: Request) -> JSONResponse:
    sim = sim_of(request)
    state = sim.state
    now = sim.now()
    groups = []
    for g in state.groups.values():
        groups.append(
            {
                **views.group_summary(state, g),
                "members": views.members_view(state, g)["members"],
                "subGroups": list(g.subgroups),
                "parentGroups": list(g.parents),
                "subscribers": [s.mobile for s in g.subscribers.values()],
                "messages": [
                    {"referenceId": m.reference_id, "sender": m.sender, "text": m.text}
                    for m in g.messages
                ],
            }
        )
    return JSONResponse(
        {
            "endpoint": {
                "name": state.endpoint_name,
                "url": f"{base_url(request)}ep/{state.endpoint_name}/",
                "history": list(state.endpoint_names),
            },
            "connectors": [
                {"applicationId": c.application_id, "name": c.name, "tenantId": c.tenant_id}
                for c in state.connectors.values()
            ],
            "users": [
                {
                    "mobileNumber": u.mobile,
                    "userId": u.user_id,
                    "name": u.name,
                    "isProvisioned": u.provisioned,
                }
                for u in state.users.values()
            ],
            "groups": groups,
            "actions": [
                {
                    **views.action_details(state, a, with_responses=True),
                    "body": a.body,
                    "reminders": a.reminders,
                }
                for a in state.actions.values()
            ],
            "webhooks": [
                {
                    **views.webhook_view(h),
                    "callBackContext": h.callback_context,
                    "hasCallBackToken": bool(h.callback_token),
                    "failures": h.failures,
                    "applicationId": h.application_id,
                }
                for h in state.webhooks.values()
            ],
            "media": [
                {
                    "mediaId": m.media_id,
                    "fileName": m.file_name,
                    "contentType": m.content_type,
                    "size": len(m.data),
                    "url": m.url,
                }
                for m in state.media.values()
            ],
            "tokens": {
                "refreshTokensValid": sum(
                    1 for t in state.refresh_tokens.values() if not t.revoked and t.expires_at > now
                ),
                "accessTokensValid": sum(
                    1 for t in state.access_tokens.values() if t.expires_at > now
                ),
            },
            "faults": sim.faults.public(),
            "pendingRedirects": sum(r.remaining for r in sim.redirects),
            "clockOffsetSeconds": sim.clock_offset,
        }
    )


async def get_calls(request: Request) -> JSONResponse:
    sim = sim_of(request)
    since = _float_param(request.query_params.get("since"), "since")
    since_seq = _float_param(request.query_params.get("sinceSeq"), "sinceSeq")
    calls = [
        c
        for c in sim.calls
        if (since is None or c["ts"] > since) and (since_seq is None or c["seq"] > since_seq)
    ]
    return JSONResponse({"calls": calls})


def _float_param(raw: str | None, name: str) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise bad_request(f"{name} must be a number") from None


async def get_stats(request: Request) -> JSONResponse:
    return JSONResponse(sim_of(request).stats())


async def reset(request: Request) -> JSONResponse:
    body = await read_json_object(request, optional=True)
    keep = get_ci(body, "keepConfig")
    await sim_of(request).reset(keep_config=keep is True)
    return JSONResponse({"result": True})


async def last_pin(request: Request) -> JSONResponse:
    number = request.query_params.get("mobileNumber")
    pin = sim_of(request).state.last_pins.get(number or "")
    if pin is None:
        raise not_found(f"PIN for {number}")
    return JSONResponse({"mobileNumber": number, "pin": pin})


def _action(sim: Simulator, action_id: str) -> Action:
    action = sim.state.actions.get(action_id)
    if action is None:
        raise not_found(f"action {action_id}")
    return action


def _duplicates(body: dict[str, Any]) -> int | None:
    value = get_ci(body, "duplicates")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise bad_request("duplicates must be a whole number from 0 to 100")
    return value


async def respond(request: Request) -> JSONResponse:
    """A group member answers an action, as if from the Kaizala app."""
    sim = sim_of(request)
    action = _action(sim, request.path_params["actionId"])
    body = await read_json_object(request)
    responder = check_mobile(get_ci(body, "responder"), "responder")
    response_id = get_ci(body, "responseId")
    if response_id is not None and not isinstance(response_id, str):
        raise bad_request("responseId must be a string")
    anonymous = get_ci(body, "isAnonymous")
    if anonymous is not None and not isinstance(anonymous, bool):
        raise bad_request("isAnonymous must be true or false")
    duplicates = _duplicates(body)
    raw_location = get_ci(body, "responseLocation")
    name = get_ci(body, "responseName")
    if name is not None and not isinstance(name, str):
        raise bad_request("responseName must be a string")
    if action.action_type == "Job":
        completed = get_ci(body, "isCompleted")
        if completed is None:
            completed = True
        if not isinstance(completed, bool):
            raise bad_request("isCompleted must be true or false")
        response, event_id = domain.record_response(
            sim,
            action,
            responder,
            is_completed=completed,
            response_id=response_id,
            duplicates=duplicates,
        )
    else:
        answers, titles = normalize_answers(sim.state, action, get_ci(body, "answers"), "answers")
        response, event_id = domain.record_response(
            sim,
            action,
            responder,
            answers=answers,
            titles=titles,
            response_id=response_id,
            anonymous=anonymous,
            name=name,
            location=None if raw_location is None else location(raw_location, "responseLocation"),
            duplicates=duplicates,
        )
    return JSONResponse({"responseId": response.response_id, "eventId": event_id})


async def respond_random(request: Request) -> JSONResponse:
    """Random plausible responses from random members, for demos."""
    sim = sim_of(request)
    action = _action(sim, request.path_params["actionId"])
    body = await read_json_object(request, optional=True)
    count = get_ci(body, "count")
    count = 1 if count is None else count
    if isinstance(count, bool) or not isinstance(count, int):
        raise bad_request("count must be a whole number")
    if not 1 <= count <= MAX_RANDOM_RESPONSES:
        raise bad_request(f"count must be between 1 and {MAX_RANDOM_RESPONSES}")
    seed = get_ci(body, "seed")
    rng = random.Random(seed if isinstance(seed, int) else None)
    group = sim.state.group(action.group_id)
    people = list(action.body["assignedTo"]) if action.action_type == "Job" else list(group.members)
    if not people:
        raise bad_request("the action's group has no one to respond")
    made = []
    for _ in range(count):
        responder = rng.choice(people)
        if action.action_type == "Job":
            response, event_id = domain.record_response(
                sim, action, responder, is_completed=rng.random() < 0.7
            )
        else:
            answers = [_random_answer(sim, q, rng) for q in action.questions] or [
                rng.choice(("Yes", "No", "Later"))
            ]
            response, event_id = domain.record_response(sim, action, responder, answers=answers)
        made.append(
            {"responseId": response.response_id, "eventId": event_id, "responder": responder}
        )
    return JSONResponse({"responses": made})


def _random_answer(sim: Simulator, question: Question, rng: random.Random) -> Any:
    kind = question.qtype
    if kind == "SingleOption":
        return rng.choice(question.options)
    if kind == "MultiOption":
        return rng.sample(question.options, rng.randint(1, len(question.options)))
    if kind == "Numeric":
        return rng.randint(1, 250_000)
    if kind in ("Date", "DateTime"):
        return sim.now_ms() + rng.randint(0, 30 * 86400) * 1000
    if kind == "Location":
        return {
            "latitude": round(rng.uniform(8.0, 30.0), 5),
            "longitude": round(rng.uniform(70.0, 88.0), 5),
            "name": f"Site {rng.randint(1, 99)}",
        }
    if kind in ("Image", "AttachmentList"):
        tag = secrets.token_hex(4)
        return [
            {
                "mediaUrl": f"https://example.invalid/att/{tag}.jpg",
                "mediaFileName": f"IMG_{tag}.jpg",
            }
        ]
    return rng.choice(("Looks promising", "Needs a follow-up call", "Customer asked for a demo"))


async def add_fault(request: Request) -> JSONResponse:
    fault = sim_of(request).faults.add(await read_json_object(request))
    return JSONResponse({"faultId": fault.fault_id})


async def list_faults(request: Request) -> JSONResponse:
    return JSONResponse({"faults": sim_of(request).faults.public()})


async def clear_faults(request: Request) -> JSONResponse:
    return JSONResponse({"removed": sim_of(request).faults.clear()})


async def move_endpoint(request: Request) -> JSONResponse:
    sim = sim_of(request)
    body = await read_json_object(request, optional=True)
    target = get_ci(body, "location")
    if target is None:
        previous = sim.state.endpoint_name
        current = sim.state.move_endpoint()
        return JSONResponse(
            {
                "previous": f"{base_url(request)}ep/{previous}/",
                "endpointUrl": f"{base_url(request)}ep/{current}/",
            }
        )
    if not isinstance(target, str) or not target.startswith(("http://", "https://")):
        raise bad_request("location must be an absolute http(s) URL")
    append = get_ci(body, "appendPath")
    if append is not None and not isinstance(append, bool):
        raise bad_request("appendPath must be true or false")
    count = get_ci(body, "count")
    count = 1 if count is None else count
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise bad_request("count must be a positive whole number")
    sim.redirects.append(Redirect(target, append is not False, count))
    return JSONResponse({"redirect": target, "count": count})


async def get_config(request: Request) -> JSONResponse:
    return JSONResponse(sim_of(request).config.to_public())


async def set_config(request: Request) -> JSONResponse:
    sim = sim_of(request)
    problems = sim.config.update(await read_json_object(request))
    if problems:
        raise bad_request("; ".join(problems))
    return JSONResponse(sim.config.to_public())


async def wait_deliveries(request: Request) -> JSONResponse:
    sim = sim_of(request)
    body = await read_json_object(request, optional=True)
    timeout = get_ci(body, "timeoutSeconds")
    timeout = 10.0 if timeout is None else timeout
    if not is_number(timeout) or not 0 <= timeout <= MAX_WAIT_SECONDS:
        raise bad_request(f"timeoutSeconds must be between 0 and {MAX_WAIT_SECONDS:g}")
    idle = await sim.deliveries.wait_idle(float(timeout))
    return JSONResponse({"idle": idle, "inFlight": sim.deliveries.in_flight})


async def list_deliveries(request: Request) -> JSONResponse:
    return JSONResponse({"deliveries": list(sim_of(request).deliveries.log)})


async def issue_refresh_token(request: Request) -> JSONResponse:
    """What an admin does in the management portal: issue a token for a user and connector."""
    sim = sim_of(request)
    body = await read_json_object(request, optional=True)
    number = check_mobile(get_ci(body, "mobileNumber") or SAMPLE_ADMIN)
    app_id = get_ci(body, "applicationId") or SAMPLE_APPLICATION_ID
    if app_id not in sim.state.connectors:
        raise not_found(f"connector {app_id}")
    sim.state.user(number)
    token = tokens.issue_refresh_token(sim, app_id, number)
    return JSONResponse(tokens.refresh_token_body(token))


async def add_connector(request: Request) -> JSONResponse:
    sim = sim_of(request)
    body = await read_json_object(request, optional=True)
    app_id = get_ci(body, "applicationId") or new_id()
    secret = get_ci(body, "applicationSecret") or secrets.token_urlsafe(24)
    name = get_ci(body, "name") or "Simulated connector"
    tenant = get_ci(body, "tenantId") or SAMPLE_TENANT_ID
    if not all(isinstance(v, str) for v in (app_id, secret, name, tenant)):
        raise bad_request("applicationId, applicationSecret, name and tenantId are strings")
    if app_id in sim.state.connectors:
        raise bad_request(f"connector {app_id} exists")
    sim.state.connectors[app_id] = Connector(app_id, secret, name, tenant)
    # Returned once, at creation, as the management portal shows it.
    return JSONResponse({"applicationId": app_id, "applicationSecret": secret, "tenantId": tenant})


async def delete_connector(request: Request) -> JSONResponse:
    sim = sim_of(request)
    app_id = request.path_params["applicationId"]
    if sim.state.connectors.pop(app_id, None) is None:
        raise not_found(f"connector {app_id}")
    for token in sim.state.refresh_tokens.values():
        if token.application_id == app_id:
            token.revoked = True
    return JSONResponse({"result": True})


async def advance_clock(request: Request) -> JSONResponse:
    sim = sim_of(request)
    body = await read_json_object(request)
    seconds = get_ci(body, "seconds")
    if not is_number(seconds) or seconds < 0:
        raise bad_request("seconds must be a number >= 0")
    sim.clock_offset += float(seconds)
    return JSONResponse({"clockOffsetSeconds": sim.clock_offset, "now": sim.now_ms()})


def routes() -> list[BaseRoute]:
    return [
        Route("/state", get_state, methods=["GET"]),
        Route("/calls", get_calls, methods=["GET"]),
        Route("/stats", get_stats, methods=["GET"]),
        Route("/reset", reset, methods=["POST"]),
        Route("/pin", last_pin, methods=["GET"]),
        Route("/actions/{actionId}/respond", respond, methods=["POST"]),
        Route("/actions/{actionId}/respond-random", respond_random, methods=["POST"]),
        Route("/faults", add_fault, methods=["POST"]),
        Route("/faults", list_faults, methods=["GET"]),
        Route("/faults", clear_faults, methods=["DELETE"]),
        Route("/endpoint/move", move_endpoint, methods=["POST"]),
        Route("/config", get_config, methods=["GET"]),
        Route("/config", set_config, methods=["POST"]),
        Route("/deliveries", list_deliveries, methods=["GET"]),
        Route("/deliveries/wait", wait_deliveries, methods=["POST"]),
        Route("/refresh-tokens", issue_refresh_token, methods=["POST"]),
        Route("/connectors", add_connector, methods=["POST"]),
        Route("/connectors/{applicationId}", delete_connector, methods=["DELETE"]),
        Route("/clock/advance", advance_clock, methods=["POST"]),
    ]
