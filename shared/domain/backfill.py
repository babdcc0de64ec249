"""Backfill rules: which actions to read again, and a read response as the webhook's event.

Kaizala's action details (`GET groups/{g}/actions/{a}?getDetails=true`) list every response
with its latest answers. Each becomes the event the webhook would have delivered for it
(SurveyResponse, JobResponse or ActionResponse, the shapes of `events/`), so the inbox and the
processing need no special case. Its event id is derived from the response id and the answer
time: the same version read again is the same event (an insert-only row refuses it), an edit
is another one.

The answer time is Kaizala's hidden ResponseTime question where it has one (surveys: the same
value the webhook's event carries), else the response's `lastUpdated` (then `responseTime`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.domain.responses import MAX_ANSWER_TIME_MS, response_time_ms

# Action types that take responses (Announcement, Message and media take none).
RESPONSE_ACTION_TYPES = frozenset({"Survey", "Poll", "Job", "LetsMeet", "Custom"})
DUE_GRACE_MS = 86_400_000  # responses are still read for a day after the due date
EVENT_ID_PREFIX = "backfill-"
# Fixed: the event id of a response version must be the same on every instance and every run.
_EVENT_NAMESPACE = uuid.UUID("6f3c1d2e-8a4b-5c6d-9e7f-0a1b2c3d4e5f")
_DEFAULT_HOURS = {"Survey": ("dueDate", 24), "Job": ("dueDate", 24), "Poll": ("expiryInHours", 720)}
_LETSMEET_DEFAULT_MINUTES = 30


def event_type_for(action_type: str) -> str:
    """The webhook event a response to this type of action arrives as."""
    if action_type == "Survey":
        return "SurveyResponse"
    if action_type == "Job":
        return "JobResponse"
    return "ActionResponse"


def due_ms(action_type: str, body: Mapping[str, Any], sent_ms: int) -> int | None:
    """When the action stops taking answers (epoch ms), from the body as sent; None: never.

    Survey and Job `dueDate` and Poll `expiryInHours` are hours after the send (Kaizala's
    defaults when absent); a Let's Meet is over at its start plus its duration.
    """
    if action_type in _DEFAULT_HOURS:
        key, default = _DEFAULT_HOURS[action_type]
        hours = body.get(key)
        hours = hours if isinstance(hours, int) and not isinstance(hours, bool) else default
        return sent_ms + hours * 3_600_000
    if action_type == "LetsMeet":
        start = _epoch_ms(body.get("startingTime"))
        if start is None:
            return None
        minutes = body.get("durationInMins")
        if not isinstance(minutes, int) or isinstance(minutes, bool):
            minutes = _LETSMEET_DEFAULT_MINUTES
        return start + minutes * 60_000
    return None


def in_window(
    action_type: str, body: Mapping[str, Any], sent_ms: int, now_ms: int, days: int
) -> bool:
    """Worth reading again: takes responses, sent within `days`, not past its due date + a day."""
    if action_type not in RESPONSE_ACTION_TYPES or sent_ms < now_ms - days * 86_400_000:
        return False
    due = due_ms(action_type, body, sent_ms)
    return due is None or now_ms <= due + DUE_GRACE_MS


def _epoch_ms(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class ReadResponse:
    """One response as Kaizala's details listed it, in the webhook's event shape."""

    response_id: str
    answer_time: int | None  # None: Kaizala gave no time for it
    event: dict[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.event["eventId"])

    def is_new(self, held: Mapping[str, int]) -> bool:
        """Not in the inbox yet: no row of this response, or only rows of older answers."""
        newest = held.get(self.response_id)
        if newest is None:
            return True
        return self.answer_time is not None and self.answer_time > newest


def backfill_event_id(response_id: str, answer_time: int | None) -> str:
    version = "none" if answer_time is None else str(answer_time)
    return EVENT_ID_PREFIX + str(uuid.uuid5(_EVENT_NAMESPACE, f"{response_id}\n{version}"))


def read_response(
    item: Mapping[str, Any],
    *,
    action_id: str,
    group_id: str,
    action_type: str,
    sender: str | None,
) -> ReadResponse | None:
    """The event for one item of the details' `responses`; None when it has no responseId."""
    response_id = item.get("responseId")
    if not isinstance(response_id, str) or not response_id.strip():
        return None
    event_type = event_type_for(action_type)
    data: dict[str, Any] = {"actionId": action_id, "groupId": group_id, "responseId": response_id}
    if event_type == "JobResponse":
        data["responseDetails"] = {
            "response": {
                "assignee": item.get("assignee"),
                "assigneeName": item.get("assigneeName"),
                "isCompleted": bool(item.get("isCompleted")),
            }
        }
    else:
        details = item.get("responseDetails")
        questions = (
            details.get("responseWithQuestions")
            if isinstance(details, dict)
            else item.get("responseWithQuestions")
        )
        anonymous = bool(item.get("isAnonymous"))
        data |= {
            "isUpdateResponse": _edited(item),
            "responder": "" if anonymous else item.get("responder"),
            "responderName": item.get("responderName"),
            "isAnonymous": anonymous,
            "responseDetails": {
                "responseWithQuestions": questions if isinstance(questions, list) else []
            },
        }
    answered = response_time_ms(data)
    if answered is None:
        answered = _time(item.get("lastUpdated"))
    if answered is None:
        answered = _time(item.get("responseTime"))
    event: dict[str, Any] = {
        "objectId": group_id,
        "objectType": "Group",
        "eventType": event_type,
        "eventId": backfill_event_id(response_id, answered),
        "data": data,
    }
    if sender:
        event["fromUser"] = sender
    return ReadResponse(response_id, answered, event)


def _edited(item: Mapping[str, Any]) -> bool:
    first, last = _time(item.get("responseTime")), _time(item.get("lastUpdated"))
    return first is not None and last is not None and last > first


def _time(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value) if 0 <= value <= MAX_ANSWER_TIME_MS else None
    return None
