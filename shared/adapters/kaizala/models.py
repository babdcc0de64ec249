"""Pydantic models of the documented Kaizala v1 surface (field names exactly as on the wire).

Requests are exact (`extra="forbid"`): a typo fails here, not as a 400 from Kaizala.
Responses tolerate unknown fields, since Kaizala added fields over time and the published
samples are incomplete. Token and secret fields are `repr=False`, and the models that carry
them ignore unknown fields, so a new secret-bearing field can never reach a repr or a log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from shared.adapters.kaizala.auth import AccessToken
from shared.config import is_loopback_host
from shared.domain.questions import QuestionType

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
GroupType = Literal["Group", "ConnectGroup"]
MobileNumber = Annotated[str, Field(min_length=3, max_length=20, pattern=r"^\+?[0-9]{3,19}$")]


class RequestModel(BaseModel):
    # hide_input_in_errors: a ValidationError's text must not echo a callBackToken or pin.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, populate_by_name=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)


class SecretResponseModel(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)


def _epoch_ms_to_utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# --- token service ----------------------------------------------------------------------------


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
        return _epoch_ms_to_utc(self.refreshTokenExpiry)


class AccessTokenResponse(SecretResponseModel):
    accessToken: str = Field(min_length=1, repr=False)
    endpointUrl: str = Field(min_length=1)
    accessTokenExpiry: int  # epoch ms
    scope: str = ""
    # Empty or null until 90% of the refresh token's life; then a replacement to store.
    refreshToken: str | None = Field(default=None, repr=False)

    @property
    def expires_on(self) -> datetime:
        return _epoch_ms_to_utc(self.accessTokenExpiry)

    @property
    def new_refresh_token(self) -> str | None:
        return self.refreshToken or None

    def to_access_token(self) -> AccessToken:
        return AccessToken(
            value=self.accessToken, endpoint_url=self.endpointUrl, expires_on=self.expires_on
        )


# --- groups -----------------------------------------------------------------------------------


class Group(ResponseModel):
    groupId: str = Field(validation_alias=AliasChoices("groupId", "id"))
    groupName: str | None = None
    groupImageUrl: str | None = None
    groupType: str | None = None
    welcomeMessage: str | None = None
    hasSubGroups: bool | None = None
    hasParentGroups: bool | None = None
    isMappedToTenant: bool | None = None
    isDuplicate: bool | None = None
    subGroups: list[Group] | None = None


class GroupCreate(RequestModel):
    name: str = Field(min_length=1, max_length=256)
    welcomeMessage: str | None = None
    members: list[MobileNumber] | None = Field(default=None, max_length=100)
    groupType: GroupType | None = None


class GroupCreated(ResponseModel):
    groupId: str
    groupName: str | None = None
    membersAdded: bool | None = None


class Member(ResponseModel):
    # Kaizala never published this shape; every field is optional and unknown ones are kept.
    id: str | None = Field(default=None, validation_alias=AliasChoices("id", "memberId", "userId"))
    mobileNumber: str | None = None
    name: str | None = None
    role: str | None = None
    isProvisioned: bool | None = None


class MembersAdd(RequestModel):
    members: list[MobileNumber] = Field(min_length=1, max_length=100)


class SubGroupsAdd(RequestModel):
    subGroups: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")]] = Field(min_length=1)


class SubscribersQuery(RequestModel):
    count: int | None = Field(default=None, ge=1, le=1000)
    cursor: str | None = None


class SubscribersChange(RequestModel):
    subscribers: list[MobileNumber] = Field(min_length=1)


class SubscribersPage(ResponseModel):
    subscribers: list[Any] = Field(default_factory=list)
    cursor: str | None = None


class OperationResult(ResponseModel):
    """The body of a call whose answer Kaizala never documented (often `{}`)."""


# --- content creation -------------------------------------------------------------------------


class MessageSend(RequestModel):
    message: str = Field(min_length=1, max_length=4000)
    subscribers: list[MobileNumber] | None = None
    sendToAllSubscribers: bool | None = None


class MessageResult(ResponseModel):
    referenceId: str


class Option(RequestModel):
    title: str = Field(min_length=1)


class SurveyQuestion(RequestModel):
    title: str = Field(min_length=1)
    type: QuestionType
    options: list[Option] | None = None


class SurveyBody(RequestModel):
    title: str = Field(min_length=1)
    questions: list[SurveyQuestion] = Field(min_length=1)
    dueDate: int | None = Field(default=None, ge=1)  # hours, Kaizala default 24
    isAnonymous: bool | None = None
    isSenderOnly: bool | None = None
    acceptMultipleResponses: bool | None = None


class JobBody(RequestModel):
    title: str = Field(min_length=1)
    assignedTo: list[MobileNumber] = Field(min_length=1)
    dueDate: int | None = Field(default=None, ge=1)  # hours


class PollBody(RequestModel):
    question: str = Field(min_length=1)
    choices: list[Option] = Field(min_length=2)
    expiryInHours: int | None = Field(default=None, ge=1)  # Kaizala default 720


class AnnouncementBody(RequestModel):
    Title: str | None = None
    Message: str = Field(min_length=1)
    MediaResources: list[str] | None = None


class ImageBody(RequestModel):
    caption: str = ""
    mediaResource: str = Field(min_length=1)


class ActionProperty(RequestModel):
    name: str = Field(min_length=1)
    type: str = Field(min_length=1)
    value: Any


class CustomActionBody(RequestModel):
    properties: list[ActionProperty]


ActionBody = SurveyBody | JobBody | PollBody | AnnouncementBody | ImageBody | CustomActionBody


class ActionSend(RequestModel):
    actionType: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9]{0,63}$")
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,128}$")
    actionBody: dict[str, Any]
    subscribers: list[MobileNumber] | None = None
    sendToAllSubscribers: bool | None = None


class ActionResult(ResponseModel):
    referenceId: str
    actionId: str


class ResponseResult(ResponseModel):
    responseId: str | None = None
    referenceId: str | None = None


class MediaResult(ResponseModel):
    mediaResource: str


# --- content query ----------------------------------------------------------------------------


class ActionSummary(ResponseModel):
    """One item of `GET groups/{id}/actions`.

    Kaizala puts the action's own fields (actionId, title or question) inside `actionBody`
    next to the envelope (referenceId, actionType, sender); a flat item is accepted too.
    """

    actionId: str = Field(validation_alias=AliasChoices("actionId", "id"))
    actionType: str | None = None
    referenceId: str | None = None
    packageId: str | None = None
    sender: str | None = None
    creationTime: int | None = None  # epoch ms
    title: str | None = None
    question: str | None = None
    actionBody: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _lift_action_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and "actionId" not in data and "id" not in data:
            body = data.get("actionBody")
            if isinstance(body, dict) and "actionId" in body:
                return {**data, "actionId": body["actionId"]}
        return data

    @property
    def display_title(self) -> str:
        """The title a person sees: a survey's or job's title, a poll's question."""
        body = self.actionBody or {}
        for value in (self.title, self.question, *(body.get(k) for k in _TITLE_KEYS)):
            if isinstance(value, str) and value:
                return value
        return ""


_TITLE_KEYS = ("title", "question", "Title", "Question")


class ActionListPage(ResponseModel):
    actions: list[ActionSummary] = Field(default_factory=list)
    hasMore: bool = False


class ActionDetails(ResponseModel):
    """GET groups/{id}/actions/{actionId}?getDetails=true.

    Kaizala nests the action's own fields (title, questions, responses) in `actionDetails`
    next to the envelope (referenceId, sender, creationTime); both layouts are accepted.
    """

    actionId: str | None = Field(default=None, validation_alias=AliasChoices("actionId", "id"))
    actionType: str | None = None
    title: str | None = None
    question: str | None = None
    groupId: str | None = None
    responses: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _lift_action_details(cls, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("actionDetails"), dict):
            return {
                **value["actionDetails"],
                **{k: v for k, v in value.items() if k != "actionDetails"},
            }
        return value


# --- webhooks ---------------------------------------------------------------------------------


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
