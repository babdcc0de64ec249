"""Webhook event payloads, in the shapes of /work/shared/kaizala-api/events/*.json.

The keys and their order follow those samples. SurveyCreated, ActionCreated, MemberRemoved,
GroupAdded and GroupRemoved have no published sample; their `data` is documented in the
simulator's README.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from devtools.kaizala_sim.models import Action, Group, Media, Response, User, Webhook


@dataclass(frozen=True)
class Event:
    event_type: str
    event_id: str
    group_id: str
    action_id: str | None
    package_id: str | None
    data: dict[str, Any]
    from_user: User

    def concerns(self, hook: Webhook) -> bool:
        if self.event_type not in hook.event_types:
            return False
        if hook.object_type == "Group":
            return hook.object_id == self.group_id
        if hook.object_type == "Action":
            return hook.object_id == self.action_id
        return self.package_id is not None and hook.object_id == self.package_id

    def payload(self, hook: Webhook) -> dict[str, Any]:
        return {
            "objectId": hook.object_id,
            "objectType": hook.object_type,
            "eventType": self.event_type,
            "eventId": self.event_id,
            "data": self.data,
            "context": hook.callback_context,
            "fromUser": self.from_user.mobile,
            "fromUserId": self.from_user.user_id,
            "fromUserName": self.from_user.name,
            "fromUserProfilePic": self.from_user.profile_pic,
        }


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def text_message_data(text: str) -> dict[str, Any]:
    return {"text": text}


def member_data(user: User, role: str) -> dict[str, Any]:
    return {
        "member": user.mobile,
        "memberName": user.name,
        "memberProfilePic": user.profile_pic,
        "type": role,
    }


def group_link_data(group: Group) -> dict[str, Any]:
    return {"groupId": group.group_id, "groupName": group.name}


def job_created_data(action: Action) -> dict[str, Any]:
    return {
        "assignedTo": list(action.body["assignedTo"]),
        "title": action.body["title"],
        "dueDate": iso(action.created_at + action.body["dueDate"] * 3600),
        "actionId": action.action_id,
        "groupId": action.group_id,
    }


def survey_created_data(action: Action) -> dict[str, Any]:
    return {
        "actionId": action.action_id,
        "groupId": action.group_id,
        "title": action.body["title"],
        "dueDate": iso(action.created_at + action.body["dueDate"] * 3600),
        "questions": [
            {"title": q.title, "type": q.qtype, "options": [{"title": o} for o in q.options]}
            for q in action.questions
        ],
    }


def action_created_data(action: Action) -> dict[str, Any]:
    return {
        "actionId": action.action_id,
        "groupId": action.group_id,
        "actionType": action.action_type,
        "packageId": action.package_id,
        "title": action.title,
    }


def announcement_data(action: Action, media: list[Media], sender: User) -> dict[str, Any]:
    title = action.body.get("title") or f"Sent by {sender.name}"
    return {
        "text": action.body["message"],
        "title": title,
        "media": [{"url": m.url, "fileName": m.file_name} for m in media],
    }


def attachment_data(action: Action, media: Media) -> dict[str, Any]:
    return {
        "media": [{"mediaUrl": media.url, "mediaFileName": media.file_name}],
        "actionType": action.action_type,
        "caption": action.body.get("caption", ""),
    }


def response_with_questions(action: Action, response: Response) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    titles = response.titles or []
    for index, answer in enumerate(response.answers):
        if index < len(action.questions):
            q = action.questions[index]
            title, qtype, options, invisible = q.title, q.qtype, q.options, q.invisible
        else:
            title = titles[index] if index < len(titles) else f"Answer {index + 1}"
            qtype, options, invisible = _guess_type(answer), [], False
        item: dict[str, Any] = {"isInvisible": True} if invisible else {}
        item.update(
            {"title": title, "type": qtype, "options": [{"title": o} for o in options]},
        )
        item["answer"] = answer
        items.append(item)
    if action.action_type == "Survey":
        # Kaizala appends the hidden response-time question to every survey response.
        items.append(
            {
                "isInvisible": True,
                "title": "ResponseTime",
                "type": "DateTime",
                "options": [],
                "answer": int(response.updated_at * 1000),
            }
        )
    return items


def response_data(
    action: Action, response: Response, responder: User, update: bool
) -> dict[str, Any]:
    anonymous = response.anonymous
    return {
        "actionId": action.action_id,
        "groupId": action.group_id,
        "responseId": response.response_id,
        "isUpdateResponse": update,
        "responder": "" if anonymous else responder.mobile,
        "responderName": "Anonymous" if anonymous else responder.name,
        "responderProfilePic": "" if anonymous else responder.profile_pic,
        "isAnonymous": anonymous,
        "responseDetails": {"responseWithQuestions": response_with_questions(action, response)},
    }


def job_response_data(action: Action, response: Response, assignee: User) -> dict[str, Any]:
    return {
        "actionId": action.action_id,
        "groupId": action.group_id,
        "responseId": response.response_id,
        "responseDetails": {
            "response": {
                "assignee": assignee.mobile,
                "assigneeName": assignee.name,
                "assigneeProfilePic": assignee.profile_pic,
                "isCompleted": response.is_completed,
            }
        },
    }


def _guess_type(answer: Any) -> str:
    if isinstance(answer, bool | str):
        return "Text"
    if isinstance(answer, int | float):
        return "Numeric"
    if isinstance(answer, dict):
        return "Location"
    if isinstance(answer, list) and all(isinstance(a, dict) for a in answer) and answer:
        return "AttachmentList"
    return "MultiOption" if isinstance(answer, list) else "Text"
