"""The conditional activity write, with other writers interleaved at exact points.

Every request goes to the Dataverse simulator over real HTTP; `DataverseGate` (conftest) holds
one, or runs a concurrent writer (or a user deleting the activity) just before it is sent, so
each 412 and 404 below is the simulator's own answer to a real change, not a timed race.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from devtools.dataverse_sim import SimState
from shared.adapters.dataverse import activity_id_for
from shared.runtime import Runtime
from shared.services.inbound import sweep_inbox
from shared.services.inbound.activity import WRITE_ROUNDS
from tests.inbound.conftest import (
    CONTOSO,
    SAMPLE_RESPONSE_TIME,
    Clock,
    DataverseGate,
    assert_holds_the_edit,
    correlate,
    edit_of,
    post_event,
    row_of,
    sim_tasks,
    survey_event,
)
from tests.support import body_json

# Exchanges of the bridge's client, as the gate records them.
CREATE_REFUSED = ("PATCH", "create", 412)
CREATED = ("PATCH", "create", 204)
READ = ("GET", "", 200)
READ_MISSING = ("GET", "", 404)
WRITE_REFUSED = ("PATCH", "if-match", 412)
WRITE_MISSING = ("PATCH", "if-match", 404)
WRITTEN = ("PATCH", "if-match", 204)

# The inline budget measures wall time; tests that hold a request while something else happens
# are about the order of writes, so they take the budget out of play.
NO_BUDGET = 600.0


async def existing_activity(rt: Runtime, event: dict[str, Any], answered: int | None) -> str:
    """The event's activity as another writer left it (an answer time, or none: written before
    answer times were recorded)."""
    activity_id = str(activity_id_for(event["data"]["responseId"]))
    marker = "" if answered is None else f"\nKaizala answer time: {answered}"
    await rt.dataverse.upsert_activity(
        "tasks", activity_id, "opportunity", CONTOSO, {"subject": "older", "description": marker}
    )
    return activity_id


def other_writer(rt: Runtime, activity_id: str, answered: int) -> Any:
    """A hook: another event of the same response writes the activity (a new version)."""

    async def write(_: httpx.Request) -> None:
        await rt.dataverse.upsert_activity(
            "tasks",
            activity_id,
            "opportunity",
            CONTOSO,
            {"subject": "other", "description": f"x\nKaizala answer time: {answered}"},
        )

    return write


@pytest.mark.parametrize(
    ("meanwhile", "outcome"),
    [(SAMPLE_RESPONSE_TIME - 1, "done"), (SAMPLE_RESPONSE_TIME + 1, "superseded")],
)
async def test_a_write_refused_after_the_read_reads_and_decides_again(
    rt: Runtime,
    token: str,
    sim: SimState,
    clock: Clock,
    gate: DataverseGate,
    meanwhile: int,
    outcome: str,
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    event = survey_event(action_id)
    activity_id = await existing_activity(rt, event, SAMPLE_RESPONSE_TIME - 5)
    # Between this event's read and its If-Match write, another event of the response writes.
    gate.before("PATCH", "if-match", other_writer(rt, activity_id, meanwhile), nth=1)

    assert body_json(await post_event(event, token))["status"] == "accepted"

    assert gate.sent[:4] == [CREATE_REFUSED, READ, WRITE_REFUSED, READ]
    row = await row_of(rt.tables, event["eventId"])
    assert row["status"] == outcome
    (task,) = sim_tasks(sim)
    if outcome == "done":  # the second read saw an older answer: written over that version
        assert gate.sent[4:] == [WRITTEN]
        assert task["description"].endswith(f"\nKaizala answer time: {SAMPLE_RESPONSE_TIME}")
        assert f"Event id: {event['eventId']}" in task["description"]
    else:  # the second read saw a newer answer: left as it is
        assert gate.sent[4:] == []
        assert task["description"].endswith(f"\nKaizala answer time: {meanwhile}")


async def test_losing_every_round_is_retried_later(
    rt: Runtime, token: str, sim: SimState, clock: Clock, gate: DataverseGate
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    event = survey_event(action_id)
    activity_id = await existing_activity(rt, event, SAMPLE_RESPONSE_TIME - 5)
    # Another writer gets in before each of this event's If-Match writes (an older answer
    # each time, so this event keeps deciding to write).
    gate.before("PATCH", "if-match", other_writer(rt, activity_id, SAMPLE_RESPONSE_TIME - 1))

    assert body_json(await post_event(event, token))["status"] == "accepted"

    assert gate.sent == [CREATE_REFUSED] + [READ, WRITE_REFUSED] * WRITE_ROUNDS
    row = await row_of(rt.tables, event["eventId"])
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["lastError"].startswith("DataverseConflictError: ")
    assert row["nextAttemptAt"] > row["lastAttemptAt"]

    gate.clear()  # the other writers are done
    clock.advance(3600)
    report = await sweep_inbox(rt.inbound)
    assert report.outcomes == {"done": 1}
    assert sim_tasks(sim)[0]["description"].endswith(
        f"\nKaizala answer time: {SAMPLE_RESPONSE_TIME}"
    )


async def test_activity_deleted_between_read_and_write_is_created_again(
    rt: Runtime, token: str, sim: SimState, clock: Clock, gate: DataverseGate
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    event = survey_event(action_id)
    activity_id = await existing_activity(rt, event, None)

    async def user_deletes(_: httpx.Request) -> None:
        sim.delete("tasks", activity_id)  # a user deletes the activity in Dynamics

    gate.before("PATCH", "if-match", user_deletes, nth=1)

    await post_event(event, token)

    # The If-Match write finds nothing (404): decided again, as a create.
    assert gate.sent == [CREATE_REFUSED, READ, WRITE_MISSING, READ_MISSING, CREATED]
    assert (await row_of(rt.tables, event["eventId"]))["status"] == "done"
    assert [t["activityid"] for t in sim_tasks(sim)] == [activity_id]
    assert sim_tasks(sim)[0]["description"].endswith(f"Kaizala answer time: {SAMPLE_RESPONSE_TIME}")


async def test_activity_deleted_while_the_create_only_write_is_held_is_written_again(
    rt: Runtime, token: str, sim: SimState, clock: Clock, gate: DataverseGate
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    event = survey_event(action_id)
    activity_id = await existing_activity(rt, event, None)
    rt.inbound.inline_budget = NO_BUDGET
    held = gate.hold("PATCH", "create")

    async def delete_while_the_write_is_held() -> None:
        await held.reached.wait()
        sim.delete("tasks", activity_id)  # a user deletes the activity in Dynamics
        held.release()

    await asyncio.gather(post_event(event, token), delete_while_the_write_is_held())

    assert (await row_of(rt.tables, event["eventId"]))["status"] == "done"
    assert [t["activityid"] for t in sim_tasks(sim)] == [activity_id]
    # Deleted while the create-only write was held: that write then creates it again.
    assert gate.sent == [CREATED]
    assert sim_tasks(sim)[0]["description"].endswith(f"Kaizala answer time: {SAMPLE_RESPONSE_TIME}")


async def test_original_and_edit_crossing_in_flight_keep_the_edit(
    rt: Runtime, token: str, sim: SimState, clock: Clock, gate: DataverseGate
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    original = survey_event(action_id)
    edited_at = SAMPLE_RESPONSE_TIME + 30_000
    edit = edit_of(original, action_id, edited_at)
    rt.inbound.inline_budget = NO_BUDGET
    # Dataverse is slow to take the first write, the original's: the edit's overtakes it.
    held = gate.hold("PATCH", "create", nth=1)

    async def edit_while_the_original_is_held() -> Any:
        await held.reached.wait()
        answer = await post_event(edit, token)
        held.release()
        return answer

    answers = await asyncio.gather(post_event(original, token), edit_while_the_original_is_held())

    assert [body_json(a)["status"] for a in answers] == ["accepted", "accepted"]
    assert (await row_of(rt.tables, edit["eventId"]))["status"] == "done"
    assert (await row_of(rt.tables, original["eventId"]))["status"] == "superseded"
    tasks = sim_tasks(sim)
    assert len(tasks) == 1
    assert_holds_the_edit(tasks[0], edit, edited_at)
    # The edit created it; the original's late create-only write was refused, and one read
    # showed the newer answer.
    assert gate.sent == [CREATED, CREATE_REFUSED, READ]
    by_status = sim.stats()["byMethodStatus"]
    assert by_status["PATCH 412"] == 1
    assert by_status["PATCH 204"] == 1
