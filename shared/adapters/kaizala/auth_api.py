"""The token service (generatePin, loginWithPinAndApplicationId, accessToken).

These calls need no access token: credentials are arguments, sent as headers or body to the
configured `api_root`, and never logged. `KaizalaAuthClient` is therefore built before the
token manager, which fetches through its bound `fetch_access_token`: no construction cycle.
"""

from __future__ import annotations

from shared.adapters.kaizala.answers import dump, parse
from shared.adapters.kaizala.endpoints import host_of, is_token_destination
from shared.adapters.kaizala.errors import KaizalaEndpointRefusedError, KaizalaValidationError
from shared.adapters.kaizala.models_auth import (
    AccessTokenResponse,
    GeneratePinRequest,
    LoginWithPinRequest,
    RefreshTokenResponse,
)
from shared.adapters.kaizala.transport import KaizalaTransport


class KaizalaAuthClient:
    """Token-service calls over the shared transport. Built once per process."""

    def __init__(self, transport: KaizalaTransport) -> None:
        self._transport = transport

    async def generate_pin(self, mobile: str, application_id: str) -> None:
        body = GeneratePinRequest(mobileNumber=mobile, applicationId=application_id)
        await self._transport.service("POST", "generatePin", json_body=dump(body), secrets=())

    async def login_with_pin(
        self, mobile: str, application_id: str, pin: int | str
    ) -> RefreshTokenResponse:
        try:
            pin_number = int(pin)
        except (TypeError, ValueError):
            raise KaizalaValidationError("pin must be a number") from None
        body = LoginWithPinRequest(
            mobileNumber=mobile, applicationId=application_id, pin=pin_number
        )
        call, response = await self._transport.service(
            "POST",
            "loginWithPinAndApplicationId",
            json_body=dump(body),
            secrets=(),
            local_secrets=(str(pin),),
        )
        result = parse(RefreshTokenResponse, response, call)
        call.learn(result.refreshToken)
        return result

    async def fetch_access_token(
        self, application_id: str, application_secret: str, refresh_token: str
    ) -> AccessTokenResponse:
        headers = {
            "applicationId": application_id,
            "applicationSecret": application_secret,
            "refreshToken": refresh_token,
        }
        call, response = await self._transport.service(
            "GET", "accessToken", headers=headers, secrets=[application_secret, refresh_token]
        )
        result = parse(AccessTokenResponse, response, call)
        call.learn(result.accessToken, result.refreshToken)
        # Refuse a bad endpoint here, so the token manager never stores one.
        if not is_token_destination(result.endpointUrl, (), host_of(result.endpointUrl)):
            raise KaizalaEndpointRefusedError(
                "token service returned an endpointUrl that is not https (or http on loopback)",
                upstream_status=response.status_code,
                **call.error_kwargs(),
            )
        return result
