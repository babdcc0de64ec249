"""OPPORTUNITY_GROUP_MODE=per-opportunity: a Dataverse Create webhook makes the opportunity's
own group (owner and contact read from the Dataverse simulator), subscribes it, and sends the
survey there; retried deliveries change nothing."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devtools.serving import ServerThread
from shared.runtime import Runtime
from tests.bridge_fixtures import SAMPLE_GROUP, KaizalaSim
from tests.conftest import installed_runtime
from tests.groups.conftest import (
    CONTACT,
    OPPORTUNITY,
    OWNER,
    DataverseSim,
    ShiftedClock,
    groups_env,
    hooks_on,
    member_numbers,
    sim_group,
)
from tests.support import body_json, call, request

NAME = "Tailspin – 12 drones"
EXTRA = "+919100000009"
ASHA = "+919100000001"


def context(opportunity: str = OPPORTUNITY) -> dict[str, Any]:
    return {
        "MessageName": "Create",
        "PrimaryEntityName": "opportunity",
        "PrimaryEntityId": opportunity,
        "Depth": 1,
        "InputParameters": [
            {
                "key": "Target",
                "value": {
                    "LogicalName": "opportunity",
                    "Id": opportunity,
                    "Attributes": [{"key": "name", "value": NAME}],
                },
            }
        ],
    }


async def deliver(ctx: dict[str, Any]) -> tuple[int, Any]:
    resp = await call(
        "dynamics_opportunities", request("POST", "/api/dynamics/opportunities", body=ctx)
    )
    return resp.status_code, body_json(resp)


@pytest.fixture
async def bridge(
    env: dict[str, str],
    kaizala: KaizalaSim,
    tmp_path: Path,
    host: ServerThread,
    dataverse: DataverseSim,
    clock: ShiftedClock,
) -> AsyncIterator[Runtime]:
    values = groups_env(
        env,
        kaizala,
        tmp_path,
        host,
        dataverse,
        OPPORTUNITY_GROUP_MODE="per-opportunity",
        OPPORTUNITY_GROUP_EXTRA_MEMBERS=EXTRA,
    )
    del values["OPPORTUNITY_SURVEY_GROUP_ID"]  # not needed in this mode
    async with installed_runtime(values, clock=clock) as rt:
        yield rt


def surveys_in(kaizala: KaizalaSim, group_id: str) -> list[dict[str, Any]]:
    return [
        a
        for a in kaizala.state()["actions"]
        if a["groupId"] == group_id and a["actionType"] == "Survey"
    ]


async def test_one_webhook_delivered_twice_makes_one_group_with_its_people(
    bridge: Runtime, kaizala: KaizalaSim, dataverse: DataverseSim
) -> None:
    dataverse.seed("systemusers", id=OWNER, fullname="Vikram Shah", mobilephone="+91 91000 00002")
    dataverse.seed("contacts", id=CONTACT, fullname="Ana Ruiz", mobilephone="+919100000003")
    dataverse.seed("opportunities", id=OPPORTUNITY, name=NAME, ownerId=OWNER, contactId=CONTACT)

    first_status, first = await deliver(context())
    reads = dataverse.state.stats()["requests"]
    again_status, again = await deliver(context())  # Dataverse retries the same Create
    assert (first_status, again_status) == (201, 200), (first, again)
    assert again["groupId"] == first["groupId"]
    assert again["correlationId"] == first["correlationId"]
    assert "skippedMembers" not in first
    assert dataverse.state.stats()["requests"] == reads == 3  # read once: opp, owner, contact

    gid = first["groupId"]
    assert gid != SAMPLE_GROUP
    named = [g for g in kaizala.state()["groups"] if g["groupName"] == NAME]
    assert [g["groupId"] for g in named] == [gid]
    assert member_numbers(sim_group(kaizala, gid)) == {
        ASHA,  # the connector's user, the group's admin
        "+919100000002",  # the owner
        "+919100000003",  # the contact
        EXTRA,
    }
    [survey] = surveys_in(kaizala, gid)
    assert survey["actionId"] == first["actionId"]
    assert surveys_in(kaizala, SAMPLE_GROUP) == []
    [hook] = hooks_on(kaizala, gid)
    assert {"SurveyResponse", "TextMessageCreated", "AttachmentCreated"} <= set(hook["events"])

    record = await bridge.groups.find(gid)
    assert record is not None
    assert (record.regarding_entity, record.regarding_id) == ("opportunity", OPPORTUNITY)
    assert record.conversation is True and record.skipped == ()


async def test_people_without_a_usable_number_are_skipped_and_reported(
    bridge: Runtime,
    kaizala: KaizalaSim,
    dataverse: DataverseSim,
    caplog: pytest.LogCaptureFixture,
) -> None:
    national = "98450 12345"  # no country code: which country is unknown
    dataverse.seed("systemusers", id=OWNER, fullname="Vikram Shah", mobilephone=national)
    dataverse.seed("contacts", id=CONTACT, fullname="Ana Ruiz")  # no mobile number at all
    dataverse.seed("opportunities", id=OPPORTUNITY, name=NAME, ownerId=OWNER, contactId=CONTACT)

    with caplog.at_level(logging.INFO):
        status, body = await deliver(context())
    assert status == 201, body  # never a failure
    assert body["skippedMembers"] == [
        {
            "role": "owner",
            "reason": "mobile number is not in international format (+<country code><number>)",
            "id": OWNER,
        },
        {"role": "contact", "reason": "no mobile number", "id": CONTACT},
    ]
    assert member_numbers(sim_group(kaizala, body["groupId"])) == {ASHA, EXTRA}
    assert len(surveys_in(kaizala, body["groupId"])) == 1

    lines = [r.getMessage() for r in caplog.records if "not added to its group" in r.getMessage()]
    assert len(lines) == 2
    assert not [r for r in caplog.records if "98450" in r.getMessage()]

    cid = body["correlationId"]
    resp = await call(
        "get_action", request("GET", f"/api/actions/{cid}", route_params={"correlationId": cid})
    )
    assert resp.status_code == 200
    assert body_json(resp)["skippedMembers"] == body["skippedMembers"]


async def test_an_opportunity_without_owner_or_contact_still_gets_its_group(
    bridge: Runtime, kaizala: KaizalaSim, dataverse: DataverseSim
) -> None:
    missing_owner = "9f8e7d6c-5b4a-4392-8190-abcdefabcdef"
    dataverse.seed("opportunities", id=OPPORTUNITY, name=NAME, ownerId=missing_owner)
    status, body = await deliver(context())
    assert status == 201, body
    assert body["skippedMembers"] == [
        {"role": "owner", "reason": "no systemusers row with that id", "id": missing_owner},
        {"role": "contact", "reason": "the opportunity has no contact"},
    ]
    assert member_numbers(sim_group(kaizala, body["groupId"])) == {ASHA, EXTRA}


async def test_a_transient_dataverse_failure_creates_nothing(
    bridge: Runtime, kaizala: KaizalaSim, dataverse: DataverseSim
) -> None:
    dataverse.seed("opportunities", id=OPPORTUNITY, name=NAME)
    dataverse.http.post("/_sim/faults", json={"status": 503, "count": 4, "pathRegex": "opport"})
    status, problem = await deliver(context())
    assert status == 503, problem  # Dataverse retries a 503
    assert not [g for g in kaizala.state()["groups"] if g["groupName"] == NAME]
    dataverse.http.delete("/_sim/faults")
    status, body = await deliver(context())
    assert status == 201, body
