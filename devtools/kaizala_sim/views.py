"""JSON views of the records, as the query APIs and the control API show them."""

from __future__ import annotations

from typing import Any

from devtools.kaizala_sim.events import iso, response_with_questions
from devtools.kaizala_sim.models import (
    CUSTOM_ACTION_TYPE,
    MEDIA_ACTION_TYPES,
    Action,
    Group,
    Response,
    Webhook,
)
from devtools.kaizala_sim.state import SimState


def group_summary(state: SimState, group: Group, caller: str | None = None) -> dict[str, Any]:
    member = group.members.get(caller) if caller else None
    return {
        "groupName": group.name,
        "groupId": group.group_id,
        "groupImageUrl": "",
        "hasSubGroups": bool(group.subgroups),
        "hasParentGroups": bool(group.parents),
        "callerRole": member.role if member else None,
        "currentLevelSubGroupCount": len(group.subgroups),
        "currentLevelParentGroupCount": len(group.parents),
        "userCount": len(_all_users(state, group)),
        "currentLevelUserCount": len(group.members),
        "isMappedToTenant": False,
        "groupType": group.group_type,
        "welcomeMessage": group.welcome_message,
    }


def subgroup_item(group: Group, duplicate: bool = False) -> dict[str, Any]:
    return {
        "groupName": group.name,
        "groupId": group.group_id,
        "groupImageUrl": "",
        "hasSubGroups": bool(group.subgroups),
        "hasParentGroups": bool(group.parents),
        "isMappedToTenant": False,
        "groupType": group.group_type,
        "isDuplicate": duplicate,
        "welcomeMessage": group.welcome_message,
    }


def subgroups_view(
    state: SimState, group: Group, duplicates: set[str] | None = None
) -> dict[str, Any]:
    subgroups = [state.groups[g] for g in group.subgroups if g in state.groups]
    return {
        "groupName": group.name,
        "groupId": group.group_id,
        "groupImageUrl": "",
        "hasSubGroups": bool(group.subgroups),
        "hasParentGroups": bool(group.parents),
        "isMappedToTenant": False,
        "groupType": group.group_type,
        "subGroups": [subgroup_item(g, g.group_id in (duplicates or set())) for g in subgroups],
        "welcomeMessage": group.welcome_message,
    }


def _all_users(state: SimState, group: Group) -> set[str]:
    users = set(group.members)
    for child_id in group.subgroups:
        child = state.groups.get(child_id)
        if child is not None and child_id != group.group_id:
            users |= _all_users(state, child)
    return users


def members_view(state: SimState, group: Group) -> dict[str, Any]:
    members = []
    for m in group.members.values():
        user = state.user(m.mobile)
        members.append(
            {
                "id": m.member_id,
                "role": m.role,
                "mobileNumber": m.mobile,
                "name": user.name,
                "isProvisioned": user.provisioned,
            }
        )
    return {"members": members}


def action_summary(state: SimState, action: Action) -> dict[str, Any]:
    body = action.body
    base: dict[str, Any] = {"actionId": action.action_id}
    kind = action.action_type
    if kind == "Survey":
        base |= {
            "title": body["title"],
            "responseCount": len(action.responses),
            "expiryDate": iso(action.created_at + body["dueDate"] * 3600),
        }
    elif kind == "Job":
        done = sum(1 for r in action.responses.values() if r.is_completed)
        base |= {
            "title": body["title"],
            "assigneeCount": len(body["assignedTo"]),
            "responseCount": done,
            "isCompleted": done == len(body["assignedTo"]),
        }
    elif kind == "Poll":
        base |= {
            "question": body["question"],
            "isSenderOnly": body["isSenderOnly"],
            "expiryDate": iso(action.created_at + body["expiryInHours"] * 3600),
            "choices": body["choices"],
            "responseCount": len(action.responses),
        }
    elif kind == "LetsMeet":
        base |= {
            key: body[key]
            for key in ("title", "startingTime", "agenda", "duration", "isSenderOnly", "place")
        }
        base["responseCount"] = len(action.responses)
    elif kind == "Announcement":
        base |= {
            "title": body["title"],
            "message": body["message"],
            "mediaUrls": [_media_url(state, r) for r in body["mediaResources"]],
        }
    elif kind in MEDIA_ACTION_TYPES:
        url_key = "imageUrl" if kind == "Image" else "mediaUrl"
        base |= {url_key: _media_url(state, body["mediaResource"]), "caption": body["caption"]}
    else:
        base |= {"packageId": action.package_id, **body, "responseCount": len(action.responses)}
    return base


