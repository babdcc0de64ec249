"""Models of webhook subscriptions: the event and object types, create, list, activate."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator

from shared.adapters.kaizala.models_base import RequestModel, ResponseModel, SecretResponseModel
from shared.config import is_loopback_host

EventType = Literal[
    "ActionCreated",
    "ActionResponse",
    "SurveyCreated",
    "JobCreated",
    "SurveyResponse",
    "JobResponse",
    "TextMessageCreated",
    "AttachmentCreated",
    "Announcement",
    "MemberAdded",
    "MemberRemoved",
    "GroupAdded",
    "GroupRemoved",
]
ObjectType = Literal["Group", "Action", "ActionPackage"]


class WebhookCreate(RequestModel):
    objectId: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")
    objectType: ObjectType
    eventTypes: list[EventType] = Field(min_length=1)
    callBackUrl: str = Field(min_length=1, max_length=2048)
    callBackToken: str = Field(min_length=1, max_length=512, repr=False)
    callBackContext: str = ""
    validity: int | None = None

    @field_validator("callBackUrl")
    @classmethod
    def _https_callback(cls, value: str) -> str:
        # Kaizala only calls HTTPS; plain http is accepted for a local simulator on loopback.
        parts = urlsplit(value)
        if not parts.hostname or parts.username or parts.password:
            raise ValueError("callBackUrl must be an absolute URL without credentials")
        if parts.scheme != "https" and not (
            parts.scheme == "http" and is_loopback_host(parts.hostname)
        ):
            raise ValueError("callBackUrl must use https")
        return value


class WebhookCreated(ResponseModel):
    webhookId: str = Field(validation_alias=AliasChoices("webhookId", "id"))


class Webhook(SecretResponseModel):
    id: str = Field(validation_alias=AliasChoices("id", "webhookId"))
    events: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("events", "eventTypes")
    )
    callbackUrl: str | None = Field(
        default=None, validation_alias=AliasChoices("callbackUrl", "callBackUrl")
    )
    validity: int | str | None = None
    active: bool | None = None
    objectId: str | None = None
    objectType: str | None = None
    # Declared (not left to `extra`) so an echoed token is parsed into a hidden field.
    callBackToken: str | None = Field(
        default=None, repr=False, validation_alias=AliasChoices("callBackToken", "callbackToken")
    )

    @field_validator("active", mode="before")
    @classmethod
    def _tolerant_bool(cls, value: object) -> object:
        # Kaizala answers `true`, `"true"` or `" True "` depending on the endpoint.
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
            if not lowered:
                return None  # unknown, rather than a guess
        return value


class WebhookActivate(RequestModel):
    Active: Literal["true", "false"] = "true"
