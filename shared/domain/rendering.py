"""A normalised response as Dynamics shows it (the activity's columns) and as the forward sink
receives it (JSON)."""

from __future__ import annotations

from typing import Any

from shared.domain.responses import ANSWER_TIME_LABEL, NormalisedResponse

# Dataverse's MaxLength of an activity subject, counted in UTF-16 code units.
SUBJECT_MAX_LENGTH = 200
DESCRIPTION_MAX_CHARS = 100_000  # long text (UTF-16 code units)
HEAD_LINE_MAX_LENGTH = 1000  # a description line naming the action, the record or a person
ANSWERS_CUT = "[The answers were cut to fit Dynamics' limit of 100,000 characters.]"
# A note (annotation): subject MaxLength 500, notetext MaxLength 100,000 (UTF-16 code units).
NOTE_SUBJECT_MAX_LENGTH = 500
NOTE_TEXT_MAX_LENGTH = 100_000


def truncate_utf16(text: str, limit: int) -> str:
    """`text` cut to `limit` UTF-16 code units (Dataverse's MaxLength unit), with an ellipsis."""
    if len(text.encode("utf-16-le")) // 2 <= limit:
        return text
    kept: list[str] = []
    used = 0
    for char in text:
        units = 2 if ord(char) > 0xFFFF else 1
        if used + units > limit - 1:  # room for the ellipsis
            break
        kept.append(char)
        used += units
    return "".join(kept) + "…"


def activity_fields(response: NormalisedResponse) -> dict[str, Any]:
    """The Dataverse columns of the activity.

    The activity is left open (no statecode): Dataverse treats a completed activity as
    read-only, and an edited response must still be able to update it.
    """
    c = response.correlation
    title = c.title or f"action {c.action_id}"
    if response.job is not None:
        state = "completed" if response.job["isCompleted"] else "pending"
        subject = f"Kaizala job update: {title} — {response.responder_name} ({state})"
    elif response.event_type == "SurveyResponse":
        subject = f"Kaizala survey response: {title} — {response.responder_name}"
    else:
        subject = f"Kaizala response: {title} — {response.responder_name}"
    return {
        "subject": truncate_utf16(subject, SUBJECT_MAX_LENGTH),
        "description": describe(response),
        "actualend": response.responded_at,
    }


def describe(response: NormalisedResponse) -> str:
    """The activity's description: who answered, the answers, then the ids and the answer time.

    Over `DESCRIPTION_MAX_CHARS` (UTF-16 code units, as Dataverse counts) the answers are cut,
    never the lines after them: the ids tie the activity to the response, and the last line
    (`held_answer_time`) is the version it holds.
    """
    c = response.correlation
    head = [f"{c.action_type or 'Kaizala'} response: {c.title or c.action_id}"]
    if c.regarding_name:
        head.append(f"Regarding: {c.regarding_name}")
    if response.job is not None:
        job = response.job
        who = job["assigneeName"] + (f" ({job['assignee']})" if job.get("assignee") else "")
        head.append(f"Assignee: {who}")
        head.append(f"Status: {'completed' if job['isCompleted'] else 'pending'}")
    else:
        who = response.responder_name
        if response.responder_phone:
            who += f" ({response.responder_phone})"
        head.append(f"Responder: {who}")
    head.append(f"Responded at: {response.responded_at}")
    if response.is_update:
        head.append("This response was edited; the answers below are the latest.")
    # A line of the head holds a name from the event: bounded, so the ids always fit.
    head = [truncate_utf16(line, HEAD_LINE_MAX_LENGTH) for line in head]
    answers: list[str] = []
    if response.job is None:
        answers.append("")
        for n, a in enumerate(response.answers, 1):
            answers.append(f"{n}. {a.title}")
            answers.append(f"   {a.text}")
    tail = [
        "",
        f"Response id: {response.response_id}",
        f"Event id: {response.event_id}",
        f"Action id: {c.action_id}",
    ]
    if c.correlation_id:
        tail.append(f"Correlation id: {c.correlation_id}")
    tail.append(f"{ANSWER_TIME_LABEL}{response.answer_time}")
    head_text, tail_text = "\n".join(head), "\n".join(tail)
    if not answers:
        return head_text + "\n" + tail_text
    room = DESCRIPTION_MAX_CHARS - _units(head_text) - _units(tail_text) - 2  # two newlines
    body = "\n".join(answers)
    if _units(body) > room:
        body = truncate_utf16(body, room - _units(ANSWERS_CUT) - 1) + "\n" + ANSWERS_CUT
    return head_text + "\n" + body + "\n" + tail_text


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def forward_body(response: NormalisedResponse, activity_id: str) -> dict[str, Any]:
    """The JSON the forward sink (RESPONSE_FORWARD_URL) receives; no phone when anonymous."""
    c = response.correlation
    responder: dict[str, Any] = {"name": response.responder_name}
    if response.responder_phone:
        responder["phone"] = response.responder_phone
    body: dict[str, Any] = {
        "eventId": response.event_id,
        "eventType": response.event_type,
        "correlationId": c.correlation_id,
        "regarding": {
            "entityType": c.regarding_entity,
            "id": c.regarding_id,
            "name": c.regarding_name,
        },
        "actionId": c.action_id,
        "actionType": c.action_type,
        "title": c.title,
        "groupId": response.group_id,
        "responseId": response.response_id,
        "activityId": activity_id,
        "isUpdate": response.is_update,
        "isAnonymous": response.anonymous,
        "responder": responder,
        "answers": [
            {"title": a.title, "type": a.type, "value": a.value, "text": a.text}
            for a in response.answers
        ],
        "respondedAt": response.responded_at,
        "receivedAt": response.received_at,
    }
    if response.job is not None:
        body["job"] = response.job
    return body
