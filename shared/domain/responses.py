"""A Kaizala response event, normalised: who answered what, when, for which correlated record.

Events of one response (the answer, then edits) are not delivered in the order the member
answered. The order that counts is the answer time (`respondedAt`: Kaizala's hidden
ResponseTime question, else the arrival time); the activity in Dynamics records the version it
holds as its last description line, `Kaizala answer time: <epoch ms>` (`held_answer_time`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError as PydanticValidationError

from shared.domain.answers import is_number, iso_time, render_answer, text
from shared.domain.correlation import Correlation
from shared.domain.response_event import (
    JobData,
    JobEvent,
    QuestionShape,
    SurveyDetails,
    SurveyEvent,
    parse_response_event,
)

RESPONSE_EVENTS = frozenset({"SurveyResponse", "ActionResponse", "JobResponse"})
MAX_ANSWER_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z; beyond: not a time
ANSWER_TIME_LABEL = "Kaizala answer time: "
# The last such line of a description is the bridge's own (it is always appended last); an
# answer text can contain a look-alike line, but only before it.
_ANSWER_TIME_RE = re.compile(r"^Kaizala answer time: (\d{1,15})[ \t\r]*$", re.MULTILINE)


def answer_time(event: Mapping[str, Any], received_at: int) -> int:
    """When the member answered (epoch ms): the hidden ResponseTime, else `received_at`."""
    data = event.get("data")
    found = response_time_ms(data) if isinstance(data, dict) else None
    return received_at if found is None else found


def response_time_ms(data: Mapping[str, Any]) -> int | None:
    """Kaizala's hidden question (isInvisible, DateTime, epoch ms) of an event's `data`, read
    as the models read it; None without one (JobResponse has none) or when the answers are
    not of the documented shape (such an event goes dead in processing anyway)."""
    try:
        details = SurveyDetails.model_validate(data.get("responseDetails") or {})
    except PydanticValidationError:
        return None
    return hidden_response_time(details.responseWithQuestions or [])


def hidden_response_time(questions: Iterable[QuestionShape]) -> int | None:
    for q in questions:
        answer = q.answer
        if (
            q.isInvisible
            and q.title == "ResponseTime"
            and isinstance(answer, int | float)
            and is_number(answer)
            and 0 <= answer <= MAX_ANSWER_TIME_MS
        ):
            return int(answer)
    return None


def held_answer_time(description: Any) -> int | None:
    """The answer time an activity holds (its last `Kaizala answer time:` line), or None.

    None for an activity written before answer times were recorded, or whose description was
    edited by hand: it is written over, as every write was before.
    """
    if not isinstance(description, str):
        return None
    found = _ANSWER_TIME_RE.findall(description)
    return int(found[-1]) if found else None


class ResponseEvent(Protocol):
    """A stored event as normalisation reads it (an inbox item)."""

    @property
    def event(self) -> Mapping[str, Any]: ...

    @property
    def event_id(self) -> str: ...

    @property
    def received_at(self) -> int: ...

    @property
    def answer_time(self) -> int: ...


@dataclass(frozen=True)
class Answer:
    title: str
    type: str
    value: Any
    text: str
    options: tuple[str, ...] = ()  # the titles offered (choice questions), for the summary


@dataclass(frozen=True)
class NormalisedResponse:
    event_id: str
    event_type: str
    correlation: Correlation
    response_id: str
    group_id: str
    is_update: bool
    anonymous: bool
    responder_name: str
    responder_phone: str | None  # None when anonymous: never shown, never forwarded
    answers: tuple[Answer, ...]
    job: dict[str, Any] | None
    responded_at: str  # ISO UTC
    received_at: str
    answer_time: int = 0  # epoch ms: the version of this answer (see InboxItem.answer_time)


def normalise_response(
    item: ResponseEvent,
    correlation: Correlation,
    now_ms: int | None = None,
    shape: SurveyEvent | JobEvent | None = None,
) -> NormalisedResponse:
    """The response of `item` with its answers as text; `now_ms` stands in for an unusable
    arrival time. `shape` is the event already read through its model (else read here).

    Raises EventShapeError when the event is not the shape its type documents.
    """
    event = shape if shape is not None else parse_response_event(item.event)
    data = event.data
    job: dict[str, Any] | None = None
    answers: list[Answer] = []
    anonymous = False
    if isinstance(data, JobData):
        result = data.result
        name = text(result.assigneeName) or "Unknown assignee"
        phone = text(result.assignee) or None
        completed = bool(result.isCompleted)
        job = {"assigneeName": name, "isCompleted": completed}
        if phone:
            job["assignee"] = phone
        answers.append(Answer("Status", "Job", completed, "completed" if completed else "pending"))
    else:
        anonymous = bool(data.isAnonymous)
        name = "Anonymous" if anonymous else (text(data.responderName) or "Unknown")
        phone = None if anonymous else (text(data.responder) or None)
        for q in data.questions:
            if q.isInvisible:
                continue  # Kaizala's hidden ResponseTime question: the answer time, below
            answers.append(
                Answer(
                    text(q.title) or "(untitled question)",
                    text(q.type) or "Text",
                    q.answer,
                    render_answer(q),
                    tuple(text(o.title) for o in q.options or ()),
                )
            )
    responded_ms = None if isinstance(data, JobData) else hidden_response_time(data.questions)
    received = iso_time(item.received_at) or iso_time(now_ms) or ""
    return NormalisedResponse(
        event_id=item.event_id,
        event_type=event.eventType,
        correlation=correlation,
        response_id=data.responseId,
        group_id=text(data.groupId) or correlation.group_id,
        is_update=bool(data.isUpdateResponse),
        anonymous=anonymous,
        responder_name=name,
        responder_phone=phone,
        answers=tuple(answers),
        job=job,
        responded_at=(iso_time(responded_ms) if responded_ms is not None else None) or received,
        received_at=received,
        answer_time=item.answer_time,
    )
