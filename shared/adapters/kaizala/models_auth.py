"""Models of the token service: generatePin, loginWithPinAndApplicationId, accessToken."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared.adapters.kaizala.auth import AccessToken
from shared.adapters.kaizala.models_base import (
    MobileNumber,
    RequestModel,
    SecretResponseModel,
)
from shared.clock import from_ms


class GeneratePinRequest(RequestModel):
    mobileNumber: MobileNumber
    applicationId: str = Field(min_length=1, max_length=128)


class LoginWithPinRequest(RequestModel):
    mobileNumber: MobileNumber
    applicationId: str = Field(min_length=1, max_length=128)
    pin: int = Field(ge=0, le=99999999, repr=False)


class RefreshTokenResponse(SecretResponseModel):
    refreshToken: str = Field(min_length=1, repr=False)
    grantedScope: str = ""
    refreshTokenExpiry: int  # epoch ms

    @property
    def expires_on(self) -> datetime:
        return from_ms(self.refreshTokenExpiry)


class AccessTokenResponse(SecretResponseModel):
    accessToken: str = Field(min_length=1, repr=False)
    endpointUrl: str = Field(min_length=1)
    accessTokenExpiry: int  # epoch ms
    scope: str = ""
    # Empty or null until 90% of the refresh token's life; then a replacement to store.
    refreshToken: str | None = Field(default=None, repr=False)

    @property
    def expires_on(self) -> datetime:
        return from_ms(self.accessTokenExpiry)

    @property
    def new_refresh_token(self) -> str | None:
        return self.refreshToken or None

    def to_access_token(self) -> AccessToken:
        return AccessToken(
            value=self.accessToken, endpoint_url=self.endpointUrl, expires_on=self.expires_on
        )
