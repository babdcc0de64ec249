"""Kaizala groups and their members: POST /api/groups, GET|PUT /api/groups/{id}/members,
DELETE /api/groups/{id}/members/{memberId}."""

from __future__ import annotations

import re

import azure.functions as func

from functions.http import handle_errors, idempotency_key, json_response, parse_body
from shared.domain.actions import ID_PATTERN
from shared.domain.groups import AddMembersRequest, CreateGroupRequest
from shared.errors import NotFoundError
from shared.runtime import get_runtime

bp = func.Blueprint()


def _route_id(req: func.HttpRequest, name: str, what: str) -> str:
    # Ids never reach a Kaizala URL unchecked; a malformed one names nothing that exists.
    value = str(req.route_params.get(name, ""))
    if not re.fullmatch(ID_PATTERN, value):
        raise NotFoundError(f"No {what} with that id.")
    return value


@bp.route(route="groups", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@handle_errors
async def create_group(req: func.HttpRequest) -> func.HttpResponse:
    key = idempotency_key(req)
    body = parse_body(req, CreateGroupRequest)
    outcome = await get_runtime().group_service.create(body, key)
    return json_response(outcome.body.model_dump(), outcome.http_status)


@bp.route(route="groups/{groupId}/members", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handle_errors
async def list_group_members(req: func.HttpRequest) -> func.HttpResponse:
    group_id = _route_id(req, "groupId", "group")
    members = await get_runtime().group_service.list_members(group_id)
    return json_response(members.model_dump())


@bp.route(route="groups/{groupId}/members", methods=["PUT"], auth_level=func.AuthLevel.FUNCTION)
@handle_errors
async def add_group_members(req: func.HttpRequest) -> func.HttpResponse:
    group_id = _route_id(req, "groupId", "group")
    body = parse_body(req, AddMembersRequest)
    added = await get_runtime().group_service.add_members(group_id, body.numbers())
    return json_response(added.model_dump())


@bp.route(
    route="groups/{groupId}/members/{memberId}",
    methods=["DELETE"],
    auth_level=func.AuthLevel.FUNCTION,
)
@handle_errors
async def remove_group_member(req: func.HttpRequest) -> func.HttpResponse:
    group_id = _route_id(req, "groupId", "group")
    member_id = _route_id(req, "memberId", "member")
    await get_runtime().group_service.remove_member(group_id, member_id)
    return func.HttpResponse(status_code=204)
