"""Models of groups, sub-groups, members and subscribers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field

from shared.adapters.kaizala.models_base import MobileNumber, RequestModel, ResponseModel

GroupType = Literal["Group", "ConnectGroup"]


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
    name: str = Field(min_length=1, max_length=256)
    welcomeMessage: str | None = None
    members: list[MobileNumber] | None = Field(default=None, max_length=100)
    groupType: GroupType | None = None


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
    members: list[MobileNumber] = Field(min_length=1, max_length=100)


class SubGroupsAdd(RequestModel):
    subGroups: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")]] = Field(min_length=1)


class SubscribersQuery(RequestModel):
    count: int | None = Field(default=None, ge=1, le=1000)
    cursor: str | None = None


class SubscribersChange(RequestModel):
    subscribers: list[MobileNumber] = Field(min_length=1)


class SubscribersPage(ResponseModel):
    subscribers: list[Any] = Field(default_factory=list)
    cursor: str | None = None
