"""Group management: groups, members, sub-groups and public-group subscribers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from devtools.kaizala_sim import domain, spec, views, wire
from devtools.kaizala_sim.checks import MAX_MEMBERS_PER_CALL, mobile_list, req_str
from devtools.kaizala_sim.errors import bad_request, unauthorized
from devtools.kaizala_sim.models import Subscriber
from devtools.kaizala_sim.platform_common import caller
from devtools.kaizala_sim.state import PHONE_LIKE, new_id

MAX_SUBSCRIBERS_PAGE = 50  # Kaizala's docs: count "Default: 50. Maximum: 50"


async def list_groups(request: Request) -> JSONResponse:
    who = caller(request)
    state = who.sim.state
    mine = [g for g in state.groups.values() if who.user.mobile in g.members]
    return JSONResponse({"groups": [views.group_summary(state, g, who.user.mobile) for g in mine]})


async def create_group(request: Request) -> JSONResponse:
    who = caller(request)
    body = await wire.json_body(request, spec.body_schema("CreateGroup"))
    name = req_str(body, "name", "body")
    members = mobile_list(body["members"], "body.members", allow_empty=True)
    group = domain.create_group(
        who.sim, who.user, name, body["welcomeMessage"], members, body["groupType"]
    )
    return JSONResponse({"groupId": group.group_id, "groupName": group.name, "membersAdded": True})


async def get_group(request: Request) -> JSONResponse:
    who = caller(request)
    # FetchGroupDetails alone requires the connector's applicationId next to the token.
    application_id = wire.require_header(request, "applicationId")
    if application_id != who.connector.application_id:
        raise unauthorized("applicationId is not the connector of this access token")
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
    body = await wire.json_body(request, spec.body_schema("AddMembers"))
    numbers = mobile_list(body["members"], "body.members", allow_empty=False)
    if len(numbers) > MAX_MEMBERS_PER_CALL:
        raise bad_request(f"at most {MAX_MEMBERS_PER_CALL} members per call")
    who.sim.state.require_admin(group, who.user.mobile)
    domain.add_members(who.sim, group, who.user, numbers)
    return JSONResponse({"result": True})


async def remove_member(request: Request) -> JSONResponse:
    who = caller(request)
    group = who.member_group(request.path_params["groupId"])
    who.sim.state.require_admin(group, who.user.mobile)
    member_id = request.path_params["memberId"]
    if PHONE_LIKE.match(member_id):
        # The swagger's path names a member by its id (a GUID), as GET members lists it.
        raise bad_request("memberId must be the member's id from GET members, not a phone number")
    domain.remove_member(who.sim, group, who.user, member_id)
    return JSONResponse({"result": True})


async def create_subgroup(request: Request) -> JSONResponse:
    who = caller(request)
    parent = who.member_group(request.path_params["groupId"])
    who.sim.state.require_admin(parent, who.user.mobile)
    # The create-group body; addUserToGroup (default true) is the simulator's README's.
    relax = spec.Relax(extra={"addUserToGroup": {"type": "boolean"}})
    body = await wire.json_body(request, spec.body_schema("CreateSubgroup"), relax=relax)
    name = req_str(body, "name", "body")
    welcome = body["welcomeMessage"]
    members = mobile_list(body["members"], "body.members", allow_empty=True)
    group_type = body["groupType"]
    add_user = body.get("addUserToGroup")
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
    body = await wire.json_body(request, spec.body_schema("AddSubgroup"))
    ids = body["subGroups"]
    if not ids:
        raise bad_request("body.subGroups must be a non-empty list of group ids")
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
    body = await wire.json_body(request, spec.body_schema("GetSubscribers"))
    count = body["count"]
    if not 1 <= count <= MAX_SUBSCRIBERS_PAGE:
        raise bad_request(f"body.count must be between 1 and {MAX_SUBSCRIBERS_PAGE}")
    cursor = body["cursor"] or "0"  # "" starts at the beginning
    if not cursor.isdigit():
        raise bad_request("body.cursor must be empty or a cursor returned by an earlier call")
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
    adding = request.url.path.endswith("/add")
    operation = "AddSubscribers" if adding else "RemoveSubscribers"
    body = await wire.json_body(request, spec.body_schema(operation))
    numbers = mobile_list(body["subscribers"], "body.subscribers", allow_empty=False)
    if len(numbers) > MAX_MEMBERS_PER_CALL:
        raise bad_request(f"at most {MAX_MEMBERS_PER_CALL} subscribers per call")
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
    # As the swagger spells them: `subgroups` to create one, `subGroups` for the rest.
    found += [
        Route(f"{g}/subgroups", create_subgroup, methods=["POST"]),
        Route(f"{g}/subGroups", list_subgroups, methods=["GET"]),
        Route(f"{g}/subGroups", add_subgroups, methods=["PUT"]),
        Route(f"{g}/subGroups/{{subGroupId}}", remove_subgroup, methods=["DELETE"]),
    ]
    return found
