"""Validation of action bodies, as documented for each action type.

A request is first held to its documented schema (action_schemas.py: exact names, required
fields, types), then to the rules a schema cannot say (non-empty titles, members, limits).
Every problem is a 400 with a message naming the offending field, so a client under test sees
what it got wrong. Accepted bodies are normalized (defaults filled in).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from devtools.kaizala_sim import action_schemas, spec
from devtools.kaizala_sim.checks import (
    MAX_MESSAGE_CHARS,
    is_number,
    location,
    mobile_list,
    opt_bool,
    opt_str,
    opt_whole,
    req_str,
)
from devtools.kaizala_sim.errors import bad_request
from devtools.kaizala_sim.models import (
    BUILTIN_ACTION_TYPES,
    CUSTOM_ACTION_TYPE,
    LETS_MEET_OPTIONS,
    OPTION_TYPES,
    PROPERTY_TYPES,
    QUESTION_TYPES,
    Group,
    Media,
    Question,
)
from devtools.kaizala_sim.state import SimState

MAX_QUESTIONS = 100


@dataclass
class ParsedAction:
    action_type: str
    package_id: str | None
    body: dict[str, Any]
    questions: list[Question]
    media: list[Media]


def parse_action(state: SimState, group: Group, request: dict[str, Any]) -> ParsedAction:
    if "id" in request:  # an action package (custom action)
        schema, relax = action_schemas.custom(request)
        spec.check(request, schema, relax=relax)
        package_id = request["id"]
        if not package_id.strip():
            raise bad_request("body.id must be a non-empty action package id")
        _check_audience(group, request, custom=True)
        return ParsedAction(CUSTOM_ACTION_TYPE, package_id, _custom(request["actionBody"]), [], [])
    raw_type = request.get("actionType", request.get("actiontype"))
    if raw_type is None:
        _no_kind(request)
    action_type = canonical_action_type(raw_type)
    schema, relax = action_schemas.builtin(action_type, request)
    spec.check(request, schema, relax=relax)
    _check_audience(group, request)
    body: dict[str, Any] = request["actionBody"]
    if action_type == "Survey":
        parsed_body, questions = _survey(body)
        return ParsedAction(action_type, None, parsed_body, questions, [])
    if action_type == "Job":
        return ParsedAction(action_type, None, _job(state, group, body), [], [])
    if action_type == "Poll":
        parsed_body = _poll(body)
        options = [c["title"] for c in parsed_body["choices"]]
        question = Question(parsed_body["question"], "SingleOption", options)
        return ParsedAction(action_type, None, parsed_body, [question], [])
    if action_type == "LetsMeet":
        parsed_body = _lets_meet(body)
        question = Question(parsed_body["title"], "SingleOption", list(LETS_MEET_OPTIONS))
        return ParsedAction(action_type, None, parsed_body, [question], [])
    if action_type == "Announcement":
        parsed_body, media = _announcement(state, body)
        return ParsedAction(action_type, None, parsed_body, [], media)
    parsed_body, item = _media_action(state, body)
    return ParsedAction(action_type, None, parsed_body, [], [item])


def _no_kind(request: dict[str, Any]) -> None:
    """Neither actionType nor id: name a key that is one of them in the wrong case."""
    for key in request:
        if key.lower() in ("id", "actiontype"):
            spelled = "id" if key.lower() == "id" else "actionType"
            raise bad_request(
                f"body.{key} is not a field of this request; the swagger spells it {spelled!r} "
                "(names are case-sensitive)"
            )
    raise bad_request("give either actionType or id (an action package id)")


def canonical_action_type(raw: Any) -> str:
    if isinstance(raw, str):
        for known in BUILTIN_ACTION_TYPES:
            if known.lower() == raw.lower():
                return known
    raise bad_request(f"actionType must be one of {', '.join(BUILTIN_ACTION_TYPES)}")


def _check_audience(group: Group, request: dict[str, Any], *, custom: bool = False) -> None:
    """Public-group audience: subscribers[] and sendToAllSubscribers (types checked already)."""
    subscribers = request.get("subscribers")
    to_all = request.get("sendToAllSubscribers")
    if subscribers is None and to_all is None:
        return
    if group.group_type != "ConnectGroup":
        raise bad_request("subscribers and sendToAllSubscribers apply to public groups only")
    if subscribers is not None:
        for number in mobile_list(subscribers, "body.subscribers", allow_empty=True):
            if number not in group.subscribers:
                raise bad_request(f"{number} is not a subscriber of group {group.group_id}")
    if custom and not to_all and not subscribers:
        raise bad_request("name the subscribers, or set sendToAllSubscribers to true")


def _survey(body: dict[str, Any]) -> tuple[dict[str, Any], list[Question]]:
    where = "actionBody"
    title = req_str(body, "title", where)
    raw_questions = body.get("questions")
    if not isinstance(raw_questions, list) or not raw_questions:
        raise bad_request(f"{where}.questions must be a non-empty list")
    if len(raw_questions) > MAX_QUESTIONS:
        raise bad_request(f"{where}.questions has more than {MAX_QUESTIONS} questions")
    questions = [_question(q, f"{where}.questions[{i}]") for i, q in enumerate(raw_questions)]
    parsed = {
        "title": title,
        "dueDate": opt_whole(body, "dueDate", where, 24),
        "isAnonymous": opt_bool(body, "isAnonymous", where),
        "isSenderOnly": opt_bool(body, "isSenderOnly", where),
        "acceptMultipleResponses": opt_bool(body, "acceptMultipleResponses", where),
    }
    return parsed, questions


def _question(raw: Any, where: str) -> Question:
    if not isinstance(raw, dict):
        raise bad_request(f"{where} must be an object with title and type")
    title = req_str(raw, "title", where)
    canonical = raw.get("type")
    if canonical not in QUESTION_TYPES:
        raise bad_request(f"{where}.type must be one of {', '.join(QUESTION_TYPES)}")
    raw_options = raw.get("options")
    options: list[str] = []
    if canonical in OPTION_TYPES:
        options = _titles(raw_options, f"{where}.options", minimum=1)
    elif raw_options not in (None, []):
        raise bad_request(f"{where}.options apply to SingleOption and MultiOption questions only")
    invisible = opt_bool(raw, "isInvisible", where)
    return Question(title, canonical, options, invisible)


def _titles(raw: Any, where: str, minimum: int) -> list[str]:
    if not isinstance(raw, list) or len(raw) < minimum:
        raise bad_request(f'{where} must be a list of at least {minimum} {{"title": ...}} objects')
    titles: list[str] = []
    for i, option in enumerate(raw):
        if not isinstance(option, dict):
            raise bad_request(f"{where}[{i}] must be an object with a title")
        titles.append(req_str(option, "title", f"{where}[{i}]"))
    if len(set(titles)) != len(titles):
        raise bad_request(f"{where} has duplicate titles")
    return titles


def _job(state: SimState, group: Group, body: dict[str, Any]) -> dict[str, Any]:
    where = "actionBody"
    title = req_str(body, "title", where)
    assigned = mobile_list(body.get("assignedTo"), f"{where}.assignedTo", allow_empty=False)
    for number in assigned:
        if not state.is_member(group, number):
            raise bad_request(f"{where}.assignedTo: {number} is not a member of the group")
    return {
        "title": title,
        "assignedTo": assigned,
        "dueDate": opt_whole(body, "dueDate", where, 24),
    }


def _poll(body: dict[str, Any]) -> dict[str, Any]:
    where = "actionBody"
    question = req_str(body, "question", where)
    raw_choices = body["choices"]
    titles = _titles(raw_choices, f"{where}.choices", minimum=2)
    choices: list[dict[str, Any]] = []
    for title, raw in zip(titles, raw_choices, strict=True):
        image = raw.get("image")
        if image is not None and not isinstance(image, str):
            raise bad_request(f"{where}.choices image must be a mediaResource string")
        choices.append({"title": title, **({"image": image} if image else {})})
    return {
        "question": question,
        "choices": choices,
        "expiryInHours": opt_whole(body, "expiryInHours", where, 720),
        "isSenderOnly": opt_bool(body, "isSenderOnly", where),
    }


def _lets_meet(body: dict[str, Any]) -> dict[str, Any]:
    where = "actionBody"
    title = req_str(body, "title", where)
    starting = body["startingTime"]
    if is_number(starting):
        start_iso = datetime.fromtimestamp(starting / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    elif isinstance(starting, str):
        try:
            parsed = datetime.fromisoformat(starting.replace("Z", "+00:00"))
        except ValueError:
            raise bad_request(f"{where}.startingTime must be an ISO 8601 date-time") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        start_iso = parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        raise bad_request(f"{where}.startingTime is required (ISO 8601 or epoch ms)")
    # The docs name the field DurationInMins but their sample sends `duration`.
    duration_key = "durationInMins" if body.get("durationInMins") is not None else "duration"
    place = body.get("place")
    return {
        "title": title,
        "startingTime": start_iso,
        "duration": opt_whole(body, duration_key, where, 30, "minutes"),
        "place": None if place is None else location(place, f"{where}.place"),
        "agenda": opt_str(body, "agenda", where),
        "isSenderOnly": opt_bool(body, "isSenderOnly", where),
    }


def _announcement(state: SimState, body: dict[str, Any]) -> tuple[dict[str, Any], list[Media]]:
    where = "actionBody"
    # Two documented spellings (see action_schemas.builtin): {message} or {Message, ...}.
    key = "message" if "message" in body else "Message"
    message = req_str(body, key, where, MAX_MESSAGE_CHARS)
    title = opt_str(body, "Title", where)
    raw_media = body.get("MediaResources") or []
    media = [state.media_for(r, f"{where}.MediaResources[{i}]") for i, r in enumerate(raw_media)]
    parsed = {"title": title, "message": message, "mediaResources": [m.resource for m in media]}
    return parsed, media


def _media_action(state: SimState, body: dict[str, Any]) -> tuple[dict[str, Any], Media]:
    where = "actionBody"
    media = state.media_for(body.get("mediaResource"), f"{where}.mediaResource")
    caption = opt_str(body, "caption", where)
    return {"mediaResource": media.resource, "caption": caption}, media


def _custom(body: dict[str, Any]) -> dict[str, Any]:
    where = "actionBody"
    properties = body.get("properties")
    if properties is None:
        # The {title, validity} override (the swagger's subscriber body and custom example).
        title = req_str(body, "title", where)
        validity = opt_whole(body, "validity", where, 24)
        return {"title": title, "validity": validity}
    if not properties:
        raise bad_request(f"{where}.properties must be a non-empty list")
    parsed: list[dict[str, str]] = []
    for i, prop in enumerate(properties):
        pwhere = f"{where}.properties[{i}]"
        name = req_str(prop, "name", pwhere)
        if prop["type"] not in PROPERTY_TYPES:
            raise bad_request(f"{pwhere}.type must be one of {', '.join(PROPERTY_TYPES)}")
        parsed.append({"name": name, "type": prop["type"], "value": prop["value"]})
    title = next((p["value"] for p in parsed if p["name"].lower() == "title"), "")
    return {"title": title, "properties": parsed}
