"""Groups, sub-groups, members and subscribers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.adapters.kaizala.answers import dump, parse, parse_list, read_json
from shared.adapters.kaizala.api_base import PlatformApi
from shared.adapters.kaizala.endpoints import segment
from shared.adapters.kaizala.errors import KaizalaNotFoundError
from shared.adapters.kaizala.models_base import OperationResult, build
from shared.adapters.kaizala.models_groups import (
    Group,
    GroupCreate,
    GroupCreated,
    GroupType,
    Member,
    MembersAdd,
    SubGroupsAdd,
    SubscribersChange,
    SubscribersPage,
    SubscribersQuery,
)


class GroupsApi(PlatformApi):
    async def list_groups(self) -> list[Group]:
        call, response = await self._platform("GET", "groups", "groups")
        return parse_list(Group, response, call, "groups")

    async def get_group(self, group_id: str) -> Group:
        """FetchGroupDetails: the one call that also requires the `applicationId` header (the
        token's connector)."""
        gid = segment(group_id, "group_id")
        call, response = await self._platform(
            "GET", "groups/{groupId}", f"groups/{gid}", application_id_header=True
        )
        data = read_json(response, call)
        if (
            isinstance(data, dict)
            and "groupId" not in data
            and isinstance(data.get("groups"), list)
        ):
            # Some deployments wrap the one group in a list, like `GET groups`.
            groups = parse_list(Group, response, call, "groups")
            match = [g for g in groups if g.groupId == group_id] or groups[:1]
            if not match:
                raise KaizalaNotFoundError(
                    "Kaizala returned no group",
                    upstream_status=response.status_code,
                    **call.error_kwargs(),
                )
            return match[0]
        return parse(Group, response, call)

    async def create_group(
        self,
        name: str,
        *,
        welcome_message: str | None = None,
        members: Sequence[str] | None = None,
        group_type: GroupType | None = None,
    ) -> GroupCreated:
        """CreateGroup. The body always has the four fields the swagger requires; see
        `GroupCreate` for the defaults of those not given."""
        body = _group_create(name, welcome_message, members, group_type)
        call, response = await self._platform("POST", "groups", "groups", json_body=dump(body))
        return parse(GroupCreated, response, call)

    async def list_members(self, group_id: str) -> list[Member]:
        gid = segment(group_id, "group_id")
        call, response = await self._platform(
            "GET", "groups/{groupId}/members", f"groups/{gid}/members"
        )
        return parse_list(Member, response, call, "members")

    async def add_members(self, group_id: str, members: Sequence[str]) -> OperationResult:
        gid = segment(group_id, "group_id")
        body = MembersAdd(members=list(members))
        call, response = await self._platform(
            "PUT", "groups/{groupId}/members", f"groups/{gid}/members", json_body=dump(body)
        )
        return parse(OperationResult, response, call)

    async def remove_member(self, group_id: str, member_id: str) -> None:
        """RemoveMembers: `member_id` is the member's id as `list_members` gives it (the
        swagger's path holds a GUID), never a phone number."""
        gid = segment(group_id, "group_id")
        mid = segment(member_id, "member_id")
        await self._platform(
            "DELETE", "groups/{groupId}/members/{memberId}", f"groups/{gid}/members/{mid}"
        )

    async def create_subgroup(
        self,
        group_id: str,
        name: str,
        *,
        welcome_message: str | None = None,
        members: Sequence[str] | None = None,
        group_type: GroupType | None = None,
    ) -> GroupCreated:
        gid = segment(group_id, "group_id")
        body = _group_create(name, welcome_message, members, group_type)
        call, response = await self._platform(
            "POST", "groups/{groupId}/subgroups", f"groups/{gid}/subgroups", json_body=dump(body)
        )
        return parse(GroupCreated, response, call)

    async def add_subgroups(self, group_id: str, sub_group_ids: Sequence[str]) -> OperationResult:
        gid = segment(group_id, "group_id")
        body = SubGroupsAdd(subGroups=list(sub_group_ids))
        call, response = await self._platform(
            "PUT", "groups/{groupId}/subGroups", f"groups/{gid}/subGroups", json_body=dump(body)
        )
        return parse(OperationResult, response, call)

    async def list_subgroups(self, group_id: str) -> Group:
        """The group with its `subGroups` (that is how Kaizala answers)."""
        gid = segment(group_id, "group_id")
        call, response = await self._platform(
            "GET", "groups/{groupId}/subGroups", f"groups/{gid}/subGroups"
        )
        return parse(Group, response, call)

    async def remove_subgroup(self, group_id: str, sub_group_id: str) -> None:
        gid = segment(group_id, "group_id")
        sid = segment(sub_group_id, "sub_group_id")
        await self._platform(
            "DELETE", "groups/{groupId}/subGroups/{subGroupId}", f"groups/{gid}/subGroups/{sid}"
        )

    async def list_subscribers(
        self, group_id: str, *, count: int | None = None, cursor: str | None = None
    ) -> SubscribersPage:
        """GetSubscribers: one page of at most 50 (the documented maximum, and the default);
        `cursor` from the previous page (none: the first page, sent as "")."""
        gid = segment(group_id, "group_id")
        query: dict[str, Any] = {}
        if count is not None:
            query["count"] = count
        if cursor is not None:
            query["cursor"] = cursor
        body = build(SubscribersQuery, query)
        call, response = await self._platform(
            "POST",
            "groups/{groupId}/subscribers",
            f"groups/{gid}/subscribers",
            json_body=dump(body),
        )
        return parse(SubscribersPage, response, call)

    async def add_subscribers(self, group_id: str, subscribers: Sequence[str]) -> OperationResult:
        return await self._change_subscribers(group_id, subscribers, "add")

    async def remove_subscribers(
        self, group_id: str, subscribers: Sequence[str]
    ) -> OperationResult:
        return await self._change_subscribers(group_id, subscribers, "remove")

    async def _change_subscribers(
        self, group_id: str, subscribers: Sequence[str], verb: str
    ) -> OperationResult:
        gid = segment(group_id, "group_id")
        body = SubscribersChange(subscribers=list(subscribers))
        call, response = await self._platform(
            "PUT",
            f"groups/{{groupId}}/subscribers/{verb}",
            f"groups/{gid}/subscribers/{verb}",
            json_body=dump(body),
        )
        return parse(OperationResult, response, call)


def _group_create(
    name: str,
    welcome_message: str | None,
    members: Sequence[str] | None,
    group_type: GroupType | None,
) -> GroupCreate:
    given: dict[str, Any] = {"name": name}
    if welcome_message is not None:
        given["welcomeMessage"] = welcome_message
    if members is not None:
        given["members"] = list(members)
    if group_type is not None:
        given["groupType"] = group_type
    return build(GroupCreate, given)
