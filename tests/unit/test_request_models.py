"""Every request model is strict: a value of the wrong JSON type is a 400 naming the field,
never coerced ("yes" is not true, "48" is not 48); template variables are named in errors."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from functions.http import parse_body
from functions.subscriptions import SyncRequest
from shared.domain.action_request import prepare
from shared.domain.actions import SendActionRequest
from shared.domain.groups import AddMembersRequest, CreateGroupRequest
from shared.domain.opportunity import RemoteExecutionContext
from shared.errors import ValidationError
from shared.services.inbound.replay import ReplayRequest
from shared.services.onboarding import LoginRequest, PinRequest
from tests.support import request

GROUP = "8c291050-9be8-45d6-97f5-bb7013930027"
GUID = "b5e7c3a0-3f1d-4c2b-9a8e-7d6f5e4c3b2a"
REGARDING = {"id": GUID}
OPPORTUNITY = {"MessageName": "Create", "PrimaryEntityName": "opportunity", "PrimaryEntityId": GUID}


def problem_of(model: type[BaseModel], body: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_body(request("POST", "/api/x", body=body), model)
    return caught.value


# (model, a valid body, the field made lax, lax values of it)
LAX: list[tuple[type[BaseModel], dict[str, Any], str, list[Any]]] = [
    (SyncRequest, {}, "recreate", ["yes", 1, "true", "false", 0]),
    (ReplayRequest, {}, "eventId", [12, True]),
    (ReplayRequest, {}, "status", [1]),
    (PinRequest, {"mobileNumber": "+919100000001"}, "mobileNumber", [919100000001]),
    (LoginRequest, {"mobileNumber": "+919100000001", "pin": "1234"}, "pin", [1234.0, True]),
    (CreateGroupRequest, {"name": "g", "members": []}, "name", [5]),
    (CreateGroupRequest, {"name": "g", "members": []}, "members", ["+919100000001"]),
    (AddMembersRequest, {"members": [{"mobileNumber": "+919100000001"}]}, "members", [{}]),
    (RemoteExecutionContext, OPPORTUNITY, "Depth", ["1", 1.0, True]),
    (RemoteExecutionContext, OPPORTUNITY, "PrimaryEntityId", [1]),
    (
        SendActionRequest,
        {"groupId": GROUP, "template": "opportunity-survey", "regarding": REGARDING},
        "groupId",
        [8],
    ),
]


@pytest.mark.parametrize(
    ("model", "valid", "field", "values"), LAX, ids=[f"{m[0].__name__}.{m[2]}" for m in LAX]
)
def test_lax_values_are_400_naming_the_field(
    model: type[BaseModel], valid: dict[str, Any], field: str, values: list[Any]
) -> None:
    parse_body(request("POST", "/api/x", body=valid), model)  # the valid body passes
    for value in values:
        problem = problem_of(model, {**valid, field: value})
        assert problem.errors[0]["field"] == field, (value, problem.errors)
        assert problem.detail.startswith(f"Invalid field {field}: "), problem.detail


def test_strict_still_takes_what_json_means() -> None:
    place = {"latitude": 18, "longitude": 73.8}  # a JSON integer is a number
    body = {
        "groupId": GROUP,
        "actionType": "LetsMeet",
        "actionBody": {"title": "t", "startingTime": 1700000000000, "place": place},
        "regarding": REGARDING,
    }
    prepared = prepare(parse_body(request("POST", "/api/actions", body=body), SendActionRequest))
    assert prepared.body["place"]["latitude"] == 18.0
    assert parse_body(request("POST", "/x", body={"recreate": True}), SyncRequest).recreate


def template_problem(variables: dict[str, Any]) -> ValidationError:
    body = {
        "groupId": GROUP,
        "template": "opportunity-survey",
        "variables": variables,
        "regarding": REGARDING,
    }
    with pytest.raises(ValidationError) as caught:
        prepare(parse_body(request("POST", "/api/actions", body=body), SendActionRequest))
    return caught.value


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (["a"], "must be text, a number or true/false"),
        ({"a": 1}, "must be text, a number or true/false"),
        (None, "must be text, a number or true/false"),
        ("x" * 4001, "must be at most 4000 characters"),
        (
            "x" * 195,
            "too long for the template: actionBody.title would exceed 200 characters",
        ),
    ],
    ids=["list", "object", "null", "too long", "too long once filled"],
)
def test_a_bad_variable_is_named_with_a_clear_message(value: Any, detail: str) -> None:
    problem = template_problem({"opportunityName": value, "opportunityId": GUID})
    assert [e["field"] for e in problem.errors] == ["variables.opportunityName"]
    assert problem.detail == f"Invalid field variables.opportunityName: {detail}"


def test_variables_that_fit_are_filled() -> None:
    body = {
        "groupId": GROUP,
        "template": "opportunity-survey",
        "variables": {"opportunityName": "x" * 191, "n": 3, "f": 1.5, "b": False},
        "regarding": REGARDING,
    }
    prepared = prepare(parse_body(request("POST", "/api/actions", body=body), SendActionRequest))
    assert prepared.body["title"] == "Qualify: " + "x" * 191  # exactly 200 characters
