"""Operations on the tenant that both the Kaizala routes and the control API perform, with the
webhook events each one raises."""

from __future__ import annotations

from typing import Any

from devtools.kaizala_sim import events as ev
from devtools.kaizala_sim.checks import MAX_MEMBERS_PER_CALL
from devtools.kaizala_sim.errors import bad_request, forbidden, not_found
from devtools.kaizala_sim.events import Event
from devtools.kaizala_sim.models import (
    CUSTOM_ACTION_TYPE,
    MEDIA_ACTION_TYPES,
    Action,
    Group,
    Member,
    Message,
    Response,
    User,
)
from devtools.kaizala_sim.simulator import Simulator
from devtools.kaizala_sim.state import new_id
from devtools.kaizala_sim.validation import ParsedAction

GROUP_TYPES = ("Group", "ConnectGroup")
NO_RESPONSE_TYPES = ("Announcement", *MEDIA_ACTION_TYPES)


def emit(
    sim: Simulator,
    event_type: str,
    group: Group,
    data: dict[str, Any],
    from_user: User,
    action: Action | None = None,
    duplicates: int | None = None,
) -> str:
    event = Event(
        event_type=event_type,
        event_id=new_id(),
        group_id=group.group_id,
        action_id=action.action_id if action else None,
        package_id=action.package_id if action else None,
        data=data,
        from_user=from_user,
    )
    sim.deliveries.emit(event, duplicates)
    return event.event_id


# -- groups ---------------------------------------------------------------------------------------
def create_group(
    sim: Simulator,
    creator: User,
    name: str,
    welcome: str,
    members: list[str],
    group_type: str,
    parent: Group | None = None,
    add_creator: bool = True,
) -> Group:
    if group_type not in GROUP_TYPES:
        raise bad_request(f"groupType must be one of {', '.join(GROUP_TYPES)}")
    if len(members) > MAX_MEMBERS_PER_CALL:
        raise bad_request(f"at most {MAX_MEMBERS_PER_CALL} members per call")
    group = Group(new_id(), name, welcome, group_type, sim.now())
    if add_creator:
        group.members[creator.mobile] = Member(new_id(), creator.mobile, "Admin")
    for number in members:
        if number not in group.members:
            sim.state.user(number)
            group.members[number] = Member(new_id(), number, "Member")
    sim.state.groups[group.group_id] = group
    if parent is not None:
        link_subgroup(sim, parent, group, creator)
    return group


def add_members(sim: Simulator, group: Group, actor: User, numbers: list[str]) -> int:
    if len(numbers) > MAX_MEMBERS_PER_CALL:
        raise bad_request(f"at most {MAX_MEMBERS_PER_CALL} members per call")
    added = 0
    for number in numbers:
        if number in group.members:
            continue
        member = Member(new_id(), number, "Member")
        group.members[number] = member
        added += 1
        emit(sim, "MemberAdded", group, ev.member_data(sim.state.user(number), "Member"), actor)
    return added


def remove_member(sim: Simulator, group: Group, actor: User, member_ref: str) -> Member:
    """Remove by member id (as GET members lists it) or by phone number."""
    member = group.members.get(member_ref) or next(
        (m for m in group.members.values() if m.member_id == member_ref), None
    )
    if member is None:
        raise not_found(f"member {member_ref} in group {group.group_id}")
    del group.members[member.mobile]
    data = ev.member_data(sim.state.user(member.mobile), member.role)
    emit(sim, "MemberRemoved", group, data, actor)
    return member


def link_subgroup(sim: Simulator, parent: Group, child: Group, actor: User) -> bool:
    """Returns False when the child already was a sub-group (Kaizala's isDuplicate)."""
    if child.group_id == parent.group_id or child.group_id in sim.state.ancestors(parent.group_id):
        raise bad_request(f"group {child.group_id} cannot be a sub-group of its own descendant")
    if child.group_id in parent.subgroups:
        return False
    parent.subgroups.append(child.group_id)
    child.parents.append(parent.group_id)
    emit(sim, "GroupAdded", parent, ev.group_link_data(child), actor)
    return True


def unlink_subgroup(sim: Simulator, parent: Group, child_id: str, actor: User) -> None:
    if child_id not in parent.subgroups:
        raise not_found(f"sub-group {child_id} of group {parent.group_id}")
    parent.subgroups.remove(child_id)
    child = sim.state.groups.get(child_id)
    if child is not None:
        child.parents.remove(parent.group_id)
        emit(sim, "GroupRemoved", parent, ev.group_link_data(child), actor)


