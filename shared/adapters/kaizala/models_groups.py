"""Models of groups, sub-groups, members and subscribers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field

from shared.adapters.kaizala.models_base import MobileNumber, RequestModel, ResponseModel

GroupType = Literal["Group", "ConnectGroup"]
MAX_MEMBERS = 100  # per CreateGroup / AddMembers call ("maximum of 100 mobile numbers")
SUBSCRIBERS_PAGE = 50  # GetSubscribers `count`: "Default: 50. Maximum: 50" (Kaizala's docs)


class Group(ResponseModel):
    groupId: str = Field(validation_alias=AliasChoices("groupId", "id"))
    groupName: str | None = None
    groupImageUrl: str | None = None
    groupType: str | None = None
    welcomeMessage: str | None = None
    hasSubGroups: bool | None = None
    hasParentGroups: bool | None = None
    isMappedToTenant: bool | None = None
    isDuplicate: bool | None = None
    subGroups: list[Group] | None = None


class GroupCreate(RequestModel):
    """CreateGroup (and CreateSubgroup): the swagger requires all four fields, so each is always
    sent, with the documented default when the caller gives none: no members (the token's user
    becomes the group's admin), `groupType` Group. `welcomeMessage` has no documented default:
    an empty one."""

    name: str = Field(min_length=1, max_length=256)
    welcomeMessage: str = Field(default="", max_length=1000)
    members: list[MobileNumber] = Field(default_factory=list, max_length=MAX_MEMBERS)
    groupType: GroupType = "Group"


class GroupCreated(ResponseModel):
    groupId: str
    groupName: str | None = None
    membersAdded: bool | None = None


class Member(ResponseModel):
    # Kaizala never published this shape; every field is optional and unknown ones are kept.
    id: str | None = Field(default=None, validation_alias=AliasChoices("id", "memberId", "userId"))
    mobileNumber: str | None = None
    name: str | None = None
    role: str | None = None
    isProvisioned: bool | None = None


class MembersAdd(RequestModel):
    members: list[MobileNumber] = Field(min_length=1, max_length=MAX_MEMBERS)


class SubGroupsAdd(RequestModel):
    subGroups: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")]] = Field(min_length=1)


class SubscribersQuery(RequestModel):
    """GetSubscribers: `count` and `cursor` are both required; "" asks for the first page."""

    count: int = Field(default=SUBSCRIBERS_PAGE, ge=1, le=SUBSCRIBERS_PAGE)
    cursor: str = Field(default="", max_length=1024)


class SubscribersChange(RequestModel):
    subscribers: list[MobileNumber] = Field(min_length=1)


class SubscribersPage(ResponseModel):
    subscribers: list[Any] = Field(default_factory=list)
    cursor: str | None = None
