"""Connector onboarding through Kaizala's PIN flow: the refresh token goes to the secret store.

Used by the ADMIN endpoints `/api/manage/kaizala/pin|login` and by the admin's command line
(`python -m devtools.onboard`). The refresh token is never returned, printed or logged.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.adapters.kaizala import KaizalaAuthError, KaizalaBadRequestError, KaizalaClient
from shared.adapters.secrets import APPLICATION_ID, REFRESH_TOKEN, SecretStore
from shared.clock import Clock, now_ms, wall
from shared.domain.actions import IntOrText
from shared.errors import ValidationError
from shared.services.tokens import NotOnboardedError, TokenManager

log = logging.getLogger(__name__)

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


class PinRequest(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", strict=True)
    mobileNumber: str = Field(pattern=E164.pattern, description="E.164, e.g. +919100000001")


class LoginRequest(PinRequest):
    pin: IntOrText = Field(description="The PIN Kaizala sent by SMS")

    def pin_number(self) -> int:
        text = str(self.pin).strip()
        if not re.fullmatch(r"[0-9]{4,8}", text):
            raise ValidationError("pin must be 4 to 8 digits", [{"field": "pin"}])
        return int(text)


def masked(mobile: str) -> str:
    """A phone number for logs: country code and last two digits only."""
    return mobile[:3] + "…" + mobile[-2:]


async def _application_id(store: SecretStore) -> str:
    secret = await store.get(APPLICATION_ID)
    if secret is None:
        raise NotOnboardedError(
            "No Kaizala application id in the secret store: set kaizala-application-id and "
            "kaizala-application-secret (or KAIZALA_APPLICATION_ID/_SECRET to seed them)."
        )
    return secret.value


async def request_pin(client: KaizalaClient, store: SecretStore, req: PinRequest) -> None:
    await client.generate_pin(req.mobileNumber, await _application_id(store))
    log.info("Kaizala PIN requested for %s", masked(req.mobileNumber))


async def login(
    client: KaizalaClient,
    store: SecretStore,
    tokens: TokenManager | None,
    req: LoginRequest,
    *,
    clock: Clock = wall,
) -> dict[str, Any]:
    """Exchange the PIN for a refresh token and store it.

    `tokens` (the app's manager) is told to fetch a new access token on next use; without it
    (the admin's command line, which has no table access) the app picks the new refresh token
    up at its next renewal, and the old access token stays valid until then.
    """
    app_id = await _application_id(store)
    try:
        result = await client.login_with_pin(req.mobileNumber, app_id, req.pin_number())
    except (KaizalaAuthError, KaizalaBadRequestError):
        raise ValidationError(
            "Kaizala rejected the PIN (wrong, expired or already used): request a new one.",
            [{"field": "pin"}],
        ) from None
    issued = now_ms(clock)
    await store.set(
        REFRESH_TOKEN,
        result.refreshToken,
        {"source": "pin", "issuedOn": str(issued), "expiresOn": str(result.refreshTokenExpiry)},
    )
    if tokens is not None:
        await tokens.refresh_token_changed(result.refreshTokenExpiry)
    log.info("Kaizala refresh token stored for %s", masked(req.mobileNumber))
    return {
        "status": "onboarded",
        "grantedScope": result.grantedScope,
        "refreshTokenExpiresOn": result.expires_on.isoformat(timespec="seconds"),
    }
