"""The `/groups` part of docs/openapi.json (joined by `devtools.openapi.build`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from shared.domain.groups import (
    AddMembersRequest,
    CreateGroupRequest,
    GroupCreatedOut,
    MembersAdded,
    MembersOut,
)

MODELS: tuple[type[BaseModel], ...] = (
    CreateGroupRequest,
    GroupCreatedOut,
    AddMembersRequest,
    MembersAdded,
    MembersOut,
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{name}"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "schema": _ref("Problem")}


def _id(name: str, what: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "type": "string",
        "pattern": "^[A-Za-z0-9-]{1,64}$",
        "x-ms-summary": what,
    }


KAIZALA_ERRORS = {
    "502": _problem("Kaizala refused or failed the call"),
    "503": _problem("Kaizala throttling, or storage temporarily unavailable"),
}


def paths() -> dict[str, Any]:
    group = _id("groupId", "Kaizala group id")
    return {
        "/groups": {
            "post": {
                "operationId": "CreateGroup",
                "summary": "Create a Kaizala group with members",
                "description": "Exactly once per Idempotency-Key (else per regarding record, else "
                "per request content). The group gets the bridge's webhook subscription at once.",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "type": "string",
                        "maxLength": 128,
                        "x-ms-summary": "Idempotency key",
                    },
                    {
                        "name": "body",
                        "in": "body",
                        "required": True,
                        "schema": _ref("CreateGroupRequest"),
                    },
                ],
                "responses": {
                    "201": {"description": "Created", "schema": _ref("GroupCreatedOut")},
                    "200": {
                        "description": "A repeat: the group created first",
                        "schema": _ref("GroupCreatedOut"),
                    },
                    "400": _problem("Invalid request (names the field)"),
                    "409": _problem("The key (or regarding record) holds a different request"),
                    "413": _problem("Body over 64 KiB"),
                    "415": _problem("Body is not application/json"),
                    "500": _problem("Configuration error (names the setting)"),
                    **KAIZALA_ERRORS,
                },
            }
        },
        "/groups/{groupId}/members": {
            "get": {
                "operationId": "ListGroupMembers",
                "summary": "The members of a Kaizala group",
                "parameters": [group],
                "responses": {
                    "200": {"description": "The members", "schema": _ref("MembersOut")},
                    "404": _problem("Unknown group"),
                    **KAIZALA_ERRORS,
                },
            },
            "put": {
                "operationId": "AddGroupMembers",
                "summary": "Add members to a Kaizala group",
                "parameters": [
                    group,
                    {
                        "name": "body",
                        "in": "body",
                        "required": True,
                        "schema": _ref("AddMembersRequest"),
                    },
                ],
                "responses": {
                    "200": {"description": "Added", "schema": _ref("MembersAdded")},
                    "400": _problem("Invalid request (names the field)"),
                    "404": _problem("Unknown group"),
                    **KAIZALA_ERRORS,
                },
            },
        },
        "/groups/{groupId}/members/{memberId}": {
            "delete": {
                "operationId": "RemoveGroupMember",
                "summary": "Remove a member from a Kaizala group",
                "parameters": [group, _id("memberId", "member id (as the member list gives it)")],
                "responses": {
                    "204": {"description": "Removed"},
                    "404": _problem("Unknown group or member"),
                    **KAIZALA_ERRORS,
                },
            }
        },
    }
