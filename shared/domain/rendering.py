"""A normalised response as Dynamics shows it (the activity's columns) and as the forward sink
receives it (JSON)."""

from __future__ import annotations

from typing import Any

from shared.domain.responses import ANSWER_TIME_LABEL, NormalisedResponse

# Dataverse's MaxLength of an activity subject, counted in UTF-16 code units.
SUBJECT_MAX_LENGTH = 200
DESCRIPTION_MAX_CHARS = 100_000  # long text; a survey answer is never near this
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
    c = response.correlation
    lines = [f"{c.action_type or 'Kaizala'} response: {c.title or c.action_id}"]
    if c.regarding_name:
        lines.append(f"Regarding: {c.regarding_name}")
    if response.job is not None:
        job = response.job
        who = job["assigneeName"] + (f" ({job['assignee']})" if job.get("assignee") else "")
        lines.append(f"Assignee: {who}")
        lines.append(f"Status: {'completed' if job['isCompleted'] else 'pending'}")
    else:
        who = response.responder_name
        if response.responder_phone:
            who += f" ({response.responder_phone})"
        lines.append(f"Responder: {who}")
    lines.append(f"Responded at: {response.responded_at}")
    if response.is_update:
        lines.append("This response was edited; the answers below are the latest.")
    if response.job is None:
        lines.append("")
        for n, a in enumerate(response.answers, 1):
            lines.append(f"{n}. {a.title}")
            lines.append(f"   {a.text}")
    lines += [
        "",
        f"Response id: {response.response_id}",
        f"Event id: {response.event_id}",
        f"Action id: {c.action_id}",
    ]
    if c.correlation_id:
        lines.append(f"Correlation id: {c.correlation_id}")
    # Always the last line, kept whole: the version the activity holds (`held_answer_time`).
    marker = f"\n{ANSWER_TIME_LABEL}{response.answer_time}"
    return "\n".join(lines)[: DESCRIPTION_MAX_CHARS - len(marker)] + marker


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
