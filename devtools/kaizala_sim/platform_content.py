"""Content creation and query: messages, actions, responses, reminders and media."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from devtools.kaizala_sim import action_schemas, domain, multipart, spec, views, wire
from devtools.kaizala_sim.answers import normalize_answers
from devtools.kaizala_sim.checks import (
    MAX_MESSAGE_CHARS,
    MAX_SUBSCRIBER_MESSAGE_CHARS,
    location,
    mobile_list,
    opt_str,
)
from devtools.kaizala_sim.errors import ApiError, bad_request, not_found, read_json_object
from devtools.kaizala_sim.models import CUSTOM_ACTION_TYPE, Action, Media
from devtools.kaizala_sim.platform_common import base_url, caller, sim_of
from devtools.kaizala_sim.state import new_id
from devtools.kaizala_sim.validation import canonical_action_type, parse_action

# The audience of SendMessageToSubscriber: a body with one of them is one.
_SUBSCRIBER_FIELDS = ("subscribers", "sendToAllSubscribers")

DEFAULT_ACTIONS_PAGE = 30
MAX_ACTIONS_PAGE = 100


async def send_message(request: Request) -> JSONResponse:
    """SendMessage `{message}` or, to a public group's subscribers, SendMessageToSubscriber
    `{Message, subscribers, sendToAllSubscribers}`: one path, two documented bodies."""
    who = caller(request)
    group = who.member_group(request.path_params["groupId"])
    body = await wire.raw_json_body(request)
    if any(key in body for key in _SUBSCRIBER_FIELDS):
        spec.check(body, spec.body_schema("SendMessageToSubscriber"))
        text = _message_text(body, "Message", MAX_SUBSCRIBER_MESSAGE_CHARS)
        if group.group_type != "ConnectGroup":
            raise bad_request("subscribers and sendToAllSubscribers apply to public groups only")
        numbers = mobile_list(body["subscribers"], "body.subscribers", allow_empty=True)
        for number in numbers:
            if number not in group.subscribers:
                raise bad_request(f"{number} is not a subscriber of group {group.group_id}")
        if not numbers and not body["sendToAllSubscribers"]:
            raise bad_request("name the subscribers, or set sendToAllSubscribers to true")
    else:
        spec.check(body, spec.body_schema("SendMessage"))
        text = _message_text(body, "message", MAX_MESSAGE_CHARS)
    message = domain.post_message(who.sim, group, who.user, text)
    return JSONResponse({"referenceId": message.reference_id})


def _message_text(body: dict[str, object], key: str, limit: int) -> str:
    text = body[key]
    if not isinstance(text, str) or not text.strip():
        raise bad_request(f"body.{key} must be a non-empty string")
    if len(text) > limit:
        raise bad_request(f"body.{key} is longer than {limit} characters")
    return text


async def create_action(request: Request) -> JSONResponse:
    who = caller(request)
    group = who.member_group(request.path_params["groupId"])
    body = await wire.raw_json_body(request)
    parsed = parse_action(who.sim.state, group, body)
    action = domain.create_action(who.sim, group, who.user, parsed)
    return JSONResponse({"referenceId": action.reference_id, "actionId": action.action_id})


async def list_actions(request: Request) -> JSONResponse:
    who = caller(request)
    state = who.sim.state
    group = who.member_group(request.path_params["groupId"])
    query = request.query_params
    wanted = query.get("actionType")
    if not wanted:
        raise bad_request("the actionType query parameter is required")
    count = _int_param(query.get("count"), "count", DEFAULT_ACTIONS_PAGE)
    if not 1 <= count <= MAX_ACTIONS_PAGE:
        raise bad_request(f"count must be between 1 and {MAX_ACTIONS_PAGE}")
    from_date = _int_param(query.get("fromDate"), "fromDate", 0)
    if 0 < from_date < 10**11:
        from_date *= 1000  # epoch seconds, as some published samples use
    found = sorted(
        (
            a
            for a in state.actions.values()
            if a.group_id == group.group_id
            and views.matches_type(a, wanted)
            and a.created_at * 1000 >= from_date
        ),
        key=lambda a: a.created_at,
    )
    page = found[:count]
    return JSONResponse(
        {"actions": [views.action_item(state, a) for a in page], "hasMore": len(found) > count}
    )


def _int_param(raw: str | None, name: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f"{name} must be a whole number") from None


async def get_action(request: Request) -> JSONResponse:
    who = caller(request)
    state = who.sim.state
    group = who.member_group(request.path_params["groupId"])
    action = state.action(group, request.path_params["actionId"])
    details = wire.query_flag(request, "getDetails")
    return JSONResponse(views.action_details(state, action, details))


async def post_response(request: Request) -> JSONResponse:
    """PostingSurveyResponse for a survey, PostingActionResponse for any other action."""
    who = caller(request)
    state = who.sim.state
    group = who.member_group(request.path_params["groupId"])
    action = state.action(group, request.path_params["actionId"])
    schema, relax = action_schemas.response(action.action_type)
    body = await wire.json_body(request, schema, relax=relax)
    _check_response_kind(body, action)
    action_body = body["actionBody"]
    response_id = body.get("responseId")
    if action.action_type == "Job":
        response, _ = domain.record_response(
            who.sim,
            action,
            who.user.mobile,
            is_completed=action_body["isCompleted"],
            response_id=response_id,
        )
        return JSONResponse({"responseId": response.response_id})
    answers, titles = normalize_answers(state, action, action_body["Answers"], "actionBody.Answers")
    raw_location = action_body.get("responseLocation")
    response, _ = domain.record_response(
        who.sim,
        action,
        who.user.mobile,
        answers=answers,
        titles=titles,
        response_id=response_id,
        name=opt_str(action_body, "responseName", "actionBody") or None,
        location=None
        if raw_location is None
        else location(raw_location, "actionBody.responseLocation"),
    )
    return JSONResponse({"responseId": response.response_id})


def _check_response_kind(body: dict[str, object], action: Action) -> None:
    """The body names the action (actionType, or id: its package or its own id): this one."""
    raw_type = body.get("actionType")
    raw_id = body.get("id")
    if raw_type is None and raw_id is None:
        raise bad_request("give actionType (e.g. Survey, Job) or id (the action package id)")
    # A custom action has no actionType of its own (the swagger's enum: Survey/Job).
    builtin = action.action_type != CUSTOM_ACTION_TYPE
    if raw_type is not None and builtin and canonical_action_type(raw_type) != action.action_type:
        raise bad_request(f"this action is a {action.action_type}, not a {raw_type}")
    if raw_id is not None and raw_id not in (action.package_id, action.action_id):
        what = f"package {action.package_id}" if action.package_id else "this action"
        raise bad_request(f"body.id {raw_id!r} does not name {what}")


async def send_reminder(request: Request) -> JSONResponse:
    who = caller(request)
    state = who.sim.state
    group = who.member_group(request.path_params["groupId"])
    action = state.action(group, request.path_params["actionId"])
    body = await read_json_object(request, optional=True)
    if body:
        wire.require_json(request)
        spec.check(body, {"type": "object", "properties": action_schemas.AUDIENCE})
    if body.get("subscribers") is not None:
        mobile_list(body["subscribers"], "body.subscribers", allow_empty=True)
    action.reminders += 1
    return JSONResponse({"referenceId": new_id()})


async def upload_media(request: Request) -> JSONResponse:
    who = caller(request)
    limit = who.sim.config.max_media_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "PayloadTooLarge", f"media larger than {limit} bytes")
    raw = await request.body()
    if len(raw) > limit:
        raise ApiError(413, "PayloadTooLarge", f"media larger than {limit} bytes")
    try:
        parts = multipart.parse(request.headers.get("content-type", ""), raw)
    except multipart.NotMultipartError as exc:
        raise ApiError(415, "UnsupportedMediaType", str(exc)) from None
    except multipart.MalformedMultipartError as exc:
        raise bad_request(str(exc)) from None
    files = [p for p in parts if p.filename]
    if not files:
        raise bad_request("no file part in the upload (form field FileName)")
    part = files[0]
    if part.content_type is None:
        # Documented: without the file's own content type the API answers 415.
        raise ApiError(415, "UnsupportedMediaType", "the file part needs its Content-Type")
    media_id = new_id()
    file_name = part.filename or "file"
    url = f"{base_url(request)}media/{media_id}/{quote(file_name, safe='')}"
    descriptor = {"Id": media_id, "Name": file_name, "Size": len(part.data), "Url": url}
    resource = base64.b64encode(json.dumps(descriptor).encode()).decode()
    media = Media(media_id, resource, file_name, part.content_type, bytes(part.data), url)
    who.sim.state.media[media_id] = media
    who.sim.state.media_by_resource[resource] = media
    return JSONResponse(
        {"mediaResource": resource, "mediaUrl": url, "mediaId": media_id, "fileName": file_name}
    )


async def download_media(request: Request) -> Response:
    """Serves uploaded bytes, like Kaizala's CDN links (which carried their own SAS, no token)."""
    media = sim_of(request).state.media.get(request.path_params["mediaId"])
    if media is None:
        raise not_found("media")
    return Response(media.data, media_type=media.content_type)


def routes() -> list[BaseRoute]:
    g = "/groups/{groupId}"
    return [
        Route(f"{g}/messages", send_message, methods=["POST"]),
        Route(f"{g}/actions", create_action, methods=["POST"]),
        Route(f"{g}/actions", list_actions, methods=["GET"]),
        Route(f"{g}/actions/{{actionId}}", get_action, methods=["GET"]),
        Route(f"{g}/actions/{{actionId}}/responses", post_response, methods=["POST"]),
        Route(f"{g}/actions/{{actionId}}/reminder", send_reminder, methods=["POST"]),
        Route("/media", upload_media, methods=["POST"]),
    ]