# -- content --------------------------------------------------------------------------------------
def post_message(sim: Simulator, group: Group, sender: User, text: str) -> Message:
    message = Message(new_id(), sender.mobile, text, sim.now())
    group.messages.append(message)
    emit(sim, "TextMessageCreated", group, ev.text_message_data(text), sender)
    return message


def create_action(sim: Simulator, group: Group, sender: User, parsed: ParsedAction) -> Action:
    action = Action(
        action_id=new_id(),
        reference_id=new_id(),
        group_id=group.group_id,
        action_type=parsed.action_type,
        package_id=parsed.package_id,
        sender=sender.mobile,
        created_at=sim.now(),
        body=parsed.body,
        questions=parsed.questions,
    )
    sim.state.actions[action.action_id] = action
    kind = action.action_type
    if kind == "Survey":
        emit(sim, "SurveyCreated", group, ev.survey_created_data(action), sender, action)
    elif kind == "Job":
        emit(sim, "JobCreated", group, ev.job_created_data(action), sender, action)
    elif kind == "Announcement":
        data = ev.announcement_data(action, parsed.media, sender)
        emit(sim, "Announcement", group, data, sender, action)
    elif kind in MEDIA_ACTION_TYPES:
        data = ev.attachment_data(action, parsed.media[0])
        emit(sim, "AttachmentCreated", group, data, sender, action)
    else:
        emit(sim, "ActionCreated", group, ev.action_created_data(action), sender, action)
    return action


def record_response(
    sim: Simulator,
    action: Action,
    responder: str,
    *,
    answers: list[Any] | None = None,
    titles: list[str] | None = None,
    is_completed: bool = False,
    response_id: str | None = None,
    anonymous: bool | None = None,
    name: str | None = None,
    location: dict[str, Any] | None = None,
    duplicates: int | None = None,
) -> tuple[Response, str]:
    """Post or edit a response and raise its event; returns the response and the eventId."""
    state = sim.state
    group = state.group(action.group_id)
    if action.action_type in NO_RESPONSE_TYPES:
        raise bad_request(f"{action.action_type} actions do not take responses")
    state.require_member(group, responder)
    if action.action_type == "Job" and responder not in action.body["assignedTo"]:
        raise forbidden(f"{responder} is not assigned to job {action.action_id}")
    existing = _existing_response(action, responder, response_id)
    now = sim.now()
    survey_anonymous = bool(action.body.get("isAnonymous", False))
    if existing is None:
        response = Response(
            response_id=new_id(),
            responder=responder,
            anonymous=survey_anonymous if anonymous is None else anonymous,
            answers=answers or [],
            created_at=now,
            updated_at=now,
            is_completed=is_completed,
            name=name,
            location=location,
            titles=titles,
        )
        action.responses[response.response_id] = response
    else:
        response = existing
        response.answers = answers or []
        response.titles = titles
        response.is_completed = is_completed
        response.updated_at = now
        response.name = name if name is not None else response.name
        response.location = location if location is not None else response.location
        if anonymous is not None:
            response.anonymous = anonymous
    update = existing is not None
    person = state.user(responder)
    sender = state.user(action.sender)
    if action.action_type == "Job":
        data = ev.job_response_data(action, response, person)
        event_type = "JobResponse"
    else:
        data = ev.response_data(action, response, person, update)
        event_type = "SurveyResponse" if action.action_type == "Survey" else "ActionResponse"
    # fromUser is the action's sender, as in every published response sample.
    event_id = emit(sim, event_type, group, data, sender, action, duplicates)
    return response, event_id


def _existing_response(action: Action, responder: str, response_id: str | None) -> Response | None:
    if response_id is not None:
        found = action.responses.get(response_id)
        if found is None:
            raise not_found(f"response {response_id} of action {action.action_id}")
        if found.responder != responder:
            raise forbidden(f"response {response_id} belongs to another responder")
        return found
    single = action.action_type in ("Job", "Poll", "LetsMeet") or (
        action.action_type == "Survey" and not action.body.get("acceptMultipleResponses", False)
    )
    if not single or action.action_type == CUSTOM_ACTION_TYPE:
        return None
    # One response per person: answering again edits the earlier response, as in the app.
    return next((r for r in action.responses.values() if r.responder == responder), None)
