"""The client refuses, before sending, what the swagger does not allow (issue 10's audit)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pydantic import ValidationError

from shared.adapters.kaizala import (
    ActionProperty,
    CustomActionOverride,
    KaizalaValidationError,
    WebhookCreate,
)
from tests.kaizala_client.fakes import (
    CALLBACK_TOKEN,
    GROUP,
    FakeKaizala,
    FakeTokens,
    make_client,
    reply,
)

PACKAGE = "com.microsoft.kaizala.miniapps.BdayMessage.12"


def test_a_custom_property_value_is_a_string() -> None:
    assert ActionProperty(name="age", type="Numeric", value="30").value == "30"
    with pytest.raises(ValidationError):
        ActionProperty(name="age", type="Numeric", value=30)


async def test_a_custom_mapping_body_is_held_to_the_swagger() -> None:
    kaizala = FakeKaizala(lambda request: reply(200, {"referenceId": "r", "actionId": "a"}))
    client = make_client(kaizala)
    numeric = {"properties": [{"name": "age", "type": "Numeric", "value": 30}]}
    with pytest.raises(KaizalaValidationError, match="value"):
        await client.send_action(GROUP, action_package_id=PACKAGE, action_body=numeric)
    with pytest.raises(KaizalaValidationError, match="validity"):
        await client.send_action(GROUP, action_package_id=PACKAGE, action_body={"title": "t"})
    assert kaizala.requests == []
    override = CustomActionOverride(title="override title", validity=24)
    await client.send_action(GROUP, action_package_id=PACKAGE, action_body=override)
    assert kaizala.json()["actionBody"] == {"title": "override title", "validity": 24}


async def test_subscribers_pages_are_at_most_50() -> None:
    # Kaizala's docs: count "Default: 50. Maximum: 50" (the client allowed 1,000).
    kaizala = FakeKaizala(lambda request: reply(200, {"subscribers": []}))
    client = make_client(kaizala)
    with pytest.raises(KaizalaValidationError, match="50"):
        await client.list_subscribers(GROUP, count=51)
    assert kaizala.requests == []


async def test_group_details_need_the_token_connector() -> None:
    tokens = FakeTokens()
    tokens.token = replace(tokens.token, application_id="")
    kaizala = FakeKaizala()
    with pytest.raises(KaizalaValidationError, match="applicationId"):
        await make_client(kaizala, tokens).get_group(GROUP)
    assert kaizala.requests == []


async def test_a_member_is_removed_by_id_not_by_phone_number() -> None:
    kaizala = FakeKaizala()
    with pytest.raises(KaizalaValidationError):
        await make_client(kaizala).remove_member(GROUP, "+919100000002")
    assert kaizala.requests == []


def test_a_webhook_has_its_callback_token_and_context() -> None:
    base = {
        "objectId": GROUP,
        "objectType": "Group",
        "eventTypes": ["SurveyResponse"],
        "callBackUrl": "https://bridge.example.com/api/kaizala/webhook",
    }
    with pytest.raises(ValidationError):
        WebhookCreate(**base)
    hook = WebhookCreate(**base, callBackToken=CALLBACK_TOKEN)
    # Both are required by the swagger: the context is sent even when empty.
    dumped = hook.model_dump(exclude_none=True)
    assert dumped["callBackToken"] == CALLBACK_TOKEN
    assert dumped["callBackContext"] == ""
