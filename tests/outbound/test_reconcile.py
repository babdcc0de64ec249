"""Sends whose outcome is unknown (a crash or timeout after the POST) are reconciled."""

from __future__ import annotations

import time
from typing import Any

from shared.runtime import Runtime
from shared.stores.inbox import TABLE as INBOX
from shared.stores.inbox import inbox_key, partition_for
from tests.bridge_fixtures import OPPORTUNITY, SAMPLE_GROUP, KaizalaSim
from tests.outbound.conftest import ShiftedClock
from tests.support import body_json, call, request

SURVEY = {
    "groupId": SAMPLE_GROUP,
    "actionType": "Survey",
    "actionBody": {"title": "In doubt", "questions": [{"title": "Notes", "type": "Text"}]},
    "regarding": {"id": OPPORTUNITY},
}


async def post(body: dict[str, Any]) -> Any:
    resp = await call("send_action", request("POST", "/api/actions", body=body))
    return resp.status_code, body_json(resp)


def later(clock: ShiftedClock, seconds: float = 180) -> None:
    clock.offset += seconds  # past the stale threshold


def posts(kaizala: KaizalaSim, path: str) -> list[dict[str, Any]]:
    return kaizala.calls(path, "POST")


async def test_created_but_unrecorded_action_is_adopted_and_its_orphans_requeued(
    bridge: Runtime, kaizala: KaizalaSim, clock: ShiftedClock
) -> None:
    code, sent = await post(SURVEY)
    assert code == 201
    cid, action_id = sent["correlationId"], sent["actionId"]
    # The process died after Kaizala created the action, before recording it: no index row,
    # the claim still `sending`. A response arrived meanwhile and was kept as an orphan.
    await bridge.tables.delete("actionindex", action_id, "c")
    await bridge.tables.upsert(
        "actions",
        {
            "PartitionKey": cid,
            "RowKey": "a",
            "status": "sending",
            "actionId": "",
            "referenceId": "",
        },
    )
    await bridge.tables.insert(
        INBOX,
        {
            "PartitionKey": partition_for(action_id),  # keyed as intake keys it
            "RowKey": inbox_key("ev-1"),
            "status": "orphan",
            "responseId": "r-1",
            "attempts": 0,
            "receivedAt": int(time.time() * 1000),
        },
    )
    later(clock)
    report = await bridge.outbound.drain(max_seconds=5)
    assert report["adopted"] == 1
    row = await bridge.tables.get("actions", cid, "a")
    assert row is not None
    assert row.entity["status"] == "sent"
    assert row.entity["actionId"] == action_id
    assert await bridge.tables.get("actionindex", action_id, "c") is not None
    orphan = await bridge.tables.get(INBOX, partition_for(action_id), inbox_key("ev-1"))
    assert orphan is not None
    assert orphan.entity["status"] == "pending"
    assert len(posts(kaizala, "/actions")) == 1  # never sent again


async def test_never_created_action_is_requeued_and_sent_once(
    bridge: Runtime, kaizala: KaizalaSim, clock: ShiftedClock
) -> None:
    kaizala.control("POST", "faults", json={"pathRegex": "/actions$", "status": 500, "count": 1})
    code, body = await post(SURVEY)
    assert code == 202
    assert body["status"] == "sending"  # the POST may have reached Kaizala: in doubt
    status = await call(
        "get_action", request("GET", "/", route_params={"correlationId": body["correlationId"]})
    )
    assert status.status_code == 202
    later(clock)
    report = await bridge.outbound.drain(max_seconds=5)
    assert report["requeued"] == 1
    assert report["sent"] == 1
    created = [a for a in kaizala.state()["actions"] if a["body"].get("title") == "In doubt"]
    assert len(created) == 1


async def test_message_in_doubt_is_failed_not_resent(
    bridge: Runtime, kaizala: KaizalaSim, clock: ShiftedClock
) -> None:
    kaizala.control("POST", "faults", json={"pathRegex": "/messages$", "status": 502, "count": 1})
    code, body = await post(
        {
            "groupId": SAMPLE_GROUP,
            "actionType": "Message",
            "actionBody": {"message": "hi"},
            "regarding": {"id": OPPORTUNITY},
        }
    )
    assert code == 202
    later(clock)
    report = await bridge.outbound.drain(max_seconds=5)
    assert report["failed"] == 1
    resp = await call(
        "get_action", request("GET", "/", route_params={"correlationId": body["correlationId"]})
    )
    assert resp.status_code == 200
    assert body_json(resp)["status"] == "failed"
    assert "not resent" in body_json(resp)["lastError"]
    assert len(posts(kaizala, "/messages")) == 1


async def crash_after_create(bridge: Runtime, cid: str, action_id: str) -> None:
    """As if the process died after Kaizala created the action, before recording it."""
    await bridge.tables.delete("actionindex", action_id, "c")
    await bridge.tables.upsert(
        "actions",
        {
            "PartitionKey": cid,
            "RowKey": "a",
            "status": "sending",
            "actionId": "",
            "referenceId": "",
        },
    )


async def test_several_matching_actions_fail_rather_than_guess(
    bridge: Runtime, kaizala: KaizalaSim, clock: ShiftedClock
) -> None:
    code, sent = await post(SURVEY)
    assert code == 201
    cid, action_id = sent["correlationId"], sent["actionId"]
    await crash_after_create(bridge, cid, action_id)
    # A look-alike in the group, not the bridge's (posted by hand, same title, same type).
    twin = await bridge.kaizala.send_action(
        SAMPLE_GROUP, action_type="Survey", action_body=SURVEY["actionBody"]
    )
    later(clock)
    report = await bridge.outbound.drain(max_seconds=5)
    assert report["failed"] == 1
    assert (report["adopted"], report["requeued"]) == (0, 0)
    resp = await call("get_action", request("GET", "/", route_params={"correlationId": cid}))
    assert resp.status_code == 200
    status = body_json(resp)
    assert status["status"] == "failed"
    assert status["lastError"] == "several matching actions; not resent"
    for candidate in (action_id, twin.actionId):  # neither was adopted
        assert await bridge.tables.get("actionindex", candidate, "c") is None
    assert len(posts(kaizala, "/actions")) == 2  # the original and the twin: nothing resent


async def test_a_failing_list_call_leaves_it_for_the_next_run(
    bridge: Runtime, kaizala: KaizalaSim, clock: ShiftedClock
) -> None:
    code, sent = await post(SURVEY)
    assert code == 201
    cid, action_id = sent["correlationId"], sent["actionId"]
    await crash_after_create(bridge, cid, action_id)
    kaizala.control(
        "POST",
        "faults",
        json={"pathRegex": "/actions$", "method": "GET", "status": 500, "count": 50},
    )
    later(clock)
    report = await bridge.outbound.drain(max_seconds=5)
    assert report["left"] == 1
    assert report["adopted"] == report["failed"] == report["requeued"] == 0
    row = await bridge.tables.get("actions", cid, "a")
    assert row is not None
    assert row.entity["status"] == "sending"  # still in doubt, not guessed either way
    assert {c["status"] for c in kaizala.calls("/actions", "GET")} == {500}
    kaizala.control("DELETE", "faults")
    report = await bridge.outbound.drain(max_seconds=5)
    assert report["adopted"] == 1
    row = await bridge.tables.get("actions", cid, "a")
    assert row is not None
    assert (row.entity["status"], row.entity["actionId"]) == ("sent", action_id)
    assert len(posts(kaizala, "/actions")) == 1  # never sent again
