"""POST /api/actions/{correlationId}/reminder over the real stack: Azurite + the simulator.

What Kaizala got is read from the simulator's call log (`POST .../reminder` calls) and its
state (the action's `reminders` count), never from the bridge's own bookkeeping.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.config import Settings
from shared.runtime import Runtime
from tests.bridge_fixtures import OPPORTUNITY, SAMPLE_GROUP, KaizalaSim
from tests.outbound.conftest import ShiftedClock
from tests.support import body_json, call, request

REGARDING = {"entityType": "opportunity", "id": OPPORTUNITY, "name": "Contoso – 500 laptops"}
SURVEY = {
    "title": "Qualify Contoso",
    "questions": [
        {"title": "Close?", "type": "SingleOption", "options": [{"title": "Yes"}, {"title": "No"}]}
    ],
}
HOUR = 3600.0


async def send(kind: str = "Survey", body: dict[str, Any] | None = None) -> Any:
    payload = {
        "groupId": SAMPLE_GROUP,
        "actionType": kind,
        "actionBody": body or SURVEY,
        "regarding": REGARDING,
    }
    return await call("send_action", request("POST", "/api/actions", body=payload))


async def sent_action() -> dict[str, Any]:
    resp = await send()
    assert resp.status_code == 201, body_json(resp)
    body: dict[str, Any] = body_json(resp)
    return body


def remind(cid: str, body: Any = None) -> Any:
    return call(
        "send_reminder",
        request(
            "POST",
            f"/api/actions/{cid}/reminder",
            body=body,
            route_params={"correlationId": cid},
        ),
    )


def reminder_calls(kaizala: KaizalaSim) -> list[dict[str, Any]]:
    return [c for c in kaizala.calls("/reminder", "POST")]


def sim_reminders(kaizala: KaizalaSim, action_id: str) -> int:
    (action,) = [a for a in kaizala.state()["actions"] if a["actionId"] == action_id]
    return int(action["reminders"])


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


async def test_first_reminder_is_sent_and_a_repeat_makes_no_call(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    action = await sent_action()
    cid, aid = action["correlationId"], action["actionId"]

    first = await remind(cid)
    assert first.status_code == 201, body_json(first)
    body = body_json(first)
    assert body["correlationId"] == cid
    assert body["actionId"] == aid
    assert body["status"] == "sent"
    assert body["referenceId"]
    assert at(body["nextReminderAt"]) - at(body["remindedAt"]) == timedelta(hours=12)
    calls = reminder_calls(kaizala)
    assert [(c["path"], c["status"], c["body"]) for c in calls] == [
        (f"/ep/inc-000/v1/groups/{SAMPLE_GROUP}/actions/{aid}/reminder", 200, None)
    ]
    assert sim_reminders(kaizala, aid) == 1

    again = await remind(cid, body={})  # `{}` is the one body accepted
    assert again.status_code == 200
    assert body_json(again) == body  # the earlier reminder
    assert len(reminder_calls(kaizala)) == 1
    assert sim_reminders(kaizala, aid) == 1


async def test_the_window_ends_after_reminder_min_hours(
    bridge: Runtime, kaizala: KaizalaSim, clock: ShiftedClock
) -> None:
    cid = (await sent_action())["correlationId"]
    first = body_json(await remind(cid))

    clock.offset += 12 * HOUR - 2  # two seconds before the window ends
    inside = await remind(cid)
    assert inside.status_code == 200
    assert body_json(inside) == first
    assert len(reminder_calls(kaizala)) == 1

    clock.offset += 3  # a second after it ended
    after = await remind(cid)
    assert after.status_code == 201, body_json(after)
    second = body_json(after)
    assert at(second["remindedAt"]) - at(first["remindedAt"]) >= timedelta(hours=12)
    assert second["referenceId"] != first["referenceId"]
    assert len(reminder_calls(kaizala)) == 2


async def test_simultaneous_requests_on_two_instances_make_one_call(
    bridge: Runtime, kaizala: KaizalaSim, values: dict[str, str], clock: ShiftedClock
) -> None:
    cid = (await sent_action())["correlationId"]
    other = Runtime(Settings.from_env(values), clock=clock)  # a second instance, same tables
    try:
        await other.tokens.current()  # warm, so both instances reach the claim together

        async def here() -> tuple[int, Any]:
            resp = await remind(cid)
            return resp.status_code, body_json(resp)

        async def there() -> tuple[int, Any]:
            outcome = await other.reminders.remind(cid)
            return outcome.http_status, outcome.body.model_dump()

        results = await asyncio.gather(here(), there(), here(), there(), here(), there())
    finally:
        await other.aclose()
    assert sorted(status for status, _ in results) == [200, 200, 200, 200, 200, 201]
    assert len({body["referenceId"] for _, body in results}) == 1
    assert len(reminder_calls(kaizala)) == 1


async def test_an_action_that_is_not_sent_is_a_conflict(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    kaizala.control(
        "POST",
        "faults",
        json={"pathRegex": "/actions$", "status": 429, "count": 3, "retryAfter": 1},
    )
    queued = await send()
    assert queued.status_code == 202
    resp = await remind(body_json(queued)["correlationId"])
    assert resp.status_code == 409
    assert resp.mimetype == "application/problem+json"
    problem = body_json(resp)
    assert problem["type"].endswith("/conflict")
    assert "queued, not sent" in problem["detail"]
    assert reminder_calls(kaizala) == []


async def test_a_message_has_no_action_to_remind(bridge: Runtime, kaizala: KaizalaSim) -> None:
    resp = await send("Message", {"message": "A new opportunity arrived"})
    assert resp.status_code == 201
    reminded = await remind(body_json(resp)["correlationId"])
    assert reminded.status_code == 409
    assert "Message has no Kaizala action" in body_json(reminded)["detail"]
    assert reminder_calls(kaizala) == []


@pytest.mark.parametrize("cid", [str(uuid.uuid4()), "not-a-correlation-id"])
async def test_an_unknown_action_is_not_found(
    bridge: Runtime, kaizala: KaizalaSim, cid: str
) -> None:
    resp = await remind(cid)
    assert resp.status_code == 404
    assert body_json(resp)["type"].endswith("/not-found")
    assert reminder_calls(kaizala) == []


async def test_a_body_other_than_an_empty_object_is_refused(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    cid = (await sent_action())["correlationId"]
    resp = await remind(cid, body={"subscribers": ["+919100000002"]})
    assert resp.status_code == 400
    assert body_json(resp)["errors"][0]["field"] == "subscribers"
    assert reminder_calls(kaizala) == []


async def test_an_unconfirmed_reminder_counts_as_sent(bridge: Runtime, kaizala: KaizalaSim) -> None:
    cid = (await sent_action())["correlationId"]
    kaizala.control("POST", "faults", json={"pathRegex": "/reminder$", "status": 500, "count": 1})
    failed = await remind(cid)
    assert failed.status_code == 502
    problem = body_json(failed)
    assert problem["type"].endswith("/upstream")
    assert "may have been sent" in problem["detail"]

    again = await remind(cid)
    assert again.status_code == 200
    body = body_json(again)
    assert body["status"] == "unconfirmed"
    assert body["referenceId"] is None
    # One POST reached Kaizala (answered 500); none after it.
    assert [c["status"] for c in reminder_calls(kaizala)] == [500]


async def test_a_throttled_reminder_is_not_counted(bridge: Runtime, kaizala: KaizalaSim) -> None:
    action = await sent_action()
    kaizala.control(
        "POST",
        "faults",
        json={"pathRegex": "/reminder$", "status": 429, "count": 3, "retryAfter": 1},
    )
    throttled = await remind(action["correlationId"])
    assert throttled.status_code == 503
    assert throttled.headers["Retry-After"]
    assert sim_reminders(kaizala, action["actionId"]) == 0

    resp = await remind(action["correlationId"])
    assert resp.status_code == 201, body_json(resp)
    assert sim_reminders(kaizala, action["actionId"]) == 1


async def test_an_action_kaizala_no_longer_knows_is_an_upstream_error(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    action = await sent_action()
    cid = action["correlationId"]
    row = {"PartitionKey": cid, "RowKey": "a", "actionId": "0a0b0c0d-0000-4000-8000-000000000000"}
    await bridge.tables.upsert("actions", row)  # as if it was deleted in Kaizala
    missing = await remind(cid)
    assert missing.status_code == 502
    assert "not found" in body_json(missing)["detail"]

    await bridge.tables.upsert("actions", {**row, "actionId": action["actionId"]})
    resp = await remind(cid)
    assert resp.status_code == 201, body_json(resp)  # the refused one did not take the slot
    assert [c["status"] for c in reminder_calls(kaizala)] == [404, 200]


async def test_a_slot_left_sending_by_a_vanished_instance_counts_as_unconfirmed(
    bridge: Runtime, kaizala: KaizalaSim, clock: ShiftedClock
) -> None:
    cid = (await sent_action())["correlationId"]
    claimed = int((clock() - 6 * 60) * 1000)  # six minutes ago, never settled
    await bridge.tables.upsert(
        "actions",
        {
            "PartitionKey": cid,
            "RowKey": "a",
            "reminderAt": claimed,
            "reminderState": "sending",
            "reminderClaim": "gone",
        },
    )
    resp = await remind(cid)
    assert resp.status_code == 200
    assert body_json(resp)["status"] == "unconfirmed"
    assert reminder_calls(kaizala) == []

    clock.offset += 12 * HOUR
    assert (await remind(cid)).status_code == 201
    assert len(reminder_calls(kaizala)) == 1


class FrozenClock:
    """The runtime's clock held still, moved only by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_reminder_spends_the_shared_budget(
    values: dict[str, str], kaizala: KaizalaSim
) -> None:
    from tests.conftest import installed_runtime

    # 11 calls a minute: ten slots of one call each (shared/stores/budget.py); the clock stands
    # in the middle of a slot, so the send and the reminder meet in the same one.
    slot = 6.0
    clock = FrozenClock((int(ShiftedClock()() // slot) + 0.5) * slot)
    async with installed_runtime({**values, "KAIZALA_CALLS_PER_MINUTE": "11"}, clock=clock):
        action = await sent_action()  # takes the slot's one call
        spent = await remind(action["correlationId"])
        assert spent.status_code == 503
        assert body_json(spent)["type"].endswith("/unavailable")
        assert 1 <= int(spent.headers["Retry-After"]) <= slot
        assert reminder_calls(kaizala) == []

        clock.now += slot  # the next slot
        resp = await remind(action["correlationId"])
        assert resp.status_code == 201, body_json(resp)
        assert len(reminder_calls(kaizala)) == 1


async def test_a_reminder_under_way_elsewhere_is_waited_for_then_a_conflict(
    bridge: Runtime, kaizala: KaizalaSim, clock: ShiftedClock
) -> None:
    from shared.errors import ConflictError
    from shared.services.outbound.reminders import IN_FLIGHT_WAIT_SECONDS, Reminders
    from shared.stores.actions import ReminderSlots

    cid = (await sent_action())["correlationId"]
    await bridge.tables.upsert(
        "actions",
        {
            "PartitionKey": cid,
            "RowKey": "a",
            "reminderAt": int(clock() * 1000),
            "reminderState": "sending",  # another instance is in the Kaizala call right now
            "reminderClaim": "elsewhere",
        },
    )
    waited: list[float] = []

    async def sleep(seconds: float) -> None:  # virtual time: each poll moves the clock
        waited.append(seconds)
        clock.offset += seconds

    reminders = Reminders(
        bridge.actions_store,
        ReminderSlots(bridge.tables),
        bridge.budget,
        bridge.kaizala,
        min_hours=12,
        clock=clock,
        sleep=sleep,
    )
    started = clock()
    with pytest.raises(ConflictError, match="being sent"):
        await reminders.remind(cid)
    assert waited  # it polled, and gave up only once the wait was over
    assert clock() - started > IN_FLIGHT_WAIT_SECONDS
    assert reminder_calls(kaizala) == []
