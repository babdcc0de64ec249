"""Content creation and query: messages, actions, responses, reminders and media."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from devtools.kaizala_sim import domain, multipart, views
from devtools.kaizala_sim.answers import normalize_answers
from devtools.kaizala_sim.checks import MAX_MESSAGE_CHARS, location, opt_str
from devtools.kaizala_sim.errors import ApiError, bad_request, get_ci, not_found, read_json_object
from devtools.kaizala_sim.models import CUSTOM_ACTION_TYPE, Media
from devtools.kaizala_sim.platform_common import base_url, caller, sim_of
from devtools.kaizala_sim.state import new_id
from devtools.kaizala_sim.validation import canonical_action_type, parse_action

DEFAULT_ACTIONS_PAGE = 30
MAX_ACTIONS_PAGE = 100


async def send_message(request: Request) -> JSONResponse:
    who = caller(request)
    group = who.member_group(request.path_params["groupId"])
    body = await read_json_object(request)
    text = get_ci(body, "message")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("message must be a non-empty string")
    if len(text) > MAX_MESSAGE_CHARS:
        raise bad_request(f"message is longer than {MAX_MESSAGE_CHARS} characters")
    subscribers = get_ci(body, "subscribers")
    to_all = get_ci(body, "sendToAllSubscribers")
    if (subscribers or to_all) and group.group_type != "ConnectGroup":
        raise bad_request("subscribers and sendToAllSubscribers apply to public groups only")
    if to_all is not None and not isinstance(to_all, bool):
        raise bad_request("sendToAllSubscribers must be true or false")
    message = domain.post_message(who.sim, group, who.user, text)
    return JSONResponse({"referenceId": message.reference_id})


async def create_action(request: Request) -> JSONResponse:
    who = caller(request)
    group = who.member_group(request.path_params["groupId"])
    body = await read_json_object(request)
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
    details = request.query_params.get("getDetails", "false").lower() == "true"
    return JSONResponse(views.action_details(state, action, details))


async def post_response(request: Request) -> JSONResponse:
    who = caller(request)
    state = who.sim.state
    group = who.member_group(request.path_params["groupId"])
    action = state.action(group, request.path_params["actionId"])
    body = await read_json_object(request)
    _check_response_kind(body, action.action_type, action.package_id)
    action_body = get_ci(body, "actionBody")
    if not isinstance(action_body, dict):
        raise bad_request("actionBody must be a JSON object")
    response_id = get_ci(body, "responseId")
    if response_id is not None and not isinstance(response_id, str):
        raise bad_request("responseId must be a string")
    if action.action_type == "Job":
        completed = get_ci(action_body, "isCompleted")
        if not isinstance(completed, bool):
            raise bad_request("actionBody.isCompleted must be true or false")
        response, _ = domain.record_response(
            who.sim, action, who.user.mobile, is_completed=completed, response_id=response_id
        )
        return JSONResponse({"responseId": response.response_id})
    answers, titles = normalize_answers(
        state, action, get_ci(action_body, "answers"), "actionBody.Answers"
    )
    raw_location = get_ci(action_body, "responseLocation")
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


def _check_response_kind(body: dict[str, object], action_type: str, package_id: str | None) -> None:
    """The body names the action kind (actionType or package id); it must be this action's."""
    raw_type = get_ci(body, "actionType")
    raw_id = get_ci(body, "id")
    if raw_type is None and raw_id is None:
        raise bad_request("give actionType (e.g. Survey, Job) or id (the action package id)")
    if raw_type is not None and canonical_action_type(raw_type) != action_type:
        raise bad_request(f"this action is a {action_type}, not a {raw_type}")
    if raw_id is not None and action_type == CUSTOM_ACTION_TYPE and raw_id != package_id:
        raise bad_request(f"this action belongs to package {package_id}, not {raw_id}")


async def send_reminder(request: Request) -> JSONResponse:
    who = caller(request)
    state = who.sim.state
    group = who.member_group(request.path_params["groupId"])
    action = state.action(group, request.path_params["actionId"])
    body = await read_json_object(request, optional=True)
    subscribers = get_ci(body, "subscribers")
    to_all = get_ci(body, "sendToAllSubscribers")
    if to_all is not None and not isinstance(to_all, bool):
        raise bad_request("sendToAllSubscribers must be true or false")
    if subscribers is not None and (
        not isinstance(subscribers, list) or not all(isinstance(s, str) for s in subscribers)
    ):
        raise bad_request("subscribers must be a list of phone numbers")
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