def _media_url(state: SimState, resource: str) -> str:
    media = state.media_by_resource.get(resource)
    return media.url if media else ""


def action_item(state: SimState, action: Action) -> dict[str, Any]:
    return {
        "referenceId": action.reference_id,
        "actionType": action.action_type,
        "packageId": action.package_id,
        "sender": action.sender,
        "sentAt": iso(action.created_at),
        "creationTime": int(action.created_at * 1000),
        "actionBody": action_summary(state, action),
    }


def action_details(state: SimState, action: Action, with_responses: bool) -> dict[str, Any]:
    details = action_summary(state, action)
    if action.action_type == "Survey":
        details |= {
            key: action.body[key]
            for key in ("dueDate", "isAnonymous", "isSenderOnly", "acceptMultipleResponses")
        }
    if action.questions:
        details["questions"] = [
            {
                "title": q.title,
                "type": q.qtype,
                "options": [{"title": o} for o in q.options],
                **({"isInvisible": True} if q.invisible else {}),
            }
            for q in action.questions
        ]
    if action.action_type == "Job":
        details["assignedTo"] = action.body["assignedTo"]
        details["dueDate"] = iso(action.created_at + action.body["dueDate"] * 3600)
        details["status"] = details["isCompleted"]
    if with_responses:
        details["responses"] = [
            response_view(state, action, r)
            for r in sorted(action.responses.values(), key=lambda r: r.created_at)
        ]
    return {
        "referenceId": action.reference_id,
        "actionId": action.action_id,
        "groupId": action.group_id,
        "actionType": action.action_type,
        "packageId": action.package_id,
        "sender": action.sender,
        "sentAt": iso(action.created_at),
        "creationTime": int(action.created_at * 1000),
        "actionDetails": details,
    }


def response_view(state: SimState, action: Action, r: Response) -> dict[str, Any]:
    user = state.user(r.responder)
    times = {
        "responseTime": int(r.created_at * 1000),
        "lastUpdated": int(r.updated_at * 1000),
    }
    if action.action_type == "Job":
        return {
            "responseId": r.response_id,
            "assignee": user.mobile,
            "assigneeName": user.name,
            "isCompleted": r.is_completed,
            **times,
        }
    return {
        "responseId": r.response_id,
        "responder": "" if r.anonymous else user.mobile,
        "responderName": "Anonymous" if r.anonymous else user.name,
        "isAnonymous": r.anonymous,
        "responseName": r.name,
        "responseLocation": r.location,
        **times,
        "responseWithQuestions": response_with_questions(action, r),
    }


def webhook_view(hook: Webhook) -> dict[str, Any]:
    # callBackToken is deliberately not echoed back: it is the receiver's shared secret.
    return {
        "id": hook.webhook_id,
        "objectId": hook.object_id,
        "objectType": hook.object_type,
        "events": list(hook.event_types),
        "filters": [],
        "callbackUrl": hook.callback_url,
        "ts": int(hook.created_at * 1000),
        "validity": hook.validity,
        "active": hook.active,
    }


def matches_type(action: Action, wanted: str) -> bool:
    wanted = wanted.lower()
    if action.action_type == CUSTOM_ACTION_TYPE:
        return wanted in ("custom", (action.package_id or "").lower())
    return action.action_type.lower() == wanted
