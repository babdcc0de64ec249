"""Token service routes under the token root (`/v1`): generatePin, login, accessToken."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from devtools.kaizala_sim import tokens
from devtools.kaizala_sim.errors import get_ci, read_json_object
from devtools.kaizala_sim.models import GRANTED_SCOPE
from devtools.kaizala_sim.platform_common import base_url, sim_of


async def generate_pin(request: Request) -> JSONResponse:
    sim = sim_of(request)
    body = await read_json_object(request)
    tokens.generate_pin(sim, get_ci(body, "mobileNumber"), get_ci(body, "applicationId"))
    return JSONResponse({})


async def login(request: Request) -> JSONResponse:
    sim = sim_of(request)
    body = await read_json_object(request)
    token = tokens.login_with_pin(
        sim, get_ci(body, "mobileNumber"), get_ci(body, "applicationId"), get_ci(body, "pin")
    )
    return JSONResponse(tokens.refresh_token_body(token))


async def access_token(request: Request) -> JSONResponse:
    sim = sim_of(request)
    headers = request.headers
    access, successor = tokens.exchange(
        sim,
        headers.get("applicationId"),
        headers.get("applicationSecret"),
        headers.get("refreshToken"),
    )
    return JSONResponse(
        {
            "accessToken": access.token,
            "endpointUrl": f"{base_url(request)}ep/{sim.state.endpoint_name}/",
            "accessTokenExpiry": int(access.expires_at * 1000),
            "scope": GRANTED_SCOPE,
            "refreshToken": successor.token if successor else None,
            "refreshTokenExpiry": int(successor.expires_at * 1000) if successor else None,
        }
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/generatePin", generate_pin, methods=["POST"]),
        Route("/loginWithPinAndApplicationId", login, methods=["POST"]),
        Route("/accessToken", access_token, methods=["GET"]),
    ]
