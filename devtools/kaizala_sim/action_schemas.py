"""Which documented schema a `POST groups/{id}/actions` (or `.../responses`) body is held to.

The swagger gives one operation per path, but this path takes every action type, each with its
own definition (`Request - PostAJobOnAGroup`, `Request - SendImageOnAGroup`, ...). The body
names its kind (`actionType`, or `id` for an action package), and that picks the definition.
Poll and Let's Meet have none in the swagger: their schemas below are the simulator's, from
the project's API notes (../shared/kaizala-api/README.md), with the same exact-name rule.
"""

from __future__ import annotations

from typing import Any

from devtools.kaizala_sim import spec
from devtools.kaizala_sim.models import MEDIA_ACTION_TYPES

STRING: spec.Schema = {"type": "string"}
INTEGER: spec.Schema = {"type": "integer"}
BOOLEAN: spec.Schema = {"type": "boolean"}
STRINGS: spec.Schema = {"type": "array", "items": STRING}

# Public groups: the README's optional audience of any action (the swagger documents it for
# custom actions only, `Request - Send Custom Action To Subscriber(s)`).
AUDIENCE: dict[str, spec.Schema | None] = {"subscribers": STRINGS, "sendToAllSubscribers": BOOLEAN}

POLL_BODY: spec.Schema = {
    "type": "object",
    "properties": {
        "question": STRING,
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"title": STRING, "image": STRING},
                "required": ["title"],
            },
        },
        "expiryInHours": INTEGER,
        "isSenderOnly": BOOLEAN,
    },
    "required": ["question", "choices"],
}
LETS_MEET_BODY: spec.Schema = {
    "type": "object",
    "properties": {
        "title": STRING,
        "startingTime": None,  # ISO 8601 string or epoch ms: checked by the route
        "duration": INTEGER,
        "durationInMins": INTEGER,
        "place": {
            "type": "object",
            "properties": {
                "latitude": {"type": "number"},
                "longitude": {"type": "number"},
                "name": STRING,
            },
            "required": ["latitude", "longitude"],
        },
        "agenda": STRING,
        "isSenderOnly": BOOLEAN,
    },
    "required": ["title", "startingTime"],
}


def _envelope(body: spec.Schema) -> spec.Schema:
    return {
        "type": "object",
        "properties": {"actionType": STRING, "actionBody": body},
        "required": ["actionType", "actionBody"],
    }


def builtin(action_type: str, request: dict[str, Any]) -> tuple[spec.Schema, spec.Relax]:
    """The schema of a built-in action's request, by its (canonical) type."""
    if action_type == "Survey":
        # isInvisible: the events' question field, which a sender may set (README).
        extra = {**AUDIENCE, "actionBody.questions[].isInvisible": BOOLEAN}
        return spec.definition("Request - SendSurveyOnAGroup"), spec.Relax(extra=extra)
    if action_type == "Job":
        return spec.definition("Request - PostAJobOnAGroup"), spec.Relax(extra=AUDIENCE)
    if action_type in MEDIA_ACTION_TYPES:
        return spec.definition("Request - SendImageOnAGroup"), spec.Relax(extra=AUDIENCE)
    if action_type == "Announcement":
        if "actiontype" in request:
            # The swagger's plain announcement spells its type key `actiontype`.
            plain = spec.definition("Request - PostCustomAnnouncementToAGroup")
            return plain, spec.Relax(extra=AUDIENCE)
        # Title: named by the project's API notes, not by the swagger.
        extra = {**AUDIENCE, "actionBody.Title": STRING}
        with_images = spec.definition("Request - PostCustomAnnouncementToAGroup[withImages]")
        return with_images, spec.Relax(extra=extra)
    if action_type == "Poll":
        return _envelope(POLL_BODY), spec.Relax(extra=AUDIENCE)
    return _envelope(LETS_MEET_BODY), spec.Relax(extra=AUDIENCE)


def custom(request: dict[str, Any]) -> tuple[spec.Schema, spec.Relax]:
    """An action-package request: `properties`, or the `{title, validity}` override."""
    if "subscribers" in request or "sendToAllSubscribers" in request:
        return spec.body_schema("PostCustomActionSubscriber"), spec.NO_RELAX
    body = request.get("actionBody")
    if isinstance(body, dict) and "properties" in body:
        return spec.definition("Request - PostCustomActionToAGroup[withProperties]"), spec.NO_RELAX
    # `Request - PostCustomActionOnAGroup` points its actionBody at CustomActionBody
    # (properties) but its own example sends {title, validity}: the subscriber body's shape.
    override = spec.Relax(replace={"actionBody": spec.definition("SubscribersCustomActionBody")})
    return spec.definition("Request - PostCustomActionOnAGroup"), override


def response(action_type: str) -> tuple[spec.Schema, spec.Relax]:
    """The schema of a response to an action of this type."""
    if action_type == "Survey":
        relax = spec.Relax(
            # An edit names the response it replaces (as PostingAResponseToAnAction does).
            extra={"responseId": STRING},
            replace={
                # `Answer` describes only a location answer ({lt, lg, n}); answers are typed
                # by their question, which the route checks.
                "actionBody.Answers": {"type": "array"},
                # Coordinates are fractional; the swagger says integer.
                "actionBody.responseLocation": {
                    "type": "object",
                    "properties": {
                        "latitude": {"type": "number"},
                        "longitude": {"type": "number"},
                        "name": STRING,
                    },
                    "required": ["latitude", "longitude", "name"],
                },
            },
        )
        return spec.body_schema("PostingSurveyResponse"), relax
    # The description and the example say "either of actionType or id"; the required list
    # names both. One of them is required (checked by the route).
    optional = frozenset({"id", "actionType"})
    if action_type == "Job":
        # A job is answered by completing it: `isCompleted`, which the swagger does not show.
        job_body = {
            "type": "object",
            "properties": {"isCompleted": BOOLEAN, "Answers": STRINGS},
            "required": ["isCompleted"],
        }
        return spec.body_schema("PostingActionResponse"), spec.Relax(
            replace={"actionBody": job_body}, optional=optional
        )
    # Poll, Let's Meet and custom answers: `Request - Action Body`, a list of strings.
    return spec.body_schema("PostingActionResponse"), spec.Relax(optional=optional)
