"""Models of content: messages, actions (built-in and custom), responses, media, and queries."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field, model_validator

from shared.adapters.kaizala.models_base import (
    INT32_MAX,
    MobileNumber,
    RequestModel,
    ResponseModel,
)
from shared.domain.questions import QuestionType

# --- content creation -------------------------------------------------------------------------


class MessageSend(RequestModel):
    """SendMessage: `message`, up to 4,000 characters (the project's API notes)."""

    message: str = Field(min_length=1, max_length=4000)


class SubscriberMessageSend(RequestModel):
    """SendMessageToSubscriber (a public group): the swagger spells the text `Message`, caps it
    at 1,000 characters and requires both audience fields."""

    Message: str = Field(min_length=1, max_length=1000)
    subscribers: list[MobileNumber]
    sendToAllSubscribers: bool


class MessageResult(ResponseModel):
    referenceId: str


class Option(RequestModel):
    title: str = Field(min_length=1)


class SurveyQuestion(RequestModel):
    title: str = Field(min_length=1)
    type: QuestionType
    options: list[Option] | None = None


class SurveyBody(RequestModel):
    """The swagger requires every field; the documented defaults fill those not given."""

    title: str = Field(min_length=1)
    questions: list[SurveyQuestion] = Field(min_length=1)
    dueDate: int = Field(default=24, ge=1, le=INT32_MAX)  # hours
    isAnonymous: bool = False
    isSenderOnly: bool = False
    acceptMultipleResponses: bool = False


class JobBody(RequestModel):
    title: str = Field(min_length=1)
    assignedTo: list[MobileNumber] = Field(min_length=1)
    dueDate: int = Field(default=24, ge=1, le=INT32_MAX)  # hours; required by the swagger


class PollBody(RequestModel):
    question: str = Field(min_length=1)
    choices: list[Option] = Field(min_length=2)
    expiryInHours: int | None = Field(default=None, ge=1)  # Kaizala default 720


class AnnouncementBody(RequestModel):
    """`Request - PostCustomAnnouncementToAGroup[withImages]`: `Message` and `MediaResources`
    (required: an empty list without media); `Title` from the project's API notes."""

    Title: str | None = None
    Message: str = Field(min_length=1, max_length=4000)
    MediaResources: list[str] = Field(default_factory=list)


class ImageBody(RequestModel):
    """An Image (also Audio, Document, Video, Album) action: both fields required."""

    caption: str = ""
    mediaResource: str = Field(min_length=1)


class ActionProperty(RequestModel):
    name: str = Field(min_length=1)
    type: str = Field(min_length=1)
    value: str  # a string in the swagger, whatever the property's type


class CustomActionBody(RequestModel):
    properties: list[ActionProperty] = Field(min_length=1)


class CustomActionOverride(RequestModel):
    """A custom action's `{title, validity}` body: the swagger's body for subscribers of a
    public group (`SubscribersCustomActionBody`), and its example for a group."""

    title: str = Field(min_length=1)
    validity: int = Field(ge=1, le=INT32_MAX)  # hours, as the example's 24


ActionBody = (
    SurveyBody
    | JobBody
    | PollBody
    | AnnouncementBody
    | ImageBody
    | CustomActionBody
    | CustomActionOverride
)


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
