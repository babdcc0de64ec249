"""Every documented operation: the exact request on the wire, and the parsed answer."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared.adapters.kaizala import (
    ActionProperty,
    CustomActionBody,
    KaizalaClient,
    KaizalaEndpointRefusedError,
    Option,
    SurveyBody,
    SurveyQuestion,
    Webhook,
    WebhookCreate,
    build_http_client,
)
from tests.kaizala_client.fakes import (
    ACCESS,
    ACTION,
    APP_ID,
    APP_SECRET,
    CALLBACK_TOKEN,
    GROUP,
    REFRESH,
    WEBHOOK,
    FakeKaizala,
    FakeTokens,
    make_client,
    reply,
)

SUB = "d15fce78-d5c5-410f-845d-a747f02de912"
MEMBER = "364388bc-5b7f-4857-a58c-31eba18e962e"
PHONE = "+919100000002"
EXTRA = {"fieldAddedLater": {"nested": [1, 2]}}  # every reply carries an unknown field


@dataclass
class Case:
    name: str
    call: Callable[[KaizalaClient], Awaitable[Any]]
    method: str
    path: str
    query: dict[str, str]
    body: Any  # expected JSON body; None: no body at all
    answer: Any  # what the fake Kaizala answers (None: empty 200)
    check: Callable[[Any], bool]
    headers: dict[str, str] | None = None  # required headers beside accessToken


SURVEY = SurveyBody(
    title="Opportunity check",
    questions=[
        SurveyQuestion(title="Likely?", type="SingleOption", options=[Option(title="Yes")]),
        SurveyQuestion(title="Notes", type="Text"),
    ],
    dueDate=24,
    isAnonymous=False,
)
SURVEY_JSON = {
    "title": "Opportunity check",
    "questions": [
        {"title": "Likely?", "type": "SingleOption", "options": [{"title": "Yes"}]},
        {"title": "Notes", "type": "Text"},
    ],
    "dueDate": 24,
    "isAnonymous": False,
    # Required by the swagger, so sent with their documented defaults.
    "isSenderOnly": False,
    "acceptMultipleResponses": False,
}
PACKAGE = "com.microsoft.kaizala.miniapps.BdayMessage.12"
GROUP_JSON = {
    "groupId": GROUP,
    "groupName": "Kaizala Test group",
    "groupImageUrl": "",
    "hasSubGroups": True,
    "hasParentGroups": False,
    "isMappedToTenant": False,
    "groupType": "Group",
    "subGroups": [{"groupId": SUB, "groupName": "sub", "isDuplicate": False, **EXTRA}],
    "welcomeMessage": "hi",
    **EXTRA,
}
WEBHOOK_CREATE = WebhookCreate(
    objectId=GROUP,
    objectType="Group",
    eventTypes=["SurveyResponse", "ActionResponse"],
    callBackUrl="https://bridge.example.com/api/kaizala/webhook",
    callBackToken=CALLBACK_TOKEN,
    callBackContext="ctx-1",
)

CASES = [
    Case(
        "list_groups",
        lambda c: c.list_groups(),
        "GET",
        "/v1/groups",
        {},
        None,
        {"groups": [GROUP_JSON]},
        lambda r: r[0].groupId == GROUP and r[0].subGroups[0].groupId == SUB,
    ),
    Case(
        "list_groups (bare list answer)",
        lambda c: c.list_groups(),
        "GET",
        "/v1/groups",
        {},
        None,
        [GROUP_JSON],
        lambda r: len(r) == 1 and r[0].groupName == "Kaizala Test group",
    ),
    Case(
        "get_group",
        lambda c: c.get_group(GROUP),
        "GET",
        f"/v1/groups/{GROUP}",
        {},
        None,
        GROUP_JSON,
        lambda r: r.groupId == GROUP and r.model_extra["fieldAddedLater"] == {"nested": [1, 2]},
        {"applicationId": APP_ID},  # FetchGroupDetails requires it
    ),
    Case(
        "get_group (wrapped in a list)",
        lambda c: c.get_group(GROUP),
        "GET",
        f"/v1/groups/{GROUP}",
        {},
        None,
        {"groups": [{**GROUP_JSON, "groupId": SUB}, GROUP_JSON]},
        lambda r: r.groupId == GROUP and r.groupName == "Kaizala Test group",
        {"applicationId": APP_ID},
    ),
    Case(
        "create_group",
        lambda c: c.create_group(
            "Sales", welcome_message="Welcome", members=[PHONE], group_type="ConnectGroup"
        ),
        "POST",
        "/v1/groups",
        {},
        {
            "name": "Sales",
            "welcomeMessage": "Welcome",
            "members": [PHONE],
            "groupType": "ConnectGroup",
        },
        {"groupId": GROUP, "groupName": "Sales", "membersAdded": True, **EXTRA},
        lambda r: r.groupId == GROUP and r.membersAdded is True,
    ),
    Case(
        "create_group (name only: the required fields get their defaults)",
        lambda c: c.create_group("Sales"),
        "POST",
        "/v1/groups",
        {},
        {"name": "Sales", "welcomeMessage": "", "members": [], "groupType": "Group"},
        {"groupId": GROUP, "groupName": "Sales", "membersAdded": True},
        lambda r: r.groupId == GROUP,
    ),
    Case(
        "list_members",
        lambda c: c.list_members(GROUP),
        "GET",
        f"/v1/groups/{GROUP}/members",
        {},
        None,
        {"members": [{"id": MEMBER, "mobileNumber": PHONE, "name": "Vikram", **EXTRA}]},
        lambda r: r[0].id == MEMBER and r[0].mobileNumber == PHONE,
    ),
    Case(
        "add_members",
        lambda c: c.add_members(GROUP, [PHONE]),
        "PUT",
        f"/v1/groups/{GROUP}/members",
        {},
        {"members": [PHONE]},
        {"membersAdded": True, **EXTRA},
        lambda r: r.model_extra["membersAdded"] is True,
    ),
    Case(
        "remove_member",
        lambda c: c.remove_member(GROUP, MEMBER),
        "DELETE",
        f"/v1/groups/{GROUP}/members/{MEMBER}",
        {},
        None,
        None,
        lambda r: r is None,
    ),
    Case(
        "create_subgroup",
        lambda c: c.create_subgroup(GROUP, "Sub", welcome_message="w"),
        "POST",
        f"/v1/groups/{GROUP}/subgroups",
        {},
        {"name": "Sub", "welcomeMessage": "w", "members": [], "groupType": "Group"},
        {"groupId": SUB, "groupName": "Sub", "membersAdded": True},
        lambda r: r.groupId == SUB,
    ),
    Case(
        "add_subgroups",
        lambda c: c.add_subgroups(GROUP, [SUB]),
        "PUT",
        f"/v1/groups/{GROUP}/subGroups",
        {},
        {"subGroups": [SUB]},
        {},
        lambda r: r.model_extra == {},
    ),
    Case(
        "list_subgroups",
        lambda c: c.list_subgroups(GROUP),
        "GET",
        f"/v1/groups/{GROUP}/subGroups",
        {},
        None,
        GROUP_JSON,
        lambda r: r.subGroups is not None and r.subGroups[0].isDuplicate is False,
    ),
    Case(
        "remove_subgroup",
        lambda c: c.remove_subgroup(GROUP, SUB),
        "DELETE",
        f"/v1/groups/{GROUP}/subGroups/{SUB}",
        {},
        None,
        {},
        lambda r: r is None,
    ),
    Case(
        "list_subscribers",
        lambda c: c.list_subscribers(GROUP, count=10),
        "POST",
        f"/v1/groups/{GROUP}/subscribers",
        {},
        {"count": 10, "cursor": ""},
        {"subscribers": [{"mobileNumber": PHONE}], "cursor": "c2", **EXTRA},
        lambda r: r.cursor == "c2" and len(r.subscribers) == 1,
    ),
    Case(
        "list_subscribers (defaults: the documented page of 50, the first page)",
        lambda c: c.list_subscribers(GROUP),
        "POST",
        f"/v1/groups/{GROUP}/subscribers",
        {},
        {"count": 50, "cursor": ""},
        {"subscribers": []},
        lambda r: r.cursor is None and r.subscribers == [],
    ),
    Case(
        "list_subscribers (next page)",
        lambda c: c.list_subscribers(GROUP, cursor="c2"),
        "POST",
        f"/v1/groups/{GROUP}/subscribers",
        {},
        {"count": 50, "cursor": "c2"},
        {"subscribers": []},
        lambda r: r.subscribers == [],
    ),
    Case(
        "add_subscribers",
        lambda c: c.add_subscribers(GROUP, [PHONE]),
        "PUT",
        f"/v1/groups/{GROUP}/subscribers/add",
        {},
        {"subscribers": [PHONE]},
        {},
        lambda r: r is not None,
    ),
    Case(
        "remove_subscribers",
        lambda c: c.remove_subscribers(GROUP, [PHONE]),
        "PUT",
        f"/v1/groups/{GROUP}/subscribers/remove",
        {},
        {"subscribers": [PHONE]},
        {},
        lambda r: r is not None,
    ),
    Case(
        "send_message",
        lambda c: c.send_message(GROUP, "Hello team"),
        "POST",
        f"/v1/groups/{GROUP}/messages",
        {},
        {"message": "Hello team"},
        {"referenceId": "ref-1", **EXTRA},
        lambda r: r.referenceId == "ref-1",
    ),
    Case(
        "send_message to public-group subscribers",
        lambda c: c.send_message(GROUP, "Hi", subscribers=[PHONE], send_to_all_subscribers=False),
        "POST",
        f"/v1/groups/{GROUP}/messages",
        {},
        {"Message": "Hi", "subscribers": [PHONE], "sendToAllSubscribers": False},
        {"referenceId": "ref-2"},
        lambda r: r.referenceId == "ref-2",
    ),
    Case(
        "send_message to all subscribers (the other audience field is still sent)",
        lambda c: c.send_message(GROUP, "Hi all", send_to_all_subscribers=True),
        "POST",
        f"/v1/groups/{GROUP}/messages",
        {},
        {"Message": "Hi all", "subscribers": [], "sendToAllSubscribers": True},
        {"referenceId": "ref-2"},
        lambda r: r.referenceId == "ref-2",
    ),
    Case(
        "send_action (survey model)",
        lambda c: c.send_action(GROUP, action_type="Survey", action_body=SURVEY),
        "POST",
        f"/v1/groups/{GROUP}/actions",
        {},
        {"actionType": "Survey", "actionBody": SURVEY_JSON},
        {"referenceId": "ref-3", "actionId": ACTION, **EXTRA},
        lambda r: r.actionId == ACTION and r.referenceId == "ref-3",
    ),
    Case(
        "send_action (custom action package)",
        lambda c: c.send_action(
            GROUP,
            action_package_id=PACKAGE,
            action_body=CustomActionBody(
                properties=[ActionProperty(name="occasion", type="Text", value="birthday")]
            ),
        ),
        "POST",
        f"/v1/groups/{GROUP}/actions",
        {},
        {
            "id": PACKAGE,
            "actionBody": {
                "properties": [{"name": "occasion", "type": "Text", "value": "birthday"}]
            },
        },
        {"referenceId": "ref-4", "actionId": ACTION},
        lambda r: r.actionId == ACTION,
    ),
    Case(
        "send_action (job, plain mapping)",
        lambda c: c.send_action(
            GROUP, action_type="Job", action_body={"title": "Visit", "assignedTo": [PHONE]}
        ),
        "POST",
        f"/v1/groups/{GROUP}/actions",
        {},
        {
            "actionType": "Job",
            "actionBody": {"title": "Visit", "assignedTo": [PHONE], "dueDate": 24},
        },
        {"referenceId": "ref-5", "actionId": ACTION},
        lambda r: r.referenceId == "ref-5",
    ),
    Case(
        "send_action (survey, plain mapping: documented defaults filled)",
        lambda c: c.send_action(
            GROUP,
            action_type="Survey",
            action_body={"title": "Q", "questions": [{"title": "Notes", "type": "Text"}]},
        ),
        "POST",
        f"/v1/groups/{GROUP}/actions",
        {},
        {
            "actionType": "Survey",
            "actionBody": {
                "title": "Q",
                "questions": [{"title": "Notes", "type": "Text"}],
                "dueDate": 24,
                "isAnonymous": False,
                "isSenderOnly": False,
                "acceptMultipleResponses": False,
            },
        },
        {"referenceId": "ref-7", "actionId": ACTION},
        lambda r: r.actionId == ACTION,
    ),
    Case(
        "send_action (announcement without media: MediaResources is required)",
        lambda c: c.send_action(
            GROUP, action_type="Announcement", action_body={"Title": "T", "Message": "M"}
        ),
        "POST",
        f"/v1/groups/{GROUP}/actions",
        {},
        {
            "actionType": "Announcement",
            "actionBody": {"Title": "T", "Message": "M", "MediaResources": []},
        },
        {"referenceId": "ref-8", "actionId": ACTION},
        lambda r: r.actionId == ACTION,
    ),
    Case(
        "send_action (custom {title, validity} to a public group's subscribers)",
        lambda c: c.send_action(
            GROUP,
            action_package_id=PACKAGE,
            action_body={"title": "override title", "validity": 24},
            subscribers=[PHONE],
        ),
        "POST",
        f"/v1/groups/{GROUP}/actions",
        {},
        {
            "id": PACKAGE,
            "actionBody": {"title": "override title", "validity": 24},
            "subscribers": [PHONE],
            "sendToAllSubscribers": False,
        },
        {"referenceId": "ref-9", "actionId": ACTION},
        lambda r: r.actionId == ACTION,
    ),
    Case(
        "post_response",
        lambda c: c.post_response(
            GROUP, ACTION, {"actionType": "Survey", "actionBody": {"Answers": ["Yes"]}}
        ),
        "POST",
        f"/v1/groups/{GROUP}/actions/{ACTION}/responses",
        {},
        {"actionType": "Survey", "actionBody": {"Answers": ["Yes"]}},
        {"responseId": "resp-1", **EXTRA},
        lambda r: r.responseId == "resp-1",
    ),
    Case(
        "send_reminder",
        lambda c: c.send_reminder(GROUP, ACTION),
        "POST",
        f"/v1/groups/{GROUP}/actions/{ACTION}/reminder",
        {},
        None,
        {"referenceId": "ref-6"},
        lambda r: r.model_extra["referenceId"] == "ref-6",
    ),
    Case(
        "list_actions",
        lambda c: c.list_actions(
            GROUP, "Survey", from_date=datetime(2024, 1, 2, tzinfo=UTC), count=5
        ),
        "GET",
        f"/v1/groups/{GROUP}/actions",
        {"actionType": "Survey", "fromDate": "1704153600000", "count": "5"},
        None,
        {"actions": [{"actionId": ACTION, "actionType": "Survey", **EXTRA}], "hasMore": True},
        lambda r: (
            r.hasMore is True
            and r.actions[0].actionId == ACTION
            and r.actions[0].display_title == ""
        ),
    ),
    Case(
        "list_actions (type only)",
        lambda c: c.list_actions(GROUP, "Job"),
        "GET",
        f"/v1/groups/{GROUP}/actions",
        {"actionType": "Job"},
        None,
        {"actions": [], "hasMore": False},
        lambda r: r.actions == [] and r.hasMore is False,
    ),
    Case(
        "list_actions (fields nested in actionBody)",
        lambda c: c.list_actions(GROUP, "Poll"),
        "GET",
        f"/v1/groups/{GROUP}/actions",
        {"actionType": "Poll"},
        None,
        {
            "actions": [
                {
                    "referenceId": "ref-9",
                    "actionType": "Poll",
                    "creationTime": 1521800782956,
                    "actionBody": {"actionId": ACTION, "question": "Demo day?", **EXTRA},
                    **EXTRA,
                }
            ],
            "hasMore": False,
        },
        lambda r: (
            r.actions[0].actionId == ACTION
            and r.actions[0].display_title == "Demo day?"
            and r.actions[0].referenceId == "ref-9"
        ),
    ),
    Case(
        "get_action",
        lambda c: c.get_action(GROUP, ACTION),
        "GET",
        f"/v1/groups/{GROUP}/actions/{ACTION}",
        {"getDetails": "true"},
        None,
        {"actionId": ACTION, "responses": [{"responseId": "r1"}], **EXTRA},
        lambda r: r.actionId == ACTION and r.responses[0]["responseId"] == "r1",
    ),
    Case(
        "create_webhook",
        lambda c: c.create_webhook(WEBHOOK_CREATE),
        "POST",
        "/v1/webhook",
        {},
        {
            "objectId": GROUP,
            "objectType": "Group",
            "eventTypes": ["SurveyResponse", "ActionResponse"],
            "callBackUrl": "https://bridge.example.com/api/kaizala/webhook",
            "callBackToken": CALLBACK_TOKEN,
            "callBackContext": "ctx-1",
        },
        {"webhookId": WEBHOOK, **EXTRA},
        lambda r: r == WEBHOOK,
    ),
    Case(
        "list_webhooks",
        lambda c: c.list_webhooks(GROUP, "Group"),
        "GET",
        "/v1/webhook",
        {"objectId": GROUP, "objectType": "Group"},
        None,
        [
            {
                "id": WEBHOOK,
                "events": ["SurveyResponse"],
                "callbackUrl": "https://b/x",
                "validity": 1,
                "active": "false",
                **EXTRA,
            },
            {"id": "wh-2", "events": [], "active": True},
        ],
        lambda r: (
            [w.id for w in r] == [WEBHOOK, "wh-2"]
            and r[0].active is False
            and r[1].active is True
            and r[0].callbackUrl == "https://b/x"
        ),
    ),
    Case(
        "activate_webhook",
        lambda c: c.activate_webhook(WEBHOOK),
        "PUT",
        f"/v1/webhook/{WEBHOOK}",
        {},
        {"Active": "true"},
        {},
        lambda r: r is None,
    ),
    Case(
        "delete_webhook",
        lambda c: c.delete_webhook(WEBHOOK),
        "DELETE",
        f"/v1/webhook/{WEBHOOK}",
        {},
        None,
        "",
        lambda r: r is None,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_platform_operation_request_and_response(case: Case) -> None:
    kaizala = FakeKaizala(lambda request: reply(200, case.answer))
    client = make_client(kaizala)

    result = await case.call(client)

    assert len(kaizala.requests) == 1
    request = kaizala.requests[0]
    assert request.method == case.method
    assert (request.url.scheme, request.url.host) == ("https", "kms2.kaiza.la")
    assert request.url.path == case.path
    assert dict(request.url.params) == case.query
    assert request.headers["accessToken"] == ACCESS
    assert "authorization" not in request.headers
    for name, value in (case.headers or {}).items():
        assert request.headers[name] == value
    if case.headers is None:
        assert "applicationId" not in request.headers
    if case.body is None:
        assert request.content == b""
    else:
        assert request.headers["content-type"] == "application/json"
        assert json.loads(request.content) == case.body
    assert case.check(result), result


async def test_upload_media_is_multipart_with_the_file() -> None:
    kaizala = FakeKaizala(lambda request: reply(200, {"mediaResource": "mr-1", **EXTRA}))
    client = make_client(kaizala)

    result = await client.upload_media("site photo.jpg", b"\xff\xd8jpegbytes", "image/jpeg")

    request = kaizala.requests[0]
    assert (request.method, request.url.path) == ("POST", "/v1/media")
    assert request.headers["accessToken"] == ACCESS
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="FileName"; filename="site photo.jpg"' in request.content
    assert b"Content-Type: image/jpeg" in request.content
    assert b"\xff\xd8jpegbytes" in request.content
    assert result.mediaResource == "mr-1"


async def test_generate_pin_goes_to_the_token_service_without_a_token() -> None:
    kaizala = FakeKaizala(lambda request: reply(200, "{}"))
    client = make_client(kaizala)

    await client.generate_pin(PHONE, APP_ID)

    request = kaizala.requests[0]
    assert (request.method, str(request.url)) == ("POST", "https://api.kaiza.la/v1/generatePin")
    assert kaizala.json() == {"mobileNumber": PHONE, "applicationId": APP_ID}
    assert "accessToken" not in request.headers


async def test_login_with_pin_returns_the_refresh_token() -> None:
    answer = {
        "refreshToken": REFRESH,
        "grantedScope": "groupinfo.read,webhook.write",
        "refreshTokenExpiry": 1537016388242,
        **EXTRA,
    }
    kaizala = FakeKaizala(lambda request: reply(200, answer))
    client = make_client(kaizala)

    result = await client.login_with_pin(PHONE, APP_ID, "1234")

    request = kaizala.requests[0]
    assert str(request.url) == "https://api.kaiza.la/v1/loginWithPinAndApplicationId"
    assert kaizala.json() == {"mobileNumber": PHONE, "applicationId": APP_ID, "pin": 1234}
    assert result.refreshToken == REFRESH
    assert result.expires_on == datetime.fromtimestamp(1537016388.242, tz=UTC)
    assert REFRESH not in repr(result)


async def test_fetch_access_token_sends_credentials_as_headers_to_the_token_service() -> None:
    answer = {
        "accessToken": ACCESS,
        "endpointUrl": "https://inc-000.KaizalaMessaging.osi.office.net",
        "accessTokenExpiry": 1505566877207,
        "scope": "token.write",
        "refreshToken": "",
        **EXTRA,
    }
    kaizala = FakeKaizala(lambda request: reply(200, answer))
    client = make_client(kaizala)

    result = await client.fetch_access_token(APP_ID, APP_SECRET, REFRESH)

    request = kaizala.requests[0]
    assert (request.method, str(request.url)) == ("GET", "https://api.kaiza.la/v1/accessToken")
    assert request.headers["applicationId"] == APP_ID
    assert request.headers["applicationSecret"] == APP_SECRET
    assert request.headers["refreshToken"] == REFRESH
    assert "accessToken" not in request.headers
    assert result.accessToken == ACCESS
    assert result.new_refresh_token is None  # empty before day 328
    token = result.to_access_token()
    assert token.endpoint_url == answer["endpointUrl"]
    assert token.expires_on == datetime.fromtimestamp(1505566877.207, tz=UTC)
    assert ACCESS not in repr(result)
    assert ACCESS not in repr(token)


async def test_fetch_access_token_keeps_a_rotated_refresh_token() -> None:
    answer = {
        "accessToken": ACCESS,
        "endpointUrl": "https://kms2.kaiza.la/",
        "accessTokenExpiry": 1,
        "scope": "s",
        "refreshToken": REFRESH,
    }
    client = make_client(FakeKaizala(lambda request: reply(200, answer)))

    result = await client.fetch_access_token(APP_ID, APP_SECRET, "RT-old-token-1")

    assert result.new_refresh_token == REFRESH
    assert REFRESH not in repr(result)


@pytest.mark.parametrize(
    "endpoint", ["http://kms2.kaiza.la/", "ftp://kms2.kaiza.la/", "https://u:p@kms2.kaiza.la/"]
)
async def test_fetch_access_token_refuses_an_unsafe_endpoint_url(endpoint: str) -> None:
    answer = {"accessToken": ACCESS, "endpointUrl": endpoint, "accessTokenExpiry": 1, "scope": ""}
    client = make_client(FakeKaizala(lambda request: reply(200, answer)))

    with pytest.raises(KaizalaEndpointRefusedError) as info:
        await client.fetch_access_token(APP_ID, APP_SECRET, REFRESH)

    assert ACCESS not in str(info.value)
    assert ACCESS not in repr(info.value)


@pytest.mark.parametrize(
    ("active", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        (" True ", True),
        ("false", False),
        (" FALSE ", False),
        ("0", False),
        ("", None),
        (None, None),
    ],
)
def test_webhook_active_is_tolerant(active: object, expected: bool | None) -> None:
    webhook = Webhook.model_validate({"id": WEBHOOK, "active": active, "unknownField": 1})
    assert webhook.active is expected


def test_webhook_active_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="active"):
        Webhook.model_validate({"id": WEBHOOK, "active": "maybe"})


async def test_endpoint_url_given_with_v1_is_not_doubled() -> None:
    kaizala = FakeKaizala(lambda request: reply(200, []))
    client = make_client(kaizala, FakeTokens(endpoint="https://kms2.kaiza.la/v1/"))

    await client.list_groups()

    assert str(kaizala.requests[0].url) == "https://kms2.kaiza.la/v1/groups"


async def test_build_http_client_settings() -> None:
    http = build_http_client()
    try:
        assert http.timeout == httpx.Timeout(connect=10.0, read=60.0, write=30.0, pool=10.0)
        assert http.follow_redirects is False
        pool = http._transport._pool  # type: ignore[attr-defined]
        assert (pool._max_connections, pool._max_keepalive_connections) == (50, 20)
    finally:
        await http.aclose()


async def test_build_http_client_uses_the_given_transport() -> None:
    kaizala = FakeKaizala()
    http = build_http_client(httpx.MockTransport(kaizala))
    try:
        await http.get("https://kms2.kaiza.la/v1/groups")
    finally:
        await http.aclose()
    assert kaizala.hosts == ["kms2.kaiza.la"]
