"""Events through inbox and sweeper into the Dataverse simulator (over HTTP), with Azurite."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from devtools.dataverse_sim import SimState
from devtools.serving import ServerThread
from shared.adapters.dataverse import activity_id_for
from shared.adapters.tables import TableStore
from shared.config import Settings
from shared.errors import ConfigError
from shared.runtime import Runtime, set_runtime
from shared.services.inbound import accept_event, sweep_inbox
from tests.conftest import register_secret
from tests.inbound.conftest import (
    CONTOSO,
    SAMPLE_RESPONSE_TIME,
    SURVEY_TITLE,
    UNKNOWN_OPPORTUNITY,
    Clock,
    Receiver,
    assert_holds_the_edit,
    correlate,
    edit_of,
    post_event,
    row_of,
    rows,
    sample,
    sim_control,
    sim_tasks,
    survey_event,
)
from tests.support import body_json, call, request, run_timer

EXTRA_QUESTIONS: list[dict[str, Any]] = [
    {
        "title": "Meeting place",
        "type": "Location",
        "options": [],
        "answer": {"latitude": 17.385, "longitude": 78.4867, "name": "Hyderabad office"},
    },
    {"title": "Decision date", "type": "Date", "options": [], "answer": 1767225600000},
    {
        "title": "Whiteboard",
        "type": "Image",
        "options": [],
        "answer": [{"mediaUrl": "https://example.invalid/att/wb.png", "mediaFileName": "wb.png"}],
    },
]


def full_survey(action_id: str, **kwargs: Any) -> dict[str, Any]:
    """The published sample plus Location, Date and Image answers (before the hidden one)."""
    event = survey_event(action_id, **kwargs)
    questions = event["data"]["responseDetails"]["responseWithQuestions"]
    questions[-1:-1] = json.loads(json.dumps(EXTRA_QUESTIONS))
    return event


def writes(sim: SimState) -> int:
    return int(sim.stats()["writes"])


def patches(sim: SimState, status: int = 204) -> int:
    return int(sim.stats()["byMethodStatus"].get(f"PATCH {status}", 0))


@pytest.fixture
def at(clock: Clock) -> Clock:
    """The clock of the runtime-built inbound dependencies (webhook, timer, replay)."""
    return clock


# ---- the hot path ----------------------------------------------------------------------------


async def test_correlated_response_becomes_task_with_every_answer(
    rt: Runtime, token: str, sim: SimState, at: Clock
) -> None:
    action_id = str(uuid.uuid4())
    correlation_id = await correlate(rt.tables, action_id)
    event = full_survey(action_id)
    resp = await post_event(event, token)
    assert resp.status_code == 200
    assert body_json(resp) == {"status": "accepted", "eventId": event["eventId"]}

    row = await row_of(rt.tables, event["eventId"])
    assert row["status"] == "done"
    assert row["PartitionKey"] == action_id
    tasks = sim_tasks(sim)
    assert len(tasks) == 1
    task = tasks[0]
    response_id = event["data"]["responseId"]
    assert task["activityid"] == str(activity_id_for(response_id))
    assert row["activityId"] == task["activityid"]
    assert task["_regardingobjectid_value"] == CONTOSO
    assert task["subject"] == f"Kaizala survey response: {SURVEY_TITLE} — Asha Rao"
    description = task["description"]
    for text in (
        "How likely is this deal to close this quarter?\n   Likely",
        "Estimated budget (USD)\n   125000",
        "Competitors involved\n   A, C",
        "Notes\n   Customer wants a demo next week.",
        "Site photo\n   IMG_0001.jpg <https://example.invalid/att/site.jpg>",
        "Meeting place\n   Hyderabad office (17.385, 78.4867)",
        "Decision date\n   2026-01-01T00:00:00Z",
        "Whiteboard\n   wb.png <https://example.invalid/att/wb.png>",
        "Responder: Asha Rao (+919100000001)",
        f"Response id: {response_id}",
        f"Event id: {event['eventId']}",
        f"Correlation id: {correlation_id}",
    ):
        assert text in description, text
    assert "ResponseTime" not in description  # the hidden question
    assert task["actualend"] == "2018-03-23T10:26:22Z"  # from the hidden ResponseTime
    assert writes(sim) == 1


async def test_action_and_job_responses(rt: Runtime, token: str, sim: SimState, at: Clock) -> None:
    action = sample("action_response")
    job = sample("job_response")
    await correlate(rt.tables, action["data"]["actionId"], title="Approve the discount")
    await correlate(
        rt.tables, job["data"]["actionId"], title="Visit customer site", action_type="Job"
    )
    for event in (action, job):
        assert body_json(await post_event(event, token))["status"] == "accepted"
    by_id = {t["activityid"]: t for t in sim_tasks(sim)}
    approve = by_id[str(activity_id_for(action["data"]["responseId"]))]
    assert approve["subject"] == "Kaizala response: Approve the discount — Vikram Shah"
    assert "Approve?\n   Yes" in approve["description"]
    visit = by_id[str(activity_id_for(job["data"]["responseId"]))]
    assert visit["subject"] == "Kaizala job update: Visit customer site — Meera Iyer (completed)"
    assert "Assignee: Meera Iyer (+919100000003)" in visit["description"]
    assert "Status: completed" in visit["description"]


class CountingTables:
    """Counts the storage transactions made through a TableStore (reads, writes, queries)."""

    def __init__(self, inner: TableStore) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def table_name(self, name: str) -> str:
        return self.inner.table_name(name)

    async def insert(self, table: str, entity: Any) -> bool:
        self.calls.append(f"insert {table}")
        return await self.inner.insert(table, entity)

    async def get(self, table: str, pk: str, rk: str) -> Any:
        self.calls.append(f"get {table}")
        return await self.inner.get(table, pk, rk)

    async def update(self, table: str, entity: Any, etag: str, **kw: Any) -> bool:
        self.calls.append(f"update {table}")
        return await self.inner.update(table, entity, etag, **kw)

    async def upsert(self, table: str, entity: Any, **kw: Any) -> None:
        self.calls.append(f"upsert {table}")
        await self.inner.upsert(table, entity, **kw)

    async def delete(self, *args: Any, **kw: Any) -> bool:
        self.calls.append(f"delete {args[0]}")
        return await self.inner.delete(*args, **kw)

    def query(self, table: str, *args: Any, **kw: Any) -> Any:
        self.calls.append(f"query {table}")
        return self.inner.query(table, *args, **kw)

    async def close(self) -> None:
        await self.inner.close()


async def test_warm_hot_path_is_five_table_transactions(
    rt: Runtime, token: str, sim: SimState, at: Clock
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    counting = CountingTables(rt.tables)
    rt.tables = counting  # type: ignore[assignment]
    await rt.flows.active()  # the trigger subscriptions: read once per 30 s per process
    counting.calls.clear()
    await post_event(survey_event(action_id), token)  # warms the correlation cache
    # the due-index entry (before the row: the sweep's only way to find it), inbox row,
    # correlation, the summary mark (one insert), the inbox row's outcome, then the entry goes
    # (after the row is done)
    assert counting.calls == [
        "upsert dueindex",
        "insert inbox",
        "get actionindex",
        "insert summarydue",
        "update inbox",
        "delete dueindex",
    ]
    for _ in range(3):
        counting.calls.clear()
        assert body_json(await post_event(survey_event(action_id), token))["status"] == "accepted"
        # the same window's mark exists: the insert conflicts, nothing is read or retried
        assert counting.calls == [
            "upsert dueindex",
            "insert inbox",
            "insert summarydue",
            "update inbox",
            "delete dueindex",
        ]
    assert len(sim_tasks(sim)) == 4


async def test_same_event_ten_times_concurrently(
    rt: Runtime, token: str, sim: SimState, at: Clock
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    event = survey_event(action_id)
    answers = await asyncio.gather(*(post_event(event, token) for _ in range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    statuses = sorted(body_json(a)["status"] for a in answers)
    assert statuses == ["accepted"] + ["duplicate"] * 9
    assert len(await rows(rt.tables)) == 1
    assert len(sim_tasks(sim)) == 1
    assert writes(sim) == 1
    # a late redelivery after it was processed changes nothing either
    assert body_json(await post_event(event, token))["status"] == "duplicate"
    assert writes(sim) == 1


async def test_edited_response_updates_the_same_activity(
    rt: Runtime, token: str, sim: SimState, at: Clock
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    first = survey_event(action_id)
    assert body_json(await post_event(first, token))["status"] == "accepted"
    edit = survey_event(action_id, response_id=first["data"]["responseId"], isUpdateResponse=True)
    questions = edit["data"]["responseDetails"]["responseWithQuestions"]
    questions[0]["answer"] = "Unlikely"
    questions[1]["answer"] = 90000
    assert body_json(await post_event(edit, token))["status"] == "accepted"
    tasks = sim_tasks(sim)
    assert len(tasks) == 1
    description = tasks[0]["description"]
    assert "quarter?\n   Unlikely" in description
    assert "(USD)\n   90000" in description
    assert "125000" not in description
    assert "edited" in description
    assert f"Event id: {edit['eventId']}" in description
    assert writes(sim) == 2


async def test_older_answer_retried_after_newer_is_superseded(
    rt: Runtime, token: str, sim: SimState, at: Clock
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    original = survey_event(action_id)
    edit = survey_event(
        action_id,
        response_id=original["data"]["responseId"],
        isUpdateResponse=True,
        response_time=SAMPLE_RESPONSE_TIME + 60_000,  # Kaizala stamps the edit when it is made
    )
    edit["data"]["responseDetails"]["responseWithQuestions"][0]["answer"] = "Unlikely"
    sim.set_down(True)
    await post_event(original, token)  # fails inline: pending
    sim.set_down(False)
    at.advance(1)
    await post_event(edit, token)  # the newer answer is written inline
    at.advance(7200)
    report = await sweep_inbox(rt.inbound)
    assert report.outcomes == {"superseded": 1}
    assert (await row_of(rt.tables, original["eventId"]))["status"] == "superseded"
    assert "quarter?\n   Unlikely" in sim_tasks(sim)[0]["description"]


async def test_original_delivered_after_its_edit_is_superseded(
    forwarding_rt: tuple[Runtime, str],
    receiver: tuple[Receiver, str],
    sim: SimState,
    at: Clock,
) -> None:
    runtime, value = forwarding_rt
    action_id = str(uuid.uuid4())
    await correlate(runtime.tables, action_id)
    original = survey_event(action_id)
    edited_at = SAMPLE_RESPONSE_TIME + 90_000
    edit = edit_of(original, action_id, edited_at)

    assert body_json(await post_event(edit, value))["status"] == "accepted"
    at.advance(5)  # the original arrives later, but was answered earlier
    assert body_json(await post_event(original, value))["status"] == "accepted"

    assert (await row_of(runtime.tables, edit["eventId"]))["status"] == "done"
    late = await row_of(runtime.tables, original["eventId"])
    assert late["status"] == "superseded"
    assert late["respondedAt"] == SAMPLE_RESPONSE_TIME
    assert late["respondedAt"] < late["receivedAt"]
    tasks = sim_tasks(sim)
    assert len(tasks) == 1
    assert_holds_the_edit(tasks[0], edit, edited_at)
    # The edit was created in one call; the original's create-only write found it (412), one
    # read showed a newer answer, and nothing was written. Only the edit was forwarded.
    assert sim.stats()["byMethodStatus"] == {"PATCH 204": 1, "PATCH 412": 1, "GET 200": 1}
    await run_timer("deliver_flow_responses")  # the forward is the `static` subscription
    assert [b["eventId"] for b in receiver[0].received] == [edit["eventId"]]
    at.advance(7200)
    assert (await sweep_inbox(runtime.inbound)).found == 0
    assert writes(sim) == 1


async def test_edit_delivered_after_a_retried_original_is_still_written(
    rt: Runtime, token: str, sim: SimState, at: Clock
) -> None:
    # The normal order, through the sweeper: the original first (retried), then its edit.
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    original = survey_event(action_id)
    edited_at = SAMPLE_RESPONSE_TIME + 10_000
    edit = edit_of(original, action_id, edited_at)
    sim.set_down(True)
    await post_event(original, token)
    at.advance(1)
    await post_event(edit, token)
    sim.set_down(False)
    at.advance(7200)
    report = await sweep_inbox(rt.inbound)
    assert report.outcomes == {"done": 2}
    assert_holds_the_edit(sim_tasks(sim)[0], edit, edited_at)
    assert writes(sim) == 2


async def test_activity_written_before_answer_times_is_written_over(
    rt: Runtime, token: str, sim: SimState, at: Clock
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    event = survey_event(action_id)
    # As the bridge wrote it before: no answer time in the description.
    await rt.dataverse.upsert_activity(
        "tasks",
        activity_id_for(event["data"]["responseId"]),
        "opportunity",
        CONTOSO,
        {"subject": "old", "description": "Response id: x\nEvent id: y"},
    )
    await post_event(event, token)
    assert (await row_of(rt.tables, event["eventId"]))["status"] == "done"
    task = sim_tasks(sim)[0]
    assert task["description"].endswith(f"\nKaizala answer time: {SAMPLE_RESPONSE_TIME}")
    assert writes(sim) == 2


async def test_job_response_is_versioned_by_its_arrival_time(
    rt: Runtime, token: str, sim: SimState, at: Clock
) -> None:
    job = sample("job_response")
    await correlate(rt.tables, job["data"]["actionId"], title="Visit", action_type="Job")
    await post_event(job, token)
    row = await row_of(rt.tables, job["eventId"])
    assert row["status"] == "done"
    assert row["respondedAt"] == row["receivedAt"]  # a job response has no ResponseTime
    description = sim_tasks(sim)[0]["description"]
    assert description.endswith(f"\nKaizala answer time: {row['receivedAt']}")


# ---- orphans, failures, retries --------------------------------------------------------------


async def test_orphan_then_replay_after_correlation_exists(
    rt: Runtime, token: str, sim: SimState, at: Clock
) -> None:
    action_id = str(uuid.uuid4())
    event = survey_event(action_id)
    assert body_json(await post_event(event, token))["status"] == "accepted"
    assert (await row_of(rt.tables, event["eventId"]))["status"] == "orphan"
    at.advance(7200)
    await run_timer("process_inbox")  # orphans are not retried in a loop
    assert (await row_of(rt.tables, event["eventId"]))["status"] == "orphan"
    assert sim.stats()["requests"] == 0

    await correlate(rt.tables, action_id)
    resp = await call(
        "inbox_replay",
        request("POST", "/api/manage/inbox/replay", body={"eventId": event["eventId"]}),
    )
    assert resp.status_code == 200
    assert body_json(resp) == {"requeued": 1, "processed": {"done": 1}}
    assert (await row_of(rt.tables, event["eventId"]))["status"] == "done"
    assert len(sim_tasks(sim)) == 1


async def test_dataverse_down_burst_then_sweeper_writes_each_once(
    rt: Runtime, token: str, sim: SimState, at: Clock
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    sim.set_down(True)
    events = [survey_event(action_id) for _ in range(20)]
    answers = await asyncio.gather(*(post_event(e, token) for e in events))
    assert {a.status_code for a in answers} == {200}
    assert {body_json(a)["status"] for a in answers} == {"accepted"}
    stored = await rows(rt.tables)
    assert len(stored) == 20
    assert {r["status"] for r in stored} == {"pending"}
    # The burst's failures opened the process's circuit: the outage's, not the events' (no
    # attempt counted; see tests/drain).
    assert {r["attempts"] for r in stored} == {0}
    # Before the circuit opened, the call failed; after, the circuit refused it (no call).
    reasons = ("DataverseUnavailableError", "DataverseCircuitOpenError")
    assert all(any(x in r["lastError"] for x in reasons) for r in stored), stored
    assert sim_tasks(sim) == []

    sim.set_down(False)
    await run_timer("process_inbox")  # not due yet: back-off
    assert sim_tasks(sim) == []
    at.advance(3600)
    await run_timer("process_inbox")
    assert {r["status"] for r in await rows(rt.tables)} == {"done"}
    assert len(sim_tasks(sim)) == 20
    assert writes(sim) == 20
    assert patches(sim) == 20
    at.advance(3600)
    await run_timer("process_inbox")
    assert writes(sim) == 20


async def test_throttled_write_honours_retry_after(
    rt: Runtime, token: str, sim: SimState, at: Clock, dv_server: ServerThread
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    sim_control(dv_server, "POST", "faults", json={"status": 429, "retryAfter": 600, "count": 1})
    event = survey_event(action_id)
    await post_event(event, token)
    row = await row_of(rt.tables, event["eventId"])
    assert row["status"] == "pending"
    assert "DataverseThrottledError" in row["lastError"]
    wait_ms = row["nextAttemptAt"] - row["receivedAt"]
    assert 600_000 <= wait_ms <= 601_000
    at.advance(599)
    await run_timer("process_inbox")
    assert sim_tasks(sim) == []
    at.advance(2)
    await run_timer("process_inbox")
    assert (await row_of(rt.tables, event["eventId"]))["status"] == "done"
    assert len(sim_tasks(sim)) == 1


async def test_backoff_grows_and_attempts_run_out(
    inbound_env: dict[str, str], sim: SimState, at: Clock
) -> None:
    # The event's own back-off, without the process's circuit (tests/drain covers that).
    values = {**inbound_env, "INBOX_MAX_ATTEMPTS": "3", "DATAVERSE_CIRCUIT_FAILURES": "100"}
    runtime = Runtime(Settings.from_env(values), clock=at)
    # Full jitter draws a wait in [0, ceiling]; the middle of it makes each wait exact.
    runtime.inbound.jitter = lambda: 0.5
    set_runtime(runtime)
    try:
        value = await runtime.callbacks.ensure()
        register_secret(value)
        action_id = str(uuid.uuid4())
        await correlate(runtime.tables, action_id)
        sim.set_down(True)
        event = survey_event(action_id)
        await post_event(event, value)
        waits = []
        for _ in range(2):
            row = await row_of(runtime.tables, event["eventId"])
            assert row["status"] == "pending"
            waits.append(row["nextAttemptAt"] - int(at() * 1000))
            at.advance(row["nextAttemptAt"] / 1000 - at() + 1)
            await run_timer("process_inbox")
        assert waits == [15_000, 30_000]  # 0.5 x 30 s, then 0.5 x the doubled 60 s
        row = await row_of(runtime.tables, event["eventId"])
        assert (row["status"], row["attempts"]) == ("dead", 3)

        sim.set_down(False)
        resp = await call(
            "inbox_replay", request("POST", "/api/manage/inbox/replay", body={"status": "dead"})
        )
        assert body_json(resp) == {"requeued": 1, "processed": {"done": 1}}
        assert len(sim_tasks(sim)) == 1
    finally:
        set_runtime(None)
        await runtime.aclose()


async def test_permanent_rejection_is_dead_then_replayed_after_fix(
    rt: Runtime, token: str, sim: SimState, at: Clock, dv_server: ServerThread
) -> None:
    missing_opportunity, wrong_entity = str(uuid.uuid4()), str(uuid.uuid4())
    await correlate(rt.tables, missing_opportunity, regarding_id=UNKNOWN_OPPORTUNITY)
    await correlate(rt.tables, wrong_entity, regarding_entity="account")
    first, second = survey_event(missing_opportunity), survey_event(wrong_entity)
    await post_event(first, token)
    await post_event(second, token)
    row = await row_of(rt.tables, first["eventId"])
    assert (row["status"], row["attempts"]) == ("dead", 1)
    assert "404" in row["lastError"]
    row = await row_of(rt.tables, second["eventId"])
    assert row["status"] == "dead"
    assert "400" in row["lastError"]
    at.advance(7200)
    await run_timer("process_inbox")  # dead rows are not retried
    assert patches(sim, 404) == 1

    sim_control(
        dv_server, "POST", "opportunities", json={"id": UNKNOWN_OPPORTUNITY, "name": "Late deal"}
    )
    resp = await call("inbox_replay", request("POST", "/api/manage/inbox/replay", body={}))
    assert body_json(resp) == {"requeued": 2, "processed": {"done": 1, "dead": 1}}
    assert (await row_of(rt.tables, first["eventId"]))["status"] == "done"
    assert [t["_regardingobjectid_value"] for t in sim_tasks(sim)] == [UNKNOWN_OPPORTUNITY]


async def test_replay_validates_its_body(rt: Runtime) -> None:
    for body in ({"status": "done"}, {"eventId": ""}, {"other": 1}):
        resp = await call("inbox_replay", request("POST", "/api/manage/inbox/replay", body=body))
        assert resp.status_code == 400, body
    resp = await call("inbox_replay", request("POST", "/api/manage/inbox/replay", body={}))
    assert body_json(resp) == {"requeued": 0}


async def test_missing_dataverse_url_keeps_the_event_and_names_the_setting(
    inbound_env: dict[str, str], at: Clock
) -> None:
    env = {k: v for k, v in inbound_env.items() if not k.startswith("DATAVERSE_")}
    runtime = Runtime(Settings.from_env(env), clock=at)
    set_runtime(runtime)
    try:
        value = await runtime.callbacks.ensure()
        register_secret(value)
        action_id = str(uuid.uuid4())
        await correlate(runtime.tables, action_id)
        event = survey_event(action_id)
        assert body_json(await post_event(event, value))["status"] == "accepted"
        row = await row_of(runtime.tables, event["eventId"])
        assert row["status"] == "pending"
        assert "DATAVERSE_URL" in row["lastError"]
        with pytest.raises(ConfigError) as caught:
            runtime.dataverse  # noqa: B018
        assert caught.value.setting == "DATAVERSE_URL"
    finally:
        set_runtime(None)
        await runtime.aclose()


async def test_crash_after_accept_is_finished_by_the_sweeper(
    rt: Runtime, token: str, sim: SimState, clock: Clock
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    deps = rt.inbound
    event = survey_event(action_id)
    result = await accept_event(deps, json.dumps(event).encode(), token)
    assert result.status == "accepted"  # ... and the process dies here
    assert (await sweep_inbox(deps)).found == 0  # within the inline grace
    assert (await row_of(rt.tables, event["eventId"]))["status"] == "pending"
    clock.advance(61)
    report = await sweep_inbox(deps)
    assert report.outcomes == {"done": 1}
    assert (await row_of(rt.tables, event["eventId"]))["status"] == "done"
    assert len(sim_tasks(sim)) == 1


async def test_two_sweepers_never_process_the_same_event(
    rt: Runtime, token: str, sim: SimState, clock: Clock
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    deps = rt.inbound
    for _ in range(10):
        await accept_event(deps, json.dumps(survey_event(action_id)).encode(), token)
    clock.advance(61)
    a, b = await asyncio.gather(sweep_inbox(deps), sweep_inbox(deps))
    assert a.claimed + b.claimed == 10
    assert writes(sim) == 10


async def test_retention_expires_old_rows(
    rt: Runtime, token: str, sim: SimState, clock: Clock
) -> None:
    deps = rt.inbound
    old = sample("text_message_created")
    await accept_event(deps, json.dumps(old).encode(), token)
    clock.advance(31 * 86400)
    recent = sample("text_message_created")
    recent["eventId"] = str(uuid.uuid4())
    await accept_event(deps, json.dumps(recent).encode(), token)
    report = await sweep_inbox(deps, expire=True)
    assert report.expired == 1
    assert [r["eventId"] for r in await rows(rt.tables)] == [recent["eventId"]]


# ---- privacy and the second sink -------------------------------------------------------------


async def test_forward_sink_receives_normalised_json(
    forwarding_rt: tuple[Runtime, str],
    receiver: tuple[Receiver, str],
    sim: SimState,
    at: Clock,
) -> None:
    runtime, value = forwarding_rt
    sink = receiver[0]
    action_id = str(uuid.uuid4())
    correlation_id = await correlate(runtime.tables, action_id)
    event = survey_event(action_id)
    assert body_json(await post_event(event, value))["status"] == "accepted"
    assert sink.received == []  # queued for the delivery timer, never inline
    await run_timer("deliver_flow_responses")
    assert len(sink.received) == 1
    body = sink.received[0]
    assert body["correlationId"] == correlation_id
    assert body["regarding"] == {
        "entityType": "opportunity",
        "id": CONTOSO,
        "name": "Contoso – 500 laptops",
    }
    assert body["actionId"] == action_id
    assert body["responseId"] == event["data"]["responseId"]
    assert body["eventId"] == event["eventId"]
    assert body["isUpdate"] is False
    assert body["responder"] == {"name": "Asha Rao", "phone": "+919100000001"}
    assert [a["title"] for a in body["answers"]] == [
        "How likely is this deal to close this quarter?",
        "Estimated budget (USD)",
        "Competitors involved",
        "Notes",
        "Site photo",
    ]
    assert body["answers"][2]["value"] == ["A", "C"]
    assert body["answers"][2]["text"] == "A, C"
    assert body["activityId"] == str(activity_id_for(event["data"]["responseId"]))

    # The sink failing does not hold the event (done); its delivery retries with back-off.
    sink.fail = True
    second = survey_event(action_id)
    assert body_json(await post_event(second, value))["status"] == "accepted"
    assert (await row_of(runtime.tables, second["eventId"]))["status"] == "done"
    await run_timer("deliver_flow_responses")
    static = (await runtime.flows.overview())["subscriptions"][0]
    assert static["deliveries"] == {"pending": 1, "delivered": 1, "dead": 0}
    sink.fail = False
    at.advance(3600)
    await run_timer("deliver_flow_responses")
    assert [b["eventId"] for b in sink.received] == [event["eventId"], second["eventId"]]
    assert len(sim_tasks(sim)) == 2


async def test_anonymous_response_carries_no_phone_number(
    forwarding_rt: tuple[Runtime, str],
    receiver: tuple[Receiver, str],
    sim: SimState,
    at: Clock,
) -> None:
    runtime, value = forwarding_rt
    phone = "+919100000009"
    action_id = str(uuid.uuid4())
    await correlate(runtime.tables, action_id)
    # Worst case: the payload still carries the number in every field that can hold it.
    event = survey_event(action_id, isAnonymous=True, responder=phone, responderName="Ravi Kumar")
    event["fromUser"] = phone
    assert body_json(await post_event(event, value))["status"] == "accepted"
    task = sim_tasks(sim)[0]
    assert task["subject"] == f"Kaizala survey response: {SURVEY_TITLE} — Anonymous"
    assert phone not in task["subject"]
    assert phone not in task["description"]
    assert "Ravi Kumar" not in task["description"]
    await run_timer("deliver_flow_responses")
    forwarded = receiver[0].received[0]
    assert forwarded["responder"] == {"name": "Anonymous"}
    assert forwarded["isAnonymous"] is True
    assert phone not in json.dumps(forwarded)
