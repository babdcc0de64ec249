"""Backfill over real HTTP: responses the webhook missed become tasks, exactly once.

Azurite, the Kaizala simulator and the Dataverse simulator; the bridge's functions are called
with real `azure.functions` requests. See conftest for the witness subscription.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from devtools.dataverse_sim import SimState
from shared.errors import UnavailableError
from shared.runtime import Runtime
from shared.stores.inbox import InboxStore
from tests.backfill.conftest import (
    MEMBERS,
    ShiftedClock,
    Witness,
    answer,
    detail_reads,
    missed_webhook,
    send,
    survey,
    wait_deliveries,
)
from tests.bridge_fixtures import KaizalaSim
from tests.support import body_json, call, request, run_timer


def tasks(dataverse: SimState) -> list[dict[str, Any]]:
    return dataverse.activities("tasks")


def task_of(dataverse: SimState, responder_name: str) -> dict[str, Any]:
    found = [t for t in tasks(dataverse) if responder_name in t["subject"]]
    assert len(found) == 1, [t["subject"] for t in tasks(dataverse)]
    return found[0]


async def inbox_rows(rt: Runtime) -> list[dict[str, Any]]:
    return await InboxStore(rt.tables).rows()


async def deliver(rt: Runtime, event: dict[str, Any]) -> dict[str, Any]:
    """The bridge's webhook receives `event`, as Kaizala posts it, with the bridge's token."""
    token = await rt.callbacks.ensure()
    headers = {"content-type": "application/json", "kz-callback-token": token}
    req = request("POST", "/api/kaizala/webhook", body=json.dumps(event), headers=headers)
    resp = await call("kaizala_webhook", req)
    assert resp.status_code == 200, resp.get_body()
    result: dict[str, Any] = body_json(resp)
    return result


async def test_missed_responses_backfilled_once_then_webhook_adds_none(
    rt: Runtime, kaizala: KaizalaSim, dataverse: SimState, witness: tuple[Witness, str]
) -> None:
    receiver, witness_url = witness
    await missed_webhook(rt, witness_url)
    _, action_id = await send("Survey", survey("Qualify the Contoso deal"))
    response_ids = [answer(kaizala, action_id, m, ["Likely", f"from {m}"]) for m in MEMBERS]
    wait_deliveries(kaizala)
    delivered = receiver.events()
    assert len(delivered) == 3  # Kaizala sent them, to the witness only
    assert receiver.events("/bridge") == []
    assert tasks(dataverse) == []

    await run_timer("backfill_responses")
    assert len(tasks(dataverse)) == 3
    rows = await inbox_rows(rt)
    assert sorted(r["responseId"] for r in rows) == sorted(response_ids)
    assert {r["status"] for r in rows} == {"done"}
    assert all(r["eventId"].startswith("backfill-") for r in rows)
    for member in ("Vikram Shah", "Meera Iyer", "Rohan Das"):
        assert "Likely" in task_of(dataverse, member)["description"]
    # what the backfill wrote holds the same answer time as the webhook's events carry
    answered = {
        e["data"]["responseId"]: e["data"]["responseDetails"]["responseWithQuestions"][-1]["answer"]
        for e in delivered
    }
    assert {r["responseId"]: r["respondedAt"] for r in rows} == answered

    # Kaizala's own deliveries arrive afterwards (other event ids): no task added
    for event in delivered:
        assert (await deliver(rt, event))["status"] == "accepted"
    assert len(tasks(dataverse)) == 3
    assert len(await inbox_rows(rt)) == 6

    # Vikram edits his answer: the webhook is still gone, the backfill sees the edit
    kaizala.control("POST", "clock/advance", json={"seconds": 60})  # a later answer time
    answer(kaizala, action_id, MEMBERS[0], ["Unlikely", "changed my mind"], response_ids[0])
    report = await rt.backfill.run()
    assert (report.actions, report.seen, report.new, report.already) == (1, 3, 1, 2)
    assert report.outcomes == {"done": 1}
    edited = task_of(dataverse, "Vikram Shah")["description"]
    assert "Unlikely" in edited
    assert "changed my mind" in edited
    assert len(tasks(dataverse)) == 3

    # a second run reads the action again (one call) and inserts nothing
    reads, rows_before = detail_reads(kaizala, action_id), len(await inbox_rows(rt))
    writes = dataverse.stats()["writes"]
    again = await rt.backfill.run()
    assert (again.actions, again.seen, again.new, again.already) == (1, 3, 0, 3)
    assert detail_reads(kaizala, action_id) == reads + 1
    assert len(await inbox_rows(rt)) == rows_before
    assert dataverse.stats()["writes"] == writes


async def test_webhook_first_then_backfill_inserts_nothing(
    rt: Runtime, kaizala: KaizalaSim, dataverse: SimState, witness: tuple[Witness, str]
) -> None:
    receiver, witness_url = witness
    await missed_webhook(rt, witness_url)
    _, action_id = await send("Survey", survey("Qualify the Fabrikam deal"))
    answer(kaizala, action_id, MEMBERS[1], ["Likely", "first"])
    wait_deliveries(kaizala)
    [event] = receiver.events()
    assert (await deliver(rt, event))["status"] == "accepted"
    assert len(tasks(dataverse)) == 1
    writes = dataverse.stats()["writes"]

    report = await rt.backfill.run()
    assert (report.seen, report.new, report.already) == (1, 0, 1)
    assert len(await inbox_rows(rt)) == 1
    assert dataverse.stats()["writes"] == writes

    # an edit delivered by the webhook after a backfill still updates the same task
    kaizala.control("POST", "clock/advance", json={"seconds": 60})
    response_id = event["data"]["responseId"]
    answer(kaizala, action_id, MEMBERS[1], ["Unlikely", "second"], response_id)
    wait_deliveries(kaizala)
    edit = receiver.events()[-1]
    assert edit["data"]["isUpdateResponse"] is True
    assert (await deliver(rt, edit))["status"] == "accepted"
    [task] = tasks(dataverse)
    assert "second" in task["description"]
    assert (await rt.backfill.run()).new == 0


async def test_past_due_plus_a_day_not_read_and_the_admin_route(
    rt: Runtime, kaizala: KaizalaSim, clock: ShiftedClock, witness: tuple[Witness, str]
) -> None:
    await missed_webhook(rt, witness[1])
    short_cid, short_id = await send("Survey", survey("Due in an hour", due_hours=1))
    _, long_id = await send("Survey", survey("Due in two days", due_hours=48))
    answer(kaizala, short_id, MEMBERS[0], ["Likely", "late"])
    answer(kaizala, long_id, MEMBERS[0], ["Likely", "in time"])
    # 26 hours on, for both sides: the first is past its due date plus a day
    kaizala.control("POST", "clock/advance", json={"seconds": 26 * 3600})
    clock.offset += 26 * 3600

    report = await rt.backfill.run()
    assert (report.actions, report.skipped, report.new) == (1, 1, 1)
    assert detail_reads(kaizala, short_id) == 0
    assert detail_reads(kaizala, long_id) == 1

    # an operator asks for the late one: read whatever its due date
    route = f"/api/manage/actions/{short_cid}/backfill"
    resp = await call(
        "backfill_action", request("POST", route, route_params={"correlationId": short_cid})
    )
    assert resp.status_code == 200, resp.get_body()
    assert body_json(resp) == {
        "actions": 1,
        "skipped": 0,
        "deferred": 0,
        "failed": 0,
        "seen": 1,
        "new": 1,
        "already": 0,
        "outcomes": {"done": 1},
    }
    assert detail_reads(kaizala, short_id) == 1
    again = await call(
        "backfill_action", request("POST", route, route_params={"correlationId": short_cid})
    )
    assert body_json(again)["new"] == 0
    assert body_json(again)["already"] == 1


async def test_admin_route_refusals(rt: Runtime, kaizala: KaizalaSim) -> None:
    async def backfill(cid: str) -> tuple[int, dict[str, Any]]:
        path = f"/api/manage/actions/{cid}/backfill"
        resp = await call(
            "backfill_action", request("POST", path, route_params={"correlationId": cid})
        )
        return resp.status_code, body_json(resp)

    status, problem = await backfill("not-a-guid")
    assert (status, problem["type"].rsplit("/", 1)[-1]) == (404, "not-found")
    status, _ = await backfill("0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6")
    assert status == 404
    message_cid, _ = await send("Message", {"message": "hello"})
    status, problem = await backfill(message_cid)
    assert (status, problem["type"].rsplit("/", 1)[-1]) == (409, "conflict")
    # sends are queued: the budget is theirs, an operator is asked to come back
    survey_cid, _ = await send("Survey", survey("Queued behind sends"))
    await rt.outbox.push(str(uuid.uuid4()), 1)
    with pytest.raises(UnavailableError) as refused:
        await rt.backfill.one(survey_cid, max_seconds=0)
    assert refused.value.headers() == {"Retry-After": "6"}
    assert kaizala.calls("/actions/", "GET") == []


async def test_a_failed_read_skips_one_action_and_throttling_stops_the_run(
    rt: Runtime, kaizala: KaizalaSim, dataverse: SimState, witness: tuple[Witness, str]
) -> None:
    await missed_webhook(rt, witness[1])
    sent = [await send("Survey", survey(f"Survey {n}")) for n in range(3)]
    for _, action_id in sent:
        answer(kaizala, action_id, MEMBERS[2], ["Likely", "hello"])
    # the second action is gone from Kaizala (its id no longer known there)
    gone = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    row = {"PartitionKey": sent[1][0], "RowKey": "a", "actionId": gone}
    assert await rt.tables.update("actions", row, "*")

    report = await rt.backfill.run()
    assert (report.actions, report.failed, report.new, report.deferred) == (2, 1, 2, 0)
    assert len(tasks(dataverse)) == 2

    # Kaizala throttles: the run stops at the first action (the one never read comes first)
    kaizala.control(
        "POST",
        "faults",
        json={
            "pathRegex": "/actions/[^/]+$",
            "method": "GET",
            "status": 429,
            "count": 3,
            "retryAfter": 1,
        },
    )
    before = {a: detail_reads(kaizala, a) for a in (sent[0][1], sent[2][1], gone)}
    stopped = await rt.backfill.run()
    assert (stopped.actions, stopped.failed, stopped.deferred) == (0, 1, 2)
    assert detail_reads(kaizala, gone) == before[gone] + 3  # its three throttled attempts
    assert detail_reads(kaizala, sent[0][1]) == before[sent[0][1]]
    assert detail_reads(kaizala, sent[2][1]) == before[sent[2][1]]
