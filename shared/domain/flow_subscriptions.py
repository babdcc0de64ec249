"""Power Automate trigger subscriptions: the request model, the callback URL rule, matching.

A flow's "When a Kaizala response arrives" trigger subscribes with `POST /api/subscriptions`
(the custom connector's `x-ms-notification-url` callback) and unsubscribes with a DELETE on the
Location it was given. The callback URL is signed in its query string, so it is a secret: it is
stored, but only its host is ever shown or logged. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.config import is_loopback_host
from shared.domain.actions import GUID_PATTERN, ID_PATTERN, Strict

MAX_CALLBACK_CHARS = 2048  # Power Automate's callback URLs are ~400 characters; room to spare
STATIC_ID = "static"  # RESPONSE_FORWARD_URL, listed as a subscription that cannot be deleted
SUBSCRIPTION_ID_PATTERN = r"^[0-9a-f]{32}$"
_SUBSCRIPTION_ID = re.compile(SUBSCRIPTION_ID_PATTERN)
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def callback_problem(url: str) -> str | None:
    """Why `url` cannot be a callback (never quoting it), or None when it can."""
    if len(url) > MAX_CALLBACK_CHARS:
        return f"at most {MAX_CALLBACK_CHARS} characters"
    if _CONTROL.search(url):
        return "no spaces or control characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "not a URL"
    if not host or parts.username is not None or parts.password is not None:
        return "an absolute URL with a host (and no user info)"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and is_loopback_host(host):
        return None  # local tests and simulators only
    return "must be https (plain http only to a loopback host)"


def callback_host(url: str) -> str:
    """What may be shown of a callback URL: its host (the path and query are signed)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def is_subscription_id(value: str) -> bool:
    return bool(_SUBSCRIPTION_ID.fullmatch(value))


class SubscribeRequest(Strict):
    """The body Power Automate posts when a flow with the trigger is turned on."""

    callbackUrl: str = Field(
        description="The flow's callback URL (https); set by Power Automate",
        json_schema_extra={
            "x-ms-notification-url": True,
            "x-ms-visibility": "internal",
            "x-ms-summary": "Callback URL",
        },
    )
    groupId: str | None = Field(
        default=None,
        pattern=ID_PATTERN,
        description="Only responses from this Kaizala group (optional)",
        json_schema_extra={"x-ms-summary": "Group id", "x-ms-visibility": "important"},
    )
    regardingId: str | None = Field(
        default=None,
        pattern=GUID_PATTERN,
        description="Only responses regarding this Dynamics record GUID (optional)",
        json_schema_extra={"x-ms-summary": "Regarding record id", "x-ms-visibility": "advanced"},
    )

    @field_validator("callbackUrl")
    @classmethod
    def _callback(cls, value: str) -> str:
        problem = callback_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class SubscriptionOut(Strict):
    """A subscription as the API shows it: the callback only by its host."""

    id: str = Field(description="Subscription id", json_schema_extra={"x-ms-summary": "Id"})
    callbackHost: str = Field(
        description="Host of the callback URL (the URL itself is a secret)",
        json_schema_extra={"x-ms-summary": "Callback host"},
    )
    groupId: str | None = Field(
        default=None, description="Group filter", json_schema_extra={"x-ms-summary": "Group id"}
    )
    regardingId: str | None = Field(
        default=None,
        description="Regarding record filter",
        json_schema_extra={"x-ms-summary": "Regarding record id"},
    )
    createdAt: str = Field(
        description="ISO 8601 UTC", json_schema_extra={"x-ms-summary": "Created"}
    )


@dataclass(frozen=True)
class FlowSubscription:
    """A stored subscription (or the static one, from RESPONSE_FORWARD_URL)."""

    id: str
    callback_url: str
    group_id: str | None
    regarding_id: str | None
    created_at: int  # epoch ms

    @property
    def static(self) -> bool:
        return self.id == STATIC_ID

    def matches(self, group_id: str, regarding_id: str) -> bool:
        """No filter matches everything; else the group or the regarding record must equal."""
        if self.group_id is None and self.regarding_id is None:
            return True
        if self.group_id is not None and self.group_id == group_id:
            return True
        return self.regarding_id is not None and self.regarding_id.lower() == regarding_id.lower()


# ---- the trigger's output: what each callback receives (`rendering.forward_body`) -------------


def _s(summary: str, description: str) -> Any:
    return Field(description=description, json_schema_extra={"x-ms-summary": summary})


class FlowRegarding(BaseModel):
    model_config = ConfigDict(defer_build=True)

    entityType: str = _s("Regarding table", "Dynamics table of the record (opportunity)")
    id: str = _s("Regarding record id", "GUID of the Dynamics record")
    name: str = _s("Regarding record name", "Name of the Dynamics record")


class FlowResponder(BaseModel):
    model_config = ConfigDict(defer_build=True)

    name: str = _s("Responder name", 'Who answered ("Anonymous" for an anonymous response)')
    phone: str | None = Field(
        default=None,
        description="Responder's mobile number; absent when the response is anonymous",
        json_schema_extra={"x-ms-summary": "Responder phone", "x-ms-visibility": "advanced"},
    )


class FlowAnswer(BaseModel):
    model_config = ConfigDict(defer_build=True)

    title: str = _s("Question", "The question's title")
    type: str = _s("Answer type", "Kaizala's question type (Text, Numeric, SingleOption, ...)")
    value: Any = _s("Answer value", "The answer as Kaizala gave it (text, number, list, ...)")
    text: str = _s("Answer text", "The answer as text (options joined, locations and dates)")


class FlowResponse(BaseModel):
    """The body POSTed to each subscription's callback: one normalised Kaizala response."""

    model_config = ConfigDict(defer_build=True)

    eventId: str = _s("Event id", "Kaizala's id of the webhook event")
    eventType: str = _s("Event type", "SurveyResponse, ActionResponse or JobResponse")
    correlationId: str = _s("Correlation id", "The bridge's id of the sent action")
    regarding: FlowRegarding = _s("Regarding", "The Dynamics record the action was sent for")
    actionId: str = _s("Action id", "Kaizala's id of the action")
    actionType: str = _s("Action type", "Survey, Poll, Job, ...")
    title: str = _s("Action title", "Title of the action that was answered")
    groupId: str = _s("Group id", "The Kaizala group the response came from")
    responseId: str = _s("Response id", "Kaizala's id of the response (an edit keeps it)")
    activityId: str = _s("Activity id", "GUID of the Dynamics activity written for it")
    isUpdate: bool = _s("Is an edit", "True when the member edited an earlier answer")
    isAnonymous: bool = _s("Is anonymous", "True for an anonymous response (no phone number)")
    responder: FlowResponder = _s("Responder", "Who answered")
    answers: list[FlowAnswer] = _s("Answers", "Every visible question and its answer")
    respondedAt: str = _s("Responded at", "When the member answered (ISO 8601 UTC)")
    receivedAt: str = _s("Received at", "When the bridge received it (ISO 8601 UTC)")
    job: dict[str, Any] | None = Field(
        default=None,
        description="A job response's status (JobResponse only)",
        json_schema_extra={"x-ms-summary": "Job", "x-ms-visibility": "advanced"},
    )
