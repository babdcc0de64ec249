"""Groups and members: the request models of `/api/groups`, the mobile number rule, and the
idempotency identity of a group creation (pure: no I/O).

Kaizala identifies a member by a mobile number with its country code; the bridge accepts the
usual formatting (spaces, dashes, dots, brackets, a leading `00`) and keeps the E.164 form
(`+919100000001`). A number without a country code cannot be turned into one safely, so it is
refused (a request) or skipped and reported (a person read from Dynamics).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.domain.actions import E164_PATTERN, GUID_PATTERN, Strict

# Kaizala's documented limit of numbers per CreateGroup call (the swagger: "maximum of 100
# mobile numbers"); more members are added with AddMembers in batches of the same size.
MEMBERS_PER_CALL = 100
MAX_MEMBERS = 1000  # per bridge request: at most 10 Kaizala calls
NAME_CHARS = 256  # the Kaizala client's limit on a group name

_E164 = re.compile(E164_PATTERN)
_FORMATTING = re.compile(r"[\s\-.()\u00a0]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MOBILE_RULE = "an international mobile number with its country code, such as +919100000001"

GroupType = Literal["Group", "ConnectGroup"]


def normalize_mobile(value: object) -> str | None:
    """The E.164 form of a mobile number, or None when it is not one (no country code, ...)."""
    if not isinstance(value, str):
        return None
    text = _FORMATTING.sub("", value)
    if text.startswith("00"):
        text = "+" + text[2:]
    return text if _E164.fullmatch(text) else None


def mobile_problem(value: object) -> str:
    """Why `value` is not a usable number (never the number itself: it goes to logs)."""
    if not isinstance(value, str) or not value.strip():
        return "no mobile number"
    return "mobile number is not in international format (+<country code><number>)"


class MemberIn(Strict):
    mobileNumber: str = Field(description=MOBILE_RULE)
    name: str | None = Field(
        default=None, max_length=200, description="for the caller only: Kaizala takes numbers"
    )

    @field_validator("mobileNumber")
    @classmethod
    def _mobile(cls, value: str) -> str:
        normalized = normalize_mobile(value)
        if normalized is None:
            raise ValueError(f"must be {MOBILE_RULE}")
        return normalized


class GroupRegarding(Strict):
    entityType: Literal["opportunity"] = "opportunity"
    id: str = Field(pattern=GUID_PATTERN, description="the opportunity's GUID")


class CreateGroupRequest(Strict):
    name: str = Field(min_length=1, max_length=NAME_CHARS)
    welcomeMessage: str | None = Field(default=None, max_length=1000)
    members: list[MemberIn] = Field(max_length=MAX_MEMBERS)
    groupType: GroupType | None = Field(default=None, description="default Group")
    regarding: GroupRegarding | None = Field(
        default=None,
        description="the opportunity the group is for: its chat is written to it, and the "
        "opportunity id is the idempotency key when no Idempotency-Key is given",
    )

    @field_validator("name", "welcomeMessage")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is None:
            return None
        cleaned = _CONTROL.sub(" ", value).strip()
        if not cleaned:
            raise ValueError("must not be blank")
        return cleaned

    def numbers(self) -> list[str]:
        return unique_numbers(m.mobileNumber for m in self.members)


class AddMembersRequest(Strict):
    members: list[MemberIn] = Field(min_length=1, max_length=MAX_MEMBERS)

    def numbers(self) -> list[str]:
        return unique_numbers(m.mobileNumber for m in self.members)


class GroupCreatedOut(BaseModel):
    model_config = ConfigDict(defer_build=True)
    groupId: str
    name: str
    members: int = Field(description="distinct numbers added (the connector's user comes on top)")


class MemberOut(BaseModel):
    model_config = ConfigDict(defer_build=True)
    id: str | None = None
    mobileNumber: str | None = None
    name: str | None = None
    role: str | None = None


class MembersOut(BaseModel):
    model_config = ConfigDict(defer_build=True)
    groupId: str
    members: list[MemberOut]


class MembersAdded(BaseModel):
    model_config = ConfigDict(defer_build=True)
    groupId: str
    members: int = Field(description="distinct numbers sent to Kaizala (existing ones stay)")


def unique_numbers(numbers: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(numbers))


def batches(numbers: list[str], size: int = MEMBERS_PER_CALL) -> list[list[str]]:
    return [numbers[i : i + size] for i in range(0, len(numbers), size)]


def regarding_key(entity: str, record_id: str) -> str:
    """The idempotency key of the one group of a record (POST /api/groups, per opportunity)."""
    return f"regarding:{entity}:{record_id.lower()}"


def group_request_hash(req: CreateGroupRequest) -> str:
    canonical = json.dumps(req.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def group_key(req: CreateGroupRequest, idempotency_key: str | None) -> tuple[str, str, bool]:
    """(claim key, request hash, explicit): the header, else the regarding id, else the content.

    `explicit` says a different request under the key is a conflict (a content key can only
    ever see the same request).
    """
    rhash = group_request_hash(req)
    if idempotency_key:
        return f"key:{idempotency_key}", rhash, True
    if req.regarding is not None:
        return regarding_key(req.regarding.entityType, req.regarding.id), rhash, True
    return f"content:{rhash}", rhash, False
