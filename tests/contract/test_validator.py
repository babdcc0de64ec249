"""The contract check has teeth: the requests the client sent before the audit (issue 10's
list), as they went on the wire, each fail it; the fixed ones pass."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.contract.swagger import Sent, request_errors

BASE = "https://kms2.kaiza.la/v1"
GROUP = "8c291050-9be8-45d6-97f5-bb7013930027"
JSON = {"accessToken": "AT", "Content-Type": "application/json"}
TOKEN_ONLY = {"accessToken": "AT"}


def sent(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Sent:
    content = b"" if body is None else json.dumps(body).encode()
    return Sent(
        method, httpx.URL(f"{BASE}{path}"), httpx.Headers(headers or JSON), content, 200, b"{}"
    )


SURVEY = {"title": "t", "questions": [{"title": "q", "type": "Text"}]}
FULL_SURVEY = {
    **SURVEY,
    "dueDate": 24,
    "isAnonymous": False,
    "isSenderOnly": False,
    "acceptMultipleResponses": False,
}
BEFORE_AND_AFTER = [
    (
        "SendMessageToSubscriber",
        sent(
            "POST",
            f"/groups/{GROUP}/messages",
            {"message": "hi", "subscribers": ["+919100000002"]},
        ),
        sent(
            "POST",
            f"/groups/{GROUP}/messages",
            {"Message": "hi", "subscribers": ["+919100000002"], "sendToAllSubscribers": False},
        ),
    ),
    (
        "FetchGroupDetails",
        sent("GET", f"/groups/{GROUP}", headers={"accessToken": "AT"}),
        sent("GET", f"/groups/{GROUP}", headers={"accessToken": "AT", "applicationId": "app"}),
    ),
    (
        "CreateGroup",
        sent("POST", "/groups", {"name": "Sales"}),
        sent(
            "POST",
            "/groups",
            {"name": "Sales", "welcomeMessage": "", "members": [], "groupType": "Group"},
        ),
    ),
    (
        "GetSubscribers",
        sent("POST", f"/groups/{GROUP}/subscribers", {"count": 10}),
        sent("POST", f"/groups/{GROUP}/subscribers", {"count": 10, "cursor": ""}),
    ),
    (
        "SendSurvey",
        sent("POST", f"/groups/{GROUP}/actions", {"actionType": "Survey", "actionBody": SURVEY}),
        sent(
            "POST", f"/groups/{GROUP}/actions", {"actionType": "Survey", "actionBody": FULL_SURVEY}
        ),
    ),
    (
        "PostCustomActionSubscriber",
        sent(
            "POST",
            f"/groups/{GROUP}/actions",
            {"id": "pkg.1", "actionBody": {"title": "t", "validity": 24}, "subscribers": []},
        ),
        sent(
            "POST",
            f"/groups/{GROUP}/actions",
            {
                "id": "pkg.1",
                "actionBody": {"title": "t", "validity": 24},
                "subscribers": [],
                "sendToAllSubscribers": True,
            },
        ),
    ),
    (
        "SubscribeToAllEvents",
        sent(
            "POST",
            "/webhook",
            {
                "objectId": GROUP,
                "objectType": "Group",
                "eventTypes": ["SurveyResponse"],
                "callBackUrl": "https://bridge.example.com/api/kaizala/webhook",
                "callBackContext": "",
            },
        ),
        sent(
            "POST",
            "/webhook",
            {
                "objectId": GROUP,
                "objectType": "Group",
                "eventTypes": ["SurveyResponse"],
                "callBackUrl": "https://bridge.example.com/api/kaizala/webhook",
                "callBackToken": "CB",
                "callBackContext": "",
            },
        ),
    ),
    (
        "FetchingSurveyResponses",
        sent("GET", f"/groups/{GROUP}/actions/a-1", headers={"accessToken": "AT"}),
        sent("GET", f"/groups/{GROUP}/actions/a-1?getDetails=true", headers={"accessToken": "AT"}),
    ),
    (
        "FetchJobs",
        sent(
            "GET", f"/groups/{GROUP}/actions?actionType=Job&limit=5", headers={"accessToken": "AT"}
        ),
        sent(
            "GET", f"/groups/{GROUP}/actions?actionType=Job&count=5", headers={"accessToken": "AT"}
        ),
    ),
    (
        "RemoveMembers",
        sent("DELETE", f"/groups/{GROUP}/Members/364388bc-5b7f", headers={"accessToken": "AT"}),
        sent("DELETE", f"/groups/{GROUP}/members/364388bc-5b7f", headers={"accessToken": "AT"}),
    ),
]


@pytest.mark.parametrize(
    ("operation", "before", "after"), BEFORE_AND_AFTER, ids=[c[0] for c in BEFORE_AND_AFTER]
)
def test_the_deviation_fails_the_check_and_the_fix_passes(
    operation: str, before: Sent, after: Sent
) -> None:
    documented = ("fromDate", "count") if operation == "FetchJobs" else ()
    assert request_errors(operation, before, documented_query=documented) != []
    assert request_errors(operation, after, documented_query=documented) == []


def test_a_property_the_schema_does_not_list_is_refused() -> None:
    # Swagger 2.0 allows unlisted properties; on this case-sensitive API one is a misspelling.
    misspelt = sent("POST", f"/groups/{GROUP}/messages", {"message": "hi", "Message": "hi"})
    errors = request_errors("SendMessage", misspelt)
    assert any("Message" in e and "(closed)" in e for e in errors), errors


def test_a_wrong_json_type_is_refused() -> None:
    pin = {"mobileNumber": "+919100000001", "applicationId": "app", "pin": "1234"}
    login = sent("POST", "/loginWithPinAndApplicationId", pin, {"Content-Type": "application/json"})
    assert any("pin" in e for e in request_errors("GetRefreshToken", login))
