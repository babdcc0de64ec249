"""Token service routes under the token root (`/v1`): generatePin, login, accessToken."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from devtools.kaizala_sim import spec, tokens, wire
from devtools.kaizala_sim.models import GRANTED_SCOPE
from devtools.kaizala_sim.platform_common import base_url, sim_of


async def generate_pin(request: Request) -> JSONResponse:
    sim = sim_of(request)
    body = await wire.json_body(request, spec.body_schema("GeneratePin"))
    tokens.generate_pin(sim, body["mobileNumber"], body["applicationId"])
    return JSONResponse({})


async def login(request: Request) -> JSONResponse:
    sim = sim_of(request)
    body = await wire.json_body(request, spec.body_schema("GetRefreshToken"))
    token = tokens.login_with_pin(sim, body["mobileNumber"], body["applicationId"], body["pin"])
    return JSONResponse(tokens.refresh_token_body(token))


async def access_token(request: Request) -> JSONResponse:
    sim = sim_of(request)
    access, successor = tokens.exchange(
        sim,
        wire.require_header(request, "applicationId"),
        wire.require_header(request, "applicationSecret"),
        wire.require_header(request, "refreshToken"),
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
