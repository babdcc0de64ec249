"""The control API under /_sim/: not part of Kaizala, no auth; for tests and demos.

This module holds the operator's levers (reset, config, faults, endpoint moves, deliveries,
portal tokens and connectors, the clock) and the route table; control_inspect.py answers what
the simulator saw and control_respond.py acts as the members in the app.
"""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from devtools.kaizala_sim import control_inspect, control_respond, tokens
from devtools.kaizala_sim.checks import is_number
from devtools.kaizala_sim.errors import bad_request, get_ci, not_found, read_json_object
from devtools.kaizala_sim.models import Connector
from devtools.kaizala_sim.platform_common import base_url, sim_of
from devtools.kaizala_sim.simulator import Redirect, Simulator
from devtools.kaizala_sim.state import (
    SAMPLE_ADMIN,
    SAMPLE_APPLICATION_ID,
    SAMPLE_TENANT_ID,
    check_mobile,
    new_id,
)

MAX_WAIT_SECONDS = 120.0


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
    sim.clock.advance(float(seconds))
    return _clock(sim)


async def freeze_clock(request: Request) -> JSONResponse:
    """Stop the clock following real time, so a test steps it exactly with clock/advance."""
    sim = sim_of(request)
    sim.clock.freeze()
    return _clock(sim)


async def resume_clock(request: Request) -> JSONResponse:
    sim = sim_of(request)
    sim.clock.resume()
    return _clock(sim)


def _clock(sim: Simulator) -> JSONResponse:
    clock = sim.clock
    return JSONResponse(
        {"clockOffsetSeconds": clock.offset, "frozen": clock.frozen, "now": clock.now_ms()}
    )


def routes() -> list[BaseRoute]:
    inspect, respond = control_inspect, control_respond
    return [
        Route("/state", inspect.get_state, methods=["GET"]),
        Route("/calls", inspect.get_calls, methods=["GET"]),
        Route("/stats", inspect.get_stats, methods=["GET"]),
        Route("/reset", reset, methods=["POST"]),
        Route("/pin", last_pin, methods=["GET"]),
        Route("/actions/{actionId}/respond", respond.respond, methods=["POST"]),
        Route("/actions/{actionId}/respond-random", respond.respond_random, methods=["POST"]),
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
        Route("/clock/freeze", freeze_clock, methods=["POST"]),
        Route("/clock/resume", resume_clock, methods=["POST"]),
    ]
