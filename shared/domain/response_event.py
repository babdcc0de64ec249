"""The shape of a Kaizala response event (SurveyResponse, ActionResponse, JobResponse), checked
once with pydantic before anything reads it.

The webhook accepts any JSON object with an eventId and an eventType (Kaizala retries whatever
is refused, and the row is the record of what arrived); processing then reads the event
through these models. An event of the wrong shape (a string where an object belongs, an answer
entry that is not an object, a responseId that is not an id) can never be processed however
often it is retried: `parse_response_event` raises `EventShapeError`, whose text names the
field and what was wrong with it (never the value), and the row goes `dead` at once.

Kaizala adds fields over time and leaves out the ones it has no value for (null is the same):
unknown fields are ignored, known ones are optional unless processing needs them. An answer
is any JSON value: its form depends on the question type and Kaizala's version, and
`answers.render_answer` renders every form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic import ValidationError as PydanticValidationError

ID_CHARS = 256  # Kaizala's ids are GUIDs; anything this long is not an id
TEXT_CHARS = 10_000  # a name or a title; an answer's text has no limit of its own


class _Shape(BaseModel):
    # defer_build: validators built on first use, not at import (cold start, bench/README.md).
    model_config = ConfigDict(
        defer_build=True, extra="ignore", frozen=True, hide_input_in_errors=True
    )


Text = str | None


class OptionShape(_Shape):
    title: Text = Field(default=None, max_length=TEXT_CHARS)


class QuestionShape(_Shape):
    title: Text = Field(default=None, max_length=TEXT_CHARS)
    type: Text = Field(default=None, max_length=100)
    answer: JsonValue = None
    options: list[OptionShape] | None = None
    isInvisible: bool | None = None  # Kaizala's hidden ResponseTime question


class SurveyDetails(_Shape):
    responseWithQuestions: list[QuestionShape] | None = None


class JobResult(_Shape):
    assignee: Text = Field(default=None, max_length=TEXT_CHARS)
    assigneeName: Text = Field(default=None, max_length=TEXT_CHARS)
    isCompleted: bool | None = None


class JobDetails(_Shape):
    response: JobResult | None = None


class _Data(_Shape):
    actionId: Text = Field(default=None, max_length=ID_CHARS)
    responseId: str = Field(min_length=1, max_length=ID_CHARS, pattern=r"\S")
    groupId: Text = Field(default=None, max_length=ID_CHARS)
    isUpdateResponse: bool | None = None


class SurveyData(_Data):
    """SurveyResponse and ActionResponse: who answered, and the answers."""

    responder: Text = Field(default=None, max_length=TEXT_CHARS)
    responderName: Text = Field(default=None, max_length=TEXT_CHARS)
    isAnonymous: bool | None = None
    responseDetails: SurveyDetails | None = None

    @property
    def questions(self) -> list[QuestionShape]:
        details = self.responseDetails
        return list(details.responseWithQuestions or []) if details else []


class JobData(_Data):
    responseDetails: JobDetails | None = None

    @property
    def result(self) -> JobResult:
        details = self.responseDetails
        return (details.response if details else None) or JobResult()


class SurveyEvent(_Shape):
    eventId: str = Field(min_length=1, max_length=ID_CHARS)
    eventType: str
    data: SurveyData


class JobEvent(_Shape):
    eventId: str = Field(min_length=1, max_length=ID_CHARS)
    eventType: str
    data: JobData


class EventShapeError(ValueError):
    """The stored event is not the shape its type documents: it can never be processed."""


# What was wrong, by pydantic's error type, in words for an operator reading `lastError`.
_PROBLEMS = {
    "missing": "is missing",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be a list",
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_too_short": "must not be empty",
    "string_pattern_mismatch": "must not be blank",
}


def parse_response_event(event: Mapping[str, Any]) -> SurveyEvent | JobEvent:
    """The event read through its model; raises EventShapeError naming the first bad field."""
    model: type[SurveyEvent | JobEvent] = (
        JobEvent if event.get("eventType") == "JobResponse" else SurveyEvent
    )
    try:
        return model.model_validate(event)
    except PydanticValidationError as exc:
        raise EventShapeError(shape_problem(exc)) from None


def shape_problem(exc: PydanticValidationError) -> str:
    errors = exc.errors(include_input=False, include_url=False, include_context=True)
    first = errors[0]
    # The path is made of our field names and list positions only: never text of the event.
    field = ".".join(str(part) for part in first["loc"]) or "the event"
    problem = _PROBLEMS.get(first["type"])
    if problem is None and first["type"] == "string_too_long":
        problem = f"is longer than {first.get('ctx', {}).get('max_length')} characters"
    text = f"{field} {problem or first['msg']}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more)"
    return text
