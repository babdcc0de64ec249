"""The bridge's public request/response models for sending actions.

These are the contract Power Automate and Dynamics call: the endpoints validate with them and
`docs/openapi.json` is generated from them (a test fails when the two drift apart). They are
stricter than Kaizala itself: ids can never alter a URL path, unknown fields are rejected, and
survey questions must make sense for their type.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from shared.domain.questions import QuestionType
from shared.domain.summary import ResultSummary

ID_PATTERN = r"^[A-Za-z0-9-]{1,64}$"
GUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
TEMPLATE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

ActionType = Literal[
    "Survey", "Poll", "Job", "Announcement", "LetsMeet", "Message", "Custom", "Image", "Document"
]
OPTION_TYPES = ("SingleOption", "MultiOption")


# A variable lands in a text field of the action (the longest, a message, takes 4,000).
VARIABLE_MAX_CHARS = 4000


def _plain_value(value: object) -> object:
    # Checked before the union, so an error is located at `variables.<name>` with one clear
    # message rather than one per member of the union (`variables.<name>.str`, `.int`...).
    if isinstance(value, str):
        if len(value) > VARIABLE_MAX_CHARS:
            raise PydanticCustomError(
                "variable_too_long",
                "must be at most {limit} characters",
                {"limit": VARIABLE_MAX_CHARS},
            )
        return value
    if isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise PydanticCustomError("variable_type", "must be text, a number or true/false")


Variable = Annotated[str | int | float | bool, BeforeValidator(_plain_value)]


def _int_or_text(value: object) -> object:
    # As _plain_value: one error at the field, not one per member of the union.
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise PydanticCustomError("int_or_text", "must be a whole number or text")


IntOrText = Annotated[int | str, BeforeValidator(_int_or_text)]


class Strict(BaseModel):
    """A request model: unknown fields refused, and every value of its JSON type (strict:
    "yes" is not true, "48" is not 48, 48.0 is not an integer; 48 is a number)."""

    # defer_build (on every model of the bridge): its validator is built on first use, not at
    # import; a new instance's first answer builds none it does not use (bench/README.md).
    model_config = ConfigDict(
        defer_build=True, extra="forbid", hide_input_in_errors=True, strict=True
    )


class OptionIn(Strict):
    title: str = Field(min_length=1, max_length=200)


class QuestionIn(Strict):
    title: str = Field(min_length=1, max_length=500)
    type: QuestionType
    options: list[OptionIn] | None = Field(default=None, max_length=30)

    @model_validator(mode="after")
    def _options_fit_type(self) -> QuestionIn:
        if self.type in OPTION_TYPES:
            if not self.options or len(self.options) < 2:
                raise ValueError(f"a {self.type} question needs at least 2 options")
            titles = [o.title for o in self.options]
            if len(set(titles)) != len(titles):
                raise ValueError("option titles must be unique")
        elif self.options:
            raise ValueError(f"a {self.type} question takes no options")
        return self


class SurveyBodyIn(Strict):
    title: str = Field(min_length=1, max_length=200)
    questions: list[QuestionIn] = Field(min_length=1, max_length=50)
    dueDate: int | None = Field(default=None, ge=1, le=8760, description="hours (default 24)")
    isAnonymous: bool | None = None
    isSenderOnly: bool | None = None
    acceptMultipleResponses: bool | None = None


class PollBodyIn(Strict):
    question: str = Field(min_length=1, max_length=500)
    choices: list[OptionIn] = Field(min_length=2, max_length=30)
    expiryInHours: int | None = Field(default=None, ge=1, le=8760)


class JobBodyIn(Strict):
    title: str = Field(min_length=1, max_length=200)
    assignedTo: list[str] = Field(min_length=1, max_length=100)
    dueDate: int | None = Field(default=None, ge=1, le=8760)

    @model_validator(mode="after")
    def _phones(self) -> JobBodyIn:
        import re

        for phone in self.assignedTo:
            if not re.fullmatch(E164_PATTERN, phone):
                raise ValueError("assignedTo entries must be E.164 phone numbers")
        return self


class AnnouncementBodyIn(Strict):
    Title: str | None = Field(default=None, max_length=200)
    Message: str = Field(min_length=1, max_length=4000)
    MediaResources: list[str] | None = Field(default=None, max_length=10)


class PlaceIn(Strict):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    name: str | None = Field(default=None, max_length=200)


class LetsMeetBodyIn(Strict):
    title: str = Field(min_length=1, max_length=200)
    startingTime: IntOrText = Field(description="ISO 8601 date-time, or epoch milliseconds")
    durationInMins: int | None = Field(default=None, ge=1, le=24 * 60)
    place: PlaceIn | None = None
    agenda: str | None = Field(default=None, max_length=2000)
    isSenderOnly: bool | None = None

    @model_validator(mode="after")
    def _start(self) -> LetsMeetBodyIn:
        if isinstance(self.startingTime, str):
            from datetime import datetime

            try:
                datetime.fromisoformat(self.startingTime.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError("startingTime must be an ISO 8601 date-time") from None
        elif self.startingTime < 0:
            raise ValueError("startingTime must be positive epoch milliseconds")
        return self


class MessageBodyIn(Strict):
    message: str = Field(min_length=1, max_length=4000)


class PropertyIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    type: str = Field(min_length=1, max_length=50)
    # Kaizala's swagger: `value` is a string (and required), whatever the property's type.
    value: str = Field(max_length=4000)


class CustomBodyIn(Strict):
    """`properties`, or the `{title, validity}` override (the swagger's custom-action body for
    a public group's subscribers, and its example for a group)."""

    properties: list[PropertyIn] | None = Field(default=None, min_length=1, max_length=50)
    title: str | None = Field(default=None, min_length=1, max_length=200)
    validity: int | None = Field(default=None, ge=1, le=8760, description="hours")

    @model_validator(mode="after")
    def _one_form(self) -> CustomBodyIn:
        if self.properties is not None:
            if self.title is not None or self.validity is not None:
                raise ValueError("give either properties or title + validity, not both")
        elif self.title is None or self.validity is None:
            raise ValueError("give properties, or both title and validity")
        return self


class MediaBodyIn(Strict):
    """Image and Document (Kaizala's attachment actions): a file uploaded with POST /api/media."""

    mediaResource: str = Field(
        min_length=1, max_length=32768, description="the mediaResource POST /api/media returned"
    )
    # Required by Kaizala's body (SendImageOnAGroup), so always sent, empty when not given.
    caption: str = Field(default="", max_length=4000)


BODY_MODELS: dict[str, type[Strict]] = {
    "Survey": SurveyBodyIn,
    "Poll": PollBodyIn,
    "Job": JobBodyIn,
    "Announcement": AnnouncementBodyIn,
    "LetsMeet": LetsMeetBodyIn,
    "Message": MessageBodyIn,
    "Custom": CustomBodyIn,
    "Image": MediaBodyIn,
    "Document": MediaBodyIn,
}


class Regarding(Strict):
    entityType: str = Field(
        default="opportunity", pattern=r"^[a-z][a-z0-9_]{0,63}$", description="Dataverse table"
    )
    id: str = Field(pattern=GUID_PATTERN, description="the row's GUID")
    name: str = Field(default="", max_length=200)


class SendActionRequest(Strict):
    """Either `template` (+ `variables`) or `actionType` + `actionBody`."""

    groupId: str = Field(pattern=ID_PATTERN, description="Kaizala group id")
    actionType: ActionType | None = None
    actionBody: dict[str, Any] | None = Field(
        default=None,
        description="Kaizala actionBody for the type, or {'message': ...} for Message",
    )
    actionPackageId: str | None = Field(
        default=None,
        # Package ids are dotted (the swagger's com.microsoft.kaizala.miniapps.BdayMessage.12).
        pattern=r"^[A-Za-z0-9._-]{1,128}$",
        description="custom action package (Custom only)",
    )
    template: str | None = Field(default=None, pattern=TEMPLATE_PATTERN)
    variables: dict[str, Variable] | None = Field(default=None, max_length=50)
    regarding: Regarding

    @model_validator(mode="after")
    def _one_form(self) -> SendActionRequest:
        if self.template is not None:
            if self.actionType is not None or self.actionBody is not None:
                raise ValueError("give either template or actionType + actionBody, not both")
            if self.actionPackageId is not None:
                raise ValueError("actionPackageId goes with actionType Custom")
            return self
        if self.actionType is None or self.actionBody is None:
            raise ValueError("give either template or actionType + actionBody")
        if self.variables:
            raise ValueError("variables go with template")
        if (self.actionType == "Custom") != (self.actionPackageId is not None):
            raise ValueError("actionPackageId is required for Custom and only for Custom")
        return self


class ActionAccepted(BaseModel):
    model_config = ConfigDict(defer_build=True)
    correlationId: str
    status: Literal["sent", "queued", "sending", "failed"]
    actionId: str | None = None
    referenceId: str | None = None


class SkippedMember(BaseModel):
    """A person of the opportunity not added to its group (the reason, never their number)."""

    model_config = ConfigDict(defer_build=True, frozen=True)
    role: Literal["owner", "contact"]
    reason: str
    id: str | None = Field(default=None, description="the Dataverse row id of the person")


class ActionStatus(BaseModel):
    model_config = ConfigDict(defer_build=True)
    correlationId: str
    status: Literal["queued", "sending", "sent", "failed"]
    actionId: str | None = None
    referenceId: str | None = None
    groupId: str
    actionType: str
    template: str | None = None
    regarding: Regarding
    responses: int = Field(description="distinct responses written back so far")
    createdAt: str
    sentAt: str | None = None
    lastError: str | None = None
    skippedMembers: list[SkippedMember] | None = Field(
        default=None, description="people of the opportunity left out of its group"
    )
    summary: ResultSummary | None = Field(
        default=None, description="the figures of the summary note, once the action is sent"
    )


def validate_body(action_type: str, body: dict[str, Any]) -> dict[str, Any]:
    """Validate an actionBody for its type; errors are located under `actionBody`."""
    model = BODY_MODELS[action_type]
    try:
        parsed = model.model_validate(body)
    except PydanticValidationError as exc:
        raise BodyError(exc) from None
    return parsed.model_dump(exclude_none=True)


class BodyError(Exception):
    def __init__(self, exc: PydanticValidationError) -> None:
        super().__init__("actionBody is invalid")
        # Where (in the body) and what: a template's caller is told which variable it was.
        self.details = exc.errors(include_input=False, include_url=False)
        self.errors = [
            {
                "field": ".".join(["actionBody", *(str(p) for p in e["loc"])]),
                "message": e["msg"],
            }
            for e in exc.errors(include_input=False, include_url=False)
        ]
