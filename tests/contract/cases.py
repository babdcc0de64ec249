"""One case per operation of the swagger: the client method that speaks it, and a call of it
against the simulator (making first what the call needs)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from devtools.kaizala_sim import SAMPLE_ADMIN, SAMPLE_APPLICATION_ID, SAMPLE_APPLICATION_SECRET
from shared.adapters.kaizala import SurveyBody, SurveyQuestion
from tests.contract.conftest import World, new_number
from tests.contract.swagger import Sent

Run = Callable[[World], Awaitable[tuple[Any, Sent]]]


@dataclass(frozen=True)
class Case:
    operation: str  # the swagger's operationId
    method: str  # the client method that speaks it
    run: Run
    # Query parameters the project's API notes document beside the swagger's.
    documented_query: tuple[str, ...] = ()


async def _generate_pin(w: World) -> tuple[Any, Sent]:
    return await w.record(w.auth.generate_pin(new_number(), SAMPLE_APPLICATION_ID))


async def _login(w: World) -> tuple[Any, Sent]:
    mobile = new_number()
    await w.auth.generate_pin(mobile, SAMPLE_APPLICATION_ID)
    pin = w.control.get("/_sim/pin", params={"mobileNumber": mobile}).json()["pin"]
    return await w.record(w.auth.login_with_pin(mobile, SAMPLE_APPLICATION_ID, pin))


async def _access_token(w: World) -> tuple[Any, Sent]:
    return await w.record(
        w.auth.fetch_access_token(SAMPLE_APPLICATION_ID, SAMPLE_APPLICATION_SECRET, w.refresh_token)
    )


async def _create_group(w: World) -> tuple[Any, Sent]:
    # Name only: the client fills the three other required fields.
    return await w.record(w.client.create_group("Contract group"))


async def _list_groups(w: World) -> tuple[Any, Sent]:
    return await w.record(w.client.list_groups())


async def _get_group(w: World) -> tuple[Any, Sent]:
    return await w.record(w.client.get_group(w.group))


async def _create_subgroup(w: World) -> tuple[Any, Sent]:
    parent = await w.new_group()
    return await w.record(w.client.create_subgroup(parent, "North"))


async def _add_subgroups(w: World) -> tuple[Any, Sent]:
    parent, child = await w.new_group(), await w.new_group()
    return await w.record(w.client.add_subgroups(parent, [child]))


async def _list_subgroups(w: World) -> tuple[Any, Sent]:
    parent = await w.new_group()
    await w.client.create_subgroup(parent, "South")
    return await w.record(w.client.list_subgroups(parent))


async def _remove_subgroup(w: World) -> tuple[Any, Sent]:
    parent = await w.new_group()
    child = (await w.client.create_subgroup(parent, "East")).groupId
    return await w.record(w.client.remove_subgroup(parent, child))


async def _add_members(w: World) -> tuple[Any, Sent]:
    group = await w.new_group()
    return await w.record(w.client.add_members(group, [new_number()]))


async def _list_members(w: World) -> tuple[Any, Sent]:
    return await w.record(w.client.list_members(w.group))


async def _remove_member(w: World) -> tuple[Any, Sent]:
    group = await w.new_group()
    members = await w.client.list_members(group)
    member = next(m for m in members if m.mobileNumber != SAMPLE_ADMIN)
    assert member.id is not None
    return await w.record(w.client.remove_member(group, member.id))


async def _list_subscribers(w: World) -> tuple[Any, Sent]:
    group, _ = await w.public_group()
    return await w.record(w.client.list_subscribers(group))


async def _add_subscribers(w: World) -> tuple[Any, Sent]:
    group, _ = await w.public_group()
    return await w.record(w.client.add_subscribers(group, [new_number()]))


async def _remove_subscribers(w: World) -> tuple[Any, Sent]:
    group, subscriber = await w.public_group()
    return await w.record(w.client.remove_subscribers(group, [subscriber]))


async def _upload_media(w: World) -> tuple[Any, Sent]:
    return await w.record(w.client.upload_media("site.jpg", b"\xff\xd8jpeg", "image/jpeg"))


async def _message_to_subscribers(w: World) -> tuple[Any, Sent]:
    group, subscriber = await w.public_group()
    return await w.record(
        w.client.send_message(group, "Offer ends today", subscribers=[subscriber])
    )


async def _survey_response(w: World) -> tuple[Any, Sent]:
    # The swagger's `Answer` items describe a location answer only ({lt, lg, n}), and its
    # ResponseLocation has integer coordinates: a survey of one Location question fits both.
    survey = await w.survey(location_only=True)
    body = {
        "actionType": "Survey",
        "actionBody": {
            "responseName": "Contract",
            "responseLocation": {"latitude": 13, "longitude": 78, "name": "Bengaluru"},
            "Answers": [{"lt": 13, "lg": 78, "n": "Bengaluru"}],
        },
    }
    return await w.record(w.client.post_response(w.group, survey, body))


async def _action_response(w: World) -> tuple[Any, Sent]:
    poll = await w.poll()
    body = {"id": poll, "actionType": "Poll", "actionBody": {"Answers": ["Yes"]}}
    return await w.record(w.client.post_response(w.group, poll, body))


async def _send_message(w: World) -> tuple[Any, Sent]:
    return await w.record(w.client.send_message(w.group, "Pipeline review at 10"))


async def _custom_to_subscribers(w: World) -> tuple[Any, Sent]:
    group, subscriber = await w.public_group()
    return await w.record(
        w.client.send_action(
            group,
            action_package_id="com.microsoft.kaizala.miniapps.BdayMessage.12",
            action_body={"title": "override title", "validity": 24},
            subscribers=[subscriber],
        )
    )


async def _get_action(w: World) -> tuple[Any, Sent]:
    survey = await w.survey()
    return await w.record(w.client.get_action(w.group, survey))


async def _list_actions(w: World) -> tuple[Any, Sent]:
    return await w.record(w.client.list_actions(w.group, "Job", count=10))


async def _send_survey(w: World) -> tuple[Any, Sent]:
    body = SurveyBody(title="Deal check", questions=[SurveyQuestion(title="Notes", type="Text")])
    return await w.record(w.client.send_action(w.group, action_type="Survey", action_body=body))


async def _list_webhooks(w: World) -> tuple[Any, Sent]:
    return await w.record(w.client.list_webhooks(w.group, "Group"))


async def _create_webhook(w: World) -> tuple[Any, Sent]:
    return await w.record(w.client.create_webhook(w.webhook()))


async def _delete_webhook(w: World) -> tuple[Any, Sent]:
    webhook_id = await w.client.create_webhook(w.webhook(callBackContext="to delete"))
    return await w.record(w.client.delete_webhook(webhook_id))


CASES = [
    Case("GeneratePin", "generate_pin", _generate_pin),
    Case("GetRefreshToken", "login_with_pin", _login),
    Case("GenerateAccessToken", "fetch_access_token", _access_token),
    Case("CreateGroup", "create_group", _create_group),
    Case("FetchDirectGroups", "list_groups", _list_groups),
    Case("FetchGroupDetails", "get_group", _get_group),
    Case("CreateSubgroup", "create_subgroup", _create_subgroup),
    Case("AddSubgroup", "add_subgroups", _add_subgroups),
    Case("FetchSubgroup", "list_subgroups", _list_subgroups),
    Case("RemoveGroupAsSubgroup", "remove_subgroup", _remove_subgroup),
    Case("AddMembers", "add_members", _add_members),
    Case("FetchMembers", "list_members", _list_members),
    Case("RemoveMembers", "remove_member", _remove_member),
    Case("GetSubscribers", "list_subscribers", _list_subscribers),
    Case("AddSubscribers", "add_subscribers", _add_subscribers),
    Case("RemoveSubscribers", "remove_subscribers", _remove_subscribers),
    Case("UploadMedia", "upload_media", _upload_media),
    Case("SendMessageToSubscriber", "send_message(subscribers=…)", _message_to_subscribers),
    Case("PostingSurveyResponse", "post_response", _survey_response),
    Case("PostingActionResponse", "post_response", _action_response),
    Case("SendMessage", "send_message", _send_message),
    Case("PostCustomActionSubscriber", "send_action(action_package_id=…)", _custom_to_subscribers),
    Case("FetchingSurveyResponses", "get_action", _get_action),
    # fromDate and count: the project's API notes (../shared/kaizala-api/README.md).
    Case("FetchJobs", "list_actions", _list_actions, documented_query=("fromDate", "count")),
    Case("SendSurvey", "send_action(action_type='Survey')", _send_survey),
    Case("GetAllWebhooks", "list_webhooks", _list_webhooks),
    Case("SubscribeToAllEvents", "create_webhook", _create_webhook),
    Case("UnsubscribingAWebhook", "delete_webhook", _delete_webhook),
]
