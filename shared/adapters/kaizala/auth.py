"""What the client needs from the token manager (implemented in `shared/services/tokens.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class AccessToken:
    """An access token, the per-user base URL it must be used with, and the connector it was
    issued to (FetchGroupDetails sends that `applicationId` beside the token)."""

    value: str = field(repr=False)
    endpoint_url: str
    expires_on: datetime  # UTC
    application_id: str = ""


@runtime_checkable
class AccessTokenProvider(Protocol):
    async def current(self) -> AccessToken:
        """The cached token (fetched or refreshed when missing or near expiry)."""
        ...

    async def refresh(self, rejected: AccessToken) -> AccessToken:
        """A new token, unless another caller already replaced `rejected` (then that one)."""
        ...

    async def endpoint_moved(self, token: AccessToken, new_endpoint_url: str) -> AccessToken:
        """Persist `new_endpoint_url` with the token (Kaizala answered 308) and return it."""
        ...
