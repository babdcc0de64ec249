"""POST /api/groups and the members endpoints, through the real functions, against the
Kaizala simulator (its state and call log are the evidence) with Azurite tables."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.domain.groups import CreateGroupRequest, group_key
from shared.runtime import Runtime
from shared.services.groups import STALE_CREATING_SECONDS
from tests.bridge_fixtures import KaizalaSim
from tests.groups.conftest import (
    OPPORTUNITY,
    ShiftedClock,
    create,
    hooks_on,
    member_numbers,
    sim_group,
)
from tests.support import body_json, call, request

ASHA = "+919100000001"  # the connector's user: Kaizala makes the creator the group's admin
TEAM = {
    "name": "Contoso deal team",
    "welcomeMessage": "Welcome, Contoso team",
    "members": [
        {"mobileNumber": "+91 91000 00002", "name": "Vikram Shah"},
        {"mobileNumber": "+919100000003"},
        {"mobileNumber": "0091-9100000004"},
    ],
    "groupType": "Group",
}
NUMBERS = {"+919100000002", "+919100000003", "+919100000004"}


def creates(kaizala: KaizalaSim) -> list[dict[str, Any]]:
    return [c for c in kaizala.calls("/v1/groups", "POST") if c["path"].endswith("/v1/groups")]


async def test_create_with_members_registers_and_subscribes(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    status, body = await create(TEAM)
    assert status == 201, body
    assert body == {"groupId": body["groupId"], "name": TEAM["name"], "members": 3}

    group = sim_group(kaizala, body["groupId"])
    assert group["groupName"] == TEAM["name"]
    assert member_numbers(group) == NUMBERS | {ASHA}
    # the body Kaizala got: every field of CreateGroup, the numbers in E.164
    [sent] = creates(kaizala)
    assert sent["body"] == {
        "name": TEAM["name"],
        "welcomeMessage": TEAM["welcomeMessage"],
        "members": ["+919100000002", "+919100000003", "+919100000004"],
        "groupType": "Group",
    }
    [hook] = hooks_on(kaizala, body["groupId"])
    assert hook["active"] is True
    assert set(hook["events"]) == {"SurveyResponse", "ActionResponse", "JobResponse"}
    record = await bridge.groups.find(body["groupId"])
    assert record is not None
    assert (record.name, record.regarding_id, record.conversation) == (TEAM["name"], "", False)


async def test_a_group_for_a_record_also_subscribes_its_chat(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    regarding = {"entityType": "opportunity", "id": OPPORTUNITY.upper()}
    status, body = await create({"name": "Contoso", "members": [], "regarding": regarding})
    assert status == 201, body
    [hook] = hooks_on(kaizala, body["groupId"])
    assert {"TextMessageCreated", "AttachmentCreated"} <= set(hook["events"])
    record = await bridge.groups.find(body["groupId"])
    assert record is not None
    assert (record.regarding_entity, record.regarding_id) == ("opportunity", OPPORTUNITY)
    assert record.conversation is True
    # the defaults Kaizala requires are filled in
    [sent] = creates(kaizala)
    assert sent["body"]["groupType"] == "Group"
    assert sent["body"]["welcomeMessage"]


async def test_the_same_create_repeated_makes_no_second_group(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    first_status, first = await create(TEAM)
    again_status, again = await create(TEAM)
    assert (first_status, again_status) == (201, 200)
    assert again == first
    assert len(creates(kaizala)) == 1

    # an explicit key with a different request is a conflict, and creates nothing
    key = {"Idempotency-Key": "team-42"}
    assert (await create(TEAM, key))[0] == 201
    status, problem = await create({**TEAM, "name": "Another team"}, key)
    assert status == 409, problem
    assert problem["type"].endswith("/conflict")
    # so is a second, different group for the same record
    regarding = {"entityType": "opportunity", "id": OPPORTUNITY}
    status, made = await create({**TEAM, "regarding": regarding})
    assert status == 201
    status, problem = await create({**TEAM, "name": "Other", "regarding": regarding})
    assert status == 409
    assert problem["groupId"] == made["groupId"]
    assert len(creates(kaizala)) == 3


async def test_concurrent_identical_creates_make_one_group(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    results = await asyncio.gather(*(create(TEAM) for _ in range(3)))
    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 1, results
    # the others waited for the first (or were told to retry): never a second group
    assert set(statuses) <= {200, 201, 503}
    assert len(creates(kaizala)) == 1


async def test_more_members_than_one_call_takes(bridge: Runtime, kaizala: KaizalaSim) -> None:
    numbers = [f"+9198{i:08d}" for i in range(150)]
    members = [{"mobileNumber": n} for n in numbers]
    status, body = await create({"name": "Field force", "members": members})
    assert (status, body["members"]) == (201, 150), body
    [sent] = creates(kaizala)
    assert sent["body"]["members"] == numbers[:100]  # Kaizala's documented maximum per call
    [added] = kaizala.calls(f"/groups/{body['groupId']}/members", "PUT")
    assert added["body"] == {"members": numbers[100:]}
    assert member_numbers(sim_group(kaizala, body["groupId"])) == set(numbers) | {ASHA}


async def test_members_add_list_remove(bridge: Runtime, kaizala: KaizalaSim) -> None:
    _, made = await create(TEAM)
    gid = made["groupId"]
    path = f"/api/groups/{gid}/members"
    params = {"groupId": gid}

    put = request(
        "PUT",
        path,
        body={"members": [{"mobileNumber": "+919100000005"}, {"mobileNumber": "+919100000006"}]},
        route_params=params,
    )
    resp = await call("add_group_members", put)
    assert resp.status_code == 200, resp.get_body()
    assert body_json(resp) == {"groupId": gid, "members": 2}

    resp = await call("list_group_members", request("GET", path, route_params=params))
    assert resp.status_code == 200
    listed = body_json(resp)["members"]
    expected = NUMBERS | {ASHA, "+919100000005", "+919100000006"}
    assert {m["mobileNumber"] for m in listed} == expected
    assert member_numbers(sim_group(kaizala, gid)) == expected

    vikram = next(m for m in listed if m["mobileNumber"] == "+919100000002")
    remove = request(
        "DELETE", f"{path}/{vikram['id']}", route_params={**params, "memberId": vikram["id"]}
    )
    resp = await call("remove_group_member", remove)
    assert resp.status_code == 204
    assert "+919100000002" not in member_numbers(sim_group(kaizala, gid))
    # removing again: the member is not there any more
    resp = await call("remove_group_member", remove)
    assert resp.status_code == 404
    assert resp.mimetype == "application/problem+json"


async def test_members_endpoints_refuse_bad_input(bridge: Runtime, kaizala: KaizalaSim) -> None:
    _, made = await create(TEAM)
    gid = made["groupId"]
    calls_before = len(kaizala.calls())

    # a phone number is not a member id, and nothing malformed reaches a Kaizala URL
    bad_member = request(
        "DELETE",
        f"/api/groups/{gid}/members/+919100000002",
        route_params={"groupId": gid, "memberId": "+919100000002"},
    )
    assert (await call("remove_group_member", bad_member)).status_code == 404
    bad_group = request("GET", "/api/groups/a%2Fb/members", route_params={"groupId": "a/b"})
    assert (await call("list_group_members", bad_group)).status_code == 404
    no_country_code = request(
        "PUT",
        f"/api/groups/{gid}/members",
        body={"members": [{"mobileNumber": "09100000005"}]},
        route_params={"groupId": gid},
    )
    resp = await call("add_group_members", no_country_code)
    assert resp.status_code == 400
    problem = body_json(resp)
    assert problem["errors"][0]["field"] == "members.0.mobileNumber"
    assert "09100000005" not in resp.get_body().decode()
    assert len(kaizala.calls()) == calls_before

    # a group Kaizala does not know
    unknown = "0b1c2d3e-0000-4000-8000-000000000000"
    resp = await call(
        "list_group_members",
        request("GET", f"/api/groups/{unknown}/members", route_params={"groupId": unknown}),
    )
    assert resp.status_code == 404


async def test_an_unconfirmed_create_is_looked_up_not_repeated(
    bridge: Runtime, kaizala: KaizalaSim, clock: ShiftedClock
) -> None:
    # Kaizala answers 500 to the create: the bridge cannot know whether the group exists
    kaizala.control(
        "POST", "faults", json={"pathRegex": r"/v1/groups$", "method": "POST", "status": 500}
    )
    status, problem = await create(TEAM)
    assert status == 503, problem
    assert not [g for g in kaizala.state()["groups"] if g["groupName"] == TEAM["name"]]

    # two minutes on, a retry looks among the connector's groups, finds none, creates one
    clock.offset += STALE_CREATING_SECONDS + 1
    status, body = await create(TEAM)
    assert status == 201, body
    assert len(kaizala.calls("/v1/groups", "GET")) == 1
    assert [g["groupId"] for g in kaizala.state()["groups"] if g["groupName"] == TEAM["name"]] == [
        body["groupId"]
    ]


async def test_a_group_created_before_a_crash_is_adopted(
    bridge: Runtime, kaizala: KaizalaSim, clock: ShiftedClock
) -> None:
    # A process created the group in Kaizala and died before noting it on its claim.
    req = CreateGroupRequest.model_validate(TEAM)
    key, rhash, _ = group_key(req, None)
    assert await bridge.groups.claim(key, rhash, int(clock() * 1000))
    lost = await bridge.kaizala.create_group(
        str(TEAM["name"]), welcome_message="w", members=["+919100000002"], group_type="Group"
    )
    clock.offset += STALE_CREATING_SECONDS + 1

    status, body = await create(TEAM)
    assert status == 201, body
    assert body["groupId"] == lost.groupId
    assert len(creates(kaizala)) == 1  # the lost one only
    assert member_numbers(sim_group(kaizala, lost.groupId)) == NUMBERS | {ASHA}
    assert hooks_on(kaizala, lost.groupId)
    assert await bridge.groups.find(lost.groupId) is not None
    assert (await create(TEAM)) == (200, body)


async def test_a_failure_after_the_create_resumes_without_a_second_group(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    numbers = [f"+9197{i:08d}" for i in range(120)]
    team = {"name": "Big team", "members": [{"mobileNumber": n} for n in numbers]}
    # Kaizala fails the AddMembers of the last 20 (every try): the group exists, half-filled
    kaizala.control(
        "POST",
        "faults",
        json={"pathRegex": r"/members$", "method": "PUT", "status": 500, "count": 3},
    )
    status, problem = await create(team)
    assert status == 502, problem
    # the retry goes on at once from the group Kaizala made
    status, body = await create(team)
    assert status == 201, body
    assert len(creates(kaizala)) == 1
    assert member_numbers(sim_group(kaizala, body["groupId"])) == set(numbers) | {ASHA}
    assert hooks_on(kaizala, body["groupId"])
