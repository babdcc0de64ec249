"""Group management: groups, members, sub-groups and public-group subscribers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from devtools.kaizala_sim import domain, views
from devtools.kaizala_sim.checks import MAX_MEMBERS_PER_CALL, mobile_list, opt_str, req_str
from devtools.kaizala_sim.errors import bad_request, get_ci, read_json_object
from devtools.kaizala_sim.models import Subscriber
from devtools.kaizala_sim.platform_common import caller
from devtools.kaizala_sim.state import new_id

MAX_SUBSCRIBERS_PAGE = 50


async def list_groups(request: Request) -> JSONResponse:
    who = caller(request)
    state = who.sim.state
    mine = [g for g in state.groups.values() if who.user.mobile in g.members]
    return JSONResponse({"groups": [views.group_summary(state, g, who.user.mobile) for g in mine]})


async def create_group(request: Request) -> JSONResponse:
    who = caller(request)
    body = await read_json_object(request)
    name = req_str(body, "name", "body")
    welcome = opt_str(body, "welcomeMessage", "body")
    members = mobile_list(get_ci(body, "members") or [], "members", allow_empty=True)
    group_type = opt_str(body, "groupType", "body", "Group")
    group = domain.create_group(who.sim, who.user, name, welcome, members, group_type)
    return JSONResponse({"groupId": group.group_id, "groupName": group.name, "membersAdded": True})


async def get_group(request: Request) -> JSONResponse:
    who = caller(request)
    group = who.member_group(request.path_params["groupId"])
    # The docs show the single group wrapped in a `groups` array; kept as documented.
    return JSONResponse({"groups": [views.group_summary(who.sim.state, group, who.user.mobile)]})


async def list_members(request: Request) -> JSONResponse:
    who = caller(request)
    group = who.member_group(request.path_params["groupId"])
    return JSONResponse(views.members_view(who.sim.state, group))


async def add_members(request: Request) -> JSONResponse:
    who = caller(request)
    group = who.member_group(request.path_params["groupId"])
    body = await read_json_object(request)
    numbers = mobile_list(get_ci(body, "members"), "members", allow_empty=False)
    who.sim.state.require_admin(group, who.user.mobile)
    domain.add_members(who.sim, group, who.user, numbers)
    return JSONResponse({"result": True})


async def remove_member(request: Request) -> JSONResponse:
    who = caller(request)
    group = who.member_group(request.path_params["groupId"])
    who.sim.state.require_admin(group, who.user.mobile)
    domain.remove_member(who.sim, group, who.user, request.path_params["memberId"])
    return JSONResponse({"result": True})


async def create_subgroup(request: Request) -> JSONResponse:
    who = caller(request)
    parent = who.member_group(request.path_params["groupId"])
    who.sim.state.require_admin(parent, who.user.mobile)
    body = await read_json_object(request)
    # The swagger sends the create-group body (`name`), the docs `groupName`.
    name_key = "groupName" if get_ci(body, "groupName") is not None else "name"
    name = req_str(body, name_key, "body")
    welcome = opt_str(body, "welcomeMessage", "body")
    members = mobile_list(get_ci(body, "members") or [], "members", allow_empty=True)
    group_type = opt_str(body, "groupType", "body", "Group")
    add_user = get_ci(body, "addUserToGroup")
    if add_user is not None and not isinstance(add_user, bool):
        raise bad_request("addUserToGroup must be true or false")
    group = domain.create_group(
        who.sim,
        who.user,
        name,
        welcome,
        members,
        group_type,
        parent=parent,
        add_creator=add_user is not False,
    )
    return JSONResponse({"groupId": group.group_id, "groupName": group.name})


async def list_subgroups(request: Request) -> JSONResponse:
    who = caller(request)
    group = who.member_group(request.path_params["groupId"])
    return JSONResponse(views.subgroups_view(who.sim.state, group))


async def add_subgroups(request: Request) -> JSONResponse:
    who = caller(request)
    state = who.sim.state
    parent = who.member_group(request.path_params["groupId"])
    state.require_admin(parent, who.user.mobile)
    body = await read_json_object(request)
    ids = get_ci(body, "subGroups")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise bad_request("subGroups must be a non-empty list of group ids")
    if len(ids) > MAX_MEMBERS_PER_CALL:
        raise bad_request(f"at most {MAX_MEMBERS_PER_CALL} sub-groups per call")
    children = [state.group(i) for i in ids]
    for child in children:
        state.require_admin(child, who.user.mobile)
    duplicates = {
        c.group_id for c in children if not domain.link_subgroup(who.sim, parent, c, who.user)
    }
    return JSONResponse(views.subgroups_view(state, parent, duplicates))


async def remove_subgroup(request: Request) -> JSONResponse:
    who = caller(request)
    parent = who.member_group(request.path_params["groupId"])
    who.sim.state.require_admin(parent, who.user.mobile)
    domain.unlink_subgroup(who.sim, parent, request.path_params["subGroupId"], who.user)
    return JSONResponse({"result": True})


async def list_subscribers(request: Request) -> JSONResponse:
    who = caller(request)
    group = who.member_group(request.path_params["groupId"])
    _require_public(group.group_type, group.group_id)
    body = await read_json_object(request, optional=True)
    count = get_ci(body, "count")
    count = MAX_SUBSCRIBERS_PAGE if count is None else count
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 50:
        raise bad_request(f"count must be between 1 and {MAX_SUBSCRIBERS_PAGE}")
    cursor = get_ci(body, "cursor") or "0"
    if not isinstance(cursor, str) or not cursor.isdigit():
        raise bad_request("cursor must be a cursor returned by an earlier call")
    start = int(cursor)
    everyone = list(group.subscribers.values())
    page = everyone[start : start + count]
    state = who.sim.state
    result: dict[str, object] = {
        "subscribers": [
            {
                "id": s.subscriber_id,
                "mobileNumber": s.mobile,
                "name": state.user(s.mobile).name,
                "profilePic": state.user(s.mobile).profile_pic,
                "isProvisioned": state.user(s.mobile).provisioned,
            }
            for s in page
        ]
    }
    if start + count < len(everyone):
        result["cursor"] = str(start + count)
    return JSONResponse(result)


async def change_subscribers(request: Request) -> JSONResponse:
    who = caller(request)
    group = who.member_group(request.path_params["groupId"])
    _require_public(group.group_type, group.group_id)
    who.sim.state.require_admin(group, who.user.mobile)
    body = await read_json_object(request)
    numbers = mobile_list(get_ci(body, "subscribers"), "subscribers", allow_empty=False)
    if len(numbers) > MAX_MEMBERS_PER_CALL:
        raise bad_request(f"at most {MAX_MEMBERS_PER_CALL} subscribers per call")
    adding = request.url.path.endswith("/add")
    result: dict[str, dict[str, bool]] = {}
    for number in numbers:
        if adding:
            if number not in group.subscribers:
                who.sim.state.user(number)
                group.subscribers[number] = Subscriber(new_id(), number)
            result[number] = {"isAdded": True}
        else:
            result[number] = {"isRemoved": group.subscribers.pop(number, None) is not None}
    return JSONResponse({"result": result})


def _require_public(group_type: str, group_id: str) -> None:
    if group_type != "ConnectGroup":
        raise bad_request(f"group {group_id} is not a public (ConnectGroup) group")


def routes() -> list[BaseRoute]:
    g = "/groups/{groupId}"
    found: list[BaseRoute] = [
        Route("/groups", list_groups, methods=["GET"]),
        Route("/groups", create_group, methods=["POST"]),
        Route(g, get_group, methods=["GET"]),
        Route(f"{g}/members", list_members, methods=["GET"]),
        Route(f"{g}/members", add_members, methods=["PUT"]),
        Route(f"{g}/members/{{memberId}}", remove_member, methods=["DELETE"]),
        Route(f"{g}/subscribers", list_subscribers, methods=["POST"]),
        Route(f"{g}/subscribers/add", change_subscribers, methods=["PUT"]),
        Route(f"{g}/subscribers/remove", change_subscribers, methods=["PUT"]),
    ]
    # The swagger spells the path `subgroups` for POST and `subGroups` elsewhere: take both.
    for spelling in ("subGroups", "subgroups"):
        found += [
            Route(f"{g}/{spelling}", create_subgroup, methods=["POST"]),
            Route(f"{g}/{spelling}", list_subgroups, methods=["GET"]),
            Route(f"{g}/{spelling}", add_subgroups, methods=["PUT"]),
            Route(f"{g}/{spelling}/{{subGroupId}}", remove_subgroup, methods=["DELETE"]),
        ]
    return found
