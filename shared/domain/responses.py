"""A Kaizala response event, normalised: who answered what, when, for which correlated record.

Events of one response (the answer, then edits) are not delivered in the order the member
answered. The order that counts is the answer time (`respondedAt`: Kaizala's hidden
ResponseTime question, else the arrival time); the activity in Dynamics records the version it
holds as its last description line, `Kaizala answer time: <epoch ms>` (`held_answer_time`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from shared.domain.answers import is_number, iso_time, render_answer, text
from shared.domain.correlation import Correlation

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
    """Kaizala's hidden question (isInvisible, DateTime, epoch ms); JobResponse has none."""
    details = data.get("responseDetails")
    questions = details.get("responseWithQuestions") if isinstance(details, dict) else None
    for q in questions if isinstance(questions, list) else []:
        if (
            isinstance(q, dict)
            and q.get("isInvisible")
            and q.get("title") == "ResponseTime"
            and is_number(q.get("answer"))
            and 0 <= q["answer"] <= MAX_ANSWER_TIME_MS
        ):
            return int(q["answer"])
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
    item: ResponseEvent, correlation: Correlation, now_ms: int | None = None
) -> NormalisedResponse:
    """The response of `item` with its answers as text; `now_ms` stands in for an unusable
    arrival time."""
    event = item.event
    data: Mapping[str, Any] = event.get("data") or {}
    event_type = str(event.get("eventType") or "")
    anonymous = bool(data.get("isAnonymous"))
    job: dict[str, Any] | None = None
    answers: list[Answer] = []
    responded_ms = response_time_ms(data)
    if event_type == "JobResponse":
        details = (data.get("responseDetails") or {}).get("response") or {}
        name = text(details.get("assigneeName")) or "Unknown assignee"
        phone = text(details.get("assignee")) or None
        completed = bool(details.get("isCompleted"))
        job = {"assigneeName": name, "isCompleted": completed}
        if phone:
            job["assignee"] = phone
        answers.append(Answer("Status", "Job", completed, "completed" if completed else "pending"))
    else:
        name = "Anonymous" if anonymous else (text(data.get("responderName")) or "Unknown")
        phone = None if anonymous else (text(data.get("responder")) or None)
        questions = (data.get("responseDetails") or {}).get("responseWithQuestions") or []
        for q in questions if isinstance(questions, list) else []:
            if not isinstance(q, dict):
                continue
            title = text(q.get("title")) or "(untitled question)"
            qtype = text(q.get("type")) or "Text"
            if q.get("isInvisible"):
                continue  # Kaizala's hidden ResponseTime question: the answer time, above
            answers.append(Answer(title, qtype, q.get("answer"), render_answer(q)))
    received = iso_time(item.received_at) or iso_time(now_ms) or ""
    return NormalisedResponse(
        event_id=item.event_id,
        event_type=event_type,
        correlation=correlation,
        response_id=str(data.get("responseId")),
        group_id=text(data.get("groupId")) or correlation.group_id,
        is_update=bool(data.get("isUpdateResponse")),
        anonymous=anonymous,
        responder_name=name,
        responder_phone=phone,
        answers=tuple(answers),
        job=job,
        responded_at=(iso_time(responded_ms) if responded_ms is not None else None) or received,
        received_at=received,
        answer_time=item.answer_time,
    )
